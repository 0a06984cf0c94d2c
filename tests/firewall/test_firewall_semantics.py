"""Single semantic points of each format, one small ruleset each."""

from __future__ import annotations

from pathlib import Path

import pytest

from checks.firewall import detect
from checks.firewall.check import lint_text
from checks.firewall.judge import judge
from checks.firewall.services import port_of


def state(text: str, port: int = 143, family: str = "ipv4", name: str = "f",
          fmt: str | None = None) -> str:
    return lint_text(text, name, fmt).exposure(port, family).state


def ids(text: str, name: str = "f", fmt: str | None = None) -> list[str]:
    v = lint_text(text, name, fmt)
    return sorted({f.rule_id for f in judge(v, [v])})


IPT = "*filter\n:INPUT DROP [0:0]\n{rules}\nCOMMIT\n"


@pytest.mark.parametrize(("name", "port"), [("imap", 143), ("imap2", 143), ("imaps", 993),
                                            ("IMAPS", 993), ("143", 143), ("65536", None),
                                            ("no-such-service", None)])
def test_port_names_resolve_like_etc_services(name: str, port: int | None) -> None:
    assert port_of(name) == port


@pytest.mark.parametrize(("text", "name", "fmt"), [
    (IPT.format(rules=""), "rules.v4", "iptables-save"),
    ("*filter\n:ufw-user-input - [0:0]\nCOMMIT\n", "user.rules", "ufw-rules"),
    ("#!/bin/sh\n$IPT -A INPUT -j ACCEPT\n", "fw.sh", "iptables-script"),
    ("sudo /usr/sbin/iptables -P INPUT DROP\n", "fw.sh", "iptables-script"),
    ("ufw allow 22\n", "fw.sh", "ufw-script"),
    ("IPV6=yes\nDEFAULT_INPUT_POLICY=\"DROP\"\n", "ufw", "ufw-default"),
    ("ENABLED=yes\nLOGLEVEL=low\n", "ufw.conf", "ufw-conf"),
    ("table inet filter {\n}\n", "nftables.conf", "nftables"),
    ("add rule inet filter input tcp dport 22 accept\n", "x.conf", "nftables"),
    ("<?xml version=\"1.0\"?>\n<zone/>\n", "public.xml", "firewalld-zone"),
    ("hello world\n", "README", None),
])
def test_format_detection(text: str, name: str, fmt: str | None) -> None:
    assert detect.detect(text, name) == fmt


def test_declared_format_aliases() -> None:
    assert detect.detect("x", "f", "ip6tables-save") == "iptables-save"
    assert detect.detect("x", "f", "bogus") is None


# ---------------------------------------------------------------- iptables

def test_loopback_and_established_do_not_expose() -> None:
    rules = "-A INPUT -i lo -j ACCEPT\n-A INPUT -m state --state ESTABLISHED -j ACCEPT"
    assert state(IPT.format(rules=rules)) == "closed"


def test_not_loopback_is_the_internet() -> None:
    assert state(IPT.format(rules="-A INPUT ! -i lo -p tcp --dport 143 -j ACCEPT")) == "open-world"


def test_conntrack_new_and_ctorigdstport() -> None:
    rules = ("-A INPUT -p tcp -m conntrack --ctstate NEW -m conntrack --ctorigdstport 143 "
             "-j ACCEPT")
    assert state(IPT.format(rules=rules)) == "open-world"


def test_any_source_spellings_are_the_world() -> None:
    for src in ("0.0.0.0/0", "0/0", "192.0.2.0/24,0.0.0.0/0"):
        assert state(IPT.format(rules=f"-A INPUT -s {src} -p tcp --dport 143 -j ACCEPT")) == \
            "open-world", src


def test_multiport_range_and_option_after_target() -> None:
    rules = "-A INPUT -p tcp -j ACCEPT -m multiport --dports 100:200,990:999"
    assert state(IPT.format(rules=rules)) == "open-world"
    assert state(IPT.format(rules=rules), 993) == "open-world"
    assert state(IPT.format(rules=rules), 22) == "closed"


def test_flush_clears_earlier_rules() -> None:
    text = "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 143 -j ACCEPT\n-F INPUT\nCOMMIT\n"
    assert state(text) == "closed"


def test_tables_in_any_order_and_raw_drop_is_final() -> None:
    text = ("*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n*raw\n:PREROUTING ACCEPT [0:0]\n"
            "-A PREROUTING -p tcp --dport 143 -j DROP\nCOMMIT\n")
    assert state(text) == "closed"
    assert state(text, 993) == "open-world"


def test_icmpv6_type_143_is_not_a_port() -> None:
    rules = "-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 143 -j ACCEPT"
    assert state(IPT.format(rules=rules), family="ipv6", name="rules.v6") == "closed"


def test_a_v4_file_says_nothing_about_v6() -> None:
    v = lint_text(IPT.format(rules=""), "rules.v4", None)
    assert v.exposure(143, "ipv6").state == "unknown"
    assert "ipv6" in v.exposure(143, "ipv6").reason


