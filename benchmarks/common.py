"""What every benchmark script shares: the machine it ran on, and Django set up against a database of its own.

Benchmarks run in a database named on the command line, so their catalogues, edits and events never touch the
demo's or the tests'; the embedded PostgreSQL creates it on first use.
"""
from __future__ import annotations

import os
import platform
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def machine() -> dict:
    """CPU model, cores, load average (a shared machine is noisy: read figures with it) and Python version."""
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
        platform.processor() or "?",
    )
    return {"cpu": cpu, "cores": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()], "python": platform.python_version()}


def setup_django(database: str) -> None:
    """Point Django at `database` (created if missing) and set it up; call before importing models."""
    os.environ["DATABASE_NAME"] = database
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopsite.settings")
    # DEBUG stays off (it would keep every query in memory); the settings then want a secret of their own
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()
