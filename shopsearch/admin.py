"""The owner's console in the Django admin: the dashboard on the app page (/admin/shopsearch/: spaces, pipeline
health, jobs, action buttons), jobs run by workers (console.py), search analytics (analytics.py), merchandising
rules and synonyms; and a mixin that lets any product admin's search box find products by meaning (as the storefront
does) besides its usual field search.

Every console page and action (the app page /admin/shopsearch/ with the dashboard, and under
/admin/shopsearch/consolejob/: start, analytics, map) answers anonymous users with the login page and logged-in users
who are not staff, or lack the page's or the action's permission (ConsoleJob.Meta.permissions), with 403. The app page
is the AdminSite's own view; `guard_app_page` puts the same check in front of it, since the site itself would send a
logged-in user who is not staff to its login form.
"""

from __future__ import annotations

import csv
from datetime import date

from django.contrib import admin, messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.views.decorators.cache import never_cache

from . import analytics, console, embedding_map, search, spaces
from .conf import setting
from .exceptions import JobArgumentError, ShopsearchError
from .models import ConsoleJob, EmbeddingSpace, Rule, SearchLog, Synonym

SEMANTIC_ADMIN_HITS = 50


class SemanticSearchAdminMixin:
    """Adds the top semantic matches of the search term to the admin's own search_fields matches."""

    def get_search_results(self, request, queryset, search_term):
        matches, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if not search_term.strip():
            return matches, may_have_duplicates
        try:
            page = search.search_products(
                search_term, "semantic", page_size=SEMANTIC_ADMIN_HITS, highlight=False, facets=False, log=False
            )
        except ShopsearchError:  # not indexed yet: the admin's own matches only
            return matches, may_have_duplicates
        return matches | queryset.filter(pk__in=[hit.id for hit in page.hits]), True


def console_view(view, permission: str | None = "shopsearch.view_console"):
    """Anonymous → the admin login; not staff, or without `permission` → 403 (PermissionDenied)."""

    @never_cache
    def guarded(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        if not (request.user.is_active and request.user.is_staff) or (
            permission and not request.user.has_perm(permission)
        ):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return guarded


def guard_app_page(site: admin.AdminSite) -> None:
    """Serve the site's /shopsearch/ app page through console_view, ahead of the site's own pattern for it.

    The guarded pattern is added to the site's URLs (same path, no name: reverse("admin:app_list") still resolves to
    it), so any shop mounting `admin.site.urls`, whatever its AdminSite class, gets the 403 with no setting to add.
    """
    site_urls = site.get_urls

    def get_urls():
        app_page = site.admin_view(lambda request: site.app_index(request, ConsoleJob._meta.app_label))
        return [path(f"{ConsoleJob._meta.app_label}/", console_view(app_page))] + site_urls()

    site.get_urls = get_urls


@admin.register(EmbeddingSpace)
class EmbeddingSpaceAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "model_identity",
        "dimensions",
        "recipe",
        "status",
        "is_active",
        "vectors",
        "missing",
        "activated_at",
    ]
    readonly_fields = [f.name for f in EmbeddingSpace._meta.fields]
    actions = ["retire_spaces"]

    @admin.action(
        description="Retire the selected spaces (an abandoned build otherwise gets every save embedded too)",
        permissions=["change"],
    )
    def retire_spaces(self, request, queryset) -> None:
        for space in queryset:
            try:
                spaces.retire(space)
            except ShopsearchError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(
                    request, f"Space #{space.pk} is retired: saves are no longer embedded into it.", messages.SUCCESS
                )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(vector_count=Count("embeddings"))

    @admin.display(description="vectors", ordering="vector_count")
    def vectors(self, space: EmbeddingSpace) -> int:
        return space.vector_count

    @admin.display(description="missing or stale")
    def missing(self, space: EmbeddingSpace) -> int:
        return spaces.missing_count(space)

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

    def has_view_permission(self, request, obj=None) -> bool:
        """The console's permission shows its jobs too (and so the app page, which lists only what one may see)."""
        return request.user.has_perm("shopsearch.view_console") or super().has_view_permission(request, obj)

    def get_urls(self):
        return [
            path("start/", console_view(self.start_view, None), name="shopsearch_console_start"),
            path("analytics/", console_view(self.analytics_view), name="shopsearch_console_analytics"),
            path("map/", console_view(self.map_view), name="shopsearch_console_map"),
            path("map/project/", console_view(self.project_view), name="shopsearch_console_map_project"),
        ] + super().get_urls()

    def start_view(self, request):
        """POST action=<console.ACTIONS key> (+ its arguments, console.ARGUMENTS): start that job; back to the
        dashboard. A missing or wrong argument is a 400 naming the field; a job already running, a message."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        action = request.POST.get("action", "")
        if action not in console.ACTIONS:
            return HttpResponse(
                f"action: unknown action {action!r}; known: {', '.join(console.ACTIONS)}",
                status=400,
                content_type="text/plain",
            )
        if not request.user.has_perm(console.permission(action)):
            raise PermissionDenied
        arguments = {key: request.POST[key] for key in console.ARGUMENTS if request.POST.get(key)}
        try:
            job = console.start(action, arguments, request.user.get_username())
        except JobArgumentError as exc:
            return HttpResponse(str(exc), status=400, content_type="text/plain")
        except ShopsearchError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request, f"Started job #{job.pk}: {console.ACTIONS[action][2]}. Its progress is listed below."
            )
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
                return HttpResponse(
                    f"export: one of {', '.join(report['tables'])}", status=400, content_type="text/plain"
                )
            response = HttpResponse(content_type="text/csv")
            response["Content-Disposition"] = f'attachment; filename="shopsearch-{export}.csv"'
            table = report["tables"][export]
            writer = csv.writer(response)
            writer.writerow(table["columns"])
            writer.writerows(table["rows"])
            return response
        context = {
            **self.admin_site.each_context(request),
            "title": "Search analytics",
            "report": report,
            "start": start,
            "end": end,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/shopsearch/analytics.html", context)

    def map_view(self, request):
        """The embedding map of the active space: its points as JSON for the chart, or a button to compute it."""
        space = spaces.active_space()
        space_map = embedding_map.current(space)
        try:
            product_url = reverse("shopsearch-product", kwargs={"product_id": "0"})[: -len("0/")]
        except NoReverseMatch:  # the shop does not serve shopsearch's product pages
            product_url = ""
        context = {
            **self.admin_site.each_context(request),
            "title": "Embedding map",
            "opts": self.model._meta,
            "space": space,
            "map": space_map,
            "points": embedding_map.points(space_map) if space_map else [],
            "product_url": product_url,
            "can_compute": request.user.has_perm(console.permission("compute_map")),
            "running": ConsoleJob.objects.filter(job="map", status__in=["queued", "running"]).first(),
        }
        return TemplateResponse(request, "admin/shopsearch/map.html", context)

    def project_view(self, request):
        """GET ?q=…: where that query lands on the map (the same fitted projection) and its nearest products."""
        query = request.GET.get("q", "").strip()
        if not query:
            return JsonResponse({"detail": "q: type a query to place on the map."}, status=400)
        if len(query) > int(setting("MAX_QUERY_LENGTH")):
            return JsonResponse({"detail": f"q: at most {setting('MAX_QUERY_LENGTH')} characters."}, status=400)
        space_map = embedding_map.current(spaces.active_space())
        if space_map is None:
            return JsonResponse({"detail": "There is no map of the active space yet: compute it first."}, status=409)
        return JsonResponse(embedding_map.project_query(space_map, query))


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


guard_app_page(admin.site)
