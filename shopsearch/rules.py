"""Merchandising rules and synonyms, applied around the search service (search.search_products is wrapped by
`merchandised`): the owner fixes a bad query without touching retrieval or fusion.

Synonyms expand the query before retrieval: a two-way group makes every member find the others, a one-way entry
makes its term also find its synonyms (never the reverse); the added words are ORed into keyword retrieval's
lexemes (and, in semantic/hybrid mode, read by the encoder beside the query). Per-query rules (the normalised
query is, or contains, the rule's) then change the ranked list: pin a product at a 1-based position, boost or bury
it (its relevance score × or ÷ (1 + weight)), hide it. Every change is listed in the hit's `explain`.

Rules and synonyms are read once into a snapshot per process and re-read only when their version in the cache
changes (every save or delete bumps it), so a search pays one cache read; with no rule or synonym matching the
query the search is exactly the wrapped one.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
import uuid
from dataclasses import dataclass

from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from .analytics import normalize
from .conf import setting
from .models import Document, Rule, Synonym

logger = logging.getLogger(__name__)
VERSION_KEY = "shopsearch:rules:version"


def _phrases(phrases) -> re.Pattern:
    """Finds any of these normalised phrases as whole words. Compiled once per snapshot: re.search with a pattern
    string compiles it again on every call once a set holds more patterns than re's cache (512); 415 synonym groups
    cost 82 ms per query that way, 0.34 ms compiled (crowdflower_dev's, benchmarks/synonyms.py, load 10)."""
    return re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, phrases)) + r")(?!\w)")


@dataclass(frozen=True)
class SynonymSet:
    kind: str  # "group" or "one_way"
    triggers: tuple[str, ...]  # a query containing any of these…
    terms: tuple[str, ...]  # …also searches these
    trigger: re.Pattern  # finds any trigger
    term: dict[str, re.Pattern]  # finds that term


@dataclass(frozen=True)
class QueryRule:
    rule: Rule
    query: str  # the rule's query, normalised
    contained: re.Pattern  # finds it in a query (match "contains")


@dataclass(frozen=True)
class Snapshot:
    version: str
    synonyms: tuple[SynonymSet, ...]
    rules: tuple[QueryRule, ...]


_snapshot: Snapshot | None = None


def _split(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(term for term in (normalize(part) for part in text.split(",")) if term))


def _synonym_set(kind: str, triggers: tuple[str, ...], terms: tuple[str, ...]) -> SynonymSet:
    return SynonymSet(kind, triggers, terms, _phrases(triggers), {term: _phrases([term]) for term in terms})


def _load(version: str) -> Snapshot:
    synonyms = []
    for synonym in Synonym.objects.filter(enabled=True).order_by("pk"):
        terms = _split(synonym.synonyms)
        if synonym.kind == Synonym.Kind.ONE_WAY and normalize(synonym.term):
            synonyms.append(_synonym_set("one_way", (normalize(synonym.term),), terms))
        elif synonym.kind == Synonym.Kind.GROUP and len(terms) > 1:
            synonyms.append(_synonym_set("group", terms, terms))
    rules = [
        QueryRule(rule, normalize(rule.query), _phrases([normalize(rule.query)]))
        for rule in Rule.objects.filter(enabled=True).order_by("position", "pk")
    ]
    return Snapshot(version, tuple(synonyms), tuple(rules))


def snapshot() -> Snapshot:
    """The current rules and synonyms (re-read when the cached version changed; from the database if no cache)."""
    global _snapshot
    try:
        version = cache.get(VERSION_KEY)
        if version is None:
            version = uuid.uuid4().hex
            cache.add(VERSION_KEY, version, timeout=None)
            version = cache.get(VERSION_KEY, version)
    except Exception as exc:  # no cache: correct but slower
        logger.warning("shopsearch: the rules cache does not answer (%s); reading rules from the database", exc)
        return _load("uncached")
    if _snapshot is None or _snapshot.version != version:
        _snapshot = _load(version)
    return _snapshot


def invalidate(**_kwargs) -> None:
    """A rule or synonym changed: every process re-reads them on its next search."""
    try:
        cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None)
    except Exception:
        logger.warning(
            "shopsearch: could not invalidate the cached rules; processes see the change when the cache returns"
        )
    global _snapshot
    _snapshot = None


for _model in (Rule, Synonym):
    post_save.connect(invalidate, sender=_model, dispatch_uid=f"shopsearch-rules-{_model.__name__}-save")
    post_delete.connect(invalidate, sender=_model, dispatch_uid=f"shopsearch-rules-{_model.__name__}-delete")


def synonyms_for(normalized: str, snap: Snapshot) -> list[str]:
    """Terms the synonyms add to this (normalised) query, in order, none it already contains."""
    added: list[str] = []
    for synonym in snap.synonyms:
        if synonym.trigger.search(normalized):
            added += [term for term in synonym.terms if not synonym.term[term].search(normalized) and term not in added]
    return added


