"""The embedding map in headless Chromium: the owner opens the dashboard, starts a reindex, computes the map, and
the map page draws one point per product with the vendored Chart.js, recolours by sentiment and drops a query onto
it. Screenshots of the dashboard and the map are saved in the test's tmp_path (run with --basetemp to keep them)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from catalog.models import Category, Product
from shopsearch import indexing, spaces
from shopsearch.models import ConsoleJob, EmbeddingMap

from .browser import browser_available, chromium, open_dashboard
from .conftest import demo_rows, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not browser_available(), reason="needs /usr/bin/chromium and /usr/bin/chromedriver"),
]


@pytest.fixture
def owner(transactional_db, fake_model):
    rows = demo_rows("demo_products.jsonl.gz", limit=120, where=lambda row: bool(row.get("category")))
    categories = {name: Category.objects.create(name=name) for name in {row["category"] for row in rows}}
    Product.objects.bulk_create(
        [
            Product(
                external_id=row["id"],
                title=row["title"],
                description=row.get("description", ""),
                category=categories[row["category"]],
            )
            for row in rows[:-10]
        ]
    )
    indexing.reindex(spaces.ensure_active_space())
    Product.objects.bulk_create(
        [
            Product(
                external_id=row["id"],
                title=row["title"],
                description=row.get("description", ""),
                category=categories[row["category"]],
            )
            for row in rows[-10:]
        ]
    )  # missing: no signals
    return User.objects.create_superuser("owner", password="owner-pass")


def test_the_owner_reindexes_computes_the_map_and_drops_a_query_on_it(owner, live_server, tmp_path):
    from selenium.webdriver.common.by import By

    with chromium(1400, 1000) as driver:
        open_dashboard(driver, live_server.url, "owner", "owner-pass")
        assert driver.find_element(By.CSS_SELECTOR, ".space-row").get_attribute("data-status") == "active, incomplete"
        driver.find_element(By.XPATH, "//button[text()='Reindex everything']").click()
        wait_for(
            lambda: driver.find_elements(By.CSS_SELECTOR, "#jobs tr.job[data-status=done]"),
            "show the finished job",
            timeout=60,
        )
        assert driver.find_element(By.CSS_SELECTOR, ".space-row").get_attribute("data-status") == "active"
        assert "objects/s" in driver.find_element(By.ID, "last-reindex").text
        driver.find_element(By.XPATH, "//button[text()='Compute the embedding map']").click()
        wait_for(
            lambda: len(driver.find_elements(By.CSS_SELECTOR, "#jobs tr.job[data-status=done]")) == 2,
            "finish the map job",
            timeout=60,
        )
        driver.save_screenshot(str(tmp_path / "dashboard.png"))
        assert EmbeddingMap.objects.get().products == 120 and ConsoleJob.objects.filter(status="done").count() == 2

        driver.find_element(By.ID, "map-link").click()
        wait_for(
            lambda: driver.execute_script("return !!(window.Chart && Chart.getChart('map-chart'))"),
            "draw the map",
            timeout=20,
        )
        assert driver.find_element(By.ID, "map-chart").get_attribute("data-drawn") == "120"
        assert "What the axes are not" in driver.find_element(By.ID, "map-axes").text
        drawn = driver.execute_script(
            "return Chart.getChart('map-chart').data.datasets.reduce((n, d) => n + d.data.length, 0)"
        )
        assert drawn == 120
        driver.find_element(By.NAME, "q").send_keys("dress for summer")
        driver.find_element(By.XPATH, "//button[text()='Place on the map']").click()
        wait_for(
            lambda: "placed at" in driver.find_element(By.ID, "map-query-status").text, "place the query", timeout=20
        )
        labels = driver.execute_script("return Chart.getChart('map-chart').data.datasets.map((d) => d.label)")
        assert labels[-1] == "query: dress for summer"
        driver.save_screenshot(str(tmp_path / "map_by_category.png"))
        driver.find_element(By.CSS_SELECTOR, "#map-colour option[value=sentiment]").click()
        wait_for(
            lambda: driver.execute_script("return Chart.getChart('map-chart').data.datasets.length") == 2,
            "recolour",
            timeout=10,
        )
        driver.save_screenshot(str(tmp_path / "map_by_sentiment.png"))
