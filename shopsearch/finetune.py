"""Fine-tuning the embedding model on the shop's own data, into a new embedding space that is judged before it serves.

Training pairs come from one of three sources: a judged relevance folder (query -> product graded relevant; products
graded 0 are hard negatives), the shop's search clicks (query -> clicked or added-to-cart product; products the page
showed above it are hard negatives), or the catalogue alone (title -> description, review -> product). Training is
sentence-transformers' trainer with MultipleNegativesRankingLoss (in-batch negatives), on the CPU, seeded. The result
is a versioned model folder with a manifest; it is a new space, filled and switched on only through `indexing`
(`reindex --model`, or `finetune` with an evaluation folder and a margin), and the previous space stays one command
away (`rollback`). See docs/finetuning.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import random
import re
import shutil
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Literal

from django.utils import timezone

from . import encoders, evaluation, indexing, registry, spaces
from .conf import setting
from .exceptions import FinetuneError
from .models import SHOP_COLLECTION, Document, EmbeddingSpace, Event, FineTune
from .registry import ProductDocument

logger = logging.getLogger(__name__)

Source = Literal["qrels", "clicks", "catalogue"]
SOURCES: tuple[Source, ...] = ("qrels", "clicks", "catalogue")
MANIFEST = "manifest.json"
LIBRARIES = ("sentence-transformers", "transformers", "torch", "datasets", "accelerate")


@dataclass(frozen=True)
class Pair:
    """One training example: `anchor` should land nearer `positive` than any other text (and `negative`, if any)."""

    anchor: str
    positive: str
    negative: str | None = None


@dataclass
class TrainingData:
    source: Source
    pairs: list[Pair]
    query_ids: set[str] = field(default_factory=set)  # qrels: the folder's query ids (overlap check)
    query_texts: set[str] = field(default_factory=set)  # normalised query texts (overlap check); none for catalogue
    details: dict = field(default_factory=dict)  # where the data came from (folder, since, min_grade, ...)

    @property
    def sha256(self) -> str:
        """Fingerprint of exactly what is trained on (the pairs, in order)."""
        digest = hashlib.sha256()
        for pair in self.pairs:
            digest.update(json.dumps([pair.anchor, pair.positive, pair.negative]).encode("utf-8"))
        return digest.hexdigest()

    def counts(self) -> dict[str, int]:
        return {
            "pairs": len(self.pairs),
            "with_hard_negative": sum(pair.negative is not None for pair in self.pairs),
            "anchors": len({pair.anchor for pair in self.pairs}),
        }


def normalise_query(text: str) -> str:
    """What makes two query texts the same query: case, accents' composition, punctuation and spacing ignored."""
    return " ".join(re.findall(r"\w+", unicodedata.normalize("NFKC", text).casefold()))


# --- pair builders ------------------------------------------------------------------------------------------------


def pairs_from_qrels(folder: str | Path, min_grade: int | None = None) -> TrainingData:
    """(query, product graded >= min_grade) pairs of a relevance folder; a product graded 0 for the same query is the
    pair's hard negative (cycled when a query has fewer of them than positives)."""
    min_grade = setting("FINETUNE_MIN_GRADE") if min_grade is None else min_grade
    if min_grade < 1:
        raise FinetuneError(f"--min-grade must be at least 1 (grade 0 means irrelevant), got {min_grade}")
    relevance = evaluation.load_relevance_set(folder)
    texts = {object_id: registry.product_text(doc) for object_id, doc in relevance.products}
    positives: dict[str, list[str]] = {}
    negatives: dict[str, list[str]] = {}
    for qrel in relevance.qrels:
        if qrel.query_id not in relevance.queries or qrel.doc_id not in texts:
            continue
        if qrel.relevance >= min_grade:
            positives.setdefault(qrel.query_id, []).append(qrel.doc_id)
        elif qrel.relevance <= 0:
            negatives.setdefault(qrel.query_id, []).append(qrel.doc_id)
    pairs = []
    for query_id, text in relevance.queries.items():
        hard = negatives.get(query_id, [])
        for n, product_id in enumerate(positives.get(query_id, [])):
            pairs.append(Pair(text, texts[product_id], texts[hard[n % len(hard)]] if hard else None))
    return TrainingData(
        "qrels",
        pairs,
        query_ids=set(positives),
        query_texts={normalise_query(relevance.queries[q]) for q in positives},
        details={
            "folder": str(Path(folder).resolve()),
            "min_grade": min_grade,
            "products_sha256": relevance.fingerprint,
        },
    )


