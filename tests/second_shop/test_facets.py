"""The sports shop's declared attribute facets (settings.SHOPSEARCH["PRODUCT_FACETS"]): multi-valued sizes, colours
and materials, a number (waist, multi-valued too) and a boolean, with the rating facet, through its API on the real
stack (the real model; every vector search through the HNSW index). Every expected count is computed here from the
shop's own rows (Item.specs, Opinion.stars), not from shopsearch's documents."""

from __future__ import annotations

import html
from collections import Counter

import pytest
from rest_framework.test import APIClient

from .conftest import luma_rows, stock_the_shop
from .sportshop.models import Item
from .test_second_shop import API, reindex

pytestmark = [pytest.mark.model, pytest.mark.django_db]


def listed(item: Item, key: str) -> list[str]:
    """A spec's values read independently of the shop's document function: a list, or lines of one text."""
    value = item.specs.get(key) or []
    return [html.unescape(v).strip() for v in (value if isinstance(value, list) else value.split("\n"))]


def waists(item: Item) -> list[int]:
    return [int(size) for size in listed(item, "size") if size.isdigit()]


def counts(facets: dict, name: str) -> dict:
    return next(
        (
            {row["value"]: row["count"] for row in facet["values"]}
            for facet in facets["attributes"]
            if facet["name"] == name
        ),
        {},
    )


def every_hit(api, params: dict) -> tuple[dict, list[dict]]:
    body = api.get(f"{API}/search/", {**params, "page_size": 100}).json()
    assert not body["has_next"], body
    return body, body["results"]


@pytest.fixture
def shop(real_model, settings):
    settings.SHOPSEARCH = {**settings.SHOPSEARCH, "EXACT_SEARCH_MAX_ROWS": 0}
    items = stock_the_shop({row["id"] for row in luma_rows("luma_products.jsonl.gz")}, bulk=True)
    assert reindex()["failed"] == 0
    return items


def test_multi_valued_number_and_boolean_facets_filter_every_mode_with_the_shops_counts(shop):
    api = APIClient()
    items = list(Item.objects.prefetch_related("opinions"))
    # Colours OR'd, AND'd with a waist range: shorts in purple or grey with a waist size from 30 in.
    params = {"q": "shorts", "attr.color": ["Purple", "Gray"], "attr.waist.min": "30"}
    wanted = [i for i in items if {"Purple", "Gray"} & set(listed(i, "color")) and any(w >= 30 for w in waists(i))]
    assert 2 < len(wanted) < 8
    for mode in ("keyword", "semantic", "hybrid"):
        page = api.get(f"{API}/search/", {**params, "mode": mode, "page_size": 2}).json()
        assert len(page["results"]) == 2 and page["has_next"], (mode, page)
        body, hits = every_hit(api, {**params, "mode": mode})
        assert {hit["id"] for hit in hits} == {str(i.pk) for i in wanted} and body["total"] == len(wanted), mode
        facets = body["facets"]
        assert counts(facets, "color") == Counter(c for i in wanted for c in listed(i, "color")), mode
        assert counts(facets, "size") == Counter(s for i in wanted for s in listed(i, "size")), mode
        assert counts(facets, "material") == Counter(m for i in wanted for m in listed(i, "material")), mode
        assert counts(facets, "eco_collection") == Counter(i.specs["eco_collection"] == "Yes" for i in wanted), mode
        (waist,) = [facet for facet in facets["attributes"] if facet["name"] == "waist"]
        every = [w for i in wanted for w in waists(i)]
        assert (waist["type"], waist["label"], waist["min"], waist["max"], waist["count"]) == (
            "number",
            "Waist (in)",
            min(every),
            max(every),
            len(wanted),
        )
        expected = [
            (
                low,
                high,
                sum(any((low is None or w >= low) and (high is None or w < high) for w in waists(i)) for i in wanted),
            )
            for low, high in ((None, 29), (29, 31), (31, None))
        ]
        assert [(row["min"], row["max"], row["count"]) for row in waist["buckets"]] == [
            row for row in expected if row[2]
        ], mode
        rated = [sum(o.stars for o in i.opinions.all()) / len(i.opinions.all()) for i in wanted if i.opinions.all()]
        assert facets["rating"] == [
            {"min": s, "count": n} for s in (4, 3, 2, 1) if (n := sum(r >= s for r in rated))
        ], mode

    # A multi-valued facet matches any of a product's values: jackets in size XS that come in black and are eco.
    jackets = api.get(
        f"{API}/search/",
        {
            "q": "jacket",
            "mode": "semantic",
            "category": "Men/Tops/Jackets",
            "attr.size": "XS",
            "attr.color": "Black",
            "attr.eco_collection": "true",
            "page_size": 50,
        },
    ).json()
    expected = {
        str(i.pk)
        for i in items
        if i.section == "Men/Tops/Jackets" and "Black" in listed(i, "color") and i.specs.get("eco_collection") == "Yes"
    }
    assert expected and {hit["id"] for hit in jackets["results"]} == expected
    assert counts(jackets["facets"], "material")  # HTML entities decoded by the shop's document function
    assert all(
        "&" not in str(value)
        for value in counts(api.get(f"{API}/search/", {"q": "jacket", "mode": "keyword"}).json()["facets"], "material")
    )

    # An undeclared attribute, a number given to a string facet's range, a range upside down: 400 naming the parameter.
    for bad, field in (
        ({"attr.colour": "Black"}, "attr.colour"),
        ({"attr.waist.min": "thirty"}, "attr.waist.min"),
        ({"attr.waist.min": "32", "attr.waist.max": "30"}, "attr.waist.min"),
        ({"attr.waist": "30"}, "attr.waist"),
    ):
        response = api.get(f"{API}/search/", {"q": "shorts", **bad})
        assert response.status_code == 400 and response.json()["detail"].startswith(field), response.json()
