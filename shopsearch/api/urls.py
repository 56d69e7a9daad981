from django.urls import path

from . import views

urlpatterns = [
    path("search/", views.SearchView.as_view(), name="shopsearch-search"),
    path("products/<str:product_id>/similar/", views.SimilarProductsView.as_view(), name="shopsearch-similar"),
    path("products/<str:product_id>/sentiment/", views.ProductSentimentView.as_view(), name="shopsearch-product-sentiment"),
]
