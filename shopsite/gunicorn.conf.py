"""gunicorn settings of scripts/demo and the Docker image (`gunicorn -c shopsite/gunicorn.conf.py shopsite.wsgi`).

gthread workers: GUNICORN_WORKERS processes (default: one per core, at least 2), each with GUNICORN_THREADS
threads (default 4). A search spends most of its time waiting on PostgreSQL, so threads keep a core busy without a
process (and a query encoder) each. Every thread holds at most one database connection (DATABASE_CONN_MAX_AGE), so
the site holds at most workers × threads of PostgreSQL's max_connections (100 by default) whatever the load: the
demo's 2 × 4 = 8 on two cores. More concurrent requests wait in the listen backlog instead of failing.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS") or max(2, os.cpu_count() or 1))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))  # a first request may build a product's review sentences
graceful_timeout = 30
max_requests = 2000  # recycle a worker now and then (bounded memory), staggered so they never restart together
max_requests_jitter = 200
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None  # "-" for stdout
errorlog = "-"


def post_worker_init(worker) -> None:
    """Each web worker loads the query encoder before it takes requests (search.warm_up_in_background, waited for at
    most 45 s, within `timeout`): a worker recycled by max_requests then never makes a shopper wait for it, since the
    other workers serve meanwhile."""
    from shopsearch import search

    search.warm_up_in_background().join(timeout=45)