def pairs_from_clicks(since: datetime | None = None) -> TrainingData:
    """(search query, clicked or added-to-cart product) pairs from the shop's events (one per distinct query and
    product); a product the same query's pages listed above a click and that was never clicked is a hard negative."""
    events = Event.objects.filter(type__in=[Event.Type.CLICK, Event.Type.ADD_TO_CART]).exclude(query="")
    if since is not None:
        events = events.filter(created_at__gte=since)
    queries: dict[str, str] = {}  # normalised -> first text seen
    clicked: dict[str, dict[str, None]] = {}  # normalised -> product ids, in first-click order
    shown: dict[str, dict[str, None]] = {}
    for query, product_id, skipped in (
        events.order_by("created_at", "pk").values_list("query", "product_id", "shown").iterator()
    ):
        key = normalise_query(query)
        if not key:
            continue
        queries.setdefault(key, query.strip())
        clicked.setdefault(key, {})[product_id] = None
        shown.setdefault(key, {}).update(dict.fromkeys(str(pid) for pid in skipped or []))
    ids = {pid for products in (*clicked.values(), *shown.values()) for pid in products}
    texts: dict[str, str] = {}
    id_list = sorted(ids)
    for start in range(0, len(id_list), 5000):
        docs = Document.objects.filter(
            collection=SHOP_COLLECTION, kind="product", object_id__in=id_list[start : start + 5000]
        )
        texts.update(docs.values_list("object_id", "text"))
    pairs = []
    for key, products in clicked.items():
        hard = [pid for pid in shown[key] if pid not in products and pid in texts]
        for n, product_id in enumerate(pid for pid in products if pid in texts):
            pairs.append(Pair(queries[key], texts[product_id], texts[hard[n % len(hard)]] if hard else None))
    return TrainingData(
        "clicks",
        pairs,
        query_texts={key for key, products in clicked.items() if any(pid in texts for pid in products)},
        details={"since": since.isoformat() if since else None, "events": events.count()},
    )


def catalogue_pairs(
    products: Iterable[tuple[str, ProductDocument]],
    reviews: Iterable[tuple[str, str]] = (),
    reviews_per_product: int | None = None,
) -> list[Pair]:
    """Pairs from a catalogue alone: (title, description) of every product that has both, and (review text, product
    text) for up to `reviews_per_product` reviews of each product. `reviews` are (product id, review text)."""
    per_product = setting("FINETUNE_REVIEWS_PER_PRODUCT") if reviews_per_product is None else reviews_per_product
    texts: dict[str, str] = {}
    pairs = []
    for object_id, doc in products:
        texts[object_id] = registry.product_text(doc)
        title, description = doc.title.strip(), doc.description.strip()
        if title and description and normalise_query(title) != normalise_query(description):
            pairs.append(Pair(title, description))
    taken: dict[str, int] = {}
    for product_id, text in reviews:
        if product_id in texts and text.strip() and taken.get(product_id, 0) < per_product:
            taken[product_id] = taken.get(product_id, 0) + 1
            pairs.append(Pair(text.strip(), texts[product_id]))
    return pairs


def pairs_from_catalogue() -> TrainingData:
    """Catalogue pairs from the shop's indexed documents (what `reindex` stored), for a shop with no queries yet."""
    shop = Document.objects.filter(collection=SHOP_COLLECTION)
    products = [
        (oid, ProductDocument(title=title, description=description))
        for oid, title, description in shop.filter(kind="product")
        .order_by("pk")
        .values_list("object_id", "title", "description")
        .iterator()
    ]
    reviews = (
        shop.filter(kind="review", product_id__isnull=False).order_by("pk").values_list("product_id", "text").iterator()
    )
    pairs = catalogue_pairs(products, reviews)
    return TrainingData("catalogue", pairs, details={"products": len(products)})


def build_pairs(
    source: Source, folder: str | Path | None = None, since: datetime | None = None, min_grade: int | None = None
) -> TrainingData:
    if source == "qrels":
        if not folder:
            raise FinetuneError(
                "--from qrels needs a relevance folder: finetune_embeddings --from qrels path/to/folder"
            )
        return pairs_from_qrels(folder, min_grade)
    if source == "clicks":
        return pairs_from_clicks(since)
    if source == "catalogue":
        return pairs_from_catalogue()
    raise FinetuneError(f"Unknown training source {source!r}; use one of {', '.join(SOURCES)}")


# --- guardrails -------------------------------------------------------------------------------------------------


