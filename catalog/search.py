"""The demo shop's two shopsearch hooks: what of a product and of a review is indexed.

Named in settings.SHOPSEARCH["PRODUCT_DOCUMENT"] / ["REVIEW_DOCUMENT"]; any shop writes the same two functions
for its own models.
"""
from shopsearch.registry import ProductDocument, ReviewDocument

from .models import Product, Review


def product_document(product: Product) -> ProductDocument:
    return ProductDocument(
        title=product.title,
        description=product.description,
        attributes={str(k): str(v) for k, v in (product.attributes or {}).items()},
        category=product.category.name if product.category_id else None,
        price=product.price,
        in_stock=product.in_stock,
    )


def review_document(review: Review) -> ReviewDocument:
    return ReviewDocument(
        product_id=review.product_id, title=review.title, text=review.text, rating=review.rating,
        helpful_votes=review.helpful_votes, created=review.created,
    )
