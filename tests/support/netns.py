"""Network namespaces for the kernel oracles: only namespaces the tests create, joined by veth
pairs to each other and to nothing else, so no packet can leave them; torn down always.

The firewall lab (tests/firewall/test_firewall_netns.py: a server and a client) and the
forwarding lab (test_firewall_forward_netns.py: client, router, inner host) share this: how a
namespace and a link are made, the listener on 143 and 993, the connecting prober and the
teardown.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from typing import Any

# Accepts on 143 and 993 (IPv4 and IPv6) and closes at once: "the connection got through".
LISTENER = r"""
import select, socket
socks = []
for port in (143, 993):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    s.listen(128)
    socks.append(s)
print("ready", flush=True)
while True:
    ready, _, _ = select.select(socks, [], [])
    for s in ready:
        c, _ = s.accept()
        c.close()
"""

# Connects for each job [key, source, destination, port, timeout] at once; prints key -> bool.
PROBER = r"""
import json, socket, sys, threading
jobs = json.loads(sys.argv[1])
out = {}
def probe(key, src, dst, port, timeout):
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.bind((src, 0))
        s.connect((dst, port))
        out[key] = True
    except OSError:
        out[key] = False
    finally:
        s.close()
threads = [threading.Thread(target=probe, args=j) for j in jobs]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(out))
"""


def run(*argv: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """One command with a deadline; a failure is a RuntimeError naming it (the labs turn that
    into a skip where namespaces are not permitted)."""
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=60, input=stdin)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {proc.stderr.strip()}")
    return proc


class Namespaces:
    """The namespaces of one lab, its listener, and their teardown."""

    def __init__(self) -> None:
        self.created: list[str] = []
        self.listener: subprocess.Popen[str] | None = None

    def add(self, *names: str) -> None:
        for ns in names:
            run("ip", "netns", "add", ns)
            self.created.append(ns)

    def link(self, ns_a: str, dev_a: str, ns_b: str, dev_b: str) -> None:
        """A veth pair from ``dev_a`` in ``ns_a`` to ``dev_b`` in ``ns_b`` (made under random
        names in the host namespace, moved at once, then renamed)."""
        ta, tb = f"igva{secrets.token_hex(3)}", f"igvb{secrets.token_hex(3)}"
        run("ip", "link", "add", ta, "type", "veth", "peer", "name", tb)
        run("ip", "link", "set", ta, "netns", ns_a)
        run("ip", "link", "set", tb, "netns", ns_b)
        run("ip", "-n", ns_a, "link", "set", ta, "name", dev_a)
        run("ip", "-n", ns_b, "link", "set", tb, "name", dev_b)

    def listen(self, ns: str) -> None:
        self.listener = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", LISTENER],
                                         stdout=subprocess.PIPE, text=True)
        assert self.listener.stdout is not None
        if self.listener.stdout.readline().strip() != "ready":
            raise RuntimeError("the listener did not start")

    def connect(self, ns: str, jobs: list[list[Any]]) -> dict[str, bool]:
        """Which of ``jobs`` got through, connecting from inside ``ns``."""
        out = run("ip", "netns", "exec", ns, sys.executable, "-c", PROBER, json.dumps(jobs))
        return dict(json.loads(out.stdout))

    def close(self) -> None:
        if self.listener is not None:
            self.listener.kill()
            self.listener.wait(timeout=10)
            if self.listener.stdout:
                self.listener.stdout.close()
        for ns in self.created:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
