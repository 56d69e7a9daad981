"""finetune_embeddings: training pairs from judged queries, clicks and the catalogue (hand-checked), the guardrails
(too few pairs, training queries in the evaluation folder), keeping model folders, rollback, and one real end-to-end
run on CrowdFlower pairs that must leave the serving space alone when the new one does not gain the margin."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.utils import timezone

from shopsearch import encoders, finetune, indexing, spaces
from shopsearch.models import EmbeddingSpace, Event, FineTune
from shopsearch.registry import ProductDocument

from .conftest import BRIDGE, COATS, DRESSES, FAKE_MODEL, SHARED_DATA, HashingEncoder, demo_rows, load_products

pytestmark = pytest.mark.django_db

TINY = Path(__file__).parent / "data" / "relevance_tiny"
TINY_TEXTS = {
    "p1": (
        "Stainless Steel Espresso Machine with Milk Frother\n"
        "15-bar pump, 1.5 litre removable water tank and a steam wand for cappuccino and latte."
    ),
    "p4": "Merino Wool Hiking Socks, 2 Pairs\nCushioned sole, reinforced heel and toe, keep feet dry on long trails.",
    "p5": "Cotton Crew Socks 6-Pack\nEveryday ribbed socks in black, grey and navy.",
    "p6": "Café Table Lamp with Linen Shade\nBrass base, E27 bulb, 45 cm tall; warm light for a reading corner.",
}


@pytest.fixture
def models_dir(settings, tmp_path):
    settings.SHOPSEARCH = {**settings.SHOPSEARCH, "MODELS_DIR": str(tmp_path / "models")}
    return tmp_path / "models"


def finetune_command(capsys, *args: str) -> dict:
    call_command("finetune_embeddings", *args, "--json", "--no-progress")
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_qrels_pairs_take_relevant_grades_and_judged_irrelevant_products_as_hard_negatives():
    data = finetune.pairs_from_qrels(TINY, min_grade=2)
    # q1: p1 graded 2 (p2, p3 graded 1 fall below), p6 graded 0; q2: p4 graded 3, p5 graded 0.
    assert data.pairs == [
        finetune.Pair("espresso machine", TINY_TEXTS["p1"], TINY_TEXTS["p6"]),
        finetune.Pair("hiking socks", TINY_TEXTS["p4"], TINY_TEXTS["p5"]),
    ]
    assert data.query_ids == {"q1", "q2"} and data.query_texts == {"espresso machine", "hiking socks"}
    lenient = finetune.pairs_from_qrels(TINY, min_grade=1)
    assert [pair.anchor for pair in lenient.pairs] == ["espresso machine"] * 3 + ["hiking socks"]
    assert {pair.negative for pair in lenient.pairs[:3]} == {TINY_TEXTS["p6"]}
    assert lenient.counts() == {"pairs": 4, "with_hard_negative": 4, "anchors": 2}
    assert lenient.sha256 != data.sha256 and lenient.sha256 == finetune.pairs_from_qrels(TINY, min_grade=1).sha256


def test_click_pairs_come_from_search_clicks_with_skipped_products_as_hard_negatives(clusters):
    now = timezone.now()
    coat, dress = clusters["coat0"], clusters["dress0"]

    def add(type: str, product: str, query: str = "", shown=(), days_ago: float = 0.0) -> None:
        Event.objects.create(
            type=type,
            session_id="s1",
            product_id=product,
            query=query,
            shown=list(shown),
            created_at=now - timedelta(days=days_ago),
        )

    add("click", coat, "Warm  coat!", shown=[clusters["bridge"], clusters["coat1"]])
    add("add_to_cart", coat, "warm coat")  # the same query (normalised) and product: one pair
    add("click", clusters["coat1"], "warm coat", shown=[clusters["bridge"]])  # coat1 was clicked: not a negative
    add("view", dress, "summer dress")  # a view is not a search click
    add("click", dress, "")  # a click without a query says nothing about one
    add("click", dress, "summer dress", days_ago=30)  # before --since
    add("click", "no-such-product", "summer dress")  # unknown products are skipped
    data = finetune.pairs_from_clicks(since=now - timedelta(days=7))
    assert data.pairs == [
        finetune.Pair("Warm  coat!", COATS[0], BRIDGE),
        finetune.Pair("Warm  coat!", COATS[1], BRIDGE),
    ]
    assert data.query_texts == {"warm coat"} and data.query_ids == set()
    everything = finetune.pairs_from_clicks()
    assert len(everything.pairs) == 3 and finetune.Pair("summer dress", DRESSES[0]) in everything.pairs


def test_catalogue_pairs_are_title_to_description_and_review_to_product(fake_model, run_on_commit):
    pairs = finetune.catalogue_pairs(
        [
            ("p1", ProductDocument("Socks", "Warm wool socks")),
            ("p2", ProductDocument("Lamp", "")),
            ("p3", ProductDocument("Mug", "mug.")),
        ],
        [("p1", "Great socks"), ("p1", "Itchy"), ("p1", "Third review"), ("p9", "unknown product"), ("p2", "  ")],
        reviews_per_product=2,
    )
    assert pairs == [
        finetune.Pair("Socks", "Warm wool socks"),
        finetune.Pair("Great socks", "Socks\nWarm wool socks"),
        finetune.Pair("Itchy", "Socks\nWarm wool socks"),
    ]
    products = run_on_commit(load_products, demo_rows("demo_products.jsonl.gz", limit=3))
    data = finetune.pairs_from_catalogue()
    assert data.source == "catalogue" and data.details == {"products": 3}
    assert [pair.anchor for pair in data.pairs] == [product.title for product in products]


def test_too_few_pairs_are_refused_before_any_training(models_dir):
    with pytest.raises(
        CommandError, match=r"Only 2 training pairs from qrels; at least 500 are needed .*FINETUNE_MIN_PAIRS"
    ):
        call_command("finetune_embeddings", "--from", "qrels", str(TINY))
    assert not models_dir.exists()


def test_training_queries_in_the_evaluation_folder_are_refused(models_dir, settings, tmp_path):
    settings.SHOPSEARCH = {**settings.SHOPSEARCH, "FINETUNE_MIN_PAIRS": 1}
    with pytest.raises(CommandError, match=r"shares 2 of 2 queries .*\(2 by id, 2 by text"):
        call_command("finetune_embeddings", "--from", "qrels", str(TINY), "--evaluate", str(TINY))
    renamed = tmp_path / "renamed"  # same query text under other ids (and spelt differently) is still the same query
    renamed.mkdir()
    for name in ("products.jsonl", "qrels.txt"):
        (renamed / name).write_text((TINY / name).read_text().replace("q1", "x1").replace("q2", "x2"))
    (renamed / "queries.tsv").write_text("x1\tEspresso  Machine\nx2\tcamping stove\n")
    with pytest.raises(
        CommandError, match=r"shares 1 of 2 queries .*\(0 by id, 1 by text; e.g. x1 'Espresso  Machine'\)"
    ):
        call_command("finetune_embeddings", "--from", "qrels", str(TINY), "--evaluate", str(renamed))
    assert not models_dir.exists()


def test_switching_on_needs_an_evaluation_folder(models_dir, settings):
    settings.SHOPSEARCH = {**settings.SHOPSEARCH, "FINETUNE_MIN_PAIRS": 1}
    with pytest.raises(CommandError, match="--activate-if-better needs --evaluate DIR"):
        call_command("finetune_embeddings", "--from", "qrels", str(TINY), "--activate-if-better", "0.01")


class OtherHashingEncoder(HashingEncoder):
    name = "test-hashing-encoder-2"


def test_rollback_serves_the_previous_space_with_the_edits_made_since(fake_model, monkeypatch, run_on_commit, capsys):
    other = OtherHashingEncoder()
    fake_get = encoders.get_encoder
    monkeypatch.setattr(encoders, "get_encoder", lambda name: other if name == other.name else fake_get(name))
    with pytest.raises(CommandError, match="no earlier space to roll back to"):
        call_command("finetune_embeddings", "--rollback")
    run_on_commit(load_products, demo_rows("demo_products.jsonl.gz", limit=3))
    first = spaces.active_space()
    assert first.model_name == FAKE_MODEL
    second = spaces.get_or_create_space(other.name)
    indexing.reindex(second)
    spaces.activate(second)
    added = run_on_commit(
        load_products, demo_rows("demo_products.jsonl.gz", limit=4)[3:]
    )  # while the second space serves
    assert spaces.missing_count(first) == 1
    report = finetune_command(capsys, "--rollback")
    assert report == {"active": first.pk, "model": FAKE_MODEL, "previous": second.pk}
    assert spaces.active_space().pk == first.pk and spaces.missing_count(first) == 0 and len(added) == 1
    assert spaces.previous_space().pk == second.pk  # a second rollback rolls forward again
    assert finetune_command(capsys, "--rollback")["active"] == second.pk


def test_old_model_folders_are_pruned_but_never_the_serving_or_previous_one(models_dir, settings):
    folders = []
    for n in range(5):
        folder = models_dir / f"ft-2026010{n}-000000-qrels"
        folder.mkdir(parents=True)
        finetune.write_manifest(folder, {"created": f"2026-01-0{n}T00:00:00+00:00"})
        folders.append(folder)
    (models_dir / "not-a-model").mkdir()  # no manifest: not ours to delete
    now = timezone.now()
    spaces = {
        n: EmbeddingSpace.objects.create(
            model_name=str(folders[n]),
            model_identity=f"m{n}",
            dimensions=64,
            recipe="r",
            status=EmbeddingSpace.Status.READY,
            activated_at=now - timedelta(hours=10 - n),
        )
        for n in (0, 1, 2)
    }
    EmbeddingSpace.objects.filter(pk=spaces[0].pk).update(is_active=True, activated_at=now)  # oldest folder serves
    # previous = the most recently activated inactive space: folder 2; folder 1 was active before that
    removed = finetune.prune_models(keep=2)
    assert sorted(removed) == [str(folders[1])]
    assert sorted(p.name for p in models_dir.iterdir()) == sorted(
        [folders[0].name, folders[2].name, folders[3].name, folders[4].name, "not-a-model"]
    )
    assert not EmbeddingSpace.objects.filter(pk=spaces[1].pk).exists()
    assert EmbeddingSpace.objects.filter(pk__in=[spaces[0].pk, spaces[2].pk]).count() == 2


def crowdflower_subset(
    folder: Path, queries: list[tuple[str, str]], qrels: list[list[str]], products: dict[str, str], cap: int
) -> None:
    """Write a small relevance folder: these queries, at most `cap` relevant (grade >= 2) and `cap` other judgments
    each, and only the products those judgments name."""
    folder.mkdir()
    kept, taken = [], defaultdict(int)
    for qid, _, pid, grade in qrels:
        taken[qid, int(grade) >= 2] += 1
        if taken[qid, int(grade) >= 2] <= cap:
            kept.append(f"{qid} 0 {pid} {grade}")
    (folder / "queries.tsv").write_text("".join(f"{qid}\t{text}\n" for qid, text in queries))
    (folder / "qrels.txt").write_text("".join(f"{line}\n" for line in kept))
    named = {line.split()[2] for line in kept}
    (folder / "products.jsonl").write_text("".join(line for pid, line in products.items() if pid in named))


@pytest.mark.model
def test_a_real_fine_tune_writes_a_model_and_space_and_keeps_the_old_space_below_the_margin(
    real_model, models_dir, settings, tmp_path, capsys, client
):
    source = SHARED_DATA / "crowdflower_dev"
    if not (source / "products.jsonl").exists():
        pytest.skip(
            f"{source} is missing: the CrowdFlower dev set is read from ../shared/data, never copied into the repo"
        )
    settings.SHOPSEARCH = {**settings.SHOPSEARCH, "FINETUNE_MIN_PAIRS": 20}
    queries = [tuple(line.split("\t", 1)) for line in (source / "queries.tsv").read_text().splitlines() if line.strip()]
    qrels = [line.split() for line in (source / "qrels.txt").read_text().splitlines() if line.strip()]
    products = {
        json.loads(line)["id"]: line + "\n"
        for line in (source / "products.jsonl").read_text().splitlines()
        if line.strip()
    }
    train, held_out = queries[:4], queries[4:6]  # disjoint queries: the model is judged on queries it never saw
    for name, chosen, cap in (("train", train, 8), ("eval", held_out, 6)):
        ids = {qid for qid, _ in chosen}
        crowdflower_subset(tmp_path / name, chosen, [row for row in qrels if row[0] in ids], products, cap)
    serving = spaces.ensure_active_space()

    report = finetune_command(
        capsys,
        "--from",
        "qrels",
        str(tmp_path / "train"),
        "--evaluate",
        str(tmp_path / "eval"),
        "--activate-if-better",
        "1.0",
        "--batch-size",
        "8",
    )

    folder = Path(report["model"])
    assert folder.parent == models_dir and folder.name.startswith("ft-") and folder.name.endswith("-qrels")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["base_model"] == encoders.default_model() and manifest["seed"] == 42
    assert manifest["source"]["kind"] == "qrels" and manifest["source"]["pairs"] == manifest["pairs_used"] >= 20
    assert len(manifest["source"]["sha256"]) == 64 and manifest["hard_negatives_used"] > 0
    assert manifest["hyperparameters"]["steps"] >= 1 and manifest["libraries"]["sentence-transformers"]
    assert manifest["evaluation"]["hybrid_ndcg@10_gain"] == report["evaluation"]["hybrid_ndcg@10_gain"]
    vector = encoders.SentenceTransformerEncoder(str(folder)).encode(["sd card"])
    assert vector.shape == (1, 384)
    new_space = EmbeddingSpace.objects.get(model_identity=encoders.model_identity(str(folder)))
    assert new_space.pk == report["evaluation"]["finetuned"]["space"] != serving.pk
    assert report["evaluation"]["base"]["space"] == serving.pk
    # nDCG@10 lies in [0, 1]: a gain of 1.0 is impossible unless the base scored 0 and the new model perfectly.
    assert report["activated"] is False and "below the margin 1.0" in report["reason"]
    assert spaces.active_space().pk == serving.pk
    assert new_space.status == EmbeddingSpace.Status.RETIRED and not new_space.is_active

    # recorded under the space it was made from, with what the gate measured; the dashboard lists it there
    record = FineTune.objects.get()
    assert (record.base_space, record.space, record.model_folder) == (serving, new_space, str(folder))
    assert (record.source, record.pairs, record.margin, record.accepted) == (
        "qrels",
        manifest["pairs_used"],
        1.0,
        False,
    )
    assert record.evaluated_on == str((tmp_path / "eval").resolve()) and record.outcome == report["reason"]
    hybrid = record.ndcg_at_10()[0]
    assert hybrid["mode"] == "hybrid" and hybrid["gain"] == report["evaluation"]["hybrid_ndcg@10_gain"]
    assert (hybrid["before"], hybrid["after"]) == (
        report["evaluation"]["base"]["hybrid"]["ndcg@10"],
        report["evaluation"]["finetuned"]["hybrid"]["ndcg@10"],
    )
    client.force_login(User.objects.create_superuser("root"))
    rows = client.get("/admin/shopsearch/").context["spaces"]
    assert [row["finetunes"] for row in rows if row["space"] == serving] == [[record]]
    body = client.get("/admin/shopsearch/").content.decode()
    assert f"hybrid nDCG@10 {hybrid['before']} → {hybrid['after']} ({hybrid['gain']:+.4f})" in body
    assert f"{folder.name}</span>" in body and "<strong>rejected</strong>: below the margin 1.0" in body


def test_the_celery_task_gets_the_same_arguments_and_guardrails(models_dir):
    # Tasks run eagerly in tests (conftest), so the worker's refusal comes back here: the folder reached the task.
    with pytest.raises(CommandError, match=r"Only 2 training pairs from qrels"):
        call_command("finetune_embeddings", "--from", "qrels", str(TINY), "--async", "--seed", "7")
    assert not models_dir.exists()


@pytest.mark.model
def test_training_is_deterministic_with_a_seed(real_model, tmp_path):
    # Real pairs from the tiny set (two queries, hard negatives): same seed -> the very same (changed) weights.
    pairs = finetune.pairs_from_qrels(TINY, min_grade=1).pairs
    identities = [encoders.model_identity(encoders.default_model()).split("@")[1]]
    for run in ("a", "b"):
        finetune.train(pairs, encoders.default_model(), tmp_path / run, batch_size=2, seed=42)
        identities.append(encoders.model_identity(str(tmp_path / run)).split("@")[1])
    assert identities[0] != identities[1] == identities[2]
