"""A fast `clusters` for the console's tests: conftest's catalogue (six coats, six dresses, the bridge) bulk-created
and indexed in one batch, without thirteen save-time index runs (these tests only read it)."""

from __future__ import annotations

from .conftest import BRIDGE, COATS, DRESSES


def clusters() -> dict[str, str]:
    """Product ids by key (coat0..5, dress0..5, bridge); needs the fake_model fixture."""
    from catalog.models import Category, Product
    from shopsearch import indexing, spaces

    coats, dresses = Category.objects.create(name="Coats"), Category.objects.create(name="Dresses")
    rows = [(f"coat{n}", title, coats, 10 * (n + 1), n % 2 == 0) for n, title in enumerate(COATS)]
    rows += [(f"dress{n}", title, dresses, 10 * (n + 1), True) for n, title in enumerate(DRESSES)]
    rows.append(("bridge", BRIDGE, coats, 5, True))
    made = Product.objects.bulk_create(
        [
            Product(external_id=key, title=title, category=category, price=price, in_stock=stock)
            for key, title, category, price, stock in rows
        ]
    )
    indexing.reindex(spaces.ensure_active_space(), kinds=("product",))
    return {product.external_id: str(product.pk) for product in made}
