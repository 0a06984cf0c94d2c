"""Hostile IMAP servers on loopback, for the tests that prove the probe cannot be
hung, bloated or fooled by what a server sends.

A ``FakeServer`` runs one accept thread (plus one short-lived thread per
connection, so a probe that opens a second connection is not queued behind the
first) and always shuts down: every wait inside a behaviour is on the server's
stop event, never a bare sleep, so ``close()`` returns within a second whatever
the behaviour is doing. Each behaviour is a small function of a ``Conn``.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import ssl
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

HOST = "127.0.0.1"
READ_CAP = 1 << 20        # what a fake reads from one client before it gives up on it


class Conn:
    """One accepted client. ``stop`` is set when the server shuts down."""

    def __init__(self, sock: socket.socket, stop: threading.Event) -> None:
        self.sock: socket.socket | ssl.SSLSocket = sock
        self.stop = stop
        self.buf = bytearray()
        self.received = bytearray()     # every byte the client sent (decrypted after TLS)
        self.sock.settimeout(0.2)

    # -- sending
    def send(self, data: bytes) -> bool:
        """Send all of ``data``; False once the client is gone or the server stops."""
        view = memoryview(data)
        while view and not self.stop.is_set():
            try:
                view = view[self.sock.send(view[:65536]):]
            except (TimeoutError, ssl.SSLWantWriteError):
                continue
            except OSError:
                return False
        return not view

    # -- receiving
    def _fill(self) -> bool:
        while not self.stop.is_set():
            try:
                chunk = self.sock.recv(65536)
            except (TimeoutError, ssl.SSLWantReadError):
                continue
            except OSError:
                return False
            if not chunk:
                return False
            self.buf += chunk
            self.received += chunk
            return len(self.received) < READ_CAP
        return False

    def readline(self) -> bytes | None:
        """One client line, or None when the client left or the server stops."""
        while b"\n" not in self.buf:
            if not self._fill():
                return None
        nl = self.buf.index(b"\n")
        line = bytes(self.buf[: nl + 1])
        del self.buf[: nl + 1]
        return line

    def idle(self, seconds: float | None = None) -> None:
        """Say nothing; swallow what the client sends until it leaves, the server
        stops, or ``seconds`` pass."""
        end = None if seconds is None else threading.Event()
        if end is not None:
            timer = threading.Timer(seconds, end.set)
            timer.daemon = True
            timer.start()
        while not self.stop.is_set() and (end is None or not end.is_set()):
            try:
                chunk = self.sock.recv(65536)
            except (TimeoutError, ssl.SSLWantReadError):
                continue
            except OSError:
                return
            if not chunk:
                return
            self.received += chunk[: max(0, READ_CAP - len(self.received))]

    def wait(self, seconds: float) -> bool:
        """Sleep unless the server stops; True if it is still running."""
        return not self.stop.wait(seconds)

    def start_tls(self, ctx: ssl.SSLContext) -> bool:
        """Server side of a handshake; False if it failed. Bytes the client
        pipelined before it are dropped, as a correct server must."""
        self.buf.clear()
        self.sock.settimeout(3)
        try:
            self.sock = ctx.wrap_socket(self.sock, server_side=True)
        except (OSError, ValueError):
            return False
        self.sock.settimeout(0.2)
        return True

    def reset(self) -> None:
        """Close with an RST instead of a FIN."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.sock.close()


Behaviour = Callable[[Conn], None]


@dataclass
class FakeServer:
    behaviour: Behaviour
    implicit_tls: ssl.SSLContext | None = None   # wrap every accepted socket first (an imaps port)
    port: int = 0
    conns: list[Conn] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((HOST, 0))
        self._listener.listen(64)
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        t = threading.Thread(target=self._accept, name=f"fake-{self.port}", daemon=True)
        t.start()
        self._threads.append(t)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn = Conn(sock, self._stop)
            with self._lock:
                self.conns.append(conn)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            with self._lock:
                self._threads.append(t)

    def _serve(self, conn: Conn) -> None:
        try:
            if self.implicit_tls is not None and not conn.start_tls(self.implicit_tls):
                return
            self.behaviour(conn)
        except OSError:
            pass
        finally:
            try:
                conn.sock.close()
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        with self._lock:
            conns, threads = list(self.conns), list(self._threads)
        for c in conns:
            try:
                c.sock.close()
            except OSError:
                pass
        for t in threads:
            t.join(timeout=2)

    def received(self) -> list[bytes]:
        with self._lock:
            return [bytes(c.received) for c in self.conns]

    def __enter__(self) -> FakeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ------------------------------------------------------------------ a tiny IMAP responder

