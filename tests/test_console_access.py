"""Who may open every console page and start every console action: anonymous users are sent to the login page,
logged-in users who are not staff get 403, staff without the page's or the action's permission get 403, and only
the permission itself lets a request through. Nothing is started by a refused request."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User

from shopsearch import console
from shopsearch.models import ConsoleJob

pytestmark = pytest.mark.django_db

START = "/admin/shopsearch/consolejob/start/"
PAGES = [  # every console page: GET, guarded by view_console
    "/admin/shopsearch/",  # the admin site's app page, which shows the dashboard
    "/admin/shopsearch/consolejob/analytics/",
    "/admin/shopsearch/consolejob/analytics/?export=top_queries",
    "/admin/shopsearch/consolejob/map/",
    "/admin/shopsearch/consolejob/map/project/?q=warm+coat",
]
ARGUMENTS = {
    "kind": "product",
    "space": "1",
    "model": "some/model",
    "source": "clicks",
    "evaluate": "/tmp",
    "margin": "0.01",
}


def user(name: str, *permissions: str, staff: bool = True) -> User:
    made = User.objects.create_user(name, is_staff=staff)  # no password: force_login needs none, hashing costs seconds
    made.user_permissions.set(Permission.objects.filter(content_type__app_label="shopsearch", codename__in=permissions))
    return made


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_users_are_sent_to_the_login_page(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/?next=")


@pytest.mark.parametrize("action", list(console.ACTIONS))
def test_anonymous_starts_are_sent_to_the_login_page(client, action):
    response = client.post(START, {"action": action, **ARGUMENTS})
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert not ConsoleJob.objects.exists()


@pytest.mark.parametrize("url", PAGES)
def test_pages_answer_403_to_shoppers_and_to_staff_without_the_permission(client, url):
    every = [codename for _, codename, _ in console.ACTIONS.values()]
    # a shopper holding every console permission is still not staff
    client.force_login(user("shopper", "view_console", *every, staff=False))
    assert client.get(url).status_code == 403
    client.force_login(user("clerk", "view_synonym", *every))  # staff, every action, but not view_console
    assert client.get(url).status_code == 403
    client.force_login(user("owner", "view_console"))
    assert client.get(url).status_code != 403


@pytest.mark.parametrize("action", list(console.ACTIONS))
def test_each_action_needs_its_own_permission(client, action):
    needed = console.ACTIONS[action][1]
    others = [codename for _, codename, _ in console.ACTIONS.values() if codename != needed]
    client.force_login(user("shopper", "view_console", needed, staff=False))
    assert client.post(START, {"action": action, **ARGUMENTS}).status_code == 403
    client.force_login(user("clerk", "view_console", *others))
    assert client.post(START, {"action": action, **ARGUMENTS}).status_code == 403
    assert not ConsoleJob.objects.exists()
    client.force_login(user("owner", needed))
    response = client.post(START, {"action": action})
    assert response.status_code in (302, 400)  # through the permission check: started, or its arguments are checked
    if response.status_code == 400:
        assert response.content.decode().split(":")[0] in console.ARGUMENTS


def test_the_app_page_shows_the_dashboard_to_staff_with_the_console_permission_alone(client):
    client.force_login(user("owner", "view_console"))  # no model permission: Django alone would answer 404
    response = client.get("/admin/shopsearch/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Embedding spaces" in body and "Console jobs" in body  # the dashboard and the app's own model list
