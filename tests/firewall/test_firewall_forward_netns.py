"""Port forwarding against the kernel: a client, a router that loads the rules, an inner host.

Three namespaces on two veth links (nothing else is connected): the client (198.18.0.2, "the
internet") connects to the router's 198.18.0.1 on 143/993; the router's DNAT hands the
connection to the inner host 192.168.0.10, which listens on 143 and 993 and routes back via
the router. imap-gate's forwarding finding (FW007 for 143, FW005 naming the host for 993) must
be there exactly when the client gets through.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from checks.firewall.check import lint_text
from checks.firewall.judge import judge
from tests.support.netns import Namespaces
from tests.support.netns import run as _run

pytestmark = [pytest.mark.netns, pytest.mark.slow]

INNER = "192.168.0.10"


class Net(Namespaces):
    def __init__(self) -> None:
        super().__init__()
        tag = secrets.token_hex(3)
        self.cli, self.rtr, self.inn = f"igfwd-c-{tag}", f"igfwd-r-{tag}", f"igfwd-i-{tag}"

    def start(self) -> None:
        self.add(self.cli, self.rtr, self.inn)
        self.link(self.cli, "eth0", self.rtr, "eth0")
        self.link(self.rtr, "eth1", self.inn, "eth0")
        for ns, dev, addr in ((self.cli, "eth0", "198.18.0.2/24"), (self.rtr, "eth0", "198.18.0.1/24"),
                              (self.rtr, "eth1", "192.168.0.1/24"), (self.inn, "eth0", f"{INNER}/24")):
            _run("ip", "-n", ns, "addr", "add", addr, "dev", dev)
            _run("ip", "-n", ns, "link", "set", dev, "up")
        for ns in (self.cli, self.rtr, self.inn):
            _run("ip", "-n", ns, "link", "set", "lo", "up")
        _run("ip", "-n", self.inn, "route", "add", "default", "via", "192.168.0.1")
        _run("ip", "netns", "exec", self.rtr, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        self.listen(self.inn)

    def load(self, fmt: str, text: str, tmp: Path) -> bool:
        _run("ip", "netns", "exec", self.rtr, "nft", "flush", "ruleset")
        for table in ("filter", "nat", "mangle", "raw"):
            _run("ip", "netns", "exec", self.rtr, "iptables", "-t", table, "-F", check=False)
        _run("ip", "netns", "exec", self.rtr, "iptables", "-P", "FORWARD", "ACCEPT", check=False)
        if fmt == "nftables":
            path = tmp / f"{secrets.token_hex(3)}.nft"
            path.write_text(text)
            return _run("ip", "netns", "exec", self.rtr, "nft", "-f", str(path), check=False).returncode == 0
        return _run("ip", "netns", "exec", self.rtr, "iptables-restore", check=False,
                    stdin=text).returncode == 0

    def reaches(self, timeout: float = 0.5) -> dict[int, bool]:
        jobs = [[str(p), "198.18.0.2", "198.18.0.1", p, timeout] for p in (143, 993)]
        return {int(k): v for k, v in self.connect(self.cli, jobs).items()}


@pytest.fixture(scope="module")
def net() -> Iterator[Net]:
    if os.geteuid() != 0 or shutil.which("nft") is None or shutil.which("iptables-restore") is None:
        pytest.skip("the forwarding lab needs root, nft and iptables")
    n = Net()
    try:
        try:
            n.start()
        except (RuntimeError, OSError) as exc:
            pytest.skip(f"network namespaces are not permitted here: {exc}")
        yield n
    finally:
        n.close()


IPT = ("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
       ":POSTROUTING ACCEPT [0:0]\n-A PREROUTING -i eth0 -p tcp -m multiport --dports 143,993 -j DNAT "
       f"--to-destination {INNER}\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD {{policy}} [0:0]\n"
       ":OUTPUT ACCEPT [0:0]\n-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n"
       "{forward}\nCOMMIT\n")
NFT = ("table ip nat {{\n  chain pre {{\n    type nat hook prerouting priority dstnat; policy accept;\n"
       '    iifname "eth0" tcp dport {{ 143, 993 }} dnat to ' + INNER + "\n  }}\n}}\n"
       "table inet f {{\n  chain forward {{\n    type filter hook forward priority 0; policy {policy};\n"
       "    ct state established,related accept\n    {forward}\n  }}\n}}\n")
CASES = {
    "ipt-forward-143": ("iptables-save", IPT.format(
        policy="DROP", forward=f"-A FORWARD -i eth0 -o eth1 -p tcp -d {INNER} --dport 143 -j ACCEPT")),
    "ipt-forward-all": ("iptables-save", IPT.format(policy="ACCEPT", forward="")),
    "ipt-forward-none": ("iptables-save", IPT.format(policy="DROP", forward="")),
    "ipt-forward-other-host": ("iptables-save", IPT.format(policy="DROP", forward="-A FORWARD -p tcp -d "
                                                                               "192.168.0.99 -j ACCEPT")),
    "ipt-forward-trusted-only": ("iptables-save", IPT.format(policy="DROP", forward="-A FORWARD -p tcp -s "
                                                                                 "192.0.2.0/24 -j ACCEPT")),
    "nft-forward-993": ("nftables", NFT.format(policy="drop", forward=f'oifname "eth1" ip daddr {INNER} '
                                                                      "tcp dport 993 accept")),
    "nft-forward-all": ("nftables", NFT.format(policy="accept", forward="")),
    "nft-forward-none": ("nftables", NFT.format(policy="drop", forward="tcp dport 22 accept")),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_finding_matches_the_kernel(net: Net, name: str, tmp_path: Path) -> None:
    fmt, text = CASES[name]
    assert net.load(fmt, text, tmp_path), f"{name} does not load"
    v = lint_text(text, "rules.nft" if fmt == "nftables" else "rules.v4", fmt)
    findings = judge(v, [v])
    said = {143: any(f.rule_id == "FW007" for f in findings),
            993: any(f.rule_id == "FW005" and INNER in f.message for f in findings)}
    assert not any(f.rule_id == "FW006" for f in findings), [f.message for f in findings]
    seen = net.reaches()
    if seen != said:
        seen = net.reaches(timeout=3.0)
    assert seen == said
