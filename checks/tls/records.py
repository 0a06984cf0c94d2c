"""Reading and parsing what a server answers to a hand-built hello.

Everything here treats the reply as hostile: each length is checked against
what is actually there, every read is byte-capped and deadline-bound, and the
only exceptions that leave are ``checks.net.ProbeError`` subclasses (our own
``MalformedReply`` for bytes that are not the protocol).
"""

from __future__ import annotations

import hashlib
import socket
import struct
from dataclasses import dataclass

from ..net import Closed, Deadline, ProbeError, Reader
from . import versions

CT_CHANGE_CIPHER_SPEC = 20
CT_ALERT = 21
CT_HANDSHAKE = 22
CT_APPLICATION_DATA = 23

HS_SERVER_HELLO = 2
HS_CERTIFICATE = 11
HS_SERVER_KEY_EXCHANGE = 12
HS_CERTIFICATE_REQUEST = 13
HS_SERVER_HELLO_DONE = 14

MAX_RECORD = 16384 + 2048          # TLSCiphertext limit (RFC 5246 6.2.3)
FLIGHT_CAP = 96 * 1024             # a server's first flight, certificates included
MAX_CERTS = 16

HRR_RANDOM = hashlib.sha256(b"HelloRetryRequest").digest()

ALERTS = {
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 40: "handshake_failure",
    42: "bad_certificate", 47: "illegal_parameter", 50: "decode_error", 51: "decrypt_error",
    70: "protocol_version", 71: "insufficient_security", 80: "internal_error",
    86: "inappropriate_fallback", 90: "user_canceled", 109: "missing_extension",
    112: "unrecognized_name",
}


class MalformedReply(ProbeError):
    """The server's bytes are not the protocol we spoke: it cannot be judged."""


@dataclass(frozen=True)
class ServerHello:
    legacy_version: int
    version: int                   # the negotiated one (supported_versions wins)
    cipher: int
    random: bytes
    retry: bool = False            # a TLS 1.3 HelloRetryRequest
    extensions: tuple[int, ...] = ()


@dataclass
class Reply:
    """The outcome of one hello: a ServerHello, an alert, or a hang-up before any byte."""

    kind: str                              # server_hello | alert | closed | sslv2
    hello: ServerHello | None = None
    alert: tuple[int, int] | None = None   # (level, description)
    certificates: list[bytes] | None = None  # DER, leaf first, when asked for and present
    sslv2_ciphers: tuple[int, ...] = ()
    raw: bytes = b""                       # the bytes read, capped, for evidence and fixtures
    note: str = ""

    @property
    def alert_name(self) -> str:
        if not self.alert:
            return ""
        return ALERTS.get(self.alert[1], f"alert {self.alert[1]}")

    def evidence(self) -> str:
        if self.kind == "server_hello" and self.hello:
            from .suites import name_of
            return (f"ServerHello version={versions.name(self.hello.version)} "
                    f"cipher={name_of(self.hello.cipher)}")
        if self.kind == "sslv2":
            return f"SSLv2 SERVER-HELLO with {len(self.sslv2_ciphers)} cipher spec(s)"
        if self.kind == "alert":
            return f"alert {self.alert_name}"
        return self.note or self.kind


def _need(data: bytes, pos: int, n: int, what: str) -> None:
    if pos + n > len(data):
        raise MalformedReply(f"truncated {what}", data[:256])


def parse_server_hello(body: bytes) -> ServerHello:
    """The body of a ServerHello handshake message (without its 4-byte header)."""
    _need(body, 0, 35, "ServerHello")
    legacy = struct.unpack("!H", body[:2])[0]
    random = body[2:34]
    sid_len = body[34]
    pos = 35 + sid_len
    _need(body, pos, 3, "ServerHello")
    cipher = struct.unpack("!H", body[pos:pos + 2])[0]
    pos += 3
    version = legacy
    kinds: list[int] = []
    if pos < len(body):
        _need(body, pos, 2, "ServerHello extensions")
        end = pos + 2 + struct.unpack("!H", body[pos:pos + 2])[0]
        _need(body, 0, end, "ServerHello extensions")
        pos += 2
        while pos < end:
            _need(body, pos, 4, "extension")
            kind, size = struct.unpack("!HH", body[pos:pos + 4])
            _need(body, pos + 4, size, "extension")
            if pos + 4 + size > end:
                raise MalformedReply("extension overruns the extension block", body[:256])
            kinds.append(kind)
            if kind == 43:
                if size != 2:
                    raise MalformedReply("bad supported_versions in ServerHello", body[:256])
                version = struct.unpack("!H", body[pos + 4:pos + 6])[0]
            pos += 4 + size
    if (legacy >> 8) != 3:
        raise MalformedReply(f"ServerHello with version 0x{legacy:04X}", body[:256])
    return ServerHello(legacy, version, cipher, random, random == HRR_RANDOM, tuple(kinds))


