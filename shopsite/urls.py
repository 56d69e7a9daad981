from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from shopsearch.views import storefront

urlpatterns = [
    path("", storefront, name="storefront"),
    path("admin/", admin.site.urls),
    path("api/", include("shopsearch.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]
