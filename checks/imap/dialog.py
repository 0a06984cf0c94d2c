"""The per-endpoint IMAP dialog: connect, talk, record facts. No judgement here.

What the probe sends, at most, on a cleartext port (RFC 3501 / RFC 9051):
``CAPABILITY`` (only if the greeting did not carry it), ``ID NIL`` (only if
advertised, RFC 2971), ``AUTHENTICATE PLAIN`` cancelled with ``*`` at the
``+`` (RFC 3501 6.2.2: no credential, ever), ``STARTTLS``, ``CAPABILITY``
inside TLS, ``LOGOUT``; then, on a second connection, the NO STARTTLS
injection test ``A STARTTLS\\r\\nB NOOP\\r\\n`` in one write, ``C NOOP`` and
``D LOGOUT`` inside TLS. Never ``LOGIN``, never a password.
"""

from __future__ import annotations

import errno
import socket
import ssl
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from checks.imap import wire
from checks.imap.facts import EndpointFacts, Plan
from checks.net import (
    Closed,
    Deadline,
    HandshakeFailed,
    ProbeError,
    Reader,
    Timeout,
    connect,
    send_all,
    tls_handshake,
)
from checks.tls.api import Opener

UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL}
LOGOUT_GRACE = 0.5   # seconds: a polite LOGOUT never holds up the run

# Python deprecates TLS 1.0 and warns when a context allows it; old servers must still get their
# IMAP checks. A filter for this module at import, not catch_warnings at the call: that swaps the
# process-wide filter list and races between probe threads.
warnings.filterwarnings("ignore", message=r"ssl\.TLSVersion\.TLSv1 is deprecated",
                        category=DeprecationWarning, module=__name__)


@lru_cache(maxsize=1)
def permissive_context() -> ssl.SSLContext:
    """Speak TLS to anything that still speaks it, so an old server still gets its IMAP
    checks. Certificates and versions are the TLS family's to judge, not this one's."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.minimum_version = ssl.TLSVersion.TLSv1   # deprecated on purpose: see the filter above
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):  # a build without the legacy bits: take what it has
        pass
    return ctx


class Session:
    """One connection: its socket, its byte-exact reader, its steps and tags."""

    def __init__(self, sock: socket.socket, plan: Plan, deadline: Deadline,
                 facts: EndpointFacts) -> None:
        self.sock = sock
        self.plan = plan
        self.deadline = deadline
        self.facts = facts
        self.reader = Reader(sock)
        self.tags = 0
        self.phase = "greeting"

    def step(self) -> Deadline:
        """A fresh step budget, never past the endpoint's own deadline."""
        return Deadline.after(self.plan.timeout).sooner(self.deadline)

    def send(self, data: bytes, label: str, deadline: Deadline | None = None) -> None:
        self.facts.commands.append(label)
        send_all(self.sock, data, deadline or self.step())

    def next_tag(self) -> str:
        self.tags += 1
        return f"g{self.tags}"

    def read(self, deadline: Deadline) -> wire.Response:
        return wire.read_response(self.reader, deadline)

    def until_tagged(self, tag: str, deadline: Deadline,
                     allow_continuation: bool = False) -> tuple[list[wire.Response], wire.Response]:
        """Untagged responses, then the tagged one (or a ``+`` where one is allowed)."""
        untagged: list[wire.Response] = []
        while True:
            resp = self.read(deadline)
            if resp.continuation:
                if allow_continuation:
                    return untagged, resp
                raise wire.WireError("a continuation request nobody asked for", resp.raw[:256])
            if resp.tagged:
                if resp.tag != tag:
                    raise wire.WireError(f"a response to tag {resp.tag!r}, expected {tag!r}",
                                         resp.raw[:256])
                return untagged, resp
            if resp.status == "BYE":
                raise Closed(f"the server said BYE: {resp.text[:200]}", resp.raw[:256])
            untagged.append(resp)

    def command(self, text: str, allow_continuation: bool = False
                ) -> tuple[list[wire.Response], wire.Response]:
        tag = self.next_tag()
        deadline = self.step()
        self.send(f"{tag} {text}\r\n".encode("ascii"), text.split(" ")[0].upper(), deadline)
        return self.until_tagged(tag, deadline, allow_continuation)

    def greeting(self) -> wire.Response:
        self.phase = "greeting"
        resp = self.read(self.step())
        if resp.tag != "*" or resp.status not in ("OK", "PREAUTH", "BYE"):
            raise wire.WireError("the greeting is not '* OK', '* PREAUTH' or '* BYE'",
                                 resp.raw[:256])
        return resp

    def start_tls(self, sni: str) -> None:
        if self.reader.pending():
            raise wire.WireError("the server sent bytes after its STARTTLS answer, before TLS",
                                 self.reader.pending()[:256])
        self.facts.handshakes += 1
        tls = tls_handshake(self.sock, permissive_context(), sni, self.step())
        self.sock = tls
        left = max(self.reader.session_cap - self.reader.total, 1)
        self.reader = Reader(tls, session_cap=left)

    def logout(self) -> None:
        """Say goodbye, briefly; a server that hangs up first has not done anything wrong."""
        try:
            tag = self.next_tag()
            deadline = Deadline.after(min(self.plan.timeout, LOGOUT_GRACE)).sooner(self.deadline)
            self.send(f"{tag} LOGOUT\r\n".encode("ascii"), "LOGOUT", deadline)
            self.until_tagged(tag, deadline)
        except ProbeError:
            pass

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------- the dialog

