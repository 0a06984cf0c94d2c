"""Arbitrary input never raises out of a parser, the evaluator or the judge."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks.firewall import detect, firewalld, iptables_save, iptables_script, nftables, ufw
from checks.firewall.judge import judge
from checks.firewall.verdict import FirewallVerdict
from tests.support import fuzz

# A small fixed budget keeps the suite fast; FW_FUZZ_EXAMPLES=5000 for a deeper local hunt.
FUZZ = settings(max_examples=int(os.environ.get("FW_FUZZ_EXAMPLES", fuzz.examples(150))), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

IPT_WORDS = ["*filter", "*nat", "*mangle", "COMMIT", ":INPUT", "DROP", "ACCEPT", "-A", "-I", "-D",
             "-F", "-X", "-N", "-P", "INPUT", "OUTPUT", "MAIL", "-p", "tcp", "udp", "!", "-s",
             "192.0.2.0/24", "::/0", "-i", "lo", "eth0", "wg0", "--dport", "--dports", "143",
             "993", "imap", "1:65535", "143,993", "-m", "multiport", "conntrack", "--ctstate",
             "NEW", "ESTABLISHED", "-j", "-g", "RETURN", "REJECT", "LOG", "--reject-with",
             "tcp-reset", "[0:0]", "\n", "\n", "\n", "{{ x }}", "$IPT", "iptables", "ip6tables",
             "--icmpv6-type", "-t", "1", "\"", "'", "\\", "#", "--tcp-flags", "SYN,ACK", "SYN"]
NFT_WORDS = ["table", "inet", "ip", "ip6", "filter", "chain", "input", "{", "}", ";", "\n", "\n",
             "type", "hook", "priority", "0", "policy", "drop", "accept", "tcp", "th", "dport",
             "sport", "143", "imaps", "{ 143, 993 }", "saddr", "192.0.2.0/24", "@s", "set", "s",
             "elements", "=", "define", "$X", "X", "include", "\"x.nft\"", "jump", "goto", "return",
             "ct", "state", "established,related", "iif", "lo", "iifname", "vmap", ":", ",",
             "flags", "&", "(fin|syn)", "==", "!=", "limit", "rate", "over", "10/second", "#",
             "\\", "\"", "meta", "nfproto", "ipv4", "l4proto", "reject", "with", "add", "rule",
             "flush", "ruleset", "counter", "comment", "-", "{{", "}}"]
UFW_WORDS = ["ufw", "sudo", "allow", "deny", "reject", "limit", "insert", "1", "delete", "reset",
             "enable", "disable", "default", "incoming", "from", "to", "any", "port", "proto",
             "tcp", "143", "993/tcp", "143,993/tcp", "1000:2000/tcp", "192.0.2.0/24",
             "2001:db8::/32", "\"Dovecot IMAP\"", "app", "in", "out", "on", "eth0", "\n", ";",
             "IPV6=no", "DEFAULT_INPUT_POLICY=\"ACCEPT\"", "ENABLED=no", "$P", "comment", "'x'"]
XML_BITS = ["<zone>", "</zone>", "<zone target=\"ACCEPT\">", "<zone target=\"%%REJECT%%\">",
            "<service name=\"imap\"/>", "<service name=\"x\"/>", "<port port=\"140-150\" protocol=\"tcp\"/>",
            "<port port=\"a\" protocol=\"tcp\"/>", "<source address=\"192.0.2.0/24\"/>",
            "<source address=\"bad\"/>", "<interface name=\"wg0\"/>", "<rule family=\"ipv4\">",
            "</rule>", "<accept/>", "<reject/>", "<rule priority=\"x\">", "<!DOCTYPE z [<!ENTITY a \"b\">]>",
            "&a;", "<?xml version=\"1.0\"?>", "<", ">", "\n", "<source ipset=\"s\"/>"]


def _joined(words: list[str]) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(words), max_size=60).map(" ".join)


def _mixed(words: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(_joined(words), st.text(max_size=300))


def _exercise(v: FirewallVerdict) -> None:
    for fam in ("ipv4", "ipv6"):
        for port in (143, 993):
            assert v.exposure(port, fam).state in ("open-world", "restricted", "closed", "unknown")
    judge(v, [v])


@FUZZ
@given(_mixed(IPT_WORDS))
def test_iptables_save_never_raises(text: str) -> None:
    _exercise(FirewallVerdict("f", "iptables-save", iptables_save.parse(text, "f")))


@FUZZ
@given(_mixed(IPT_WORDS))
def test_iptables_script_never_raises(text: str) -> None:
    _exercise(FirewallVerdict("f", "iptables-script", iptables_script.parse(text, "f")))


@FUZZ
@given(_mixed(NFT_WORDS))
def test_nftables_never_raises(text: str) -> None:
    def reader(including: str, name: str) -> list[tuple[str, str]]:
        return [("inc.nft", text[:100])]

    _exercise(FirewallVerdict("f", "nftables", nftables.parse(text, "f", reader)))


@FUZZ
@given(_mixed(UFW_WORDS))
def test_ufw_never_raises(text: str) -> None:
    _exercise(FirewallVerdict("f", "ufw-script", ufw.parse_script(text, "f")))
    _exercise(FirewallVerdict("f", "ufw-default", ufw.parse_default(text, "f")))
    _exercise(FirewallVerdict("f", "ufw-conf", ufw.parse_conf(text, "f")))


@FUZZ
@given(_mixed(IPT_WORDS))
def test_ufw_rules_never_raise(text: str) -> None:
    _exercise(FirewallVerdict("user.rules", "ufw-rules", ufw.parse_rules(text, "user.rules")))


@FUZZ
@given(st.one_of(st.lists(st.sampled_from(XML_BITS), max_size=30).map("".join), st.text(max_size=200)))
def test_firewalld_never_raises(text: str) -> None:
    _exercise(FirewallVerdict("z.xml", "firewalld-zone", firewalld.parse(text, "z.xml")))


@FUZZ
@given(st.text(max_size=300), st.text(max_size=30))
def test_detect_never_raises(text: str, name: str) -> None:
    assert detect.detect(text, name) in (*detect.FORMATS, None)
