"""Facts in, issues out: the pure half of the probe (no sockets, no clock).

Each function reads ``EndpointFacts`` and returns ``Issue`` values that
``check.py`` turns into findings. Where the facts do not settle a question the
judge says nothing about it and the gap is an IMAP012 (fail closed): absence of
evidence is never a pass.
"""

from __future__ import annotations

import ipaddress
import re

from imap_gate.rules import Issue
from imap_gate.severity import Severity

from . import wire
from .facts import EndpointFacts
from .rules import (
    IMAP001,
    IMAP002,
    IMAP003,
    IMAP004,
    IMAP005,
    IMAP006,
    IMAP007,
    IMAP008,
    IMAP009,
    IMAP010,
    IMAP011,
    IMAP012,
    IMAP013,
    IMAP014,
    IMAP015,
    IMAP016,
)

WANTS_OPEN = ("open", "starttls-required")
# SASL mechanisms that should not be offered (IMAP009), with their severity.
WEAK_MECHS: dict[str, Severity] = {
    "ANONYMOUS": Severity.MEDIUM,    # RFC 4505: anyone gets in
    "NTLM": Severity.MEDIUM,         # relayable, crackable, no channel binding
    "KERBEROS_V4": Severity.MEDIUM,  # RFC 6649: Kerberos 4 is broken
    "SKEY": Severity.MEDIUM,         # RFC 2444 predecessor, MD4-based
    "RPA": Severity.MEDIUM,          # legacy proprietary challenge-response
    "CRAM-MD5": Severity.LOW,        # forces password-equivalent storage on the server
    "DIGEST-MD5": Severity.LOW,      # RFC 6331: moved to Historic
}
# ID fields (RFC 2971) that say more than the product name.
ID_DISCLOSING = ("version", "os", "os-version", "date", "command", "arguments", "environment",
                 "address", "revision", "build")
_VERSION = re.compile(r"(?<![\w.])v?\d+\.\d+(?:\.\d+)*(?:[-+~][\w.+~-]*)?(?![\w])")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}\Z")


# A refusal that says why: the server wants TLS first (imap4d's "Use STARTTLS first",
# RFC 5530's PRIVACYREQUIRED). With no LOGINDISABLED it still invites LOGIN in clear.
_TLS_FIRST = re.compile(r"PRIVACYREQUIRED|STARTTLS|\bTLS\b|\bSSL\b|encrypt", re.I)
NOT_ANSWERED = ("refused", "filtered", "unreachable")


def judge_endpoint(f: EndpointFacts) -> list[Issue]:
    where = f"{f.target} ({f.host}:{f.port}, {f.protocol})"
    if not f.is_open:
        return _closed(f, where)
    out: list[Issue] = []
    if f.expect == "closed":
        out.append(IMAP010.issue(f"{where} accepts connections although the manifest expects it closed.",
                                 evidence=f.greeting or f"TCP connect from {f.local_address} succeeded",
                                 port=f.port))
    out += _secured_source(f, where)
    if f.protocol == "imap":
        out += _cleartext(f, where)
    elif f.implicit_tls == "failed" and f.expect in WANTS_OPEN:
        out.append(IMAP011.issue(f"{where} is expected open but no TLS session could be set up on it.",
                                 evidence=_problem_evidence(f, "tls-handshake"), port=f.port))
    out += _disclosure(f, where)
    out += _weak_mechanisms(f, where)
    for p in f.problems:
        out.append(IMAP012.issue(f"{where} could not be judged ({p.phase}): {p.reason}.",
                                 evidence=p.evidence, port=f.port, detail=f"phase={p.phase}"))
    return out


def _closed(f: EndpointFacts, where: str) -> list[Issue]:
    detail = f.connect_detail or f.connect
    if f.connect == "unresolved":
        return []  # one finding for the target (judge_target): nothing was sent anywhere
    if f.connect == "refused":
        if f.expect in WANTS_OPEN:
            return [IMAP011.issue(f"{where} refuses connections although the manifest expects "
                                  f"it {f.expect}.", evidence="TCP connect: connection refused", port=f.port)]
        return []  # a closed port is the safest port
    silent = f.connect in ("filtered", "unreachable")
    if f.expect == "closed" and silent:
        return []
    if f.expect in WANTS_OPEN:
        return [IMAP011.issue(f"{where} does not answer ({f.connect}) although the manifest expects it "
                              f"{f.expect}.", evidence=f"TCP connect: {detail}", port=f.port)]
    return [IMAP012.issue(f"{where} could not be judged: the TCP connection was not answered ({f.connect}); "
                          "if it is firewalled on purpose, write `expect: {" + str(f.port) + ": closed}`.",
                          evidence=f"TCP connect: {detail}", port=f.port, detail="phase=connect")]


