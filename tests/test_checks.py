"""settings.SHOPSEARCH hygiene: the system check names a misspelled key's closest valid key, and rejects values of the
wrong type, model labels and document paths that resolve to nothing; the README's settings table lists every key of
conf.DEFAULTS with its default."""

from __future__ import annotations

import ast
import logging
import re

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db.models.signals import post_save

from shopsearch import checks
from shopsearch.conf import DEFAULTS

from .conftest import ROOT

SHOP = {
    "PRODUCT_MODEL": "catalog.Product",
    "PRODUCT_DOCUMENT": "catalog.search.product_document",
    "REVIEW_MODEL": "catalog.Review",
    "REVIEW_DOCUMENT": "catalog.search.review_document",
}


def messages(settings, **overrides) -> dict[str, list[str]]:
    settings.SHOPSEARCH = {**SHOP, **overrides}
    found: dict[str, list[str]] = {}
    for message in checks.check_settings():
        found.setdefault(message.id, []).append(f"{message.msg} {message.hint or ''}")
    return found


def test_the_demo_settings_pass(settings):
    assert messages(settings) == {}


def test_a_misspelled_key_names_the_closest_valid_key(settings):
    found = messages(settings, PAGE_SIZ=10, HNSW_EF_SERACH=200)
    assert sorted(found) == ["shopsearch.E002"]
    assert any("'PAGE_SIZ'" in text and "Did you mean 'PAGE_SIZE'?" in text for text in found["shopsearch.E002"])
    assert any("Did you mean 'HNSW_EF_SEARCH'?" in text for text in found["shopsearch.E002"])


def test_a_lower_case_key_is_told_to_be_upper_case(settings):
    (text,) = messages(settings, page_size=10)["shopsearch.E002"]
    assert "write 'PAGE_SIZE'" in text


def test_a_key_like_nothing_lists_the_valid_keys(settings):
    (text,) = messages(settings, COLOUR_SCHEME="dark")["shopsearch.E002"]
    assert "Valid keys:" in text and "PRODUCT_MODEL" in text


def test_manage_py_check_fails_on_a_misspelled_key(settings):
    settings.SHOPSEARCH = {**SHOP, "PRODUCT_DOCUMNET": SHOP["PRODUCT_DOCUMENT"]}
    with pytest.raises(
        SystemCheckError, match=r"(?s)shopsearch\.E002.*PRODUCT_DOCUMNET.*Did you mean 'PRODUCT_DOCUMENT'"
    ):
        call_command("check")


def test_values_of_the_wrong_type_are_rejected(settings):
    found = messages(settings, PAGE_SIZE="20", SENTIMENT_ASPECTS={"name": "fit"}, SENTIMENT_C=2, TORCH_THREADS=1)
    assert sorted(found) == ["shopsearch.E003"]  # an int is a valid float; a None default accepts anything
    assert len(found["shopsearch.E003"]) == 2
    assert any("'PAGE_SIZE'" in text and "must be of type int" in text for text in found["shopsearch.E003"])


def test_an_unknown_model_label_is_rejected(settings):
    found = messages(settings, PRODUCT_MODEL="catalog.Produkt", REVIEW_MODEL="shop.Review")
    assert sorted(found) == ["shopsearch.E004"]
    assert any("'catalog.Produkt'" in text for text in found["shopsearch.E004"])
    assert any("'shop.Review'" in text for text in found["shopsearch.E004"])


def test_document_paths_that_do_not_resolve_are_rejected(settings):
    found = messages(
        settings, PRODUCT_DOCUMENT="catalog.search.product_doc", REVIEW_DOCUMENT="catalog.nowhere.review_document"
    )
    assert sorted(found) == ["shopsearch.E006"]
    assert len(found["shopsearch.E006"]) == 2


def test_a_document_path_must_name_a_function(settings):
    (text,) = messages(settings, PRODUCT_DOCUMENT="shopsearch.conf.DEFAULTS")["shopsearch.E006"]
    assert "not a function" in text


def test_a_model_without_its_document_function_is_rejected(settings):
    settings.SHOPSEARCH = {"PRODUCT_MODEL": "catalog.Product"}
    (message,) = checks.check_settings()
    assert message.id == "shopsearch.E005" and "PRODUCT_DOCUMENT" in message.msg


def test_nothing_indexed_is_a_warning(settings):
    settings.SHOPSEARCH = {"PRODUCT_DOCUMENT": "catalog.search.product_document"}
    assert sorted(message.id for message in checks.check_settings()) == ["shopsearch.W001", "shopsearch.W002"]


def test_settings_that_are_not_a_dict_are_rejected(settings):
    settings.SHOPSEARCH = [("PRODUCT_MODEL", "catalog.Product")]
    assert [message.id for message in checks.check_settings()] == ["shopsearch.E001"]


def test_a_wrong_model_label_does_not_crash_start_up(settings, caplog):
    """ready() leaves the error to the check (and logs it) instead of raising out of django.setup()."""
    config = apps.get_app_config("shopsearch")
    settings.SHOPSEARCH = {**SHOP, "PRODUCT_MODEL": "catalog.Produkt"}
    with caplog.at_level(logging.ERROR, logger="shopsearch"):
        config.ready()
    assert "catalog.Produkt" in caplog.text
    settings.SHOPSEARCH = SHOP
    config.ready()  # connecting again is a no-op (dispatch_uid)
    assert post_save.has_listeners(apps.get_model("catalog.Product"))


def readme_settings_rows() -> list[tuple[list[str], str]]:
    """(keys, default cell) of each row of the README's `settings.SHOPSEARCH` table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = text[text.index("`settings.SHOPSEARCH` keys") :].splitlines()[1:]
    rows = []
    for line in lines:
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        keys = re.findall(r"`([A-Z][A-Z0-9_]*)`", cells[0])
        if keys:
            rows.append((keys, cells[1]))
    return rows


def test_the_readme_settings_table_lists_every_setting_once():
    documented = [key for keys, _ in readme_settings_rows() for key in keys]
    assert sorted(set(DEFAULTS) - set(documented)) == [], "settings missing from README.md's SHOPSEARCH table"
    assert sorted(set(documented) - set(DEFAULTS)) == [], "README.md documents settings conf.DEFAULTS does not have"
    assert len(documented) == len(set(documented))


def test_the_readme_settings_table_states_the_defaults():
    """Where a row gives one Python literal per key, each is the key's default in conf.DEFAULTS."""
    compared = 0
    for keys, default_cell in readme_settings_rows():
        literals = re.findall(r"`([^`]+)`", default_cell)
        if len(literals) != len(keys):
            continue
        for key, literal in zip(keys, literals, strict=True):
            try:
                value = ast.literal_eval(literal)
            except (ValueError, SyntaxError):
                continue  # a described default ("<BASE_DIR>/.models")
            assert value == DEFAULTS[key], (
                f"README.md says {key} defaults to {literal}; conf.DEFAULTS has {DEFAULTS[key]!r}"
            )
            compared += 1
    assert compared >= len(DEFAULTS) // 2
