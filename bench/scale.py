#!/usr/bin/env python3
"""How imap-gate's time and memory grow: probe fleets of 10, 50 and 200
endpoints, and lint inputs of 10k, 100k and 1M lines.

    python bench/scale.py                 # everything (~3 min on 2 cores)
    python bench/scale.py --quick         # 10/50 endpoints, 10k/100k lines
    python bench/scale.py --skip-lint     # only the probe fleets

The fleets are lightweight fake IMAP listeners (STARTTLS required, a real TLS
handshake after STARTTLS, LOGINDISABLED) served by a few asyncio processes
(--fake-procs) with an ECDSA certificate (--fake-key), not Dovecot: 200 Dovecot
instances are too heavy for this machine. Every greeting is
delayed by --latency seconds, as a distant server would be, so a run that took
the sum of its endpoints instead of the slowest one would show at once.
Peak memory is each imap-gate run's own (tests/support/rusage.py). Always exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import resource
import ssl
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _fleet as fl

from tests.support import certs

SIZES = (10, 50, 200)
LINES = (10_000, 100_000, 1_000_000)


# ------------------------------------------------------------------ the fake fleet (child process)

async def _serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     ctx: ssl.SSLContext, latency: float) -> None:
    await asyncio.sleep(latency)
    writer.write(b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] fake ready\r\n")
    in_tls = False
    try:
        while True:
            line = await asyncio.wait_for(reader.readline(), 30)
            if not line:
                return
            parts = line.rstrip(b"\r\n").split(b" ", 2)
            tag, cmd = parts[0], (parts[1].upper() if len(parts) > 1 else b"")
            if cmd == b"CAPABILITY":
                caps = b"IMAP4rev1 AUTH=PLAIN" if in_tls else b"IMAP4rev1 STARTTLS LOGINDISABLED"
                writer.write(b"* CAPABILITY " + caps + b"\r\n" + tag + b" OK done\r\n")
            elif cmd == b"STARTTLS" and not in_tls:
                writer.write(tag + b" OK begin TLS\r\n")
                await writer.drain()
                await writer.start_tls(ctx)
                in_tls = True
            elif cmd == b"LOGOUT":
                writer.write(b"* BYE bye\r\n" + tag + b" OK done\r\n")
                await writer.drain()
                return
            elif cmd == b"AUTHENTICATE":
                writer.write(tag + b" NO [PRIVACYREQUIRED] use STARTTLS\r\n")
            elif cmd == b"ID":
                writer.write(b"* ID NIL\r\n" + tag + b" OK done\r\n")
            elif cmd == b"NOOP":
                writer.write(tag + b" OK done\r\n")
            else:
                writer.write(tag + b" BAD unknown\r\n")
            await writer.drain()
    except (TimeoutError, OSError, ssl.SSLError, ConnectionError):
        return
    finally:
        try:
            writer.close()
        except (OSError, RuntimeError):
            pass


def _fleet_process(n: int, latency: float, cert_dir: str, key_kind: str, ports: mp.Queue,
                   stop: mp.Event) -> None:
    issued = certs.make_leaf(None, ["127.0.0.1", "localhost"], key_kind=key_kind)
    cert, key = issued.write(Path(cert_dir), "fake")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    async def main() -> None:
        servers = [await asyncio.start_server(
            lambda r, w: _serve_one(r, w, ctx, latency), fl.SERVER, 0, backlog=256) for _ in range(n)]
        ports.put([s.sockets[0].getsockname()[1] for s in servers])
        while not stop.is_set():
            await asyncio.sleep(0.1)
        for s in servers:
            s.close()

    asyncio.run(main())


@dataclass
class FakeFleet:
    ports: list[int]
    procs: list[mp.Process]
    stop_event: mp.Event

    def cpu_seconds(self) -> float:
        """User+system CPU the fake servers have used so far (Linux /proc)."""
        total = 0.0
        for proc in self.procs:
            try:
                fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def stop(self) -> None:
        self.stop_event.set()
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join(5)


def start_fake_fleet(n: int, latency: float, work: Path, procs: int = 2,
                     key_kind: str = "ec") -> FakeFleet:
    """``n`` listeners spread over ``procs`` asyncio processes.

    The fakes share the machine's cores with the imap-gate run they serve, which a real
    fleet does not: every connection costs the fake a TLS handshake in Python. One
    process (the bench's first version) became the bottleneck at 200 endpoints; several
    processes and an ECDSA P-256 key (a signature costs ~30x less than RSA-2048's) keep
    the fake's share small, so the figures measure imap-gate. ``--fake-procs 1 --fake-key rsa``
    gives the old setting."""
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()
    stop = ctx.Event()
    procs = max(1, min(procs, n))
    shares = [n // procs + (1 if i < n % procs else 0) for i in range(procs)]
    started = []
    for i, share in enumerate(shares):
        d = work / f"fake{i}"
        d.mkdir(parents=True, exist_ok=True)
        proc = ctx.Process(target=_fleet_process, args=(share, latency, str(d), key_kind, q, stop),
                           daemon=True)
        proc.start()
        started.append(proc)
    ports: list[int] = []
    for _ in started:
        ports += q.get(timeout=60)
    return FakeFleet(ports, started, stop)


# ------------------------------------------------------------------ probe scaling

def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def probe_scaling(sizes: tuple[int, ...], latency: float, work: Path, procs: int = 2,
                  key_kind: str = "ec") -> None:
    print(f"\nProbe fleet scaling: fake STARTTLS-required listeners in {procs} asyncio "
          f"process(es), {key_kind.upper()} key, greeting latency {latency:.2f} s; concurrency "
          f"set to the fleet size; CPU = user+system seconds of imap-gate / of the fakes")
    rows = []
    xs, ts, ms = [], [], []
    for n in sizes:
        d = work / f"fleet{n}"
        d.mkdir(parents=True, exist_ok=True)
        fleet = start_fake_fleet(n, latency, d, procs, key_kind)
        try:
            eps = [fl.Endpoint(f"fake{i}", "fake", p, "imap", frozenset())
                   for i, p in enumerate(fleet.ports)]
            one = fl.timed_run(_probe_argv(fl.write_manifest(d / "one" / "imap-gate.yml", eps[:1], None,
                                                             timeout=10, source=None)), 120)
            m = fl.write_manifest(d / "imap-gate.yml", eps, None, timeout=10, source=None,
                                  concurrency=max(32, n))
            gate0, fake0 = _children_cpu(), fleet.cpu_seconds()
            run = fl.timed_run(_probe_argv(m, json_out=d / "out.json"), 300)
            gate_cpu, fake_cpu = _children_cpu() - gate0, fleet.cpu_seconds() - fake0
        finally:
            fleet.stop()
        judged = _judged(d / "out.json")
        conns, shakes = _per_endpoint(d / "out.json")
        xs.append(n)
        ts.append(run.seconds)
        ms.append(run.maxrss_kb / 1024)
        floor = (gate_cpu + fake_cpu) / max(1, os.cpu_count() or 1)
        rows.append([str(n), f"{run.seconds:.2f} s", f"{one.seconds:.2f} s",
                     f"{run.seconds / one.seconds:.1f}x", f"{n * one.seconds:.0f} s",
                     f"{run.maxrss_kb / 1024:.0f} MiB", f"{gate_cpu:.2f} s", f"{fake_cpu:.2f} s",
                     f"{floor:.2f} s", f"{judged}/{n}", conns, shakes,
                     "HUNG" if run.hung else f"exit {run.code}"])
    print(fl.table(["endpoints", "fleet", "one alone", "fleet/one", "sum would be", "peak RSS",
                    "gate CPU", "fakes CPU", "CPU floor", "judged", "connections/endpoint",
                    "handshakes/endpoint", "run"], rows))
    print(f"growth exponent (time vs endpoints): {fl.fit_exponent(xs, ts):.2f}; "
          f"memory vs endpoints: {fl.fit_exponent(xs, ms):.2f}  (1.0 = linear, 0 = flat)")
    print(f"CPU floor = (gate CPU + fakes CPU) / {os.cpu_count()} cores: the shortest wall time "
          "this machine allows for that work, whatever the concurrency")


def _probe_argv(manifest: Path, json_out: Path | None = None) -> list[str]:
    args = ["--root", str(manifest.parent), "--manifest", str(manifest), "--only", "probe", "--quiet"]
    if json_out:
        args += ["--json", str(json_out)]
    return fl.entrypoint_argv(*args)


def _per_endpoint(path: Path) -> tuple[str, str]:
    """Median connections and largest TLS handshake count per endpoint, from the JSON report
    (connections sit with the timings: how many turn out moot depends on the clock)."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return "-", "-"
    timings = (doc.get("invocation") or {}).get("timings") or {}
    conns = sorted(int((v.get("timings") or {}).get("connections", 0)) for v in timings.values())
    shakes = [int(v.get("handshakes", 0)) + int((v.get("tls") or {}).get("handshakes", 0))
              for v in (doc.get("endpoints") or {}).values()]
    if not conns or not shakes:
        return "-", "-"
    return f"median {conns[len(conns) // 2]}", f"max {max(shakes)}"


def _judged(path: Path) -> int:
    """Endpoints whose facts show a completed STARTTLS, i.e. really probed."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return 0
    return sum(1 for v in (doc.get("endpoints") or {}).values() if v.get("starttls") == "ok")


# ------------------------------------------------------------------ lint scaling

def dovecot_conf(lines: int) -> str:
    """A valid dovecot.conf of about ``lines`` lines: a real header, then a plugin
    section (free-form keys doveconf accepts) with comments mixed in."""
    head = ["protocols = imap", "listen = 127.0.0.1", "ssl = required", "disable_plaintext_auth = yes",
            "ssl_min_protocol = TLSv1.2", "auth_mechanisms = plain", "plugin {"]
    body = [f"  # setting {i}" if i % 10 == 0 else f"  bench_setting_{i} = value {i}"
            for i in range(max(0, lines - len(head) - 1))]
    return "\n".join([*head, *body, "}"]) + "\n"


def iptables_save(lines: int) -> str:
    head = ["*filter", ":INPUT DROP [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT ACCEPT [0:0]",
            "-A INPUT -i lo -j ACCEPT", "-A INPUT -p tcp -m tcp --dport 993 -j ACCEPT"]
    body = [f"-A INPUT -s 10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}/32 -p tcp -m tcp "
            f"--dport {1024 + i % 60000} -j ACCEPT" for i in range(max(0, lines - len(head) - 1))]
    return "\n".join([*head, *body, "COMMIT"]) + "\n"


def nftables(lines: int) -> str:
    head = ["table inet filter {", "  chain input {", "    type filter hook input priority 0; policy drop;",
            "    iif lo accept", "    tcp dport 993 accept"]
    body = [f"    ip saddr 10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255} "
            f"tcp dport {1024 + i % 60000} accept" for i in range(max(0, lines - len(head) - 2))]
    return "\n".join([*head, *body, "  }", "}"]) + "\n"


KINDS = {
    "dovecot.conf": ("dovecot.conf", dovecot_conf, "configs:\n  dovecot: [dovecot.conf]\n"),
    "iptables-save": ("rules.v4", iptables_save,
                      "configs:\n  firewall: [{path: rules.v4, format: iptables-save}]\n"),
    "nftables": ("nftables.conf", nftables,
                 "configs:\n  firewall: [{path: nftables.conf, format: nftables}]\n"),
}


def lint_scaling(sizes: tuple[int, ...], work: Path, limit: float, kinds: list[str]) -> None:
    print("\nLint scaling: entrypoint.py --only lint on generated trees "
          "(time includes interpreter start-up; 'net' subtracts an empty lint run)")
    empty_root = work / "lint-empty"
    empty_root.mkdir(parents=True, exist_ok=True)
    (empty_root / "imap-gate.yml").write_text("version: 1\ntargets: []\n")
    empty = fl.median([fl.timed_run(fl.entrypoint_argv("--root", str(empty_root), "--only", "lint",
                                                       "--quiet"), 60).seconds for _ in range(3)])
    print(f"empty lint run: {empty:.2f} s")
    rows = []
    ratios: list[str] = []
    for kind in kinds:
        fname, gen, cfg = KINDS[kind]
        xs, ts, nets, ms = [], [], [], []
        for n in sizes:
            root = work / f"lint-{kind}-{n}"
            root.mkdir(parents=True, exist_ok=True)
            text = gen(n)
            (root / fname).write_text(text)
            (root / "imap-gate.yml").write_text("version: 1\ntargets: []\n" + cfg)
            r = fl.timed_run(fl.entrypoint_argv("--root", str(root), "--only", "lint", "--quiet",
                                                "--json", str(root / "out.json")), limit)
            findings = _count_findings(root / "out.json")
            xs.append(n)
            ts.append(r.seconds)
            nets.append(max(r.seconds - empty, 1e-3))
            ms.append(r.maxrss_kb / 1024)
            rows.append([kind, f"{text.count(chr(10)):,}", f"{len(text) / 1e6:.1f} MB",
                         f"{r.seconds:.2f} s", f"{max(r.seconds - empty, 0):.2f} s",
                         f"{r.maxrss_kb / 1024:.0f} MiB", str(findings),
                         "TIMEOUT" if r.hung else f"exit {r.code}"])
            if kind == "iptables-save":
                ratios.append(_restore_ratio(root, fname, r.seconds, n, limit))
        rows.append([kind, "growth exponent", "", f"{fl.fit_exponent(xs, ts):.2f}",
                     f"{fl.fit_exponent(xs, nets):.2f}", f"{fl.fit_exponent(xs, ms):.2f}", "", ""])
    print(fl.table(["input", "lines", "size", "time", "net", "peak RSS", "findings", "run"], rows))
    for line in ratios:
        print(line)


def _restore_ratio(root: Path, fname: str, first: float, lines: int, limit: float) -> str:
    """imap-gate's whole lint run (interpreter start-up included) against ``iptables-restore
    --test`` on the same file; the target is within 2x. Best of three each, taken in turns so
    both see the same load; CPU time (user+sys of the processes) as well as wall time, since
    on a shared machine wall time mostly measures the neighbours."""
    import resource
    import shutil
    import subprocess
    path = root / fname
    tool = shutil.which("iptables-restore")
    if tool is None:
        return f"iptables-save {lines:,} lines: iptables-restore is not installed, no ratio"

    def cpu() -> float:
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        return ru.ru_utime + ru.ru_stime

    gate_wall, gate_cpu, tool_wall, tool_cpu = first, float("inf"), float("inf"), float("inf")
    for _ in range(3):
        c0 = cpu()
        r = fl.timed_run(fl.entrypoint_argv("--root", str(root), "--only", "lint", "--quiet"), limit)
        gate_cpu = min(gate_cpu, cpu() - c0)
        gate_wall = min(gate_wall, r.seconds)
        c0, t0 = cpu(), time.monotonic()
        proc = subprocess.run([tool, "--test", str(path)], capture_output=True, timeout=limit)
        tool_wall = min(tool_wall, time.monotonic() - t0)
        tool_cpu = min(tool_cpu, cpu() - c0)
        if proc.returncode != 0:
            return (f"iptables-save {lines:,} lines: iptables-restore --test failed "
                    f"({proc.stderr.decode(errors='replace').strip()[:80]}), no ratio")
    return (f"iptables-save {lines:,} lines vs iptables-restore --test: wall {gate_wall:.2f} s / "
            f"{tool_wall:.2f} s = {gate_wall / tool_wall:.2f}x, CPU {gate_cpu:.2f} s / "
            f"{tool_cpu:.2f} s = {gate_cpu / max(tool_cpu, 1e-3):.2f}x (target: within 2x)")


def _count_findings(path: Path) -> str:
    try:
        return str(len(json.loads(path.read_text()).get("findings", [])))
    except (OSError, ValueError):
        return "-"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="10/50 endpoints and 10k/100k lines")
    p.add_argument("--skip-lint", action="store_true")
    p.add_argument("--skip-probe", action="store_true")
    p.add_argument("--latency", type=float, default=0.2, help="greeting delay of every fake endpoint")
    p.add_argument("--fake-procs", type=int, default=2, help="processes serving the fake fleet")
    p.add_argument("--fake-key", choices=("ec", "rsa"), default="ec",
                   help="the fakes' certificate key (rsa: 2048 bits)")
    p.add_argument("--lint-timeout", type=float, default=300.0)
    p.add_argument("--workdir", type=Path)
    p.add_argument("--entrypoint", type=Path,
                   help="measure another checkout's entrypoint.py (default: this one's)")
    p.add_argument("--only-kind", choices=sorted(KINDS), action="append",
                   help="lint only these input kinds (repeatable)")
    args = p.parse_args(argv)
    fl.compile_imap_gate()
    if args.entrypoint:
        fl.ENTRYPOINT = args.entrypoint.resolve()
    sys.stdout.reconfigure(line_buffering=True)      # type: ignore[union-attr]
    work = args.workdir or Path(tempfile.mkdtemp(prefix="imap-gate-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    print(f"imap-gate scale bench; {fl.ENTRYPOINT}; work dir {work}")
    if not args.skip_probe:
        probe_scaling(SIZES[:2] if args.quick else SIZES, args.latency, work, args.fake_procs,
                      args.fake_key)
    if not args.skip_lint:
        kinds = args.only_kind or sorted(KINDS)
        lint_scaling(LINES[:2] if args.quick else LINES, work, args.lint_timeout, kinds)
    print(f"\nwhole bench {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    fl.run_main(main, "scale")