def _secured_source(f: EndpointFacts, where: str) -> list[Issue]:
    local, remote = f.local_address, f.remote_address
    if not local:
        return []
    same = local == remote
    try:
        loopback = ipaddress.ip_address(local.split("%")[0]).is_loopback
    except ValueError:
        loopback = False
    if not (same or loopback):
        return []
    why = ("the probe's source address equals the server's" if same
           else "the probe connects from a loopback address")
    return [IMAP013.issue(f"{where}: {why}, so a Dovecot-like server may treat the session as already "
                          "secured and hide cleartext problems; probe from another host or namespace.",
                          evidence=f"local {local} -> remote {remote}", port=f.port)]


def _cleartext(f: EndpointFacts, where: str) -> list[Issue]:
    """The cleartext port (143 with STARTTLS): PREAUTH, STARTTLS, cleartext login, injection,
    and whether it matches what the manifest expects of it."""
    caps = f.caps_before_tls
    if f.greeting_status == "PREAUTH":
        return _preauth(f, where)
    if f.greeting_status != "OK" or caps is None:
        return []  # the dialog stopped early: IMAP012 says so
    out: list[Issue] = []
    if "STARTTLS" not in caps:
        out.append(IMAP002.issue(f"{where} does not offer STARTTLS, so every session on it is cleartext.",
                                 evidence=f.caps_evidence, port=f.port))
    login = _cleartext_login(f, where, caps)
    cleartext = login is not None
    if login is not None:
        out.append(login)
    out += _starttls_layer(f, where)
    return out + _against_expectation(f, where, caps, cleartext)


def _against_expectation(f: EndpointFacts, where: str, caps: list[str],
                         cleartext: bool) -> list[Issue]:
    """The cleartext port against what the manifest expects: IMAP011 where it is expected
    starttls-required and is not; IMAP006 where it is secure but open unasked."""
    out: list[Issue] = []
    secure = "STARTTLS" in caps and f.starttls == "ok" and not cleartext
    if f.expect == "starttls-required" and not secure:
        reasons = [r for r, bad in (("no STARTTLS", "STARTTLS" not in caps),
                                    (f"STARTTLS {f.starttls}",
                                     "STARTTLS" in caps and f.starttls != "ok"),
                                    ("cleartext authentication accepted", cleartext)) if bad]
        out.append(IMAP011.issue(f"{where} is expected starttls-required but shows {', '.join(reasons)}.",
                                 evidence=f.caps_evidence, port=f.port))
    if not cleartext and f.expect not in WANTS_OPEN:
        out.append(IMAP006.issue(f"{where} is reachable although it refuses cleartext login; RFC 8314 "
                                 "prefers implicit TLS on 993 (declare `expect: {" + str(f.port) +
                                 ": starttls-required}` if it stays open on purpose).",
                                 evidence=f.caps_evidence, port=f.port))
    return out


def _preauth(f: EndpointFacts, where: str) -> list[Issue]:
    """A PREAUTH greeting in clear: the session is authenticated before TLS can start."""
    out = [IMAP001.issue(f"{where} greets with PREAUTH on a cleartext connection: the session is "
                         "authenticated before TLS could start, so STARTTLS is impossible.",
                         evidence=f.greeting or "", port=f.port)]
    if f.expect == "starttls-required":
        out.append(IMAP011.issue(f"{where} is expected starttls-required but "
                                 "greets with PREAUTH.", evidence=f.greeting or "", port=f.port))
    return out


def _cleartext_login(f: EndpointFacts, where: str, caps: list[str]) -> Issue | None:
    """IMAP004, or None when the server neither takes a password in clear nor invites one.

    A '+' to AUTHENTICATE before TLS proves it; no LOGINDISABLED invites a client's LOGIN;
    a refusal that says "TLS first" without LOGINDISABLED still lets the password cross the
    network once (medium)."""
    accepted = [m for m, state in (("PLAIN", f.auth_plain), ("LOGIN", f.auth_login))
                if state == "continuation"]
    if not accepted and "LOGINDISABLED" in caps:
        return None
    sev = None
    if accepted:
        said = f.auth_plain_evidence if accepted[0] == "PLAIN" else f.auth_login_evidence
        ev = f"AUTHENTICATE {accepted[0]} before TLS was answered {said} (cancelled with *)"
        how = f"accepts AUTHENTICATE {accepted[0]} before TLS (a '+' continuation)"
        tail = "passwords can cross the network unencrypted"
    elif _refuses_before_tls(f, caps):
        ev = f"{f.caps_evidence}\nAUTHENTICATE PLAIN before TLS was answered " \
             f"{f.auth_plain_evidence}"
        how = ("refuses to authenticate before TLS but does not advertise LOGINDISABLED "
               "(RFC 9051 requires it there), so a client that trusts the capability list "
               "sends LOGIN in clear")
        tail = ("the server refuses that login, but the password has already crossed the "
                "network unencrypted")
        sev = Severity.MEDIUM
    else:
        ev = f.caps_evidence
        how = "does not advertise LOGINDISABLED before TLS, so clients may send LOGIN in clear"
        tail = "passwords can cross the network unencrypted"
    return IMAP004.issue(f"{where} {how}: {tail}.", evidence=ev, severity=sev, port=f.port)


