"""What the shop tells shopsearch about its models, and the one text recipe built from it.

The plugin never imports the shop's apps. `SHOPSEARCH["PRODUCT_MODEL"]` names the product model and
`SHOPSEARCH["PRODUCT_DOCUMENT"]` a function `(instance) -> ProductDocument` that says what is indexed and which
filter values the product has; the same two settings exist for reviews. The text that gets embedded is made from
those documents here, in `product_text` and `review_text`: the single place to change the recipe (then bump
`RECIPE_VERSION` so a new embedding space is built).

Attribute facets (colour, size, material, ...) are declared once, in `SHOPSEARCH["PRODUCT_FACETS"]` (name → type,
as Algolia's `attributesForFaceting` or Meilisearch's `filterableAttributes`), so the API can validate a filter and
the schema can list it without looking at a single product; each document gives its values in `facets`, which
`facet_values` checks against the declaration and turns into what is stored (a list of distinct values per facet).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.utils.module_loading import import_string

from .conf import setting

Kind = Literal["product", "review"]
KINDS: tuple[Kind, ...] = ("product", "review")
RECIPE = "p1"  # version of the recipe functions below; part of every embedding space's identity

FacetType = Literal["string", "number", "boolean"]
FACET_TYPES: tuple[FacetType, ...] = ("string", "number", "boolean")
FacetValue = str | int | float | Decimal | bool
FACET_NAME = re.compile(r"^[A-Za-z0-9_-]{1,50}$")  # the API's parameter is attr.<name> (attr.<name>.min for numbers)


@dataclass(frozen=True)
class ProductDocument:
    """What a product contributes to search: texts by weight (title > description > attributes) and filters."""

    title: str
    description: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    category: str | None = None
    price: Decimal | None = None
    in_stock: bool = True
    # Values of declared attribute facets (PRODUCT_FACETS): one value or a list of them (sizes, colours). Filter
    # values only: they are not embedded (put what should be searchable in `attributes`).
    facets: dict[str, FacetValue | Sequence[FacetValue]] = field(default_factory=dict)


@dataclass(frozen=True)
class Facet:
    """An attribute facet the shop declared: its name (the API's `attr.<name>`), type, label, and for numbers the
    edges of the ranges the facet counts (like PRICE_BUCKETS)."""

    name: str
    type: FacetType
    label: str
    buckets: tuple[Decimal, ...] = ()


def declared_facets() -> dict[str, Facet]:
    """The shop's attribute facets by name, in the order SHOPSEARCH["PRODUCT_FACETS"] declares them.

    Each entry is `name: "string" | "number" | "boolean"` or `name: {"type": ..., "label": ..., "buckets": [...]}`
    (checks.py reports a malformed one at start-up)."""
    declared = {}
    for name, spec in (setting("PRODUCT_FACETS") or {}).items():
        spec = {"type": spec} if isinstance(spec, str) else dict(spec)
        label = spec.get("label") or str(name).replace("_", " ").capitalize()
        buckets = tuple(sorted(Decimal(str(edge)) for edge in spec.get("buckets", ())))
        declared[str(name)] = Facet(str(name), spec.get("type", "string"), label, buckets)
    return declared


def facet_values(doc: ProductDocument) -> dict[str, list]:
    """What is stored of `doc.facets`: per declared facet a list of its distinct values (strings, JSON numbers or
    booleans), facets without a value left out. An undeclared name or a value of the wrong type is the shop's
    mistake, said with the name and value (before anything is written)."""
    declared = declared_facets()
    stored: dict[str, list] = {}
    for name, given in doc.facets.items():
        facet = declared.get(name)
        if facet is None:
            known = ", ".join(declared) or "none"
            raise ImproperlyConfigured(
                f"The product document of {doc.title!r} has a facet {name!r} that "
                f"SHOPSEARCH['PRODUCT_FACETS'] does not declare (declared: {known}); "
                "declare it or leave it out."
            )
        values = given if isinstance(given, (list, tuple, set, frozenset)) else [given]
        typed = [_typed(facet, value, doc) for value in values if value is not None and str(value).strip() != ""]
        if typed:
            stored[name] = list(dict.fromkeys(typed))
    return stored


def _typed(facet: Facet, value: Any, doc: ProductDocument) -> str | int | float | bool:
    """One facet value as stored: strings trimmed, numbers as JSON numbers, booleans from a bool or from
    true/false/yes/no/1/0."""
    if facet.type == "string":
        return str(value).strip()
    if facet.type == "boolean":
        word = str(value).strip().lower()
        if isinstance(value, bool) or word in ("true", "false", "yes", "no", "1", "0"):
            return value if isinstance(value, bool) else word in ("true", "yes", "1")
    else:
        try:
            number = Decimal(str(value).strip())
        except ArithmeticError:
            number = None
        if number is not None and number.is_finite() and not isinstance(value, bool):
            return int(number) if number == number.to_integral_value() else float(number)
    raise ImproperlyConfigured(
        f"The product document of {doc.title!r} gives facet {facet.name!r} the value {value!r}, "
        f"which is not a {facet.type}; give a {facet.type} or leave the value out."
    )


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
        raise ImproperlyConfigured(
            f"SHOPSEARCH['{kind.upper()}_DOCUMENT'] must name a function, e.g. 'shop.search.{kind}_document'"
        )
    return import_string(path)


def kind_of(model: type[models.Model]) -> Kind | None:
    """Which kind a model class is indexed as, if any."""
    for kind in KINDS:
        if indexed_model(kind) is model:
            return kind
    return None
