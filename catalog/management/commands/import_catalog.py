"""Load products and reviews from JSONL or CSV (optionally gzipped), idempotently by external id.

Rows are written in batches with bulk upserts, so a 20,000-review file takes seconds and sends no per-row
indexing task: run `manage.py reindex` afterwards (the demo script does). A bad row is reported with its line
number and skipped; the good rows still load.

Product fields: id, title, description, category, price, in_stock, attributes (object, or JSON text in CSV).
Review fields: id, product_id (a product's id), text, title, rating (1-5), helpful_votes.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from catalog.models import Category, Product, Review

BATCH = 1000


class BadRow(ValueError):
    pass


def read_rows(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, row) for every row of a .jsonl/.csv file, gzipped or not. Unparsable lines raise BadRow."""
    opener = gzip.open if path.suffix == ".gz" else open
    name = path.name.removesuffix(".gz")
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        if name.endswith(".csv"):
            for number, row in enumerate(csv.DictReader(handle), start=2):
                yield number, row
        elif name.endswith((".jsonl", ".json")):
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as exc:
                        yield number, BadRow(f"not valid JSON ({exc.msg})")
                        continue
                    yield number, row if isinstance(row, dict) else BadRow("a line must be a JSON object")
        else:
            raise CommandError(f"{path}: unknown format; use .jsonl or .csv (optionally .gz)")


def _text(row: dict, key: str, required: bool = False, max_length: int | None = None) -> str:
    value = row.get(key)
    value = "" if value is None else str(value).strip()
    if required and not value:
        raise BadRow(f"'{key}' is missing or empty")
    if max_length and len(value) > max_length:
        raise BadRow(f"'{key}' is {len(value)} characters long; at most {max_length}")
    return value


def _optional_int(row: dict, key: str, low: int, high: int | None) -> int | None:
    raw = row.get(key)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise BadRow(f"'{key}' must be a whole number, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        raise BadRow(f"'{key}' must be between {low} and {high if high is not None else 'any'}, got {value}")
    return value


def parse_product(row: dict, categories: dict[str, Category]) -> Product:
    price = row.get("price")
    if price not in (None, ""):
        try:
            price = Decimal(str(price))
        except InvalidOperation:
            raise BadRow(f"'price' must be a number, got {price!r}") from None
        if price < 0 or not price.is_finite():
            raise BadRow(f"'price' must be zero or more, got {price}")
    else:
        price = None
    attributes = row.get("attributes") or {}
    if isinstance(attributes, str):
        try:
            attributes = json.loads(attributes)
        except json.JSONDecodeError:
            raise BadRow("'attributes' must be a JSON object") from None
    if not isinstance(attributes, dict):
        raise BadRow("'attributes' must be an object of name: value")
    in_stock = row.get("in_stock", True)
    if isinstance(in_stock, str):
        if in_stock.strip().lower() not in {"", "true", "false", "1", "0", "yes", "no"}:
            raise BadRow(f"'in_stock' must be true or false, got {in_stock!r}")
        in_stock = in_stock.strip().lower() in {"", "true", "1", "yes"}
    category_name = _text(row, "category", max_length=200)
    category = None
    if category_name:
        category = categories.get(category_name) or Category.objects.get_or_create(name=category_name)[0]
        categories[category_name] = category
    return Product(
        external_id=_text(row, "id", required=True, max_length=100),
        title=_text(row, "title", required=True, max_length=300),
        description=_text(row, "description"),
        attributes=attributes,
        price=price,
        in_stock=bool(in_stock),
        category=category,
    )


def parse_review(row: dict, product_ids: dict[str, int]) -> Review:
    product_key = _text(row, "product_id", required=True)
    if product_key not in product_ids:
        raise BadRow(f"'product_id' {product_key!r} is not a known product; import the products first")
    return Review(
        external_id=_text(row, "id", required=True, max_length=100),
        product_id=product_ids[product_key],
        title=_text(row, "title", max_length=300),
        text=_text(row, "text", required=True),
        rating=_optional_int(row, "rating", 1, 5),
        helpful_votes=_optional_int(row, "helpful_votes", 0, None) or 0,
    )


class Command(BaseCommand):
    help = "Import products and/or reviews from JSONL or CSV files (idempotent by external id)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--products", type=Path, help="products file (.jsonl/.csv, optionally .gz)")
        parser.add_argument("--reviews", type=Path, help="reviews file (.jsonl/.csv, optionally .gz)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, **options) -> None:
        if not options["products"] and not options["reviews"]:
            raise CommandError("Give --products FILE and/or --reviews FILE.")
        for key in ("products", "reviews"):
            if options[key] and not options[key].is_file():
                raise CommandError(f"--{key}: no such file: {options[key]}")
        self.progress = not options["no_progress"]
        if options["products"]:
            categories = {c.name: c for c in Category.objects.all()}
            self._load(
                options["products"],
                lambda row: parse_product(row, categories),
                Product,
                ["title", "description", "attributes", "price", "in_stock", "category", "updated_at"],
            )
        if options["reviews"]:
            product_ids = dict(Product.objects.values_list("external_id", "pk"))
            self._load(
                options["reviews"],
                lambda row: parse_review(row, product_ids),
                Review,
                ["product", "title", "text", "rating", "helpful_votes"],
            )

    def _load(self, path: Path, parse, model, update_fields: list[str]) -> None:
        loaded, bad, batch = 0, 0, {}
        for number, row in tqdm(
            read_rows(path),
            desc=f"{model._meta.verbose_name_plural} ({path.name})",
            unit=" rows",
            disable=not self.progress,
        ):
            try:
                if isinstance(row, BadRow):
                    raise row
                obj = parse(row)
            except BadRow as exc:
                bad += 1
                self.stderr.write(f"{path.name} line {number}: {exc}; row skipped")
                continue
            batch[obj.external_id] = obj  # a repeated id in one file: the last row wins
            if len(batch) >= BATCH:
                loaded += self._write(model, batch, update_fields)
        loaded += self._write(model, batch, update_fields)
        self.stdout.write(
            self.style.SUCCESS(f"{model._meta.verbose_name_plural}: {loaded} loaded, {bad} bad rows skipped ({path})")
        )

    @staticmethod
    def _write(model, batch: dict, update_fields: list[str]) -> int:
        if batch:
            model.objects.bulk_create(
                batch.values(), update_conflicts=True, unique_fields=["external_id"], update_fields=update_fields
            )
        count = len(batch)
        batch.clear()
        return count
