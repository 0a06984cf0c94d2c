"""What no real server here can serve (Debian's OpenSSL has no SSLv2/SSLv3, 3DES, RC4 or
EXPORT), and hostile behaviour: a raw-socket fake answers our hellos with hand-built
ServerHello bytes. Every case must end in the right rule or in ``incomplete``, in time."""

from __future__ import annotations

import datetime as dt
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from checks.net import Deadline
from checks.tls import clienthello, suites, versions
from checks.tls.api import TlsAssessment, TlsTarget, assess
from imap_gate.severity import Severity
from tests.support import certs

# --- server-side bytes -----------------------------------------------------------------------


def record(kind: int, payload: bytes, version: int = versions.TLS12) -> bytes:
    return struct.pack("!BHH", kind, version, len(payload)) + payload


def handshake(mtype: int, body: bytes) -> bytes:
    return bytes([mtype]) + len(body).to_bytes(3, "big") + body


def server_hello(version: int, cipher: int) -> bytes:
    body = struct.pack("!H", version) + bytes(range(32)) + b"\x00" + struct.pack("!H", cipher) + b"\x00"
    return handshake(2, body)


def certificate_msg(ders: list[bytes]) -> bytes:
    entries = b"".join(len(d).to_bytes(3, "big") + d for d in ders)
    return handshake(11, len(entries).to_bytes(3, "big") + entries)


def alert(desc: int, version: int = versions.TLS12) -> bytes:
    return record(21, bytes([2, desc]), version)


def sslv2_server_hello(ciphers: list[int], cert: bytes) -> bytes:
    specs = b"".join(c.to_bytes(3, "big") for c in ciphers)
    msg = (b"\x04\x00\x01" + struct.pack("!HHHH", versions.SSL2, len(cert), len(specs), 16)
           + cert + specs + bytes(16))
    return struct.pack("!H", 0x8000 | len(msg)) + msg


def read_hello(conn: socket.socket) -> clienthello.ParsedHello | None:
    conn.settimeout(3)
    head = _exact(conn, 2)
    if head[0] & 0x80:
        rest = _exact(conn, ((head[0] & 0x7F) << 8 | head[1]))
        return clienthello.parse_client_hello(head + rest)
    head += _exact(conn, 3)
    return clienthello.parse_client_hello(head + _exact(conn, struct.unpack("!H", head[3:5])[0]))


def _exact(conn: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("client went away")
        buf += chunk
    return buf


# --- the fake server -------------------------------------------------------------------------

@dataclass
class FakeServer:
    behaviour: Callable[[socket.socket], None]
    sock: socket.socket = field(default_factory=socket.socket)
    threads: list[threading.Thread] = field(default_factory=list)
    conns: list[socket.socket] = field(default_factory=list)
    hellos: list[clienthello.ParsedHello | None] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> FakeServer:
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(32)
        self.sock.settimeout(0.1)
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self.threads.append(t)
        return self

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.conns.append(conn)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self.threads.append(t)

    def _serve(self, conn: socket.socket) -> None:
        try:
            self.behaviour(conn)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        for t in self.threads:
            t.join(timeout=5)


@pytest.fixture
def fake() -> Iterator[Callable[[Callable[[socket.socket], None]], FakeServer]]:
    servers: list[FakeServer] = []

    def make(behaviour: Callable[[socket.socket], None]) -> FakeServer:
        s = FakeServer(behaviour).start()
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, str]:
    ca = certs.make_ca()
    leaf = certs.make_leaf(ca, ["imap.example.org"])
    path = tmp_path_factory.mktemp("pki") / "ca.pem"
    path.write_bytes(ca.cert_pem())
    return leaf.cert.public_bytes(serialization.Encoding.DER), str(path)


def legacy_server(cert: bytes, accepts: set[int], prefs: list[int], sslv2: bool = False,
                  seen: list | None = None) -> Callable[[socket.socket], None]:
    """A server of the SSLv3 era: picks its own preferred suite among the offered ones."""

    def serve(conn: socket.socket) -> None:
        hello = read_hello(conn)
        if seen is not None:
            seen.append(hello)
        if hello is None:
            return
        if hello.version == versions.SSL2:
            if sslv2:
                conn.sendall(sslv2_server_hello([0x010080, 0x0700C0], cert))
            return
        top = max(hello.supported_versions or (hello.version,))
        usable = [v for v in accepts if v <= top and v != versions.SSL2]
        if not usable:
            conn.sendall(alert(70))
            return
        version = max(usable)
        pick = next((c for c in prefs if c in hello.suites), None)
        if pick is None:
            conn.sendall(alert(40, version))
            return
        flight = server_hello(version, pick) + certificate_msg([cert]) + handshake(14, b"")
        conn.sendall(record(22, flight, version))

    return serve


