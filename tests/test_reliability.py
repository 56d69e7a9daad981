"""No lost update under races and faults: two quick saves on two worker processes, a killed pool process, a Redis
that loses its queue, a worker killed mid-batch, and a broker that does not answer. Real Redis, real workers, the
real model; saves go through the ORM and its signals, as a shop's do."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.db import transaction

from catalog.models import Product
from shopsearch import indexing, registry, spaces
from shopsearch.models import Document, Embedding, PendingChange

from .conftest import demo_rows, shop_process, wait_for

pytestmark = [pytest.mark.model, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker_concurrency() -> int:
    return 2


def children(pid: int) -> list[int]:
    """Pool processes of a worker (its child processes)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def vectors_match_latest_text(products: list[Product], model) -> list[str]:
    """Ids of products whose document or vector does not come from their current, committed text."""
    wrong = []
    for product in products:
        product.refresh_from_db()
        text = registry.product_text(registry.document_function("product")(product))
        document = Document.objects.filter(kind="product", object_id=str(product.pk)).first()
        embedding = Embedding.objects.filter(document=document).first() if document else None
        if (
            document is None
            or embedding is None
            or document.text != text
            or embedding.content_hash != registry.content_hash(text)
        ):
            wrong.append(str(product.pk))
        elif float(np.dot(np.asarray(embedding.vector), model.encode([text])[0])) < 0.999:
            wrong.append(str(product.pk))
    return wrong


def make_products(n: int, prefix: str) -> list[Product]:
    rows = demo_rows("demo_products.jsonl.gz", limit=n)
    return Product.objects.bulk_create(
        [
            Product(external_id=f"{prefix}-{row['id']}", title=row["title"], description=row["description"])
            for row in rows
        ]
    )


def test_two_quick_saves_on_two_worker_processes_end_with_the_latest_text(real_model, celery_worker_process):
    spaces.ensure_active_space()
    products = make_products(8, "race")
    indexing.reindex(spaces.active_space(), kinds=("product",))
    time.sleep(5)  # let both pool processes finish loading the model, so both take tasks
    # The first edit is long (256 tokens take the model longest), the second short: the second task overtakes the
    # first, which without per-object ordering wrote the older text's vector last.
    long_text = " ".join(row["text"] for row in demo_rows("demo_reviews.jsonl.gz", limit=12))
    for round_, gap in enumerate((0.02, 0.05, 0.1)):
        for product in products:  # one pair at a time, on an idle worker: both processes race for the two tasks
            product.title, product.description = f"{product.external_id} first edit of round {round_}", long_text
            product.save()  # autocommit: the task is sent at once
            time.sleep(gap)  # long enough for the first task to read the first text
            product.title, product.description = f"{product.external_id} second edit of round {round_}", ""
            product.save()
            wait_for(lambda: not PendingChange.objects.exists(), "apply both saves", timeout=120)
    assert vectors_match_latest_text(products, real_model) == []


@pytest.mark.slow  # about 40 s, mostly waiting to see the replacement live
def test_a_killed_pool_process_is_replaced_and_saves_still_apply(real_model, celery_worker_process):
    spaces.ensure_active_space()
    products = make_products(8, "killed-pool")
    indexing.reindex(spaces.active_space(), kinds=("product",))
    time.sleep(5)  # both pool processes have loaded the model
    pool = children(celery_worker_process.pid)
    assert len(pool) == 2
    os.kill(pool[0], signal.SIGKILL)
    wait_for(
        lambda: len(children(celery_worker_process.pid)) == 2 and pool[0] not in children(celery_worker_process.pid),
        "replace the killed pool process",
        timeout=60,
    )
    replacement = set(children(celery_worker_process.pid)) - set(pool)
    time.sleep(20)  # longer than Celery's 4 s start-up default and than loading the model: the new process must live
    assert set(children(celery_worker_process.pid)) >= replacement, "the replacement pool process was killed again"
    for product in products[:6]:
        product.title = f"{product.external_id} after the kill"
        product.save()
    wait_for(lambda: not PendingChange.objects.exists(), "apply the saves after the kill", timeout=120)
    assert vectors_match_latest_text(products, real_model) == []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_redis(port: int, folder: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.1)
    process.kill()
    pytest.fail("redis-server did not start")


