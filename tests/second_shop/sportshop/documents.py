"""What the sports shop indexes: its two document functions (SHOPSEARCH["PRODUCT_DOCUMENT"], ["REVIEW_DOCUMENT"])."""
from __future__ import annotations

from shopsearch.registry import ProductDocument, ReviewDocument

from .models import Item, Opinion

SHOWN_SPECS = ("material", "activity", "climate", "pattern", "style_general", "style_bottom", "category_gear", "features_bags", "strap_bags", "gender")


def item_document(item: Item) -> ProductDocument:
    specs = {key: item.specs[key] for key in SHOWN_SPECS if item.specs.get(key)}
    return ProductDocument(
        title=item.name, description=item.blurb,
        attributes={key: ", ".join(value) if isinstance(value, list) else str(value) for key, value in specs.items()},
        category=item.section, price=item.list_price, in_stock=item.units_left > 0,
    )


def opinion_document(opinion: Opinion) -> ReviewDocument:
    return ReviewDocument(product_id=opinion.item_id, text=opinion.body, title=opinion.headline, rating=opinion.stars,
                          created=opinion.posted)
