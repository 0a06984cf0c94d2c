"""Small fake IMAP servers on loopback, for what no real server will do.

``serve(handler)`` runs ``handler(conn)`` for every connection accepted on
127.0.0.1:<free port> in a thread and records every byte the client sent
(inside TLS too, after decryption), so a test can both script hostile
behaviour and prove what the probe did or did not send::

    with serve(imap_script(greeting=b"* PREAUTH ready")) as srv:
        ...probe 127.0.0.1:srv.port...
    assert b"LOGIN" not in srv.received_all()

Handlers: ``imap_script(...)`` is a scripted, configurable IMAP server
(PREAUTH, STARTTLS answered BAD, injection-vulnerable STARTTLS, weak
mechanisms...); ``stall``, ``garbage``, ``long_line``, ``drip``,
``immediate_close``, ``reset_after_starttls`` and friends are hostile ones.
``unaccepting_port()`` gives a port whose TCP handshake is never answered.
"""

from __future__ import annotations

import atexit
import shutil
import socket
import ssl
import struct
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from tests.support import certs

HOST = "127.0.0.1"
RECORD_CAP = 1 << 20


class Conn:
    """The server side of one connection, with a line buffer and a recorder."""

    def __init__(self, sock: socket.socket, server: FakeServer, index: int) -> None:
        self.sock: socket.socket = sock
        self.server = server
        self.index = index
        self.buf = bytearray()

    @property
    def stopping(self) -> bool:
        return self.server.stop_event.is_set()

    def _record(self, data: bytes) -> None:
        rec = self.server.received[self.index]
        if len(rec) < RECORD_CAP:
            rec += data[: RECORD_CAP - len(rec)]

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv_some(self, timeout: float = 5.0) -> bytes:
        """Whatever arrives next (b"" on EOF); polls so that a stopping server ends fast."""
        end = time.monotonic() + timeout
        while not self.stopping and time.monotonic() < end:
            self.sock.settimeout(0.05)
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, ssl.SSLWantReadError):
                continue
            self._record(data)
            return data
        raise TimeoutError("nothing received")

    def readline(self, timeout: float = 5.0) -> bytes:
        """One line with its LF, or b"" on EOF."""
        while b"\n" not in self.buf:
            data = self.recv_some(timeout)
            if not data:
                rest, self.buf = bytes(self.buf), bytearray()
                return rest
            self.buf += data
        i = self.buf.index(b"\n") + 1
        line, self.buf = bytes(self.buf[:i]), self.buf[i:]
        return line

    def start_tls(self, keep_buffer: bool = False, legacy: bool = False) -> None:
        """Server-side handshake. ``keep_buffer`` keeps plaintext that arrived before it, to be
        answered inside TLS: exactly the STARTTLS injection bug. ``legacy``: TLS 1.0 only."""
        if not keep_buffer:
            self.buf = bytearray()
        self.sock.settimeout(5)
        ctx = legacy_server_context() if legacy else server_context()
        self.sock = ctx.wrap_socket(self.sock, server_side=True)

    def drain(self, timeout: float = 2.0) -> None:
        """Read (and so record) until the client hangs up."""
        with suppress(OSError, TimeoutError):
            while self.recv_some(timeout):
                pass

    def wait(self) -> None:
        """Hold the connection open, silently, until the test ends."""
        self.server.stop_event.wait(30)

    def reset(self) -> None:
        """Close with a TCP RST instead of a FIN."""
        with suppress(OSError):
            raw = self.sock.unwrap() if isinstance(self.sock, ssl.SSLSocket) else self.sock
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            raw.close()
        with suppress(OSError):
            self.sock.close()

    def close(self) -> None:
        with suppress(OSError):
            self.sock.close()


@dataclass
class FakeServer:
    host: str
    port: int
    received: list[bytearray] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)

    @property
    def connections(self) -> int:
        return len(self.received)

    def received_all(self) -> bytes:
        return b"".join(bytes(r) for r in self.received)


@contextmanager
def serve(handler: Callable[[Conn], None], host: str = HOST) -> Iterator[FakeServer]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, 0))
    listener.listen(64)
    listener.settimeout(0.05)
    server = FakeServer(host, listener.getsockname()[1])
    conns: list[Conn] = []
    threads: list[threading.Thread] = []

    def run(conn: Conn) -> None:
        try:
            handler(conn)
        except Exception as exc:  # a hostile script ends however the client makes it end
            server.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()

    def accept_loop() -> None:
        while not server.stop_event.is_set():
            try:
                sock, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            server.received.append(bytearray())
            conn = Conn(sock, server, len(server.received) - 1)
            conns.append(conn)
            t = threading.Thread(target=run, args=(conn,), daemon=True)
            threads.append(t)
            t.start()

    acceptor = threading.Thread(target=accept_loop, daemon=True)
    acceptor.start()
    try:
        yield server
    finally:
        server.stop_event.set()
        acceptor.join(2)
        listener.close()
        for c in conns:
            c.close()
        for t in threads:
            t.join(2)


