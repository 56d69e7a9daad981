"""The console's space, sentiment and fine-tune actions, pipeline health (failed tasks, the last reindex's duration
and rate), and the shopper's session id in the search log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from shopsearch import analytics, console, encoders, spaces, tasks
from shopsearch.exceptions import JobArgumentError
from shopsearch.models import ConsoleJob, EmbeddingSpace, FineTune, SearchLog, TaskFailure

from . import console_catalogue
from .conftest import HashingEncoder

pytestmark = pytest.mark.django_db
DASHBOARD = "/admin/shopsearch/"
START = "/admin/shopsearch/consolejob/start/"


@pytest.fixture
def clusters(fake_model):
    return console_catalogue.clusters()


def test_build_space_fills_the_new_model_s_space_then_switches(clusters, run_on_commit, monkeypatch):
    other = HashingEncoder()
    other.name = "test-hashing-encoder-b"
    real_get = encoders.get_encoder
    monkeypatch.setattr(encoders, "get_encoder", lambda name: other if name == other.name else real_get(name))
    before = spaces.active_space()
    job = run_on_commit(console.start, "build_space", {"model": other.name}, "owner")
    job.refresh_from_db()
    assert job.status == "done", job.message
    assert (job.done, job.total) == (len(clusters), len(clusters))  # every product, counted batch by batch
    active = spaces.active_space()
    assert active.model_name == other.name and active.pk != before.pk
    assert spaces.missing_count(active) == 0 and f"space #{active.pk}" in job.message
    assert spaces.previous_space() == before  # kept for a roll back


def test_arguments_are_checked_before_anything_is_queued(clusters, client):
    client.force_login(User.objects.create_superuser("root"))
    for fields, named in [
        ({"action": "build_space"}, "model"),
        ({"action": "finetune", "source": "everything"}, "source"),
        (
            {
                "action": "finetune",
                "source": "qrels",
                "folder": "/no/such/folder",
                "evaluate": "/tmp",
                "margin": "0.01",
            },
            "folder",
        ),
        ({"action": "finetune", "source": "clicks", "margin": "0.01"}, "evaluate"),
        ({"action": "finetune", "source": "clicks", "evaluate": "/tmp", "margin": "a lot"}, "margin"),
        ({"action": "finetune", "source": "clicks", "evaluate": "/tmp", "margin": "2"}, "margin"),
        ({"action": "reindex_kind", "kind": "category"}, "kind"),
        ({"action": "switch_space", "space": "999"}, "space"),
    ]:
        response = client.post(START, fields)
        assert response.status_code == 400 and response.content.decode().startswith(f"{named}:"), (
            fields,
            response.content,
        )
    assert not ConsoleJob.objects.exists()
    with pytest.raises(JobArgumentError, match="^evaluate:"):
        console.start("finetune", {"source": "qrels", "folder": "/tmp", "margin": "0.01"}, "owner")


def test_failed_jobs_are_listed_as_failures_with_their_error(clusters, run_on_commit, client):
    job = run_on_commit(console.start, "train_sentiment", {}, "owner")  # the clusters have no rated review
    job.refresh_from_db()
    assert job.status == "failed" and job.message
    tuned = run_on_commit(
        console.start, "finetune", {"source": "clicks", "evaluate": "/tmp", "margin": "0.01"}, "owner"
    )
    tuned.refresh_from_db()
    assert tuned.status == "failed" and "pairs" in tuned.message  # no clicks to learn from: refused before training
    failures = list(TaskFailure.objects.order_by("failed_at"))
    assert [f.task for f in failures] == ["console job: train_sentiment", "console job: finetune"]
    assert failures[1].task_id == str(tuned.pk) and tuned.message in failures[1].error
    TaskFailure.objects.create(
        task="shopsearch.index_objects", error="OperationalError: old", failed_at=timezone.now() - timedelta(hours=30)
    )
    client.force_login(User.objects.create_superuser("root"))
    response = client.get(DASHBOARD)
    health = response.context["pipeline"]
    assert health["failures"]["count"] == 2  # the one 30 h ago is outside the last 24 h
    assert health["failures"]["recent"][0].task == "console job: finetune"
    assert "console job: finetune" in response.content.decode()


def test_a_shopsearch_task_that_fails_for_good_is_recorded(clusters):
    # not a database error, so not retried: it fails for good at once (as a worker runs it: the error is the result)
    result = tasks.index_objects.apply(args=("product", []), kwargs={"space_id": "not-a-number"}, throw=False)
    assert result.failed() and isinstance(result.result, ValueError)
    failure = TaskFailure.objects.get(task="shopsearch.index_objects")
    assert failure.error.startswith("ValueError:") and "not-a-number" in failure.error


def test_last_reindex_duration_and_rate(clusters, client):
    started = timezone.now() - timedelta(seconds=20)
    ConsoleJob.objects.create(
        job="reindex",
        action="reindex_all",
        status="done",
        done=50,
        total=50,
        started_at=started,
        finished_at=started + timedelta(seconds=10),
    )
    client.force_login(User.objects.create_superuser("root"))
    health = client.get(DASHBOARD).context["pipeline"]
    assert (health["last_reindex_seconds"], health["last_reindex_rate"]) == (10.0, 5.0)


def test_the_search_log_keeps_the_shopper_s_signed_session(clusters, client):
    session = client.post("/api/sessions/").json()["session"]
    assert client.get("/api/search/", {"q": "wool coat", "session": session}).status_code == 200
    assert client.get("/api/search/", {"q": "linen dress"}).status_code == 200
    bad = client.get("/api/search/", {"q": "coat", "session": "made-up"})
    assert bad.status_code == 400 and bad.json()["detail"].startswith("session:")
    analytics.flush_search_log()
    logged = dict(
        SearchLog.objects.filter(normalized__in=["wool coat", "linen dress"]).values_list("normalized", "session_id")
    )
    assert logged == {"wool coat": session.split(":")[0], "linen dress": ""}


@pytest.mark.slow  # minutes on 2 busy cores: the model loads in the test process and in the worker
@pytest.mark.worker
@pytest.mark.model
@pytest.mark.django_db(transaction=True)
def test_map_and_failures_through_a_real_worker(real_model, client, celery_worker_process):
    from catalog.models import Product
    from shopsearch import indexing
    from shopsearch.models import EmbeddingMap

    from .conftest import wait_for

    Product.objects.bulk_create(
        [
            Product(external_id=f"p{n}", title=title)
            for n, title in enumerate(["Linen summer dress", "Wool winter coat", "Leather ankle boots", "Silk scarf"])
        ]
    )
    indexing.reindex(spaces.ensure_active_space())
    client.force_login(User.objects.create_superuser("root"))
    for action in ("compute_map", "train_sentiment"):
        assert client.post(START, {"action": action}).status_code == 302
    wait_for(
        lambda: not ConsoleJob.objects.filter(status__in=["queued", "running"]).exists(),
        "finish both jobs",
        timeout=180,
    )
    jobs = {job.action: job for job in ConsoleJob.objects.all()}
    assert (jobs["compute_map"].status, jobs["compute_map"].done, jobs["compute_map"].total) == ("done", 2, 2), jobs[
        "compute_map"
    ].message
    assert EmbeddingMap.objects.get().products == 4
    assert jobs["train_sentiment"].status == "failed"  # four products, no rated review
    tasks.index_objects.apply_async(
        args=("product", []), kwargs={"space_id": "not-a-number"}
    )  # fails for good in the worker
    wait_for(
        lambda: TaskFailure.objects.filter(task="shopsearch.index_objects").exists(),
        "record the failed task",
        timeout=60,
    )
    body = client.get(DASHBOARD).content.decode()
    assert "shopsearch.index_objects" in body and "console job: train_sentiment" in body


def test_fine_tunes_are_listed_under_the_space_they_were_made_from(clusters, client):
    serving = spaces.active_space()
    new = EmbeddingSpace.objects.create(model_name="/models/ft-b", model_identity="ft-b@1", dimensions=64, recipe="1")
    figures = {"base": {"space": serving.pk}, "finetuned": {"space": new.pk}}
    for name, before, after in (("hybrid", 0.5, 0.5625), ("semantic", 0.4, 0.375)):
        figures["base"][name], figures["finetuned"][name] = {"ndcg@10": before}, {"ndcg@10": after}
    common = {"base_space": serving, "source": "qrels", "pairs": 600}
    FineTune.objects.create(model_folder="/models/ft-a", outcome="not evaluated", **common)
    FineTune.objects.create(
        model_folder="/models/ft-b",
        space=new,
        evaluated_on="/data/held_out",
        evaluation=figures,
        margin=0.01,
        accepted=True,
        outcome="hybrid nDCG@10 0.5 -> 0.5625 gained at least 0.01",
        **common,
    )
    client.force_login(User.objects.create_superuser("root"))
    body = client.get(DASHBOARD).content.decode()
    newest, oldest = body.index('class="finetune" data-accepted="true"'), body.index('data-accepted="false"')
    assert newest < oldest  # newest first
    assert (
        "hybrid nDCG@10 0.5 → 0.5625 (+0.0625), semantic nDCG@10 0.4 → 0.375 (-0.0250)" in body
        and f'on <span title="/data/held_out">held_out</span>;\n<strong>accepted</strong> (space #{new.pk})' in body
    )
    assert "ft-a</span></strong> (qrels, 600 pairs," in body and "not evaluated</div>" in body
