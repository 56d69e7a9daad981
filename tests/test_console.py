"""The owner's console: who may see and do what, jobs run by a real worker with their outcome on the dashboard,
one job of a kind at a time, the active space kept from deletion, and exact analytics figures."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone

from shopsearch import analytics, console, exceptions, indexing, spaces
from shopsearch.admin import EmbeddingSpaceAdmin
from shopsearch.models import ConsoleJob, EmbeddingSpace, Event, SearchLog

from . import console_catalogue
from .conftest import wait_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def clusters(fake_model):
    return console_catalogue.clusters()


DASHBOARD = "/admin/shopsearch/"
START = "/admin/shopsearch/consolejob/start/"
ANALYTICS = "/admin/shopsearch/consolejob/analytics/"


def staff(*permissions: str) -> User:
    user = User.objects.create_user(f"staff{User.objects.count()}", password="x", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="shopsearch", codename__in=permissions))
    return user


def test_anonymous_users_are_sent_to_the_login_page(client):
    for url in (DASHBOARD, ANALYTICS):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), url
    response = client.post(START, {"action": "reindex_all"})
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert not ConsoleJob.objects.exists()


def test_shoppers_and_staff_without_the_permission_get_403(client):
    client.force_login(User.objects.create_user("shopper", password="x"))
    assert client.get(ANALYTICS).status_code == 403
    for action in console.ACTIONS:
        assert client.post(START, {"action": action, "kind": "product", "space": 1}).status_code == 403, action
    client.force_login(staff("view_console"))
    assert client.get(ANALYTICS).status_code == 200
    for action in console.ACTIONS:
        assert client.post(START, {"action": action, "kind": "product", "space": 1}).status_code == 403, action
    client.force_login(staff("view_synonym"))  # Django alone would show this one the app page
    assert client.get(ANALYTICS).status_code == 403
    assert client.get(DASHBOARD).status_code == 403
    assert not ConsoleJob.objects.exists()


def test_an_unknown_action_is_a_400_naming_the_field(client):
    client.force_login(staff("view_console", "run_reindex"))
    response = client.post(START, {"action": "drop_everything"})
    assert response.status_code == 400 and response.content.decode().startswith("action:")


def test_a_second_start_of_the_same_job_is_refused(clusters):
    first = console.start("reindex_all", {}, "owner")
    with pytest.raises(exceptions.JobRefused, match="already queued"):
        console.start("reindex_kind", {"kind": "product"}, "owner")
    ConsoleJob.objects.filter(pk=first.pk).update(status=ConsoleJob.Status.DONE)
    assert console.start("reindex_missing", {}, "owner").job == "reindex"


def test_the_active_space_cannot_be_deleted(clusters, rf):
    from django.contrib import admin

    request = rf.get("/")
    request.user = User.objects.create_superuser("root", password="x")
    model_admin = EmbeddingSpaceAdmin(EmbeddingSpace, admin.site)
    active = spaces.active_space()
    assert model_admin.has_delete_permission(request, active) is False
    other = EmbeddingSpace.objects.create(model_name="m", model_identity="m@1", dimensions=64, recipe="1")
    assert model_admin.has_delete_permission(request, other) is True


def test_dashboard_status_is_computed_from_what_is_missing(clusters, client):
    client.force_login(User.objects.create_superuser("root", password="x"))
    from catalog.models import Product

    Product.objects.bulk_create(
        [Product(external_id="silent", title="Added without signals")]
    )  # no document, no vector
    body = client.get(DASHBOARD).content.decode()
    assert 'data-status="active, incomplete"' in body
    assert "products 1" in body  # missing or stale
    assert "reachable" in body


@pytest.mark.slow  # ~40 s on 2 busy cores: the model loads in the test process and in the worker
@pytest.mark.worker
@pytest.mark.model
@pytest.mark.django_db(transaction=True)
def test_a_reindex_started_in_the_admin_runs_on_a_real_worker(real_model, client, celery_worker_process):
    from catalog.models import Product

    Product.objects.bulk_create(
        [Product(external_id=f"p{n}", title=f"Linen summer dress {n}") for n in range(4)]
    )  # no signals
    space = spaces.ensure_active_space()
    indexing.reindex(space)
    Product.objects.bulk_create([Product(external_id=f"silent{n}", title=f"Quiet wool scarf {n}") for n in range(3)])
    assert spaces.missing_count(space) == 3
    client.force_login(User.objects.create_superuser("root", password="x"))
    response = client.post(START, {"action": "reindex_kind", "kind": "product"})
    assert response.status_code == 302 and response["Location"] == DASHBOARD
    job = ConsoleJob.objects.get()
    wait_for(lambda: ConsoleJob.objects.get(pk=job.pk).status in ("done", "failed"), "finish the reindex job")
    job.refresh_from_db()
    assert (job.status, job.total, job.done) == ("done", 7, 7), job.message  # counted batch by batch
    assert "embedded 3" in job.message
    assert spaces.missing_count(space) == 0
    body = client.get(DASHBOARD).content.decode()
    assert 'data-status="done"' in body and "embedded 3" in body and 'data-status="active"' in body


def test_analytics_figures_from_known_searches_and_clicks_are_exact(client):
    today = timezone.localdate()
    noon = timezone.make_aware(timezone.datetime.combine(today, timezone.datetime.min.time())) + timedelta(hours=12)
    yesterday = noon - timedelta(days=1)
    logged = [  # (query as typed, results, latency ms, when)
        ("Summer Dress", 12, 10.0, noon),
        ("summer  dress", 12, 20.0, noon),
        ("SUMMER DRESS", 12, 30.0, noon),
        ("wool scarf", 4, 40.0, noon),
        ("zzkq", 0, 50.0, noon),
        ("zzkq", 0, 60.0, yesterday),
        ("old query", 3, 5.0, noon - timedelta(days=40)),  # outside the default 30 days
    ]
    SearchLog.objects.bulk_create(
        [
            SearchLog(
                query=q, normalized=analytics.normalize(q), mode="hybrid", results=r, latency_ms=ms, created_at=at
            )
            for q, r, ms, at in logged
        ]
    )
    Event.objects.bulk_create(
        [
            Event(type="click", session_id="s", product_id="1", query="Summer dress", position=1, created_at=noon),
            Event(type="click", session_id="s", product_id="2", query="summer DRESS", position=4, created_at=noon),
            Event(type="view", session_id="s", product_id="2", query="", created_at=noon),
        ]
    )
    report = analytics.report()
    rows = {row[0]: row for row in report["tables"]["top_queries"]["rows"]}
    # query, searches, zero_results, clicks, ctr, mean_click_position
    assert rows == {
        "summer dress": ["summer dress", 3, 0, 2, 0.6667, 2.5],
        "zzkq": ["zzkq", 2, 2, 0, 0.0, None],
        "wool scarf": ["wool scarf", 1, 0, 0, 0.0, None],
    }
    assert [row[0] for row in report["tables"]["top_queries"]["rows"]] == ["summer dress", "zzkq", "wool scarf"]
    assert [row[0] for row in report["tables"]["zero_results"]["rows"]] == ["zzkq"]
    assert [row[0] for row in report["tables"]["no_clicks"]["rows"]] == ["zzkq", "wool scarf"]
    # per day: searches, zero-result searches, latency p50 / p95 (interpolated: today 10,20,30,40,50)
    assert report["tables"]["per_day"]["rows"] == [
        [(today - timedelta(days=1)).isoformat(), 1, 1, 60.0, 60.0],
        [today.isoformat(), 5, 1, 30.0, 48.0],
    ]
    assert report["summary"] == {
        "searches": 6,
        "distinct_queries": 3,
        "zero_result_searches": 2,
        "clicks": 2,
        "ctr": 0.3333,
    }
    only_today = analytics.report(today, today)
    assert only_today["summary"]["searches"] == 5

    client.force_login(User.objects.create_superuser("root", password="x"))
    response = client.get(ANALYTICS, {"start": today.isoformat(), "end": today.isoformat(), "export": "top_queries"})
    assert response["Content-Type"] == "text/csv"
    assert response.content.decode().splitlines() == [
        "query,searches,zero_results,clicks,ctr,mean_click_position",
        "summer dress,3,0,2,0.6667,2.5",
        "wool scarf,1,0,0,0.0,",
        "zzkq,1,1,0,0.0,",
    ]
    page = client.get(ANALYTICS).content.decode()
    assert "6 searches (3 distinct queries), 2 without results, 2 clicks" in page
    assert "shopsearch/vendor/chart.js/chart.umd.min.js" in page and 'id="per-day-data"' in page
    assert client.get(ANALYTICS, {"start": "yesterday"}).status_code == 400


def test_switch_and_roll_back_record_their_outcome(clusters, run_on_commit):
    active = spaces.active_space()
    other = EmbeddingSpace.objects.create(
        model_name="test-hashing-encoder", model_identity="other@1", dimensions=64, recipe="1"
    )
    job = run_on_commit(console.start, "switch_space", {"space": other.pk}, "owner")  # eager: runs at commit
    job.refresh_from_db()
    assert job.status == "failed" and f"Space #{other.pk}" in job.message and "still lacks" in job.message
    assert spaces.active_space() == active
    job = run_on_commit(console.start, "rollback", {}, "owner")
    job.refresh_from_db()
    assert job.status == "failed" and "no earlier space to roll back to" in job.message
    with pytest.raises(exceptions.JobRefused, match="no embedding space #999"):
        console.start("switch_space", {"space": 999}, "owner")
    with pytest.raises(exceptions.JobRefused, match="^kind: must be one of product, review"):
        console.start("reindex_kind", {"kind": "category"}, "owner")


def test_reindex_of_what_is_missing_records_progress_and_outcome(clusters, run_on_commit):
    from catalog.models import Product

    Product.objects.bulk_create([Product(external_id="silent", title="Wool scarf added without signals")])
    job = run_on_commit(console.start, "reindex_missing", {}, "owner")
    job.refresh_from_db()
    assert (job.status, job.total, job.done) == ("done", 1, 1), job.message
    assert spaces.missing_count(spaces.active_space()) == 0


def test_discover_aspects_runs_as_a_job(clusters, run_on_commit):
    job = run_on_commit(console.start, "discover_aspects", {}, "owner")
    job.refresh_from_db()
    assert job.status == "done" and job.message == "no new aspect found"  # the clusters have no reviews