def _starttls_layer(f: EndpointFacts, where: str) -> list[Issue]:
    """What STARTTLS itself did: refused, a failing handshake, STARTTLS offered again inside
    TLS, commands pipelined before it executed inside (injection)."""
    out: list[Issue] = []
    if f.starttls == "refused":
        out.append(IMAP003.issue(f"{where} advertises STARTTLS but refuses it.",
                                 evidence=f.starttls_evidence, port=f.port))
    elif f.starttls == "handshake-failed":
        out.append(IMAP003.issue(f"{where} accepts STARTTLS but the TLS handshake fails.",
                                 evidence=f.starttls_evidence, port=f.port))
    if f.caps_tls is not None and "STARTTLS" in f.caps_tls:
        out.append(IMAP003.issue(f"{where} still advertises STARTTLS inside TLS (RFC 3501 6.2.1 forbids it), "
                                 "a sign of a broken TLS layer or a proxy in the path.",
                                 evidence=f.caps_tls_evidence, severity=Severity.LOW, port=f.port,
                                 detail="starttls-in-tls"))
    if f.injection == "vulnerable":
        out.append(IMAP005.issue(f"{where} executes commands pipelined in cleartext after STARTTLS inside "
                                 "the TLS session (STARTTLS command injection).",
                                 evidence=f.injection_evidence, port=f.port))
    return out


def _refuses_before_tls(f: EndpointFacts, caps: list[str]) -> bool:
    """The server said it wants TLS before authentication (in its refusal of AUTHENTICATE
    PLAIN, or with imap4d's XTLSREQUIRED capability)."""
    if f.auth_plain != "refused" or f.auth_login == "continuation":
        return False
    return "XTLSREQUIRED" in caps or bool(_TLS_FIRST.search(f.auth_plain_evidence))


def _disclosure(f: EndpointFacts, where: str) -> list[Issue]:
    found: list[str] = []
    if f.greeting_text:
        found += [f"greeting: {x}" for x in disclosed_in_text(f.greeting_text, f)]
    found += _id_disclosures(f)
    if not found:
        return []
    evidence = "\n".join(x for x in (f.greeting if any(x.startswith("greeting") for x in found)
                                     else None, f.id_evidence if f.id_reply else None) if x)
    return [IMAP008.issue(f"{where} discloses software or host details to anonymous clients: "
                          f"{'; '.join(found)[:300]}.", evidence=evidence, port=f.port)]


def _id_disclosures(f: EndpointFacts) -> list[str]:
    """The ID reply's fields that name software, a version or a host."""
    return [f'ID "{key}" "{value}"' for key, value in sorted((f.id_reply or {}).items())
            if value is not None and (key in ID_DISCLOSING or _VERSION.search(value))]


def disclosed_in_text(text: str, f: EndpointFacts | None = None) -> list[str]:
    """Version numbers and foreign IP addresses in free text (the server's own name
    or a distribution name alone, as in Debian's default greeting, say too little)."""
    out: list[str] = []
    mine = {f.host, f.local_address, f.remote_address} if f else set()
    for m in _VERSION.finditer(text):
        token = m.group(0)
        if _IPV4.match(token):
            if token not in mine:
                out.append(f"address {token}")
        else:
            out.append(f"version {token}")
    return out


def _weak_mechanisms(f: EndpointFacts, where: str) -> list[Issue]:
    seen = wire.mechanisms(tuple(f.caps_before_tls or ()) + tuple(f.caps_tls or ()))
    out: list[Issue] = []
    for mech in sorted(set(seen)):
        sev = WEAK_MECHS.get(mech)
        if sev is not None:
            out.append(_weak_mechanism(f, where, mech, sev))
    return out


