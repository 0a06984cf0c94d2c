"""The STARTTLS injection test against a server that takes the pipelined bytes for TLS.

Dovecot 2.4 (seen against the real one about every other run) answers ``A STARTTLS\\r\\nB
NOOP\\r\\n`` with ``A OK`` and then a TLS alert record: it fed ``B NOOP`` to its TLS layer as
a bad ClientHello. That is "rejected", not "answered in cleartext" (which made the endpoint
IMAP012, could not be judged: a false alarm). The fake does exactly that, every time."""

from __future__ import annotations

from pathlib import Path

from tests.support import fakeserver as fs
from tests.support import probe_manifest as pm

ALERT = b"\x15\x03\x03\x00\x02\x02\x50"   # TLS 1.2 fatal alert: internal_error


def _alert_when_pipelined(conn: fs.Conn) -> None:
    """An honest STARTTLS server, except that bytes pipelined after STARTTLS get a TLS alert."""
    tls = False
    conn.send(b"* OK [CAPABILITY " + fs.DEFAULT_CAPS + b"] fake IMAP ready\r\n")
    while True:
        got = conn.readline()
        if not got:
            return
        tag, _, rest = got.rstrip(b"\r\n").partition(b" ")
        cmd = rest.split(b" ")[0].upper()
        if cmd == b"STARTTLS" and not tls:
            if conn.buf:
                conn.send(tag + b" OK Begin TLS negotiation now\r\n" + ALERT)
                conn.drain(1.0)
                return
            conn.send(tag + b" OK Begin TLS negotiation now\r\n")
            conn.start_tls()
            tls = True
        elif cmd == b"CAPABILITY":
            caps = b"IMAP4rev1 ID AUTH=PLAIN" if tls else fs.DEFAULT_CAPS
            conn.send(b"* CAPABILITY " + caps + b"\r\n" + tag + b" OK done\r\n")
        elif cmd == b"AUTHENTICATE":
            conn.send(tag + b" NO [PRIVACYREQUIRED] not before TLS\r\n")
        elif cmd == b"LOGOUT":
            conn.send(b"* BYE bye\r\n" + tag + b" OK LOGOUT done\r\n")
            conn.drain()
            return
        else:
            conn.send(tag + b" OK done\r\n")


def test_a_tls_alert_after_starttls_ok_is_rejected_injection(run_cli, tmp_path: Path) -> None:
    with fs.serve(_alert_when_pipelined) as srv:
        root = pm.write(tmp_path / "m", [(srv.port, "imap")], timeout=3.0,
                        expect={srv.port: "starttls-required"})
        res = run_cli("--root", str(root), "--only", "probe")
    facts = res.json["endpoints"][f"mail:{srv.port}"]
    assert facts["injection"] == "rejected", res.stdout
    assert "TLS record" in facts["injection_evidence"]
    assert "IMAP012" not in {f["rule_id"] for f in res.json["findings"]}