def parse_certificate_list(body: bytes) -> list[bytes]:
    """A TLS <= 1.2 Certificate message body: the DER certificates, leaf first."""
    _need(body, 0, 3, "Certificate")
    total = int.from_bytes(body[:3], "big")
    if total != len(body) - 3:
        raise MalformedReply("Certificate list length does not match the message", body[:64])
    certs: list[bytes] = []
    pos = 3
    while pos < len(body):
        _need(body, pos, 3, "certificate entry")
        n = int.from_bytes(body[pos:pos + 3], "big")
        _need(body, pos + 3, n, "certificate entry")
        if n == 0:
            raise MalformedReply("empty certificate entry", body[:64])
        certs.append(body[pos + 3:pos + 3 + n])
        pos += 3 + n
        if len(certs) > MAX_CERTS:
            raise MalformedReply(f"more than {MAX_CERTS} certificates", body[:64])
    return certs


def parse_sslv2_server_hello(msg: bytes) -> tuple[int, tuple[int, ...], bytes]:
    """An SSL 2.0 SERVER-HELLO message: (version, cipher specs, certificate DER)."""
    _need(msg, 0, 11, "SSLv2 SERVER-HELLO")
    if msg[0] != 4:
        raise MalformedReply(f"SSLv2 message type {msg[0]} instead of SERVER-HELLO", msg[:64])
    version, cert_len, specs_len, cid_len = struct.unpack("!HHHH", msg[3:11])
    _need(msg, 11, cert_len + specs_len + cid_len, "SSLv2 SERVER-HELLO")
    cert = msg[11:11 + cert_len]
    specs = msg[11 + cert_len:11 + cert_len + specs_len]
    if specs_len % 3:
        raise MalformedReply("SSLv2 cipher specs not a multiple of 3 bytes", msg[:64])
    ciphers = tuple(int.from_bytes(specs[i:i + 3], "big") for i in range(0, len(specs), 3))
    return version, ciphers, cert


class _Records:
    """TLS records off a socket, each checked before its body is read."""

    def __init__(self, reader: Reader, deadline: Deadline) -> None:
        self.reader = reader
        self.deadline = deadline

    def next(self) -> tuple[int, bytes]:
        header = self.reader.readexact(5, self.deadline)
        kind, major, length = header[0], header[1], struct.unpack("!H", header[3:5])[0]
        if kind not in (CT_CHANGE_CIPHER_SPEC, CT_ALERT, CT_HANDSHAKE, CT_APPLICATION_DATA) \
                or major != 3:
            raise MalformedReply("not a TLS record", header + self.reader.pending()[:64])
        if length == 0 or length > MAX_RECORD:
            raise MalformedReply(f"TLS record of {length} bytes", header)
        return kind, self.reader.readexact(length, self.deadline)


def read_reply(sock: socket.socket, deadline: Deadline, *, want_certificates: bool = False,
               cap: int = FLIGHT_CAP) -> Reply:
    """Read the server's answer to one hello.

    Stops at the ServerHello unless ``want_certificates`` (then at
    ServerHelloDone, or at the ServerHello for TLS 1.3, whose certificate is
    encrypted). A hang-up before the first byte is an answer (``closed``: the
    server refused); a hang-up or a stall in the middle is not.
    """
    reader = Reader(sock, line_cap=cap, session_cap=cap)
    try:
        first = reader.readexact(1, deadline)
    except Closed:
        if reader.total == 0:
            return Reply("closed", note="the server closed the connection without answering")
        raise
    reader.buf[:0] = first  # put it back: the record reader wants the whole header
    if first[0] & 0x80:
        return _read_sslv2(reader, deadline)
    flight = _Flight(reader, want_certificates, cap)
    records = _Records(reader, deadline)
    try:
        while True:
            kind, body = records.next()
            done = flight.alert(body) if kind == CT_ALERT else flight.record(kind, body)
            if done is not None:
                return done
    except Closed:
        if flight.reply.hello is not None:
            flight.reply.note = "the server hung up after its ServerHello"
            return _finish(flight.reply, reader)
        raise


