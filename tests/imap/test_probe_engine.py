"""The engine: concurrency, deadlines, the TLS seam, determinism, and fuzzed servers."""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checks.imap import check, dialog, engine
from checks.imap.facts import Plan
from checks.imap.rules import IMAP003
from checks.net import Deadline, HandshakeFailed, ProbeError, tls_handshake
from checks.tls import api as tls_api
from imap_gate.context import Context
from imap_gate.manifest import load_manifest
from imap_gate.severity import Severity
from tests.support import fakeserver as fs
from tests.support import fuzz
from tests.support import probe_manifest as pm


def _plan(port: int, protocol: str = "imap", timeout: float = 1.0, **kw: object) -> Plan:
    fields = dict(target="mail", host="127.0.0.1", port=port, protocol=protocol, expect=None,
                  sni="localhost", source="127.0.0.2", timeout=timeout)
    fields.update(kw)
    return Plan(**fields)  # type: ignore[arg-type]


def _ctx(root: Path) -> Context:
    return Context(root=root, manifest=load_manifest(root, root / "imap-gate.yml"),
                   now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


def test_fleet_time_is_the_slowest_endpoint_not_the_sum() -> None:
    with fs.serve(fs.stall) as srv:
        plans = [_plan(srv.port, target=f"t{i}") for i in range(20)]
        start = time.monotonic()
        results = engine.probe_all(plans, 32, None)
        elapsed = time.monotonic() - start
    assert elapsed < 1.8, elapsed
    assert [r.plan.target for r in results] == [p.target for p in plans]  # input order
    assert all(r.facts.problems[0].phase == "greeting" for r in results)


def test_concurrency_bound_is_respected() -> None:
    peak = 0
    live = 0
    lock = threading.Lock()

    def counting(conn: fs.Conn) -> None:
        nonlocal peak, live
        with lock:
            live += 1
            peak = max(peak, live)
        time.sleep(0.2)
        with lock:
            live -= 1
        conn.close()

    with fs.serve(counting) as srv:
        engine.probe_all([_plan(srv.port, target=f"t{i}") for i in range(8)], 3, None)
    assert peak <= 3


def test_endpoints_at_once_are_capped_by_the_leg_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """More endpoint threads than LEG_THREADS // per_host would only wait for leg slots; the
    run's budget counts the waves the cap makes, so the later endpoints are still judged."""
    monkeypatch.setattr(engine, "LEG_THREADS", 8)
    peak = live = 0
    lock = threading.Lock()
    real = engine.probe_one

    def counted(*args: object, **kw: object) -> engine.EndpointResult:
        nonlocal peak, live
        with lock:
            live += 1
            peak = max(peak, live)
        try:
            return real(*args, **kw)  # type: ignore[arg-type]
        finally:
            with lock:
                live -= 1

    monkeypatch.setattr(engine, "probe_one", counted)
    with fs.serve(fs.stall) as srv:
        results = engine.probe_all([_plan(srv.port, target=f"t{i}", timeout=0.3)
                                    for i in range(6)], 32, None, per_host=4)
    assert peak == 2
    assert [r.facts.problems[0].phase for r in results] == ["greeting"] * 6


def test_run_deadline_cuts_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "run_budget", lambda plans, c: 0.3)
    with fs.serve(fs.stall) as srv:
        start = time.monotonic()
        [r] = engine.probe_all([_plan(srv.port, timeout=5.0)], 4, None)
    assert time.monotonic() - start < 1.5
    assert r.facts.problems or r.facts.connect == "error"


def test_drip_cannot_stretch_a_step() -> None:
    with fs.serve(fs.drip) as srv:
        start = time.monotonic()
        facts = dialog.probe(_plan(srv.port, timeout=1.5), Deadline.after(10))
    assert 1.4 < time.monotonic() - start < 2.0
    assert facts.problems[0].phase == "greeting"


def test_tls_handshake_bounded_as_a_whole() -> None:
    """A server that never answers the ClientHello: the handshake ends at the deadline."""
    with fs.serve(fs.stall) as srv:
        sock = socket.create_connection(("127.0.0.1", srv.port))
        start = time.monotonic()
        with pytest.raises(Exception) as info:
            tls_handshake(sock, dialog.permissive_context(), "localhost", Deadline.after(0.5))
        assert time.monotonic() - start < 1.0
        assert not isinstance(info.value, HandshakeFailed)  # a timeout, not a refusal
        sock.close()


def test_a_bug_in_the_dialog_fails_that_endpoint_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(plan, deadline, *legs):  # type: ignore[no-untyped-def]
        raise KeyError("bug")

    monkeypatch.setattr(dialog, "probe", broken)
    [r] = engine.probe_all([_plan(1)], 4, None)
    assert r.facts.problems[0].phase == "internal" and "KeyError" in r.facts.problems[0].reason


# ---------------------------------------------------------------- the TLS seam

def test_opener_is_positioned_for_a_client_hello() -> None:
    with fs.serve(fs.imap_script()) as srv:
        open_ = dialog.opener(_plan(srv.port))
        sock = open_(Deadline.after(2))
        tls = tls_handshake(sock, dialog.permissive_context(), "localhost", Deadline.after(2))
        assert tls.version() in ("TLSv1.3", "TLSv1.2")
        tls.sendall(b"x LOGOUT\r\n")
        tls.close()
    assert srv.received[0].startswith(b"T STARTTLS\r\n")
    assert b"LOGIN " not in srv.received_all()


def test_opener_refuses_a_server_that_refuses_starttls() -> None:
    with fs.serve(fs.imap_script(starttls="bad")) as srv, pytest.raises(ProbeError):
        dialog.opener(_plan(srv.port))(Deadline.after(2))


