#!/usr/bin/env python3
"""imap-gate against sslyze, testssl.sh and nmap, on the same fleet of real
Dovecot endpoints, in the same run: wall time, ratios, connections per endpoint,
and which tool reported which problem.

    python bench/probe_fleet.py              # 21 endpoints, every peer (~8 min on 2 cores)
    python bench/probe_fleet.py --quick      # 14 endpoints, smaller samples, no testssl default
    python bench/probe_fleet.py --skip testssl,nmap

Install the peers first with ``bash bench/setup.sh``; a peer that is missing is
skipped with a message. Always exits 0: this prints figures, it does not judge.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import tempfile
import time
import xml.etree.ElementTree as ET  # our own nmap's output, not untrusted input
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _fleet as fl

NXCONNECT = {"NXCONNECT": "127.0.0.1:0"}      # keeps testssl.sh from resolving a probe name
SAMPLE_ORDER = ("legacy-993", "secure-143", "expired-993", "nossl-143", "selfsigned-143",
                "wronghost-993", "cleartext-143", "993only-993")
FLAG, FACT, NONE = "Y", "f", "-"


def progress(text: str) -> None:
    print(f"... {text}", file=sys.stderr, flush=True)


@dataclass
class ToolResult:
    """One way of running one tool: its fleet wall time, per endpoint times, and
    per endpoint detections (kind -> FLAG or FACT)."""

    tool: str
    fleet_seconds: float | None = None
    fleet_note: str = ""
    per_endpoint: dict[str, float] = field(default_factory=dict)
    hung: list[str] = field(default_factory=list)
    detections: dict[str, dict[str, str]] = field(default_factory=dict)
    connections: dict[str, int] = field(default_factory=dict)
    handshakes: dict[str, int] = field(default_factory=dict)
    skipped: str = ""
    covered: set[str] = field(default_factory=set)   # endpoints the detections speak for

    def median(self) -> float | None:
        return fl.median(list(self.per_endpoint.values())) if self.per_endpoint else None


# ------------------------------------------------------------------ Dovecot's log: connections

LPORT = re.compile(rb"imap-login: .*?\blport=(\d+)")


def connection_counts(fleet: fl.Fleet) -> Counter[int]:
    """Login connections per local port so far, from every instance's log (Dovecot
    logs one line when each pre-login connection ends)."""
    time.sleep(0.3)                    # the log process writes asynchronously
    counts: Counter[int] = Counter()
    for d in fleet.instances:
        if d.log.exists():
            counts.update(int(m.group(1)) for m in LPORT.finditer(d.log.read_bytes()))
    return counts


def connections_between(fleet: fl.Fleet, before: Counter[int]) -> dict[str, int]:
    after = connection_counts(fleet)
    return {e.name: after[e.port] - before[e.port] for e in fleet.endpoints}


# ------------------------------------------------------------------ imap-gate

def rule_kinds(findings: Iterable[dict[str, Any]]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for f in findings:
        kind = fl.RULE_KIND.get(f.get("rule_id", ""))
        if kind and f.get("target"):
            out.setdefault(f["target"], {})[kind] = FLAG
    return out


def sum_counts(obj: Any, name: str = "handshakes") -> int | None:
    """The sum of every integer under ``name`` anywhere in ``obj`` (the probe's own
    handshakes plus the TLS assessment's); the facts' shape belongs to the probe,
    so it is read defensively. None when there is no such key at all."""
    total: int | None = None
    stack = [obj]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            for k, v in cur.items():
                if k == name and isinstance(v, int) and not isinstance(v, bool):
                    total = (total or 0) + v
                else:
                    stack.append(v)
        elif isinstance(cur, list):
            stack.extend(cur)
    return total


def run_imap_gate(fleet: fl.Fleet, work: Path, timeout: float, repeat: int) -> ToolResult:
    res = ToolResult("imap-gate")
    manifest = fl.write_manifest(work / "imap-gate.yml", fleet.endpoints, fleet.ca_path)
    argv = fl.entrypoint_argv("--root", str(work), "--manifest", str(manifest), "--only", "probe",
                              "--json", str(work / "out.json"), "--sarif", str(work / "out.sarif"),
                              "--quiet")
    before = connection_counts(fleet)
    runs = [fl.timed_run(argv, timeout, cwd=work) for _ in range(repeat)]
    conns = connections_between(fleet, before)
    res.connections = {k: v // repeat for k, v in conns.items()}
    res.fleet_seconds = fl.median([r.seconds for r in runs])
    last = runs[-1]
    res.fleet_note = (f"median of {repeat}, exit {last.code}, peak RSS {last.maxrss_kb // 1024} MiB"
                      if not last.hung else "HUNG")
    if last.hung:
        res.hung.append("fleet")
    try:
        doc = json.loads((work / "out.json").read_text())
    except (OSError, ValueError):
        doc = {}
        res.fleet_note += "; no JSON report (" + last.stderr.strip()[-200:] + ")"
    res.detections = rule_kinds(doc.get("findings", []))
    res.covered = {e.name for e in fleet.endpoints}
    for key, facts in (doc.get("endpoints") or {}).items():
        n = sum_counts(facts)
        if n is not None:
            res.handshakes[key.rsplit(":", 1)[0]] = n
    for e in fleet.endpoints:
        one = work / e.name
        one.mkdir(exist_ok=True)
        m = fl.write_manifest(one / "imap-gate.yml", [e], fleet.ca_path)
        r = fl.timed_run(fl.entrypoint_argv("--root", str(one), "--manifest", str(m), "--only",
                                            "probe", "--quiet"), timeout, cwd=one)
        res.per_endpoint[e.name] = r.seconds
        if r.hung:
            res.hung.append(e.name)
    return res


# ------------------------------------------------------------------ imap-gate's legs

# Endpoints beside the Dovecot fleet for imap-gate alone: a second real server (GNU
# Mailutils imap4d, GnuTLS with TLS 1.0/1.1 and 3DES) and fakes that delay on purpose.
# The delay a prober cannot avoid: Cyrus-like refusal after 3 s (the answer is the fact);
# a Courier-like cancel answered after 5 s is avoidable (the '+' already is the answer).
REFUSAL_DELAY, CANCEL_DELAY = 3.0, 5.0


def start_extras(work: Path, stack: Any) -> tuple[list[fl.Endpoint], float]:
    """Start the extra endpoints inside ``stack`` (an ExitStack); their unavoidable delay."""
    from tests.support import fakeserver as fs
    from tests.support import imap4d

    eps: list[fl.Endpoint] = []
    if imap4d.available():
        req = stack.enter_context(imap4d.start(work / "imap4d-required", "required"))
        conn = stack.enter_context(imap4d.start(work / "imap4d-connection", "connection"))
        eps += [fl.Endpoint("imap4d-required-143", "imap4d", req.port, "imap", frozenset()),
                fl.Endpoint("imap4d-connection-993", "imap4d", conn.port, "imaps", frozenset())]
    fs.server_context()   # the fakes' certificate, made now rather than in the first handshake
    refusal = stack.enter_context(fs.serve(fs.imap_script(auth_delay=REFUSAL_DELAY)))
    cancel = stack.enter_context(fs.serve(fs.imap_script(auth="continue",
                                                         cancel_delay=CANCEL_DELAY)))
    eps += [fl.Endpoint("fake-refusal-3s-143", "fake", refusal.port, "imap", frozenset()),
            fl.Endpoint("fake-cancel-5s-143", "fake", cancel.port, "imap", frozenset())]
    return eps, REFUSAL_DELAY


LEG_NAMES = ("greeting", "auth", "injection", "tls")


def run_legs(fleet: fl.Fleet, work: Path, timeout: float) -> None:
    """One imap-gate run over the fleet and the extras: per endpoint its legs, their times,
    the critical leg, connections and handshakes; the fleet's wall time against the slowest
    endpoint's unavoidable delay."""
    import contextlib

    work.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        extras, delay = start_extras(work, stack)
        eps = [*fleet.endpoints, *extras]
        manifest = fl.write_manifest(work / "imap-gate.yml", eps, fleet.ca_path, timeout=3.0)
        argv = fl.entrypoint_argv("--root", str(work), "--manifest", str(manifest), "--only",
                                  "probe", "--json", str(work / "out.json"), "--quiet")
        run = fl.timed_run(argv, timeout, cwd=work)
    try:
        doc = json.loads((work / "out.json").read_text())
    except (OSError, ValueError):
        print(f"\nlegs: no JSON report ({run.stderr.strip()[-200:]})")
        return
    timings = (doc.get("invocation") or {}).get("timings") or {}
    endpoints = doc.get("endpoints") or {}
    rows = []
    for e in eps:
        key = f"{e.name}:{e.port}"
        t = (timings.get(key) or {}).get("timings") or {}
        legs = {k: t[k] for k in LEG_NAMES if k in t}
        critical = max(legs, key=lambda k: legs[k]) if legs else "-"
        hs = sum_counts(endpoints.get(key) or {})
        rows.append([e.name, *(f"{legs[k]:.2f}" if k in legs else "-" for k in LEG_NAMES),
                     critical, f"{t.get('total', 0):.2f}", str(int(t.get("connections", 0))),
                     str(hs if hs is not None else "-")])
    print(f"\nimap-gate's legs, one run over {len(eps)} endpoints ({len(extras)} beyond the Dovecot "
          "fleet: imap4d and delaying fakes), timeout 3 s, default per_host")
    print(fl.table(["endpoint", *LEG_NAMES, "critical", "endpoint", "connections", "handshakes"],
                   rows))
    startup = fl.median([fl.timed_run(fl.entrypoint_argv("--version"), 30).seconds
                         for _ in range(3)])
    probe = run.seconds - startup
    print(f"fleet wall time {run.seconds:.2f} s (start-up {startup:.2f} s, probing {probe:.2f} s); "
          f"slowest unavoidable delay {delay:.1f} s (a refusal after {delay:.0f} s): "
          f"{probe - delay:+.2f} s over it (bound: +0.50 s); exit {run.code}")


# ------------------------------------------------------------------ sslyze

def sslyze_target(e: fl.Endpoint) -> str:
    return f"{fl.SERVER}:{e.port}{{{fl.SERVER}}}"       # IP in braces: no name resolution


SSLYZE_LIMITED = ["--certinfo", "--sslv2", "--sslv3", "--tlsv1", "--tlsv1_1", "--tlsv1_2",
                  "--tlsv1_3", "--mozilla_config", "disable"]
WEAK_SUITE = re.compile(r"_anon_|NULL|EXPORT|RC4|_DES_|3DES|MD5")


def sslyze_argv(exe: str, fleet: fl.Fleet, endpoints: Sequence[fl.Endpoint], out: Path,
                limited: bool) -> list[str]:
    argv = [exe, "--quiet", "--json_out", str(out), "--certinfo_ca_file", str(fleet.ca_path)]
    if limited:
        argv += SSLYZE_LIMITED
    if endpoints and endpoints[0].starttls:
        argv += ["--starttls", "imap"]
    return argv + [sslyze_target(e) for e in endpoints]


def parse_sslyze(path: Path, by_port: dict[int, fl.Endpoint]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return out
    for s in doc.get("server_scan_results", []):
        e = by_port.get((s.get("server_location") or {}).get("port"))
        if e is None:
            continue
        det = out.setdefault(e.name, {})
        if s.get("connectivity_status") != "COMPLETED":
            if "START TLS was rejected" in (s.get("connectivity_error_trace") or ""):
                det["starttls-missing"] = FACT
            continue
        r = s.get("scan_result") or {}
        for version in ("ssl_2_0", "ssl_3_0", "tls_1_0", "tls_1_1"):
            accepted = ((r.get(f"{version}_cipher_suites") or {}).get("result") or {}).get(
                "accepted_cipher_suites") or []
            if accepted:
                det["legacy-tls"] = FLAG
        for key, val in r.items():
            if key.endswith("_cipher_suites"):
                for c in ((val or {}).get("result") or {}).get("accepted_cipher_suites") or []:
                    if WEAK_SUITE.search(c.get("cipher_suite", {}).get("name", "")):
                        det["weak-cipher"] = FLAG
        deps = (((r.get("certificate_info") or {}).get("result") or {})
                .get("certificate_deployments") or [])
        for dep in deps[:1]:
            results = dep.get("path_validation_results") or []
            if results and not any(p.get("was_validation_successful") for p in results):
                errors = " ".join(str(p.get("validation_error")) for p in results)
                if "not valid at validation time" in errors or "expired" in errors:
                    det["cert-expired"] = FLAG
                elif "subjectAltName" in errors or "hostname" in errors.lower():
                    det["cert-name"] = FLAG
                else:
                    det["cert-untrusted"] = FLAG
    return out


def run_sslyze(exe: str, fleet: fl.Fleet, work: Path, limited: bool, sample: Sequence[fl.Endpoint],
               limit: float) -> ToolResult:
    res = ToolResult("sslyze " + ("limited" if limited else "default"))
    by_port = {e.port: e for e in fleet.endpoints}
    groups = [[e for e in fleet.endpoints if e.starttls], [e for e in fleet.endpoints if not e.starttls]]
    groups = [g for g in groups if g]
    outs = [work / f"sslyze-{'lim' if limited else 'def'}-{i}.json" for i in range(len(groups))]
    before = connection_counts(fleet)
    # --starttls is global: one run for the STARTTLS endpoints, one for implicit TLS
    runs = [fl.timed_run(sslyze_argv(exe, fleet, g, o, limited), limit)
            for g, o in zip(groups, outs, strict=True)]
    res.fleet_seconds = sum(r.seconds for r in runs)
    res.connections = connections_between(fleet, before)
    res.fleet_note = "one run per --starttls setting, one after the other"
    if any(r.hung for r in runs):
        res.hung.append("fleet")
        res.fleet_note += f"; killed at {limit:.0f} s"
    res.covered = {e.name for e in fleet.endpoints}
    for o in outs:
        for k, v in parse_sslyze(o, by_port).items():
            res.detections.setdefault(k, {}).update(v)
    if not limited:
        for e in sample:
            r = fl.timed_run(sslyze_argv(exe, fleet, [e], work / f"sslyze-one-{e.name}.json", False),
                             limit)
            res.per_endpoint[e.name] = r.seconds
            if r.hung:
                res.hung.append(e.name)
    return res


# ------------------------------------------------------------------ testssl.sh

TESTSSL_COMMON = ["--quiet", "--color", "0", "--nodns", "none", "--warnings", "off"]
TESTSSL_FAST = ["-p", "-s", "-S"]
TESTSSL_WEAK = {"cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT", "cipherlist_LOW",
                "cipherlist_3DES_IDEA", "RC4"}
TESTSSL_LEGACY = {"SSLv2", "SSLv3", "TLS1", "TLS1_1"}
QUIET_SEVERITIES = {"OK", "INFO", "DEBUG"}


def testssl_args(fleet: fl.Fleet, e: fl.Endpoint, fast: bool) -> list[str]:
    args = [*TESTSSL_COMMON, "--add-ca", str(fleet.ca_path)]
    if fast:
        args += TESTSSL_FAST
    if e.starttls:
        args += ["--starttls", "imap"]
    return [*args, f"{fl.SERVER}:{e.port}"]


def parse_testssl(path: Path, by_port: dict[int, fl.Endpoint],
                  only: fl.Endpoint | None = None) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return out
    entries = doc if isinstance(doc, list) else doc.get("scanResult", [])
    for x in entries:
        if not isinstance(x, dict):
            continue
        e = only or by_port.get(_int(x.get("port")))
        if e is None:
            continue
        det = out.setdefault(e.name, {})
        ident, sev = str(x.get("id", "")), str(x.get("severity", ""))
        finding = str(x.get("finding", ""))
        if ident in TESTSSL_LEGACY and finding.startswith("offered"):
            det["legacy-tls"] = FLAG
        elif ident in TESTSSL_WEAK and finding.startswith("offered"):
            det["weak-cipher"] = FLAG
        elif ident == "cert_expirationStatus" and sev not in QUIET_SEVERITIES:
            det["cert-expired"] = FLAG
        elif ident == "cert_chain_of_trust" and sev not in QUIET_SEVERITIES:
            if "expired" in finding or "not yet valid" in finding:
                det["cert-expired"] = FLAG
            else:
                det["cert-untrusted"] = FLAG
        elif ident == "cert_trust" and sev not in QUIET_SEVERITIES:
            det["cert-name"] = FLAG
        elif ident in ("optimal_proto", "scanProblem") and "TLS/SSL enabled" in finding:
            det["starttls-missing"] = FACT
    return out


def _int(v: Any) -> int | None:
    try:
        return int(str(v))
    except ValueError:
        return None


def run_testssl(exe: str, fleet: fl.Fleet, work: Path, sample: Sequence[fl.Endpoint],
                sample_default: Sequence[fl.Endpoint], fleet_mode: bool, limit: float,
                fleet_limit: float) -> list[ToolResult]:
    by_port = {e.port: e for e in fleet.endpoints}
    fast = ToolResult("testssl.sh fast")
    default = ToolResult("testssl.sh default")
    if fleet_mode:
        targets = work / "testssl-targets.txt"
        targets.write_text("".join(" ".join([*testssl_args(fleet, e, True)[1:]]) + "\n"
                                   for e in fleet.endpoints))
        out = work / "testssl-fleet.json"
        before = connection_counts(fleet)
        r = fl.timed_run([exe, "--quiet", "--color", "0", "--warnings", "off", "--parallel",
                          "--jsonfile", str(out), "--file", str(targets)], fleet_limit, env=NXCONNECT,
                         cwd=work)
        fast.connections = connections_between(fleet, before)
        fast.fleet_seconds = r.seconds
        fast.fleet_note = "--parallel over --file"
        if r.hung:
            fast.hung.append("fleet")
            fast.fleet_note += f"; killed at {fleet_limit:.0f} s"
        fast.detections = parse_testssl(out, by_port)
        fast.covered = {e.name for e in fleet.endpoints}
    for e in sample:
        out = work / f"testssl-fast-{e.name}.json"
        r = fl.timed_run([exe, "--jsonfile", str(out), *testssl_args(fleet, e, True)], limit,
                         env=NXCONNECT, cwd=work)
        fast.per_endpoint[e.name] = r.seconds
        if r.hung:
            fast.hung.append(e.name)
        if not fleet_mode:
            fast.detections.update(parse_testssl(out, by_port, e))
            fast.covered.add(e.name)
    for e in sample_default:
        out = work / f"testssl-default-{e.name}.json"
        r = fl.timed_run([exe, "--jsonfile", str(out), *testssl_args(fleet, e, False)], limit,
                         env=NXCONNECT, cwd=work)
        default.per_endpoint[e.name] = r.seconds
        if r.hung:
            default.hung.append(e.name)
        default.detections.update(parse_testssl(out, by_port, e))
        default.covered.add(e.name)
    return [fast, default] if sample_default else [fast]


# ------------------------------------------------------------------ nmap

# '+' forces the TLS scripts: on a non-standard port nmap 7.93's -sV does not recognise
# a TLS-1.2+-only server, so they would not run at all (on 993 the port number would).
NMAP_SCRIPTS = "imap-capabilities,+ssl-enum-ciphers,+ssl-cert"


def nmap_argv(exe: str, ports: Sequence[int], out: Path) -> list[str]:
    return [exe, "-n", "-Pn", "-sV", "--script", NMAP_SCRIPTS, "-S", fl.CLIENT, "-e", "lo",
            "-p", ",".join(str(p) for p in ports), "-oX", str(out), fl.SERVER]


def parse_nmap(path: Path, by_port: dict[int, fl.Endpoint], now: dt.datetime) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return out
    for port in root.iter("port"):
        e = by_port.get(_int(port.get("portid")))
        if e is None:
            continue
        det = out.setdefault(e.name, {})
        for script in port.iter("script"):
            sid = script.get("id")
            if sid == "ssl-enum-ciphers":
                tables = {t.get("key") for t in script.findall("table")}
                if tables & {"SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1"}:
                    det["legacy-tls"] = FACT
                least = next((el.text for el in script.findall("elem")
                              if el.get("key") == "least strength"), "A")
                if (least or "A") in ("C", "D", "E", "F"):
                    det["weak-cipher"] = FLAG
            elif sid == "ssl-cert":
                for t in script.iter("table"):
                    if t.get("key") != "validity":
                        continue
                    dates = {el.get("key"): el.text for el in t.findall("elem")}
                    if _past(dates.get("notAfter"), now) or not _past(dates.get("notBefore"), now):
                        det["cert-expired"] = FACT
            elif sid == "imap-capabilities" and e.starttls:
                caps = (script.get("output") or "").split()
                if caps and "STARTTLS" not in caps:
                    det["starttls-missing"] = FACT
                if caps and not any(c.startswith("LOGINDISABLED") for c in caps):
                    det["cleartext-auth"] = FACT
    return out


def _past(text: str | None, now: dt.datetime) -> bool:
    if not text:
        return True
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return True
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when < now


def run_nmap(exe: str, fleet: fl.Fleet, work: Path, sample: Sequence[fl.Endpoint],
             limit: float, fleet_limit: float) -> ToolResult:
    res = ToolResult("nmap")
    by_port = {e.port: e for e in fleet.endpoints}
    out = work / "nmap-fleet.xml"
    before = connection_counts(fleet)
    r = fl.timed_run(nmap_argv(exe, [e.port for e in fleet.endpoints], out), fleet_limit)
    res.connections = connections_between(fleet, before)
    res.fleet_seconds = r.seconds
    res.fleet_note = "one run, all ports"
    if r.hung:
        res.hung.append("fleet")
        res.fleet_note += f"; killed at {fleet_limit:.0f} s"
    res.detections = parse_nmap(out, by_port, dt.datetime.now(dt.UTC))
    res.covered = {e.name for e in fleet.endpoints}
    for e in sample:
        r = fl.timed_run(nmap_argv(exe, [e.port], work / f"nmap-{e.name}.xml"), limit)
        res.per_endpoint[e.name] = r.seconds
        if r.hung:
            res.hung.append(e.name)
    return res


# ------------------------------------------------------------------ printing

def fmt_s(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f} s"


def ratio(v: float | None, base: float | None) -> str:
    if v is None or not base:
        return "-"
    return f"{v / base:.1f}x"


def print_times(results: list[ToolResult], n: int) -> None:
    gate = results[0]
    rows = []
    for r in results:
        if r.skipped:
            rows.append([r.tool, "skipped", "", "", "", r.skipped])
            continue
        sample = f"median of {len(r.per_endpoint)}" if r.per_endpoint else ""
        note = r.fleet_note + (f"; HUNG: {', '.join(r.hung)}" if r.hung else "")
        rows.append([r.tool, fmt_s(r.fleet_seconds), ratio(r.fleet_seconds, gate.fleet_seconds),
                     fmt_s(r.median()), ratio(r.median(), gate.median()),
                     f"{sample}; {note}".strip("; ")])
    print(f"\nWall time, fleet of {n} endpoints (ratio = tool / imap-gate)")
    print(fl.table(["tool", "fleet", "ratio", "per endpoint", "ratio", "notes"], rows))


def print_connections(results: list[ToolResult], fleet: fl.Fleet) -> None:
    rows = []
    for r in results:
        if r.skipped or not r.connections:
            continue
        vals = [r.connections.get(e.name, 0) for e in fleet.endpoints]
        rows.append([r.tool, f"{fl.median(vals):.0f}", str(min(vals)), str(max(vals)),
                     str(sum(vals))])
    gate = results[0]
    print("\nConnections per endpoint, counted in Dovecot's own log (fleet runs)")
    print(fl.table(["tool", "median", "min", "max", "total"], rows))
    if gate.handshakes:
        vals = list(gate.handshakes.values())
        print(f"imap-gate's own handshake count (JSON facts): median {fl.median(vals):.0f}, "
              f"max {max(vals)} per endpoint")
    else:
        print("imap-gate's JSON facts carry no handshake count (yet)")


def print_detections(results: list[ToolResult], fleet: fl.Fleet) -> None:
    tools = [r for r in results if not r.skipped and r.covered]
    short = {"imap-gate": "gate", "sslyze default": "sslyze", "sslyze limited": "sslyze-l",
             "testssl.sh fast": "testssl-f", "testssl.sh default": "testssl-d", "nmap": "nmap"}
    print("\nDetection, per endpoint and kind of problem  "
          "(Y reported, f shown only as a raw fact or error, - not reported, "
          ". not run on that endpoint; * = the endpoint really has it)")
    headers = ["endpoint", "kind", *[short.get(t.tool, t.tool) for t in tools]]
    rows = []
    summary = {t.tool: [0, 0, 0] for t in tools}      # found, missed, false alarms
    for e in fleet.endpoints:
        for kind in fl.KINDS:
            real = kind in e.problems
            cells = []
            for t in tools:
                ran = e.name in t.covered
                mark = t.detections.get(e.name, {}).get(kind, NONE) if ran else "."
                cells.append(mark)
                if ran:
                    if real and mark != NONE:
                        summary[t.tool][0] += 1
                    elif real:
                        summary[t.tool][1] += 1
                    elif mark != NONE:
                        summary[t.tool][2] += 1
            if real or any(c not in (NONE, ".") for c in cells):
                rows.append([e.name, kind + (" *" if real else ""), *cells])
    print(fl.table(headers, rows))
    print("\nPer tool: real problems reported / missed, and reports of problems the endpoint "
          "does not have")
    print(fl.table(["tool", "reported", "missed", "false"],
                   [[t, *map(str, v)] for t, v in summary.items()]))


# ------------------------------------------------------------------ main

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="the 14-endpoint fleet, 2-endpoint samples, no testssl.sh default run")
    p.add_argument("--skip", default="",
                   help="comma-separated parts to skip: sslyze,testssl,nmap,legs")
    p.add_argument("--sample", type=int, help="endpoints timed one by one per peer (default 3, quick 2)")
    p.add_argument("--peer-timeout", type=float, default=180.0,
                   help="kill a peer's single-endpoint run after this many seconds")
    p.add_argument("--fleet-timeout", type=float, default=300.0,
                   help="kill a peer's whole-fleet run after this many seconds")
    p.add_argument("--no-testssl-fleet", action="store_true",
                   help="skip testssl.sh --parallel over the whole fleet (the slowest step)")
    p.add_argument("--workdir", type=Path, help="keep every report here (default: a temp dir)")
    args = p.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)      # type: ignore[union-attr]
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    n_sample = args.sample if args.sample is not None else (2 if args.quick else 3)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="imap-gate-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    peers = fl.peer_paths()
    fl.compile_imap_gate()
    t_all = time.monotonic()

    if not fl.dovecot.available():
        print("probe_fleet: Dovecot is not installed (apt-get install dovecot-imapd); nothing to measure")
        return 0
    try:
        fleet = fl.start_fleet(work / "fleet", quick=args.quick)
    except RuntimeError as exc:
        print(f"probe_fleet: {exc}")
        return 0
    try:
        eps = fleet.endpoints
        by_name = {e.name: e for e in eps}
        sample = [by_name[n] for n in SAMPLE_ORDER if n in by_name][:n_sample]
        sample_default = [] if args.quick else sample[:2]
        print(f"imap-gate probe fleet bench, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
        print(f"fleet: {len(eps)} real Dovecot endpoints on {fl.SERVER} "
              f"({sum(e.starttls for e in eps)} STARTTLS, {sum(not e.starttls for e in eps)} implicit TLS) "
              f"from {len(fleet.instances)} instances, started in {fleet.started_in:.1f} s")
        print("postures: " + ", ".join(sorted({e.posture for e in eps})))
        print(f"imap-gate and nmap connect from {fl.CLIENT}; sslyze and testssl.sh cannot choose a "
              f"source address and connect from {fl.SERVER}, which Dovecot treats as secured "
              "(that only hides cleartext-auth, which neither checks)")
        print(f"per endpoint sample: {', '.join(e.name for e in sample)}")

        progress("imap-gate: fleet x3, then each endpoint alone")
        results: list[ToolResult] = [run_imap_gate(fleet, work / "imap-gate", 120.0, 3)]
        if "legs" not in skip:
            progress("imap-gate: legs over the fleet, imap4d and delaying fakes")
            run_legs(fleet, work / "imap-gate-legs", 120.0)
        gate_startup = fl.median([fl.timed_run(fl.entrypoint_argv("--version"), 30).seconds
                                  for _ in range(3)])

        def missing(name: str) -> str:
            return "--skip" if name in skip else "not installed (run bash bench/setup.sh)"

        if peers["sslyze"] and "sslyze" not in skip:
            progress("sslyze: default scan of the fleet, then the sample one by one")
            results.append(run_sslyze(peers["sslyze"], fleet, work, False, sample, args.fleet_timeout))
            progress("sslyze: limited scan of the fleet")
            results.append(run_sslyze(peers["sslyze"], fleet, work, True, [], args.fleet_timeout))
        else:
            results.append(ToolResult("sslyze", skipped=missing("sslyze")))
        if peers["nmap"] and "nmap" not in skip:
            progress("nmap: the fleet in one run, then the sample one by one")
            results.append(run_nmap(peers["nmap"], fleet, work, sample, args.peer_timeout,
                                    args.fleet_timeout))
        else:
            results.append(ToolResult("nmap", skipped=missing("nmap")))
        if peers["testssl"] and "testssl" not in skip:
            progress("testssl.sh: fast over the fleet (--parallel), fast and default on the sample")
            results += run_testssl(peers["testssl"], fleet, work, sample, sample_default,
                                   not args.no_testssl_fleet, args.peer_timeout, args.fleet_timeout)
        else:
            results.append(ToolResult("testssl.sh", skipped=missing("testssl")))

        print_times(results, len(eps))
        print(f"imap-gate start-up alone (--version): {gate_startup:.2f} s, included in its times")
        print_connections(results, fleet)
        print_detections(results, fleet)
        print(f"\nreports kept in {work}; whole bench {time.monotonic() - t_all:.0f} s")
    finally:
        fleet.stop()
    return 0


if __name__ == "__main__":
    fl.run_main(main, "probe_fleet")