def probe(plan: Plan, deadline: Deadline) -> EndpointFacts:
    """Everything one endpoint shows an anonymous client, as facts. Never raises ProbeError."""
    facts = EndpointFacts(plan.target, plan.host, plan.port, plan.protocol, plan.expect)
    start = time.monotonic()
    sock = _connect(plan, deadline, facts)
    facts.timings["connect"] = time.monotonic() - start
    if sock is None:
        facts.timings["total"] = time.monotonic() - start
        return facts
    session = Session(sock, plan, deadline, facts)
    try:
        if plan.protocol == "imaps":
            _implicit_tls(session)
        else:
            _cleartext(session)
    except ProbeError as exc:
        facts.problem(session.phase, str(exc), wire.show(exc.evidence))
    finally:
        session.close()
    facts.timings["dialog"] = time.monotonic() - start
    if plan.protocol == "imap" and facts.starttls == "ok" and not deadline.expired():
        t = time.monotonic()
        _injection(plan, deadline, facts)
        facts.timings["injection"] = time.monotonic() - t
    facts.timings["total"] = time.monotonic() - start
    return facts


def _connect(plan: Plan, deadline: Deadline, facts: EndpointFacts) -> socket.socket | None:
    try:
        sock = connect(plan.host, plan.port, Deadline.after(plan.timeout).sooner(deadline),
                       plan.source)
    except ConnectionRefusedError:
        facts.connect = "refused"
        return None
    except ConnectionResetError:  # accepted, then reset before connect() returned: it is open
        facts.connect = "open"
        facts.problem("connect", "the server reset the connection as soon as it was accepted")
        return None
    except Timeout:
        facts.connect = "filtered"
        facts.connect_detail = f"no answer to the TCP handshake within {plan.timeout:g}s"
        return None
    except ProbeError as exc:
        facts.connect, facts.connect_detail = "error", str(exc)
        return None
    except OSError as exc:
        facts.connect = "unreachable" if exc.errno in UNREACHABLE else "error"
        facts.connect_detail = exc.strerror or str(exc)
        return None
    facts.connect = "open"
    try:
        facts.local_address = sock.getsockname()[0]
        facts.remote_address = sock.getpeername()[0]
    except OSError:
        pass
    return sock


def _implicit_tls(s: Session) -> None:
    s.phase = "tls-handshake"
    try:
        s.start_tls(s.plan.sni)
    except HandshakeFailed as exc:
        s.facts.implicit_tls = "failed"
        raise ProbeError(f"the implicit-TLS handshake failed: {exc}") from None
    s.facts.implicit_tls = "ok"
    _record_tls(s)
    greet = s.greeting()
    _greeted(s, greet)
    if greet.status == "BYE":
        return
    caps, s.facts.caps_tls_evidence = _capabilities(s, greet)
    s.facts.caps_tls = list(caps)
    _ask_id(s, caps)
    s.logout()


