"""Exit 2 (bad manifest, bad flag, tool error) with --sarif/--json: the reports are replaced by
ones that carry the error, and stdout agrees with the exit code (issue 17)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support.sarif_check import assert_valid_sarif

STALE = '{"runs": [{"results": ["from an earlier run"]}]}\n'
BAD_PORT = "version: 1\ntargets:\n  - name: a\n    host: x\n    ports: [70000]\n"
# 192.0.2.1 (TEST-NET-1) is never an address of this host: the probe cannot bind it
BAD_SOURCE = """\
version: 1
name: lab
defaults: {source_address: 192.0.2.1}
targets:
  - name: mail
    host: 127.0.0.1
    ports: [{port: 1, protocol: imap}]
"""


def run(tmp_path: Path, manifest: str, *extra: str) -> subprocess.CompletedProcess:
    (tmp_path / "imap-gate.yml").write_text(manifest)
    for name in ("out.sarif", "out.json"):
        (tmp_path / name).write_text(STALE)
    env = {"PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, str(REPO / "entrypoint.py"), "--root", str(tmp_path),
                           "--sarif", str(tmp_path / "out.sarif"), "--json",
                           str(tmp_path / "out.json"), *extra],
                          capture_output=True, text=True, env=env, timeout=60)


def reports(tmp_path: Path) -> tuple[dict, dict]:
    sarif = json.loads((tmp_path / "out.sarif").read_text())
    assert_valid_sarif(sarif)
    return sarif, json.loads((tmp_path / "out.json").read_text())


def assert_error_reports(tmp_path: Path, needle: str) -> None:
    sarif, doc = reports(tmp_path)
    run_, = sarif["runs"]
    inv, = run_["invocations"]
    assert inv["executionSuccessful"] is False and inv["exitCode"] == 2
    assert any(needle in n["message"]["text"] for n in inv["toolExecutionNotifications"])
    assert all(n["level"] == "error" for n in inv["toolExecutionNotifications"])
    assert doc["gate"] == "error" and any(needle in e for e in doc["errors"])
    assert doc["findings"] == [] or all("from an earlier run" not in str(f) for f in doc["findings"])


def test_bad_manifest_replaces_old_reports(tmp_path: Path) -> None:
    p = run(tmp_path, BAD_PORT)
    assert p.returncode == 2
    assert_error_reports(tmp_path, "70000 is not a valid port")
    assert sarif_results(tmp_path) == []
    assert p.stdout.startswith("imap-gate: gate ERROR (exit 2)")


def sarif_results(tmp_path: Path) -> list:
    return reports(tmp_path)[0]["runs"][0]["results"]


def test_bad_command_line_replaces_old_reports(tmp_path: Path) -> None:
    p = run(tmp_path, BAD_PORT, "--fail-on", "severe")
    assert p.returncode == 2 and "invalid choice" in p.stderr
    assert_error_reports(tmp_path, "bad command line")


def test_tool_error_exit_2_stdout_json_and_the_line_of_the_setting(tmp_path: Path) -> None:
    p = run(tmp_path, BAD_SOURCE)
    assert p.returncode == 2
    # stderr names the line of the setting (3), not the target's host: line (6)
    assert "imap-gate.yml:3:" in p.stderr and "imap-gate.yml:6" not in p.stderr
    assert "gate passed" not in p.stdout
    assert p.stdout.strip().splitlines()[-1].startswith("imap-gate: gate ERROR (exit 2")
    assert_error_reports(tmp_path, "source_address '192.0.2.1'")


def test_a_target_s_own_source_address_is_named_on_its_line(tmp_path: Path) -> None:
    manifest = BAD_SOURCE.replace("defaults: {source_address: 192.0.2.1}\n", "") + \
        "    source_address: 192.0.2.1\n"
    p = run(tmp_path, manifest)
    assert p.returncode == 2 and "imap-gate.yml:7:21:" in p.stderr, p.stderr


@pytest.mark.parametrize("where", ["out.sarif", "out.json"])
def test_an_unwritable_error_report_is_said_not_a_traceback(tmp_path: Path, where: str) -> None:
    (tmp_path / "imap-gate.yml").write_text(BAD_PORT)
    (tmp_path / "blocked").write_text("a file, not a directory")
    flag = "--sarif" if where.endswith("sarif") else "--json"
    p = subprocess.run([sys.executable, str(REPO / "entrypoint.py"), "--root", str(tmp_path),
                        flag, str(tmp_path / "blocked" / where)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "cannot write the report" in p.stderr
