"""Nothing a server throws at the probe may hang it, bloat it, crash it or make it lie.

Every hostile fake (tests/support/hostile.py) is probed by the real CLI in a
subprocess with ``defaults: {timeout: 2}``. Each run must
- end within timeout + 1 s + the start-up allowance (measured below, under the
  same parallelism as the cases, never guessed),
- keep its peak RSS within a fixed margin of a run against a well-behaved fake,
- exit 1 with a finding on that endpoint (IMAP012 where it could not be judged)
  or 2 with a clear one-line error, never 0: an endpoint that could not be
  judged must never pass,
- and write SARIF that validates.

The runs go four at a time so the file stays well under a minute; that is why the
start-up allowance is measured four at a time too.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import hostile as h
from tests.support.rusage import run_measured
from tests.support.sarif_check import assert_valid_sarif

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 2.0
SLACK = 1.0                  # the "timeout + 1 s"
PARALLEL = 4
RSS_MARGIN_KB = 16 * 1024    # over the well-behaved run: a 10 MB line buffered once would break it
HARD_KILL = 30.0             # a run still alive then has hung: killed and failed
SEVERE = ("critical", "high", "medium")


# ------------------------------------------------------------------ running the CLI

@dataclass
class Run:
    code: int
    seconds: float
    maxrss_kb: int
    stdout: str
    stderr: str
    sarif: dict[str, Any] | None
    report: dict[str, Any] | None
    killed: bool = False

    def findings(self, port: int | None = None) -> list[dict[str, Any]]:
        found = (self.report or {}).get("findings", [])
        return [f for f in found if port is None or f.get("port") == port]

    def rules(self, port: int | None = None) -> set[str]:
        return {f["rule_id"] for f in self.findings(port)}


def manifest(targets: list[tuple[str, int, str]]) -> str:
    lines = ["version: 1", "name: hostile", "defaults:", f"  timeout: {TIMEOUT}", "targets:"]
    if not targets:
        lines[-1] = "targets: []"
    for name, port, proto in targets:
        lines += [f"  - name: {name}", "    host: 127.0.0.1", "    sni: 127.0.0.1",
                  f"    ports: [{{port: {port}, protocol: {proto}}}]"]
    return "\n".join(lines) + "\n"


def run_gate(workdir: Path, text: str) -> Run:
    """Run entrypoint.py; its peak RSS is its own (tests/support/rusage.py), so
    runs in parallel threads do not see each other's memory, nor pytest's."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "imap-gate.yml").write_text(text)
    out, err = workdir / "stdout", workdir / "stderr"
    sarif_path, json_path = workdir / "out.sarif", workdir / "out.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_"))}
    argv = [sys.executable, str(REPO / "entrypoint.py"), "--root", str(workdir), "--only", "probe",
            "--sarif", str(sarif_path), "--json", str(json_path), "--quiet"]
    with out.open("wb") as o, err.open("wb") as e:
        m = run_measured(argv, HARD_KILL, stdout=o, stderr=e, env=env, cwd=REPO)
    sarif = json.loads(sarif_path.read_text()) if sarif_path.exists() else None
    report = json.loads(json_path.read_text()) if json_path.exists() else None
    return Run(-9 if m.code is None else m.code, m.seconds, m.maxrss_kb,
               out.read_text(errors="replace"), err.read_text(errors="replace"), sarif, report,
               killed=m.hung)


# ------------------------------------------------------------------ the hostile behaviours


def no_greeting(c: h.Conn) -> None:
    c.idle()