def check_enough(data: TrainingData) -> None:
    minimum = setting("FINETUNE_MIN_PAIRS")
    if len(data.pairs) < minimum:
        hint = {
            "qrels": "judge more queries (or lower --min-grade)",
            "clicks": "collect more search clicks (POST /api/events/ with `query`) or widen --since",
            "catalogue": "index more products with descriptions or reviews (manage.py reindex)",
        }[data.source]
        raise FinetuneError(
            f"Only {len(data.pairs)} training pairs from {data.source}; at least {minimum} are needed "
            f"(SHOPSEARCH['FINETUNE_MIN_PAIRS']): too few to move the embedding space without overfitting. "
            f"To get more, {hint}."
        )


def query_overlap(data: TrainingData, relevance: evaluation.RelevanceSet) -> dict[str, list[str]]:
    """Queries the training data shares with an evaluation folder, by id and by normalised text."""
    texts = {normalise_query(text): qid for qid, text in relevance.queries.items()}
    return {
        "ids": sorted(data.query_ids & set(relevance.queries)),
        "texts": sorted(texts[text] for text in data.query_texts & set(texts)),
    }


def check_no_overlap(data: TrainingData, relevance: evaluation.RelevanceSet) -> None:
    overlap = query_overlap(data, relevance)
    shared = sorted(set(overlap["ids"]) | set(overlap["texts"]))
    if shared:
        examples = ", ".join(f"{qid} {relevance.queries[qid]!r}" for qid in shared[:5])
        raise FinetuneError(
            f"The training data shares {len(shared)} of {len(relevance.queries)} queries with the evaluation folder "
            f"{relevance.folder} ({len(overlap['ids'])} by id, {len(overlap['texts'])} by text; e.g. {examples}). A "
            f"model "
            "must never be judged on what it was trained on: split your judged queries into a training and an "
            "evaluation folder with no query in both (docs/finetuning.md)."
        )


def sample_pairs(pairs: Sequence[Pair], limit: int, seed: int) -> list[Pair]:
    """At most `limit` pairs, drawn with the seed, in their original order."""
    if len(pairs) <= limit:
        return list(pairs)
    keep = sorted(random.Random(seed).sample(range(len(pairs)), limit))
    return [pairs[n] for n in keep]


# --- training ---------------------------------------------------------------------------------------------------


