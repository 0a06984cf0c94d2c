"""iptables syntax the real tool refuses is FW006 on its line; what it accepts is read as it reads it.

Each case states what ``iptables-restore`` (iptables 1.8) does with the same rule; the
mutation test checks the table against the real tool on mutated real files.
"""

from __future__ import annotations

import pytest

from checks.firewall.check import lint_text
from checks.firewall.judge import judge

HEAD = "*filter\n:INPUT ACCEPT [0:0]\n"


def lint(text: str, name: str = "rules.v4", fmt: str | None = None):
    v = lint_text(text, name, fmt)
    return v, judge(v, [v])


def fw006_lines(findings) -> list[int]:
    return sorted({f.location.line for f in findings if f.rule_id == "FW006"})


def test_misspelled_dport_fails_closed_on_its_line() -> None:
    # iptables-restore: unknown option "--dprot"; the ruleset does not load at all.
    text = HEAD + "-A INPUT -p tcp --dprot 143 -j DROP\n-A INPUT -p tcp --dport 993 -j ACCEPT\nCOMMIT\n"
    _v, fs = lint(text)
    assert 3 in fw006_lines(fs)
    assert any("--dprot" in f.message for f in fs if f.rule_id == "FW006")


def test_misspelled_dport_on_an_accept_is_not_a_catch_all() -> None:
    text = "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dprt 993 -j ACCEPT\nCOMMIT\n"
    _v, fs = lint(text)
    assert fw006_lines(fs) and 3 in fw006_lines(fs)
    assert not any(f.rule_id in ("FW001", "FW002") for f in fs)


def test_misspelled_dport_in_a_shell_script() -> None:
    text = ("#!/bin/sh\niptables -P INPUT ACCEPT\niptables -A INPUT -p tcp --dprot 143 -j DROP\n"
            "iptables -A INPUT -p tcp --dport 993 -j ACCEPT\n")
    v, fs = lint(text, "fw.sh")
    assert v.format == "iptables-script"
    assert 3 in fw006_lines(fs)


@pytest.mark.parametrize("rule", [
    "-A INPUT -m conntrak --ctstate NEW -j ACCEPT",          # Couldn't load match
    "-A INPUT -m state --state NEW,FOO -j ACCEPT",           # Bad state
    "-A INPUT -p tpc -j ACCEPT",                             # unknown protocol
    "-A INPUT -p tcp -m tcp --dport 143 --dport 144 -j ACCEPT",  # only one --dport
    "-A INPUT -p tcp --dport 143 --reject-with tcp-reset -j REJECT",  # target option before -j
    "-A INPUT -p tcp --dport 143 -j ACCEPT --log-prefix x",  # option of another target
    "-A INPUT -p tcp --dport 143 -j ACCEPT -j DROP",         # multiple -j
    "-A INPUT -p tcp -p udp -j ACCEPT",                      # multiple -p
    "-A INPUT -s 1.2.3.4/33 -j ACCEPT",                      # invalid mask
    "-A INPUT -m multiport --dports 143,993 -j ACCEPT",      # multiport needs -p tcp
    "-A INPUT -p tcp -m multiport --dports 143,993 --fooo -j ACCEPT",
    "-A INPUT -p tcp -m time --timestrat 08:00 -j ACCEPT",
])
def test_rules_iptables_refuses_give_fw006(rule: str) -> None:
    _v, fs = lint(HEAD + rule + "\nCOMMIT\n")
    assert 3 in fw006_lines(fs), [f.message for f in fs]


@pytest.mark.parametrize(("rule", "state"), [
    ("-A INPUT -p tcp --dpo 143 -j DROP", "closed"),                 # getopt abbreviation
    ("-A INPUT -p tcp --sou 192.0.2.0/24 --dport 143 -j DROP", "open-world"),
    ("-A INPUT -p tcp -m multiport --dport 143,993 -j DROP", "closed"),  # prefix of --dports
    ("-A INPUT -m tcp -p tcp --dport 143 -j DROP", "closed"),         # -m before -p
    ("-A INPUT -p tcp --dport 143 -m comment --comment \"a b\" -j DROP", "closed"),
    ("-A INPUT -p tcp --dport 143 -m limit --limit 5/min --limit-burst 7 -j DROP", "closed"),
    ("-A INPUT -p tcp --dport 143 -j REJECT --reject-with tcp-reset", "closed"),
    ("-A INPUT -p tcp --dport 143 -m state --state new -j DROP", "closed"),
])
def test_rules_iptables_accepts_are_read(rule: str, state: str) -> None:
    v, fs = lint(HEAD + rule + "\nCOMMIT\n")
    assert fw006_lines(fs) == [], [f.message for f in fs]
    assert v.exposure(143, "ipv4").state == state