def test_assessment_becomes_findings_and_facts(tmp_path: Path, monkeypatch) -> None:
    seen: list[tls_api.TlsTarget] = []

    def fake_assess(target: tls_api.TlsTarget, opener: tls_api.Opener) -> tls_api.TlsAssessment:
        seen.append(target)
        sock = opener(Deadline.after(2))  # the opener works from the TLS family's side too
        ssl_sock = tls_handshake(sock, dialog.permissive_context(), target.sni, Deadline.after(2))
        ssl_sock.close()
        return tls_api.TlsAssessment(
            facts={"versions": ["TLSv1.3"]}, handshakes=1, incomplete="version scan timed out",
            issues=[IMAP003.issue("fake TLS issue", evidence="ev", severity=Severity.LOW,
                                  detail="v=1")])

    monkeypatch.setattr(tls_api, "assess", fake_assess)
    with fs.serve(fs.imap_script()) as srv:
        root = pm.write(tmp_path / "m", [(srv.port, "imap")],
                        expect={srv.port: "starttls-required"})
        ctx = _ctx(root)
        findings = check.run(ctx)
    keys = {(f.rule_id, f.key) for f in findings}
    assert ("IMAP003", f"target=mail;port={srv.port};v=1") in keys
    assert ("IMAP012", f"target=mail;port={srv.port};phase=tls-assessment") in keys
    facts = ctx.facts[f"mail:{srv.port}"]
    assert facts["tls"] == {"versions": ["TLSv1.3"], "handshakes": 1}
    [target] = seen
    assert target.starttls and target.sni == "127.0.0.1" and target.timeout == 2.0


def test_assessment_that_crashes_fails_closed(tmp_path: Path, monkeypatch) -> None:
    def boom(target, opener):  # type: ignore[no-untyped-def]
        raise RuntimeError("bug")

    monkeypatch.setattr(tls_api, "assess", boom)
    with fs.serve(fs.imap_script(implicit_tls=True)) as srv:
        ctx = _ctx(pm.write(tmp_path / "m", [(srv.port, "imaps")]))
        findings = check.run(ctx)
    assert any(f.rule_id == "IMAP012" and "RuntimeError" in f.message for f in findings)


# ---------------------------------------------------------------- CLI-level properties

def test_reports_are_deterministic(run_cli, tmp_path: Path) -> None:
    with fs.serve(fs.imap_script(auth="continue")) as srv:
        root = pm.write(tmp_path / "m", [(srv.port, "imap")])
        a = run_cli("--root", str(root))
        b = run_cli("--root", str(root))
    assert a.code == b.code == 1
    assert {k: v for k, v in a.json.items() if k != "invocation"} == \
           {k: v for k, v in b.json.items() if k != "invocation"}
    assert "timings" in a.json["invocation"]


def test_source_address_not_on_this_host_is_bad_input(run_cli, tmp_path: Path) -> None:
    root = pm.write(tmp_path / "m", [(143, "imap")], source="192.0.2.1")
    res = run_cli("--root", str(root))
    assert res.code == 2 and "source_address" in res.stderr


def test_same_address_source_makes_dovecot_relax(start_dovecot, run_cli, tmp_path) -> None:
    """Why IMAP013 exists: from 127.0.0.1 to 127.0.0.1 Dovecot 2.3 calls the session secured."""
    d = start_dovecot("ssl = yes\ndisable_plaintext_auth = yes", imaps=False)
    root = pm.write(tmp_path / "m", [(d.imap_port, "imap")], source="127.0.0.1",
                    expect={d.imap_port: "starttls-required"})
    res = run_cli("--root", str(root))
    [note] = [f for f in res.json["findings"] if f["rule_id"] == "IMAP013"]
    assert "equals" in note["message"]
    facts = res.json["endpoints"][f"mail:{d.imap_port}"]
    assert "LOGINDISABLED" not in facts["caps_before_tls"]  # the server hid it from itself


# ---------------------------------------------------------------- fuzzed servers

_payload: dict[str, bytes] = {"data": b""}


def _echo_payload(conn: fs.Conn) -> None:
    conn.send(_payload["data"])
    conn.close()


@pytest.fixture(scope="module")
def fuzz_server():
    with fs.serve(_echo_payload) as srv:
        yield srv


_SERVERISH = st.one_of(
    st.binary(max_size=300),
    st.lists(st.sampled_from([
        b"* OK ", b"* PREAUTH ", b"* BYE ", b"[CAPABILITY IMAP4rev1 STARTTLS", b"]", b"\r\n",
        b"g1 OK ", b"g2 NO ", b"g3 BAD ", b"+ ", b"* ID (", b'"name" "x 1.2"', b")", b"{5}\r\n",
        b"{99999999}\r\n", b"\x00", b"\xff\xfe", b"LOGINDISABLED ", b"AUTH=PLAIN "]),
        max_size=30).map(b"".join))


@settings(max_examples=fuzz.examples(60), deadline=None)
@given(data=_SERVERISH)
def test_fuzz_dialog_never_raises(fuzz_server, data: bytes) -> None:
    """Whatever a server sends and then hangs up: facts, a judgement, JSON; never an exception."""
    from checks.imap import judge

    _payload["data"] = data
    facts = dialog.probe(_plan(fuzz_server.port, timeout=0.5), Deadline.after(3))
    judge.judge_endpoint(facts)
    json.dumps(facts.as_json())


def test_ssl_module_is_permissive_for_old_servers() -> None:
    ctx = dialog.permissive_context()
    assert ctx.verify_mode == ssl.CERT_NONE and not ctx.check_hostname
    assert ctx.minimum_version <= ssl.TLSVersion.TLSv1_2
