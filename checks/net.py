"""The network edge: deadlines, bounded reads, and a byte-exact line reader.

Every operation takes a ``Deadline`` that bounds a whole protocol step, not a
single ``recv``: a server that drips one byte a second still runs out of time.
Every read has a byte cap, so a hostile server can neither hang nor bloat a run.
"""

from __future__ import annotations

import selectors
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from imap_gate.errors import GateError

LINE_CAP = 8 * 1024
SESSION_CAP = 256 * 1024


class ProbeError(GateError):
    """The endpoint could not be judged: timeout, reset, protocol violation.

    A ``GateError`` so that nothing a server sends can surface as anything but
    the tool's own error type."""

    def __init__(self, message: str, evidence: bytes = b"") -> None:
        super().__init__(message)
        self.evidence = evidence


class Timeout(ProbeError):
    pass


class Closed(ProbeError):
    pass


class TooLong(ProbeError):
    pass


class HandshakeFailed(ProbeError):
    """The TLS handshake was refused or broken (an alert, a protocol error, EOF)."""


class Unresolved(ProbeError):
    """The host name does not resolve: nothing was sent anywhere."""


# (host, want IPv6) -> one address to connect to; raises Unresolved.
Resolver = Callable[[str, bool], str]
RESERVED_NONEXISTENT = (".invalid",)   # RFC 6761 6.4: never resolves, so never asked


