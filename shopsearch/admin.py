"""The owner's console in the Django admin: the dashboard on the app page (/admin/shopsearch/: spaces, pipeline
health, jobs, action buttons), jobs run by workers (console.py), search analytics (analytics.py), merchandising
rules and synonyms; and a mixin that lets any product admin's search box find products by meaning (as the storefront
does) besides its usual field search.

Every console page and action answers anonymous users with the login page and logged-in users who are not staff, or
lack the action's permission (ConsoleJob.Meta.permissions), with 403.
"""
from __future__ import annotations

import csv
from datetime import date

from django.contrib import admin, messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.cache import never_cache

from . import analytics, console, indexing, search
from .models import ConsoleJob, EmbeddingSpace, Rule, SearchLog, Synonym

SEMANTIC_ADMIN_HITS = 50


class SemanticSearchAdminMixin:
    """Adds the top semantic matches of the search term to the admin's own search_fields matches."""

    def get_search_results(self, request, queryset, search_term):
        matches, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if not search_term.strip():
            return matches, may_have_duplicates
        try:
            page = search.search_products(search_term, "semantic", page_size=SEMANTIC_ADMIN_HITS, highlight=False, facets=False, log=False)
        except search.NotReady:
            return matches, may_have_duplicates
        return matches | queryset.filter(pk__in=[hit.id for hit in page.hits]), True


def console_view(view, permission: str | None = "shopsearch.view_console"):
    """Anonymous → the admin login; not staff, or without `permission` → 403 (PermissionDenied)."""

    @never_cache
    def guarded(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        if not (request.user.is_active and request.user.is_staff) or (permission and not request.user.has_perm(permission)):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return guarded


@admin.register(EmbeddingSpace)
class EmbeddingSpaceAdmin(admin.ModelAdmin):
    list_display = ["id", "model_identity", "dimensions", "recipe", "status", "is_active", "vectors", "missing", "activated_at"]
    readonly_fields = [f.name for f in EmbeddingSpace._meta.fields]
    actions = ["retire_spaces"]

    @admin.action(description="Retire the selected spaces (an abandoned build otherwise gets every save embedded too)", permissions=["change"])
    def retire_spaces(self, request, queryset) -> None:
        for space in queryset:
            try:
                indexing.retire(space)
            except indexing.SpaceError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, f"Space #{space.pk} is retired: saves are no longer embedded into it.", messages.SUCCESS)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(vector_count=Count("embeddings"))

    @admin.display(description="vectors", ordering="vector_count")
    def vectors(self, space: EmbeddingSpace) -> int:
        return space.vector_count

    @admin.display(description="missing or stale")
    def missing(self, space: EmbeddingSpace) -> int:
        return indexing.missing_count(space)

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj: EmbeddingSpace | None = None) -> bool:
        """The space that serves search cannot be deleted (switch to another one first)."""
        if obj is not None and obj.is_active:
            return False
        return super().has_delete_permission(request, obj)


@admin.register(ConsoleJob)
class ConsoleJobAdmin(admin.ModelAdmin):
    list_display = ["id", "action", "status", "progress", "message", "started_by", "created_at", "finished_at"]
    list_filter = ["status", "job"]
    readonly_fields = [f.name for f in ConsoleJob._meta.fields]

    @admin.display(description="progress")
    def progress(self, job: ConsoleJob) -> str:
        if job.total:
            return f"{job.done} of {job.total} ({100 * job.done / job.total:.0f}%)"
        return str(job.done) if job.done else "—"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        return [
            path("start/", console_view(self.start_view, None), name="shopsearch_console_start"),
            path("analytics/", console_view(self.analytics_view), name="shopsearch_console_analytics"),
        ] + super().get_urls()

    def start_view(self, request):
        """POST action=<console.ACTIONS key> (+ kind / space): start that job; back to the dashboard."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        action = request.POST.get("action", "")
        if action not in console.ACTIONS:
            return HttpResponse(f"action: unknown action {action!r}; known: {', '.join(console.ACTIONS)}", status=400, content_type="text/plain")
        if not request.user.has_perm(console.permission(action)):
            raise PermissionDenied
        arguments = {key: request.POST[key] for key in ("kind", "space") if request.POST.get(key)}
        try:
            job = console.start(action, arguments, request.user.get_username())
        except console.JobRefused as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Started job #{job.pk}: {console.ACTIONS[action][2]}. Its progress is listed below.")
        return redirect(reverse("admin:app_list", kwargs={"app_label": "shopsearch"}))

    def analytics_view(self, request):
        """Search analytics for a date range (?start=YYYY-MM-DD&end=YYYY-MM-DD); &export=<table> gives it as CSV."""
        analytics.flush_search_log()
        try:
            start = date.fromisoformat(request.GET["start"]) if request.GET.get("start") else None
            end = date.fromisoformat(request.GET["end"]) if request.GET.get("end") else None
        except ValueError:
            return HttpResponse("start, end: dates are written YYYY-MM-DD", status=400, content_type="text/plain")
        report = analytics.report(start, end)
        export = request.GET.get("export")
        if export:
            if export not in report["tables"]:
                return HttpResponse(f"export: one of {', '.join(report['tables'])}", status=400, content_type="text/plain")
            response = HttpResponse(content_type="text/csv")
            response["Content-Disposition"] = f'attachment; filename="shopsearch-{export}.csv"'
            table = report["tables"][export]
            writer = csv.writer(response)
            writer.writerow(table["columns"])
            writer.writerows(table["rows"])
            return response
        context = {**self.admin_site.each_context(request), "title": "Search analytics", "report": report,
                   "start": start, "end": end, "opts": self.model._meta}
        return TemplateResponse(request, "admin/shopsearch/analytics.html", context)


@admin.register(SearchLog)
class SearchLogAdmin(admin.ModelAdmin):
    list_display = ["created_at", "query", "mode", "results", "latency_ms", "session_id"]
    list_filter = ["mode"]
    search_fields = ["normalized"]
    readonly_fields = [f.name for f in SearchLog._meta.fields]
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Synonym)
class SynonymAdmin(admin.ModelAdmin):
    list_display = ["__str__", "kind", "enabled", "updated_at"]
    list_filter = ["kind", "enabled"]


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    list_display = ["query", "match", "action", "product_id", "position", "weight", "enabled", "starts_at", "ends_at"]
    list_filter = ["action", "match", "enabled"]
    search_fields = ["query", "product_id"]
