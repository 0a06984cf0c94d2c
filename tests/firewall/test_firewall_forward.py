"""Port forwarding: a DNAT to an internal host's IMAP with a forward path that accepts it."""

from __future__ import annotations

import pytest

from checks.firewall.check import lint_text
from checks.firewall.judge import judge

IPT = """*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -p tcp --dport 143 -j DNAT --to-destination 192.168.0.10
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD {policy} [0:0]
:OUTPUT ACCEPT [0:0]
{forward}
COMMIT
"""
NFT = """table ip nat {{
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    iifname "eth0" tcp dport {ext} dnat to 192.168.0.10{to}
  }}
}}
table inet filter {{
  chain input {{
    type filter hook input priority 0; policy drop;
  }}
  chain forward {{
    type filter hook forward priority 0; policy {policy};
    {forward}
  }}
}}
"""
SCRIPT = """#!/bin/sh
iptables -P FORWARD DROP
iptables -t nat -A PREROUTING -p tcp --dport 143 -j DNAT --to-destination 192.168.0.10
iptables -A FORWARD -p tcp -d 192.168.0.10 --dport 143 -j ACCEPT
"""


def _ids(text: str, path: str, fmt: str | None = None) -> list[tuple[str, int, str]]:
    v = lint_text(text, path, fmt)
    return [(f.rule_id, f.location.line, f.message) for f in judge(v, [v])]


def test_iptables_dnat_with_forward_accept_is_fw007_naming_the_host() -> None:
    got = _ids(IPT.format(policy="DROP", forward="-A FORWARD -i eth0 -o eth1 -p tcp -d 192.168.0.10 "
                                               "--dport 143 -j ACCEPT"), "rules.v4")
    fw7 = [g for g in got if g[0] == "FW007"]
    assert len(fw7) == 1 and fw7[0][1] == 4 and "192.168.0.10" in fw7[0][2]


def test_iptables_forward_policy_accept_also_exposes() -> None:
    got = _ids(IPT.format(policy="ACCEPT", forward=""), "rules.v4")
    assert [g[0] for g in got if g[0] == "FW007"] == ["FW007"]


@pytest.mark.parametrize("forward", ["", "-A FORWARD -p tcp -d 192.168.0.99 --dport 143 -j ACCEPT",
                                     "-A FORWARD -p tcp -s 192.0.2.0/24 -d 192.168.0.10 -j ACCEPT"])
def test_a_forward_path_that_does_not_accept_is_no_exposure(forward: str) -> None:
    got = _ids(IPT.format(policy="DROP", forward=forward), "rules.v4")
    assert [g for g in got if g[0] in ("FW007", "FW006")] == []


def test_dnat_of_another_external_port_to_imap_is_exposure() -> None:
    text = IPT.format(policy="ACCEPT", forward="").replace(
        "--dport 143 -j DNAT --to-destination 192.168.0.10", "--dport 10143 -j DNAT --to-destination "
        "192.168.0.10:143")
    fw7 = [g for g in _ids(text, "rules.v4") if g[0] == "FW007"]
    assert fw7 and "external port 10143" in fw7[0][2]


def test_iptables_script_dnat() -> None:
    assert "FW007" in [g[0] for g in _ids(SCRIPT, "fw.sh", "iptables-script")]


def test_nft_dnat_with_forward_accept() -> None:
    text = NFT.format(ext=143, to="", policy="drop",
                      forward='iifname "eth0" oifname "eth1" ip daddr 192.168.0.10 tcp dport 143 accept')
    got = _ids(text, "rules.nft")
    assert [g[0] for g in got if g[0] in ("FW007", "FW006")] == ["FW007"]
    assert "192.168.0.10" in next(g[2] for g in got if g[0] == "FW007")


def test_nft_dnat_993_is_recorded_as_fw005() -> None:
    text = NFT.format(ext=993, to=":993", policy="accept", forward="")
    got = _ids(text, "rules.nft")
    assert any(g[0] == "FW005" and "192.168.0.10" in g[2] for g in got)


def test_nft_forward_drop_is_closed() -> None:
    text = NFT.format(ext=143, to="", policy="drop", forward="ct state established,related accept")
    assert [g for g in _ids(text, "rules.nft") if g[0] in ("FW007", "FW006")] == []


def test_a_dnat_to_a_map_cannot_be_judged() -> None:
    text = NFT.format(ext=143, to="", policy="accept", forward="").replace(
        "dnat to 192.168.0.10", "dnat to $inner")
    got = _ids(text.replace("table ip nat", "define inner = host.lan\ntable ip nat"), "rules.nft")
    assert any(g[0] == "FW006" for g in got)


ZONE = '<?xml version="1.0" encoding="utf-8"?>\n<zone>\n  <service name="ssh"/>\n  {extra}\n</zone>\n'


def test_firewalld_forward_port_to_another_host_is_fw007() -> None:
    got = _ids(ZONE.format(extra='<forward-port port="143" protocol="tcp" to-addr="192.168.0.10"/>'),
               "zones/public.xml")
    fw7 = [g for g in got if g[0] == "FW007"]
    assert len(fw7) == 1 and fw7[0][1] == 4 and "192.168.0.10" in fw7[0][2]


def test_firewalld_forward_port_in_a_source_bound_zone_is_restricted() -> None:
    extra = ('<source address="192.0.2.0/24"/>\n  '
             '<forward-port port="143" protocol="tcp" to-addr="192.168.0.10"/>')
    assert [g for g in _ids(ZONE.format(extra=extra), "zones/trusted.xml") if g[0] == "FW007"] == []


def test_firewalld_forward_port_to_993_names_the_host() -> None:
    extra = '<forward-port port="10993" protocol="tcp" to-port="993" to-addr="192.168.0.10"/>'
    got = _ids(ZONE.format(extra=extra), "zones/public.xml")
    assert any(g[0] == "FW005" and "192.168.0.10" in g[2] and "10993" in g[2] for g in got)


MAP = """table ip nat {
  chain prerouting {
    type nat hook prerouting priority -100; policy accept;
    iifname "wan" dnat ip addr . port to tcp dport map {
      80  : 10.240.2.100 . 80,
      10143 : 10.240.2.100 . 143,
    }
  }
}
"""


def test_nft_dnat_map_entries_are_followed() -> None:
    got = _ids(MAP, "rules.nft")
    fw7 = [g for g in got if g[0] == "FW007"]
    assert len(fw7) == 1 and "10.240.2.100" in fw7[0][2] and "10143" in fw7[0][2]


def test_nft_dnat_map_without_imap_is_no_finding() -> None:
    assert [g for g in _ids(MAP.replace("10.240.2.100 . 143", "10.240.2.100 . 8143"), "rules.nft")
            if g[0] in ("FW007", "FW006")] == []


def test_a_dnat_this_reader_cannot_follow_is_fw006_not_silence() -> None:
    text = MAP.replace("dnat ip addr . port to tcp dport map {", "dnat to ip saddr map {") \
              .replace("80  : 10.240.2.100 . 80,", "192.0.2.1 : 10.240.2.100,") \
              .replace("      10143 : 10.240.2.100 . 143,\n", "")
    assert any(g[0] == "FW006" and "port forward" in g[2] for g in _ids(text, "rules.nft"))
