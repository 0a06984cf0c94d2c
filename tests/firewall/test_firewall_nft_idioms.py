"""nftables idioms real rulesets use: dynamic sets, meters, concatenations, limit, ct, meta.

Each case is judged (no FW006) with the verdict the kernel gives; where root and nft are
available each ruleset is also checked with ``nft -c`` in a throwaway network namespace, so
that what is judged here is what nft loads, and what is refused here is what nft refuses.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from checks.firewall.check import lint_text
from checks.firewall.judge import judge

HEAD = """table inet t {
  set dyn { type ipv4_addr . inet_service; flags dynamic; }
  set banned { type ipv4_addr; flags dynamic,timeout; timeout 1h; }
  set known { type ipv4_addr . inet_service; elements = { 192.0.2.10 . 143, 198.51.100.1 . 22 } }
  map vm { type inet_service : verdict; elements = { 22 : accept, 143 : drop } }
  chain input {
    type filter hook input priority 0; policy drop;
    iif "lo" accept
    ct state established,related accept
"""
TAIL = """  }
}
"""

# (rules, IPv4 143 state)
JUDGED = {
    "add-concat-constant": ("tcp dport 993 add @dyn { ip saddr . imaps }\n    tcp dport 22 accept",
                            "closed"),
    "update-limit-over": ("tcp dport 143 update @banned { ip saddr limit rate over 10/second } drop\n"
                          "    tcp dport 143 accept", "open-world"),
    "meter-limit-over": ("tcp dport 143 meter flood size 65535 { ip saddr timeout 10s limit rate over "
                         "3/second } add @banned { ip saddr timeout 1m }\n    ip saddr @banned drop\n"
                         "    tcp dport 143 accept", "open-world"),
    "meter-ct-count": ("tcp dport 143 meter cc { ip saddr ct count over 20 } reject\n"
                       "    tcp dport 143 accept", "open-world"),
    "old-set-update": ("tcp dport 143 set update ip saddr @banned drop\n    tcp dport 143 accept",
                       "closed"),
    "concat-dynamic-lookup": ("ip saddr . tcp dport @dyn accept", "restricted"),
    "concat-known-lookup": ("ip saddr . tcp dport @known accept", "restricted"),
    "concat-anonymous": ("ip saddr . tcp dport { 192.0.2.0/24 . 143, 0.0.0.0/0 . 22 } accept",
                         "restricted"),
    "concat-world": ("ip saddr . tcp dport { 0.0.0.0/0 . 143 } accept", "open-world"),
    "concat-vmap": ("ip saddr . tcp dport vmap { 192.0.2.10 . 143 : accept, 0.0.0.0/0 . 993 : accept }",
                    "restricted"),
    "limit-over-drop": ("tcp dport 143 limit rate over 10/second burst 5 packets drop\n"
                        "    tcp dport 143 accept", "open-world"),
    "limit-bytes": ("tcp dport 143 limit rate over 1 mbytes/second drop\n    tcp dport 143 accept",
                    "open-world"),
    "limit-accept": ("tcp dport 143 limit rate 5/second accept", "open-world"),
    "ct-count-over": ("tcp dport 143 ct count over 10 drop\n    tcp dport 143 accept", "open-world"),
    "ct-status": ("ct status dnat accept\n    tcp dport 143 accept", "open-world"),
    "meta-mark-set": ("meta mark set 0x1 tcp dport 143 accept", "open-world"),
    "ct-mark-set": ("tcp dport 143 ct mark set 7 accept", "open-world"),
    "meta-l4proto-th": ("meta l4proto { tcp, udp } th dport 143 accept", "open-world"),
    "l4proto-vmap": ("meta l4proto vmap { udp : drop, tcp : accept }", "open-world"),
    "iifname-vmap": ('iifname vmap { "lo" : accept, "wg0" : accept }', "restricted"),
    "frag-off": ("ip frag-off & 0x1fff != 0 drop\n    tcp dport 143 accept", "open-world"),
    "tcp-flags-mask": ("tcp flags syn / fin,syn,rst,ack tcp dport 143 accept", "open-world"),
    "tcp-flags-bitwise": ("tcp flags & (fin|syn|rst|ack) != syn drop\n    tcp dport 143 accept",
                          "open-world"),
    "tcp-option-set": ("tcp flags syn tcp option maxseg size set rt mtu\n    tcp dport 143 accept",
                       "open-world"),
    "dport-compare": ("tcp dport >= 1024 accept\n    tcp dport < 200 accept", "open-world"),
    "delete-from-set": ("tcp dport 143 delete @banned { ip saddr }\n    tcp dport 143 accept",
                        "open-world"),
    "quota-over": ("tcp dport 143 quota over 10 mbytes drop\n    tcp dport 143 accept", "open-world"),
    "comment-last": ('tcp dport 143 accept comment "imap"', "open-world"),
    "named-vmap": ("tcp dport vmap @vm", "closed"),
    "oifname-vmap": ('oifname vmap { "eth1" : drop, "eth2" : drop, }\n    tcp dport 143 accept',
                     "open-world"),
    "meta-protocol-vmap": ("meta protocol vmap { ip : accept, ip6 : drop }", "open-world"),
    "tcp-flags-spaced": ("tcp flags & (fin | syn | rst | ack) != syn drop\n    tcp dport 143 accept",
                         "open-world"),
    "ct-direction": ("ct direction original tcp dport 143 accept", "open-world"),
    "meta-hour-range": ('meta hour "17:00"-"19:00" drop\n    tcp dport 22 accept', "closed"),
}

# Spellings nft refuses: FW006 on the line, never a skipped statement.
REFUSED = {
    "misspelt-field": "tcp dprot 143 accept",
    "misspelt-ct-field": "ct stat new accept",
    "misspelt-state": "ct state neww accept",
    "after-terminal": "tcp dport 143 accept limit rate over 5/second drop",
    "comment-not-last": 'tcp dport 143 counter comment "x" accept',
    "limit-set": "tcp dport 143 limit rate over { 15/minute, 3/second } drop",
    "undefined-set": "add @nosuch { ip saddr } drop",
    "misspelt-meter-stmt": "tcp dport 143 meter m { ip saddr limt rate over 3/second } drop",
    "reject-code": "tcp dport 143 reject with icmp type port-unreachabel",
    "misspelt-hook": None,
    "unterminated-rule": None,
    "misspelt-protocol": "ip6 nexthdr icmp6v accept",
    "vmap-duplicate-key": "tcp dport vmap { 22 : drop, 22 : accept }",
    "misspelt-icmp-field": "icmpv6 tyep echo-request accept",
    "misspelt-icmp-type": "icmp type echo-requets accept",
    "misspelt-set-item": None,
    "keyword-chain-name": None,
    "misspelt-l4proto": "meta l4proto tpc accept",
}


def _ruleset(rules: str) -> str:
    return HEAD + "    " + rules + "\n" + TAIL


def _lint(text: str):
    v = lint_text(text, "t.nft", "nftables")
    return v, judge(v, [v])


@pytest.mark.parametrize("name", sorted(JUDGED))
def test_idiom_is_judged(name: str) -> None:
    rules, state = JUDGED[name]
    v, findings = _lint(_ruleset(rules))
    assert [f.message for f in findings if f.rule_id == "FW006"] == []
    assert v.exposure(143, "ipv4").state == state


def _refused_text(name: str) -> str:
    if name == "misspelt-hook":
        return "table inet t {\n  chain input {\n    type filter hook inptu priority 0; policy drop;\n" \
               "  }\n}\n"
    if name == "keyword-chain-name":
        return "table inet t {\n  chain input {\n    type filter hook input priority 0; policy drop;\n" \
               "  }\n  chain fwd {\n  }\n}\n"
    if name == "misspelt-set-item":
        return "table inet t {\n  set s {\n    type ipv4_addr; flgas interval;\n  }\n}\n"
    if name == "unterminated-rule":  # a block's last item needs its newline or ';'
        return "table inet t {\n  chain input {\n    type filter hook input priority 0; policy drop;\n" \
               "    tcp dport 143 accept }\n}\n"
    return _ruleset(REFUSED[name])  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_what_nft_refuses_is_fw006_on_its_line(name: str) -> None:
    text = _refused_text(name)
    line = {"misspelt-hook": 3, "unterminated-rule": 4, "misspelt-set-item": 3,
            "keyword-chain-name": 5}.get(name, 10)
    _, findings = _lint(text)
    assert any(f.rule_id == "FW006" and f.location.line == line for f in findings), \
        [(f.rule_id, f.location.line, f.message) for f in findings]


@pytest.fixture(scope="module")
def netns() -> Iterator[str]:
    if os.geteuid() != 0 or shutil.which("nft") is None or shutil.which("ip") is None:
        pytest.skip("nft -c in a network namespace needs root, nft and ip")
    name = f"igfw-idioms-{secrets.token_hex(3)}"
    if subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode != 0:
        pytest.skip("network namespaces are not permitted here")
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)


def _nft_loads(ns: str, text: str, tmp: Path) -> tuple[bool, str]:
    path = tmp / f"{secrets.token_hex(4)}.nft"
    path.write_text(text)
    proc = subprocess.run(["ip", "netns", "exec", ns, "nft", "-c", "-f", str(path)],
                          capture_output=True, text=True, timeout=30)
    return proc.returncode == 0, proc.stderr


def test_nft_loads_every_judged_idiom(netns: str, tmp_path: Path) -> None:
    bad = {}
    for name, (rules, _) in JUDGED.items():
        ok, err = _nft_loads(netns, _ruleset(rules), tmp_path)
        if not ok:
            bad[name] = err
    assert bad == {}


def test_nft_refuses_every_refused_spelling(netns: str, tmp_path: Path) -> None:
    loaded = [n for n in REFUSED if _nft_loads(netns, _refused_text(n), tmp_path)[0]]
    assert loaded == []



NETDEV = """table netdev edge {
  chain ingress {
    type filter hook ingress device "eth0" priority -500; policy accept;
  }
}
table inet f {
  chain input {
    type filter hook input priority filter - 1; policy drop;
    tcp dport 993 accept
  }
}
"""


def test_a_netdev_base_chain_with_a_device_is_read() -> None:
    v, findings = _lint(NETDEV)
    assert [f.rule_id for f in findings if f.rule_id == "FW006"] == []
    assert v.exposure(993, "ipv4").state == "open-world"
    assert v.exposure(143, "ipv4").state == "closed"


def test_nft_loads_the_netdev_ruleset(netns: str, tmp_path: Path) -> None:
    assert _nft_loads(netns, NETDEV, tmp_path)[0]
