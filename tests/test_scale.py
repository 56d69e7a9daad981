"""benchmarks/scale.py end to end at its smoke size (2,000 real product texts): import, reindex through a real
worker, HNSW rebuild and sizes, filtered recall, gunicorn under load. Figures are printed, never asserted; what is
asserted is that every stage ran and no request failed. Slow: embedding 2,000 texts takes minutes on 2 cores."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psycopg
import pytest
from psycopg import sql

from .conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.worker]


def test_the_scale_benchmark_runs_end_to_end_at_its_smoke_size():
    prefix = f"{os.environ.get('DATABASE_NAME') or 'test'}_scale"
    try:
        done = subprocess.run(
            [sys.executable, "benchmarks/scale.py", "--smoke", "--database", prefix],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        print(done.stdout)
        assert done.returncode == 0, done.stderr[-3000:]
        result = json.loads(done.stdout)["results"][0]
        assert result["size"] == 2000
        assert result["indexing"][0]["products_per_s"] > 0 and result["bare_model"]["texts"] > 0
        assert result["storage"]["hnsw_product_index_bytes"] > 0
        assert result["filtered_vector_recall"]["queries"] > 0
        levels = result["search"]["levels"]
        assert {(level["mode"], level["filters"]) for level in levels} == {
            (mode, filtered) for mode in ("keyword", "semantic", "hybrid") for filtered in (False, True)
        }
        assert all(level["ok"] > 0 and not level["errors"] for level in levels), levels
    finally:
        from shopsite import embedded_db

        with psycopg.connect(embedded_db.database_url("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(f"{prefix}_2000")))
