"""The real tools judge each iptables/nftables fixture; the linter must agree on what is broken.

A fixture that ``iptables-restore --test``, ``ip6tables-restore --test`` or ``nft -c -f``
rejects must give FW006; one they accept must not (no false parse errors).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from checks.firewall.iptables_save import guess_family
from checks.firewall.judge import judge
from tests.firewall.test_firewall_fixtures import fixture_files, lint_group, rel

pytestmark = pytest.mark.netns


def real_tool(path: Path, fmt: str) -> list[str] | None:
    text = path.read_text(errors="replace")
    if fmt in ("iptables-save", "ufw-rules"):
        tool = "iptables-restore" if guess_family(text, path.name) == "ipv4" else "ip6tables-restore"
        return [tool, "--test", str(path)]
    if fmt == "nftables":
        return ["nft", "-I", str(path.parent), "-c", "-f", str(path)]
    return None


def tool_verdict(argv: list[str]) -> bool:
    """True when the tool accepts the file; skips where the tool or the privilege is missing."""
    if shutil.which(argv[0]) is None:
        pytest.skip(f"{argv[0]} is not installed (apt-get install iptables nftables)")
    if os.geteuid() != 0:
        pytest.skip("the netfilter tools need root to validate rules")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if "Permission denied" in proc.stderr or "Operation not permitted" in proc.stderr:
        pytest.skip(f"{argv[0]} is not permitted here: {proc.stderr.strip()[:200]}")
    return proc.returncode == 0


def loadable_fixtures() -> list[Path]:
    out = []
    for p in fixture_files():
        v, _ = lint_group(p)
        if v.format in ("iptables-save", "nftables", "ufw-rules"):
            out.append(p)
    return out


@pytest.mark.parametrize("path", loadable_fixtures(), ids=rel)
def test_real_tool_and_linter_agree_on_validity(path: Path) -> None:
    verdict, peers = lint_group(path)
    argv = real_tool(path, verdict.format or "")
    assert argv is not None
    accepted = tool_verdict(argv)
    fw006 = [f for f in judge(verdict, peers) if f.rule_id == "FW006"]
    if accepted:
        assert not fw006, [f.message for f in fw006]
    else:
        assert fw006, f"{argv[0]} rejects {rel(path)} but the linter reports no FW006"


def test_fixture_set_covers_both_outcomes() -> None:
    formats = {lint_group(p)[0].format for p in loadable_fixtures()}
    assert formats == {"iptables-save", "nftables", "ufw-rules"}
    bad = [p for p in loadable_fixtures() if any(
        f.rule_id == "FW006" for f in judge(*lint_group(p)))]
    assert len(bad) >= 4
