"""The demo shop's two shopsearch hooks: what of a product and of a review is indexed.

Named in settings.SHOPSEARCH["PRODUCT_DOCUMENT"] / ["REVIEW_DOCUMENT"]; any shop writes the same two functions
for its own models.
"""

import html

from shopsearch.registry import ProductDocument, ReviewDocument, declared_facets

from .models import Product, Review


def product_document(product: Product) -> ProductDocument:
    """Its texts, category, price and stock, and its values of the attribute facets settings.SHOPSEARCH declares
    (the clothing items' class, department and division; the Luma products' colours, sizes, materials, ...)."""
    attributes = product.attributes or {}
    return ProductDocument(
        title=product.title,
        description=product.description,
        attributes={str(k): ", ".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in attributes.items()},
        category=product.category.name if product.category_id else None,
        price=product.price,
        in_stock=product.in_stock,
        facets={
            name: facet_values(attributes[name])
            for name in declared_facets()
            if attributes.get(name) not in (None, "", [])
        },
    )


def facet_values(value) -> list:
    """An attribute's values as shoppers read them: a list as it is, a text split at line breaks (how Magento exports
    a multiple select, e.g. the Luma activity "Yoga\\nGym"), anything else as one value; HTML entities in texts
    decoded (Luma's "LumaTech&trade;")."""
    values = value if isinstance(value, list) else value.split("\n") if isinstance(value, str) else [value]
    return [html.unescape(part).strip() if isinstance(part, str) else part for part in values if str(part).strip()]


def review_document(review: Review) -> ReviewDocument:
    return ReviewDocument(
        product_id=review.product_id,
        title=review.title,
        text=review.text,
        rating=review.rating,
        helpful_votes=review.helpful_votes,
        created=review.created,
    )