def _cleartext(s: Session) -> None:
    greet = s.greeting()
    _greeted(s, greet)
    if greet.status == "BYE":
        return
    caps, s.facts.caps_evidence = _capabilities(s, greet)
    s.facts.caps_before_tls = list(caps)
    _ask_id(s, caps)
    if greet.status == "PREAUTH":  # already authenticated: STARTTLS is no longer allowed
        s.logout()
        return
    _auth_probe(s, caps)
    if "STARTTLS" not in caps:
        s.facts.starttls = "not-offered"
        s.logout()
        return
    s.phase = "starttls"
    _, done = s.command("STARTTLS")
    s.facts.starttls_evidence = wire.show(done.raw)
    if done.status != "OK":
        s.facts.starttls = "refused"
        s.logout()
        return
    s.phase = "tls-handshake"
    s.facts.starttls = "handshake-incomplete"  # until the handshake ends one way or the other
    try:
        s.start_tls(s.plan.sni)
    except HandshakeFailed as exc:
        s.facts.starttls = "handshake-failed"
        s.facts.starttls_evidence = str(exc)
        return
    s.facts.starttls = "ok"
    _record_tls(s)
    s.phase = "capability-tls"
    caps_tls, s.facts.caps_tls_evidence = _capabilities(s, None)
    s.facts.caps_tls = list(caps_tls)
    s.logout()


def _greeted(s: Session, greet: wire.Response) -> None:
    s.facts.greeting = wire.show(greet.raw)
    s.facts.greeting_status = greet.status
    s.facts.greeting_text = wire.show(greet.text.encode("utf-8", "replace"))
    if greet.status == "BYE":
        s.facts.problem("greeting", "the server refused the session with BYE", wire.show(greet.raw))


def _capabilities(s: Session, greet: wire.Response | None) -> tuple[tuple[str, ...], str]:
    """From the greeting's response code when it has one (as Dovecot's does), else asked;
    with the line they came from, as evidence."""
    s.phase = "capability"
    caps = wire.code_capabilities(greet.code) if greet else None
    if caps is not None and greet is not None:
        return caps, wire.show(greet.raw)
    untagged, done = s.command("CAPABILITY")
    lines = [r for r in untagged if r.status == "CAPABILITY"]
    if lines:
        return wire.capabilities(" ".join(r.text for r in lines)), wire.show(lines[0].raw)
    from_done = wire.code_capabilities(done.code)
    if done.status == "OK" and from_done is not None:
        return from_done, wire.show(done.raw)
    raise wire.WireError("CAPABILITY gave no capability list", done.raw[:256])


def _ask_id(s: Session, caps: list[str] | tuple[str, ...]) -> None:
    """RFC 2971: only a server that advertises ID is asked, and it is told nothing."""
    if "ID" not in caps:
        return
    s.phase = "id"
    untagged, _ = s.command("ID NIL")
    for r in untagged:
        if r.status == "ID":
            s.facts.id_evidence = wire.show(r.raw)
            try:
                s.facts.id_reply = wire.parse_id(r)
            except wire.WireError as exc:  # disclosure is judged from the raw text as well
                s.facts.id_reply = {"(unparsed)": str(exc)}
            return


def _auth_probe(s: Session, caps: tuple[str, ...]) -> None:
    """Would the server take a password in clear? Ask to authenticate, cancel at the ``+``.

    PLAIN always (a server may accept it without listing it); LOGIN too when it is
    advertised and PLAIN was refused, since LOGIN carries the password just the same."""
    s.phase = "auth-probe"
    s.facts.auth_plain, s.facts.auth_plain_evidence = _authenticate(s, "PLAIN")
    if s.facts.auth_plain != "continuation" and "AUTH=LOGIN" in caps:
        s.facts.auth_login, s.facts.auth_login_evidence = _authenticate(s, "LOGIN")


def _authenticate(s: Session, mech: str) -> tuple[str, str]:
    tag = s.next_tag()
    deadline = s.step()
    s.send(f"{tag} AUTHENTICATE {mech}\r\n".encode("ascii"), "AUTHENTICATE", deadline)
    _, resp = s.until_tagged(tag, deadline, allow_continuation=True)
    if not resp.continuation:
        return "refused", wire.show(resp.raw)
    s.send(b"*\r\n", "*", deadline)  # RFC 3501 6.2.2: cancel, never a credential
    s.until_tagged(tag, s.step())
    return "continuation", wire.show(resp.raw)


def _record_tls(s: Session) -> None:
    if isinstance(s.sock, ssl.SSLSocket):
        s.facts.tls_version = s.sock.version()
        cipher = s.sock.cipher()
        s.facts.tls_cipher = cipher[0] if cipher else None


# ---------------------------------------------------------------- NO STARTTLS

