"""The per-endpoint IMAP dialog: legs on their own connections, facts merged. No judgement here.

An endpoint's IMAP checks are legs that share no state (``checks.imap.legs`` runs them at
once, under the per-host cap): the greeting, capabilities and ID, then STARTTLS and the
capabilities inside TLS on the same connection (a few round trips, no second greeting to
wait for); the cleartext-auth probe; the NO STARTTLS injection test. Each leg opens its own
connection and reads its own greeting.

What the probe sends, at most, on a cleartext port (RFC 3501 / RFC 9051):
``CAPABILITY`` (only if the greeting did not carry it), ``ID NIL`` (only if
advertised, RFC 2971), ``AUTHENTICATE PLAIN`` cancelled with ``*`` at the
``+`` (RFC 3501 6.2.2: no credential, ever; the connection is closed at once,
without waiting for a server that delays its answer), ``AUTHENTICATE LOGIN``
the same way when advertised, ``AUTHENTICATE ANONYMOUS`` with an empty trace
(RFC 4505: not a credential, no user name) only where ANONYMOUS is advertised,
then ``LOGOUT`` at once; ``STARTTLS``, ``CAPABILITY`` inside TLS, ``LOGOUT``;
and the injection test ``A STARTTLS\\r\\nB NOOP\\r\\n`` in one write,
``C NOOP`` and ``D LOGOUT`` inside TLS. Never ``LOGIN``, never a password,
never a user name.
"""

from __future__ import annotations

import errno
import functools
import socket
import ssl
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from ..net import (
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
from ..tls.types import Opener
from . import wire
from .facts import EndpointFacts, Plan
from .legs import (
    DEFAULT_PER_HOST,
    GREETING,
    IMAP,
    LATE,
    STALLED,
    EndpointLegs,
    NotTried,
    Scheduler,
)

UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL}
LOGOUT_GRACE = 0.5   # seconds: a polite LOGOUT never holds up the run
# Servers delay refused authentication on purpose (Cyrus about 3 s, Courier 5 s, Dovecot's
# auth_failure_delay 2 s): an AUTHENTICATE answer may take this much longer than a step.
AUTH_EXTRA = 10.0
_SLICE = 0.2         # how often a long AUTHENTICATE wait looks at the other legs

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


def address(plan: Plan) -> str:
    """Where to connect: the address the engine resolved once, else the host as written."""
    return plan.address or plan.host


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



# ---------------------------------------------------------------- the legs

LegFn = Callable[[Plan, Deadline, EndpointLegs, EndpointFacts], None]


def probe(plan: Plan, deadline: Deadline, legs: EndpointLegs | None = None,
          beside: Callable[[], None] | None = None) -> EndpointFacts:
    """Everything one endpoint shows an anonymous client, as facts. Never raises ProbeError.

    The legs run at once through ``legs`` (the engine's scheduler, shared with the TLS
    handshakes of the same endpoint); without it, through a scheduler of its own.
    ``beside`` runs in this thread once the legs are queued (the engine's TLS assessment),
    so one thread drives both."""
    own: Scheduler | None = None
    if legs is None:
        own = Scheduler(DEFAULT_PER_HOST, workers=DEFAULT_PER_HOST)
        legs = own.endpoint(address(plan), deadline)
    start = time.monotonic()
    parts: dict[str, EndpointFacts] = {}
    outcome: dict[str, Any] = {}
    try:
        plan_legs: list[tuple[str, int, LegFn, bool, str]] = [
            ("greeting", GREETING, _greeting_leg, False, "")]
        if plan.protocol == "imap":
            plan_legs += [("auth", IMAP, _auth_leg, True, ""),
                          ("injection", LATE, _injection_leg, True, "tls")]
        futures = {}
        for name, prio, fn, needs_alive, group in plan_legs:
            parts[name] = _new(plan)
            futures[name] = legs.run(name, prio, functools.partial(fn, plan, deadline, legs,
                                                                   parts[name]),
                                     needs_alive=needs_alive, group=group)
        if beside is not None:
            beside()
        outcome = {name: legs.wait(fut) for name, fut in futures.items()}
    finally:
        if own is not None:
            own.shutdown()
    facts = _merge(plan, parts, outcome)
    facts.timings["connections"] = legs.connections
    for name, seconds in legs.timings.items():
        facts.timings[name] = seconds
    facts.timings["dialog"] = time.monotonic() - start
    facts.timings["total"] = facts.timings["dialog"]
    return facts