def resolve(host: str, ipv6: bool = False) -> str:
    """The address to probe: an IP literal as it is, a name through the system resolver
    (once per run: the engine caches it). ``.invalid`` names are refused without asking."""
    if _is_ip(host):
        return host
    if host.lower().rstrip(".").endswith(RESERVED_NONEXISTENT) or host.lower() == "invalid":
        raise Unresolved(f"cannot resolve {host!r}: the .invalid domain never resolves "
                         "(RFC 6761)")
    family = socket.AF_INET6 if ipv6 else 0
    try:
        infos = socket.getaddrinfo(host, None, family, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise Unresolved(f"cannot resolve {host!r}: {exc.strerror}") from None
    except (UnicodeError, ValueError) as exc:
        raise Unresolved(f"cannot resolve {host!r}: {exc}") from None
    addrs = [str(i[4][0]) for i in infos]
    if not addrs:
        raise Unresolved(f"cannot resolve {host!r}: no address")
    v4 = [a for a in addrs if ":" not in a]
    return addrs[0] if ipv6 else (v4 or addrs)[0]


@dataclass
class Deadline:
    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def sooner(self, other: Deadline) -> Deadline:
        return self if self.at <= other.at else other

    def arm(self, sock: socket.socket) -> None:
        left = self.remaining()
        if left <= 0:
            raise Timeout("deadline passed")
        sock.settimeout(left)


def connect(host: str, port: int, deadline: Deadline, source: str | None = None) -> socket.socket:
    """TCP connect; ``ConnectionRefusedError`` and ``Timeout`` are distinct facts for the caller."""
    left = deadline.remaining()
    if left <= 0:
        raise Timeout("deadline passed before connecting")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if source and ":" in source:
        family = socket.AF_INET6
    try:
        infos = socket.getaddrinfo(host, port, family if _is_ip(host) else 0, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ProbeError(f"cannot resolve {host!r}: {exc.strerror}") from None
    last: Exception | None = None
    for fam, kind, proto, _, addr in infos:
        sock = socket.socket(fam, kind, proto)
        try:
            if source:
                sock.bind((source, 0))
            deadline.arm(sock)
            sock.connect(addr)
            return sock
        except TimeoutError:
            sock.close()
            raise Timeout(f"connect to {host}:{port} timed out") from None
        except ConnectionRefusedError:
            sock.close()
            raise
        except OSError as exc:
            sock.close()
            last = exc
    if isinstance(last, OSError):
        raise last
    raise ProbeError(f"no address for {host}")


def _is_ip(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return False
    return True


class Reader:
    """Reads CRLF lines and exact byte counts without reading past what it returns
    beyond its own buffer; ``pending()`` tells what was buffered (must be empty
    before a TLS handshake, or the server pipelined bytes it should not have)."""

    def __init__(self, sock: socket.socket, line_cap: int = LINE_CAP,
                 session_cap: int = SESSION_CAP) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.line_cap = line_cap
        self.session_cap = session_cap
        self.total = 0
        self.transcript = bytearray()  # what was received, capped, for evidence

    def _fill(self, deadline: Deadline, want: int = 4096) -> None:
        if self.total >= self.session_cap:
            raise TooLong(f"server sent more than {self.session_cap} bytes in one session")
        deadline.arm(self.sock)
        try:
            chunk = self.sock.recv(min(want, self.session_cap - self.total))
        except TimeoutError:
            raise Timeout("timed out waiting for the server", bytes(self.buf[:512])) from None
        except ConnectionResetError:
            raise Closed("connection reset by the server", bytes(self.buf[:512])) from None
        except OSError as exc:
            raise Closed(f"connection error: {exc.strerror or exc}") from None
        if not chunk:
            raise Closed("the server closed the connection", bytes(self.buf[:512]))
        self.total += len(chunk)
        if len(self.transcript) < 16384:
            self.transcript += chunk[: 16384 - len(self.transcript)]
        self.buf += chunk

    def readline(self, deadline: Deadline) -> bytes:
        """One line including its CRLF (a bare LF is accepted as the end)."""
        start = 0
        while True:
            nl = self.buf.find(b"\n", start)
            if nl >= 0:
                line = bytes(self.buf[: nl + 1])
                del self.buf[: nl + 1]
                return line
            if len(self.buf) > self.line_cap:
                raise TooLong(f"a line longer than {self.line_cap} bytes", bytes(self.buf[:256]))
            start = len(self.buf)
            self._fill(deadline, self.line_cap + 2 - len(self.buf))

    def readexact(self, n: int, deadline: Deadline) -> bytes:
        if n > self.session_cap:
            raise TooLong(f"a literal of {n} bytes is larger than the session cap")
        while len(self.buf) < n:
            self._fill(deadline, n - len(self.buf))
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def pending(self) -> bytes:
        return bytes(self.buf)


def send_all(sock: socket.socket, data: bytes, deadline: Deadline) -> None:
    view = memoryview(data)
    while view:
        deadline.arm(sock)
        try:
            sent = sock.send(view)
        except TimeoutError:
            raise Timeout("timed out sending to the server") from None
        except OSError as exc:
            raise Closed(f"connection error while sending: {exc.strerror or exc}") from None
        view = view[sent:]


def tls_handshake(sock: socket.socket, context: ssl.SSLContext, sni: str | None,
                  deadline: Deadline) -> ssl.SSLSocket:
    """A TLS client handshake bounded as a whole by ``deadline``.

    ``settimeout`` bounds each read, so a server that drips its handshake a byte
    at a time could stretch a blocking handshake far past the step; here the
    handshake runs non-blocking and every wait is cut to what is left. SNI is
    not sent for IP literals (RFC 6066 forbids it; the ``ssl`` module knows)."""
    if deadline.expired():
        raise Timeout("deadline passed before the TLS handshake")
    try:
        tls = context.wrap_socket(sock, server_hostname=sni or None,
                                  do_handshake_on_connect=False)
    except (ssl.SSLError, ValueError, OSError) as exc:
        raise HandshakeFailed(f"cannot start TLS: {exc}") from None
    tls.setblocking(False)
    try:
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                _wait(tls, deadline, write=False)
            except ssl.SSLWantWriteError:
                _wait(tls, deadline, write=True)
            except ssl.SSLError as exc:
                raise HandshakeFailed(f"TLS handshake failed: {exc.reason or exc}") from None
            except (ConnectionResetError, BrokenPipeError):
                raise HandshakeFailed("TLS handshake failed: connection reset by the server") \
                    from None
            except OSError as exc:
                raise HandshakeFailed(f"TLS handshake failed: {exc.strerror or exc}") from None
    except ProbeError:
        tls.close()
        raise
    tls.setblocking(True)
    return tls


def _wait(sock: socket.socket, deadline: Deadline, write: bool) -> None:
    """Wait for the socket within the deadline (poll: no FD_SETSIZE limit under load)."""
    left = deadline.remaining()
    if left <= 0:
        raise Timeout("timed out in the TLS handshake")
    with selectors.DefaultSelector() as sel:
        sel.register(sock, selectors.EVENT_WRITE if write else selectors.EVENT_READ)
        if not sel.select(left):
            raise Timeout("timed out in the TLS handshake")