def _weak_mechanism(f: EndpointFacts, where: str, mech: str, sev: Severity) -> Issue:
    """One weak mechanism offered: ANONYMOUS that was tried says what the try showed
    (IMAP014 accepted, IMAP015 refused); any other is IMAP009."""
    evidence = next((e for caps, e in ((f.caps_before_tls, f.caps_evidence),
                                       (f.caps_tls, f.caps_tls_evidence))
                     if caps and f"AUTH={mech}" in caps and e), f"AUTH={mech}")
    if mech == "ANONYMOUS" and f.anonymous == "accepted":
        return IMAP014.issue(f"{where} lets anyone in: AUTHENTICATE ANONYMOUS with an empty trace "
                             "was accepted (the probe logged out at once).",
                             evidence=f"{evidence}\n{f.anonymous_evidence}", port=f.port)
    if mech == "ANONYMOUS" and f.anonymous == "refused":
        return IMAP015.issue(f"{where} advertises AUTH=ANONYMOUS but refuses it: the capability "
                             "list is misleading (clients and scanners take it at its word).",
                             evidence=f"{evidence}\n{f.anonymous_evidence}", port=f.port,
                             detail="mech=ANONYMOUS")
    return IMAP009.issue(f"{where} offers the weak SASL mechanism {mech}.", evidence=evidence,
                         severity=sev, port=f.port, detail=f"mech={mech}")


def _problem_evidence(f: EndpointFacts, phase: str) -> str:
    return next((f"{p.reason} {p.evidence}".strip() for p in f.problems if p.phase == phase), "")


# ---------------------------------------------------------------- per target

def judge_target(endpoints: list[EndpointFacts]) -> list[Issue]:
    """Per target: a host that does not resolve, a target where nothing answered, IMAP007."""
    if not endpoints:
        return []
    first = endpoints[0]
    unresolved = [f for f in endpoints if f.connect == "unresolved"]
    if unresolved:
        return [IMAP012.issue(f"{first.target} ({first.host}) could not be judged: the host name does not "
                              f"resolve, so no port was probed ({unresolved[0].connect_detail}).",
                              evidence=unresolved[0].connect_detail, port=None, detail="phase=resolve")]
    if nothing_answered(endpoints):
        states = ", ".join(f"{f.port}: {f.connect}" for f in endpoints)
        closed = ", ".join(f"{f.port}: closed" for f in endpoints)
        return [IMAP016.issue(f"{first.target} ({first.host}) answered on none of its ports ({states}): "
                              "a wrong address or a dead server passes no gate. If the ports are closed on "
                              f"purpose, write `expect: {{{closed}}}`.",
                              evidence="; ".join(f"TCP connect to {f.port}: {f.connect_detail or f.connect}"
                                       for f in endpoints),
                              port=None)]
    return _implicit_tls_missing(endpoints)


def nothing_answered(endpoints: list[EndpointFacts]) -> bool:
    """Every port refused or silent, and the manifest expects nothing of any of them."""
    return bool(endpoints) and all(f.connect in NOT_ANSWERED and f.expect is None
                                   for f in endpoints)


def _implicit_tls_missing(endpoints: list[EndpointFacts]) -> list[Issue]:
    """IMAP007: a target whose cleartext port answers needs a working implicit-TLS endpoint.

    Not raised when the manifest says the implicit-TLS port is meant to be closed (a
    deliberate STARTTLS-only design), nor when no cleartext port answers at all."""
    cleartext = [f for f in endpoints if f.protocol == "imap" and f.is_open
                 and f.greeting_status in ("OK", "PREAUTH")]
    if not cleartext:
        return []
    imaps = [f for f in endpoints if f.protocol == "imaps"]
    if _implicit_tls_answered_for(imaps):
        return []
    first = cleartext[0]
    why = _why_no_implicit_tls(imaps)
    return [IMAP007.issue(f"{first.target} ({first.host}) answers on cleartext port {first.port} but "
                          f"{why}; RFC 8314 asks for implicit TLS.", evidence=first.greeting or "",
                          port=first.port)]


def _implicit_tls_answered_for(imaps: list[EndpointFacts]) -> bool:
    """An implicit-TLS endpoint works, or the manifest says it is closed on purpose."""
    if any(f.implicit_tls == "ok" and f.greeting_status == "OK" for f in imaps):
        return True
    return any(f.expect == "closed" for f in imaps)


def _why_no_implicit_tls(imaps: list[EndpointFacts]) -> str:
    """What IMAP007 says of the implicit-TLS endpoints: how each failed, or that none is
    listed."""
    if not imaps:
        return "the manifest lists no implicit-TLS port (add 993 to ports if it exists)"
    states = ", ".join(f"{f.port}: {f.connect}"
                       + (f"/TLS {f.implicit_tls}" if f.is_open else "") for f in imaps)
    return f"its implicit-TLS endpoints do not work ({states})"
