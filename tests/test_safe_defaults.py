"""Safe defaults: DEBUG only when asked for, no start with DEBUG off and the development key, `check --deploy`
clean with the production environment, no Django debug page through a bad Host or any method, and one
environment for every service of docker-compose.yml."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys

import pytest
import yaml
from django.db import connection

from .conftest import ROOT

SETUP = "import django; django.setup(); from django.conf import settings; print('DEBUG', settings.DEBUG)"


def run_django(code: str, **env: str) -> subprocess.CompletedProcess:
    """`code` in a fresh Python with the demo's settings and this environment (DJANGO_* taken from `env` only)."""
    base = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    base.update(DJANGO_SETTINGS_MODULE="shopsite.settings", DATABASE_NAME=connection.settings_dict["NAME"], **env)
    return subprocess.run([sys.executable, *code], cwd=ROOT, env=base, capture_output=True, text=True, timeout=120)


@pytest.mark.django_db
@pytest.mark.parametrize("key", [None, "dev-only-insecure-key-change-me", ""])
def test_debug_off_with_the_development_key_refuses_to_start(key):
    result = run_django(["-c", SETUP], **({} if key is None else {"DJANGO_SECRET_KEY": key}))
    assert result.returncode != 0
    assert (
        "ImproperlyConfigured: DJANGO_SECRET_KEY is unset (or the public development key) and DEBUG is off"
        in result.stderr
    )


@pytest.mark.django_db
def test_debug_is_off_unless_asked_for():
    assert run_django(["-c", SETUP], DJANGO_SECRET_KEY=secrets.token_urlsafe(50)).stdout.split() == ["DEBUG", "False"]
    assert run_django(["-c", SETUP], DJANGO_DEBUG="1").stdout.split() == [
        "DEBUG",
        "True",
    ]  # development: the dev key is fine


PRODUCTION = {
    "DJANGO_ALLOWED_HOSTS": "shop.example.com",
    "DJANGO_HTTPS": "1",
    "DJANGO_HSTS_PRELOAD": "1",
    "DJANGO_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO",
}


@pytest.mark.django_db
def test_check_deploy_is_clean_with_the_production_environment():
    result = run_django(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        **PRODUCTION,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


@pytest.mark.django_db
def test_check_deploy_names_what_a_plain_http_deployment_lacks():
    result = run_django(["manage.py", "check", "--deploy"], DJANGO_SECRET_KEY=secrets.token_urlsafe(50))
    assert {"security.W004", "security.W008", "security.W012", "security.W016"} <= set(
        re.findall(r"\((security\.W\d+)\)", result.stderr)
    )


METHODS = ["get", "post", "put", "patch", "delete", "options", "head", "trace"]


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize(
    "path", ["/", "/api/search/?q=dress", "/api/docs/", "/api/schema/", "/admin/", "/no-such-page/"]
)
def test_a_bad_host_is_a_plain_400_for_every_method(client, settings, debug, path):
    settings.DEBUG = debug
    for method in METHODS:
        response = getattr(client, method)(path, HTTP_HOST="evil.example.com")
        assert response.status_code == 400, (method, path, response.status_code)
        assert response["Content-Type"].startswith("text/plain") and b"settings" not in response.content.lower()


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
def test_the_docs_and_schema_answer_other_methods_with_405(client, settings, debug):
    settings.DEBUG = debug
    for path in ("/api/docs/", "/api/schema/"):
        assert client.get(path).status_code == 200
        for method in ("options", "post", "put", "patch", "delete"):
            response = getattr(client, method)(path)
            assert response.status_code == 405, (method, path, response.status_code)
            assert b"Traceback" not in response.content and b"DATABASES" not in response.content


def test_error_reports_mask_connection_urls(rf, settings):
    from django.views.debug import get_default_exception_reporter_filter

    settings.REDIS_URL = "redis://:hunter2@cache:6379/0"
    request = rf.get("/", HTTP_AUTHORIZATION="Basic c2VjcmV0")
    request.META["DATABASE_URL"] = "postgres://shop:hunter2@db/shop"
    report = get_default_exception_reporter_filter()
    assert "hunter2" not in repr(report.get_safe_settings()) and "hunter2" not in repr(
        report.get_safe_request_meta(request)
    )


def compose() -> dict:
    tool = shutil.which("docker-compose")
    if not tool:
        pytest.skip(
            "docker-compose (Debian package) is not installed; `apt-get install docker-compose` to run this check"
        )
    result = subprocess.run(
        [tool, "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "DJANGO_SECRET_KEY": "from-the-shell"},
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]


def test_every_compose_service_of_the_app_gets_the_one_production_environment():
    services = compose()
    web, worker = services["web"]["environment"], services["worker"]["environment"]
    assert web["DJANGO_DEBUG"] == worker["DJANGO_DEBUG"] == "0"
    assert web["DJANGO_SECRET_KEY"] == worker["DJANGO_SECRET_KEY"] == "from-the-shell"
    assert {key: value for key, value in worker.items() if key in web} == web  # the worker only adds to it
    assert worker["SHOPSEARCH_TORCH_THREADS"] == "1"
    command = services["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"


@pytest.mark.django_db
def test_database_connections_are_closed_after_each_request_unless_the_server_bounds_its_threads():
    show = (
        "import django; django.setup(); from django.db import connection as c; "
        "print(c.settings_dict['CONN_MAX_AGE'], c.settings_dict['CONN_HEALTH_CHECKS'])"
    )
    key = secrets.token_urlsafe(50)
    assert run_django(["-c", show], DJANGO_SECRET_KEY=key).stdout.split() == ["0", "True"]
    assert run_django(["-c", show], DJANGO_SECRET_KEY=key, DATABASE_CONN_MAX_AGE="60").stdout.split() == ["60", "True"]
