"""Every SARIF we write is checked twice: against the official OASIS schema
(vendored in schemas/), and against what GitHub code scanning additionally wants."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "sarif-schema-2.1.0.json"


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft4Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())


def schema_errors(doc: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in _validator().iter_errors(doc)]


def github_errors(doc: dict[str, Any]) -> list[str]:
    errs: list[str] = []
    runs = doc.get("runs", [])
    if len(runs) != 1:
        errs.append(f"expected exactly one run, got {len(runs)}")
    for run in runs:
        rules = run["tool"]["driver"].get("rules", [])
        ids = [r["id"] for r in rules]
        for r in rules:
            for k in ("shortDescription", "fullDescription"):
                if not r.get(k, {}).get("text", "").strip():
                    errs.append(f"rule {r['id']}: empty {k}")
            if not r.get("help", {}).get("text", "").strip() or not r["help"].get("markdown"):
                errs.append(f"rule {r['id']}: empty help")
            props = r.get("properties", {})
            if "security" not in props.get("tags", []):
                errs.append(f"rule {r['id']}: no security tag")
            if not isinstance(props.get("security-severity"), str):
                errs.append(f"rule {r['id']}: security-severity must be a string")
        aid = run.get("automationDetails", {}).get("id", "")
        if not aid.startswith("imap-gate/") or not aid.endswith("/"):
            errs.append(f"automationDetails.id {aid!r} is not imap-gate/<name>/")
        results = run.get("results", [])
        if len(results) > 25000:
            errs.append("more than 25,000 results")
        for n, res in enumerate(results):
            if res["ruleId"] not in ids:
                errs.append(f"result {n}: ruleId {res['ruleId']} not in rules")
            if "ruleIndex" in res and ids[res["ruleIndex"]] != res["ruleId"]:
                errs.append(f"result {n}: ruleIndex does not point at its rule")
            if not res.get("partialFingerprints", {}).get("primaryLocationLineHash"):
                errs.append(f"result {n}: no primaryLocationLineHash")
            locs = res.get("locations", []) + res.get("relatedLocations", [])
            if not res.get("locations"):
                errs.append(f"result {n}: no location")
            for loc in locs:
                pl = loc["physicalLocation"]
                uri = pl["artifactLocation"]["uri"]
                if uri.startswith(("/", "file:")) or "://" in uri or not uri:
                    errs.append(f"result {n}: uri {uri!r} is not relative to the root")
                if "uriBaseId" in pl["artifactLocation"]:
                    errs.append(f"result {n}: relies on uriBaseId")
                if pl.get("region", {}).get("startLine", 0) < 1:
                    errs.append(f"result {n}: startLine < 1")
    return errs


def assert_valid_sarif(doc: dict[str, Any]) -> None:
    errs = schema_errors(doc) + github_errors(doc)
    assert not errs, "invalid SARIF:\n" + "\n".join(errs[:20])