@contextmanager
def unaccepting_port(host: str = HOST) -> Iterator[int]:
    """A port whose accept queue is full, so a new TCP handshake is never answered:
    what a firewall that drops packets looks like to a client."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((host, 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers: list[socket.socket] = []
    try:
        for _ in range(4):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            with suppress(BlockingIOError, OSError):
                s.connect((host, port))
            fillers.append(s)
        time.sleep(0.05)
        yield port
    finally:
        for s in fillers:
            s.close()
        listener.close()


# ---------------------------------------------------------------- TLS material

@lru_cache(maxsize=1)
def _material() -> tuple[str, str, str]:
    ca = certs.make_ca("fakeserver CA")
    leaf = certs.make_leaf(ca, ["localhost", "127.0.0.1", "::1"])
    directory = Path(tempfile.mkdtemp(prefix="fakeserver-"))
    atexit.register(shutil.rmtree, directory, True)
    cert, key = leaf.write(directory, "server")
    (directory / "ca.pem").write_bytes(ca.cert_pem())
    return str(cert), str(key), str(directory / "ca.pem")


def _cert_files() -> tuple[str, str]:
    cert, key, _ = _material()
    return cert, key


def ca_file() -> str:
    """The CA that signed the fakes' certificate: give it to the manifest's ``ca_file`` so
    certificate trust is not what a fake-server test is about."""
    return _material()[2]


@lru_cache(maxsize=1)
def server_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*_cert_files())
    return ctx


@lru_cache(maxsize=1)
def legacy_server_context() -> ssl.SSLContext:
    """A server stuck on TLS 1.0, as old appliances are."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*_cert_files())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    return ctx


# ---------------------------------------------------------------- a scripted IMAP server

DEFAULT_CAPS = b"IMAP4rev1 ID STARTTLS LOGINDISABLED"


def imap_script(*, greeting: bytes | None = None, caps: bytes = DEFAULT_CAPS,
                caps_tls: bytes = b"IMAP4rev1 ID AUTH=PLAIN", caps_in_greeting: bool = True,
                starttls: str = "ok", auth: str = "no", id_reply: bytes = b"* ID NIL",
                inject_vulnerable: bool = False, implicit_tls: bool = False,
                legacy_tls: bool = False, auth_delay: float = 0.0, cancel_delay: float = 0.0,
                anonymous: str = "no") -> Callable[[Conn], None]:
    """A small, honest-looking IMAP server.

    starttls: ok | bad | no | reset (RST after OK, mid-handshake);
    auth: no (NO [PRIVACYREQUIRED]) | continue (a ``+``, then whatever the client says) |
          login-only (a ``+`` to AUTHENTICATE LOGIN only);
    inject_vulnerable: answer plaintext pipelined after STARTTLS inside TLS;
    legacy_tls: speak TLS 1.0 only (the probe's IMAP checks must still run);
    auth_delay: refuse AUTHENTICATE only after this many seconds (Cyrus: about 3);
    cancel_delay: answer the ``*`` cancel only after this many seconds (Courier: about 5);
    anonymous: no (refused like any mechanism) | accept (an empty trace logs in)."""

    def handler(conn: Conn) -> None:
        tls = False
        if implicit_tls:
            conn.start_tls(legacy=legacy_tls)
            tls = True
        current = caps_tls if tls else caps
        if greeting is not None:
            conn.send(greeting)
        elif caps_in_greeting:
            conn.send(b"* OK [CAPABILITY " + current + b"] fake IMAP ready\r\n")
        else:
            conn.send(b"* OK fake IMAP ready\r\n")
        while True:
            line = conn.readline()
            if not line:
                return
            tag, _, rest = line.rstrip(b"\r\n").partition(b" ")
            cmd = rest.split(b" ")[0].upper()
            if cmd == b"CAPABILITY":
                conn.send(b"* CAPABILITY " + (caps_tls if tls else caps) + b"\r\n" + tag +
                          b" OK done\r\n")
            elif cmd == b"ID":
                conn.send(id_reply + b"\r\n" + tag + b" OK ID done\r\n")
            elif cmd == b"NOOP":
                conn.send(tag + b" OK NOOP done\r\n")
            elif cmd == b"AUTHENTICATE":
                mech = rest.split(b" ")[1].upper() if rest.count(b" ") else b""
                if mech == b"ANONYMOUS" and anonymous == "accept":
                    conn.send(b"+ \r\n")
                    trace = conn.readline()
                    conn.send(tag + (b" OK anonymous in\r\n" if trace.strip() == b""
                                     else b" NO trace\r\n"))
                elif not tls and (auth == "continue" or (auth == "login-only" and mech == b"LOGIN")):
                    conn.send(b"+ \r\n")
                    answer = conn.readline()
                    conn.server.stop_event.wait(cancel_delay)
                    conn.send(tag + (b" BAD cancelled\r\n" if answer.strip() == b"*"
                                     else b" NO wrong\r\n"))
                else:
                    conn.server.stop_event.wait(auth_delay)
                    conn.send(tag + b" NO [PRIVACYREQUIRED] not before TLS\r\n")
            elif cmd == b"STARTTLS" and not tls:
                if starttls in ("bad", "no"):
                    conn.send(tag + (b" BAD" if starttls == "bad" else b" NO") +
                              b" TLS not available\r\n")
                    continue
                conn.send(tag + b" OK Begin TLS negotiation now\r\n")
                if starttls == "reset":
                    conn.recv_some(2)  # the ClientHello
                    conn.reset()
                    return
                conn.start_tls(keep_buffer=inject_vulnerable, legacy=legacy_tls)
                tls = True
            elif cmd == b"LOGOUT":
                conn.send(b"* BYE bye\r\n" + tag + b" OK LOGOUT done\r\n")
                conn.drain()
                return
            else:
                conn.send(tag + b" BAD unknown command\r\n")

    return handler


