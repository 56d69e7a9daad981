"""import_catalog: real demo rows load idempotently; bad rows are named by line and skipped, good rows still load."""

from __future__ import annotations

import gzip
import json

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Product, Review

from .conftest import demo_rows

pytestmark = pytest.mark.django_db


def write_jsonl(path, rows):
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


def test_demo_files_load_and_reloading_changes_nothing(tmp_path, capsys):
    products = demo_rows("demo_products.jsonl.gz", limit=40)
    ids = {p["id"] for p in products}
    reviews = demo_rows("demo_reviews.jsonl.gz", where=lambda r: r["product_id"] in ids)
    products_file = write_jsonl(tmp_path / "products.jsonl", products)
    reviews_file = tmp_path / "reviews.jsonl.gz"
    with gzip.open(reviews_file, "wt") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in reviews)
    for _ in range(2):
        call_command("import_catalog", products=products_file, reviews=reviews_file, no_progress=True)
        assert Product.objects.count() == 40 and Review.objects.count() == len(reviews) > 40
    first = reviews[0]
    stored = Review.objects.get(external_id=first["id"])
    assert (
        stored.text == first["text"]
        and stored.rating == first["rating"]
        and stored.product.external_id == first["product_id"]
    )
    assert Product.objects.get(external_id="wc-item-2").category.name == "Tops"


def test_bad_rows_are_reported_by_line_and_good_rows_load(tmp_path, capsys):
    good = demo_rows("demo_products.jsonl.gz", limit=2)
    products_file = write_jsonl(
        tmp_path / "products.jsonl",
        [
            good[0],
            {"id": "x1", "title": ""},
            "{not json",
            {"id": "x2", "title": "Priced", "price": "cheap"},
            good[1],
        ],
    )
    reviews_file = tmp_path / "reviews.csv"
    reviews_file.write_text(
        "id,product_id,text,rating\n"
        f"r1,{good[0]['id']},Runs small but lovely fabric,4\n"
        "r2,no-such-product,Nice,5\n"
        f"r3,{good[1]['id']},Too big,9\n"
    )
    call_command("import_catalog", products=products_file, reviews=reviews_file, no_progress=True)
    errors = capsys.readouterr().err
    assert "products.jsonl line 2: 'title' is missing or empty" in errors
    assert "products.jsonl line 3: not valid JSON" in errors
    assert "products.jsonl line 4: 'price' must be a number, got 'cheap'" in errors
    assert "reviews.csv line 3: 'product_id' 'no-such-product' is not a known product" in errors
    assert "reviews.csv line 4: 'rating' must be between 1 and 5, got 9" in errors
    assert sorted(Product.objects.values_list("external_id", flat=True)) == sorted(g["id"] for g in good)
    assert list(Review.objects.values_list("external_id", flat=True)) == ["r1"]


def test_missing_file_and_unknown_format_are_clear_errors(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_catalog", products=tmp_path / "nope.jsonl")
    odd = tmp_path / "products.xml"
    odd.write_text("<x/>")
    with pytest.raises(CommandError, match="unknown format"):
        call_command("import_catalog", products=odd, no_progress=True)


def test_reindex_with_a_model_that_cannot_be_loaded_says_what_to_do(fake_model):
    with pytest.raises(CommandError, match="local sentence-transformers folder"):
        call_command("reindex", "--model", "/nonexistent/model", "--no-progress")