def greeting_then_silence(c: h.Conn) -> None:
    c.send(b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n")
    c.idle()


def garbage_lines(c: h.Conn) -> None:
    c.send(b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nContent-Length: 11\r\n\r\n<html></html>\r\n")
    c.idle()


def binary_bytes(c: h.Conn) -> None:
    c.send(h.random_bytes(64 * 1024))
    c.idle()


def nul_bytes(c: h.Conn) -> None:
    c.send(b"* OK \x00\x00\x00 ready\x00\r\n")
    while c.readline() is not None:
        c.send(b"\x00" * 200 + b"\r\n")


def ten_mb_line(c: h.Conn) -> None:
    c.send(b"* OK " + b"A" * (10 * 1024 * 1024))
    c.idle()


def one_byte_per_second(c: h.Conn) -> None:
    for byte in b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] slow server ready\r\n":
        if not c.send(bytes([byte])) or not c.wait(1.0):
            return


def endless_capability(c: h.Conn) -> None:
    c.send(b"* OK fake ready\r\n")
    if c.readline() is None:
        return
    chunk = b"* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED X-FLOOD\r\n" * 512
    while c.send(chunk):
        pass


def huge_literal(c: h.Conn) -> None:
    c.send(b"* OK fake ready\r\n")
    while c.readline() is not None:
        c.send(b"* CAPABILITY {999999999}\r\nIMAP4rev1 STARTTLS")


def wrong_tags(c: h.Conn) -> None:
    c.send(b"* OK fake ready\r\n")
    while c.readline() is not None:
        c.send(b"* OK noise\r\nZZZ999 OK not your tag\r\n")


def continuation_flood(c: h.Conn) -> None:
    c.send(b"* OK fake ready\r\n")
    while c.readline() is not None:
        c.send(b"+ go ahead\r\n")


def rst_after_greeting(c: h.Conn) -> None:
    c.send(b"* OK fake ready\r\n")
    c.wait(0.05)
    c.reset()


def half_close(c: h.Conn) -> None:
    c.send(b"* OK fake ready\r\n")
    c.sock.shutdown(socket.SHUT_WR)
    c.idle()


def immediate_close(c: h.Conn) -> None:
    c.sock.close()


def bye_greeting(c: h.Conn) -> None:
    c.send(b"* BYE Too many connections, try later\r\n")


def caps_over_line_cap(c: h.Conn) -> None:
    caps = " ".join(f"X-CAPABILITY-{i}" for i in range(5000))
    c.send(f"* OK [CAPABILITY IMAP4rev1 {caps} STARTTLS LOGINDISABLED] ready\r\n".encode())
    c.idle()


# ------------------------------------------------------------------ the cases

@dataclass(frozen=True)
class Case:
    name: str
    protocol: str                       # imap | imaps: what the manifest says the port speaks
    server: Callable[[Path], h.FakeServer]
    expect: frozenset[str]              # rule ids, one of which must be reported on the port


def plain(behaviour: h.Behaviour) -> Callable[[Path], h.FakeServer]:
    return lambda _d: h.FakeServer(behaviour)


def with_tls(make: Callable[[ssl.SSLContext], h.FakeServer],
             cert: Callable[[Path], h.TlsFiles] = h.plain_cert) -> Callable[[Path], h.FakeServer]:
    return lambda d: make(cert(d).context())


STALL = frozenset({"IMAP012"})
BROKEN_TLS = frozenset({"IMAP003", "IMAP012"})
MANY_CAPS = "IMAP4rev1 " + " ".join(f"X{i}" for i in range(1000)) + " AUTH=PLAIN AUTH=LOGIN"

CASES = [
    Case("no-greeting", "imap", plain(no_greeting), STALL),
    Case("greeting-then-silence", "imap", plain(greeting_then_silence), STALL),
    Case("garbage-lines", "imap", plain(garbage_lines), STALL),
    Case("binary-bytes", "imap", plain(binary_bytes), STALL),
    Case("nul-bytes", "imap", plain(nul_bytes), STALL),
    Case("ten-mb-line", "imap", plain(ten_mb_line), STALL),
    Case("one-byte-per-second", "imap", plain(one_byte_per_second), STALL),
    Case("endless-capability", "imap", plain(endless_capability), STALL),
    Case("huge-literal", "imap", plain(huge_literal), STALL),
    Case("wrong-tags", "imap", plain(wrong_tags), STALL),
    Case("continuation-flood", "imap", plain(continuation_flood), STALL),
    Case("rst-after-greeting", "imap", plain(rst_after_greeting), STALL),
    Case("half-close", "imap", plain(half_close), STALL),
    Case("immediate-close", "imap", plain(immediate_close), STALL),
    Case("bye-greeting", "imap", plain(bye_greeting), frozenset({"IMAP012", "IMAP011"})),
    Case("caps-over-line-cap", "imap", plain(caps_over_line_cap), STALL),
    Case("starttls-ok-then-no-handshake", "imap",
         plain(h.Imap(on_starttls="silent")), BROKEN_TLS),
    Case("starttls-handshake-stalls", "imap", plain(h.Imap(on_starttls="stall")), BROKEN_TLS),
    Case("starttls-ok-then-cleartext", "imap", plain(h.Imap(on_starttls="cleartext")), BROKEN_TLS),
    Case("implicit-tls-handshake-stalls", "imaps", plain(h.stall_handshake), STALL),
    Case("cleartext-on-tls-port", "imaps", plain(h.Imap(caps="IMAP4rev1 STARTTLS LOGINDISABLED")),
         frozenset({"IMAP012", "IMAP003", "TLS003"})),
    Case("tls-on-cleartext-port", "imap",
         with_tls(lambda ctx: h.FakeServer(h.Imap(), implicit_tls=ctx)), STALL),
    # Lines within the caps but odd: the probe must still judge, and judge right.
    Case("many-capabilities-no-starttls", "imap",
         plain(h.Imap(caps=MANY_CAPS, on_authenticate=b"+ ")), frozenset({"IMAP002", "IMAP004"})),
    Case("invalid-utf8-greeting", "imap",
         plain(h.Imap(caps="IMAP4rev1 AUTH=PLAIN", on_authenticate=b"+ ",
                      greeting=b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] \xff\xfe\xc3\x28 h\xe9llo\r\n")),
         frozenset({"IMAP002", "IMAP004"})),
    Case("cert-absurd-fields", "imaps",
         with_tls(lambda ctx: h.FakeServer(h.Imap(caps="IMAP4rev1 AUTH=PLAIN"), implicit_tls=ctx),
                  h.absurd_cert), frozenset({"CERT003", "CERT004"})),
    Case("cert-negative-serial", "imaps",
         with_tls(lambda ctx: h.FakeServer(h.Imap(caps="IMAP4rev1 AUTH=PLAIN"), implicit_tls=ctx),
                  h.negative_serial_cert), frozenset({"CERT003"})),
]


def well_behaved(d: Path) -> h.FakeServer:
    """STARTTLS required, cleartext login refused, a real handshake: the memory yardstick."""
    return h.FakeServer(h.Imap(tls=h.plain_cert(d).context()))


# ------------------------------------------------------------------ fixtures

@dataclass
class Baseline:
    startup: float      # slowest no-target run, PARALLEL at once
    maxrss_kb: int      # peak RSS of a run against the well-behaved fake


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


@pytest.fixture(scope="module")
def baseline(workdir: Path) -> Baseline:
    empty = manifest([])
    run_gate(workdir / "warmup", empty)     # byte-compiles what changed; not measured
    with ThreadPoolExecutor(PARALLEL) as pool:
        runs = list(pool.map(lambda i: run_gate(workdir / f"startup{i}", empty), range(PARALLEL)))
    assert all(r.code == 0 for r in runs), [r.stderr for r in runs]
    startup = max(r.seconds for r in runs)
    with well_behaved(workdir / "good") as srv:
        good = run_gate(workdir / "good", manifest([("good", srv.port, "imap")]))
    print(f"\nhostile: start-up allowance {startup:.2f} s (slowest of {PARALLEL} parallel "
          f"no-target runs); well-behaved run {good.seconds:.2f} s, {good.maxrss_kb // 1024} MiB")
    return Baseline(startup, max(good.maxrss_kb, *(r.maxrss_kb for r in runs)))


@pytest.fixture(scope="module")
def hostile_runs(workdir: Path, baseline: Baseline) -> Iterator[dict[str, Run]]:
    def one(case: Case) -> Run:
        d = workdir / case.name
        d.mkdir()
        with case.server(d) as srv:
            return run_gate(d, manifest([(case.name, srv.port, case.protocol)]))

    with ThreadPoolExecutor(PARALLEL) as pool:
        runs = dict(zip([c.name for c in CASES], pool.map(one, CASES), strict=True))
    for name, r in runs.items():     # the figures, for -s and for the record
        print(f"hostile: {name:32} exit {r.code}  {r.seconds:5.2f} s  {r.maxrss_kb // 1024:3d} MiB  "
              f"{','.join(sorted(r.rules()))}")
    yield runs


# ------------------------------------------------------------------ the tests

def test_at_least_twenty_behaviours() -> None:
    assert len({c.name for c in CASES}) >= 20


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_server(case: Case, hostile_runs: dict[str, Run], baseline: Baseline) -> None:
    run = hostile_runs[case.name]
    assert not run.killed, f"{case.name}: the run hung and was killed after {HARD_KILL} s"
    limit = TIMEOUT + SLACK + baseline.startup
    assert run.seconds <= limit, (
        f"{case.name}: took {run.seconds:.2f} s, over timeout {TIMEOUT} + {SLACK} + "
        f"start-up {baseline.startup:.2f} s")
    assert run.maxrss_kb <= baseline.maxrss_kb + RSS_MARGIN_KB, (
        f"{case.name}: peak RSS {run.maxrss_kb // 1024} MiB, well-behaved run "
        f"{baseline.maxrss_kb // 1024} MiB")
    assert "Traceback" not in run.stderr, run.stderr
    assert run.code in (1, 2), (
        f"{case.name}: exit {run.code}: an endpoint that could not be judged must not pass; "
        f"findings {sorted(run.rules())}; stderr {run.stderr[-500:]}")
    if run.code == 2:
        assert run.stderr.strip().startswith("imap-gate:"), run.stderr
    else:
        assert run.sarif is not None, "exit 1 but no SARIF written"
        severe = {f["rule_id"] for f in run.findings() if f["severity"] in SEVERE}
        assert severe & case.expect, (
            f"{case.name}: expected one of {sorted(case.expect)} at medium or above, "
            f"got {sorted(run.rules())}")
    if run.sarif is not None:
        assert_valid_sarif(run.sarif)


def test_all_hostile_servers_in_one_run(workdir: Path, baseline: Baseline) -> None:
    """The engine probes every endpoint at once: the whole run is bounded by one
    timeout, not by their sum, and every endpoint gets its own verdict."""
    d = workdir / "together"
    d.mkdir()
    servers = [case.server(d / case.name) for case in CASES]
    try:
        run = run_gate(d, manifest([(c.name, s.port, c.protocol)
                                    for c, s in zip(CASES, servers, strict=True)]))
    finally:
        for s in servers:
            s.close()
    limit = TIMEOUT + SLACK + baseline.startup
    assert run.seconds <= limit, f"{len(CASES)} hostile endpoints took {run.seconds:.2f} s"
    assert run.code == 1, run.stderr
    assert run.sarif is not None
    by_target: dict[str, set[str]] = {}
    for f in run.findings():
        by_target.setdefault(f["target"], set()).add(f["rule_id"])
    unjudged = [c.name for c in CASES if not by_target.get(c.name, set()) & c.expect]
    assert not unjudged, f"no expected finding for {unjudged}: {by_target}"


# ------------------------------------------------------------------ capture: no credential leaves

def _lines(data: bytes) -> list[bytes]:
    return [ln for ln in data.split(b"\n") if ln]


def assert_no_credentials(received: bytes) -> None:
    lines = _lines(received)
    for i, line in enumerate(lines):
        words = line.rstrip(b"\r").split(b" ")
        cmd = words[1].upper() if len(words) > 1 else b""
        assert cmd != b"LOGIN", f"the probe sent LOGIN: {line!r}"
        if cmd == b"AUTHENTICATE":
            assert len(words) == 3, f"AUTHENTICATE with an initial response: {line!r}"
            rest = lines[i + 1:]
            assert not rest or rest[0].rstrip(b"\r") == b"*", (
                f"after AUTHENTICATE the probe sent {rest[0]!r}, not the '*' cancel")
        if cmd == b"LOGOUT":
            assert i == len(lines) - 1 and received.endswith(b"\n"), (
                f"bytes after LOGOUT: {b''.join(lines[i + 1:])[:200]!r}")


def test_capture_no_login_no_password(workdir: Path, baseline: Baseline) -> None:
    """Servers that beg for a password, in clear, after STARTTLS and on implicit TLS:
    every byte the probe sends is recorded and none of it is a credential."""
    d = workdir / "capture"
    tempting = "IMAP4rev1 ID AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5 SASL-IR"
    plain_ctx = h.plain_cert(d).context()
    servers = {
        "cleartext": (h.FakeServer(h.Imap(caps=tempting, on_authenticate=b"+ ")), "imap"),
        "starttls": (h.FakeServer(h.Imap(caps="STARTTLS " + tempting, tls_caps=tempting,
                                         on_authenticate=b"+ ", tls=plain_ctx)), "imap"),
        "implicit": (h.FakeServer(h.Imap(caps=tempting, on_authenticate=b"+ "),
                                  implicit_tls=plain_ctx), "imaps"),
    }
    try:
        run = run_gate(d, manifest([(name, s.port, proto) for name, (s, proto) in servers.items()]))
    finally:
        for s, _ in servers.values():
            s.close()
    assert run.code in (1, 2), run.stderr
    talked = 0
    for name, (s, _) in servers.items():
        for received in s.received():
            talked += bool(received)
            try:
                assert_no_credentials(received)
            except AssertionError as exc:
                raise AssertionError(f"{name}: {exc}") from None
    assert talked, "the probe sent nothing at all: this test proved nothing"
    # The probe must have understood the cleartext servers, or it did not really talk to them.
    by_target = {f["target"]: f["rule_id"] for f in run.findings() if f["rule_id"] == "IMAP004"}
    assert {"cleartext", "starttls"} <= set(by_target), run.rules()


def test_capture_assertion_catches_a_leak() -> None:
    """The capture check itself fails on what it must forbid."""
    for leak in (b"a1 LOGIN user pass\r\n",
                 b"a1 AUTHENTICATE PLAIN\r\nAHVzZXIAcGFzcw==\r\n",
                 b"a1 AUTHENTICATE PLAIN AHVzZXIAcGFzcw==\r\n",
                 b"a1 LOGOUT\r\na2 NOOP\r\n"):
        with pytest.raises(AssertionError):
            assert_no_credentials(leak)
    assert_no_credentials(b"a1 CAPABILITY\r\na2 AUTHENTICATE PLAIN\r\n*\r\na3 LOGOUT\r\n")