@dataclass
class Imap:
    """A scriptable IMAP server: enough of RFC 3501 for the probe's dialog, with
    hooks where a hostile behaviour takes over."""

    caps: str = "IMAP4rev1 STARTTLS LOGINDISABLED"
    tls_caps: str = "IMAP4rev1 AUTH=PLAIN"
    greeting: bytes | None = None
    tls: ssl.SSLContext | None = None
    # STARTTLS: "handshake" (real TLS), "silent" (OK then nothing), "stall" (OK, read the
    # ClientHello, send half a ServerHello), "cleartext" (OK then a plaintext line)
    on_starttls: str = "handshake"
    on_authenticate: bytes = b"NO [PRIVACYREQUIRED] Plaintext authentication disallowed"
    capability_reply: bytes | None = None    # raw bytes instead of "* CAPABILITY ..."

    def __call__(self, conn: Conn) -> None:
        in_tls = isinstance(conn.sock, ssl.SSLSocket)
        greeting = self.greeting or f"* OK [CAPABILITY {self.caps}] fake ready\r\n".encode()
        if not conn.send(greeting):
            return
        while True:
            line = conn.readline()
            if line is None:
                return
            parts = line.rstrip(b"\r\n").split(b" ", 2)
            tag = parts[0]
            cmd = parts[1].upper() if len(parts) > 1 else b""
            caps = self.tls_caps if in_tls else self.caps
            if cmd == b"CAPABILITY":
                body = self.capability_reply or f"* CAPABILITY {caps}\r\n".encode()
                conn.send(body + tag + b" OK done\r\n")
            elif cmd == b"ID":
                conn.send(b"* ID NIL\r\n" + tag + b" OK done\r\n")
            elif cmd == b"AUTHENTICATE" and self.on_authenticate.startswith(b"+"):
                conn.send(self.on_authenticate + b"\r\n")     # a continuation is untagged
                conn.readline()
                conn.send(tag + b" BAD AUTHENTICATE cancelled\r\n")
            elif cmd == b"AUTHENTICATE":
                conn.send(tag + b" " + self.on_authenticate + b"\r\n")
            elif cmd == b"LOGOUT":
                conn.send(b"* BYE bye\r\n" + tag + b" OK done\r\n")
                conn.idle(1.0)          # record anything sent after LOGOUT
                return
            elif cmd == b"STARTTLS" and not in_tls and "STARTTLS" in caps:
                conn.send(tag + b" OK Begin TLS negotiation now\r\n")
                if not self._starttls(conn):
                    return
                in_tls = True
            elif cmd in (b"NOOP", b"CHECK"):
                conn.send(tag + b" OK done\r\n")
            else:
                conn.send(tag + b" BAD unknown command\r\n")

    def _starttls(self, conn: Conn) -> bool:
        if self.on_starttls == "silent":
            conn.idle()
            return False
        if self.on_starttls == "stall":
            stall_handshake(conn)
            return False
        if self.on_starttls == "cleartext":
            conn.send(b"* OK this is not TLS\r\n")
            conn.idle()
            return False
        assert self.tls is not None
        return conn.start_tls(self.tls)


def stall_handshake(conn: Conn) -> None:
    """Read the ClientHello, answer with the first bytes of a ServerHello record
    that promises 80 bytes, then say nothing more."""
    conn.sock.settimeout(0.2)
    got = b""
    while not got and not conn.stop.is_set():
        try:
            got = conn.sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            return
        if not got:
            return
    conn.send(b"\x16\x03\x03\x00\x50\x02\x00")
    conn.idle()


# ------------------------------------------------------------------ certificates

@dataclass
class TlsFiles:
    cert: Path
    key: Path

    def context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(self.cert), str(self.key))
        return ctx


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write(directory: Path, stem: str, cert_der: bytes, key: rsa.RSAPrivateKey) -> TlsFiles:
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
    pem = ssl.DER_cert_to_PEM_cert(cert_der).encode()
    cert_path.write_bytes(pem)
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    return TlsFiles(cert_path, key_path)


def plain_cert(directory: Path, name: str = "127.0.0.1") -> TlsFiles:
    """A self-signed certificate with nothing odd about it."""
    key = _key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=90))
            .sign(key, hashes.SHA256()))
    return _write(directory, "plain", cert.public_bytes(serialization.Encoding.DER), key)


def absurd_cert(directory: Path, sans: int = 2000) -> TlsFiles:
    """Self-signed, with ``sans`` SAN entries, a notBefore in 1950 and a notAfter
    on the last day of year 9999, and a 400-character subject."""
    key = _key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x" * 64),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "\u00e9\u2603" * 100),
                         x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "o" * 64)])
    names: list[x509.GeneralName] = [x509.DNSName(f"host{i}.example.invalid") for i in range(sans)]
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number((1 << 159) - 1)
            .not_valid_before(dt.datetime(1950, 1, 1, tzinfo=dt.UTC))
            .not_valid_after(dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(key, hashes.SHA256()))
    return _write(directory, "absurd", cert.public_bytes(serialization.Encoding.DER), key)


def negative_serial_cert(directory: Path) -> TlsFiles:
    """Self-signed with serial number -0x0123456789abcdef (RFC 5280 forbids it, servers
    still send it). ``cryptography`` refuses to build one, so the TBS of a normal
    certificate is patched in place (same length) and signed again by hand."""
    key = _key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    serial = 0x0123456789ABCDEF
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(serial)
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=90))
            .sign(key, hashes.SHA256()))
    tbs = bytearray(cert.tbs_certificate_bytes)
    positive = b"\x02\x08" + serial.to_bytes(8, "big")
    at = tbs.index(positive)
    negative = (-serial).to_bytes(8, "big", signed=True)     # two's complement, same length
    tbs[at + 2: at + 10] = negative
    signature = key.sign(bytes(tbs), padding.PKCS1v15(), hashes.SHA256())
    der = cert.public_bytes(serialization.Encoding.DER)
    sig_alg = _der_children(der)[1]
    bit_string = _der_tlv(0x03, b"\x00" + signature)
    return _write(directory, "negserial", _der_tlv(0x30, bytes(tbs) + sig_alg + bit_string), key)


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _der_tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(content)) + content


def _der_children(der: bytes) -> list[bytes]:
    """The encoded children of the outer SEQUENCE (definite lengths only)."""

    def header(buf: bytes, at: int) -> tuple[int, int]:
        first = buf[at + 1]
        if first < 0x80:
            return 2, first
        n = first & 0x7F
        return 2 + n, int.from_bytes(buf[at + 2: at + 2 + n], "big")

    hlen, length = header(der, 0)
    at, end, out = hlen, hlen + length, []
    while at < end:
        h, n = header(der, at)
        out.append(der[at: at + h + n])
        at += h + n
    return out


def random_bytes(n: int) -> bytes:
    return os.urandom(n)