def test_script_vars_insert_and_policy_lines() -> None:
    text = ("IPT=/sbin/iptables\nPORT=143\n$IPT -P INPUT DROP\n"
            "$IPT -A INPUT -p tcp --dport 25 -j ACCEPT\n"
            "$IPT -I INPUT 2 -p tcp --dport $PORT -j ACCEPT\n")
    v = lint_text(text, "fw.sh", None)
    e = v.exposure(143, "ipv4")
    assert e.state == "open-world" and e.location is not None and e.location.line == 5


def test_script_with_unset_tool_variable_is_reported() -> None:
    assert "FW006" in ids("$IPTABLES -A INPUT -p tcp --dport 143 -j ACCEPT\n", "fw.sh",
                          "iptables-script")


def test_script_runtime_variables_are_named_not_guessed() -> None:
    text = ("iptables -P INPUT DROP\nfor ip in $(cat allow.txt); do\n"
            "  iptables -A INPUT -s $ip -p tcp --dport 143 -j ACCEPT\ndone\n"
            "iptables -A INPUT -p tcp --dport 993 -j ACCEPT\n")
    v = lint_text(text, "fw.sh", None)
    assert v.exposure(143, "ipv4").state == "restricted"
    assert v.exposure(143, "ipv4").sources == ("$ip (templated)",)
    found = {f.rule_id: f for f in judge(v, [v])}
    assert sorted(found) == ["FW003", "FW005"]  # no FW006: a run-time variable is no error
    assert "not guessed" in found["FW005"].message


# ---------------------------------------------------------------- nftables

def test_nft_named_set_without_elements_is_a_restriction_not_the_world() -> None:
    text = ("table inet f {\n set ok { type ipv4_addr; flags dynamic; }\n chain input {\n"
            "  type filter hook input priority 0; policy drop;\n"
            "  ip saddr @ok tcp dport 143 accept\n }\n}\n")
    v = lint_text(text, "x.nft", None)
    assert v.exposure(143, "ipv4").state == "restricted"
    assert v.exposure(143, "ipv4").sources == ("@ok",)
    assert v.exposure(143, "ipv6").state == "closed"


def test_nft_ip_table_does_not_filter_ipv6() -> None:
    text = "table ip f {\n chain input {\n  type filter hook input priority 0; policy drop;\n }\n}\n"
    v = lint_text(text, "x.nft", None)
    assert v.exposure(143, "ipv4").state == "closed"
    assert v.exposure(143, "ipv6").state == "unknown"


def test_nft_nat_chains_and_output_hooks_do_not_filter_input() -> None:
    text = ("table inet f {\n chain out {\n  type filter hook output priority 0; policy drop;\n }\n"
            " chain pre {\n  type nat hook prerouting priority dstnat;\n  tcp dport 143 drop\n }\n"
            " chain input {\n  type filter hook input priority 0;\n }\n}\n")
    assert state(text, name="x.nft") == "open-world"
    assert ids(text, "x.nft") == ["FW002", "FW005"]


def test_nft_templated_port_is_unknown_but_a_templated_source_restricts() -> None:
    port_tpl = ("table inet f {\n chain input {\n  type filter hook input priority 0; policy drop;\n"
                "  tcp dport $IMAP accept\n }\n}\n")
    assert state(port_tpl, name="x.nft") == "unknown"
    assert "FW006" in ids(port_tpl, "x.nft")


def test_nft_include_cycle_and_depth_never_hang(tmp_path: Path) -> None:
    from checks.firewall.check import RootReader

    (tmp_path / "a.nft").write_text('include "b.nft"\n')
    (tmp_path / "b.nft").write_text('include "a.nft"\n')
    v = lint_text((tmp_path / "a.nft").read_text(), "a.nft", None, RootReader(tmp_path))
    assert any("itself" in i.message for i in v.parsed.issues)


# ---------------------------------------------------------------- ufw

def test_ufw_ipv6_no_leaves_ipv6_unfiltered(tmp_path: Path) -> None:
    from checks.firewall.check import RootReader

    (tmp_path / "etc/ufw").mkdir(parents=True)
    (tmp_path / "etc/default").mkdir(parents=True)
    (tmp_path / "etc/default/ufw").write_text('IPV6=no\nDEFAULT_INPUT_POLICY="DROP"\n')
    text = "ufw default deny incoming\nufw allow from 192.0.2.0/24 to any port 143 proto tcp\n"
    (tmp_path / "etc/ufw/setup.sh").write_text(text)
    v = lint_text(text, "etc/ufw/setup.sh", None, RootReader(tmp_path))
    assert v.exposure(143, "ipv4").state == "restricted"
    e6 = v.exposure(143, "ipv6")
    assert e6.state == "open-world" and e6.location is not None
    assert e6.location.path == "etc/default/ufw"
    found = judge(v, [v])
    assert [f.rule_id for f in found if f.rule_id == "FW003"] == ["FW003"]