def test_an_accepted_but_unmodelled_match_is_unknown_not_skipped() -> None:
    # iptables loads it; whether a connection arrives at 08:00-18:00 is not in the file.
    text = ("*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 143 -m time --timestart 08:00 "
            "--timestop 18:00 -j ACCEPT\nCOMMIT\n")
    v, _fs = lint(text)
    assert v.exposure(143, "ipv4").state == "unknown"
    assert v.exposure(993, "ipv4").state == "closed"


def test_host_names_are_a_restriction_named_in_the_evidence() -> None:
    text = ("*filter\n:INPUT DROP [0:0]\n-A INPUT -s cache.example.net -p tcp --dport 143 -j ACCEPT\n"
            "COMMIT\n")
    v, fs = lint(text)
    exp = v.exposure(143, "ipv4")
    assert exp.state == "restricted"
    assert any("cache.example.net" in s for s in exp.sources)
    assert fw006_lines(fs) == []
    assert not any(f.rule_id in ("FW001", "FW002") for f in fs)


def test_placeholder_addresses_are_not_host_names() -> None:
    # iptables-restore: invalid mask `xx' specified
    _v, fs = lint(HEAD + "-A INPUT -s 192.168.x.0/xx -j ACCEPT\nCOMMIT\n")
    assert 3 in fw006_lines(fs)
    _v, fs = lint(HEAD + "-A INPUT -s 192.168.x.0 -j ACCEPT\nCOMMIT\n")
    assert 3 in fw006_lines(fs)


def test_options_of_the_wrong_family_are_refused() -> None:
    _v, fs = lint("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT\n"
                 "-A INPUT -s 2001:db8::1 -j ACCEPT\nCOMMIT\n", "rules.v6")
    assert 3 in fw006_lines(fs)


@pytest.mark.parametrize("port", ["0x8f", "0217", "+143", "0X8F"])
def test_ports_are_c_numbers_as_iptables_reads_them(port: str) -> None:
    # iptables-restore loads these: strtoul base 0, so each is 143 (found by the mutation test).
    text = ("*filter\n:INPUT DROP [0:0]\n" f"-A INPUT -p tcp --dport {port} -j ACCEPT\nCOMMIT\n")
    v, fs = lint(text)
    assert fw006_lines(fs) == []
    assert v.exposure(143, "ipv4").state == "open-world"


def test_a_decimal_port_with_a_leading_zero_and_an_8_is_refused() -> None:
    _v, fs = lint(HEAD + "-A INPUT -p tcp --dport 08 -j ACCEPT\nCOMMIT\n")
    assert 3 in fw006_lines(fs)


@pytest.mark.parametrize(("src", "net"), [
    ("010.1.1.1", "8.1.1.1/32"),          # iptables-save shows -s 8.1.1.1/32: octal
    ("10.1", "10.1.0.0/32"),              # missing parts are zero, at the right
    ("10.0.0.0/016", "10.0.0.0/14"),      # the prefix length is a C number too
    ("1.2.3.4/255.255.0.0", "1.2.0.0/16"),
])
def test_addresses_are_read_as_libxtables_reads_them(src: str, net: str) -> None:
    text = ("*filter\n:INPUT DROP [0:0]\n" f"-A INPUT -s {src} -p tcp --dport 143 -j ACCEPT\nCOMMIT\n")
    v, fs = lint(text)
    assert fw006_lines(fs) == []
    assert v.exposure(143, "ipv4").sources == (net,)


@pytest.mark.parametrize(("rule", "state"), [
    ("-p udp --dport 0x8f -j ACCEPT", None),                         # udp: decimal only
    ("-p tcp -m conntrack --ctorigdstport 0x8f -j ACCEPT", None),
    ("-p tcp -m conntrack --ctorigdstport 0217 -j ACCEPT", "closed"),  # 217, not 143
    ("-p tcp -m multiport --dports 0217 -j ACCEPT", "open-world"),     # 143
])
def test_udp_and_conntrack_ports_are_decimal(rule: str, state: str | None) -> None:
    v, fs = lint("*filter\n:INPUT DROP [0:0]\n-A INPUT " + rule + "\nCOMMIT\n")
    if state is None:
        assert 3 in fw006_lines(fs)
    else:
        assert fw006_lines(fs) == []
        assert v.exposure(143, "ipv4").state == state
