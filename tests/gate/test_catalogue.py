"""The rule catalogue is the one source of truth: complete, unique, and the docs follow it."""

from __future__ import annotations

import re

import pytest

from imap_gate import catalogue, docs
from imap_gate.reports import sarif
from tests.support.sarif_check import assert_valid_sarif

RULES = list(catalogue.catalogue().values())


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_rule_is_complete(rule) -> None:  # type: ignore[no-untyped-def]
    assert re.fullmatch(r"[A-Z]{2,5}\d{3}", rule.id)
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.name)
    assert rule.short.strip().endswith(".")
    assert len(rule.full) > len(rule.short) // 2
    assert rule.remediation.strip()
    assert rule.kind in {"probe", "lint", "policy", "correlation"}
    assert rule.precision in {"very-high", "high", "medium", "low"}
    for ref in rule.references:
        assert ref.startswith("https://"), ref


def test_ids_and_names_resolve_both_ways() -> None:
    for rule in RULES:
        assert catalogue.resolve(rule.id) is rule
        assert catalogue.resolve(rule.id.lower()) is rule
        assert catalogue.resolve(rule.name) is rule
    assert catalogue.resolve("no-such-rule") is None


def test_readme_and_rule_docs_are_generated_from_the_catalogue() -> None:
    assert docs.main([]) == 0, "run: python -m imap_gate.docs --write"
    table = docs.rule_table()
    for rule in RULES:
        assert f"`{rule.id}`" in table and f"`{rule.name}`" in table


def test_sarif_rules_come_from_the_catalogue() -> None:
    doc = sarif.build([], "imap-gate/x/")
    assert_valid_sarif(doc)
    descriptors = doc["runs"][0]["tool"]["driver"]["rules"]
    assert [d["id"] for d in descriptors] == [r.id for r in RULES]
    for d, r in zip(descriptors, RULES, strict=True):
        assert d["name"] == r.name
        assert d["shortDescription"]["text"] == r.short
        assert d["properties"]["security-severity"] == r.severity.security_severity
