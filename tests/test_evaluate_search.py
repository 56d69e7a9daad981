"""evaluate_search: the wiring from a relevance folder to ir-measures (nDCG checked against a hand computation), the
isolation of the evaluation catalogue from the shop's, reuse on rerun, bad folders, and the full dev-set run (slow)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from shopsearch.models import SHOP_COLLECTION, Document, Embedding

from .conftest import SHARED_DATA, demo_rows, load_products

pytestmark = pytest.mark.django_db

TINY = Path(__file__).parent / "data" / "relevance_tiny"


def evaluate(capsys, folder: Path, *args: str) -> tuple[dict, str]:
    call_command("evaluate_search", str(folder), "--json", *args)
    captured = capsys.readouterr()
    return json.loads(captured.out.strip().splitlines()[-1]), captured.err


def test_keyword_metrics_match_a_hand_computation(fake_model, capsys):
    report, _ = evaluate(capsys, TINY, "--mode", "keyword")
    # q1 "espresso machine": keyword search ranks p1 (grade 2, both words in the title) before p2 (grade 1,
    # "espresso"); p3 (grade 1, a coffee maker) has neither word and is not retrieved. Gains are the grades.
    dcg = 2 / math.log2(2) + 1 / math.log2(3)
    ideal = 2 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    # q2 "hiking socks": p4 (grade 3, both words) first; p5 (grade 0, "socks") after it: nDCG 1.
    assert report["keyword"]["ndcg@10"] == pytest.approx((dcg / ideal + 1) / 2, abs=1e-4)
    assert report["keyword"]["recall@100"] == pytest.approx((2 / 3 + 1) / 2, abs=1e-4)
    assert report["keyword"]["mrr@10"] == 1.0
    assert report["queries"] == 2 and report["products"] == 6
    assert set(report) == {"keyword", "queries", "products"}


def test_all_modes_report_every_figure_and_the_shop_is_untouched(fake_model, run_on_commit, capsys):
    shop = run_on_commit(load_products, demo_rows("demo_products.jsonl.gz", limit=5))
    shop_documents = list(
        Document.objects.filter(collection=SHOP_COLLECTION).order_by("pk").values_list("pk", "content_hash")
    )
    report, err = evaluate(capsys, TINY, "--mode", "all")
    for mode in ("keyword", "semantic", "hybrid"):
        assert set(report[mode]) == {"ndcg@10", "recall@100", "mrr@10", "latency_ms_p50", "latency_ms_p95"}
        assert 0 <= report[mode]["ndcg@10"] <= 1
    assert "6 embedded" in err
    assert (
        list(Document.objects.filter(collection=SHOP_COLLECTION).order_by("pk").values_list("pk", "content_hash"))
        == shop_documents
    )
    assert Document.objects.exclude(collection=SHOP_COLLECTION).count() == 6 and len(shop) == 5
    embeddings = Embedding.objects.count()
    again, err = evaluate(capsys, TINY, "--mode", "hybrid", "--max-queries", "1")
    assert "0 embedded, 6 reused" in err and Embedding.objects.count() == embeddings
    assert again["queries"] == 1


def test_a_folder_that_is_not_a_relevance_set_is_explained(fake_model, tmp_path):
    with pytest.raises(CommandError, match="lacks products.jsonl, queries.tsv, qrels.txt"):
        call_command("evaluate_search", str(tmp_path / "x"))
    (tmp_path / "products.jsonl").write_text('{"title": "no id"}\n')
    (tmp_path / "queries.tsv").write_text("q1\tsocks\n")
    (tmp_path / "qrels.txt").write_text("q1 0 p1 1\n")
    with pytest.raises(CommandError, match="products.jsonl line 1"):
        call_command("evaluate_search", str(tmp_path))


@pytest.mark.slow
@pytest.mark.model
def test_crowdflower_dev_hybrid_beats_both_retrievers(real_model, capsys):
    folder = SHARED_DATA / "crowdflower_dev"
    if not (folder / "products.jsonl").exists():
        pytest.skip(
            f"{folder} is missing: the CrowdFlower dev set is read from ../shared/data, never copied into the repo"
        )
    report, _ = evaluate(capsys, folder, "--mode", "all")
    hybrid = report["hybrid"]
    assert hybrid["ndcg@10"] >= 0.82
    for other in ("keyword", "semantic"):
        assert hybrid["ndcg@10"] >= report[other]["ndcg@10"] and hybrid["recall@100"] >= report[other]["recall@100"]


def test_titles_only_indexes_the_titles_alone_in_a_collection_of_its_own(fake_model, capsys):
    full, _ = evaluate(capsys, TINY, "--mode", "keyword")
    titles, err = evaluate(capsys, TINY, "--mode", "keyword", "--titles-only")
    assert "6 embedded" in err and titles["products"] == full["products"] == 6
    collections = set(Document.objects.exclude(collection=SHOP_COLLECTION).values_list("collection", flat=True))
    assert len(collections) == 2
    titles_only = Document.objects.filter(collection__in=collections, description="").values_list(
        "collection", flat=True
    )
    assert len(set(titles_only)) == 1 and len(titles_only) == 6
