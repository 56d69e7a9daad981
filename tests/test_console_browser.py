"""The console in headless Chromium (the storefront tests' set-up): the owner logs in, sees the dashboard, starts
"index what is missing" and sees the finished job; the analytics page draws its charts with the vendored Chart.js."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from catalog.models import Product
from shopsearch import indexing, spaces
from shopsearch.models import ConsoleJob, SearchLog

from .browser import browser_available, chromium, open_dashboard
from .conftest import wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not browser_available(), reason="needs /usr/bin/chromium and /usr/bin/chromedriver"),
]


@pytest.fixture
def owner(transactional_db, fake_model):
    Product.objects.bulk_create([Product(external_id=f"p{n}", title=f"Linen summer dress {n}") for n in range(5)])
    indexing.reindex(spaces.ensure_active_space())
    Product.objects.bulk_create([Product(external_id="silent", title="Wool scarf added without signals")])
    SearchLog.objects.create(query="linen", normalized="linen", mode="hybrid", results=5, latency_ms=12.5)
    return User.objects.create_superuser("owner", password="owner-pass")


def test_the_owner_starts_a_reindex_from_the_dashboard_and_sees_it_finish(owner, live_server):
    from selenium.webdriver.common.by import By

    with chromium() as driver:
        open_dashboard(driver, live_server.url, "owner", "owner-pass")
        assert driver.find_element(By.CSS_SELECTOR, ".space-row").get_attribute("data-status") == "active, incomplete"
        driver.find_element(By.XPATH, "//button[text()='Index what is missing']").click()
        wait_for(
            lambda: driver.find_elements(By.CSS_SELECTOR, "#jobs tr.job[data-status=done]"),
            "show the finished job",
            timeout=30,
        )
        assert "reconciled" in driver.find_element(By.CSS_SELECTOR, "#jobs tr.job").text
        assert ConsoleJob.objects.get().status == "done"
        assert driver.find_element(By.CSS_SELECTOR, ".space-row").get_attribute("data-status") == "active"
        driver.get(f"{live_server.url}/admin/shopsearch/consolejob/analytics/")
        wait_for(
            lambda: driver.execute_script("return !!(window.Chart && Chart.getChart('searches-chart'))"),
            "draw the chart",
            timeout=20,
        )
        assert "1 searches (1 distinct queries)" in driver.find_element(By.ID, "summary").text
