"""The owner's console, behind the admin pages: what the dashboard shows and the jobs its buttons start.

`dashboard()` says per embedding space what is searchable (status from what is missing per kind, not from a flag)
and how the pipeline is doing (broker, workers, queue, pending changes, last reindex). `start()` records a
ConsoleJob and hands it to a worker (`run_job`); a second start of a job that is queued or running is refused by
the table's partial unique constraint, whatever process asks. Jobs write their progress as they go.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import current_app, shared_task
from django.db import IntegrityError, transaction
from django.db.models import Count, F
from django.utils import timezone

from . import indexing, registry, spaces, tasks
from .conf import setting
from .exceptions import JobArgumentError, JobRefused
from .models import (
    ConsoleJob,
    Embedding,
    EmbeddingSpace,
    FineTune,
    PendingChange,
    SentimentClassifier,
    TaskFailure,
)

logger = logging.getLogger(__name__)

# action → (the job it may not run beside, the permission it needs, what the button says)
ACTIONS: dict[str, tuple[str, str, str]] = {
    "reindex_missing": ("reindex", "run_reindex", "Index what is missing or stale"),
    "reindex_all": ("reindex", "run_reindex", "Re-check and index everything"),
    "reindex_kind": ("reindex", "run_reindex", "Re-check and index one kind"),
    "switch_space": ("space", "switch_space", "Switch search to this space"),
    "rollback": ("space", "rollback_space", "Roll back to the previous space"),
    "discover_aspects": ("aspects", "discover_aspects", "Discover review aspects"),
    "build_space": ("space", "build_space", "Build a space from a model and switch to it"),
    "train_sentiment": ("sentiment", "train_sentiment", "Train review sentiment from the star ratings"),
    # a fine-tune may switch the serving space at its end: no other space job runs meanwhile
    "finetune": ("space", "finetune", "Fine-tune the model; switch only if it gains"),
    "compute_map": ("map", "compute_map", "Compute the embedding map"),
}
FAILURE_WINDOW_HOURS = 24  # the dashboard counts task failures this recent
FINETUNES_PER_SPACE = 5  # the dashboard lists this many of the newest fine-tunes made from each space
ARGUMENTS = ("kind", "space", "model", "source", "folder", "evaluate", "margin")  # what a start request may carry


def permission(action: str) -> str:
    return f"shopsearch.{ACTIONS[action][1]}"


def space_status(space: EmbeddingSpace, missing: dict[str, int]) -> str:
    """active / ready / building / retired, from what is missing: a space with any missing vector is not ready."""
    if space.status == EmbeddingSpace.Status.RETIRED and not space.is_active:
        return "retired"
    if any(missing.values()):
        return "active, incomplete" if space.is_active else "building"
    return "active" if space.is_active else "ready"


def space_rows() -> list[dict]:
    counts: dict[tuple[int, str], int] = {
        (row["space"], row["kind"]): row["n"]
        for row in Embedding.objects.values("space", "kind").annotate(n=Count("id"))
    }
    classifiers = {c.space_id: c for c in SentimentClassifier.objects.filter(is_active=True)}
    finetunes: dict[int, list[FineTune]] = {}
    for finetune in FineTune.objects.filter(base_space__isnull=False).order_by("-created_at", "-pk"):
        finetunes.setdefault(finetune.base_space_id, []).append(finetune)
    rows = []
    for space in EmbeddingSpace.objects.order_by("-is_active", "-activated_at", "-pk"):
        missing = (
            {kind: len(ids) for kind, ids in spaces.out_of_date(space).items()}
            if space.status != EmbeddingSpace.Status.RETIRED
            else {}
        )
        classifier = classifiers.get(space.pk)
        rows.append(
            {
                "space": space,
                "status": space_status(space, missing),
                "missing": missing,
                "vectors": {kind: counts.get((space.pk, kind), 0) for kind in registry.KINDS},
                "classifier": classifier,
                "balanced_accuracy": (classifier.metrics or {}).get("balanced_accuracy") if classifier else None,
                "finetunes": finetunes.get(space.pk, [])[:FINETUNES_PER_SPACE],
            }
        )
    return rows


def pipeline() -> dict:
    """Broker reachable, workers answering a ping, queue length, pending changes, the last reindex job with its
    duration and rate (objects per second), and the tasks that failed in the last FAILURE_WINDOW_HOURS."""
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
        health["workers"] = sorted(
            name for name, queues in replies.items() if any(q.get("name") == health["queue"] for q in queues or [])
        )
    else:
        health["workers"] = []
    reindexes = ConsoleJob.objects.filter(job="reindex").exclude(status=ConsoleJob.Status.QUEUED)
    last = reindexes.order_by("-created_at").first()
    health["last_reindex"] = last
    if last is not None and last.started_at and last.finished_at:
        seconds = (last.finished_at - last.started_at).total_seconds()
        health["last_reindex_seconds"] = round(seconds, 1)
        health["last_reindex_rate"] = round(last.done / seconds, 1) if seconds > 0 else None
    since = timezone.now() - timedelta(hours=FAILURE_WINDOW_HOURS)
    failures = TaskFailure.objects.filter(failed_at__gte=since).order_by("-failed_at")
    health["failures"] = {"hours": FAILURE_WINDOW_HOURS, "count": failures.count(), "recent": list(failures[:5])}
    return health


def dashboard() -> dict:
    return {
        "spaces": space_rows(),
        "pipeline": pipeline(),
        "jobs": ConsoleJob.objects.order_by("-created_at")[:15],
        "kinds": registry.KINDS,
    }


def start(action: str, arguments: dict, user: str) -> ConsoleJob:
    """Record the job and send it to a worker; JobRefused when the same job is already queued or running."""
    arguments = checked_arguments(action, arguments)
    job_name = ACTIONS[action][0]
    try:
        with transaction.atomic():
            job = ConsoleJob.objects.create(job=job_name, action=action, arguments=arguments, started_by=user)
    except IntegrityError:
        running = ConsoleJob.objects.filter(job=job_name, status__in=["queued", "running"]).first()
        raise JobRefused(
            f"A {job_name} job is already {running.status if running else 'running'} "
            f"({running.action if running else ''}, #{running.pk if running else ''}): wait for it to finish."
        ) from None
    transaction.on_commit(lambda: tasks.enqueue(run_job, job.pk))
    return job


def checked_arguments(action: str, arguments: dict) -> dict:
    """The arguments the action needs, checked before anything is queued; JobArgumentError names the field."""
    if action not in ACTIONS:
        raise JobArgumentError(f"action: unknown action {action!r}; known: {', '.join(ACTIONS)}.")
    if action == "reindex_kind" and arguments.get("kind") not in registry.KINDS:
        raise JobArgumentError(f"kind: must be one of {', '.join(registry.KINDS)}, not {arguments.get('kind')!r}.")
    if action == "switch_space" and not EmbeddingSpace.objects.filter(pk=arguments.get("space")).exists():
        raise JobArgumentError(f"space: there is no embedding space #{arguments.get('space')}.")
    if action == "build_space" and not str(arguments.get("model") or "").strip():
        raise JobArgumentError(
            "model: the folder (or cached name) of the sentence-transformers model to build the space with."
        )
    if action == "finetune":
        return _finetune_arguments(arguments)
    return {key: value for key, value in arguments.items() if key in ("kind", "space", "model")}


def _finetune_arguments(arguments: dict) -> dict:
    """Fine-tuning from the console always goes through the evaluation gate: a judged folder and a margin."""
    from pathlib import Path

    source = arguments.get("source")
    if source not in ("clicks", "qrels"):
        raise JobArgumentError(
            f"source: 'clicks' (the shop's search clicks) or 'qrels' (a judged folder), not {source!r}"
        )
    checked = {"source": source}
    for field in ("folder", "evaluate") if source == "qrels" else ("evaluate",):
        if not arguments.get(field) or not Path(arguments[field]).is_dir():
            raise JobArgumentError(f"{field}: no such folder on the server: {arguments.get(field)!r}.")
        checked[field] = str(arguments[field])
    try:
        checked["margin"] = float(arguments.get("margin"))
    except (TypeError, ValueError):
        wrong = arguments.get("margin")
        raise JobArgumentError(
            f"margin: the hybrid nDCG@10 gain needed to switch, such as 0.01, not {wrong!r}."
        ) from None
    if not 0 <= checked["margin"] < 1:
        raise JobArgumentError(f"margin: between 0 and 1, not {checked['margin']}.")
    return checked


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
        ConsoleJob.objects.filter(pk=job_id).update(
            status=ConsoleJob.Status.FAILED, message=str(exc)[:2000], finished_at=timezone.now()
        )
        tasks.record_failure(f"console job: {job.action}", str(job_id), exc)
        return {"job": job_id, "failed": str(exc)}
    ConsoleJob.objects.filter(pk=job_id).update(
        status=ConsoleJob.Status.DONE, message=message, finished_at=timezone.now()
    )
    return {"job": job_id, "message": message}


def _steps(job_id: int, total: int):
    """Progress of a job that goes through a few named steps: step n of total, with what it is doing."""
    ConsoleJob.objects.filter(pk=job_id).update(total=total)

    def step(done: int, message: str) -> None:
        ConsoleJob.objects.filter(pk=job_id).update(done=done, message=message)

    return step


def _object_total(kinds) -> int:
    total = 0
    for kind in kinds:
        model = registry.indexed_model(kind)
        total += model._default_manager.count() if model is not None else 0
    return total


def _run(job: ConsoleJob) -> str:
    progress = _progress(job.pk)
    if job.action == "reindex_missing":
        space = spaces.ensure_active_space()
        ConsoleJob.objects.filter(pk=job.pk).update(total=spaces.missing_count(space))
        result = indexing.reconcile(grace_seconds=0)
        ConsoleJob.objects.filter(pk=job.pk).update(done=F("total"))
        return "reconciled: " + ", ".join(f"{key} {value}" for key, value in result.items())
    if job.action in ("reindex_all", "reindex_kind"):
        kinds = (job.arguments["kind"],) if job.action == "reindex_kind" else registry.KINDS
        space = spaces.ensure_active_space()
        ConsoleJob.objects.filter(pk=job.pk).update(total=_object_total(kinds))
        summary = indexing.reindex(space, kinds=kinds, on_batch=progress).as_dict()
        return f"{'/'.join(kinds)}: " + ", ".join(f"{key} {value}" for key, value in summary.items())
    if job.action == "switch_space":
        space = EmbeddingSpace.objects.get(pk=job.arguments["space"])
        spaces.activate(space)
        return f"search now uses space #{space.pk} ({space.model_identity})"
    if job.action == "rollback":
        result = indexing.rollback(on_batch=progress)
        return f"search now uses space #{result['active']} ({result['model']}); it replaced #{result['previous']}"
    if job.action == "discover_aspects":
        from . import review_insights

        space = spaces.active_space()
        if space is None:
            raise JobRefused("There is no active space yet: reindex first.")
        aspects = review_insights.discover_aspects(space)
        return (
            f"{len(aspects)} aspects found: " + ", ".join(aspect.name for aspect in aspects)
            if aspects
            else "no new aspect found"
        )
    if job.action == "build_space":
        kinds = indexing.indexed_kinds()
        ConsoleJob.objects.filter(pk=job.pk).update(total=_object_total(kinds))
        space = indexing.switch_to(job.arguments["model"], on_batch=progress)
        return f"search now uses space #{space.pk} ({space.model_identity}), built from {job.arguments['model']}"
    if job.action == "train_sentiment":
        from . import review_insights, sentiment

        step, space = _steps(job.pk, 2), spaces.require_active_space()
        step(0, "training from the star ratings")
        classifier, result = sentiment.train_classifier(space)
        step(1, "labelling the review sentences")
        review_insights.refresh_all(space)
        step(2, "done")
        accuracy = result["cross_validated"].get("balanced_accuracy")
        return (
            f"classifier #{classifier.pk} for space #{space.pk}, trained on {result['reviews']} reviews: "
            f"cross-validated balanced accuracy {accuracy:.3f}"
        )
    if job.action == "finetune":
        from . import finetune

        def on_step(done: int, total: int) -> None:
            ConsoleJob.objects.filter(pk=job.pk).update(done=done, total=total, message="training")

        arguments = job.arguments
        report = finetune.finetune(
            arguments["source"],
            folder=arguments.get("folder"),
            evaluate_folder=arguments["evaluate"],
            activate_margin=arguments["margin"],
            on_step=on_step,
            log=lambda text: ConsoleJob.objects.filter(pk=job.pk).update(message=text[:2000]),
        )
        return f"{report['model']}: {report['reason']}"
    if job.action == "compute_map":
        from . import embedding_map

        space = spaces.require_active_space()
        step = _steps(job.pk, 2)
        space_map = embedding_map.compute(space, on_step=step)
        step(2, "done")
        return (
            f"map of {space_map.products} products of space #{space.pk} in {space_map.seconds:.1f} s; "
            f"the axes keep {sum(space_map.explained_variance):.0%} of the variance"
        )
    raise JobRefused(f"Unknown action {job.action!r}")
