"""Every fixture states what it exposes in its first lines; the linter must agree.

Header lines (comments in each fixture):
  expect: ipv4/143=restricted ipv4/993=open-world ...
  sources: ipv4/143=192.0.2.0/24
  findings: FW003 FW005          (the exact set of rule ids)
Files in one sub-directory are linted together (rules.v4 + rules.v6, a ufw tree).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from checks.firewall.artefact import VERDICTS
from checks.firewall.check import RootReader, lint_text, run
from checks.firewall.judge import judge
from checks.firewall.verdict import FirewallVerdict
from imap_gate import catalogue
from imap_gate.context import Context
from imap_gate.manifest import Defaults, FirewallFile, Manifest, Target

FIXTURES = Path(__file__).parent.parent / "fixtures" / "firewall"


@dataclass
class Expect:
    states: dict[tuple[str, int], str]
    sources: dict[tuple[str, int], str]
    findings: list[str] | None


def _pairs(text: str) -> dict[tuple[str, int], str]:
    out = {}
    for key, value in re.findall(r"(ipv[46]/\d+)=(.+?)(?=\s+ipv[46]/\d+=|$)", text.strip()):
        fam, port = key.split("/")
        out[(fam, int(port))] = value.strip()
    return out


def expectations(path: Path) -> Expect | None:
    states: dict[tuple[str, int], str] = {}
    sources: dict[tuple[str, int], str] = {}
    findings = None
    for line in path.read_text(errors="replace").splitlines()[:8]:
        line = line.replace("-->", "")
        if m := re.search(r"expect:(.*)", line):
            states.update(_pairs(m.group(1)))
        if m := re.search(r"sources:(.*)", line):
            sources.update(_pairs(m.group(1)))
        if m := re.search(r"findings:(.*)", line):
            findings = sorted(set(m.group(1).split()))
    return Expect(states, sources, findings) if states else None


def fixture_files() -> list[Path]:
    return sorted(p for p in FIXTURES.rglob("*") if p.is_file() and expectations(p) is not None)


def rel(p: Path) -> str:
    return p.relative_to(FIXTURES).as_posix()


def lint_group(path: Path) -> tuple[FirewallVerdict, list[FirewallVerdict]]:
    """The file's verdict and its peers: the files of its sub-directory tree, or itself alone."""
    top = path.relative_to(FIXTURES).parts[0]
    group = [path] if top == path.name else \
        sorted(p for p in (FIXTURES / top).rglob("*") if p.is_file())
    reader = RootReader(FIXTURES)
    verdicts = [lint_text(p.read_text(errors="replace"), rel(p), None, reader) for p in group]
    return next(v for v in verdicts if v.path == rel(path)), verdicts


@pytest.mark.parametrize("path", fixture_files(), ids=rel)
def test_fixture_verdicts_and_findings(path: Path) -> None:
    exp = expectations(path)
    assert exp is not None
    verdict, peers = lint_group(path)
    for (fam, port), want in exp.states.items():
        got = verdict.exposure(port, fam)
        assert got.state == want, f"{fam}/{port}: {got}"
        if (fam, port) in exp.sources:
            assert ", ".join(got.sources) == exp.sources[(fam, port)]
        if got.state != "unknown":
            assert got.location is not None and got.location.line >= 1
    findings = judge(verdict, peers)
    if exp.findings is not None:
        assert sorted({f.rule_id for f in findings}) == exp.findings, \
            [(f.rule_id, f.location.line, f.message) for f in findings]
    lines = len(path.read_text(errors="replace").splitlines())
    for f in findings:
        assert f.rule.kind == "lint"
        assert f.key and not re.search(r"line=|:\d+$", f.key)
        assert f.key.startswith(f"file={verdict.path};")
        assert 1 <= f.location.line <= max(lines, 1)
        assert f.message.split(". ")[0]


def test_locations_point_at_the_deciding_line() -> None:
    path = FIXTURES / "ipt_open.v4"
    v, _ = lint_group(path)
    lines = path.read_text().splitlines()
    e143 = v.exposure(143, "ipv4")
    assert lines[e143.location.line - 1] == "-A INPUT -p tcp -m tcp --dport 143 -j ACCEPT"
    e993 = v.exposure(993, "ipv4")
    assert "--dports 25,587,993" in lines[e993.location.line - 1]
    path = FIXTURES / "ipt_policy_accept.v4"
    v, _ = lint_group(path)
    assert path.read_text().splitlines()[v.exposure(143, "ipv4").location.line - 1].startswith(
        ":INPUT ACCEPT")


