"""SARIF 2.1.0 as GitHub code scanning accepts it.

Beyond the OASIS schema, GitHub wants relative URIs, ``startLine >= 1``,
every ``ruleId`` in ``rules``, non-empty descriptions, our own
``partialFingerprints`` and ``automationDetails.id``. Output is deterministic:
the same findings give the same bytes; time lives only in ``invocations``.
"""

from __future__ import annotations

import json
from typing import Any

from imap_gate import INFORMATION_URI, TOOL_NAME, __version__, catalogue
from imap_gate.findings import Finding, Location
from imap_gate.rules import Rule, doc_url

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
MAX_RESULTS = 25_000
MAX_RELATED = 1000


def rule_descriptor(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.short},
        "fullDescription": {"text": rule.full},
        "help": {"text": rule.help_text, "markdown": rule.help_markdown},
        "helpUri": doc_url(rule.id),
        "defaultConfiguration": {"level": rule.severity.sarif_level},
        "properties": {
            "tags": ["security", "imap", rule.kind],
            "precision": rule.precision,
            "security-severity": rule.severity.security_severity,
            "problem.severity": rule.severity.sarif_level
            if rule.severity.sarif_level != "note" else "recommendation",
        },
    }


def _physical(loc: Location) -> dict[str, Any]:
    region: dict[str, Any] = {"startLine": max(1, loc.line)}
    if loc.column:
        region["startColumn"] = loc.column
    return {"artifactLocation": {"uri": loc.path.lstrip("/")}, "region": region}


def _result(f: Finding, rule_index: int) -> dict[str, Any]:
    sev = f.sev
    res: dict[str, Any] = {
        "ruleId": f.rule_id,
        "ruleIndex": rule_index,
        "level": sev.sarif_level,
        "message": {"text": f.message},
        "locations": [{"physicalLocation": _physical(f.location)}],
        "partialFingerprints": {"primaryLocationLineHash": f.fingerprint,
                                "imapGateFingerprint/v1": f.fingerprint},
        "properties": {"severity": sev.label, "security-severity": sev.security_severity},
    }
    if f.related:
        res["relatedLocations"] = [
            {"id": i, "physicalLocation": _physical(r),
             **({"message": {"text": r.message}} if r.message else {})}
            for i, r in enumerate(f.related[:MAX_RELATED])]
    props = res["properties"]
    for key in ("target", "host", "port"):
        value = getattr(f, key)
        if value is not None:
            props[key] = value
    if f.evidence:
        props["evidence"] = f.evidence
    return res


def build(findings: list[Finding], category: str, invocation: dict[str, Any] | None = None,
          all_rules: bool = True) -> dict[str, Any]:
    """``findings`` must already be sorted; waived findings are left out by the caller."""
    rules = list(catalogue.catalogue().values())
    if not all_rules:
        used = {f.rule_id for f in findings}
        rules = [r for r in rules if r.id in used]
    index = {r.id: i for i, r in enumerate(rules)}
    results = [_result(f, index[f.rule_id]) for f in findings[:MAX_RESULTS]]
    run: dict[str, Any] = {
        "tool": {"driver": {
            "name": TOOL_NAME,
            "version": __version__,
            "semanticVersion": __version__,
            "informationUri": INFORMATION_URI,
            "rules": [rule_descriptor(r) for r in rules],
        }},
        "automationDetails": {"id": category},
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    if len(findings) > MAX_RESULTS:
        run["properties"] = {"truncated": True, "totalResults": len(findings)}
    if invocation is not None:
        run["invocations"] = [invocation]
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
