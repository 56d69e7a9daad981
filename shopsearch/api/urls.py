from django.urls import path

from . import suggest, views

urlpatterns = [
    path("search/", views.SearchView.as_view(), name="shopsearch-search"),
    path("suggest/", suggest.SuggestView.as_view(), name="shopsearch-suggest"),
    path("products/<str:product_id>/similar/", views.SimilarProductsView.as_view(), name="shopsearch-similar"),
    path("recommendations/", views.RecommendationsView.as_view(), name="shopsearch-recommendations"),
    path("recommendations/for-session/", views.SessionRecommendationsView.as_view(), name="shopsearch-for-session"),
    path("recommendations/trending/", views.TrendingView.as_view(), name="shopsearch-trending"),
    path("sessions/", views.SessionsView.as_view(), name="shopsearch-sessions"),
    path("events/", views.EventsView.as_view(), name="shopsearch-events"),
    path(
        "products/<str:product_id>/sentiment/",
        views.ProductSentimentView.as_view(),
        name="shopsearch-product-sentiment",
    ),
    path(
        "products/<str:product_id>/reviews/", views.ProductReviewSearchView.as_view(), name="shopsearch-product-reviews"
    ),
]
