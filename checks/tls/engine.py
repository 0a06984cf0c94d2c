"""The assessment: a short, fixed plan of hand-built hellos, then one verdict.

Handshake plan (each line one connection through the opener):

1. a TLS 1.3 hello that also offers TLS 1.2 and every suite: a 1.3 server
   answers in 1.3; a 1.2 server answers in 1.2 with its certificate in clear;
2. one hello per older version not yet known (1.2, 1.1, 1.0, SSLv3), every
   suite offered; a ServerHello in a lower version proves that one too;
3. one SSLv2 CLIENT-HELLO;
4. at the best TLS <= 1.2 version: forward-secret suites only, static-RSA
   suites only (each skipped when the version probe already picked one);
5. at the oldest TLS version accepted: all weak categories at once, then
   again without the category the server picked, until it refuses (one
   handshake for a clean server; one more when it hangs up instead of
   refusing, without the finite-field DH suites a server may pick and then
   fail on);
6. only when no TLS <= 1.2 flight carried the certificate (TLS 1.3-only
   servers): a real handshake with the ``ssl`` module, verification off, to
   fetch the chain.

A modern server costs 8 handshakes; the worst case stays under 15.

With ``target.legs`` (the live probe's scheduler) the hellos of step 1-3 go out at once,
then those of step 4 and the first of step 5 at once: the same hellos, judged in the same
order, so the verdicts do not change; only a version that an earlier answer already
proved costs its handshake anyway (at most one more).
"""

from __future__ import annotations

import socket
import ssl
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeGuard

from ..net import Closed, Deadline, ProbeError, Timeout, send_all
from . import clienthello, records, suites, versions
from .types import Opener, TlsAssessment, TlsTarget

SSL_MODULE_CAP = 256 * 1024
MAX_HANDSHAKES = 15
ALERT_INTERNAL_ERROR = 80


class Incomplete(ProbeError):
    """Stop the plan: the endpoint cannot be judged further."""


@dataclass
class _State:
    target: TlsTarget
    opener: Opener
    handshakes: int = 0
    accepted: dict[int, bool] = field(default_factory=dict)
    evidence: dict[int, str] = field(default_factory=dict)
    chosen: dict[int, int] = field(default_factory=dict)      # version -> suite picked from all
    certificates: list[bytes] | None = None
    cert_source: str = ""
    weak: dict[str, str] = field(default_factory=dict)       # category -> evidence
    fs_suite: str | None = None
    static_rsa_suite: str | None = None
    sslv2_ciphers: list[str] = field(default_factory=list)
    answered: int = 0                                         # replies that were TLS, not hang-ups
    prefetched: dict[str, Any] = field(default_factory=dict)  # label -> Reply or Incomplete
    lock: threading.Lock = field(default_factory=threading.Lock)

    def step(self) -> Deadline:
        return Deadline.after(self.target.timeout).sooner(self.target.deadline)

    def connect(self, label: str) -> tuple[socket.socket, Deadline]:
        """A fresh socket from the opener, and the deadline of the handshake that follows:
        the opener's TCP connect and STARTTLS dialog are a step of their own."""
        with self.lock:
            if self.handshakes >= MAX_HANDSHAKES:
                raise Incomplete(f"handshake budget of {MAX_HANDSHAKES} exhausted before {label}")
            if self.target.deadline.expired():
                raise Incomplete(f"endpoint deadline reached before {label}")
            self.handshakes += 1
        try:
            sock = self.opener(self.step())
        except ProbeError as exc:
            raise Incomplete(f"{label}: could not open a connection: {exc}", exc.evidence) from None
        except Exception as exc:  # the opener is the engine's code: any failure means "cannot judge"
            raise Incomplete(f"{label}: could not open a connection: {exc}") from None
        return sock, self.step()

    def hello(self, label: str, data: bytes, *, want_certificates: bool = False) -> records.Reply:
        if label in self.prefetched:
            got = self.prefetched.pop(label)
            if isinstance(got, BaseException):
                raise got
            return got
        return self.leg(lambda: self._exchange(label, data, want_certificates))

    def prefetch(self, hellos: list[tuple[str, bytes, bool]]) -> None:
        """Send these hellos at once (as legs) and keep their replies for ``hello``."""
        if self.target.legs is None or len(hellos) < 2:
            return
        fns: list[Callable[[], Any]] = [partial(self._exchange, label, data, want)
                                        for label, data, want in hellos]
        for (label, _, _), got in zip(hellos, self.target.legs.map(fns, name="tls-handshake"),
                                      strict=True):
            if isinstance(got, ProbeError) and not isinstance(got, Incomplete):
                got = Incomplete(f"{label}: {got}", got.evidence)
            elif isinstance(got, BaseException) and not isinstance(got, ProbeError):
                got = Incomplete(f"{label}: {type(got).__name__}: {got}")
            self.prefetched[label] = got

    def give_up(self, exc: ProbeError | None = None) -> None:
        """One handshake could not finish, so the plan stops there: hellos still waiting
        for a connection slot are not sent. A server that stalls in the handshake would
        stall every other leg's handshake too (STARTTLS, the injection test): say so."""
        legs = self.target.legs
        if legs is None:
            return
        if isinstance(exc, Timeout) and hasattr(legs, "stall"):
            legs.stall()
        else:
            legs.drop("tls-hello", "an earlier handshake could not finish")

    def leg(self, fn: Callable[[], Any]) -> Any:
        """One connection: as a leg holding a connection slot when there is a scheduler."""
        if self.target.legs is None:
            return fn()
        try:
            return self.target.legs.call(fn, name="tls-handshake")
        except Incomplete:
            raise
        except ProbeError as exc:   # not tried (the endpoint is moot), or its deadline
            raise Incomplete(str(exc), exc.evidence) from None

    def _exchange(self, label: str, data: bytes, want_certificates: bool) -> records.Reply:
        try:
            sock, deadline = self.connect(label)
        except Incomplete:
            self.give_up()
            raise
        try:
            send_all(sock, data, deadline)
            reply = records.read_reply(sock, deadline, want_certificates=want_certificates)
        except ProbeError as exc:
            self.give_up(exc)
            raise Incomplete(f"{label}: {exc}", exc.evidence) from None
        finally:
            sock.close()
        if reply.kind != "closed":
            with self.lock:
                self.answered += 1
        return reply