def test_ufw_app_profiles_limit_and_interfaces() -> None:
    assert state('ufw allow "Dovecot IMAP"\n', name="s.sh") == "open-world"
    assert state('ufw allow "Dovecot Secure IMAP"\n', 993, name="s.sh") == "open-world"
    assert state('ufw allow "Dovecot Secure IMAP"\n', 143, name="s.sh") == "closed"
    assert state("ufw limit 143/tcp\n", name="s.sh") == "open-world"
    assert state("ufw allow in on wg0 to any port 143 proto tcp\n", name="s.sh") == "restricted"
    assert state("ufw allow 143/udp\n", name="s.sh") == "closed"


def test_ufw_disable_and_default_allow() -> None:
    assert ids("ufw default allow incoming\nufw enable\n", "s.sh") == ["FW002", "FW005"]
    assert ids("ufw allow 22\nufw disable\n", "s.sh") == ["FW002", "FW005"]


# ---------------------------------------------------------------- firewalld

def test_firewalld_external_entities_are_refused_and_never_read() -> None:
    text = ('<?xml version="1.0"?>\n<!DOCTYPE zone [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
            '<zone><short>&x;</short><service name="imap"/></zone>\n')
    v = lint_text(text, "z.xml", None)
    assert v.exposure(143, "ipv4").state == "unknown"
    found = judge(v, [v])
    assert [f.rule_id for f in found] == ["FW006"]
    assert "root:" not in found[0].message


def test_firewalld_port_range_source_zone_and_reject_target() -> None:
    open_range = '<zone target="%%REJECT%%"><port port="140-145" protocol="tcp"/></zone>'
    assert state(open_range, name="z.xml") == "open-world"
    assert state(open_range, 993, name="z.xml") == "closed"
    bound = ('<zone><source address="192.0.2.0/24"/><service name="imap"/></zone>')
    v = lint_text(bound, "z.xml", None)
    assert v.exposure(143, "ipv4").state == "restricted"
    assert v.exposure(143, "ipv4").sources == ("192.0.2.0/24",)
    internal = '<zone><interface name="wg0"/><service name="imap"/></zone>'
    assert state(internal, name="z.xml") == "restricted"


def test_firewalld_unknown_custom_service_is_not_guessed() -> None:
    text = '<zone><service name="dovecot-custom"/></zone>'
    assert state(text, name="z.xml") == "unknown"
    assert ids(text, "z.xml") == ["FW006"]


def test_exposure_admits_answers_for_a_probe_address() -> None:
    v = lint_text(IPT.format(rules="-A INPUT -s 192.0.2.0/24 -p tcp --dport 143 -j ACCEPT\n"
                                   "-A INPUT -m set --match-set vpn src -p tcp --dport 993 -j ACCEPT"),
                  "rules.v4", None)
    e = v.exposure(143, "ipv4")
    assert e.admits("192.0.2.7") is True
    assert e.admits("198.51.100.1") is False
    assert e.admits("not-an-ip") is None
    assert v.exposure(993, "ipv4").admits("198.51.100.1") is None  # an ipset: members unknown
    assert v.exposure(22, "ipv4").admits("192.0.2.7") is False
    assert v.exposure(143, "ipv6").admits("2001:db8::1") is None


def test_catch_all_accept_is_an_implicit_opening() -> None:
    v = lint_text(IPT.format(rules="-A INPUT -i eth0 -j ACCEPT"), "rules.v4", None)
    found = {f.rule_id: f for f in judge(v, [v])}
    assert sorted(found) == ["FW002", "FW005"]
    assert "catch-all" in found["FW002"].message and found["FW002"].location.line == 3
    v = lint_text(IPT.format(rules="-A INPUT -p tcp --dport 143 -j ACCEPT"), "rules.v4", None)
    assert [f.rule_id for f in judge(v, [v])] == ["FW001"]


def test_nft_absolute_and_glob_includes_resolve_inside_the_root(tmp_path: Path) -> None:
    from checks.firewall.check import RootReader

    (tmp_path / "etc/nftables.d").mkdir(parents=True)
    (tmp_path / "etc/nftables.conf").write_text(
        "table inet filter {\n chain input {\n  type filter hook input priority 0; policy drop;\n"
        " }\n}\ninclude \"/etc/nftables.d/*.nft\"\n")
    (tmp_path / "etc/nftables.d/10-imap.nft").write_text(
        "add rule inet filter input ip saddr 192.0.2.0/24 tcp dport 143 accept\n")
    (tmp_path / "etc/nftables.d/20-imaps.nft").write_text(
        "add rule inet filter input tcp dport 993 accept\n")
    v = lint_text((tmp_path / "etc/nftables.conf").read_text(), "etc/nftables.conf", None,
                  RootReader(tmp_path))
    e = v.exposure(143, "ipv4")
    assert e.state == "restricted" and e.location is not None
    assert e.location.path == "etc/nftables.d/10-imap.nft" and e.location.line == 1
    assert v.exposure(993, "ipv6").location.path == "etc/nftables.d/20-imaps.nft"
