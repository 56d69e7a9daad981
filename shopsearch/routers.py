"""Read replicas for search: a Django database router that sends the shopper's read-only queries (search,
similar products, recommendations, trending) to a streaming replica, and everything else to the primary.

Only what runs inside `replica_reads()` reads from the replica: the API's read-only views enter it; writes,
indexing, the worker, the console, management commands and evaluations never do, so nothing reads its own writes
from a replica that lags behind. Inside it, every query of the request, ORM (through the router) and raw SQL
(through `read_connection`), runs in ONE read-only REPEATABLE READ transaction on the replica: the active space a
search reads and the vectors it then ranks come from the same snapshot, so a replica that is replaying a reindex
answers wholly from the space that was active at that snapshot, never from a mix of two. A lagging replica shows
the catalogue as it was (new products appear once it has replayed them); it never shows a half-switched one.

Configure an alias for the replica in `settings.DATABASES` (the demo: `REPLICA_DATABASE_URL`), name it in
SHOPSEARCH["REPLICA_DATABASE"] (default "replica") and add this router to `DATABASE_ROUTERS`. Without that alias
in `DATABASES`, everything reads from the default database and `replica_reads()` does nothing.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from .conf import setting

_reading_replica: contextvars.ContextVar[bool] = contextvars.ContextVar("shopsearch_reading_replica", default=False)


def replica_alias() -> str | None:
    """The configured replica's alias, or None where none is configured."""
    alias = setting("REPLICA_DATABASE")
    return alias if alias and alias in settings.DATABASES and alias != DEFAULT_DB_ALIAS else None


def read_alias() -> str:
    """The alias the current code reads from: the replica inside `replica_reads()`, else the default database."""
    return (replica_alias() or DEFAULT_DB_ALIAS) if _reading_replica.get() else DEFAULT_DB_ALIAS


@contextlib.contextmanager
def replica_reads() -> Iterator[None]:
    """Run the block's queries on the replica, in one read-only snapshot (a no-op without a replica, and when
    already inside). Also a decorator: `@replica_reads()`."""
    alias = replica_alias()
    if alias is None or _reading_replica.get():
        yield
        return
    token = _reading_replica.set(True)
    try:
        with transaction.atomic(using=alias):
            with connections[alias].cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield
    finally:
        _reading_replica.reset(token)


class _ReadConnection:
    """`django.db.connection` for code that reads: the replica's connection inside `replica_reads()`, else the
    default one. Raw SQL written as `connection.cursor()` reads from the right database through it."""

    def __getattr__(self, name: str):
        return getattr(connections[read_alias()], name)


read_connection = _ReadConnection()


class ReplicaRouter:
    """Reads inside `replica_reads()` go to the replica; writes, and reads anywhere else, to the default database;
    migrations never run on the replica (it replays the primary's)."""

    def db_for_read(self, model, **hints) -> str | None:
        alias = read_alias()
        return alias if alias != DEFAULT_DB_ALIAS else None

    def db_for_write(self, model, **hints) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        return True  # one database, replicated: objects from either side may refer to each other

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints) -> bool:
        return db != replica_alias()
