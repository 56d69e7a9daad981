"""evaluate_similar: co-relevance precision@10 and same_class@10 checked against hand computations on small sets,
the shop left untouched, bad input explained, and the dev-data runs (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from shopsearch.models import SHOP_COLLECTION, Document, ReviewVector

from .conftest import SHARED_DATA, demo_rows, load_products

pytestmark = pytest.mark.django_db


def evaluate(capsys, *args: str) -> dict:
    call_command("evaluate_similar", *args, "--json")
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture
def relevance_folder(tmp_path) -> Path:
    """Three coats and three dresses; q1 grades coat0 3 (the top grade), coat1 and coat2 1; q2 grades dress0 3, dress1 2
    and coat0 0. With six products every product's similar list holds all five others, so the figure is fixed:
    coat0 has 2 of its 10 graded ≥ 1 for q1 (coat1, coat2), dress0 has 1 for q2 (dress1): (0.2 + 0.1) / 2."""
    products = [{"id": f"coat{n}", "title": f"Wool coat {n}"} for n in range(3)] + [
        {"id": f"dress{n}", "title": f"Linen dress {n}"} for n in range(3)
    ]
    write_jsonl(tmp_path / "products.jsonl", products)
    (tmp_path / "queries.tsv").write_text("q1\twool coat\nq2\tlinen dress\n")
    (tmp_path / "qrels.txt").write_text(
        "q1 0 coat0 3\nq1 0 coat1 1\nq1 0 coat2 1\nq2 0 dress0 3\nq2 0 dress1 2\nq2 0 coat0 0\n"
    )
    return tmp_path


def test_corelevance_matches_a_hand_computation_and_leaves_the_shop_alone(
    fake_model, run_on_commit, capsys, relevance_folder
):
    run_on_commit(load_products, demo_rows("demo_products.jsonl.gz", limit=5))
    shop = list(Document.objects.filter(collection=SHOP_COLLECTION).order_by("pk").values_list("pk", "content_hash"))
    report = evaluate(capsys, str(relevance_folder))
    assert report["corelevance_precision@10"] == pytest.approx(0.15)
    assert report["corelevance_precision@10_with_reviews"] is None and report["reviews"] == 0
    assert report["n"] == 2 and report["top_grade"] == 3 and report["products"] == 6
    assert (
        list(Document.objects.filter(collection=SHOP_COLLECTION).order_by("pk").values_list("pk", "content_hash"))
        == shop
    )


def test_corelevance_with_the_folders_reviews(fake_model, capsys, relevance_folder):
    reviews = [
        {"id": f"r{n}", "product_id": pid, "text": text}
        for n, (pid, text) in enumerate(
            [
                ("coat0", "warm in the snow"),
                ("coat1", "warm and heavy"),
                ("dress1", "cool in the heat"),
                ("dress0", "airy and light"),
            ]
        )
    ]
    write_jsonl(relevance_folder / "reviews.jsonl", reviews)
    report = evaluate(capsys, str(relevance_folder))
    assert report["reviews"] == 4 and report["corelevance_precision@10_with_reviews"] == pytest.approx(0.15)
    assert ReviewVector.objects.filter(document__collection__startswith="eval:").count() == 4


def test_same_class_matches_a_hand_computation(fake_model, capsys, tmp_path):
    """Four items, two of each class: each item's list holds the three others, one of its class: 1/10 for every item."""
    rows = [
        {
            "id": f"r{n}",
            "product_id": f"item{n % 4}",
            "text": text,
            "class": "Knits" if n % 4 < 2 else "Jeans",
            "department": "Tops",
        }
        for n, text in enumerate(
            ["soft knit", "cosy knit", "stretchy denim", "dark denim", "pills after a wash", "lovely", "fits", "long"]
        )
    ]
    report = evaluate(capsys, "--reviews", str(write_jsonl(tmp_path / "reviews.jsonl", rows)))
    assert report["same_class@10"] == pytest.approx(0.1) and report["same_class@10_with_reviews"] == pytest.approx(0.1)
    assert report["n"] == 4 and report["reviews"] == 8
    assert not Document.objects.filter(collection=SHOP_COLLECTION).exists()


def test_bad_input_is_explained(fake_model, tmp_path):
    with pytest.raises(CommandError, match="either a relevance folder"):
        call_command("evaluate_similar")
    with pytest.raises(CommandError, match="either a relevance folder"):
        call_command("evaluate_similar", str(tmp_path), "--reviews", "x.jsonl")
    with pytest.raises(CommandError, match="no review has a 'class'"):
        call_command(
            "evaluate_similar",
            "--reviews",
            str(write_jsonl(tmp_path / "r.jsonl", [{"id": "r1", "product_id": "p", "text": "ok"}])),
        )
    with pytest.raises(CommandError, match="line 1"):
        call_command(
            "evaluate_similar",
            "--reviews",
            str(write_jsonl(tmp_path / "bad.jsonl", [{"id": "r1", "text": "no product"}])),
        )
    with pytest.raises(CommandError, match="lacks products.jsonl"):
        call_command("evaluate_similar", str(tmp_path / "missing"))


@pytest.mark.slow
@pytest.mark.model
def test_crowdflower_dev_corelevance(real_model, capsys):
    folder = SHARED_DATA / "crowdflower_dev"
    if not (folder / "products.jsonl").exists():
        pytest.skip(
            f"{folder} is missing: the CrowdFlower dev set is read from ../shared/data, never copied into the repo"
        )
    report = evaluate(capsys, str(folder))
    assert report["corelevance_precision@10"] >= 0.80  # the floor: exact cosine on the bundled model's vectors
    assert report["corelevance_precision@10_with_reviews"] is None  # the set has no reviews


@pytest.mark.slow
@pytest.mark.model
def test_clothing_reviews_blend_finds_more_of_the_same_class(real_model, capsys):
    path = SHARED_DATA / "womens_clothing_reviews" / "reviews.jsonl"
    if not path.exists():
        pytest.skip(f"{path} is missing")
    report = evaluate(capsys, "--reviews", str(path))
    assert report["n"] > 1000
    assert report["same_class@10_with_reviews"] >= report["same_class@10"] + 0.1