def _new(plan: Plan) -> EndpointFacts:
    return EndpointFacts(plan.target, plan.host, plan.port, plan.protocol, plan.expect)


def _greeting_leg(plan: Plan, deadline: Deadline, legs: EndpointLegs, f: EndpointFacts) -> None:
    """Connect, greeting, capabilities, ID (imaps: the TLS handshake first). Decides whether
    the endpoint is alive: until it is, the other legs wait."""
    t = time.monotonic()
    sock = _connect(plan, deadline, f)
    f.timings["connect"] = time.monotonic() - t
    if sock is None:
        legs.mark_dead(f"TCP connect: {f.connect}")
        return
    legs.connected()
    s = Session(sock, plan, deadline, f)
    try:
        if plan.protocol == "imaps":
            _implicit_tls(s, legs)
        else:
            _cleartext(s, legs)
    except ProbeError as exc:
        f.problem(s.phase, str(exc), wire.show(exc.evidence))
        if legs.alive:   # it greeted, then stalled or broke the protocol: the rest is moot
            legs.stall()
    finally:
        s.close()
        legs.mark_dead("the server did not greet")   # no-op once it greeted


def _implicit_tls(s: Session, legs: EndpointLegs) -> None:
    s.phase = "tls-handshake"
    try:
        s.start_tls(s.plan.sni)
    except HandshakeFailed as exc:
        s.facts.implicit_tls = "failed"
        raise ProbeError(f"the implicit-TLS handshake failed: {exc}") from None
    s.facts.implicit_tls = "ok"
    legs.mark_alive()
    _record_tls(s)
    greet = s.greeting()
    _greeted(s, greet)
    if greet.status == "BYE":
        return
    caps, s.facts.caps_tls_evidence = _capabilities(s, greet)
    s.facts.caps_tls = list(caps)
    _ask_id(s, caps)
    if "AUTH=ANONYMOUS" in caps and greet.status == "OK":
        _anonymous(s, legs, "anonymous")
        if s.facts.anonymous == "accepted":
            return
    s.logout()


def _cleartext(s: Session, legs: EndpointLegs) -> None:
    greet = s.greeting()
    _greeted(s, greet)
    if greet.status == "OK":
        legs.mark_alive()
    if greet.status == "BYE":
        return
    caps, s.facts.caps_evidence = _capabilities(s, greet)
    s.facts.caps_before_tls = list(caps)
    _ask_id(s, caps)
    if greet.status != "OK":   # PREAUTH: already authenticated, STARTTLS is no longer allowed
        s.logout()
        return
    if "STARTTLS" not in caps:
        s.facts.starttls = "not-offered"
        legs.drop("tls", "STARTTLS is not offered")
        s.logout()
        return
    _starttls(s, legs)


def _secondary(plan: Plan, deadline: Deadline, legs: EndpointLegs, f: EndpointFacts,
               phase: str) -> tuple[Session, wire.Response] | None:
    """A leg's own connection up to a '* OK' greeting; None when there is nothing to do
    (the greeting leg reports a server that refuses, says BYE or PREAUTH)."""
    try:
        sock = connect(address(plan), plan.port, Deadline.after(plan.timeout).sooner(deadline),
                       plan.source)
    except (OSError, ProbeError) as exc:
        f.problem(phase, f"could not open a parallel connection: {exc}")
        return None
    legs.connected()
    s = Session(sock, plan, deadline, f)
    try:
        greet = s.greeting()
    except Timeout as exc:
        s.close()
        f.problem(phase, f"no greeting on a parallel connection within {plan.timeout:g}s, although "
                  f"the server greeted another (it may limit connections per client address: "
                  f"lower defaults.per_host, now {legs.per_host})", wire.show(exc.evidence))
        return None
    except ProbeError as exc:
        s.close()
        f.problem(phase, str(exc), wire.show(exc.evidence))
        return None
    if greet.status != "OK":
        s.close()
        return None
    return s, greet


def _own_capabilities(s: Session, greet: wire.Response) -> tuple[str, ...]:
    caps = wire.code_capabilities(greet.code)
    if caps is not None:
        return caps
    return _capabilities(s, None)[0]


