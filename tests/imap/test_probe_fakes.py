"""The probe against fake servers, through the CLI: what Dovecot will not do, and hostility.

Every run must end within the timeout (+1 s), never pass an endpoint it could
not judge, and write valid SARIF (``run_cli`` validates it)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support import fakeserver as fs
from tests.support import probe_manifest as pm

TIMEOUT = 0.5        # hostile servers: every one of them ends on a timeout or an error
FUNCTIONAL = 3.0     # scripted servers that answer: generous, so a loaded CI box is no failure
STARTUP = 4.0        # interpreter start and imports of the CLI, generous for a loaded CI box


def _run(run_cli, tmp_path: Path, port: int, protocol: str = "imap", timeout: float = FUNCTIONAL,
         **kw):
    root = pm.write(tmp_path / f"m{port}", [(port, protocol)], timeout=timeout, **kw)
    start = time.monotonic()
    res = run_cli("--root", str(root))
    return res, time.monotonic() - start


def _probe_seconds(res, port: int) -> float:
    """How long the probe itself spent on the endpoint (the JSON report's timings)."""
    return res.json["invocation"]["timings"][f"mail:{port}"]["timings"]["total"]


def test_preauth_greeting(run_cli, tmp_path) -> None:
    with fs.serve(fs.imap_script(greeting=b"* PREAUTH [CAPABILITY IMAP4rev1] logged in\r\n")) as srv:
        res, _ = _run(run_cli, tmp_path, srv.port)
    assert res.code == 1
    assert pm.rules_of(res.json) == {("IMAP001", srv.port), ("IMAP007", srv.port),
                                     ("IMAP013", srv.port)}
    assert pm.severity_of(res.json, "IMAP001") == ["critical"]
    assert b"STARTTLS" not in srv.received_all()  # impossible once authenticated


def test_injection_vulnerable_starttls(run_cli, tmp_path) -> None:
    with fs.serve(fs.imap_script(inject_vulnerable=True)) as srv:
        res, _ = _run(run_cli, tmp_path, srv.port, expect={srv.port: "starttls-required"})
    assert res.code == 1
    assert pm.rules_of(res.json) == {("IMAP005", srv.port), ("IMAP007", srv.port),
                                     ("IMAP013", srv.port)}
    f = next(x for x in res.json["findings"] if x["rule_id"] == "IMAP005")
    assert "B OK NOOP" in f["evidence"]
    assert res.json["endpoints"][f"mail:{srv.port}"]["injection"] == "vulnerable"


def test_injection_safe_fake_is_not_flagged(run_cli, tmp_path) -> None:
    with fs.serve(fs.imap_script()) as srv:
        res, _ = _run(run_cli, tmp_path, srv.port, expect={srv.port: "starttls-required"})
    assert res.code == 0
    assert pm.rules_of(res.json) == {("IMAP007", srv.port), ("IMAP013", srv.port)}
    assert res.json["endpoints"][f"mail:{srv.port}"]["injection"] == "not-vulnerable"


@pytest.mark.parametrize("answer", ["bad", "no"])
def test_starttls_refused(run_cli, tmp_path, answer: str) -> None:
    with fs.serve(fs.imap_script(starttls=answer)) as srv:
        res, _ = _run(run_cli, tmp_path, srv.port)
    assert res.code == 1
    assert pm.rules_of(res.json) == {("IMAP003", srv.port), ("IMAP006", srv.port),
                                     ("IMAP007", srv.port), ("IMAP013", srv.port)}
    f = next(x for x in res.json["findings"] if x["rule_id"] == "IMAP003")
    assert answer.upper() in f["evidence"]


def test_reset_mid_starttls_handshake(run_cli, tmp_path) -> None:
    with fs.serve(fs.imap_script(starttls="reset")) as srv:
        res, _ = _run(run_cli, tmp_path, srv.port, timeout=TIMEOUT)
    assert res.code == 1 and _probe_seconds(res, srv.port) < TIMEOUT + 1
    assert ("IMAP003", srv.port) in pm.rules_of(res.json)


def test_weak_mechanisms(run_cli, tmp_path) -> None:
    script = fs.imap_script(caps_tls=b"IMAP4rev1 AUTH=PLAIN AUTH=CRAM-MD5 AUTH=NTLM AUTH=ANONYMOUS")
    with fs.serve(script) as srv:
        res, _ = _run(run_cli, tmp_path, srv.port, expect={srv.port: "starttls-required"})
    weak = sorted((f["severity"], f["message"].split()[-1])
                  for f in res.json["findings"] if f["rule_id"] == "IMAP009")
    assert weak == [("low", "CRAM-MD5."), ("medium", "NTLM.")]
    # ANONYMOUS was tried (empty trace) and refused: a misleading list, not anonymous access
    [misleading] = [f for f in res.json["findings"] if f["rule_id"] == "IMAP015"]
    assert misleading["severity"] == "low" and "ANONYMOUS" in misleading["message"]
    assert res.json["endpoints"][f"mail:{srv.port}"]["anonymous"] == "refused"
    assert res.code == 1


def test_implicit_tls_fake_with_preauth_is_not_imap001(run_cli, tmp_path) -> None:
    """PREAUTH inside TLS (client certificates) is not the cleartext PREAUTH problem."""
    script = fs.imap_script(implicit_tls=True, greeting=b"* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n")
    with fs.serve(script) as srv:
        res, _ = _run(run_cli, tmp_path, srv.port, "imaps")
    assert pm.rules_of(res.json) == {("IMAP013", srv.port)}


HOSTILE = {
    "no-greeting": (fs.stall, "imap"),
    "greeting-then-silence": (fs.greet_then_stall, "imap"),
    "garbage": (fs.garbage, "imap"),
    "10MB-line": (fs.long_line, "imap"),
    "one-byte-per-second": (fs.drip, "imap"),
    "immediate-close": (fs.immediate_close, "imap"),
    "reset-on-connect": (fs.reset_on_connect, "imap"),
    "reset-after-greeting": (fs.reset_after_greeting, "imap"),
    "endless-untagged": (fs.endless_untagged, "imap"),
    "tls-port-stall": (fs.stall, "imaps"),
    "tls-port-reset-mid-handshake": (fs.reset_in_handshake, "imaps"),
    "tls-port-cleartext": (fs.imap_script(), "imaps"),
    "nul-bytes": (fs.nul_bytes, "imap"),
    "literal-999999999": (fs.huge_literal, "imap"),
    "thousands-of-capabilities": (fs.thousands_of_capabilities, "imap"),
    "half-close": (fs.half_close, "imap"),
    "starttls-ok-then-no-handshake": (fs.starttls_then_silence, "imap"),
    "tls-on-cleartext-port": (fs.tls_first, "imap"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_server_ends_in_time_and_fails_closed(run_cli, tmp_path, name: str) -> None:
    handler, protocol = HOSTILE[name]
    with fs.serve(handler) as srv:
        res, elapsed = _run(run_cli, tmp_path, srv.port, protocol, timeout=TIMEOUT)
    probe = _probe_seconds(res, srv.port)
    assert probe < TIMEOUT + 1, f"{name}: the probe took {probe:.2f}s"
    assert elapsed < TIMEOUT + 1 + STARTUP, f"{name}: the CLI took {elapsed:.2f}s"
    assert res.code in (1, 2), res.stdout
    rules = pm.rules_of(res.json)
    assert ("IMAP012", srv.port) in rules, rules
    facts = res.json["endpoints"][f"mail:{srv.port}"]
    assert facts["problems"], (facts["connect"], facts["connect_detail"], res.json["findings"])
    assert "timings" not in facts  # moved out of the deterministic part


@pytest.mark.parametrize("auth", ["continue", "login-only"])
def test_capture_no_login_no_credential(run_cli, tmp_path, auth: str) -> None:
    """Whatever the server advertises, the probe never logs in or sends a credential."""
    script = fs.imap_script(caps=b"IMAP4rev1 ID STARTTLS AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5",
                            caps_tls=b"IMAP4rev1 ID AUTH=PLAIN AUTH=LOGIN", auth=auth)
    with fs.serve(script) as srv:
        res, _ = _run(run_cli, tmp_path, srv.port)
    assert ("IMAP004", srv.port) in pm.rules_of(res.json)
    assert srv.connections >= 2
    for conn in srv.received:
        lines = bytes(conn).split(b"\r\n")
        words = [ln.split(b" ")[1].upper() for ln in lines if b" " in ln]
        assert b"LOGIN" not in words
        # the only thing ever sent after a '+' is the '*' cancel
        assert [ln for ln in lines if ln and b" " not in ln] in ([], [b"*"])
        assert b"\x00" not in bytes(conn)  # no SASL PLAIN payload (authzid\0user\0pass)
        # nothing after LOGOUT
        if b"LOGOUT" in bytes(conn):
            assert bytes(conn).rstrip(b"\r\n").endswith(b"LOGOUT")
    sent = srv.received_all()
    assert b"AUTHENTICATE PLAIN\r\n" in sent and sent.count(b"\r\n*\r\n") == 1
    f = next(x for x in res.json["findings"] if x["rule_id"] == "IMAP004")
    assert ("AUTHENTICATE LOGIN" in f["message"]) is (auth == "login-only")


def test_invalid_utf8_greeting_is_still_judged(run_cli, tmp_path) -> None:
    """Odd bytes in the human text of a greeting are the server's business, not a failure."""
    script = fs.imap_script(greeting=b"* OK [CAPABILITY IMAP4rev1 ID STARTTLS LOGINDISABLED] "
                                     b"\xff\xfe\xc3( ready\r\n")
    with fs.serve(script) as srv:
        res, _ = _run(run_cli, tmp_path, srv.port, expect={srv.port: "starttls-required"})
    assert res.code == 0
    assert pm.rules_of(res.json) == {("IMAP007", srv.port), ("IMAP013", srv.port)}


def test_ipv6_loopback(run_cli, tmp_path) -> None:
    with fs.serve(fs.imap_script(auth="continue"), host="::1") as srv:
        root = pm.write(tmp_path / "m6", [(srv.port, "imap")], host="::1", source=None,
                        timeout=FUNCTIONAL)
        res = run_cli("--root", str(root))
    assert res.code == 1
    assert pm.rules_of(res.json) == {("IMAP004", srv.port), ("IMAP007", srv.port),
                                     ("IMAP013", srv.port)}
    facts = res.json["endpoints"][f"mail:{srv.port}"]
    assert facts["remote_address"] == "::1" and facts["starttls"] == "ok"


@pytest.mark.parametrize("protocol", ["imap", "imaps"])
def test_tls10_only_server_still_gets_its_imap_checks(run_cli, tmp_path, protocol: str) -> None:
    """Versions are the TLS family's to judge; the IMAP dialog must not stop at them."""
    script = fs.imap_script(legacy_tls=True, implicit_tls=protocol == "imaps",
                            caps_tls=b"IMAP4rev1 AUTH=PLAIN AUTH=NTLM")
    with fs.serve(script) as srv:
        res, _ = _run(run_cli, tmp_path, srv.port, protocol, expect={srv.port: (
            "starttls-required" if protocol == "imap" else "open")})
    facts = res.json["endpoints"][f"mail:{srv.port}"]
    assert facts["tls_version"] == "TLSv1" and not facts["problems"]
    assert ("IMAP009", srv.port) in pm.rules_of(res.json)
