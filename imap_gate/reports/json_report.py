"""The JSON report: a documented, versioned shape (``schema_version`` 1).

Everything that depends on the clock sits under ``invocation``; the rest is a
pure function of the findings and facts, so equal inputs give equal bytes.
"""

from __future__ import annotations

import json
from typing import Any

from imap_gate import __version__
from imap_gate.findings import Finding
from imap_gate.policy import GateVerdict

SCHEMA_VERSION = 1
TIMING_KEYS = ("timings",)


def finding_dict(f: Finding) -> dict[str, Any]:
    out: dict[str, Any] = {
        "rule_id": f.rule_id,
        "rule_name": f.rule.name,
        "severity": f.sev.label,
        "message": f.message,
        "target": f.target,
        "host": f.host,
        "port": f.port,
        "path": f.location.path,
        "line": f.location.line,
        "column": f.location.column,
        "evidence": f.evidence,
        "fingerprint": f.fingerprint,
        "waived": f.waived,
        "baselined": f.baselined,
    }
    if f.waived:
        out["waiver_reason"] = f.waiver_reason
    if f.related:
        out["related"] = [{"path": r.path, "line": r.line, "message": r.message}
                          for r in f.related]
    return out


def split_timings(facts: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Facts without their clock-dependent parts, and those parts on their own."""
    clean: dict[str, Any] = {}
    timings: dict[str, Any] = {}
    for key, value in facts.items():
        clean[key] = {k: v for k, v in value.items() if k not in TIMING_KEYS}
        got = {k: v for k, v in value.items() if k in TIMING_KEYS}
        if got:
            timings[key] = got
    return clean, timings


def build(findings: list[Finding], verdict: GateVerdict, facts: dict[str, dict[str, Any]],
          invocation: dict[str, Any]) -> dict[str, Any]:
    clean, timings = split_timings(facts)
    inv = dict(invocation)
    if timings:
        inv["timings"] = timings
    # a run with tool errors exits 2: its report says "error", never pass or fail (issue 17)
    errors = [n["message"]["text"] for n in inv.get("toolExecutionNotifications") or []]
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "imap-gate", "version": __version__},
        "gate": "error" if inv.get("executionSuccessful") is False else verdict.gate,
        "errors": errors,
        "fail_on": verdict.threshold.label if verdict.threshold else "never",
        "max_severity": verdict.max_severity.label if verdict.max_severity else None,
        "counts": _counts(findings),
        "findings": [finding_dict(f) for f in findings],
        "endpoints": clean,
        "invocation": inv,
    }


def _counts(findings: list[Finding]) -> dict[str, int]:
    out = {s: 0 for s in ("critical", "high", "medium", "low", "note", "waived", "baselined")}
    for f in findings:
        out["waived" if f.waived else "baselined" if f.baselined else f.sev.label] += 1
    return out


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"