def test_keys_survive_line_moves() -> None:
    text = (FIXTURES / "ipt_open.v4").read_text()
    moved = "# a new comment\n\n" + text
    a = {f.identity for f in judge(lint_text(text, "x.v4", None), [])}
    b = {f.identity for f in judge(lint_text(moved, "x.v4", None), [])}
    assert a == b and a


def test_remediation_and_references_in_catalogue() -> None:
    for rid in ("FW001", "FW002", "FW003", "FW004", "FW005", "FW006"):
        rule = catalogue.get(rid)
        assert rule.kind == "lint" and rule.references
        assert all(r.startswith("https://") for r in rule.references)
    assert "-A INPUT -p tcp --dport 143 -s 192.0.2.0/24 -j ACCEPT" in catalogue.get("FW001").remediation
    assert "rfc8314" in " ".join(catalogue.get("FW005").references)
    assert [r.name for r in (catalogue.get(f"FW00{i}") for i in range(1, 7))] == [
        "imap-open-to-world", "default-accept-policy", "ipv6-unrestricted", "shadowed-rule",
        "imaps-open-to-world", "firewall-parse-error"]


def _manifest(files: list[FirewallFile], targets: tuple[Target, ...] = ()) -> Manifest:
    return Manifest(path="imap-gate.yml", name="t", defaults=Defaults(), targets=targets,
                    dovecot_files=(), firewall_files=tuple(files), fail_on=None)


def test_run_lints_each_file_once_and_leaves_verdicts() -> None:
    t = Target(name="mx", host="192.0.2.1", endpoints=(), sni="mx", ca_file=None,
               source_address=None, timeout=1.0,
               firewall=(FirewallFile("pair/rules.v6", None, 9), FirewallFile("ipt_open.v4", None, 9)))
    ctx = Context(root=FIXTURES, manifest=_manifest(
        [FirewallFile("ipt_open.v4"), FirewallFile("pair/rules.v4", "iptables-save")], (t,)))
    findings = run(ctx)
    verdicts = ctx.artefacts.get(VERDICTS)
    assert sorted(verdicts) == ["ipt_open.v4", "pair/rules.v4", "pair/rules.v6"]
    assert verdicts["pair/rules.v4"].exposure(143, "ipv4").state == "restricted"
    assert verdicts["pair/rules.v4"].exposure(143, "ipv6").state == "unknown"
    assert verdicts["pair/rules.v6"].exposure(143, "ipv6").state == "open-world"
    fw001 = [f for f in findings if f.rule_id == "FW001"]
    assert len(fw001) == 1 and fw001[0].key == "file=ipt_open.v4;family=ipv4;port=143"
    assert [f.rule_id for f in findings if f.location.path == "pair/rules.v6"] == ["FW003"]


def test_run_never_reads_outside_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside.nft"
    outside.write_text("table inet filter { chain input { type filter hook input priority 0; "
                       "tcp dport 143 accept; } }\n")
    root = tmp_path / "root"
    root.mkdir()
    (root / "main.nft").write_text('include "../outside.nft"\ninclude "/etc/nftables.conf"\n')
    (root / "link.nft").symlink_to(outside)
    (root / "inc.nft").write_text('include "link.nft"\n')
    ctx = Context(root=root, manifest=_manifest([FirewallFile("main.nft"), FirewallFile("inc.nft"),
                                                 FirewallFile("missing.v4")]))
    findings = run(ctx)
    assert {f.rule_id for f in findings} == {"FW006"}
    assert not any(f.rule_id == "FW001" for f in findings)
    msgs = " ".join(f.message for f in findings)
    assert "never read" in msgs and "cannot be read" in msgs


def test_unknown_family_and_format() -> None:
    v = lint_text("hello\n", "notes.txt", None)
    assert v.format is None
    e = v.exposure(143, "ipv4")
    assert e.state == "unknown" and "format" in e.reason
    with pytest.raises(ValueError):
        v.exposure(143, "ipx")