def _auth_leg(plan: Plan, deadline: Deadline, legs: EndpointLegs, f: EndpointFacts) -> None:
    """Would the server take a password in clear? Ask to authenticate, cancel at the ``+``.

    PLAIN always (a server may accept it without listing it); LOGIN too when it is
    advertised and PLAIN was refused, since LOGIN carries the password just the same;
    ANONYMOUS with an empty trace when advertised, to confirm the capability list."""
    opened = _secondary(plan, deadline, legs, f, "auth-probe")
    if opened is None:
        return
    s, greet = opened
    try:
        s.phase = "auth-probe"
        caps = _own_capabilities(s, greet)
        s.phase = "auth-probe"
        f.auth_plain, f.auth_plain_evidence = _authenticate(s, "PLAIN", legs)
        if f.auth_plain == "continuation":
            return
        if "AUTH=LOGIN" in caps:
            f.auth_login, f.auth_login_evidence = _authenticate(s, "LOGIN", legs)
            if f.auth_login == "continuation":
                return
        if "AUTH=ANONYMOUS" in caps:
            _anonymous(s, legs, "anonymous")
            if f.anonymous == "accepted":
                return
        s.logout()
    except ProbeError as exc:
        f.problem(s.phase, str(exc), wire.show(exc.evidence))
        _note_stall(legs, exc)
    finally:
        s.close()


def _authenticate(s: Session, mech: str, legs: EndpointLegs) -> tuple[str, str]:
    tag = s.next_tag()
    s.send(f"{tag} AUTHENTICATE {mech}\r\n".encode("ascii"), "AUTHENTICATE", s.step())
    resp = _answer(s, tag, legs)
    if not resp.continuation:
        return "refused", wire.show(resp.raw)
    _cancel(s)
    return "continuation", wire.show(resp.raw)


def _cancel(s: Session) -> None:
    """RFC 3501 6.2.2: cancel with ``*``, never a credential; then hang up instead of
    waiting for a server that answers the cancel late (Courier: 5 s)."""
    try:
        s.send(b"*\r\n", "*", Deadline.after(min(s.plan.timeout, LOGOUT_GRACE)).sooner(s.deadline))
    except ProbeError:
        pass
    s.close()


def _answer(s: Session, tag: str, legs: EndpointLegs) -> wire.Response:
    """The tagged answer to AUTHENTICATE (or its ``+``), waited for up to the step timeout
    plus ``AUTH_EXTRA``: a server that delays a refusal is judged by its refusal. The wait
    is cut short only past the step timeout when another leg found that the server stalls
    on everything, which is no deliberate delay."""
    start = time.monotonic()
    end = Deadline.after(s.plan.timeout + AUTH_EXTRA).sooner(s.deadline)
    while True:
        piece = Deadline.after(_SLICE).sooner(end)
        try:
            return s.until_tagged(tag, piece, allow_continuation=True)[1]
        except Timeout as exc:
            waited = time.monotonic() - start
            if end.expired():
                raise Timeout(f"no answer to AUTHENTICATE within {waited:.1f}s",
                              exc.evidence) from None
            if legs.stalled.is_set() and waited >= s.plan.timeout:
                raise Timeout(f"no answer to AUTHENTICATE within {waited:.1f}s, and the server "
                              "stalls on its other connections too", exc.evidence) from None


def _anonymous(s: Session, legs: EndpointLegs, phase: str) -> None:
    """RFC 4505 with an empty trace: no credential, no user name. Accepted: log out at once."""
    s.phase = phase
    tag = s.next_tag()
    s.send(f"{tag} AUTHENTICATE ANONYMOUS\r\n".encode("ascii"), "AUTHENTICATE", s.step())
    resp = _answer(s, tag, legs)
    shown = f"AUTHENTICATE ANONYMOUS was answered {wire.show(resp.raw)}"
    if resp.continuation:
        s.send(b"\r\n", "(empty trace)", s.step())
        resp = _answer(s, tag, legs)
        shown += f"; after an empty trace: {wire.show(resp.raw)}"
        if resp.continuation:   # it wants more than an empty trace: that is not anonymous access
            s.facts.anonymous, s.facts.anonymous_evidence = "refused", shown
            _cancel(s)
            return
    if resp.status == "OK":
        s.facts.anonymous, s.facts.anonymous_evidence = "accepted", shown
        s.logout()
        return
    s.facts.anonymous, s.facts.anonymous_evidence = "refused", shown


