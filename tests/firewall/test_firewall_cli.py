"""The firewall lint through the command line, as a user runs it: exit codes and SARIF."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

FIXTURES = Path(__file__).parent.parent / "fixtures" / "firewall"


def _root(tmp_path: Path, files: dict[str, str], manifest: str) -> Path:
    root = tmp_path / "repo"
    for rel_path, src in files.items():
        dst = root / rel_path
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(FIXTURES / src, dst)
    (root / "imap-gate.yml").write_text(manifest)
    return root


def test_open_imap_fails_the_gate_with_sarif_at_the_rule(tmp_path: Path,
                                                        run_cli: Callable[..., object]) -> None:
    root = _root(tmp_path, {"deploy/rules.v4": "ipt_open.v4", "deploy/zone.xml": "fwd_rich.xml"},
                 "version: 1\nconfigs:\n  firewall:\n    - deploy/rules.v4\n"
                 "    - {path: deploy/zone.xml, format: firewalld-zone}\n")
    res = run_cli("--root", str(root), "--only", "lint")
    assert res.code == 1, res.stderr
    results = res.sarif["runs"][0]["results"]
    by_rule = {r["ruleId"]: r for r in results}
    assert set(by_rule) == {"FW001", "FW005"}
    loc = by_rule["FW001"]["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "deploy/rules.v4"
    assert loc["region"]["startLine"] == 9
    rules = {r["id"] for r in res.sarif["runs"][0]["tool"]["driver"]["rules"]}
    assert {"FW001", "FW002", "FW003", "FW004", "FW005", "FW006"} <= rules


def test_restricted_imap_passes_and_notes_imaps(tmp_path: Path,
                                               run_cli: Callable[..., object]) -> None:
    root = _root(tmp_path, {"fw/rules.v4": "pair/rules.v4", "fw/nft.conf": "nft_inet_restricted.nft"},
                 "version: 1\nconfigs:\n  firewall: [fw/rules.v4, fw/nft.conf]\n")
    res = run_cli("--root", str(root), "--only", "lint")
    assert res.code == 0, (res.stdout, res.stderr)
    assert {r["ruleId"] for r in res.sarif["runs"][0]["results"]} == {"FW005"}


def test_unparseable_firewall_file_fails_closed(tmp_path: Path,
                                               run_cli: Callable[..., object]) -> None:
    root = _root(tmp_path, {"fw/rules.nft": "nft_bad_syntax.nft"},
                 "version: 1\nconfigs:\n  firewall: [fw/rules.nft]\n")
    res = run_cli("--root", str(root), "--only", "lint")
    assert res.code == 1
    assert {r["ruleId"] for r in res.sarif["runs"][0]["results"]} == {"FW006"}
