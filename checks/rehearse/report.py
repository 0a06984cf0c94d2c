"""A rehearsal's outcome as findings, each at the configuration line that causes it.

The probe reports against its sandbox target; here each of its findings is moved to the
setting the parser says decides that behaviour (``EffectiveConfig`` knows where every
effective value came from), marked as a rehearsal finding in its message and identity,
with the live dialog kept as evidence. Private keys never reach a report: evidence and
messages pass through ``redact``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from imap_gate.findings import Finding, Location

from ..dovecot.effective import EffectiveConfig
from ..imap.rules import IMAP002, IMAP003, IMAP004, IMAP006, IMAP007, IMAP008, IMAP009, IMAP012, IMAP013
from ..tls.rules import CERT003, CERT004, TLS001, TLS002, TLS003, TLS004, TLS005
from .rehearsal import Outcome
from .rules import REH001, REH002, REH003, REH004
from .sandbox import Listener

MODERN = ("TLSv1.2", "TLSv1.3")
LEGACY = ("SSLv3", "TLSv1", "TLSv1.1")
# The throwaway certificate (or a committed one on a loopback name) says nothing about the
# production certificate's trust and name: those are never judged by a rehearsal.
CERT_NEVER = frozenset({CERT003.id, CERT004.id})
# The sandbox chose the probe's loopback source itself: the note about it is not news.
DROPPED = frozenset({IMAP013.id})
_PEM_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
                      re.S)


def redact(text: str) -> str:
    return _PEM_KEY.sub("[private key removed]", text)


def _where(eff: EffectiveConfig, listener: Listener) -> dict[str, Callable[[], Location | None]]:
    port = listener.declared_port

    def listener_loc() -> Location | None:
        _, _, port_loc, lst_loc = eff.listener(listener.name)
        return port_loc or lst_loc

    return {
        IMAP002.id: lambda: eff.ssl_mode()[1],
        IMAP003.id: lambda: eff.ssl_mode()[1],
        IMAP004.id: lambda: eff.cleartext_auth_allowed(port if port > 0 else 143)[1],
        IMAP006.id: listener_loc,
        IMAP007.id: listener_loc,
        IMAP008.id: lambda: eff.value("login_greeting")[1],
        IMAP009.id: lambda: eff.value("auth_mechanisms")[1],
        TLS001.id: lambda: eff.min_tls()[1],
        TLS002.id: lambda: eff.min_tls()[1],
        TLS003.id: lambda: eff.min_tls()[1] or eff.value("ssl_cipher_list")[1],
        TLS004.id: lambda: eff.value("ssl_cipher_list")[1],
        TLS005.id: lambda: eff.value("ssl_cipher_list")[1],
    }


def findings(out: Outcome, manifest_path: str, manifest_line: int = 1) -> list[Finding]:
    """One rehearsal's findings: a refusal to start (REH001), or what could not finish
    (REH002), the live findings placed at the committed lines that cause them, where the
    linter and Dovecot disagree (REH003), and what the sandbox changed (REH004)."""
    entry = out.entry
    head = f"Rehearsal of {entry} (Dovecot {out.version})"
    related = (Location(manifest_path, manifest_line, message="rehearsal requested here"),)
    if out.status == "refused" and out.refusal is not None:
        r = out.refusal
        path, line = out.refusal_at or (entry, 1)
        where = f" at {path}:{line}" if out.refusal_at else ""
        return [REH001.finding(redact(f"{head}: Dovecot refuses to start{where}: {r.message}"),
                               Location(path, line), evidence=redact(r.message),
                               key=f"rehearse={entry};refused", related=related)]
    result: list[Finding] = []
    if out.status != "rehearsed":
        result.append(REH002.finding(f"{head} could not finish: {out.reason}; the "
                                     "configuration is not judged by a rehearsal.",
                                     Location(entry, 1), evidence=redact(out.reason or ""),
                                     key=f"rehearse={entry};incomplete", related=related))
    sb = out.sandbox
    if sb is None:
        return result
    seen_rules: dict[tuple[str, str], Finding] = {}
    for f in out.findings:
        if _not_news(f, sb.throwaway_cert):
            continue
        finding, name = _placed(out, f, head, related)
        result.append(finding)
        seen_rules.setdefault((f.rule_id, name), finding)
    result += _disagreements(out, head, seen_rules, related)
    result.append(_sandbox_note(out, head, related))
    return result


def _not_news(f: Finding, throwaway_cert: bool) -> bool:
    """Live findings a rehearsal cannot judge (the production certificate) or caused itself."""
    return (f.rule_id in DROPPED or f.rule_id in CERT_NEVER
            or (f.rule_id.startswith("CERT") and throwaway_cert))


def _placed(out: Outcome, f: Finding, head: str, related: tuple[Location, ...]
            ) -> tuple[Finding, str]:
    """A live finding of the rehearsal at the committed line that causes it (the listener's
    line when no setting is known to), and the listener's name."""
    sb = out.sandbox
    assert sb is not None
    listener = {x.port: x for x in sb.listeners}.get(f.port or 0)
    name = listener.name if listener else "?"
    loc = _cause(out, listener, f.rule_id) if listener is not None else None
    loc = loc or Location(out.entry, 1)
    detail = (f.key or "").split(";")[2:]
    text = f.message.replace(f"rehearsal ({sb.listen}:{f.port}, ", f"the {name} listener (")
    return Finding(
        f.rule_id, redact(f"{head}, {name} listener: {text}"), loc, severity=f.severity,
        evidence=redact(f.evidence), key=";".join([f"rehearse={out.entry}", f"listener={name}",
                                                   *detail]),
        related=related), name


