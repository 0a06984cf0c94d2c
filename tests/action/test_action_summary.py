"""The job summary: verdict, counts, endpoint matrix, findings with rule links, waived
findings, and GitHub's 1 MiB limit whatever the size of the run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from imap_gate import INFORMATION_URI
from imap_gate.cli import RunResult
from imap_gate.findings import Finding, Location, sort_findings
from imap_gate.github import summary
from imap_gate.manifest import load_manifest
from imap_gate.policy import decide
from imap_gate.severity import Severity

NOW = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC)
MANIFEST = """\
version: 1
name: lab
targets:
  - name: mx
    host: 127.0.0.1
    ports: [143, 993]
  - name: legacy
    host: 127.0.0.2
    ports: [143]
"""


def result(tmp_path: Path, findings: list[Finding], facts: dict | None = None,
           errors: list[str] | None = None) -> RunResult:
    (tmp_path / "imap-gate.yml").write_text(MANIFEST)
    manifest = load_manifest(tmp_path, tmp_path / "imap-gate.yml")
    fs = sort_findings(findings)
    return RunResult(manifest, fs, decide(fs, Severity.MEDIUM), facts or {}, errors or [],
                     NOW, NOW)


def live(sev: Severity, n: int, target: str = "mx", port: int = 143, msg: str = "plain login") -> Finding:
    return Finding("POL001", f"{msg} {n}", Location("imap-gate.yml", 5), severity=sev,
                   target=target, host="127.0.0.1", port=port, key=f"t={target};p={port};n={n}")


def test_verdict_counts_links_and_waived(tmp_path: Path) -> None:
    fs = [live(Severity.HIGH, 1), live(Severity.LOW, 2, port=993),
          Finding("POL002", "unused | waiver", Location("deploy/d.conf", 3), severity=Severity.MEDIUM),
          live(Severity.CRITICAL, 3, target="legacy").with_waiver("scanners on the floor until March")]
    md = summary.render(result(tmp_path, fs))
    assert md.startswith("## ❌ imap-gate: gate fail")
    assert "| critical | high | medium | low | note | waived |" in md
    assert "| 0 | 1 | 1 | 1 | 0 | 1 |" in md
    assert "findings at or above it: **2**" in md
    assert f"[`POL001`]({INFORMATION_URI}/blob/main/docs/rules.md#pol001)" in md
    assert "unused \\| waiver" in md  # a pipe in a message cannot break the table
    assert "### Waived" in md and "scanners on the floor until March" in md
    assert len(md.encode()) < summary.CAP_BYTES


def test_matrix_reads_the_probe_facts(tmp_path: Path) -> None:
    tls = {"versions_accepted": ["TLSv1.0", "TLSv1.3"],
           "suites": {"chosen": {"TLSv1.0": "TLS_RSA_WITH_AES_128_CBC_SHA"},
                      "3des": "TLS_RSA_WITH_3DES_EDE_CBC_SHA", "forward_secrecy": None},
           "certificate": {"days_left": 10}}
    facts = {
        "mx:143": {"protocol": "imap", "connect": "open", "starttls": "ok",
                   "caps_before_tls": ["IMAP4REV1", "STARTTLS", "LOGINDISABLED"],
                   "injection": "vulnerable",
                   "tls": {"versions_accepted": ["TLSv1.2", "TLSv1.3"]}},
        "mx:993": {"protocol": "imaps", "connect": "open", "implicit_tls": "ok", "tls": tls},
        "legacy:143": {"protocol": "imap", "connect": "refused"},
        "ghost:25": {"connect": "open"},  # facts for an endpoint the manifest does not list
    }
    md = summary.render(result(tmp_path, [live(Severity.HIGH, 1)], facts))
    rows = {ln.split(" | ")[0] + "|" + ln.split(" | ")[1]: ln
            for ln in md.splitlines() if (ln.startswith("| ") and "(" in ln.split(" | ")[0])
            or ln.startswith("| ghost")}
    mx143 = rows["| mx (127.0.0.1)|143"]
    assert "| yes | yes | refused | vulnerable ⚠️ | TLSv1.2, TLSv1.3 | — | — | 1 |" in mx143
    mx993 = rows["| mx (127.0.0.1)|993"]
    assert "| yes | implicit TLS | TLS only | — | TLSv1.0, TLSv1.3 ⚠️ |" in mx993
    assert "TLS_RSA_WITH_3DES_EDE_CBC_SHA (3DES) ⚠️ | 10 ⚠️ |" in mx993
    assert "| refused | — | — | — | — | — | — | 0 |" in rows["| legacy (127.0.0.2)|143"]
    assert rows["| ghost|25"].startswith("| ghost | 25 | yes |")


def test_cleartext_column_follows_imap004(tmp_path: Path) -> None:
    from imap_gate.findings import Finding, Location

    f = Finding("IMAP004", "accepts AUTHENTICATE PLAIN.", Location("imap-gate.yml", 3),
                target="mx", host="127.0.0.1", port=143)
    facts = {"mx:143": {"protocol": "imap", "connect": "open", "starttls": "not-offered"}}
    md = summary.render(result(tmp_path, [f], facts))
    row = next(ln for ln in md.splitlines() if ln.startswith("| mx (127.0.0.1) | 143"))
    assert "| yes | no ⚠️ | allowed ⚠️ |" in row


def test_matrix_without_any_facts_shows_dashes(tmp_path: Path) -> None:
    md = summary.render(result(tmp_path, []))
    assert md.startswith("## ✅ imap-gate: gate pass")
    rows = [ln for ln in md.splitlines() if ln.startswith("| mx") or ln.startswith("| legacy")]
    assert len(rows) == 3
    assert all(ln.count("—") == 7 for ln in rows)


def test_hostile_fact_values_cannot_break_the_table(tmp_path: Path) -> None:
    facts = {"mx:993": {"connect": "open", "protocol": "imaps",
                        "tls": {"suites": {"3des": "A|B\n## injected <script>"},
                                "certificate": {"days_left": "x" * 5000}}},
             "mx:143": "not a mapping", "legacy:143": {"tls": {"versions_accepted": 12},
                                                        "injection": ["odd"]},
             "noport": {"connect": "open"}}
    md = summary.render(result(tmp_path, [], facts))
    row = next(ln for ln in md.splitlines() if ln.startswith("| mx (127.0.0.1) | 993"))
    assert row.count(" | ") == 9
    assert "A\\|B ## injected &lt;script&gt;" in row and "\n## injected" not in md
    assert len(row) < 600
    assert "| mx (127.0.0.1) | 143 | — | — | — | — | — | — | — | 0 |" in md
    assert "| legacy (127.0.0.2) | 143 | — | — | — | odd | 12 | — | — | 0 |" in md


def test_capped_under_one_mebibyte_for_a_huge_run(tmp_path: Path) -> None:
    fs = [live(Severity.HIGH if i % 2 else Severity.LOW, i, msg="m" * 300) for i in range(25_000)]
    fs += [live(Severity.MEDIUM, 10**6 + i, target="legacy", msg="w" * 200).with_waiver("r" * 100)
           for i in range(3000)]
    md = summary.render(result(tmp_path, fs, errors=["boom " * 10] * 100))
    size = len(md.encode("utf-8"))
    assert summary.CAP_BYTES - 20_000 < size <= summary.CAP_BYTES <= 1024 * 1024
    assert "more row(s) left out" in md
    # the fixed parts survive: verdict, counts, matrix, tool errors
    assert md.startswith("## ⚠️ imap-gate: gate error") and "| 0 | 12500 | 0 | 12500 | 0 | 3000 |" in md
    assert "### Endpoints" in md and "tool errors (exit 2)" in md
    # most severe rows are the ones kept
    first_row = next(ln for ln in md.splitlines() if ln.startswith("| high |"))
    assert first_row


def test_cap_holds_even_when_fixed_lines_overflow() -> None:
    lines = ["x" * 1000] * 3000
    out = summary.budget(lines, 100_000)
    assert len(out.encode()) <= 100_000 and out.endswith("1 MiB limit.*\n")


def test_error_summary() -> None:
    md = summary.render_error(["imap-gate.yml:3:5: targets[0].host: ```bad```"])
    assert md.startswith("## ⚠️ imap-gate: tool error")
    assert "imap-gate.yml:3:5" in md and "```bad```" not in md


# ---------------------------------------------------------------- issue 17

def _row(md: str, port: int) -> str:
    return next(ln for ln in md.splitlines() if ln.startswith(f"| mx (127.0.0.1) | {port} |"))


def test_the_worst_problems_are_marked(tmp_path: Path) -> None:
    """A NULL cipher, an expired certificate and PREAUTH are the worst a row can show."""
    facts = {
        "mx:993": {"protocol": "imaps", "connect": "open", "implicit_tls": "ok",
                   "tls": {"versions_accepted": ["TLSv1.0", "TLSv1.2"],
                           "suites": {"null_anon_export":
                                      "ServerHello version=TLSv1.0 cipher=TLS_RSA_WITH_NULL_MD5",
                                      "forward_secrecy": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"},
                           "certificate": {"days_left": -2163}}},
        "mx:143": {"protocol": "imap", "connect": "open", "greeting_status": "PREAUTH"},
    }
    md = summary.render(result(tmp_path, [], facts))
    row = _row(md, 993)
    # the suite and its category, not the raw ServerHello evidence
    assert "| TLS_RSA_WITH_NULL_MD5 (NULL/anonymous/export) ❌ |" in row
    assert "ServerHello" not in row
    assert "| expired 2163 days ago ❌ |" in row
    assert "PREAUTH" in _row(md, 143) and "❌" in _row(md, 143)


def test_an_endpoint_that_could_not_be_judged_says_so(tmp_path: Path) -> None:
    facts = {"mx:143": {"protocol": "imap", "connect": "open", "problems": [
        {"phase": "greeting", "reason": "no greeting within 3 s", "evidence": ""}]},
        "mx:993": {"protocol": "imaps", "connect": "open", "implicit_tls": "ok",
                   "tls": {"incomplete": "the server hung up on all 9 hellos"}}}
    md = summary.render(result(tmp_path, [], facts))
    assert "| not judged ⚠️ (greeting: no greeting within 3 s) |" in _row(md, 143)
    assert "not judged ⚠️ (tls-assessment: the server hung up on all 9 hellos)" in _row(md, 993)
    assert "| yes |" not in _row(md, 143)


def test_one_heading_and_file_links_to_the_commit(tmp_path: Path) -> None:
    fs = [Finding("POL002", "unused", Location("infra/deploy/d.conf", 3), severity=Severity.MEDIUM)]
    blob = summary.blob_base({"GITHUB_SERVER_URL": "https://ghe.example", "GITHUB_REPOSITORY": "o/r",
                              "GITHUB_SHA": "c" * 40})
    md = summary.render(result(tmp_path, fs), blob=blob)
    assert md.count("gate fail") == 1 and "FAILED" not in md
    assert (f"[`infra/deploy/d.conf:3`](https://ghe.example/o/r/blob/{'c' * 40}/infra/deploy/d.conf#L3)"
            in md)
    assert summary.blob_base({}) is None
    assert "](" not in summary.where_cell(fs[0], None)
