"""`{% shopsearch_dashboard %}`: the console's dashboard on the admin's shopsearch app page (console.dashboard)."""

from django import template

from .. import console

register = template.Library()


@register.inclusion_tag("admin/shopsearch/dashboard.html", takes_context=True)
def shopsearch_dashboard(context):
    request = context["request"]
    allowed = request.user.has_perm("shopsearch.view_console")
    can = {action: request.user.has_perm(console.permission(action)) for action in console.ACTIONS}
    return {
        "allowed": allowed,
        "can": can,
        "csrf_token": context.get("csrf_token"),
        "request": request,
        **(console.dashboard() if allowed else {}),
    }
