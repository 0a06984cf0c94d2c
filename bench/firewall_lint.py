"""Benchmark: a 100,000-rule iptables-save file and a 10,000-rule nftables file lint in < 2 s each.

Prints the time per size and the growth exponent k of time ~ size**k (1.0 is linear),
and exits 1 when a limit is missed. Run: ``python bench/firewall_lint.py``.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from checks.firewall.check import lint_text
from checks.firewall.judge import judge

LIMIT_S = 2.0


def iptables_save(n: int) -> str:
    """Realistic noise: many source-restricted rules on other ports, a few user chains, 143 last."""
    lines = ["*filter", ":INPUT DROP [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT ACCEPT [0:0]",
             ":BLOCKLIST - [0:0]", "-A INPUT -i lo -j ACCEPT",
             "-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT", "-A INPUT -j BLOCKLIST"]
    for i in range(n - 4):
        a, b = (i >> 8) & 255, i & 255
        if i % 4 == 0:
            lines.append(f"-A BLOCKLIST -s 10.{a}.{b}.0/24 -j DROP")
        elif i % 4 == 1:
            lines.append(f"-A INPUT -p tcp -s 172.{16 + a % 16}.{b}.0/24 --dport {2000 + i % 60000} "
                         "-j ACCEPT")
        elif i % 4 == 2:
            lines.append(f"-A INPUT -p udp -m multiport --dports {1000 + i % 5000},{7000 + i % 100} "
                         "-j ACCEPT")
        else:
            lines.append(f"-A INPUT -p tcp -m tcp --dport {20000 + i % 40000} -m conntrack "
                         "--ctstate NEW -j ACCEPT")
    lines += ["-A INPUT -s 192.0.2.0/24 -p tcp --dport 143 -j ACCEPT",
              "-A INPUT -p tcp --dport 993 -j ACCEPT", "COMMIT", ""]
    return "\n".join(lines)


def nftables(n: int) -> str:
    lines = ["table inet filter {", "  set blocked { type ipv4_addr; flags interval; elements = { "
             + ", ".join(f"10.{i // 256}.{i % 256}.0/24" for i in range(64)) + " } }",
             "  chain input {", "    type filter hook input priority filter; policy drop;",
             "    ct state established,related accept", "    iif lo accept",
             "    ip saddr @blocked drop"]
    for i in range(n - 3):
        if i % 3 == 0:
            lines.append(f"    tcp dport {2000 + i % 60000} ip saddr 172.16.{i % 256}.0/24 accept")
        elif i % 3 == 1:
            lines.append(f"    udp dport {{ {1000 + i % 5000}, {7000 + i % 100} }} counter accept")
        else:
            lines.append(f"    th dport {20000 + i % 40000} ct state new accept comment \"r{i}\"")
    lines += ["    tcp dport imap ip saddr 192.0.2.0/24 accept", "    tcp dport imaps accept",
              "  }", "}", ""]
    return "\n".join(lines)


def lint(text: str, name: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds): CPU time is what the limit is checked on, since a shared CI
    runner's wall clock measures the neighbours too."""
    t0, c0 = time.perf_counter(), time.process_time()
    v = lint_text(text, name, None)
    for fam in ("ipv4", "ipv6"):
        for port in (143, 993):
            v.exposure(port, fam)
    judge(v, [v])
    return time.perf_counter() - t0, time.process_time() - c0


def series(make: Callable[[int], str], name: str, full: int) -> tuple[float, float]:
    sizes = [full // 8, full // 4, full // 2, full]
    lint(make(full // 8), name)  # warm-up: imports, caches
    times = []
    for n in sizes:
        text = make(n)
        wall, cpu = min(lint(text, name) for _ in range(2 if n < full else 1))
        times.append(cpu)
        print(f"  {name:<14} {n:>7} rules  {len(text) / 1e6:6.2f} MB  cpu {cpu:6.3f} s  "
              f"wall {wall:6.3f} s")
    k = math.log(times[-1] / times[0]) / math.log(sizes[-1] / sizes[0])
    print(f"  {name:<14} growth exponent k = {k:.2f} (1.0 is linear)")
    return times[-1], k


def main() -> int:
    ok = True
    for make, name, full in ((iptables_save, "rules.v4", 100_000), (nftables, "nftables.conf", 10_000)):
        t, k = series(make, name, full)
        if t >= LIMIT_S:
            print(f"FAIL {name}: {t:.2f} s >= {LIMIT_S} s")
            ok = False
        if k > 1.3:
            print(f"FAIL {name}: growth exponent {k:.2f} is not linear")
            ok = False
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
