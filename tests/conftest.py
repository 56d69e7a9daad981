"""Shared fixtures: a deterministic fake encoder for fast unit tests, the real bundled model for the marked
ones, real rows of the CC0 demo catalogue, and a real Celery worker process."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from celery import current_app

from shopsearch import encoders, query_understanding

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "catalog" / "fixtures"
SHARED_DATA = ROOT.parent / "shared" / "data"
FAKE_MODEL = "test-hashing-encoder"
# The second shop has settings of its own and its own pytest run (scripts/test: --ds tests.second_shop.settings).
collect_ignore = [] if os.environ.get("DJANGO_SETTINGS_MODULE") == "tests.second_shop.settings" else ["second_shop"]


class HashingEncoder:
    """Bag of words hashed into 64 signed buckets: texts sharing words are close. Deterministic and instant."""

    name = FAKE_MODEL
    dimensions = 64

    def encode(self, texts):
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in re.findall(r"\w+", text.lower()):
                digest = hashlib.md5(token.encode()).digest()
                out[row, digest[0] % self.dimensions] += 1.0 if digest[1] % 2 else -1.0
            out[row, 0] += 1e-3  # no zero vectors
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture(autouse=True)
def eager_tasks():
    """Tasks run in-process unless a test starts a real worker; errors propagate to the test."""
    conf = current_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, True
    yield
    conf.task_always_eager, conf.task_eager_propagates = saved


@pytest.fixture(autouse=True)
def fresh_process_caches():
    """Each test starts with none of the per-process caches an earlier test's catalogue filled (the database is
    emptied between tests; a web process would see such a change within CATEGORY_CACHE_SECONDS)."""
    query_understanding.clear_caches()
    yield


@pytest.fixture
def fake_model(settings, monkeypatch):
    """Make the fake encoder the configured model (and the only one loadable besides real folders)."""
    real_get = encoders.get_encoder
    fake = HashingEncoder()
    monkeypatch.setattr(encoders, "get_encoder", lambda name: fake if name == FAKE_MODEL else real_get(name))
    settings.SHOPSEARCH = {**settings.SHOPSEARCH, "MODEL": FAKE_MODEL}
    return fake


@pytest.fixture
def real_model(settings):
    """The bundled all-MiniLM-L6-v2, loaded once per test process."""
    settings.SHOPSEARCH = {key: value for key, value in settings.SHOPSEARCH.items() if key != "MODEL"}
    return encoders.get_encoder(encoders.default_model())


_remembered: dict[tuple[str, str], np.ndarray] = {}


@pytest.fixture
def remembered_vectors(real_model, monkeypatch):
    """The real model, with its document vectors kept for the whole test run by (model, text): a fixture that loads
    the same demo rows test after test (the database is emptied between them) encodes each text once. The first
    encoding of a text is the model's own; later tests read back exactly that vector, as spaces.encode_texts reuses
    a vector by content hash within one database. Queries (encode_query) are not affected."""
    encode = type(real_model).encode

    def remembering(self, texts):
        todo = [text for text in dict.fromkeys(texts) if (self.name, text) not in _remembered]
        for text, vector in zip(todo, encode(self, todo) if todo else (), strict=True):
            _remembered[(self.name, text)] = vector
        vectors = [_remembered[(self.name, text)] for text in texts]
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dimensions)

    monkeypatch.setattr(type(real_model), "encode", remembering)
    return real_model


def demo_rows(name: str, limit: int | None = None, where=lambda row: True) -> list[dict]:
    """Rows of the shipped CC0 demo catalogue (real clothing items and reviews)."""
    rows = []
    with gzip.open(FIXTURES / name, "rt", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if where(row):
                rows.append(row)
                if limit and len(rows) >= limit:
                    break
    return rows


def load_demo_products(rows: list[dict]) -> None:
    """Bulk-create demo catalogue rows as shop products (categories as needed; a price and stock from the row's
    position) and index them in the active space."""
    from catalog.models import Category, Product
    from shopsearch import indexing, spaces

    categories = {
        name: Category.objects.get_or_create(name=name)[0] for name in {r["category"] for r in rows if r["category"]}
    }
    Product.objects.bulk_create(
        [
            Product(
                external_id=r["id"],
                title=r["title"],
                description=r["description"],
                attributes=r["attributes"],
                category=categories.get(r["category"]),
                price=(index % 50) + 10,
                in_stock=index % 3 != 0,
            )
            for index, r in enumerate(rows)
        ]
    )
    indexing.reindex(spaces.ensure_active_space(), kinds=("product",), batch_size=500)


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Run a block and then its on_commit callbacks (the signal handlers' task enqueues)."""

    def runner(func, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return func(*args, **kwargs)

    return runner


@pytest.fixture
def celery_app_module() -> str:
    """What `celery -A` loads in the worker: the demo project (the second shop's conftest names its own)."""
    return "shopsite"


@pytest.fixture
def worker_concurrency() -> int:
    """Pool processes of the test worker; a test module that needs races overrides this fixture."""
    return 1


@pytest.fixture
def celery_worker_process(tmp_path, celery_app_module, worker_concurrency):
    """A real `celery worker` process on a private queue of the real Redis, using the test database."""
    from django.db import connection

    queue = f"shopsearch-test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DATABASE_NAME": connection.settings_dict["NAME"], "PYTHONUNBUFFERED": "1"}
    log = open(tmp_path / "worker.log", "w+")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            celery_app_module,
            "worker",
            "-Q",
            queue,
            "-c",
            str(worker_concurrency),
            "--pool",
            "prefork",
            "-l",
            "INFO",
            "-n",
            f"{queue}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    conf = current_app.conf
    saved_queue = conf.task_default_queue
    conf.task_default_queue, conf.task_always_eager = queue, False
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if current_app.control.ping(destination=[f"{queue}@{os.uname().nodename}"], timeout=1.0):
                break
            if process.poll() is not None:
                break
        else:
            pytest.fail("the Celery worker did not answer within 120 s")
        if process.poll() is not None:
            log.seek(0)
            pytest.fail(f"the Celery worker exited: {log.read()[-3000:]}")
        yield process
    finally:
        conf.task_default_queue, conf.task_always_eager = saved_queue, True
        process.terminate()
        process.wait(timeout=60)
        log.close()