def per_ip_limit(limit: int, inner: Callable[[Conn], None]) -> Callable[[Conn], None]:
    """A server that allows ``limit`` connections at once from a client: it accepts more at
    the TCP level but never greets them (as a login proxy or couriertcpd's ``-maxperip`` may
    look). ``handler.peak`` is the most connections it saw at once."""
    lock = threading.Lock()
    live = [0]

    def handler(conn: Conn) -> None:
        with lock:
            live[0] += 1
            mine = live[0]
        # A client that closed a connection a moment ago may not be counted out yet (a real
        # server's count lags the same way): give it a moment before refusing to greet.
        end = time.monotonic() + 0.3
        while mine > limit and time.monotonic() < end:
            time.sleep(0.01)
            with lock:
                mine = live[0]
        with lock:
            handler.peak = max(handler.peak, mine)  # type: ignore[attr-defined]
        try:
            if mine > limit:
                handler.refused += 1  # type: ignore[attr-defined]
                conn.drain(30)   # silent until the client gives up
                return
            inner(conn)
        finally:
            with lock:
                live[0] -= 1

    handler.peak = 0  # type: ignore[attr-defined]
    handler.refused = 0  # type: ignore[attr-defined]
    return handler


# ---------------------------------------------------------------- hostile handlers

def stall(conn: Conn) -> None:
    """Accept and never say anything."""
    conn.wait()


def greet_then_stall(conn: Conn) -> None:
    conn.send(b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n")
    conn.wait()


def garbage(conn: Conn) -> None:
    conn.send(b"\x16\x03\x01\x02\x00\x01\xff\xfe garbage \x00\x80\x81\r\n\x07\x1b[0m\r\n")
    conn.wait()


def long_line(conn: Conn) -> None:
    """Ten megabytes without a newline (the client should give up long before)."""
    chunk = b"A" * 65536
    with suppress(OSError):
        for _ in range(160):
            conn.send(chunk)
    conn.wait()


def drip(conn: Conn) -> None:
    """A greeting, one byte a second."""
    for b in b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n":
        if conn.stopping:
            return
        conn.send(bytes([b]))
        conn.server.stop_event.wait(1.0)


def immediate_close(conn: Conn) -> None:
    conn.close()


def reset_on_connect(conn: Conn) -> None:
    conn.reset()


def reset_in_handshake(conn: Conn) -> None:
    """For an implicit-TLS port: read the ClientHello, answer with a RST."""
    conn.recv_some(2)
    conn.reset()


def endless_untagged(conn: Conn) -> None:
    conn.send(b"* OK ready\r\n")
    with suppress(OSError):
        while not conn.stopping:
            conn.send(b"* CAPABILITY IMAP4rev1 X-ENDLESS\r\n" * 100)


def nul_bytes(conn: Conn) -> None:
    conn.send(b"* OK hello\x00world\r\n")
    conn.wait()


def huge_literal(conn: Conn) -> None:
    conn.send(b"* OK [CAPABILITY IMAP4rev1] {999999999}\r\n")
    conn.wait()


def thousands_of_capabilities(conn: Conn) -> None:
    caps = b" ".join(b"X-CAP%d" % i for i in range(5000))
    conn.send(b"* OK [CAPABILITY IMAP4rev1 " + caps + b"] ready\r\n")
    conn.wait()


def half_close(conn: Conn) -> None:
    """Greets, then shuts its sending side and keeps listening."""
    conn.send(b"* OK ready\r\n")
    with suppress(OSError):
        conn.sock.shutdown(socket.SHUT_WR)
    conn.drain(5)


def starttls_then_silence(conn: Conn) -> None:
    """Says OK to STARTTLS and never starts the handshake."""
    conn.send(b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n")
    while not conn.stopping:
        line = conn.readline()
        if not line:
            return
        tag = line.split(b" ")[0]
        if b"STARTTLS" in line.upper():
            conn.send(tag + b" OK go ahead\r\n")
            conn.wait()
            return
        conn.send(tag + b" NO [PRIVACYREQUIRED] no\r\n" if b"AUTHENTICATE" in line.upper()
                  else tag + b" OK fine\r\n")


def tls_first(conn: Conn) -> None:
    """TLS where cleartext is expected: waits for a ClientHello, never greets in clear."""
    with suppress(OSError):
        conn.start_tls()
    conn.wait()


def reset_after_greeting(conn: Conn) -> None:
    conn.send(b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n")
    conn.readline(2)
    conn.reset()