def run(port: int, ca_file: str | None = None, timeout: float = 2.0, deadline: float = 10.0,
        sni: str = "imap.example.org") -> tuple[TlsAssessment, float]:
    def opener(d: Deadline) -> socket.socket:
        return socket.create_connection(("127.0.0.1", port), timeout=max(d.remaining(), 0.01))

    target = TlsTarget("127.0.0.1", port, sni, False, timeout, Deadline.after(deadline),
                       dt.datetime.now(dt.UTC), ca_file)
    start = time.monotonic()
    result = assess(target, opener)
    return result, time.monotonic() - start


def by_rule(result: TlsAssessment) -> dict[str, list[tuple[Severity | None, str]]]:
    out: dict[str, list[tuple[Severity | None, str]]] = {}
    for i in result.issues:
        out.setdefault(i.rule_id, []).append((i.severity, i.detail))
    return out


# --- servers of another era ------------------------------------------------------------------

def test_sslv2_sslv3_export_rc4_3des_server(fake, pki) -> None:
    cert, ca_file = pki
    server = fake(legacy_server(cert, {versions.SSL3, versions.TLS10},
                                [0x0003, 0x0005, 0x000A, 0x002F], sslv2=True))
    result, elapsed = run(server.port, ca_file)
    assert result.incomplete is None
    rules = by_rule(result)
    assert sorted(rules["TLS001"], key=str) == sorted([(Severity.CRITICAL, "version=SSLv2"),
                                                      (Severity.HIGH, "version=SSLv3")], key=str)
    assert rules["TLS002"] == [(Severity.MEDIUM, "version=TLSv1.0")]
    assert rules["TLS003"] == [(None, "")]
    assert sorted(rules["TLS004"], key=lambda x: x[1]) == [
        (Severity.MEDIUM, "category=3des"), (Severity.CRITICAL, "category=null_anon_export"),
        (Severity.HIGH, "category=rc4_des_md5")]
    assert rules["TLS005"] == [(None, "")]
    assert not [r for r in rules if r.startswith("CERT")]
    evidence = {i.detail: i.evidence for i in result.issues}
    assert "TLS_RSA_EXPORT_WITH_RC4_40_MD5" in evidence["category=null_anon_export"]
    assert "TLS_RSA_WITH_RC4_128_SHA" in evidence["category=rc4_des_md5"]
    assert "TLS_RSA_WITH_3DES_EDE_CBC_SHA" in evidence["category=3des"]
    assert "SSL_CK_RC4_128_WITH_MD5" in evidence["version=SSLv2"]
    facts = result.facts
    assert facts["versions_accepted"] == ["SSLv2", "SSLv3", "TLSv1.0"]
    assert facts["certificate"]["trusted"] is True
    assert result.handshakes == facts["handshakes"] <= 15
    assert elapsed < 2


def test_3des_with_forward_secrecy_at_tls12(fake, pki) -> None:
    cert, ca_file = pki
    server = fake(legacy_server(cert, {versions.TLS12}, [0xC030, 0x000A]))
    result, _ = run(server.port, ca_file)
    assert result.incomplete is None
    assert by_rule(result) == {"TLS004": [(Severity.MEDIUM, "category=3des")]}
    assert result.facts["suites"]["forward_secrecy"] == "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
    # The clean server costs few handshakes: 1.3/1.2, 1.1, 1.0, SSLv3, SSLv2, static-RSA, 2 weak.
    assert result.handshakes <= 9


def test_static_rsa_only_means_no_forward_secrecy(fake, pki) -> None:
    cert, ca_file = pki
    server = fake(legacy_server(cert, {versions.TLS12}, [0x009C, 0x002F]))
    result, _ = run(server.port, ca_file)
    assert by_rule(result) == {"TLS005": [(None, "")]}
    assert result.facts["suites"]["static_rsa"] == "TLS_RSA_WITH_AES_128_GCM_SHA256"
    assert result.facts["suites"]["forward_secrecy"] is None


def test_hellos_offer_what_each_probe_claims(fake, pki) -> None:
    cert, ca_file = pki
    seen: list = []
    server = fake(legacy_server(cert, {versions.TLS12}, [0xC02F], seen=seen))
    run(server.port, ca_file)
    offered = [(h.version, h.supported_versions, set(h.suites)) for h in seen if h]
    assert offered[0][1] == (versions.TLS13, versions.TLS12)
    assert {v for v, _, _ in offered} >= {versions.SSL2, versions.SSL3, versions.TLS10,
                                          versions.TLS11, versions.TLS12}
    weak = set(suites.BY_CATEGORY[suites.TRIPLE_DES])
    assert any(weak <= s for _, _, s in offered)
    assert all(h.sni == "imap.example.org" for h in seen if h and h.version >= versions.TLS10)