def shop_process(script: str, redis_url: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `script` in a shop process of its own (manage.py shell) against the test database and `redis_url`."""
    from django.db import connection

    env = {**os.environ, "DATABASE_NAME": connection.settings_dict["NAME"], "REDIS_URL": redis_url}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def wait_for(condition, what: str, timeout: float = 90) -> None:
    """Poll `condition` until it holds; fail naming what the worker did not do in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    pytest.fail(f"the worker did not {what} within {timeout:.0f} s")


def load_products(rows: list[dict]):
    """Create demo products (and their categories) from catalogue rows, through the ORM so signals fire."""
    from catalog.models import Category, Product

    created = []
    for row in rows:
        category = Category.objects.get_or_create(name=row["category"])[0] if row.get("category") else None
        created.append(
            Product.objects.create(
                external_id=row["id"],
                title=row["title"],
                description=row.get("description", ""),
                attributes=row.get("attributes", {}),
                price=row.get("price"),
                in_stock=row.get("in_stock", True),
                category=category,
            )
        )
    return created


# Two clear clusters of products that share words within a cluster, and one product that belongs to both.
COATS = [f"Wool coat for winter, warm and heavy, style {n}" for n in "ABCDEF"]
DRESSES = [f"Linen dress for summer, light and airy, style {n}" for n in "ABCDEF"]
BRIDGE = "Wool coat for winter and linen dress for summer"


@pytest.fixture
def clusters(fake_model, run_on_commit):
    """Six coats (category Coats, prices 10..60), six dresses (Dresses), and a product that is half of each."""
    from catalog.models import Category, Product

    coats, dresses = Category.objects.create(name="Coats"), Category.objects.create(name="Dresses")

    def create():
        made = {}
        for n, title in enumerate(COATS):
            made[f"coat{n}"] = Product.objects.create(
                external_id=f"coat{n}", title=title, category=coats, price=10 * (n + 1), in_stock=n % 2 == 0
            )
        for n, title in enumerate(DRESSES):
            made[f"dress{n}"] = Product.objects.create(
                external_id=f"dress{n}", title=title, category=dresses, price=10 * (n + 1)
            )
        made["bridge"] = Product.objects.create(external_id="bridge", title=BRIDGE, category=coats, price=5)
        return made

    return {key: str(product.pk) for key, product in run_on_commit(create).items()}
