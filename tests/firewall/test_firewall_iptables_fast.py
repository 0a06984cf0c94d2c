"""The compiled fast path for iptables-save rule lines (iptables_fast) decides exactly what the
full path does: the same rules, conditions, derived filters and issues, on real files and on
lines built to look like an already compiled plan while differing where it matters."""

from __future__ import annotations

from pathlib import Path

import pytest

from checks.firewall import iptables_fast, iptables_save
from checks.firewall.iptables_args import TEMPLATE_MARKS
from checks.firewall.model import FilterRule, Parsed

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "firewall"

# Each "near miss" follows a line of the same shape, so that its plan is compiled first.
SHAPES = [
    ("-A INPUT -s 10.0.0.1/32 -p tcp -m tcp --dport 22 -j ACCEPT",
     ["-A INPUT -s 10.0.0.2/32 -p tcp -m tcp --dport 143 -j ACCEPT",
      "-A INPUT -s ! -p tcp -m tcp --dport 143 -j ACCEPT",
      "-A INPUT -s 10.0.0.2/32 -p udp -m tcp --dport 143 -j ACCEPT",
      "-A INPUT -s 10.0.0.2/32 -p 6 -m tcp --dport 143 -j ACCEPT",
      "-A INPUT -s 10.0.0.2/32 -p tcp -m udp --dport 143 -j ACCEPT",
      "-A INPUT -s 10.0.0.2/32 -p tcp -m tcp --dport 0217 -j ACCEPT",
      "-A INPUT -s 10.0.0.2/32 -p tcp -m tcp --dport 0x8f -j ACCEPT",
      "-A INPUT -s 10.0.0.2/32 -p tcp -m tcp --dport 65536 -j ACCEPT",
      "-A INPUT -s 10.0.0.2/32 -p tcp -m tcp --dport imap2 -j ACCEPT",
      "-A INPUT -s 10.0.0.2/32 -p tcp -m tcp --dport 1:2 -j ACCEPT",
      "-A INPUT -s 10.0.0.2/32 -p tcp -m tcp --dport 143,993 -j ACCEPT",
      "-A INPUT -s 010.0.0.2/8 -p tcp -m tcp --dport 143 -j ACCEPT",
      "-A INPUT -s 300.0.0.2 -p tcp -m tcp --dport 143 -j ACCEPT",
      "-A INPUT -s cache.example.net -p tcp -m tcp --dport 143 -j ACCEPT",
      "-A INPUT -s 0/0 -p tcp -m tcp --dport 143 -j ACCEPT",
      "-A INPUT -s 10.0.0.2/32 -p tcp -m tcp --dport 143 -j DROP",
      "-A INPUT -s 10.0.0.2/32 -p tcp -m tcp --sport 143 -j ACCEPT",
      "-A NOSUCH -s 10.0.0.2/32 -p tcp -m tcp --dport 143 -j ACCEPT",
      "-A INPUT -s 10.0.0.2/32 -p tcp -m tcp --dport 143 -j ACCEPT -j DROP",
      "-A INPUT -s 10.0.0.2/32 -p tcp -m tcp --dport 143 -j {{ target }}",
      '-A INPUT -s 10.0.0.2/32 -p tcp -m tcp --dport "143" -j ACCEPT',
      "-A INPUT -s 10.0.0.2/32  -p tcp -m tcp --dport 143 -j ACCEPT",
      "-A INPUT\t-s 10.0.0.2/32 -p tcp -m tcp --dport 143 -j ACCEPT",
      "-A INPUT -s 10.0.0.2/32 -p tcp -m tcp --dport 14\x1c3 -j ACCEPT",
      "-A INPUT -s 10.0.0.2/32,192.0.2.0/24 -p tcp -m tcp --dport 143 -j ACCEPT",
      "-A INPUT -s 10.0.0.2/32 -p tcp -m tcp --dport 143% -j ACCEPT",
      "-A INP@UT -s 10.0.0.2/32 -p tcp -m tcp --dport 143 -j ACCEPT",
      "[1:2] -A INPUT -s 10.0.0.2/32 -p tcp -m tcp --dport 143 -j ACCEPT"]),
    ("-A INPUT -i eth0 -p tcp --dport 25 -j REJECT --reject-with tcp-reset",
     ["-A INPUT -i eth1 -p tcp --dport 143 -j REJECT --reject-with tcp-reset",
      "-A INPUT -i eth@1 -p tcp --dport 143 -j REJECT --reject-with tcp-reset",
      "-A INPUT -i ! -p tcp --dport 143 -j REJECT --reject-with tcp-reset",
      "-A INPUT -i verylonginterface0 -p tcp --dport 143 -j REJECT --reject-with tcp-reset",
      "-A OUTPUT -i eth1 -p tcp --dport 143 -j REJECT --reject-with tcp-reset",
      "-A INPUT -i eth1 -p tcp --dport 143 -j REJECT --reject-with icmp-port-unreachable"]),
    ("-A INPUT -i eth0 -p udp --dport 25 -j REJECT --reject-with icmp-port-unreachable",
     ["-A INPUT -i eth0 -p udp --dport 25 -j REJECT --reject-with tcp-reset",
      "-A INPUT -i eth0 -p udp --dport 0217 -j REJECT --reject-with icmp-port-unreachable"]),
    ("-A INPUT ! -i lo -p tcp -m multiport --dports 80,443 -m state --state NEW -j ACCEPT",
     ["-A INPUT ! -i lo -p tcp -m multiport --dports 143,993 -m state --state NEW -j ACCEPT",
      "-A INPUT ! -i lo -p tcp -m multiport --dports 143,993 -m state --state BOGUS -j ACCEPT",
      "-A INPUT ! -i lo -p tcp -m multiport --dports 143,993 -m state --state ESTABLISHED -j ACCEPT",
      "-A INPUT ! -i lo -p tcp -m multiport --dports 143,993 -m state ! --state NEW -j ACCEPT"]),
    ("-A FORWARD -o eth0 -d 192.0.2.1 -p tcp --syn -j ACCEPT",
     ["-A INPUT -o eth0 -d 192.0.2.1 -p tcp --syn -j ACCEPT",
      "-A FORWARD -o eth0 -d 127.0.0.1 -p tcp --syn -j ACCEPT",
      "-A FORWARD -o eth0 -d mail.example.net -p tcp --syn -j ACCEPT"]),
    ("-A INPUT -p tcp -m tcp --tcp-flags SYN,ACK SYN -m recent --rcheck -j DROP",
     ["-A INPUT -p tcp -m tcp --tcp-flags FIN,ACK FIN -m recent --rcheck -j DROP",
      "-A INPUT -p tcp -m tcp --tcp-flags SYN,BOGUS SYN -m recent --rcheck -j DROP"]),
    ("-A INPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT",
     ["-A INPUT -p icmp -m icmp --icmp-type 0 -j ACCEPT"]),
]


