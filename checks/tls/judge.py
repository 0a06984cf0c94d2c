"""From what the wire showed to issues: pure functions, no network.

Rules that need a positive observation (a version or suite the server
accepted, a certificate it sent) fire on that observation alone; rules that
rely on the absence of something (TLS003, TLS005) only fire when the
assessment completed, so a stalled endpoint is never half-judged.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from imap_gate.rules import Issue
from imap_gate.severity import Severity

from . import certificate, suites, versions
from .rules import (
    CERT001,
    CERT002,
    CERT003,
    CERT004,
    CERT005,
    CERT006,
    CERT007,
    TLS001,
    TLS002,
    TLS003,
    TLS004,
    TLS005,
)
from .types import TlsTarget

_CATEGORY_TEXT = {
    suites.NULL_ANON_EXPORT: ("a NULL, anonymous or EXPORT cipher suite", Severity.CRITICAL),
    suites.RC4_DES_MD5: ("an RC4, single-DES or MD5 cipher suite", Severity.HIGH),
    suites.TRIPLE_DES: ("a 3DES cipher suite (SWEET32)", Severity.MEDIUM),
}
_LEGACY_TLS = (versions.SSL3, versions.TLS10, versions.TLS11, versions.TLS12)


def version_issues(accepted: dict[int, bool], evidence: dict[int, str], complete: bool) -> list[Issue]:
    out = [TLS001.issue(f"The endpoint accepts {versions.name(v)}, a broken protocol "
                        "version that exposes the IMAP login to an attacker on the path.",
                        evidence=evidence.get(v, ""), severity=sev,
                        detail=f"version={versions.name(v)}")
           for v, sev in ((versions.SSL2, Severity.CRITICAL), (versions.SSL3, Severity.HIGH))
           if accepted.get(v)]
    out += [TLS002.issue(f"The endpoint accepts {versions.name(v)}, deprecated by "
                         "RFC 8996.", evidence=evidence.get(v, ""), severity=Severity.MEDIUM,
                         detail=f"version={versions.name(v)}")
            for v in (versions.TLS10, versions.TLS11) if accepted.get(v)]
    if complete and not accepted.get(versions.TLS12) and not accepted.get(versions.TLS13):
        out.append(_no_modern_version(accepted))
    return out


def _no_modern_version(accepted: dict[int, bool]) -> Issue:
    """TLS003, with the versions the endpoint did accept (only said of a complete scan)."""
    took = [versions.name(v) for v in versions.ALL if accepted.get(v)]
    return TLS003.issue("The endpoint accepts neither TLS 1.2 nor TLS 1.3.",
                        evidence="versions accepted: " + (", ".join(took) or "none"))


def cipher_issues(weak: dict[str, str], fs_suite: str | None, static_rsa_suite: str | None,
                  tls13: bool, legacy_probed: bool, complete: bool) -> list[Issue]:
    out: list[Issue] = []
    for cat in suites.WEAK_CATEGORIES:
        if cat in weak:
            text, sev = _CATEGORY_TEXT[cat]
            out.append(TLS004.issue(f"The endpoint negotiates {text}.", evidence=weak[cat], severity=sev,
                                    detail=f"category={cat}"))
    if complete and legacy_probed and not tls13 and fs_suite is None and static_rsa_suite:
        out.append(TLS005.issue("The endpoint offers no forward secrecy: it accepts only "
                                "static-RSA key exchange.",
                                evidence=f"accepted: {static_rsa_suite}; no ECDHE/DHE suite accepted; "
                                         "TLS 1.3 not accepted"))
    return out


def certificate_facts_and_issues(ders: list[bytes], target: TlsTarget
                                 ) -> tuple[dict[str, Any], list[Issue]]:
    """The leaf's facts for the report, and what is wrong with the chain: trust, name,
    validity dates, key size, signature hashes (CERT001..CERT007)."""
    try:
        chain = certificate.load_chain(ders)
    except certificate.BadCertificate as exc:
        return ({"error": str(exc)},
                [CERT003.issue("The server's certificate cannot be parsed, so no client can "
                               "verify it.", evidence=str(exc))])
    leaf = chain[0]
    now = target.now if target.now.tzinfo else target.now.replace(tzinfo=dt.UTC)
    facts = certificate.describe(leaf, now)
    facts["chain_length"] = len(chain)
    subject = facts["subject"]

    store = certificate.trust_store(target.ca_file)
    trusted, why, path = certificate.verify_chain(chain, store)
    facts["trusted"] = trusted
    facts["trust_error"] = why or None
    facts["trust_sources"] = list(store.sources)
    issues: list[Issue] = []
    if not trusted:
        issues.append(CERT003.issue(f"The server certificate is not trusted: {why}.",
                                    evidence=f"subject={subject}; issuer={facts['issuer']}"))
    issues += _name_mismatch(leaf, (target.sni or target.host).strip(), facts)
    issues += _validity(leaf, facts, now, target.cert_expiry_days)
    issues += _weak_key(facts)
    # The trust anchor's own self-signature does not matter; every signature below it does.
    signed = [c for c in (path if trusted else chain) if not store.is_anchor(c)] or [leaf]
    issues += _weak_signature(signed)
    return facts, issues


def _name_mismatch(leaf: Any, name: str, facts: dict[str, Any]) -> list[Issue]:
    """CERT004 when the leaf does not identify the name the client asks for (SNI, else host)."""
    matches = certificate.name_matches(leaf, name)
    facts["name_checked"] = name
    facts["name_matches"] = matches
    if matches:
        return []
    names = ", ".join(facts["san"]) or "none"
    return [CERT004.issue(f"The server certificate does not match the name {name!r}.",
                          evidence=f"presented: {names}")]


def _validity(leaf: Any, facts: dict[str, Any], now: dt.datetime, expiry_days: int
              ) -> list[Issue]:
    """Expired (CERT001), not yet valid (CERT002), or expiring within the threshold (CERT007)."""
    subject = facts["subject"]
    not_before, not_after = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    if now > not_after:
        return [CERT001.issue(f"The server certificate expired on {not_after:%Y-%m-%d}.",
                              evidence=f"notAfter={facts['not_after']}; subject={subject}")]
    if now < not_before:
        return [CERT002.issue(f"The server certificate is not valid before "
                              f"{not_before:%Y-%m-%d}.",
                              evidence=f"notBefore={facts['not_before']}; subject={subject}")]
    if facts["days_left"] < expiry_days:
        sev = Severity.MEDIUM if facts["days_left"] < 7 else Severity.LOW
        return [CERT007.issue(f"The server certificate expires in {facts['days_left']} "
                              f"day(s), on {not_after:%Y-%m-%d}.",
                              evidence=f"notAfter={facts['not_after']}; "
                                       f"threshold={expiry_days} days",
                              severity=sev)]
    return []


def _weak_key(facts: dict[str, Any]) -> list[Issue]:
    key_sev = certificate.weak_key_severity(facts["key_type"], facts["key_bits"])
    if not key_sev:
        return []
    return [CERT005.issue(f"The server certificate has a weak {facts['key_type']} key "
                          f"of {facts['key_bits']} bits.",
                          evidence=f"key={facts['key_type']}-{facts['key_bits']}; "
                                   f"subject={facts['subject']}",
                          severity=Severity.parse(key_sev))]


def _weak_signature(signed: list[Any]) -> list[Issue]:
    """CERT006 for the worst signature hash below the trust anchor."""
    worst: tuple[str, str] | None = None
    for cert in signed:
        algo = certificate.signature_hash(cert)
        hash_sev = certificate.WEAK_HASHES.get(algo)
        if hash_sev and (worst is None or Severity.parse(hash_sev) > Severity.parse(worst[1])):
            worst = (f"{algo} signature on {certificate._rfc4514(cert.subject)}", hash_sev)
    if worst is None:
        return []
    return [CERT006.issue(f"The server certificate chain uses a weak signature: "
                          f"{worst[0]}.", evidence=worst[0], severity=Severity.parse(worst[1]))]
