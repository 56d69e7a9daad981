"""The shopper's pages: the storefront search page and the product page (the API lives in shopsearch.api.urls).

A shop includes both under its own prefix, e.g. `path("", include("shopsearch.urls"))`, and may override the
templates (`shopsearch/storefront.html`, `shopsearch/product.html`, `shopsearch/product_missing.html`).
"""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.storefront, name="shopsearch-storefront"),
    path("products/<str:product_id>/", views.product_page, name="shopsearch-product"),
]