def _injection(plan: Plan, deadline: Deadline, facts: EndpointFacts) -> None:
    """Plaintext pipelined after STARTTLS must never be answered inside TLS (CVE-2011-0411
    class; Poddebniak et al., USENIX Security 2021)."""
    try:
        sock = connect(plan.host, plan.port, Deadline.after(plan.timeout).sooner(deadline),
                       plan.source)
    except (OSError, ProbeError) as exc:
        facts.problem("injection", f"could not reconnect for the injection test: {exc}")
        return
    s = Session(sock, plan, deadline, facts)
    try:
        _injection_dialog(s)
    except ProbeError as exc:
        facts.injection = "not-tried"
        facts.problem("injection-" + s.phase, str(exc), wire.show(exc.evidence))
    finally:
        s.close()


def _injection_dialog(s: Session) -> None:
    greet = s.greeting()
    if greet.status != "OK":
        raise wire.WireError("the greeting changed between connections", greet.raw[:256])
    s.phase = "starttls"
    deadline = s.step()
    s.send(b"A STARTTLS\r\nB NOOP\r\n", "STARTTLS+NOOP", deadline)
    _, done = s.until_tagged("A", deadline)
    if done.status != "OK":
        raise wire.WireError("STARTTLS was refused on the second connection", done.raw[:256])
    pending = s.reader.pending()
    if pending[:1] in (b"\x15", b"\x16") and pending[1:2] == b"\x03":
        # A TLS record (Dovecot 2.4 sends an alert): the server fed the pipelined bytes to
        # TLS as a bad ClientHello, so it did not run them as IMAP.
        s.facts.injection = "rejected"
        s.facts.injection_evidence = ("after STARTTLS OK the server answered the pipelined "
                                      f"bytes with a TLS record: {wire.show(pending[:16])}")
        return
    if pending:
        raise wire.WireError("the server answered in cleartext after STARTTLS OK",
                             pending[:256])
    s.phase = "tls-handshake"
    try:
        s.start_tls(s.plan.sni)
    except HandshakeFailed as exc:
        # The server fed the pipelined bytes to TLS (or hung up): it did not run them.
        s.facts.injection = "rejected"
        s.facts.injection_evidence = str(exc)
        return
    s.phase = "after-tls"
    deadline = s.step()
    s.send(b"C NOOP\r\n", "NOOP", deadline)
    while True:
        try:
            resp = s.read(deadline)
        except Closed:
            s.facts.injection = "not-vulnerable"
            s.facts.injection_evidence = "the server closed the connection after the handshake"
            return
        if resp.tag.upper() == "B":
            s.facts.injection = "vulnerable"
            s.facts.injection_evidence = ("sent 'A STARTTLS\\r\\nB NOOP\\r\\n' in one write; inside "
                                          f"TLS the server answered: {wire.show(resp.raw)}")
            break
        if resp.tag.upper() == "C":
            s.facts.injection = "not-vulnerable"
            s.facts.injection_evidence = wire.show(resp.raw)
            break
    s.tags = 0
    deadline = Deadline.after(min(s.plan.timeout, LOGOUT_GRACE)).sooner(s.deadline)
    try:
        s.send(b"D LOGOUT\r\n", "LOGOUT", deadline)
    except ProbeError:
        pass


# ---------------------------------------------------------------- for the TLS family

def opener(plan: Plan) -> Opener:
    """``checks.tls.api.Opener``: a fresh socket at the point where a ClientHello goes."""

    def open_(deadline: Deadline) -> socket.socket:
        sock = connect(plan.host, plan.port, deadline, plan.source)
        if plan.protocol == "imaps":
            return sock
        with _closing_on_error(sock):
            reader = Reader(sock)
            greet = wire.read_response(reader, deadline)
            if greet.tag != "*" or greet.status != "OK":
                raise wire.WireError("no '* OK' greeting", greet.raw[:256])
            send_all(sock, b"T STARTTLS\r\n", deadline)
            while True:
                resp = wire.read_response(reader, deadline)
                if resp.tagged:
                    break
                if resp.continuation:
                    raise wire.WireError("a continuation request nobody asked for", resp.raw[:256])
            if resp.tag != "T" or resp.status != "OK":
                raise wire.WireError("STARTTLS was not accepted", resp.raw[:256])
            if reader.pending():
                raise wire.WireError("bytes after the STARTTLS answer", reader.pending()[:256])
        return sock

    return open_


@contextmanager
def _closing_on_error(sock: socket.socket) -> Iterator[None]:
    try:
        yield
    except BaseException:
        sock.close()
        raise
