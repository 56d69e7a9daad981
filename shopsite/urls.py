from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("shopsearch.api.urls")),
    # Read-only pages: GET/HEAD only (OPTIONS on the Swagger page would render its template with no template name)
    path("api/schema/", SpectacularAPIView.as_view(http_method_names=["get", "head"]), name="schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="schema", http_method_names=["get", "head"]),
        name="api-docs",
    ),
    path("", include("shopsearch.urls")),  # the storefront search page and the product pages
]