def _starttls(s: Session, legs: EndpointLegs) -> None:
    """STARTTLS, the handshake, and the capabilities inside TLS, on the greeting leg's own
    connection (one round trip after the ID, not one more greeting to wait for)."""
    f = s.facts
    s.phase = "starttls"
    _, done = s.command("STARTTLS")
    f.starttls_evidence = wire.show(done.raw)
    if done.status != "OK":
        f.starttls = "refused"
        legs.drop("tls", "STARTTLS was refused")
        s.logout()
        return
    s.phase = "tls-handshake"
    f.starttls = "handshake-incomplete"  # until the handshake ends one way or the other
    try:
        s.start_tls(s.plan.sni)
    except HandshakeFailed as exc:
        f.starttls = "handshake-failed"
        f.starttls_evidence = str(exc)
        legs.drop("tls", "the TLS handshake after STARTTLS failed")
        return
    f.starttls = "ok"
    _record_tls(s)
    s.phase = "capability-tls"
    caps_tls, f.caps_tls_evidence = _capabilities(s, None)
    s.phase = "capability-tls"
    f.caps_tls = list(caps_tls)
    if "AUTH=ANONYMOUS" in caps_tls:
        _anonymous(s, legs, "anonymous-tls")
        if f.anonymous == "accepted":
            return
    s.logout()


def _note_stall(legs: EndpointLegs, exc: ProbeError) -> None:
    """A step that timed out on a server that greeted: the auth leg need not wait long."""
    if isinstance(exc, Timeout) and legs.alive:
        legs.stall()


def _merge(plan: Plan, parts: dict[str, EndpointFacts], outcome: dict[str, Any]) -> EndpointFacts:
    """The greeting leg's facts, plus what each other leg owns, where it ran."""
    f = parts["greeting"]
    _settle(f, "greeting", outcome.get("greeting"))
    if plan.protocol != "imap" or f.greeting_status != "OK":
        return f
    a = parts["auth"]
    if _settle(f, "auth-probe", outcome.get("auth")):
        f.auth_plain, f.auth_plain_evidence = a.auth_plain, a.auth_plain_evidence
        f.auth_login, f.auth_login_evidence = a.auth_login, a.auth_login_evidence
        if a.anonymous != "not-tried" and f.anonymous != "accepted":
            f.anonymous, f.anonymous_evidence = a.anonymous, a.anonymous_evidence
        _take(f, a)
    i = parts["injection"]
    if f.starttls == "ok" and _settle(f, "injection", outcome.get("injection")):
        f.injection, f.injection_evidence = i.injection, i.injection_evidence
        _take(f, i)
    return f


def _settle(f: EndpointFacts, phase: str, outcome: Any) -> bool:
    """Whether the leg ran; a leg that broke (our bug, or its deadline) fails closed."""
    if outcome is None:
        return True
    if isinstance(outcome, NotTried):
        if STALLED in str(outcome):   # it would have run: the server stopped answering
            f.problem(phase, f"not tried: {outcome}")
        return False
    if isinstance(outcome, ProbeError):
        f.problem(phase, str(outcome))
        return False
    f.problem("internal", f"internal error in the {phase} leg: "
              f"{type(outcome).__name__}: {outcome}")
    return False


def _take(f: EndpointFacts, leg: EndpointFacts) -> None:
    f.commands += leg.commands
    f.handshakes += leg.handshakes
    f.problems += leg.problems