def _server_hello(reply: records.Reply, offered: tuple[int, ...], max_version: int,
                  label: str) -> records.ServerHello | None:
    """The ServerHello if the server agreed to something; a protocol violation stops the plan."""
    if reply.kind != "server_hello" or reply.hello is None:
        return None
    hello = reply.hello
    if hello.version > max_version or hello.version < versions.SSL3:
        raise Incomplete(f"{label}: ServerHello with version {versions.name(hello.version)} "
                         f"(offered at most {versions.name(max_version)})", reply.raw[:256])
    if not hello.retry and hello.cipher not in offered:
        raise Incomplete(f"{label}: ServerHello picked {suites.name_of(hello.cipher)}, which was "
                         "not offered", reply.raw[:256])
    return hello


def _note_version(st: _State, hello: records.ServerHello, reply: records.Reply) -> None:
    v = hello.version
    if not st.accepted.get(v):
        st.accepted[v] = True
        st.evidence[v] = reply.evidence()
        if not hello.retry:
            st.chosen[v] = hello.cipher
    if reply.certificates and st.certificates is None:
        st.certificates = reply.certificates
        st.cert_source = f"Certificate message ({versions.name(v)})"


def _probe_versions(st: _State, sni: str) -> None:
    offered = suites.TLS13 + suites.LEGACY
    st.prefetch([("TLSv1.3", clienthello.client_hello(versions.TLS12, offered, sni, tls13=True),
                  True)]
                + [(versions.name(v), clienthello.client_hello(v, suites.LEGACY, sni), True)
                   for v in (versions.TLS12, versions.TLS11, versions.TLS10, versions.SSL3)]
                + [("SSLv2", clienthello.sslv2_client_hello(suites.SSL2_CIPHERS), False)])
    reply = st.hello("TLSv1.3", clienthello.client_hello(versions.TLS12, offered, sni, tls13=True),
                     want_certificates=True)
    hello = _server_hello(reply, offered, versions.TLS13, "TLSv1.3")
    if hello is not None:
        _note_version(st, hello, reply)
    st.accepted.setdefault(versions.TLS13, False)

    for v in (versions.TLS12, versions.TLS11, versions.TLS10, versions.SSL3):
        if v in st.accepted:
            continue
        label = versions.name(v)
        reply = st.hello(label, clienthello.client_hello(v, suites.LEGACY, sni),
                         want_certificates=st.certificates is None)
        hello = _server_hello(reply, suites.LEGACY, v, label)
        if hello is not None:
            _note_version(st, hello, reply)
        st.accepted.setdefault(v, False)

    reply = st.hello("SSLv2", clienthello.sslv2_client_hello(suites.SSL2_CIPHERS))
    if reply.kind == "sslv2" and reply.sslv2_ciphers:
        st.accepted[versions.SSL2] = True
        st.sslv2_ciphers = [suites.SSL2_CIPHERS.get(c, f"0x{c:06X}") for c in reply.sslv2_ciphers]
        st.evidence[versions.SSL2] = reply.evidence() + ": " + ", ".join(st.sslv2_ciphers)
    else:
        st.accepted[versions.SSL2] = False