# --- hostile servers -------------------------------------------------------------------------

def _hold(conn: socket.socket) -> None:
    """Say nothing more until the client gives up (and never longer than 5 s)."""
    conn.settimeout(5)
    try:
        while conn.recv(1024):
            pass
    except OSError:
        pass


def _stall(conn: socket.socket) -> None:
    read_hello(conn)
    _hold(conn)


def _garbage(conn: socket.socket) -> None:
    read_hello(conn)
    conn.sendall(b"* OK IMAP4rev1 ready, not TLS at all\r\n")


def _truncated(conn: socket.socket) -> None:
    read_hello(conn)
    conn.sendall(record(22, server_hello(versions.TLS12, 0xC02F))[:30])


def _drip(conn: socket.socket) -> None:
    read_hello(conn)
    for byte in record(22, server_hello(versions.TLS12, 0xC02F)):
        conn.sendall(bytes([byte]))
        time.sleep(0.1)


def _reset(conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    read_hello(conn)


def _unoffered(conn: socket.socket) -> None:
    read_hello(conn)
    conn.sendall(record(22, server_hello(versions.TLS12, 0x1234)))


def _stall_after_hello(conn: socket.socket) -> None:
    read_hello(conn)
    conn.sendall(record(22, server_hello(versions.TLS12, 0xC02F)))
    _hold(conn)


def _huge_record(conn: socket.socket) -> None:
    read_hello(conn)
    conn.sendall(b"\x16\x03\x03\x7f\xff" + bytes(4096))


@pytest.mark.parametrize(("behaviour", "reason"), [
    (_stall, "timed out"),
    (_garbage, "not a TLS record"),
    (_truncated, "closed"),
    (_drip, "timed out"),
    (_reset, "hung up on all"),
    (_unoffered, "not offered"),
    (_stall_after_hello, "timed out"),
    (_huge_record, "TLS record of"),
])
def test_hostile_server_is_incomplete_never_a_pass(fake, behaviour, reason: str) -> None:
    server = fake(behaviour)
    result, elapsed = run(server.port, timeout=0.6)
    assert result.incomplete and reason in result.incomplete, result.incomplete
    assert "TLS003" not in {i.rule_id for i in result.issues}
    assert elapsed < 1.5  # each step bounded by the timeout, not by the server


def test_whole_assessment_deadline(fake) -> None:
    server = fake(_stall)
    result, elapsed = run(server.port, timeout=5.0, deadline=0.4)
    assert result.incomplete and "timed out" in result.incomplete
    assert elapsed < 1.0


def test_opener_failure_is_incomplete(tmp_path: Path) -> None:
    def opener(d: Deadline) -> socket.socket:
        raise ConnectionRefusedError("refused")

    target = TlsTarget("127.0.0.1", 1, "x", True, 1.0, Deadline.after(2), dt.datetime.now(dt.UTC))
    result = assess(target, opener)
    assert result.incomplete and "could not open" in result.incomplete
    assert result.handshakes == 1 and result.issues == []


def test_hello_retry_request_proves_tls13(fake) -> None:
    """A TLS 1.3 server that wants another key share answers with a HelloRetryRequest:
    that is still TLS 1.3. This fake cannot finish a handshake, so the certificate (and
    with it the verdict) stays out of reach: incomplete, never a pass."""
    from checks.tls.records import HRR_RANDOM

    def serve(conn: socket.socket) -> None:
        hello = read_hello(conn)
        if hello is None or versions.TLS13 not in hello.supported_versions:
            conn.sendall(alert(70))
            return
        ext = struct.pack("!HHH", 43, 2, versions.TLS13)
        body = (struct.pack("!H", versions.TLS12) + HRR_RANDOM + b"\x00" + struct.pack("!H", 0x1301)
                + b"\x00" + struct.pack("!H", len(ext)) + ext)
        conn.sendall(record(22, handshake(2, body)))

    server = fake(serve)
    result, _ = run(server.port, timeout=1.0)
    assert result.facts["versions"]["TLSv1.3"] is True
    assert result.facts["versions_accepted"] == ["TLSv1.3"]
    assert result.incomplete and result.incomplete.startswith("certificate:")
    assert result.issues == []
