"""Bulk document encoding: PyTorch against ONNX Runtime on the same real product texts, same vectors; prints JSON.

    .venv/bin/python benchmarks/bulk_encoding.py [--texts 256] [--rounds 3] [--threads 1 2] [--batch-size 32]

The texts are the first --texts products of ../shared/data/crowdflower_dev (title and description through the
shipped text recipe, registry.product_text), read at run time. Per thread count (torch.set_num_threads and ONNX
Runtime's intra-op threads alike) the two runtimes encode the whole sample in alternating rounds, so a load change
on a shared machine falls on both; the figure is each runtime's median rate. Also: the same texts in chunks of
REINDEX_BATCH_SIZE (what one reindex task encodes) against the whole sample at once (less padding when more texts are
sorted by length together), and the cosine of every ONNX vector to the model's own (PyTorch) vector: under 0.999 it
would be another space. Nothing is written to a database.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, machine, setup_django  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "crowdflower_dev" / "products.jsonl"


def product_texts(count: int) -> list[str]:
    from shopsearch import registry

    texts = []
    with open(DATA, encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            texts.append(
                registry.product_text(
                    registry.ProductDocument(title=row["title"], description=row.get("description", ""))
                )
            )
            if len(texts) >= count:
                break
    return texts


def rate(encode, texts: list[str]) -> float:
    started = time.perf_counter()
    encode(texts)
    return len(texts) / (time.perf_counter() - started)


def chunked(encode, size: int):
    return lambda texts: [encode(texts[start : start + size]) for start in range(0, len(texts), size)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--batch-size", type=int, default=None, help="texts per model batch (default ENCODE_BATCH_SIZE)"
    )
    args = parser.parse_args()
    setup_django("bulk_encoding_unused")  # settings only: nothing here connects to a database
    import torch

    from shopsearch import encoders
    from shopsearch.conf import setting

    batch = args.batch_size or int(setting("ENCODE_BATCH_SIZE"))
    task_batch = int(setting("REINDEX_BATCH_SIZE"))
    texts = product_texts(args.texts)
    encoder = encoders.get_encoder(encoders.default_model())
    tokens = [int(encoder.model.preprocess([text])["attention_mask"].sum()) for text in texts]
    before = machine()
    results = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        runtime = encoders._runtime(encoder, threads)
        if runtime is None:
            raise SystemExit("no ONNX Runtime export for this model (see the log)")
        runners = {
            "torch": lambda t: encoder.model.encode(
                t, batch_size=batch, normalize_embeddings=True, show_progress_bar=False
            ),
            "onnx": lambda t, runtime=runtime: runtime.encode_many(t, batch),
        }
        if len(texts) > task_batch:
            runners |= {f"{name}_in_task_chunks": chunked(run, task_batch) for name, run in list(runners.items())}
        for run in runners.values():  # warm-up: first-call allocations, thread pools
            run(texts[:batch])
        rates: dict[str, list[float]] = {name: [] for name in runners}
        for _ in range(args.rounds):
            for name, run in runners.items():
                rates[name].append(rate(run, texts))
        medians = {name: round(statistics.median(values), 2) for name, values in rates.items()}
        results.append(
            {
                "threads": threads,
                "texts_per_s_median": medians,
                "texts_per_s_rounds": {name: [round(v, 2) for v in values] for name, values in rates.items()},
                "onnx_over_torch": round(medians["onnx"] / medians["torch"], 3),
                "in_task_chunks_over_whole_sample": {
                    name: round(medians[f"{name}_in_task_chunks"] / medians[name], 3)
                    for name in ("torch", "onnx")
                    if f"{name}_in_task_chunks" in medians
                },
                "load_average_after": machine()["load_average"],
            }
        )
    reference = encoder.model.encode(texts, batch_size=batch, normalize_embeddings=True, show_progress_bar=False)
    onnx_vectors = encoders._runtime(encoder, args.threads[0]).encode_many(texts, batch)
    cosines = np.sum(reference * onnx_vectors, axis=1)
    print(
        json.dumps(
            {
                "benchmark": "bulk_encoding",
                "machine_before": before,
                "data": {
                    "file": str(DATA.relative_to(ROOT.parent)),
                    "texts": len(texts),
                    "tokens_mean": round(float(np.mean(tokens)), 1),
                    "tokens_max": max(tokens),
                    "max_seq_length": encoder.model.max_seq_length,
                },
                "model": encoders.model_identity(encoder.name),
                "batch_size": batch,
                "task_chunk": task_batch,
                "rounds": args.rounds,
                "results": results,
                "onnx_cosine_to_model": {
                    "min": round(float(cosines.min()), 6),
                    "mean": round(float(cosines.mean()), 6),
                },
                "machine_after": machine(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