def _probe_ciphers(st: _State, sni: str) -> bool:
    """Returns whether any TLS <= 1.2 version was there to probe."""
    legacy = [v for v in (versions.TLS12, versions.TLS11, versions.TLS10, versions.SSL3)
              if st.accepted.get(v)]
    if not legacy:
        return False
    top = legacy[0]
    tls = [v for v in legacy if v >= versions.TLS10]
    low = tls[-1] if tls else versions.SSL3
    _weak_seen_in_version_probes(st)
    picked = st.chosen.get(top)
    _prefetch_ciphers(st, sni, top, low, picked)
    if _fs_known(picked):
        st.fs_suite = suites.name_of(picked)
    else:
        st.fs_suite = _pick(st, "forward-secret suites", top, suites.FORWARD_SECRET, sni)
    if _static_rsa_known(picked):
        st.static_rsa_suite = suites.name_of(picked)
    else:
        st.static_rsa_suite = _pick(st, "static-RSA suites", top, suites.STATIC_RSA, sni)
    _weak_rounds(st, sni, low)
    return True


def _weak_seen_in_version_probes(st: _State) -> None:
    """A suite the server picked from everything offered already proves its category."""
    for v, code in st.chosen.items():
        if v <= versions.TLS12:
            cat = suites.SUITES[code].weak
            if cat and cat not in st.weak:
                st.weak[cat] = f"ServerHello version={versions.name(v)} cipher={suites.name_of(code)}"


def _fs_known(picked: int | None) -> TypeGuard[int]:
    """The version probe's pick already shows forward secrecy: no hello needed for it."""
    return picked is not None and suites.SUITES[picked].forward_secret


def _static_rsa_known(picked: int | None) -> TypeGuard[int]:
    """The version probe's pick already shows static RSA (an EXPORT one does not count)."""
    return (picked is not None and suites.SUITES[picked].static_rsa
            and suites.SUITES[picked].weak != suites.NULL_ANON_EXPORT)


def _weak_offer(st: _State) -> tuple[list[str], tuple[int, ...], str]:
    """The weak categories not yet proven, every suite of them, and the hello's label."""
    remaining = [c for c in suites.WEAK_CATEGORIES if c not in st.weak]
    offered = tuple(code for cat in remaining for code in suites.BY_CATEGORY[cat])
    return remaining, offered, "weak suites (" + ", ".join(remaining) + ")"


def _weak_rounds(st: _State, sni: str, low: int) -> None:
    """All weak categories at once, then again without the one the server picked, until it
    refuses (at the oldest TLS version it accepts)."""
    remaining, offered, label = _weak_offer(st)
    while remaining:
        reply = st.hello(label, clienthello.client_hello(low, offered, sni))
        hello = _server_hello(reply, offered, low, label)
        if hello is None and _broke(reply):
            reply, hello = _retry_without_finite_field_dh(st, label, low, offered, sni)
        if hello is None:
            break
        cat = suites.SUITES[hello.cipher].weak
        assert cat is not None  # every offered suite has a category
        st.weak[cat] = reply.evidence()
        remaining, offered, label = _weak_offer(st)


