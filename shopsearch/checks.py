"""System checks of `settings.SHOPSEARCH`, run by `manage.py check`, `migrate` and `runserver`.

A misspelled key would otherwise be ignored silently (its default applies), and a model label or document path that
resolves to nothing would only fail at the first save or reindex. Each message names the key, the value and what to
write instead.
"""

from __future__ import annotations

import difflib
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.utils.module_loading import import_string

from .conf import DEFAULTS
from .registry import FACET_NAME, FACET_TYPES, KINDS


def check_settings(app_configs=None, **kwargs) -> list[CheckMessage]:
    """Every problem of settings.SHOPSEARCH: unknown keys, values of the wrong type, unresolvable models and paths."""
    configured = getattr(settings, "SHOPSEARCH", {})
    if not isinstance(configured, dict):
        return [
            Error(
                f"settings.SHOPSEARCH must be a dict, not {type(configured).__name__}.",
                hint='Write SHOPSEARCH = {"PRODUCT_MODEL": "shop.Product", ...}.',
                id="shopsearch.E001",
            )
        ]
    messages = [unknown_key(key) for key in configured if key not in DEFAULTS]
    messages += [
        wrong_type(key, value)
        for key, value in configured.items()
        if key in DEFAULTS and not fits(DEFAULTS[key], value)
    ]
    messages += model_errors(configured) + document_errors(configured) + facet_errors(configured)
    if not configured.get("PRODUCT_MODEL"):
        messages.append(
            Warning(
                "SHOPSEARCH['PRODUCT_MODEL'] is not set: no products are indexed or searchable.",
                hint="Set it to your product model's label, e.g. 'shop.Product', and PRODUCT_DOCUMENT to its document "
                "function.",
                id="shopsearch.W001",
            )
        )
    return [message for message in messages if message is not None]


def startup_errors() -> list[CheckMessage]:
    """What keeps AppConfig.ready() from connecting the signals: SHOPSEARCH not a dict, a model label naming nothing."""
    configured = getattr(settings, "SHOPSEARCH", {})
    return model_errors(configured) if isinstance(configured, dict) else check_settings()


def unknown_key(key: str) -> Error:
    if isinstance(key, str) and key.upper() in DEFAULTS:
        hint = f"Setting names are upper case: write {key.upper()!r}."
    else:
        close = difflib.get_close_matches(str(key).upper(), list(DEFAULTS), n=1)
        hint = f"Did you mean {close[0]!r}?" if close else f"Valid keys: {', '.join(sorted(DEFAULTS))}."
    return Error(f"Unknown SHOPSEARCH key {key!r}: it would be ignored.", hint=hint, id="shopsearch.E002")


def fits(default: Any, value: Any) -> bool:
    """Whether `value` has the kind of type its default has (None defaults accept anything; an int is a valid float)."""
    if default is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


def wrong_type(key: str, value: Any) -> Error:
    default = DEFAULTS[key]
    return Error(
        f"SHOPSEARCH[{key!r}] = {value!r} is of type {type(value).__name__}; it must be of type "
        f"{type(default).__name__} (default {default!r}).",
        id="shopsearch.E003",
    )


def model_errors(configured: dict) -> list[Error]:
    """PRODUCT_MODEL / REVIEW_MODEL labels that name no installed model."""
    errors = []
    for kind in KINDS:
        key = f"{kind.upper()}_MODEL"
        label = configured.get(key)
        if not label:
            continue
        try:
            apps.get_model(label)
        except (LookupError, ValueError, TypeError) as exc:
            errors.append(
                Error(
                    f"SHOPSEARCH[{key!r}] = {label!r} is not an installed model ({exc}).",
                    hint="Use '<app_label>.<ModelName>' of an app in INSTALLED_APPS, e.g. 'shop.Product'.",
                    id="shopsearch.E004",
                )
            )
    return errors


def facet_errors(configured: dict) -> list[Error]:
    """PRODUCT_FACETS entries that the API could not turn into filters: a name unusable as attr.<name>, an unknown
    type or key, bucket edges that are not numbers (or given for a facet that is not a number)."""
    facets = configured.get("PRODUCT_FACETS") or {}
    if not isinstance(facets, dict):
        return []  # wrong_type reports it
    errors = []
    for name, spec in facets.items():
        spec = {"type": spec} if isinstance(spec, str) else spec
        problem = None
        if not isinstance(name, str) or not FACET_NAME.match(name):
            problem = "its name must be 1-50 letters, digits, '_' or '-' (the filter parameter is attr.<name>)"
        elif not isinstance(spec, dict) or set(spec) - {"type", "label", "buckets"}:
            problem = 'each entry is "string" | "number" | "boolean", or a dict of type, label and buckets'
        elif spec.get("type", "string") not in FACET_TYPES:
            problem = f"type {spec.get('type')!r} is none of {', '.join(FACET_TYPES)}"
        elif "buckets" in spec and (
            spec.get("type") != "number"
            or not isinstance(spec["buckets"], (list, tuple))
            or not all(is_number(edge) for edge in spec["buckets"])
        ):
            problem = "buckets are a list of numbers, for a number facet"
        if problem:
            errors.append(
                Error(
                    f"SHOPSEARCH['PRODUCT_FACETS'][{name!r}] = {spec!r}: {problem}.",
                    hint='e.g. {"colour": "string", "eco": "boolean", '
                    '"waist": {"type": "number", "buckets": [30, 32, 34]}}',
                    id="shopsearch.E007",
                )
            )
    return errors


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def document_errors(configured: dict) -> list[CheckMessage]:
    """*_DOCUMENT paths that are missing beside their model, do not import, or name something not callable."""
    messages: list[CheckMessage] = []
    for kind in KINDS:
        key, model_key = f"{kind.upper()}_DOCUMENT", f"{kind.upper()}_MODEL"
        path = configured.get(key)
        if not path:
            if configured.get(model_key):
                messages.append(
                    Error(
                        f"SHOPSEARCH[{model_key!r}] is set but SHOPSEARCH[{key!r}] is not.",
                        hint=f"Name the function that turns a {kind} into its document, e.g. "
                        f"'shop.search.{kind}_document'.",
                        id="shopsearch.E005",
                    )
                )
            continue
        try:
            function = import_string(path)
        except ImportError as exc:
            messages.append(
                Error(
                    f"SHOPSEARCH[{key!r}] = {path!r} cannot be imported: {exc}.",
                    hint="Give the dotted path of a function, e.g. 'shop.search.product_document'.",
                    id="shopsearch.E006",
                )
            )
            continue
        if not callable(function):
            messages.append(
                Error(
                    f"SHOPSEARCH[{key!r}] = {path!r} is a {type(function).__name__}, not a function.",
                    hint=f"Point it at a function (instance) -> {kind.capitalize()}Document.",
                    id="shopsearch.E006",
                )
            )
        if not configured.get(model_key):
            messages.append(
                Warning(
                    f"SHOPSEARCH[{key!r}] is set but SHOPSEARCH[{model_key!r}] is not: nothing calls it.",
                    hint=f"Set {model_key} to the model the function reads.",
                    id="shopsearch.W002",
                )
            )
    return messages