def _connect(plan: Plan, deadline: Deadline, facts: EndpointFacts) -> socket.socket | None:
    try:
        sock = connect(address(plan), plan.port, Deadline.after(plan.timeout).sooner(deadline),
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


def _record_tls(s: Session) -> None:
    if isinstance(s.sock, ssl.SSLSocket):
        s.facts.tls_version = s.sock.version()
        cipher = s.sock.cipher()
        s.facts.tls_cipher = cipher[0] if cipher else None


# ---------------------------------------------------------------- NO STARTTLS

def _injection_leg(plan: Plan, deadline: Deadline, legs: EndpointLegs, f: EndpointFacts) -> None:
    """Plaintext pipelined after STARTTLS must never be answered inside TLS (CVE-2011-0411
    class; Poddebniak et al., USENIX Security 2021)."""
    try:
        sock = connect(address(plan), plan.port, Deadline.after(plan.timeout).sooner(deadline),
                       plan.source)
    except (OSError, ProbeError) as exc:
        f.problem("injection", f"could not reconnect for the injection test: {exc}")
        return
    legs.connected()
    s = Session(sock, plan, deadline, f)
    try:
        try:
            _injection_dialog(s)
        except Timeout as exc:
            if s.phase != "greeting" or not legs.alive:
                raise
            raise Timeout(f"no greeting on a parallel connection within {plan.timeout:g}s, "
                          "although the server greeted another (it may limit connections per "
                          f"client address: lower defaults.per_host, now {legs.per_host})",
                          exc.evidence) from None
    except ProbeError as exc:
        f.injection = "not-tried"
        f.problem("injection-" + s.phase, str(exc), wire.show(exc.evidence))
        if s.phase != "greeting":   # no greeting on one more connection is a limit, not a stall
            _note_stall(legs, exc)
    finally:
        s.close()


def _injection_dialog(s: Session) -> None:
    """STARTTLS with a NOOP pipelined behind it in the same write; then, inside TLS, whether
    the server answers that NOOP (B) before our own (C)."""
    if not _pipelined_starttls(s):
        return
    s.phase = "tls-handshake"
    try:
        s.start_tls(s.plan.sni)
    except HandshakeFailed as exc:
        # The server fed the pipelined bytes to TLS (or hung up): it did not run them.
        s.facts.injection = "rejected"
        s.facts.injection_evidence = str(exc)
        return
    if not _answered_inside_tls(s):
        return   # the server hung up: nobody to log out from
    s.tags = 0
    deadline = Deadline.after(min(s.plan.timeout, LOGOUT_GRACE)).sooner(s.deadline)
    try:
        s.send(b"D LOGOUT\r\n", "LOGOUT", deadline)
    except ProbeError:
        pass


def _pipelined_starttls(s: Session) -> bool:
    """Send 'A STARTTLS' and 'B NOOP' in one write; True when the TLS handshake comes next,
    False when there is nothing to test (no STARTTLS) or the answer already settles it (a
    TLS record: the pipelined bytes went to TLS)."""
    greet = s.greeting()
    if greet.status != "OK":
        raise wire.WireError("the greeting changed between connections", greet.raw[:256])
    caps = wire.code_capabilities(greet.code)
    if caps is not None and "STARTTLS" not in caps:
        return False   # nothing to inject into (the greeting leg says not-offered)
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
        return False
    if pending:
        raise wire.WireError("the server answered in cleartext after STARTTLS OK",
                             pending[:256])
    return True


def _answered_inside_tls(s: Session) -> bool:
    """Inside TLS, 'C NOOP'; the pipelined B answered first is the injection (vulnerable),
    C first or a close is not. False when the server closed the connection."""
    s.phase = "after-tls"
    deadline = s.step()
    s.send(b"C NOOP\r\n", "NOOP", deadline)
    while True:
        try:
            resp = s.read(deadline)
        except Closed:
            s.facts.injection = "not-vulnerable"
            s.facts.injection_evidence = "the server closed the connection after the handshake"
            return False
        if resp.tag.upper() == "B":
            s.facts.injection = "vulnerable"
            s.facts.injection_evidence = ("sent 'A STARTTLS\\r\\nB NOOP\\r\\n' in one write; inside "
                                          f"TLS the server answered: {wire.show(resp.raw)}")
            return True
        if resp.tag.upper() == "C":
            s.facts.injection = "not-vulnerable"
            s.facts.injection_evidence = wire.show(resp.raw)
            return True


# ---------------------------------------------------------------- for the TLS family

def opener(plan: Plan, legs: EndpointLegs | None = None) -> Opener:
    """``checks.tls.api.Opener``: a fresh socket at the point where a ClientHello goes.
    With ``legs``, every connection is counted and a greeting tells the endpoint is alive."""

    def open_(deadline: Deadline) -> socket.socket:
        if legs is not None and legs.dropped & {"tls", "tls-hello"}:
            raise NotTried("the TLS handshakes are moot")
        sock = connect(address(plan), plan.port, deadline, plan.source)
        if legs is not None:
            legs.connected()
            legs.track(sock)
        if plan.protocol == "imaps":
            return sock
        with _closing_on_error(sock):
            reader = Reader(sock)
            try:
                greet = wire.read_response(reader, deadline)
            except Timeout as exc:
                if legs is None or not legs.alive:
                    raise
                raise Timeout(f"no greeting on a parallel connection, although the server "
                              "greeted another (it may limit connections per client address: "
                              f"lower defaults.per_host, now {legs.per_host})",
                              exc.evidence) from None
            if greet.tag != "*" or greet.status != "OK":
                raise wire.WireError("no '* OK' greeting", greet.raw[:256])
            if legs is not None:
                legs.mark_alive()
            send_all(sock, b"T STARTTLS\r\n", deadline)
            while True:
                try:
                    resp = wire.read_response(reader, deadline)
                except Timeout:
                    if legs is not None:
                        legs.stall()
                    raise
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