def _prefetch_ciphers(st: _State, sni: str, top: int, low: int, picked: int | None) -> None:
    """The hellos ``_probe_ciphers`` is about to send one after another, at once."""
    hellos: list[tuple[str, bytes, bool]] = []
    if not _fs_known(picked):
        hellos.append(("forward-secret suites",
                       clienthello.client_hello(top, suites.FORWARD_SECRET, sni), False))
    if not _static_rsa_known(picked):
        hellos.append(("static-RSA suites", clienthello.client_hello(top, suites.STATIC_RSA, sni),
                       False))
    remaining, offered, label = _weak_offer(st)
    if remaining:
        hellos.append((label, clienthello.client_hello(low, offered, sni), False))
        # Its retry without finite-field DH too, in case the server breaks on those: one
        # handshake more on a server that refuses cleanly, one wave less on one that hangs up.
        rest = _without_finite_field_dh(offered)
        if rest and rest != offered:
            hellos.append((f"{label} without DH", clienthello.client_hello(low, rest, sni),
                           False))
    st.prefetch(hellos)


def _broke(reply: records.Reply) -> bool:
    """A hang-up without an alert, or internal_error. Besides "no shared suite" this is how
    a server fails when it chose a finite-field DH suite without DH parameters (Dovecot
    without ``ssl_dh`` picking DH_anon): not a refusal of everything offered."""
    return reply.kind == "closed" or (reply.kind == "alert" and reply.alert is not None
                                      and reply.alert[1] == ALERT_INTERNAL_ERROR)


def _retry_without_finite_field_dh(st: _State, label: str, version: int,
                                   offered: tuple[int, ...], sni: str
                                   ) -> tuple[records.Reply, records.ServerHello | None]:
    """One more hello without the DHE/DH suites, so a server that breaks on those still
    shows the other weak suites it serves; a clean server pays one handshake for it."""
    rest = _without_finite_field_dh(offered)
    if not rest or rest == offered or st.handshakes >= MAX_HANDSHAKES - 1:
        return records.Reply("closed"), None
    reply = st.hello(f"{label} without DH", clienthello.client_hello(version, rest, sni))
    return reply, _server_hello(reply, rest, version, label)