def _text() -> str:
    lines = ["*filter", ":INPUT DROP [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT ACCEPT [0:0]"]
    for first, near in SHAPES:
        for line in near:
            lines += [first, line]
    return "\n".join([*lines, "COMMIT"]) + "\n"


def _parse(text: str, name: str, fast: bool, monkeypatch: pytest.MonkeyPatch) -> Parsed:
    with monkeypatch.context() as m:
        if not fast:
            m.setattr(iptables_save, "_fast_lines", lambda st, table, lines, i, *a: i)
        return iptables_save.parse(text, name)


def _derived(parsed: Parsed) -> list[tuple[object, ...]]:
    out = []
    for rs in parsed.rulesets.values():
        for chain in rs.chains.values():
            for r in chain.rules:
                full = FilterRule(r.conds, r.verdict, r.loc, r.text, r.nat_to)
                out.append((r.text, r.port_filter, full.port_filter, r.effects, full.effects))
    return out


def _assert_same(text: str, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _parse(text, name, True, monkeypatch)
    full = _parse(text, name, False, monkeypatch)
    assert fast.rulesets == full.rulesets
    assert repr(fast.rulesets) == repr(full.rulesets)
    assert fast.issues == full.issues
    for t, pf, full_pf, eff, full_eff in _derived(fast):
        assert pf == full_pf and eff == full_eff, t
        assert all(a is b for a, b in zip(pf[1], full_pf[1], strict=True)), t


def test_near_misses_of_a_compiled_plan_are_read_as_the_full_path_reads_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    text = _text()
    _assert_same(text, "rules.v4", monkeypatch)
    fast = _parse(text, "rules.v4", True, monkeypatch)
    # The near misses do reach the verdicts and the issues (not a vacuous comparison).
    assert len(fast.issues) >= 15
    assert iptables_fast._count > 0


def test_fast_path_is_taken_for_lines_of_one_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    slow: list[str] = []
    real = iptables_save._Reader.line

    def spy(self: iptables_save._Reader, line: str, raw: str, loc: object) -> None:
        slow.append(line)
        real(self, line, raw, loc)  # type: ignore[arg-type]

    monkeypatch.setattr(iptables_save._Reader, "line", spy)
    body = "\n".join(f"-A INPUT -s 10.1.{i // 256}.{i % 256}/32 -p tcp -m tcp --dport {1024 + i} "
                     "-j ACCEPT" for i in range(300))
    parsed = iptables_save.parse(f"*filter\n:INPUT DROP [0:0]\n{body}\nCOMMIT\n", "rules.v4")
    assert slow == ["*filter", ":INPUT DROP [0:0]", "COMMIT"]
    assert len(parsed.rulesets["ipv4"].chains["filter/INPUT"].rules) == 300


def test_fast_marks_cover_every_template_mark() -> None:
    for mark in TEMPLATE_MARKS:
        assert any(f in mark for f in iptables_save.FAST_MARKS), mark


def _real_files(corpus: Path | None) -> list[Path]:
    files = sorted(p for p in FIXTURES.glob("ip*") if p.is_file())
    if corpus is not None:
        files += sorted((corpus / "iptables-save").glob("*"))
    return files


def test_real_files_are_read_alike_by_both_paths(monkeypatch: pytest.MonkeyPatch,
                                                 request: pytest.FixtureRequest) -> None:
    try:
        corpus: Path | None = request.getfixturevalue("corpus_dir")
    except pytest.skip.Exception:
        corpus = None
    files = _real_files(corpus)
    assert files
    for p in files:
        _assert_same(p.read_bytes().decode("utf-8", errors="replace"), p.name, monkeypatch)
