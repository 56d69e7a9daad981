"""The API fuzzed against its own OpenAPI schema (schemathesis, in-process through the WSGI app): no 5xx, every
status documented, the documented content type and body for each. Bounded to a few dozen examples per operation;
the shop has products (the `clusters` fixture) so successful answers are checked too, not only errors. Also: every
method on every route answers a 4xx or less, never a 5xx or Django's debug page."""

from __future__ import annotations

import uuid

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def unthrottled(settings):
    """Rates off, counters of this test only: a fuzzer is one client sending hundreds of requests."""
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}}
    settings.SHOPSEARCH = {
        **settings.SHOPSEARCH,
        "THROTTLE_RATES": {"client": None, "session": None, "new_session": None},
    }


@pytest.fixture
def keep_test_connection():
    """Calls straight into the WSGI app end with request_finished, which closes the connection, and with it the
    test's transaction; Django's own test client disconnects that handler the same way."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_every_operation_conforms_to_the_schema(case, clusters, unthrottled, keep_test_connection):
    case.call_and_validate(checks=CHECKS)


def test_every_error_status_is_documented_with_its_body_and_parameters_have_bounds():
    spec = schema.raw_schema
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"400", "429", "503"} <= codes, (method, path, codes)
            for code in codes - {"200", "201"}:
                body = operation["responses"][code]["content"]["application/json"]["schema"]
                assert body == {"$ref": "#/components/schemas/Error"}, (method, path, code)
            for parameter in operation.get("parameters", []):
                if parameter["name"] in ("limit", "page", "page_size", "days"):
                    assert {"minimum", "maximum"} <= set(parameter["schema"]), (path, parameter)
                if parameter["name"] in ("min_price", "max_price"):
                    assert "pattern" in parameter["schema"] or "maximum" in parameter["schema"], (path, parameter)
    search = {p["name"]: p["schema"] for p in spec["paths"]["/api/search/"]["get"]["parameters"]}
    assert (search["page_size"]["minimum"], search["page_size"]["maximum"], search["page"]["maximum"]) == (1, 100, 1000)


def routes(resolver=None, prefix: str = "/") -> list[str]:
    """A concrete path for every URL pattern of the project (path converters filled with a plausible id)."""
    found = []
    for entry in (resolver or get_resolver()).url_patterns:
        pattern = str(entry.pattern).replace("<str:product_id>", "1").replace("<int:pk>", "1").lstrip("^").rstrip("$")
        if isinstance(entry, URLResolver):
            if "admin" not in pattern:  # the admin's own routes redirect to its login; it is tested by Django
                found += routes(entry, prefix + pattern)
        elif isinstance(entry, URLPattern) and "<" not in pattern and "(?P" not in pattern:
            found.append(prefix + pattern)
    return found


@pytest.mark.django_db
def test_every_method_on_every_route_is_answered_without_a_server_error(client, clusters, unthrottled, settings):
    paths = routes()
    assert {"/api/search/", "/api/events/", "/api/sessions/", "/api/docs/", "/api/schema/"} <= set(paths)
    for debug in (False, True):
        settings.DEBUG = debug
        for path in paths + ["/admin/", "/no-such-page/"]:
            for method in ("get", "post", "put", "patch", "delete", "options", "head", "trace"):
                response = (
                    getattr(client, method)(path, content_type="application/json")
                    if method in ("post", "put", "patch")
                    else getattr(client, method)(path)
                )
                assert response.status_code < 500, (debug, method, path, response.status_code, response.content[:300])
                assert b"Traceback" not in response.content and b"DATABASES" not in response.content, (
                    debug,
                    method,
                    path,
                )
