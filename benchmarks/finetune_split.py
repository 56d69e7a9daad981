"""Does fine-tuning help on queries it never saw? Splits a relevance folder by query into halves A and B, trains on
A's judged pairs (and, separately, on catalogue pairs alone), and measures every search mode on B in the base and
the fine-tuned spaces; prints the machine, progress lines and one JSON line with every figure.

Half = parity of the last hex digit of sha1(query id): deterministic, no seed needed. Both halves keep the whole
products.jsonl, so every product is a candidate, as in evaluate_search. Runs in --database (default: DATABASE_NAME,
else shopsearch_bench); evaluation collections are reused on a rerun, model folders go to a temporary directory. Usage:

    .venv/bin/python benchmarks/finetune_split.py [../shared/data/crowdflower_dev] [--database ft] \
        [--candidates judged] [--skip-catalogue]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine, setup_django  # noqa: E402


def half_of(query_id: str) -> str:
    return "A" if int(hashlib.sha1(query_id.encode()).hexdigest()[-1], 16) % 2 == 0 else "B"


def split(folder: Path, out: Path, candidates: str) -> dict[str, Path]:
    """Write folders A and B, each with its own queries and their judgments, and products.jsonl: the whole
    catalogue, or (candidates "judged") only the products judged for some query of that half."""
    queries = [line for line in (folder / "queries.tsv").read_text("utf-8").splitlines() if line.strip()]
    qrels = [line for line in (folder / "qrels.txt").read_text("utf-8").splitlines() if line.strip()]
    products = [
        line for line in (folder / "products.jsonl").read_text("utf-8").splitlines(keepends=True) if line.strip()
    ]
    halves = {}
    for half in "AB":
        target = out / half
        target.mkdir(parents=True)
        judged = {line.split()[2] for line in qrels if half_of(line.split()[0]) == half}
        kept = products if candidates == "all" else [line for line in products if json.loads(line)["id"] in judged]
        (target / "products.jsonl").write_text("".join(kept), "utf-8")
        (target / "queries.tsv").write_text(
            "".join(f"{line}\n" for line in queries if half_of(line.split("\t", 1)[0]) == half), "utf-8"
        )
        (target / "qrels.txt").write_text(
            "".join(f"{line}\n" for line in qrels if half_of(line.split()[0]) == half), "utf-8"
        )
        halves[half] = target
    return halves


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default=str(ROOT.parent / "shared" / "data" / "crowdflower_dev"))
    parser.add_argument(
        "--database",
        default=os.environ.get("DATABASE_NAME") or "shopsearch_bench",
        help="database to run in (default: DATABASE_NAME, else shopsearch_bench)",
    )
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--min-grade", type=int, default=None)
    parser.add_argument(
        "--catalogue-pairs",
        type=int,
        default=None,
        help="catalogue pairs to train on (default: as many as qrels pairs)",
    )
    parser.add_argument("--skip-catalogue", action="store_true")
    parser.add_argument(
        "--candidates",
        choices=["all", "judged"],
        default="all",
        help="products every query ranks: the whole catalogue, or only those judged for half B (quicker; easier)",
    )
    args = parser.parse_args()

    setup_django(args.database)
    from django.core.management import call_command

    from shopsearch import encoders, evaluation, finetune, search

    call_command("migrate", verbosity=0)
    result: dict = {
        "machine": machine(torch_threads=True),
        "database": args.database,
        "folder": args.folder,
        "candidates": args.candidates,
    }
    log(json.dumps(result["machine"]))
    work = Path(tempfile.mkdtemp(prefix="finetune-split-"))
    try:
        halves = split(Path(args.folder), work, args.candidates)
        train_set, test_set = evaluation.load_relevance_set(halves["A"]), evaluation.load_relevance_set(halves["B"])
        result["split"] = {
            half: {"queries": len(s.queries), "judgments": len(s.qrels), "products": len(s.products)}
            for half, s in (("A", train_set), ("B", test_set))
        }
        base = encoders.default_model()

        def measure(model: str) -> dict:
            started = time.monotonic()
            space, embedded, skipped = evaluation.prepare(test_set, model)
            seconds = time.monotonic() - started
            report = evaluation.evaluate(test_set, space, search.MODES)
            log(
                f"{model}: embedded {embedded} in {seconds:.0f} s; "
                + ", ".join(f"{m} {report[m]['ndcg@10']}" for m in search.MODES)
            )
            return {
                "space": space.pk,
                "embedded": embedded,
                "reused": skipped,
                "embed_seconds": round(seconds, 1),
                "embed_seconds_per_10k_products": round(seconds * 10000 / max(embedded, 1), 1) if embedded else None,
                **{mode: report[mode] for mode in search.MODES},
            }

        def finetuned(data: finetune.TrainingData, limit: int | None = None) -> dict:
            pairs = finetune.sample_pairs(data.pairs, limit or len(data.pairs), args.seed)
            output = work / f"model-{data.source}"
            log(
                f"training on {len(pairs)} {data.source} pairs "
                f"({sum(p.negative is not None for p in pairs)} with a hard negative) …"
            )
            started = time.monotonic()
            stats = finetune.train(pairs, base, output, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed)
            seconds = time.monotonic() - started
            log(f"trained in {seconds:.0f} s: {stats}")
            return {
                "pairs": len(pairs),
                "hard_negatives": sum(p.negative is not None for p in pairs),
                **stats,
                "train_seconds": round(seconds, 1),
                "pairs_per_second": round(len(pairs) * args.epochs / seconds, 2),
                "load_average_after": os.getloadavg(),
                "test": measure(str(output)),
            }

        log("base model on half B …")
        result["base"] = measure(base)
        qrels = finetune.pairs_from_qrels(halves["A"], args.min_grade)
        finetune.check_no_overlap(qrels, test_set)
        result["qrels"] = {"min_grade": qrels.details["min_grade"], **finetuned(qrels)}
        if not args.skip_catalogue:
            pairs = finetune.catalogue_pairs(test_set.products)
            catalogue = finetune.TrainingData("catalogue", pairs, details={"available": len(pairs)})
            result["catalogue"] = {
                "available": len(pairs),
                **finetuned(catalogue, args.catalogue_pairs or len(qrels.pairs)),
            }
        result["settings"] = {
            name: finetune.setting(name)
            for name in ("FINETUNE_MAX_SEQ_LENGTH", "FINETUNE_LEARNING_RATE", "FINETUNE_WARMUP_RATIO")
        }
        result["hyperparameters"] = {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "seed": args.seed,
            "loss": "MultipleNegativesRankingLoss",
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
