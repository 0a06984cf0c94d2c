"""The shared real-world corpus: every firewall file lints, and what the tools reject is FW006."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from checks.firewall.check import RootReader, lint_text
from checks.firewall.iptables_save import guess_family
from checks.firewall.judge import judge

FIREWALL_FORMATS = {"iptables-save", "iptables-script", "nftables", "ufw-rules", "ufw-script",
                    "firewalld-zone"}


def corpus_entries(corpus: Path) -> list[dict]:
    index = yaml.safe_load((corpus / "INDEX.yaml").read_text())
    return [e for e in index["files"] if e["format"] in FIREWALL_FORMATS]


def test_every_corpus_firewall_file_lints(corpus_dir: Path) -> None:
    entries = corpus_entries(corpus_dir)
    assert entries, "the corpus index lists no firewall files"
    reader = RootReader(corpus_dir)
    for e in entries:
        path = corpus_dir / e["local_file"]
        v = lint_text(path.read_text(errors="replace"), e["local_file"], None, reader)
        # The index files /etc/default/ufw under ufw-rules; it is ufw's settings file.
        same = v.format == e["format"] or (e["format"] == "ufw-rules" and v.format == "ufw-default")
        assert same, f"{e['local_file']}: detected {v.format}"
        findings = judge(v, [v])
        for f in findings:
            assert f.location.path == e["local_file"]
            assert f.key and f.message
        for fam in ("ipv4", "ipv6"):
            for port in (143, 993):
                assert v.exposure(port, fam).state in ("open-world", "restricted", "closed", "unknown")


def test_declared_format_wins_over_detection(corpus_dir: Path) -> None:
    for e in corpus_entries(corpus_dir):
        text = (corpus_dir / e["local_file"]).read_text(errors="replace")
        assert lint_text(text, e["local_file"], e["format"]).format == e["format"]


def test_corpus_files_the_real_tools_reject_give_fw006(corpus_dir: Path) -> None:
    if os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("iptables-restore"):
        pytest.skip("validating with iptables-restore/nft needs root and both tools")
    checked = 0
    for e in corpus_entries(corpus_dir):
        if e["format"] not in ("iptables-save", "nftables", "ufw-rules"):
            continue
        path = corpus_dir / e["local_file"]
        text = path.read_text(errors="replace")
        if lint_text(text, e["local_file"], None).format == "ufw-default":
            continue  # /etc/default/ufw, filed under ufw-rules: settings, not iptables text
        if e["format"] == "nftables":
            argv = ["nft", "-c", "-f", str(path)]
        else:
            tool = "iptables-restore" if guess_family(text, path.name) == "ipv4" else "ip6tables-restore"
            argv = [tool, "--test", str(path)]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if "Interface does not exist" in proc.stderr:
            continue  # valid rules naming a device this host lacks: not a syntax verdict
        checked += 1
        v = lint_text(text, e["local_file"], None, RootReader(corpus_dir))
        fw006 = [f for f in judge(v, [v]) if f.rule_id == "FW006"]
        if proc.returncode != 0:
            assert fw006, f"{argv[0]} rejects {e['local_file']}: {proc.stderr[:300]}"
    assert checked >= 5