def _without_finite_field_dh(offered: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(c for c in offered
                 if not suites.name_of(c).startswith(("TLS_DHE_", "TLS_DH_", "SSL_DH")))


def _pick(st: _State, label: str, version: int, offered: tuple[int, ...], sni: str) -> str | None:
    reply = st.hello(label, clienthello.client_hello(version, offered, sni))
    hello = _server_hello(reply, offered, version, label)
    return suites.name_of(hello.cipher) if hello else None


def fetch_chain_with_ssl(sock: socket.socket, sni: str, deadline: Deadline) -> tuple[list[bytes], str]:
    """A real handshake with verification off, driven through memory BIOs so the
    deadline and the byte cap bound it exactly like our own reads."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = _unverified_context().wrap_bio(incoming, outgoing,
                                         server_hostname=clienthello.sni_name(sni))
    received = 0
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLError as exc:
            raise ProbeError(f"TLS handshake failed: {exc.reason or exc}") from None
        pending = outgoing.read()
        if pending:
            send_all(sock, pending, deadline)
        chunk = _handshake_recv(sock, deadline)
        received += len(chunk)
        if received > SSL_MODULE_CAP:
            raise ProbeError(f"more than {SSL_MODULE_CAP} bytes in one handshake")
        incoming.write(chunk)
    version = obj.version() or "?"
    return _peer_chain(obj), f"ssl module handshake ({version})"


def _unverified_context() -> ssl.SSLContext:
    """A client context that completes a handshake with any server: the chain is judged
    afterwards, by ``certificate.verify_chain``, not by the handshake."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except ssl.SSLError:
        pass
    return ctx


def _handshake_recv(sock: socket.socket, deadline: Deadline) -> bytes:
    """One read of the handshake within the deadline; a timeout, error or close is the
    probe's own exception."""
    deadline.arm(sock)
    try:
        chunk = sock.recv(16384)
    except TimeoutError:
        raise Timeout("timed out in the TLS handshake") from None
    except OSError as exc:
        raise Closed(f"connection error in the TLS handshake: {exc}") from None
    if not chunk:
        raise Closed("the server closed the connection during the TLS handshake")
    return chunk


def _peer_chain(obj: ssl.SSLObject) -> list[bytes]:
    """The chain the server sent, as DER (the leaf alone where this Python cannot give the
    unverified chain)."""
    getter = getattr(getattr(obj, "_sslobj", None), "get_unverified_chain", None)
    chain = getter() if getter else None
    if chain:
        return [c.public_bytes(ssl._ssl.ENCODING_DER) for c in chain]  # type: ignore[attr-defined]
    der = obj.getpeercert(binary_form=True)
    return [der] if der else []


def _fetch_chain(st: _State, sni: str) -> None:
    def fetch() -> tuple[list[bytes], str]:
        sock, deadline = st.connect("certificate")
        try:
            return fetch_chain_with_ssl(sock, sni, deadline)
        except ProbeError as exc:
            raise Incomplete(f"certificate: {exc}", exc.evidence) from None
        finally:
            sock.close()

    st.certificates, st.cert_source = st.leg(fetch)


def _warm_judge() -> None:
    from . import judge  # noqa: F401  (cryptography: the slowest import of the run)


def run(target: TlsTarget, opener: Opener) -> TlsAssessment:
    # The verdicts need ``cryptography`` (a few hundred ms to import on a busy machine); the
    # hellos do not. Import it beside the first handshakes instead of before them.
    if f"{__package__}.judge" not in sys.modules:
        threading.Thread(target=_warm_judge, name="tls-import", daemon=True).start()
    st = _State(target, opener)
    incomplete, incomplete_evidence, legacy_probed = _handshakes(st, target.sni or target.host)
    complete = incomplete is None

    from . import judge

    issues = judge.version_issues(st.accepted, st.evidence, complete)
    issues += judge.cipher_issues(st.weak, st.fs_suite, st.static_rsa_suite,
                                  bool(st.accepted.get(versions.TLS13)), legacy_probed, complete)
    st.prefetched.clear()   # replies nobody needed (a version already proven): sent, counted
    facts = _facts(st)
    if st.certificates:
        cert_facts, cert_issues = judge.certificate_facts_and_issues(st.certificates, target)
        cert_facts["source"] = st.cert_source
        facts["certificate"] = cert_facts
        issues += cert_issues
    if incomplete:
        facts["incomplete"] = incomplete
        if incomplete_evidence:
            facts["incomplete_evidence"] = incomplete_evidence[:256].hex()
    return TlsAssessment(facts=facts, issues=issues, handshakes=st.handshakes, incomplete=incomplete)


def _handshakes(st: _State, sni: str) -> tuple[str | None, bytes, bool]:
    """Every hello of the scan, then the chain if any version was accepted: (why the scan is
    incomplete or None, the bytes that showed it, whether legacy suites were probed)."""
    incomplete: str | None = None
    incomplete_evidence = b""
    legacy_probed = False
    try:
        _probe_versions(st, sni)
        legacy_probed = _probe_ciphers(st, sni)
        if st.certificates is None and any(st.accepted.get(v) for v in versions.ALL[1:]):
            _fetch_chain(st, sni)
    except Incomplete as exc:
        incomplete = str(exc)
        incomplete_evidence = exc.evidence
    if incomplete is None and st.answered == 0:
        # Not one alert, not one ServerHello: this is no TLS server we can judge (or it
        # resets everyone), so say so instead of claiming "no modern TLS".
        incomplete = f"the server hung up on all {st.handshakes} hellos without a TLS answer"
    return incomplete, incomplete_evidence, legacy_probed


def _facts(st: _State) -> dict[str, Any]:
    """What the hellos showed: versions and suites (the certificate is added apart)."""
    facts: dict[str, Any] = {
        "handshakes": st.handshakes,
        "versions": {versions.name(v): st.accepted[v] for v in versions.ALL if v in st.accepted},
        "versions_accepted": [versions.name(v) for v in versions.ALL if st.accepted.get(v)],
        "suites": {
            "chosen": {versions.name(v): suites.name_of(c) for v, c in sorted(st.chosen.items())},
            "forward_secrecy": st.fs_suite,
            "static_rsa": st.static_rsa_suite,
            **{cat: st.weak.get(cat) for cat in suites.WEAK_CATEGORIES},
        },
    }
    if st.sslv2_ciphers:
        facts["sslv2_ciphers"] = st.sslv2_ciphers
    return facts