@pytest.mark.skipif(
    subprocess.run(["which", "redis-server"], capture_output=True).returncode != 0, reason="no redis-server"
)
def test_a_redis_restart_loses_queued_updates_the_count_shows_them_and_reconcile_repairs_them(real_model, tmp_path):
    space = spaces.ensure_active_space()
    products = make_products(12, "lost")
    indexing.reindex(space, kinds=("product",))
    assert spaces.missing_count(space) == 0
    port = free_port()
    redis = start_redis(port, tmp_path)
    try:  # no worker listens: the saves' tasks wait in this Redis, which keeps nothing on disk
        shop_process(
            "from catalog.models import Product\n"
            f"for product in Product.objects.filter(pk__in={[p.pk for p in products[:8]]!r}):\n"
            "    product.title = product.title + ' (edited while the queue was lost)'\n"
            "    product.save()\n"
            "Product.objects.create(external_id='lost-new', title='A product created while the queue was lost')\n"
            f"Product.objects.filter(pk={products[8].pk}).delete()\n",
            f"redis://127.0.0.1:{port}/0",
        )
    finally:
        redis.kill()
        redis.wait()
    assert spaces.missing_count(space) == 10  # 8 edited, 1 created, 1 deleted: all counted, none applied
    assert indexing.reconcile(grace_seconds=3600) == {
        "product": 0,
        "review": 0,
    }  # younger than the grace: tasks may be on their way
    call_command("reindex", missing=True, stdout=open(os.devnull, "w"))
    assert spaces.missing_count(space) == 0
    survivors = list(Product.objects.filter(external_id__startswith="lost"))
    assert vectors_match_latest_text(survivors, real_model) == []
    assert not Document.objects.filter(kind="product", object_id=str(products[8].pk)).exists()


def test_with_no_broker_answering_saves_are_indexed_inline_and_it_is_said_once(real_model):
    """A shop process whose broker does not answer still indexes its saves (inline, after waiting BROKER_TIMEOUT
    once), warns once, and does not wait for the broker again. The subprocess's timeout is the bound on a hang."""
    spaces.ensure_active_space()
    titles = [row["title"] for row in demo_rows("demo_products.jsonl.gz", limit=4)]
    result = shop_process(
        "from django.conf import settings\n"
        "from catalog.models import Product\n"
        "settings.SHOPSEARCH = {**settings.SHOPSEARCH, 'BROKER_TIMEOUT': 0.5}\n"
        f"for i, title in enumerate({titles!r}):\n"
        "    Product.objects.create(external_id=f'no-answer-{i}', title=title)\n",
        f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        timeout=120,
    )
    assert result.stderr.count("no Celery broker answers") == 1
    saved = Product.objects.filter(external_id__startswith="no-answer-").values_list("pk", flat=True)
    assert Embedding.objects.filter(kind="product", document__object_id__in=[str(pk) for pk in saved]).count() == 4


@pytest.mark.slow
def test_a_worker_killed_mid_batch_leaves_pending_changes_that_reconcile_applies(real_model, celery_worker_process):
    space = spaces.ensure_active_space()
    products = make_products(150, "killed")
    indexing.reindex(space, kinds=("product",))
    time.sleep(5)
    for product in products:
        product.title = f"{product.title} edited before the crash"
        with transaction.atomic():
            product.save()
    wait_for(lambda: PendingChange.objects.count() < 120, "start on the queue", timeout=120)
    for pid in [
        *children(celery_worker_process.pid),
        celery_worker_process.pid,
    ]:  # the whole worker, as kill -9 of a host
        os.kill(pid, signal.SIGKILL)
    celery_worker_process.wait()
    assert 0 < PendingChange.objects.count() < 150  # some applied, the rest stranded with the killed worker
    assert spaces.missing_count(space) == PendingChange.objects.count()
    call_command("reindex", missing=True, stdout=open(os.devnull, "w"))
    assert spaces.missing_count(space) == 0 and not PendingChange.objects.exists()
    assert vectors_match_latest_text(products, real_model) == []
