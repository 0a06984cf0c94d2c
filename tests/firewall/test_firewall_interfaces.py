"""Accepts bound to an interface: the manifest says which interfaces face the internet.

Undeclared, a rule bound to ``eth1`` is judged as if eth1 faced the internet and the finding
says so and how to declare it; declared internal (or not among the declared public ones), the
rule lets in that interface's hosts only. ``lo`` never faces the internet.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from checks.firewall.check import lint_text
from checks.firewall.judge import judge
from checks.firewall.model import IfaceView

IPT = "*filter\n:INPUT DROP [0:0]\n-A INPUT -i lo -j ACCEPT\n-A INPUT -i eth1 -j ACCEPT\nCOMMIT\n"
NFT = ("table inet f {\n  chain input {\n    type filter hook input priority 0; policy drop;\n"
       '    iif "lo" accept\n    iifname "eth1" accept\n  }\n}\n')
ZONE = ('<?xml version="1.0" encoding="utf-8"?>\n<zone>\n  <interface name="eth1"/>\n'
        '  <service name="imap"/>\n  <service name="imaps"/>\n</zone>\n')
CASES = {"iptables-save": ("rules.v4", IPT), "nftables": ("rules.nft", NFT),
         "firewalld-zone": ("lan.xml", ZONE)}


@pytest.mark.parametrize("fmt", sorted(CASES))
def test_undeclared_interface_is_taken_as_internet_facing_and_the_finding_says_so(fmt: str) -> None:
    path, text = CASES[fmt]
    v = lint_text(text, path, fmt)
    assert v.exposure(143, "ipv4").state == "open-world"
    f143 = [f for f in judge(v, [v]) if f.rule_id in ("FW001", "FW002")]
    assert f143
    assert all("assumes interface eth1 faces the internet" in f.message and
               "internal_interfaces: [eth1]" in f.message for f in f143)


@pytest.mark.parametrize("fmt", sorted(CASES))
@pytest.mark.parametrize("view", [IfaceView(internal=("eth1",)), IfaceView(public=("eth0",)),
                                  IfaceView(internal=("eth+",))], ids=["internal", "public", "wildcard"])
def test_declared_internal_interface_restricts(fmt: str, view: IfaceView) -> None:
    path, text = CASES[fmt]
    v = lint_text(text, path, fmt, ifaces=view)
    assert v.exposure(143, "ipv4").state in ("restricted", "closed")
    assert [f.rule_id for f in judge(v, [v]) if f.rule_id in ("FW001", "FW002", "FW005")] == []


@pytest.mark.parametrize("fmt", sorted(CASES))
def test_declared_public_interface_is_open_without_a_caveat(fmt: str) -> None:
    path, text = CASES[fmt]
    v = lint_text(text, path, fmt, ifaces=IfaceView(public=("eth1",)))
    assert v.exposure(143, "ipv4").state == "open-world"
    msgs = [f.message for f in judge(v, [v]) if f.rule_id in ("FW001", "FW002")]
    assert msgs and not any("assumes interface" in m for m in msgs)


def test_one_of_several_public_interfaces_is_enough() -> None:
    v = lint_text(IPT, "rules.v4", "iptables-save", ifaces=IfaceView(public=("eth0", "eth1")))
    assert v.exposure(143, "ipv4").state == "open-world"


def test_lo_is_never_internet_facing_even_if_declared_public() -> None:
    text = "*filter\n:INPUT DROP [0:0]\n-A INPUT -i lo -j ACCEPT\nCOMMIT\n"
    for public in (("eth0",), ("lo", "eth0"), ("lo",)):
        v = lint_text(text, "rules.v4", "iptables-save", ifaces=IfaceView(public=public))
        assert v.exposure(143, "ipv4").state == "closed", public


def _repo(tmp_path: Path, manifest: str) -> Path:
    root = tmp_path / "repo"
    (root / "fw").mkdir(parents=True)
    (root / "fw/rules.v4").write_text(IPT)
    (root / "fw/rules.v6").write_text(IPT)
    (root / "imap-gate.yml").write_text(manifest)
    return root


def test_manifest_file_entry_declares_internal(tmp_path: Path, run_cli: Callable[..., object]) -> None:
    root = _repo(tmp_path, "version: 1\nconfigs:\n  firewall:\n"
                           "    - {path: fw/rules.v4, internal_interfaces: [eth1]}\n"
                           "    - {path: fw/rules.v6, internal_interfaces: [eth1]}\n")
    res = run_cli("--root", str(root), "--only", "lint")
    assert res.code == 0, (res.stdout, res.stderr)


def test_manifest_defaults_declare_public(tmp_path: Path, run_cli: Callable[..., object]) -> None:
    root = _repo(tmp_path, "version: 1\ndefaults:\n  public_interfaces: [eth0]\n"
                           "configs:\n  firewall: [fw/rules.v4, fw/rules.v6]\n")
    res = run_cli("--root", str(root), "--only", "lint")
    assert res.code == 0, (res.stdout, res.stderr)


def test_manifest_without_declaration_fails_and_explains(tmp_path: Path,
                                                         run_cli: Callable[..., object]) -> None:
    root = _repo(tmp_path, "version: 1\nconfigs:\n  firewall: [fw/rules.v4]\n")
    res = run_cli("--root", str(root), "--only", "lint")
    assert res.code == 1
    texts = [r["message"]["text"] for r in res.sarif["runs"][0]["results"]]
    assert any("internal_interfaces" in t for t in texts)


def test_manifest_rejects_a_bad_interface_name(tmp_path: Path, run_cli: Callable[..., object]) -> None:
    root = _repo(tmp_path, "version: 1\nconfigs:\n  firewall:\n"
                           "    - {path: fw/rules.v4, internal_interfaces: ['eth 1']}\n")
    res = run_cli("--root", str(root), "--only", "lint")
    assert res.code == 2
