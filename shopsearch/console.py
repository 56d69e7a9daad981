"""The owner's console, behind the admin pages: what the dashboard shows and the jobs its buttons start.

`dashboard()` says per embedding space what is searchable (status from what is missing per kind, not from a flag)
and how the pipeline is doing (broker, workers, queue, pending changes, last reindex). `start()` records a
ConsoleJob and hands it to a worker (`run_job`); a second start of a job that is queued or running is refused by
the table's partial unique constraint, whatever process asks. Jobs write their progress as they go.
"""
from __future__ import annotations

import logging

from celery import current_app, shared_task
from django.db import IntegrityError, transaction
from django.db.models import Count, F
from django.utils import timezone

from . import indexing, registry, tasks
from .conf import setting
from .models import ConsoleJob, Embedding, EmbeddingSpace, PendingChange, SentimentClassifier

logger = logging.getLogger(__name__)

# action → (the job it may not run beside, the permission it needs, what the button says)
ACTIONS: dict[str, tuple[str, str, str]] = {
    "reindex_missing": ("reindex", "run_reindex", "Index what is missing or stale"),
    "reindex_all": ("reindex", "run_reindex", "Re-check and index everything"),
    "reindex_kind": ("reindex", "run_reindex", "Re-check and index one kind"),
    "switch_space": ("space", "switch_space", "Switch search to this space"),
    "rollback": ("space", "rollback_space", "Roll back to the previous space"),
    "discover_aspects": ("aspects", "discover_aspects", "Discover review aspects"),
}


class JobRefused(Exception):
    """The job cannot start: the same job is already queued or running, or its arguments are wrong."""


def permission(action: str) -> str:
    return f"shopsearch.{ACTIONS[action][1]}"


def space_status(space: EmbeddingSpace, missing: dict[str, int]) -> str:
    """active / ready / building / retired, from what is missing: a space with any missing vector is not ready."""
    if space.status == EmbeddingSpace.Status.RETIRED and not space.is_active:
        return "retired"
    if any(missing.values()):
        return "active, incomplete" if space.is_active else "building"
    return "active" if space.is_active else "ready"


def spaces() -> list[dict]:
    counts: dict[tuple[int, str], int] = {
        (row["space"], row["kind"]): row["n"] for row in Embedding.objects.values("space", "kind").annotate(n=Count("id"))
    }
    classifiers = {c.space_id: c for c in SentimentClassifier.objects.filter(is_active=True)}
    rows = []
    for space in EmbeddingSpace.objects.order_by("-is_active", "-activated_at", "-pk"):
        missing = {kind: len(ids) for kind, ids in indexing.out_of_date(space).items()} if space.status != EmbeddingSpace.Status.RETIRED else {}
        classifier = classifiers.get(space.pk)
        rows.append({
            "space": space, "status": space_status(space, missing), "missing": missing,
            "vectors": {kind: counts.get((space.pk, kind), 0) for kind in registry.KINDS},
            "classifier": classifier,
            "balanced_accuracy": (classifier.metrics or {}).get("balanced_accuracy") if classifier else None,
        })
    return rows


def pipeline() -> dict:
    """Broker reachable, workers answering a ping, queue length, pending changes, the last reindex job."""
    health: dict = {"pending_changes": PendingChange.objects.count(), "queue": current_app.conf.task_default_queue}
    try:
        with current_app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=float(setting("CONSOLE_PING_SECONDS")))
            health["queue_length"] = connection.default_channel.client.llen(current_app.conf.task_default_queue)
        health["broker"] = True
    except Exception as exc:  # the page must show an outage, not fail with it
        health.update(broker=False, broker_error=str(exc), queue_length=None)
    if health["broker"]:
        # workers of other shops may share the broker: only those consuming this shop's queue count
        replies = current_app.control.inspect(timeout=float(setting("CONSOLE_PING_SECONDS"))).active_queues() or {}
        health["workers"] = sorted(name for name, queues in replies.items() if any(q.get("name") == health["queue"] for q in queues or []))
    else:
        health["workers"] = []
    health["last_reindex"] = ConsoleJob.objects.filter(job="reindex").exclude(status=ConsoleJob.Status.QUEUED).order_by("-created_at").first()
    return health


def dashboard() -> dict:
    return {"spaces": spaces(), "pipeline": pipeline(), "jobs": ConsoleJob.objects.order_by("-created_at")[:15],
            "kinds": registry.KINDS}


