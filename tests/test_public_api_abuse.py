"""The public API as an attacker uses it: request rates per client and per session (429 with Retry-After, counted in
the real Redis), forged events (unknown products, sessions the server never issued), a burst of one session's
events against trending, event retention, Authorization headers that must cost nothing, and malformed requests."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from shopsearch import recommend
from shopsearch.models import Event
from shopsearch.tasks import delete_old_events

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def rates(settings):
    """Counters of this test only (a key prefix of its own in the real Redis) and the rates it sets."""
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}}

    def set_rates(**rates):
        settings.SHOPSEARCH = {
            **settings.SHOPSEARCH,
            "THROTTLE_RATES": {"client": None, "session": None, "new_session": None, **rates},
        }

    return set_rates


def session(api) -> str:
    response = api.post("/api/sessions/")
    assert response.status_code == 201, response.content
    return response.json()["session"]


def test_a_client_over_its_rate_gets_429_with_retry_after(api, rates, clusters):
    rates(client="5/minute")
    statuses = [api.get("/api/recommendations/trending/").status_code for _ in range(7)]
    assert statuses == [200] * 5 + [429] * 2
    response = api.get("/api/search/", {"q": "coat"})
    assert response.status_code == 429 and 0 < int(response["Retry-After"]) <= 60
    assert "Request was throttled" in response.json()["detail"]
    assert APIClient(REMOTE_ADDR="10.1.2.3").get("/api/recommendations/trending/").status_code == 200  # another client
    # A client's own X-Forwarded-For is not believed (NUM_PROXIES is 0): it cannot pose as a new client.
    assert api.get("/api/recommendations/trending/", HTTP_X_FORWARDED_FOR="10.9.9.9").status_code == 429


def test_a_session_over_its_rate_gets_429_and_other_sessions_do_not(api, rates, clusters):
    rates(session="3/minute")
    mine, other = session(api), session(api)
    product = clusters["coat0"]
    statuses = [
        api.post(
            "/api/events/", [{"type": "view", "session_id": mine, "product_id": product}], format="json"
        ).status_code
        for _ in range(4)
    ]
    assert statuses == [201, 201, 201, 429]
    assert (
        api.get("/api/recommendations/for-session/", {"session": mine}).status_code == 429
    )  # the same session's budget
    mixed = [
        {"type": "view", "session_id": other, "product_id": product},
        {"type": "view", "session_id": mine, "product_id": product},
    ]
    assert api.post("/api/events/", mixed, format="json").status_code == 429  # naming a throttled session is enough
    assert api.post("/api/events/", mixed[:1], format="json").status_code == 201


def test_new_sessions_are_rate_limited_per_client(api, rates):
    rates(new_session="2/minute")
    assert [api.post("/api/sessions/").status_code for _ in range(3)] == [201, 201, 429]


def test_events_for_unknown_products_are_refused_naming_each(api, clusters):
    mine = session(api)
    batch = [
        {"type": "view", "session_id": mine, "product_id": pk}
        for pk in (clusters["coat0"], "999999", clusters["dress0"], "nope")
    ]
    response = api.post("/api/events/", batch, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "events[1].product_id: No indexed product with id '999999'.; "
        "events[3].product_id: No indexed product with id 'nope'."
    )
    assert not Event.objects.exists()


def test_sessions_are_issued_signed_and_nothing_else_is_accepted(api, clusters):
    first, second = session(api), session(api)
    assert first != second and len(first.split(":")[0]) >= 22  # 128 random bits, then the signature
    key = recommend.session_key(first)
    forged = [
        key,
        f"{key}:{'A' * 43}",
        "s-1",
        first[:-1] + ("A" if first[-1] != "A" else "B"),
        second.split(":")[0] + ":" + first.split(":")[1],
    ]
    for value in forged:
        response = api.post(
            "/api/events/", [{"type": "view", "session_id": value, "product_id": clusters["coat0"]}], format="json"
        )
        assert (
            response.status_code == 400
            and "events[0].session_id: not a session id this shop issued" in response.json()["detail"]
        ), value
        response = api.get("/api/recommendations/for-session/", {"session": value})
        assert response.status_code == 400 and response.json()["detail"].startswith(
            "session: not a session id this shop issued"
        )
    assert not Event.objects.exists()
    assert (
        api.post(
            "/api/events/", [{"type": "view", "session_id": first, "product_id": clusters["coat0"]}], format="json"
        ).status_code
        == 201
    )
    assert Event.objects.get().session_id == key


def test_a_burst_of_one_session_moves_trending_as_much_as_one_shopper(api, clusters, settings):
    settings.SHOPSEARCH = {
        **settings.SHOPSEARCH,
        "TRENDING_EVENT_WEIGHTS": {"view": 1.0, "click": 2.0, "add_to_cart": 4.0},
    }
    shoppers = [session(api) for _ in range(3)]
    for shopper in shoppers:  # three shoppers view coat1
        assert (
            api.post(
                "/api/events/",
                [{"type": "view", "session_id": shopper, "product_id": clusters["coat1"]}],
                format="json",
            ).status_code
            == 201
        )
    attacker = session(api)
    burst = [{"type": "add_to_cart", "session_id": attacker, "product_id": clusters["dress2"]}] * 100
    for _ in range(3):  # 300 add-to-carts, as in the report that this closes
        assert api.post("/api/events/", burst, format="json").status_code == 201
    hits = api.get("/api/recommendations/trending/").json()["results"]
    assert [hit["id"] for hit in hits] == [clusters["dress2"], clusters["coat1"]]
    scores = {hit["id"]: hit["score"] for hit in hits}
    assert scores[clusters["dress2"]] == pytest.approx(4.0, abs=1e-3)  # one shopper's add-to-cart
    assert scores[clusters["coat1"]] == pytest.approx(3.0, abs=1e-3)
    assert Event.objects.filter(product_id=clusters["dress2"]).count() == 300  # stored, but counted once


def test_old_events_are_deleted_by_the_retention_task(settings):
    settings.SHOPSEARCH = {**settings.SHOPSEARCH, "EVENT_RETENTION_DAYS": 30}
    now = timezone.now()
    for days, product in ((45, "old"), (31, "older-than-30"), (29, "kept"), (0, "new")):
        Event.objects.create(type="view", session_id="s", product_id=product, created_at=now - timedelta(days=days))
    assert delete_old_events.delay().get() == {"deleted": 2}  # through Celery (eager in tests), as beat sends it
    assert sorted(Event.objects.values_list("product_id", flat=True)) == ["kept", "new"]
    settings.SHOPSEARCH = {**settings.SHOPSEARCH, "EVENT_RETENTION_DAYS": None}
    assert delete_old_events.delay().get() == {"deleted": 0}


def test_an_authorization_header_is_never_checked(api, clusters, monkeypatch):
    """No Basic or Session authentication on the anonymous API: a password is never hashed for a bogus header."""
    from django.contrib.auth import hashers

    def fail(*args, **kwargs):
        raise AssertionError("a password was checked")

    monkeypatch.setattr(hashers, "check_password", fail)
    monkeypatch.setattr("django.contrib.auth.authenticate", fail)
    for header in ("Basic YWRtaW46YWRtaW4=", "Basic !!!", "Bearer x", "Token y"):
        assert api.get("/api/recommendations/trending/", HTTP_AUTHORIZATION=header).status_code == 200
        assert api.get("/api/schema/", HTTP_AUTHORIZATION=header).status_code == 200
        assert api.post("/api/sessions/", HTTP_AUTHORIZATION=header).status_code == 201


@pytest.mark.parametrize("depth", [200, 1_000, 100_000])
def test_json_nested_deep_is_a_400(api, depth):
    body = "[" * depth + "]" * depth
    response = api.post("/api/events/", body, content_type="application/json")
    assert response.status_code == 400 and response.json()["detail"], response.content[:200]
    body = '{"positive": ' + "[" * depth + "]" * depth + "}"
    response = api.post("/api/recommendations/", body, content_type="application/json")
    assert response.status_code == 400 and response.json()["detail"]


@pytest.mark.parametrize(
    "path, field",
    [
        ("/api/products/10%0028/similar/", "path"),
        ("/api/products/%00/sentiment/", "path"),
        ("/products/1%00/", "path"),
        ("/api/search/?q=a%00b", "q"),
        ("/api/search/?q=coat&category=%00", "category"),
        ("/api/recommendations/for-session/?session=%00", "session"),
        ("/?q=%00", "q"),
    ],
)
def test_a_nul_character_in_the_path_or_a_parameter_is_a_400_naming_it(client, path, field):
    for method in ("get", "post", "head", "options", "delete"):
        response = getattr(client, method)(path)
        assert response.status_code == 400, (method, path, response.status_code)
        if method != "head":
            assert response.json() == {"detail": f"{field}: Null characters are not allowed."}


def test_a_json_body_is_required(api, clusters):
    mine = session(api)
    response = api.post(
        "/api/events/", {"type": "view", "session_id": mine, "product_id": clusters["coat0"]}
    )  # multipart form
    assert response.status_code == 415 and "Unsupported media type" in response.json()["detail"]