def train(
    pairs: Sequence[Pair],
    base_model: str,
    output: str | Path,
    *,
    epochs: int = 1,
    batch_size: int = 32,
    seed: int = 42,
    on_step: Callable[[int, int], None] = lambda step, total: None,
) -> dict:
    """Fine-tune `base_model` on `pairs` with MultipleNegativesRankingLoss and save it to `output`.

    Every other pair of a batch is a negative for an anchor (in-batch negatives), plus the pair's own hard negative
    where it has one. Batches never hold the same text twice (a query's other relevant products must not count as
    its negatives). Seeded (python, numpy, torch, sampler), on the CPU, no checkpoints: only the final model is
    written. `on_step(step, total)` is called after every optimiser step. Returns steps and mean training loss.
    """
    import torch  # heavy: only here
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from transformers import TrainerCallback, set_seed

    class Progress(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            on_step(state.global_step, state.max_steps)

    threads = setting("TORCH_THREADS")
    if threads:
        torch.set_num_threads(int(threads))
    set_seed(seed)
    model = SentenceTransformer(base_model, device="cpu")
    model.max_seq_length = setting("FINETUNE_MAX_SEQ_LENGTH")
    plain = [pair for pair in pairs if pair.negative is None]
    triplets = [pair for pair in pairs if pair.negative is not None]
    datasets = {}
    if plain:
        datasets["pairs"] = Dataset.from_dict(
            {"anchor": [p.anchor for p in plain], "positive": [p.positive for p in plain]}
        )
    if triplets:
        datasets["triplets"] = Dataset.from_dict(
            {
                "anchor": [p.anchor for p in triplets],
                "positive": [p.positive for p in triplets],
                "negative": [p.negative for p in triplets],
            }
        )
    with tempfile.TemporaryDirectory(prefix="shopsearch-finetune-") as scratch:
        args = SentenceTransformerTrainingArguments(
            output_dir=scratch,
            num_train_epochs=epochs,
            per_device_train_batch_size=batch_size,
            learning_rate=setting("FINETUNE_LEARNING_RATE"),
            warmup_steps=float(setting("FINETUNE_WARMUP_RATIO")),  # a float below 1 is a share of the steps
            seed=seed,
            data_seed=seed,
            batch_sampler=BatchSamplers.NO_DUPLICATES,
            use_cpu=True,
            save_strategy="no",
            report_to="none",
            dataloader_num_workers=0,
            disable_tqdm=True,
            logging_strategy="no",
        )
        trainer = SentenceTransformerTrainer(
            model=model,
            args=args,
            train_dataset=datasets if len(datasets) > 1 else next(iter(datasets.values())),
            loss=MultipleNegativesRankingLoss(model),
            callbacks=[Progress()],
        )
        result = trainer.train()
    model.save(str(output))
    return {"steps": int(result.global_step), "training_loss": round(float(result.training_loss), 4)}


def library_versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


# --- model folders ----------------------------------------------------------------------------------------------


def new_model_folder(source: Source) -> Path:
    """A fresh versioned folder name under the models directory: ft-<UTC date>-<time>-<source>."""
    stem = f"ft-{timezone.now():%Y%m%d-%H%M%S}-{source}"
    folder, n = encoders.models_dir() / stem, 1
    while folder.exists():
        n += 1
        folder = encoders.models_dir() / f"{stem}-{n}"
    return folder


def read_manifest(folder: str | Path) -> dict:
    return json.loads((Path(folder) / MANIFEST).read_text("utf-8"))


def write_manifest(folder: str | Path, manifest: dict) -> None:
    (Path(folder) / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", "utf-8")


def _same_folder(name: str, folder: Path) -> bool:
    return Path(name).is_dir() and Path(name).resolve() == folder.resolve()


def prune_models(keep: int | None = None) -> list[str]:
    """Delete all but the newest `keep` fine-tuned folders (FINETUNE_KEEP) and the spaces built with them, never the
    folder of the active space or of the previous one (the rollback target). Returns the deleted folders."""
    keep = setting("FINETUNE_KEEP") if keep is None else keep
    root = encoders.models_dir()
    if not root.is_dir():
        return []
    folders = sorted(
        (p for p in root.iterdir() if (p / MANIFEST).is_file()),
        key=lambda p: read_manifest(p).get("created", ""),
        reverse=True,
    )
    protected = [space.model_name for space in (spaces.active_space(), spaces.previous_space()) if space is not None]
    removed = []
    for folder in folders[max(keep, 0) :]:
        if any(_same_folder(name, folder) for name in protected):
            continue
        for space in EmbeddingSpace.objects.filter(is_active=False):
            if _same_folder(space.model_name, folder):
                spaces.drop_space_indexes(space)
                space.delete()
        shutil.rmtree(folder)
        removed.append(str(folder))
    return removed


# --- spaces: compare, switch, roll back --------------------------------------------------------------------------


def serving_model() -> str:
    """The model of the space that serves now (what a fine-tune starts from), or the configured one."""
    space = spaces.active_space()
    return space.model_name if space is not None else encoders.configured_model()


def compare(
    relevance: evaluation.RelevanceSet,
    base_model: str,
    new_model: str,
    on_batch: Callable[[int], None] = lambda n: None,
) -> dict:
    """Semantic and hybrid quality of both models' spaces on the folder (its own collection, never the shop's)."""
    report = {}
    for name, model in (("base", base_model), ("finetuned", new_model)):
        space, _, _ = evaluation.prepare(relevance, model, on_batch=on_batch)
        report[name] = {"space": space.pk, **evaluation.evaluate(relevance, space, ("semantic", "hybrid"))}
    return report


# --- the whole run ----------------------------------------------------------------------------------------------


def finetune(
    source: Source,
    *,
    folder: str | Path | None = None,
    since: datetime | None = None,
    output: str | Path | None = None,
    epochs: int = 1,
    batch_size: int = 32,
    seed: int = 42,
    min_grade: int | None = None,
    evaluate_folder: str | Path | None = None,
    activate_margin: float | None = None,
    on_step: Callable[[int, int], None] = lambda step, total: None,
    log: Callable[[str], None] = logger.info,
) -> dict:
    """Build pairs, check them, train a new model from the serving one, write its manifest; with `evaluate_folder`
    compare both spaces there, and with `activate_margin` switch the shop over when hybrid nDCG@10 gains that much."""
    if epochs < 1 or batch_size < 2:
        raise FinetuneError(
            f"--epochs must be at least 1 and --batch-size at least 2 (in-batch negatives), got {epochs} and "
            f"{batch_size}"
        )
    if activate_margin is not None and evaluate_folder is None:
        raise FinetuneError(
            "--activate-if-better needs --evaluate DIR: a judged folder whose queries were not trained on"
        )
    data = build_pairs(source, folder, since, min_grade)
    check_enough(data)
    relevance = None
    if evaluate_folder is not None:
        relevance = evaluation.load_relevance_set(evaluate_folder)
        check_no_overlap(data, relevance)
    output = Path(output) if output else new_model_folder(source)
    if output.exists() and any(output.iterdir()):
        raise FinetuneError(
            f"{output} already exists and is not empty; choose another --output (or leave it out for a new versioned "
            f"folder)"
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    base_space, base_model = spaces.active_space(), serving_model()
    pairs = sample_pairs(data.pairs, setting("FINETUNE_MAX_PAIRS"), seed)
    log(
        f"Training from {base_model} on {len(pairs)} pairs from {source} ({data.counts()['with_hard_negative']} with a "
        f"hard negative) …"
    )
    started = time.monotonic()
    stats = train(pairs, base_model, output, epochs=epochs, batch_size=batch_size, seed=seed, on_step=on_step)
    manifest = {
        "created": timezone.now().isoformat(),
        "base_model": base_model,
        "base_model_identity": encoders.model_identity(base_model),
        "source": {"kind": source, **data.details, "sha256": data.sha256, **data.counts()},
        "pairs_used": len(pairs),
        "hard_negatives_used": sum(pair.negative is not None for pair in pairs),
        "hyperparameters": {
            "loss": "MultipleNegativesRankingLoss",
            "batch_sampler": "no_duplicates",
            "epochs": epochs,
            "batch_size": batch_size,
            "learning_rate": setting("FINETUNE_LEARNING_RATE"),
            "warmup_ratio": setting("FINETUNE_WARMUP_RATIO"),
            "max_seq_length": setting("FINETUNE_MAX_SEQ_LENGTH"),
            **stats,
        },
        "seed": seed,
        "duration_seconds": round(time.monotonic() - started, 1),
        "libraries": library_versions(),
    }
    write_manifest(output, manifest)
    report: dict = {"model": str(output), "manifest": manifest, "activated": False}
    if relevance is not None:
        log(f"Evaluating the serving and the new space on {relevance.folder} …")
        comparison = compare(relevance, base_model, str(output))
        before, after = comparison["base"]["hybrid"]["ndcg@10"], comparison["finetuned"]["hybrid"]["ndcg@10"]
        comparison["hybrid_ndcg@10_gain"] = round(after - before, 4)
        manifest["evaluation"] = {"folder": str(relevance.folder.resolve()), **comparison}
        write_manifest(output, manifest)
        report["evaluation"] = comparison
        if activate_margin is None:
            report["reason"] = (
                f"hybrid nDCG@10 {before} -> {after}; not asked to switch (--activate-if-better MARGIN). "
                f"To switch: manage.py reindex --model {output}"
            )
        elif after - before >= activate_margin - 1e-9:
            log(
                f"hybrid nDCG@10 {before} -> {after} (>= +{activate_margin}): embedding the catalogue into the new "
                f"space …"
            )
            space = indexing.switch_to(str(output))
            report["activated"] = True
            report["reason"] = (
                f"hybrid nDCG@10 {before} -> {after} gained at least {activate_margin}; space #{space.pk} now serves"
            )
        else:
            serving = spaces.active_space()
            report["reason"] = (
                f"hybrid nDCG@10 {before} -> {after} ({after - before:+.4f}) on {relevance.folder} is below the margin "
                f"{activate_margin}; {f'space #{serving.pk} keeps serving' if serving else 'nothing was switched on'}"
            )
    if not report["activated"]:
        spaces.finish_unactivated(str(output))
    record(report, base_space, len(pairs), relevance, activate_margin)
    report["pruned"] = prune_models()
    return report


def record(
    report: dict,
    base_space: EmbeddingSpace | None,
    pairs: int,
    relevance: evaluation.RelevanceSet | None,
    margin: float | None,
) -> FineTune:
    """What the run made and what its gate measured, for the dashboard (kept after the folder is pruned)."""
    comparison = report.get("evaluation") or {}
    if base_space is None and comparison:  # nothing served yet: the space the gate evaluated the base model in
        base_space = EmbeddingSpace.objects.filter(pk=comparison["base"]["space"]).first()
    new_space = EmbeddingSpace.objects.filter(pk=comparison["finetuned"]["space"]).first() if comparison else None
    return FineTune.objects.create(
        base_space=base_space,
        space=new_space,
        model_folder=report["model"],
        source=report["manifest"]["source"]["kind"],
        pairs=pairs,
        evaluated_on=str(relevance.folder.resolve()) if relevance is not None else "",
        evaluation=comparison,
        margin=margin,
        accepted=report["activated"],
        outcome=report.get("reason")
        or f"not evaluated (no evaluation folder); to switch: reindex --model {report['model']}",
    )