def start(action: str, arguments: dict, user: str) -> ConsoleJob:
    """Record the job and send it to a worker; JobRefused when the same job is already queued or running."""
    if action not in ACTIONS:
        raise JobRefused(f"Unknown action {action!r}; known: {', '.join(ACTIONS)}.")
    if action == "reindex_kind" and arguments.get("kind") not in registry.KINDS:
        raise JobRefused(f"kind must be one of {', '.join(registry.KINDS)}, not {arguments.get('kind')!r}.")
    if action == "switch_space" and not EmbeddingSpace.objects.filter(pk=arguments.get("space")).exists():
        raise JobRefused(f"There is no embedding space #{arguments.get('space')}.")
    job_name = ACTIONS[action][0]
    try:
        with transaction.atomic():
            job = ConsoleJob.objects.create(job=job_name, action=action, arguments=arguments, started_by=user)
    except IntegrityError:
        running = ConsoleJob.objects.filter(job=job_name, status__in=["queued", "running"]).first()
        raise JobRefused(f"A {job_name} job is already {running.status if running else 'running'} "
                         f"({running.action if running else ''}, #{running.pk if running else ''}): wait for it to finish.") from None
    transaction.on_commit(lambda: tasks.enqueue(run_job, job.pk))
    return job


def _progress(job_id: int):
    def on_batch(kind: str, n: int) -> None:
        ConsoleJob.objects.filter(pk=job_id).update(done=F("done") + n, message=f"indexing {kind}s")
    return on_batch


@shared_task(name="shopsearch.console_job")
def run_job(job_id: int) -> dict:
    """Run one console job to its end and record the outcome (never retried: the owner starts it again)."""
    job = ConsoleJob.objects.filter(pk=job_id, status=ConsoleJob.Status.QUEUED).first()
    if job is None:
        return {"job": job_id, "skipped": True}
    ConsoleJob.objects.filter(pk=job_id).update(status=ConsoleJob.Status.RUNNING, started_at=timezone.now())
    try:
        message = _run(job)
    except Exception as exc:
        logger.exception("shopsearch: console job #%s (%s) failed", job_id, job.action)
        ConsoleJob.objects.filter(pk=job_id).update(status=ConsoleJob.Status.FAILED, message=str(exc)[:2000], finished_at=timezone.now())
        return {"job": job_id, "failed": str(exc)}
    ConsoleJob.objects.filter(pk=job_id).update(status=ConsoleJob.Status.DONE, message=message, finished_at=timezone.now())
    return {"job": job_id, "message": message}


def _object_total(kinds) -> int:
    total = 0
    for kind in kinds:
        model = registry.indexed_model(kind)
        total += model._default_manager.count() if model is not None else 0
    return total


def _run(job: ConsoleJob) -> str:
    progress = _progress(job.pk)
    if job.action == "reindex_missing":
        space = indexing.ensure_active_space()
        ConsoleJob.objects.filter(pk=job.pk).update(total=indexing.missing_count(space))
        result = indexing.reconcile(grace_seconds=0)
        ConsoleJob.objects.filter(pk=job.pk).update(done=F("total"))
        return "reconciled: " + ", ".join(f"{key} {value}" for key, value in result.items())
    if job.action in ("reindex_all", "reindex_kind"):
        kinds = (job.arguments["kind"],) if job.action == "reindex_kind" else registry.KINDS
        space = indexing.ensure_active_space()
        ConsoleJob.objects.filter(pk=job.pk).update(total=_object_total(kinds))
        summary = indexing.reindex(space, kinds=kinds, on_batch=progress).as_dict()
        return f"{'/'.join(kinds)}: " + ", ".join(f"{key} {value}" for key, value in summary.items())
    if job.action == "switch_space":
        space = EmbeddingSpace.objects.get(pk=job.arguments["space"])
        indexing.activate(space)
        return f"search now uses space #{space.pk} ({space.model_identity})"
    if job.action == "rollback":
        from . import finetune

        result = finetune.rollback(on_batch=progress)
        return f"search now uses space #{result['active']} ({result['model']}); it replaced #{result['previous']}"
    if job.action == "discover_aspects":
        from . import review_insights

        space = indexing.active_space()
        if space is None:
            raise JobRefused("There is no active space yet: reindex first.")
        aspects = review_insights.discover_aspects(space)
        return f"{len(aspects)} aspects found: " + ", ".join(aspect.name for aspect in aspects) if aspects else "no new aspect found"
    raise JobRefused(f"Unknown action {job.action!r}")