def rules_for(normalized: str, snap: Snapshot) -> list[Rule]:
    now = timezone.now()
    return [
        entry.rule
        for entry in snap.rules
        if (entry.rule.starts_at is None or entry.rule.starts_at <= now)
        and (entry.rule.ends_at is None or now < entry.rule.ends_at)
        and (normalized == entry.query if entry.rule.match == Rule.Match.EXACT else entry.contained.search(normalized))
    ]


def _describe(rule: Rule) -> str:
    what = {
        "pin": f"pinned at {rule.position}",
        "boost": f"boosted ×{1 + rule.weight:g}",
        "bury": f"buried ÷{1 + rule.weight:g}",
        "hide": "hidden",
    }[rule.action]
    return f"rule #{rule.pk}: {what} ({rule.get_match_display()} {rule.query!r})"


def merchandised(search_products):
    """Wrap search.search_products with the synonyms and rules matching the query (see the module docstring)."""

    @functools.wraps(search_products)
    def wrapper(query, mode="hybrid", filters=None, page=1, page_size=None, **options):
        from . import search

        filters = filters if filters is not None else search.Filters()
        snap = snapshot()
        if not snap.synonyms and not snap.rules:
            return search_products(query, mode, filters, page, page_size, **options)
        normalized = normalize(query)
        added, matched = synonyms_for(normalized, snap), rules_for(normalized, snap)
        expanded = " ".join([query, *added]) if added else query
        explain = options.get("explain", False)
        if not matched:
            result = search_products(expanded, mode, filters, page, page_size, **options)
            if explain and added:
                for hit in result.hits:
                    hit.explain["synonyms"] = added
            return result
        size = page_size or int(setting("PAGE_SIZE"))
        offset = (page - 1) * size
        deep = search_products(
            expanded, mode, filters, 1, max(offset + size + 1, int(setting("CANDIDATES"))), **options
        )
        hits, notes = list(deep.hits), {}
        by_product = {rule.product_id: rule for rule in matched}
        hidden = {rule.product_id for rule in matched if rule.action == Rule.Action.HIDE}
        kept = [hit for hit in hits if hit.id not in hidden]
        removed = len(hits) - len(kept)
        for rule in matched:
            if rule.action == Rule.Action.HIDE:
                notes.setdefault(rule.product_id, []).append(_describe(rule))
        if options.get("sort", "relevance") == "relevance":
            factor = {
                rule.product_id: (1 + rule.weight) if rule.action == Rule.Action.BOOST else 1 / (1 + rule.weight)
                for rule in matched
                if rule.action in (Rule.Action.BOOST, Rule.Action.BURY)
            }
            for hit in kept:
                if hit.id in factor:
                    hit.score *= factor[hit.id]
                    notes.setdefault(hit.id, []).append(_describe(by_product[hit.id]))
            kept.sort(key=lambda hit: -hit.score)  # stable: ties keep their order
        added_hits = 0
        for rule in (r for r in matched if r.action == Rule.Action.PIN and r.product_id not in hidden):
            present = next((hit for hit in kept if hit.id == rule.product_id), None)
            if present is not None:
                kept.remove(present)
            else:
                present = _pinned_hit(
                    rule.product_id,
                    filters,
                    options.get("collection"),
                    expanded if options.get("highlight", True) else None,
                )
                if present is None:
                    continue  # not indexed, or the filters exclude it
                added_hits += 1
                if explain:
                    present.explain = {}
            kept.insert(max(0, (rule.position or 1) - 1), present)
            notes.setdefault(rule.product_id, []).append(_describe(rule))
        if explain:
            for hit in kept:
                if hit.id in notes:
                    hit.explain["rules"] = notes[hit.id]
                if added:
                    hit.explain["synonyms"] = added
        return dataclasses.replace(  # the rest of the page (space, facets, match...) is the deep search's
            deep,
            hits=kept[offset : offset + size],
            page=page,
            page_size=size,
            has_next=len(kept) > offset + size,
            total=None if deep.total is None else deep.total - removed + added_hits,
        )

    return wrapper


def _pinned_hit(product_id: str, filters, collection: str | None, highlight_query: str | None):
    """The hit for a pinned product the search did not retrieve, if it is indexed and passes the filters."""
    from django.db import connection

    from . import search
    from .models import SHOP_COLLECTION

    document = Document.objects.filter(
        collection=collection or SHOP_COLLECTION, kind="product", object_id=product_id
    ).first()
    if document is None:
        return None
    where, params = search.filter_sql(filters)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM shopsearch_document d WHERE d.id = %s{where}", [document.pk, *params])
        if cursor.fetchone() is None:
            return None
    hits = search._hits([(document.pk, 0.0)], highlight_query)
    return hits[0] if hits else None
