"""Legs: an endpoint's checks on connections of their own, at once, under the per-host cap;
servers that delay answers on purpose; confirmed mechanisms; targets that do not answer."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from checks.imap import dialog, engine, judge, legs
from checks.imap.facts import Plan
from checks.net import Deadline, Unresolved
from tests.support import fakeserver as fs
from tests.support import probe_manifest as pm

SECURE = fs.imap_script()          # STARTTLS, LOGINDISABLED, refuses AUTHENTICATE before TLS


def _plan(port: int, timeout: float = 1.0, **kw: object) -> Plan:
    fields = dict(target="mail", host="127.0.0.1", port=port, protocol="imap", expect=None,
                  sni="localhost", source="127.0.0.2", timeout=timeout)
    fields.update(kw)
    return Plan(**fields)  # type: ignore[arg-type]


def test_legs_run_at_once_within_the_per_host_cap() -> None:
    sched = legs.Scheduler(per_host=2, workers=8)
    with fs.serve(SECURE) as srv:
        plan = _plan(srv.port, timeout=3.0)   # the fake makes its certificate at first use
        f = dialog.probe(plan, Deadline.after(10), sched.endpoint("mail@127.0.0.1",
                                                                   Deadline.after(10)))
    sched.shutdown()
    assert f.starttls == "ok" and f.injection == "not-vulnerable" and f.auth_plain == "refused"
    assert not f.problems
    assert sched.peak["mail@127.0.0.1"] == 2   # at once, never more than the cap
    # the greeting (with STARTTLS on the same connection), the auth probe, the injection test
    assert srv.connections == f.timings["connections"] == 3
    for leg in ("greeting", "auth", "injection"):
        assert leg in f.timings


def test_a_delayed_refusal_is_judged_by_its_answer(run_cli, tmp_path: Path) -> None:
    """Cyrus refuses AUTHENTICATE after about 3 s; with timeout 1 that used to be IMAP012."""
    with fs.serve(fs.imap_script(auth_delay=3.0)) as srv:
        root = pm.write(tmp_path / "m", [(srv.port, "imap")], timeout=1.0,
                        expect={srv.port: "starttls-required"})
        res = run_cli("--root", str(root))
    assert res.code == 0, res.json["findings"]
    assert pm.rules_of(res.json) == {("IMAP007", srv.port), ("IMAP013", srv.port)}
    facts = res.json["endpoints"][f"mail:{srv.port}"]
    assert facts["auth_plain"] == "refused" and "PRIVACYREQUIRED" in facts["auth_plain_evidence"]
    timings = res.json["invocation"]["timings"][f"mail:{srv.port}"]["timings"]
    assert timings["auth"] >= 3.0          # it waited for the answer ...
    assert timings["greeting"] < 2.0       # ... beside the other legs, not before them


def test_a_late_cancel_answer_is_not_waited_for(run_cli, tmp_path: Path) -> None:
    """Courier answers the '*' cancel after about 5 s: the '+' already is the answer."""
    with fs.serve(fs.imap_script(auth="continue", cancel_delay=5.0)) as srv:
        root = pm.write(tmp_path / "m", [(srv.port, "imap")], timeout=1.0)
        res = run_cli("--root", str(root))
    assert ("IMAP004", srv.port) in pm.rules_of(res.json)
    assert pm.severity_of(res.json, "IMAP004") == ["high"]
    assert ("IMAP012", srv.port) not in pm.rules_of(res.json)
    timings = res.json["invocation"]["timings"][f"mail:{srv.port}"]["timings"]
    assert timings["auth"] < 4.0
    sent = srv.received_all()
    assert b"AUTHENTICATE PLAIN\r\n" in sent and sent.count(b"\r\n*\r\n") == 1


def test_a_per_ip_limit_is_respected_by_the_default_cap(run_cli, tmp_path: Path) -> None:
    limited = fs.per_ip_limit(4, SECURE)
    with fs.serve(limited) as srv:
        root = pm.write(tmp_path / "m", [(srv.port, "imap")], timeout=1.0,
                        expect={srv.port: "starttls-required"})
        res = run_cli("--root", str(root))
    assert limited.peak <= 4 and limited.refused == 0
    assert res.code == 0 and ("IMAP012", srv.port) not in pm.rules_of(res.json)


def test_a_tighter_limit_says_how_to_lower_the_cap(run_cli, tmp_path: Path) -> None:
    limited = fs.per_ip_limit(2, SECURE)
    with fs.serve(limited) as srv:
        root = pm.write(tmp_path / "m", [(srv.port, "imap")], timeout=1.0,
                        expect={srv.port: "starttls-required"})
        res = run_cli("--root", str(root))
        assert res.code == 1                      # legs that got no greeting: not a pass
        incomplete = [x["message"] for x in res.json["findings"] if x["rule_id"] == "IMAP012"]
        assert any("per_host" in m for m in incomplete), incomplete
        root = pm.write(tmp_path / "m2", [(srv.port, "imap")], timeout=1.0, per_host=2,
                        expect={srv.port: "starttls-required"})
        res = run_cli("--root", str(root))
    assert res.code == 0, res.json["findings"]
    assert ("IMAP012", srv.port) not in pm.rules_of(res.json)


def test_anonymous_accepted_is_high(run_cli, tmp_path: Path) -> None:
    script = fs.imap_script(caps_tls=b"IMAP4rev1 AUTH=PLAIN AUTH=ANONYMOUS", anonymous="accept")
    with fs.serve(script) as srv:
        root = pm.write(tmp_path / "m", [(srv.port, "imap")], expect={srv.port: "starttls-required"})
        res = run_cli("--root", str(root))
    [f] = [x for x in res.json["findings"] if x["rule_id"] == "IMAP014"]
    assert f["severity"] == "high" and res.code == 1
    assert not [x for x in res.json["findings"] if x["rule_id"] in ("IMAP009", "IMAP015")]
    assert res.json["endpoints"][f"mail:{srv.port}"]["anonymous"] == "accepted"
    # an empty trace, then LOGOUT at once: no user name, no password, nothing else
    [conn] = [bytes(c) for c in srv.received if b"ANONYMOUS" in bytes(c)]
    after = conn.split(b"AUTHENTICATE ANONYMOUS\r\n", 1)[1]
    assert after.startswith(b"\r\n")                      # the empty trace
    assert after[2:].split(b" ", 1)[1] == b"LOGOUT\r\n"   # and only LOGOUT after it


# ---------------------------------------------------------------- nothing answered, no name

def test_an_unresolved_name_is_that_not_silence() -> None:
    asked: list[str] = []

    def resolver(host: str, ipv6: bool) -> str:
        asked.append(host)
        raise Unresolved(f"cannot resolve {host!r}: Name or service not known")

    plans = [_plan(143, host="mail.example.test"), _plan(993, host="mail.example.test",
                                                         protocol="imaps")]
    results = engine.probe_all(plans, 4, None, resolver=resolver)
    assert asked == ["mail.example.test"]      # once per run, not per port
    facts = [r.facts for r in results]
    assert [f.connect for f in facts] == ["unresolved", "unresolved"]
    assert [i for f in facts for i in judge.judge_endpoint(f)] == []
    [issue] = judge.judge_target(facts)
    assert issue.rule_id == "IMAP012" and "does not resolve" in issue.message
    assert issue.port is None


def test_a_resolved_name_is_probed_at_its_address() -> None:
    with fs.serve(SECURE) as srv:
        [r] = engine.probe_all([_plan(srv.port, host="mail.example.test")], 4, None,
                               resolver=lambda host, v6: "127.0.0.1")
    assert r.facts.host == "mail.example.test" and r.facts.remote_address == "127.0.0.1"
    assert r.facts.starttls == "ok"


def test_invalid_names_are_refused_before_resolution(run_cli, tmp_path: Path) -> None:
    """RFC 6761: .invalid never resolves, so the gate does not ask any resolver."""
    root = pm.write(tmp_path / "m", [(143, "imap"), (993, "imaps")], host="mail.invalid",
                    source=None)
    res = run_cli("--root", str(root))
    assert res.code == 1
    assert pm.rules_of(res.json) == {("IMAP012", None)}
    [f] = res.json["findings"]
    assert "does not resolve" in f["message"] and "mail.invalid" in f["message"]


def test_nothing_answered_is_one_finding_on_the_target(run_cli, tmp_path: Path) -> None:
    from tests.support.dovecot import free_port

    a, b = free_port(), free_port()
    root = pm.write(tmp_path / "m", [(a, "imap"), (b, "imaps")], timeout=1.0)
    res = run_cli("--root", str(root))
    assert res.code == 1
    [f] = res.json["findings"]
    assert f["rule_id"] == "IMAP016" and f["severity"] == "medium"
    assert f"expect: {{{a}: closed, {b}: closed}}" in f["message"]
    root = pm.write(tmp_path / "m2", [(a, "imap"), (b, "imaps")], timeout=1.0,
                    expect={a: "closed", b: "closed"})
    res = run_cli("--root", str(root))
    assert res.code == 0 and res.json["findings"] == []


@pytest.mark.parametrize("caps", [b"IMAP4rev1 STARTTLS XTLSREQUIRED", b"IMAP4rev1 STARTTLS"])
def test_refused_login_without_logindisabled_is_medium(run_cli, tmp_path: Path,
                                                       caps: bytes) -> None:
    """The server refuses before TLS (PRIVACYREQUIRED / XTLSREQUIRED) but does not say
    LOGINDISABLED: a client that trusts the list sends its password once."""
    with fs.serve(fs.imap_script(caps=caps)) as srv:
        res = run_cli("--root", str(pm.write(tmp_path / "m", [(srv.port, "imap")])))
    [f] = [x for x in res.json["findings"] if x["rule_id"] == "IMAP004"]
    assert f["severity"] == "medium"
    assert "refuses" in f["message"] and "crossed the network" in f["message"]


def test_stalling_server_costs_one_timeout_not_one_per_leg() -> None:
    with fs.serve(fs.greet_then_stall) as srv:
        start = time.monotonic()
        [r] = engine.probe_all([_plan(srv.port, timeout=1.0)], 4, None)
        elapsed = time.monotonic() - start
    assert r.facts.problems
    assert elapsed < 2.0, elapsed           # the auth leg's long wait is cut as well


def test_per_host_in_the_manifest(tmp_path: Path, run_cli) -> None:
    from imap_gate.manifest import load_manifest

    root = pm.write(tmp_path / "m", [(143, "imap")], per_host=2)
    assert load_manifest(root, root / "imap-gate.yml").defaults.per_host == 2
    root = pm.write(tmp_path / "d", [(143, "imap")])
    assert load_manifest(root, root / "imap-gate.yml").defaults.per_host == 4
    bad = pm.write(tmp_path / "bad", [(143, "imap")], per_host=0)
    res = run_cli("--root", str(bad))
    assert res.code == 2 and "per_host" in res.stderr