class _Flight:
    """The server's flight, record by record: each step returns the finished Reply, or None
    to read on."""

    def __init__(self, reader: Reader, want_certificates: bool, cap: int) -> None:
        self.reader = reader
        self.want_certificates = want_certificates
        self.cap = cap
        self.stream = bytearray()
        self.reply = Reply("closed")

    def alert(self, body: bytes) -> Reply | None:
        if len(body) < 2:
            raise MalformedReply("truncated alert", body)
        if body[0] == 1 and body[1] != 0:
            # A warning (e.g. unrecognized_name before the ServerHello, as some
            # servers send for an unknown SNI) is not a refusal: keep reading.
            return None
        if self.reply.hello is None:
            return Reply("alert", alert=(body[0], body[1]), raw=bytes(self.reader.transcript))
        self.reply.note = f"alert {ALERTS.get(body[1], body[1])} after ServerHello"
        return _finish(self.reply, self.reader)

    def record(self, kind: int, body: bytes) -> Reply | None:
        if kind != CT_HANDSHAKE:
            if self.reply.hello is not None:
                return _finish(self.reply, self.reader)  # e.g. TLS 1.3 ChangeCipherSpec: done
            raise MalformedReply(f"record type {kind} before the ServerHello", body[:64])
        self.stream += body
        while len(self.stream) >= 4:
            mtype = self.stream[0]
            mlen = int.from_bytes(self.stream[1:4], "big")
            if mlen > self.cap:
                raise MalformedReply(f"handshake message of {mlen} bytes", bytes(self.stream[:16]))
            if len(self.stream) < 4 + mlen:
                break
            msg = bytes(self.stream[4:4 + mlen])
            del self.stream[:4 + mlen]
            done = self.message(mtype, msg)
            if done is not None:
                return done
        return None

    def message(self, mtype: int, msg: bytes) -> Reply | None:
        """One handshake message: the ServerHello first, then its certificates."""
        if self.reply.hello is None:
            if mtype != HS_SERVER_HELLO:
                raise MalformedReply(f"handshake message {mtype} before the ServerHello", msg[:64])
            hello = parse_server_hello(msg)
            self.reply = Reply("server_hello", hello=hello)
            if not self.want_certificates or hello.version >= versions.TLS13 or hello.retry:
                return _finish(self.reply, self.reader)
        elif mtype == HS_CERTIFICATE:
            self.reply.certificates = parse_certificate_list(msg)
        elif mtype == HS_SERVER_HELLO_DONE:
            return _finish(self.reply, self.reader)
        return None


def _finish(reply: Reply, reader: Reader) -> Reply:
    reply.raw = bytes(reader.transcript)
    return reply


def _read_sslv2(reader: Reader, deadline: Deadline) -> Reply:
    header = reader.readexact(2, deadline)
    length = ((header[0] & 0x7F) << 8) | header[1]
    if length < 1:
        raise MalformedReply("empty SSLv2 record", header)
    msg = reader.readexact(length, deadline)
    if msg[0] == 0:  # SSLv2 ERROR message: the server refuses
        return Reply("alert", alert=(2, 0), raw=bytes(reader.transcript), note="SSLv2 ERROR")
    version, ciphers, _cert = parse_sslv2_server_hello(msg)
    if version != versions.SSL2:
        return Reply("alert", raw=bytes(reader.transcript),
                     note=f"SSLv2 SERVER-HELLO with version 0x{version:04X}")
    return Reply("sslv2", sslv2_ciphers=ciphers, raw=bytes(reader.transcript))


def parse_reply_bytes(data: bytes, *, want_certificates: bool = True) -> Reply:
    """Parse recorded reply bytes (tests, fixtures, fuzzing) with the socket code path."""
    a, b = socket.socketpair()
    try:
        b.sendall(data)
        b.shutdown(socket.SHUT_WR)
        return read_reply(a, Deadline.after(2.0), want_certificates=want_certificates)
    finally:
        a.close()
        b.close()
