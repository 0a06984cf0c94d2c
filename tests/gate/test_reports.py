"""Reports are views over one findings list: valid, deterministic, stable fingerprints."""

from __future__ import annotations

import json

import pytest

from imap_gate.findings import Finding, Location, sort_findings
from imap_gate.policy import decide
from imap_gate.reports import json_report, sarif, text
from imap_gate.severity import Severity, parse_fail_on
from tests.support.sarif_check import assert_valid_sarif, github_errors


def lint(line: int, sev: Severity | None = None, path: str = "deploy/dovecot.conf",
         rule: str = "POL001") -> Finding:
    return Finding(rule, "Cleartext authentication is allowed. More words.",
                   Location(path, line, 3), severity=sev, key=f"file={path};setting=x",
                   evidence="disable_plaintext_auth = no")


def live(port: int, line: int = 4) -> Finding:
    return Finding("POL002", f"Port {port} answers.", Location("imap-gate.yml", line, 11),
                   target="mail", host="192.0.2.1", port=port)


def test_severity_mapping_follows_github() -> None:
    assert Severity.CRITICAL.security_severity == "9.5"
    assert Severity.HIGH.security_severity == "8.0"
    assert Severity.MEDIUM.security_severity == "5.5"
    assert Severity.LOW.security_severity == "2.0"
    assert [s.sarif_level for s in Severity] == ["note", "note", "warning", "error", "error"]
    assert parse_fail_on("never") is None
    with pytest.raises(ValueError):
        parse_fail_on("severe")


def test_fingerprint_ignores_line_moves_but_not_identity() -> None:
    assert lint(3).fingerprint == lint(40).fingerprint
    assert live(143, 4).fingerprint == live(143, 90).fingerprint
    assert live(143).fingerprint != live(993).fingerprint
    assert lint(3).fingerprint != lint(3, rule="POL002").fingerprint


def test_finding_severity_defaults_to_rule_and_can_be_raised() -> None:
    assert lint(1).sev == Severity.LOW
    assert lint(1, Severity.CRITICAL).sev == Severity.CRITICAL


def test_evidence_is_capped() -> None:
    f = Finding("POL001", "x.", Location("a", 1), evidence="A" * 100_000)
    assert len(f.evidence) < 5000


def test_sarif_result_shape() -> None:
    findings = sort_findings([lint(7, Severity.HIGH), live(143)])
    doc = sarif.build(findings, "imap-gate/prod/", {"executionSuccessful": True})
    assert_valid_sarif(doc)
    results = doc["runs"][0]["results"]
    first = results[0]
    assert first["level"] == "error"
    assert first["properties"]["security-severity"] == "8.0"
    assert first["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "deploy/dovecot.conf"}, "region": {"startLine": 7, "startColumn": 3}}
    assert results[1]["properties"]["port"] == 143
    assert doc["runs"][0]["automationDetails"]["id"] == "imap-gate/prod/"


def test_github_checks_catch_what_the_schema_allows() -> None:
    doc = sarif.build([lint(2)], "imap-gate/x/")
    doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] = \
        "file:///etc/dovecot.conf"
    doc["runs"][0]["results"][0]["ruleId"] = "NOPE001"
    errs = github_errors(doc)
    assert any("not relative" in e for e in errs)
    assert any("not in rules" in e for e in errs)


def test_sarif_truncates_at_githubs_limit() -> None:
    many = [Finding("POL002", f"Unused {i}.", Location("imap-gate.yml", i + 1), key=str(i))
            for i in range(25_010)]
    doc = sarif.build(many, "imap-gate/x/")
    run = doc["runs"][0]
    assert len(run["results"]) == 25_000
    assert run["properties"] == {"truncated": True, "totalResults": 25_010}


def test_reports_are_deterministic_whatever_the_input_order() -> None:
    a = [lint(7, Severity.HIGH), live(993), live(143), lint(2)]
    b = list(reversed(a))
    one, two = sort_findings(a), sort_findings(b)
    assert sarif.dumps(sarif.build(one, "imap-gate/x/")) == sarif.dumps(sarif.build(two, "imap-gate/x/"))
    v = decide(one, Severity.MEDIUM)
    assert json_report.dumps(json_report.build(one, v, {}, {})) == \
        json_report.dumps(json_report.build(two, decide(two, Severity.MEDIUM), {}, {}))


def test_json_report_shape_and_timings_moved_out() -> None:
    findings = sort_findings([lint(7, Severity.HIGH), live(143).with_waiver("legacy until March")])
    v = decide(findings, Severity.MEDIUM)
    facts = {"mail:143": {"greeting": "* OK", "timings": {"connect_ms": 1.5}}}
    doc = json.loads(json_report.dumps(json_report.build(findings, v, facts, {"exitCode": 1})))
    assert doc["schema_version"] == 1
    assert doc["gate"] == "fail" and doc["max_severity"] == "high"
    assert doc["endpoints"] == {"mail:143": {"greeting": "* OK"}}
    assert doc["invocation"]["timings"] == {"mail:143": {"timings": {"connect_ms": 1.5}}}
    f0 = doc["findings"][0]
    assert set(f0) >= {"rule_id", "rule_name", "severity", "message", "target", "host", "port",
                       "path", "line", "evidence"}
    assert doc["findings"][1]["waived"] is True
    assert doc["findings"][1]["waiver_reason"] == "legacy until March"
    assert doc["counts"]["waived"] == 1


def test_policy_threshold() -> None:
    findings = [lint(1, Severity.LOW), lint(2, Severity.MEDIUM, path="b")]
    assert decide(findings, Severity.MEDIUM).gate == "fail"
    assert decide(findings, Severity.HIGH).gate == "pass"
    assert decide(findings, None).gate == "pass"
    assert decide(findings, Severity.HIGH).max_severity == Severity.MEDIUM
    waived = [f.with_waiver("ok") for f in findings]
    assert decide(waived, Severity.NOTE).gate == "pass"
    assert decide(waived, Severity.NOTE).max_severity is None


def test_text_and_markdown_views() -> None:
    findings = sort_findings([lint(7, Severity.HIGH), live(143)])
    v = decide(findings, Severity.MEDIUM)
    out = text.render_text(findings, v)
    assert "deploy/dovecot.conf:7:3: HIGH POL001 waiver-expired: Cleartext" in out
    assert out.strip().endswith("imap-gate: gate FAILED (fail-on medium): 1 high, 1 note")
    md = text.render_markdown(findings, v)
    assert md.startswith("## ❌ imap-gate: gate fail")
    assert "| high | `POL001` waiver-expired |" in md
    assert text.render_text(findings, v, quiet=True).count("\n") == 1
