"""What the shop tells shopsearch about its models, and the one text recipe built from it.

The plugin never imports the shop's apps. `SHOPSEARCH["PRODUCT_MODEL"]` names the product model and
`SHOPSEARCH["PRODUCT_DOCUMENT"]` a function `(instance) -> ProductDocument` that says what is indexed and which
filter values the product has; the same two settings exist for reviews. The text that gets embedded is made from
those documents here, in `product_text` and `review_text`: the single place to change the recipe (then bump
`RECIPE_VERSION` so a new embedding space is built).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Callable, Literal

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.utils.module_loading import import_string

from .conf import setting

Kind = Literal["product", "review"]
KINDS: tuple[Kind, ...] = ("product", "review")
RECIPE = "p1"  # version of the recipe functions below; part of every embedding space's identity


@dataclass(frozen=True)
class ProductDocument:
    """What a product contributes to search: texts by weight (title > description > attributes) and filters."""

    title: str
    description: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    category: str | None = None
    price: Decimal | None = None
    in_stock: bool = True


@dataclass(frozen=True)
class ReviewDocument:
    """What a review contributes: its text, the product it belongs to and its star rating (if any)."""

    product_id: Any
    text: str
    title: str = ""
    rating: int | None = None
    helpful_votes: int = 0
    created: datetime | None = None  # when it was written (monthly sentiment trend)


def product_text(doc: ProductDocument) -> str:
    """The text embedded for a product: title first (it matters most), then description, then attributes."""
    parts = [doc.title.strip()]
    if doc.description.strip():
        parts.append(doc.description.strip())
    if doc.attributes:
        parts.append("; ".join(f"{key}: {value}" for key, value in doc.attributes.items() if str(value).strip()))
    return "\n".join(parts)


def review_text(doc: ReviewDocument) -> str:
    """The text embedded for a review: its title (if any) and its body."""
    return "\n".join(part.strip() for part in (doc.title, doc.text) if part and part.strip())


def content_hash(text: str) -> str:
    """Fingerprint of an embedded text: equal hashes mean the stored vector is still right."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def recipe_version() -> str:
    """The recipe identity stored with every embedding space: the plugin's recipe and the shop's version."""
    return f"{RECIPE}.{setting('RECIPE_VERSION')}"


def indexed_model(kind: Kind) -> type[models.Model] | None:
    """The shop's model for `kind`, or None when that kind is not configured."""
    label = setting(f"{kind.upper()}_MODEL")
    if not label:
        return None
    try:
        return apps.get_model(label)
    except (LookupError, ValueError) as exc:
        raise ImproperlyConfigured(f"SHOPSEARCH['{kind.upper()}_MODEL'] = {label!r} is not an installed model") from exc


def document_function(kind: Kind) -> Callable[[models.Model], ProductDocument | ReviewDocument]:
    """The shop's function that turns an instance of the `kind` model into its document."""
    path = setting(f"{kind.upper()}_DOCUMENT")
    if not path:
        raise ImproperlyConfigured(f"SHOPSEARCH['{kind.upper()}_DOCUMENT'] must name a function, e.g. 'shop.search.{kind}_document'")
    return import_string(path)


def kind_of(model: type[models.Model]) -> Kind | None:
    """Which kind a model class is indexed as, if any."""
    for kind in KINDS:
        if indexed_model(kind) is model:
            return kind
    return None
