"""The IMAP response reader and parser: literals, tags, capabilities, ID, and fuzzing."""

from __future__ import annotations

import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checks.imap import wire
from checks.net import Deadline, ProbeError, Reader, TooLong
from imap_gate.errors import GateError
from tests.support import fuzz


def _reader(data: bytes) -> Reader:
    a, b = socket.socketpair()
    a.sendall(data)
    a.shutdown(socket.SHUT_WR)
    r = Reader(b)
    r._peer = a  # type: ignore[attr-defined]  # keep it alive
    return r


def test_greeting_with_capability_code() -> None:
    r = wire.parse(b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] Dovecot ready.\r\n")
    assert (r.tag, r.status, r.text) == ("*", "OK", "Dovecot ready.")
    assert wire.code_capabilities(r.code) == ("IMAP4REV1", "STARTTLS", "LOGINDISABLED")


def test_tagged_and_continuation() -> None:
    r = wire.parse(b"g2 NO [PRIVACYREQUIRED] Not before TLS\r\n")
    assert r.tagged and r.tag == "g2" and r.status == "NO" and r.code == "PRIVACYREQUIRED"
    assert wire.parse(b"+ \r\n").continuation
    assert wire.parse(b"+\r\n").continuation


def test_message_data_and_bad_tags() -> None:
    assert wire.parse(b"* 3 EXISTS\r\n").status == "EXISTS"
    for bad in (b"g1 PREAUTH x\r\n", b"g(1 OK x\r\n", b"justonetoken\r\n", b"g1 FOO bar\r\n",
                b"* OK with\x00nul\r\n"):
        with pytest.raises(wire.WireError):
            wire.parse(bad)


def test_capabilities_dedupe_and_mechanisms() -> None:
    caps = wire.capabilities("IMAP4rev1 auth=plain AUTH=PLAIN AUTH=CRAM-MD5 ID")
    assert caps == ("IMAP4REV1", "AUTH=PLAIN", "AUTH=CRAM-MD5", "ID")
    assert wire.mechanisms(caps) == ("PLAIN", "CRAM-MD5")


def test_read_response_with_literal_keeps_following_bytes() -> None:
    data = b'* ID ("name" {7}\r\nDovecot "os" NIL)\r\ng1 OK done\r\nLEFTOVER'
    r = _reader(data)
    d = Deadline.after(2)
    resp = wire.read_response(r, d)
    assert wire.parse_id(resp) == {"name": "Dovecot", "os": None}
    assert wire.read_response(r, d).tag == "g1"
    assert r.pending() == b"LEFTOVER"


def test_huge_literal_is_refused_without_reading_it() -> None:
    r = _reader(b"* OK {999999999}\r\n")
    with pytest.raises(TooLong):
        wire.read_response(r, Deadline.after(2))


def test_parse_id_variants() -> None:
    assert wire.parse_id(wire.parse(b"* ID NIL\r\n")) == {}
    got = wire.parse_id(wire.parse(b'* ID ("Name" "Dovecot" "version" "2.3.19 \\"x\\"")\r\n'))
    assert got == {"name": "Dovecot", "version": '2.3.19 "x"'}
    for bad in (b'* ID ("name")\r\n', b"* ID (NIL \"x\")\r\n", b'* ID ("a" "b\r\n', b"* ID foo\r\n"):
        with pytest.raises(wire.WireError):
            wire.parse_id(wire.parse(bad))


def test_show_escapes_controls() -> None:
    assert wire.show(b"a\r\n\x00\xff") == "a\\r\\n\\x00\\xff"
    assert wire.show(b"x" * 20, 5).startswith("xxxxx…[15 more")


def test_probe_errors_are_gate_errors() -> None:
    assert issubclass(wire.WireError, ProbeError) and issubclass(ProbeError, GateError)


@settings(max_examples=fuzz.examples(300), deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_parse_raises_only_wire_errors(data: bytes) -> None:
    try:
        resp = wire.parse(data)
    except wire.WireError:
        return
    wire.code_capabilities(resp.code)
    if resp.status == "ID":
        try:
            wire.parse_id(resp)
        except wire.WireError:
            pass


_IMAPISH = st.lists(st.sampled_from([b"* ", b"OK ", b"ID ", b"(", b")", b'"', b"\\", b"{3}\r\n",
                                     b"{99999999}\r\n", b"NIL", b"\r\n", b"g1 ", b"+ ", b"[", b"]",
                                     b"\x00", b"\xff", b"CAPABILITY ", b"a"]), max_size=40)


@settings(max_examples=fuzz.examples(200), deadline=None)
@given(_IMAPISH)
def test_fuzz_read_response_over_a_socket(parts: list[bytes]) -> None:
    """Arbitrary server bytes: a response, or the tool's own error, never anything else."""
    r = _reader(b"".join(parts))
    try:
        for _ in range(10):
            resp = wire.read_response(r, Deadline.after(1))
            if resp.status == "ID":
                try:
                    wire.parse_id(resp)
                except wire.WireError:
                    pass
    except ProbeError:
        pass
    finally:
        r.sock.close()
        r._peer.close()  # type: ignore[attr-defined]
