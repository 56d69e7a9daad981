from django.urls import include, path

urlpatterns = [path("shop-api/", include("shopsearch.api.urls"))]
