"""The command line as users run it: exit codes, reports written, determinism."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import REPO

EXAMPLES = REPO / "examples"


def test_secure_example_passes(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("--root", str(EXAMPLES / "secure"))
    assert r.code == 0, r.stdout + r.stderr
    assert "gate passed" in r.stdout
    counted = [f for f in r.json["findings"] if not f["waived"]
               and f["severity"] in ("critical", "high", "medium")]
    assert counted == []


def test_insecure_example_fails_with_findings(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("--root", str(EXAMPLES / "insecure"))
    assert r.code == 1, r.stdout + r.stderr
    assert "gate FAILED" in r.stdout
    assert r.sarif["runs"][0]["results"]
    assert r.json["gate"] == "fail"
    paths = {f["path"] for f in r.json["findings"]}
    assert "deploy/dovecot/dovecot.conf" in paths
    assert "deploy/firewall/rules.v4" in paths


def test_fail_on_never_and_threshold_flag_wins(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("--root", str(EXAMPLES / "insecure"), "--fail-on", "never")
    assert r.code == 0
    assert r.json["fail_on"] == "never"


def test_broken_manifest_exits_2_with_line(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "imap-gate.yml").write_text("version: 1\ntargets:\n  - name: a\n    host: x\n"
                                            "    ports: [70000]\n")
    r = run_cli("--root", str(tmp_path))
    assert r.code == 2
    assert r.stderr.strip() == ("imap-gate: imap-gate.yml:5:13: targets[0].ports[0]: "
                                "70000 is not a valid port (1-65535)")
    # a SARIF that carries the error, never none (tests/gate/test_error_reports.py, issue 17)
    assert r.sarif["runs"][0]["invocations"][0]["executionSuccessful"] is False


def test_same_inputs_give_identical_reports(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    outs = []
    for n in range(2):
        sarif, js = tmp_path / f"{n}.sarif", tmp_path / f"{n}.json"
        r = run_cli("--root", str(EXAMPLES / "insecure"), "--only", "lint", "--sarif", str(sarif),
                    "--json", str(js), env=env)
        assert r.code == 1
        outs.append((sarif.read_bytes().replace(str(sarif).encode(), b"X").replace(
            str(js).encode(), b"Y"), js.read_bytes().replace(str(sarif).encode(), b"X").replace(
            str(js).encode(), b"Y")))
    assert outs[0] == outs[1]


def test_markdown_format(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("--root", str(EXAMPLES / "insecure"), "--only", "lint", "--format", "markdown")
    assert r.stdout.startswith("## ❌ imap-gate: gate fail")


def test_unwritable_report_path_is_exit_2(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = run_cli("--root", str(EXAMPLES / "secure"), "--only", "lint",
                "--sarif", str(blocker / "out.sarif"))
    assert r.code == 2
    assert "cannot write the report" in r.stderr


def test_version(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("--version")
    assert r.code == 0 and r.stdout.startswith("imap-gate ")
