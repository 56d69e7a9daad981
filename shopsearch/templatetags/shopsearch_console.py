"""`{% shopsearch_dashboard %}`: the console's dashboard on the admin's shopsearch app page (console.dashboard).

The page itself is guarded (admin.guard_app_page): only staff with "view_console" get here."""

from pathlib import Path

from django import template

from .. import console

register = template.Library()


@register.inclusion_tag("admin/shopsearch/dashboard.html", takes_context=True)
def shopsearch_dashboard(context):
    request = context["request"]
    can = {action: request.user.has_perm(console.permission(action)) for action in console.ACTIONS}
    return {"can": can, "csrf_token": context.get("csrf_token"), "request": request, **console.dashboard()}


@register.filter
def basename(path: str) -> str:
    """The last part of a server path (a model or judged folder): the full path is in the cell's title."""
    return Path(path).name
