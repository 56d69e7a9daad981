"""Admin: embedding spaces with their fill state and a switch-over action, and a mixin that lets any product
admin's search box find products by meaning (as the storefront does) besides its usual field search."""
from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count

from . import indexing, search
from .models import EmbeddingSpace

SEMANTIC_ADMIN_HITS = 50


class SemanticSearchAdminMixin:
    """Adds the top semantic matches of the search term to the admin's own search_fields matches."""

    def get_search_results(self, request, queryset, search_term):
        matches, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if not search_term.strip():
            return matches, may_have_duplicates
        try:
            page = search.search_products(search_term, "semantic", page_size=SEMANTIC_ADMIN_HITS, highlight=False, facets=False)
        except search.NotReady:
            return matches, may_have_duplicates
        return matches | queryset.filter(pk__in=[hit.id for hit in page.hits]), True


@admin.register(EmbeddingSpace)
class EmbeddingSpaceAdmin(admin.ModelAdmin):
    list_display = ["id", "model_identity", "dimensions", "recipe", "status", "is_active", "vectors", "missing", "activated_at"]
    readonly_fields = [f.name for f in EmbeddingSpace._meta.fields]
    actions = ["activate_space"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(vector_count=Count("embeddings"))

    @admin.display(description="vectors", ordering="vector_count")
    def vectors(self, space: EmbeddingSpace) -> int:
        return space.vector_count

    @admin.display(description="missing or stale")
    def missing(self, space: EmbeddingSpace) -> int:
        return indexing.missing_count(space)

    @admin.action(description="Switch search over to the selected (complete) space")
    def activate_space(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one space to activate.", messages.ERROR)
            return
        try:
            indexing.activate(queryset.get())
        except indexing.SpaceError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, "Search now uses the selected space.", messages.SUCCESS)

    def has_add_permission(self, request) -> bool:
        return False
