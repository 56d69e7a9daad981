"""`{% shopsearch_dashboard %}`: the console's dashboard on the admin's shopsearch app page (console.dashboard).

The page itself is guarded (admin.guard_app_page): only staff with "view_console" get here."""

from django import template

from .. import console

register = template.Library()


@register.inclusion_tag("admin/shopsearch/dashboard.html", takes_context=True)
def shopsearch_dashboard(context):
    request = context["request"]
    can = {action: request.user.has_perm(console.permission(action)) for action in console.ACTIONS}
    return {"can": can, "csrf_token": context.get("csrf_token"), "request": request, **console.dashboard()}
