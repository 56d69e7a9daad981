"""Events (all or nothing), recently-viewed recommendations and trending, through the API and the real database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from shopsearch import recommend
from shopsearch.models import Event

pytestmark = pytest.mark.django_db

SESSION = recommend.new_session()  # as POST /api/sessions/ issues them


@pytest.fixture
def api():
    return APIClient()


def event(product_id: str, type: str = "view", session: str = SESSION, **extra) -> dict:
    return {"type": type, "session_id": session, "product_id": product_id, **extra}


def test_events_are_stored_one_or_many(api, clusters):
    p1, p2, p3 = clusters["coat0"], clusters["coat1"], clusters["dress0"]
    response = api.post("/api/events/", event(p1), format="json")
    assert response.status_code == 201 and response.json() == {"stored": 1}
    batch = [
        event(p2, "click", query="wool coat", position=3, shown=["p7", "p8"]),
        event(p3, "add_to_cart", user_id="u9"),
    ]
    assert api.post("/api/events/", batch, format="json").json() == {"stored": 2}
    click = Event.objects.get(product_id=p2)
    assert (click.type, click.query, click.position, click.shown) == ("click", "wool coat", 3, ["p7", "p8"])
    assert click.session_id == recommend.session_key(SESSION)  # the id alone; its signature is never stored
    assert Event.objects.get(product_id=p3).user_id == "u9"


@pytest.mark.parametrize(
    "payload, field",
    [
        ([event("p1"), event("p2", "purchase"), event("p3")], "events[1].type"),
        ([event("p1")] * 101, "events"),
        ([], "events"),
        ([event("p1"), event("p2", shown=[f"p{n}" for n in range(101)])], "events[1].shown"),
        ([event("p1", query="x" * 501)], "events[0].query"),
        ([event("p1"), {"type": "view", "product_id": "p2"}], "events[1].session_id"),
        ([event("p1", position=-1)], "events[0].position"),
    ],
)
def test_bad_or_oversize_events_are_refused_whole(api, payload, field):
    response = api.post("/api/events/", payload, format="json")
    assert response.status_code == 400 and field in response.json()["detail"], response.json()
    assert not Event.objects.exists()


def test_a_body_over_the_upload_limit_is_a_400(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = api.post("/api/events/", [event("p1", query="x" * 400)] * 30, format="json")
    assert response.status_code == 400 and "larger than 10000 bytes" in response.json()["detail"]
    assert not Event.objects.exists()


def views(session: str, products: list[str], start_minutes_ago: int) -> None:
    """Views one minute apart, oldest first, ending `start_minutes_ago - len + 1` minutes ago."""
    now = timezone.now()
    Event.objects.bulk_create(
        [
            Event(
                type="view",
                session_id=session,
                product_id=pk,
                created_at=now - timedelta(minutes=start_minutes_ago - n),
            )
            for n, pk in enumerate(products)
        ]
    )


def test_for_session_follows_recent_views_and_skips_what_was_seen(clusters, api):
    coats = {clusters[f"coat{n}"] for n in range(6)}
    dresses = {clusters[f"dress{n}"] for n in range(6)}
    s1 = recommend.session_key(SESSION)
    views(s1, [clusters["dress0"], clusters["dress1"]], start_minutes_ago=120)  # long ago
    views(s1, [clusters["coat0"], clusters["coat1"], clusters["coat2"]], start_minutes_ago=5)  # just now
    Event.objects.create(type="add_to_cart", session_id=s1, product_id=clusters["coat3"])
    hits = api.get("/api/recommendations/for-session/", {"session": SESSION, "limit": 2}).json()["results"]
    assert {hit["id"] for hit in hits} == {
        clusters["coat4"],
        clusters["coat5"],
    }  # recent coats win; seen ones never return
    everything = [
        hit["id"]
        for hit in api.get("/api/recommendations/for-session/", {"session": SESSION, "limit": 50}).json()["results"]
    ]
    seen = {
        clusters["dress0"],
        clusters["dress1"],
        clusters["coat0"],
        clusters["coat1"],
        clusters["coat2"],
        clusters["coat3"],
    }
    assert everything and not set(everything) & seen
    assert set(everything[:2]) <= coats and set(everything) & dresses
    filtered = api.get("/api/recommendations/for-session/", {"session": SESSION, "category": "Dresses"}).json()[
        "results"
    ]
    assert filtered and all(hit["category"] == "Dresses" for hit in filtered)
    assert api.get("/api/recommendations/for-session/", {"session": recommend.new_session()}).json()["results"] == []
    assert api.get("/api/recommendations/for-session/").status_code == 400


def test_trending_is_a_time_decayed_weighted_count(clusters, api, settings):
    settings.SHOPSEARCH = {
        **settings.SHOPSEARCH,
        "TRENDING_HALF_LIFE_HOURS": 24.0,
        "TRENDING_EVENT_WEIGHTS": {"view": 1.0, "click": 2.0, "add_to_cart": 4.0},
    }
    now = timezone.now()

    def at(pk: str, type: str, days_ago: float, count: int = 1) -> None:
        Event.objects.bulk_create(
            [
                Event(type=type, session_id=f"t{n}", product_id=pk, created_at=now - timedelta(days=days_ago))
                for n in range(count)
            ]
        )

    at(clusters["coat0"], "view", 10, count=9)  # outside the 7-day window
    at(clusters["coat1"], "add_to_cart", 0)  # 4
    at(clusters["dress0"], "view", 0, count=2)  # 2
    at(clusters["dress1"], "view", 3, count=5)  # 5 · 0.5³ = 0.625
    at("not-indexed", "view", 0, count=50)  # no such product: never listed
    hits = api.get("/api/recommendations/trending/").json()["results"]
    assert [hit["id"] for hit in hits] == [clusters["coat1"], clusters["dress0"], clusters["dress1"]]
    assert [hit["score"] for hit in hits] == pytest.approx([4.0, 2.0, 0.625], abs=1e-3)
    dresses = api.get("/api/recommendations/trending/", {"category": "Dresses", "days": 1}).json()["results"]
    assert [hit["id"] for hit in dresses] == [clusters["dress0"]]
    response = api.get("/api/recommendations/trending/", {"days": 0})
    assert response.status_code == 400 and "days" in response.json()["detail"]
