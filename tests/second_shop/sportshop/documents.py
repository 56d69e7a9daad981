"""What the sports shop indexes: its two document functions (SHOPSEARCH["PRODUCT_DOCUMENT"], ["REVIEW_DOCUMENT"])."""

from __future__ import annotations

import html

from shopsearch.registry import ProductDocument, ReviewDocument

from .models import Item, Opinion

SHOWN_SPECS = (
    "material",
    "activity",
    "climate",
    "pattern",
    "style_general",
    "style_bottom",
    "category_gear",
    "features_bags",
    "strap_bags",
    "gender",
)


def item_document(item: Item) -> ProductDocument:
    specs = {key: item.specs[key] for key in SHOWN_SPECS if item.specs.get(key)}
    sizes = spec_values(item, "size")
    return ProductDocument(
        title=item.name,
        description=item.blurb,
        attributes={key: ", ".join(value) if isinstance(value, list) else str(value) for key, value in specs.items()},
        category=item.section,
        price=item.list_price,
        in_stock=item.units_left > 0,
        # settings.SHOPSEARCH["PRODUCT_FACETS"]: the sizes and colours an item comes in, its materials, and the waist
        # sizes (in inches) of the items sized by waist; eco_collection is Magento's Yes/No
        facets={
            "size": sizes,
            "color": spec_values(item, "color"),
            "material": spec_values(item, "material"),
            "waist": [int(size) for size in sizes if size.isdigit()],
            "eco_collection": item.specs.get("eco_collection"),
        },
    )


def spec_values(item: Item, key: str) -> list[str]:
    """A spec's values as shoppers read them: Magento lists multiple selects as a list or as lines of one text, and
    writes some names with HTML entities ("LumaTech&trade;")."""
    value = item.specs.get(key) or []
    values = value if isinstance(value, list) else str(value).split("\n")
    return [html.unescape(str(part)).strip() for part in values if str(part).strip()]


def opinion_document(opinion: Opinion) -> ReviewDocument:
    return ReviewDocument(
        product_id=opinion.item_id,
        text=opinion.body,
        title=opinion.headline,
        rating=opinion.stars,
        created=opinion.posted,
    )
