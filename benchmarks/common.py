"""What every benchmark script shares: the repository on the import path, the machine it ran on, percentiles, a
tie-aware recall, and Django set up against a database of its own.

A script run as `python benchmarks/x.py` has only benchmarks/ on its path; it imports this module (`from common
import ...`, benchmarks/ being that path) and with it the repository, so `shopsite`, `catalog` and `shopsearch`
import. Benchmarks run in a database named on the command line (`--database`), so their catalogues, edits and
events never touch the demo's or the tests'; the embedded PostgreSQL creates it on first use.
"""

from __future__ import annotations

import os
import platform
import secrets
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def machine(torch_threads: bool = False) -> dict:
    """CPU model, cores, load average (a shared machine is noisy: read figures with it), Python version and platform;
    with `torch_threads`, the threads torch computes with (for scripts whose figures are model time)."""
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    cpu = names[0] if names else platform.processor() or "?"
    found = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    if torch_threads:
        import torch

        found["torch_threads"] = torch.get_num_threads()
    return found


def percentile(values: list[float], q: float) -> float:
    """The value at quantile `q` (0-1) of `values`, nearest rank: always one that was measured, never interpolated."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def tie_aware_recall(returned: list[tuple[object, float]], exact_distances, k: int = 10) -> float:
    """Share of the first k returned hits whose distance is within 1e-4 of the exact k-th nearest distance."""
    if len(exact_distances) == 0:
        return 1.0
    wanted = min(k, len(exact_distances))
    kth = np.partition(np.asarray(exact_distances), wanted - 1)[wanted - 1]
    return sum(1 for _, distance in returned[:k] if distance <= kth + 1e-4) / wanted


def setup_django(database: str) -> None:
    """Point Django at `database` (created if missing) and set it up; call before importing models."""
    os.environ["DATABASE_NAME"] = database
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopsite.settings")
    # DEBUG stays off (it would keep every query in memory); the settings then want a secret of their own
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    import django

    django.setup()


def prepared_documents(relevance):
    """For keyword-only runs: the configured model's space and the relevance set's documents as an earlier
    evaluation.prepare left them — it writes every document before it embeds any, so an interrupted run leaves them
    all — with their typo vocabulary rebuilt. Computes no vector; fails if a product's document is missing."""
    from shopsearch import encoders, spaces, vocabulary
    from shopsearch.models import Document

    documents = Document.objects.filter(collection=relevance.collection, kind="product")
    missing = {object_id for object_id, _ in relevance.products} - set(documents.values_list("object_id", flat=True))
    if missing:
        raise SystemExit(f"{len(missing)} of the folder's products have no document: run once without --keyword-only")
    vocabulary.rebuild(relevance.collection)
    return spaces.get_or_create_space(encoders.configured_model())