def _cause(out: Outcome, listener: Listener, rule_id: str) -> Location | None:
    """The committed line behind a rule's finding on a listener: the setting known to cause
    it, else the listener's port line or block."""
    getter = _where(out.eff, listener).get(rule_id)
    loc = getter() if getter else None
    if loc is None:
        _, _, port_loc, lst_loc = out.eff.listener(listener.name)
        loc = port_loc or lst_loc
    return loc


def _disagreements(out: Outcome, head: str, live: dict[tuple[str, str], Finding],
                   related: tuple[Location, ...]) -> list[Finding]:
    """REH003: where the linter's prediction and Dovecot's behaviour differ."""
    sb = out.sandbox
    assert sb is not None
    incomplete = {f.port for f in out.findings if f.rule_id == IMAP012.id}
    result: list[Finding] = []
    for x in sb.listeners:
        if x.port in incomplete:
            continue
        key = f"rehearse={out.entry};listener={x.name}"
        if x.protocol == "imap":
            result += _cleartext_disagreement(out, head, x, live, key, related)
        result += _min_tls_disagreement(out, head, x, live, key, related)
    return result


def _cleartext_disagreement(out: Outcome, head: str, x: Listener,
                            live: dict[tuple[str, str], Finding], key: str,
                            related: tuple[Location, ...]) -> list[Finding]:
    predicted, loc = out.eff.cleartext_auth_allowed(x.declared_port if x.declared_port > 0
                                                    else 143)
    saw = (IMAP004.id, x.name) in live
    if predicted is None or predicted == saw:
        return []
    said = "allows" if predicted else "forbids"
    did = "accepted" if saw else "refused"
    return [REH003.finding(
        f"{head}, {x.name} listener: the linter predicts the file "
        f"{said} cleartext login for an internet client, but the rehearsed Dovecot "
        f"{did} it.", loc or Location(out.entry, 1),
        evidence=(live[(IMAP004.id, x.name)].evidence if saw else ""),
        key=f"{key};aspect=cleartext", related=related)]


def _min_tls_disagreement(out: Outcome, head: str, x: Listener,
                          live: dict[tuple[str, str], Finding], key: str,
                          related: tuple[Location, ...]) -> list[Finding]:
    min_tls, loc = out.eff.min_tls()
    legacy_live = any((r, x.name) in live for r in (TLS001.id, TLS002.id))
    facts = out.facts.get(f"rehearsal:{x.port}") or {}
    tls_judged = bool(facts.get("tls"))
    if min_tls in MODERN and legacy_live:
        return [REH003.finding(
            f"{head}, {x.name} listener: the file sets the minimum to {min_tls}, "
            "but the rehearsed Dovecot accepted an older protocol.",
            loc or Location(out.entry, 1), key=f"{key};aspect=min-tls", related=related)]
    if min_tls in LEGACY and tls_judged and not legacy_live:
        return [REH003.finding(
            f"{head}, {x.name} listener: the file allows {min_tls}, but the "
            "rehearsed Dovecot accepted nothing below TLS 1.2 (this machine's OpenSSL "
            "refused it; production's may not).", loc or Location(out.entry, 1),
            key=f"{key};aspect=min-tls", related=related)]
    return []


def _sandbox_note(out: Outcome, head: str, related: tuple[Location, ...]) -> Finding:
    sb = out.sandbox
    assert sb is not None
    lines = [r.render() for r in sb.rewrites]
    cert = ("certificate rules were not judged (a throwaway certificate stood in for one that "
            "is not in the repository)" if sb.throwaway_cert else
            "the committed certificate was used; its trust and name were not judged")
    # the message stays the same from run to run: the loopback ports are in the evidence
    what = ("no IMAP listener to probe" if not sb.listeners else
            ", ".join(f"{x.name} ({x.protocol})" for x in sb.listeners) + " on loopback")
    return REH004.finding(
        f"{head}: {len(lines)} rewrite(s) for the sandbox; probed {what}; {cert}.",
        Location(out.entry, 1), evidence=redact("\n".join(lines)),
        key=f"rehearse={out.entry};sandbox", related=related)
