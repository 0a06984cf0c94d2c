"""From what the wire showed to issues: pure functions, no network.

Rules that need a positive observation (a version or suite the server
accepted, a certificate it sent) fire on that observation alone; rules that
rely on the absence of something (TLS003, TLS005) only fire when the
assessment completed, so a stalled endpoint is never half-judged.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from imap_gate.severity import Severity

from . import certificate, suites, versions
from .api import TlsIssue, TlsTarget

_CATEGORY_TEXT = {
    suites.NULL_ANON_EXPORT: ("a NULL, anonymous or EXPORT cipher suite", Severity.CRITICAL),
    suites.RC4_DES_MD5: ("an RC4, single-DES or MD5 cipher suite", Severity.HIGH),
    suites.TRIPLE_DES: ("a 3DES cipher suite (SWEET32)", Severity.MEDIUM),
}
_LEGACY_TLS = (versions.SSL3, versions.TLS10, versions.TLS11, versions.TLS12)


def version_issues(accepted: dict[int, bool], evidence: dict[int, str], complete: bool) -> list[TlsIssue]:
    out: list[TlsIssue] = []
    for v, sev in ((versions.SSL2, Severity.CRITICAL), (versions.SSL3, Severity.HIGH)):
        if accepted.get(v):
            out.append(TlsIssue("TLS001", f"The endpoint accepts {versions.name(v)}, a broken protocol "
                                "version that exposes the IMAP login to an attacker on the path.",
                                evidence.get(v, ""), sev, f"version={versions.name(v)}"))
    for v in (versions.TLS10, versions.TLS11):
        if accepted.get(v):
            out.append(TlsIssue("TLS002", f"The endpoint accepts {versions.name(v)}, deprecated by "
                                "RFC 8996.", evidence.get(v, ""), Severity.MEDIUM,
                                f"version={versions.name(v)}"))
    if complete and not accepted.get(versions.TLS12) and not accepted.get(versions.TLS13):
        took = [versions.name(v) for v in versions.ALL if accepted.get(v)]
        out.append(TlsIssue("TLS003", "The endpoint accepts neither TLS 1.2 nor TLS 1.3.",
                            "versions accepted: " + (", ".join(took) or "none"), None, ""))
    return out


def cipher_issues(weak: dict[str, str], fs_suite: str | None, static_rsa_suite: str | None,
                  tls13: bool, legacy_probed: bool, complete: bool) -> list[TlsIssue]:
    out: list[TlsIssue] = []
    for cat in suites.WEAK_CATEGORIES:
        if cat in weak:
            text, sev = _CATEGORY_TEXT[cat]
            out.append(TlsIssue("TLS004", f"The endpoint negotiates {text}.", weak[cat], sev,
                                f"category={cat}"))
    if complete and legacy_probed and not tls13 and fs_suite is None and static_rsa_suite:
        out.append(TlsIssue("TLS005", "The endpoint offers no forward secrecy: it accepts only "
                            "static-RSA key exchange.",
                            f"accepted: {static_rsa_suite}; no ECDHE/DHE suite accepted; "
                            "TLS 1.3 not accepted", None, ""))
    return out


def certificate_facts_and_issues(ders: list[bytes], target: TlsTarget
                                 ) -> tuple[dict[str, Any], list[TlsIssue]]:
    try:
        chain = certificate.load_chain(ders)
    except certificate.BadCertificate as exc:
        return ({"error": str(exc)},
                [TlsIssue("CERT003", "The server's certificate cannot be parsed, so no client can "
                          "verify it.", str(exc), None, "")])
    leaf = chain[0]
    now = target.now if target.now.tzinfo else target.now.replace(tzinfo=dt.UTC)
    facts = certificate.describe(leaf, now)
    facts["chain_length"] = len(chain)
    issues: list[TlsIssue] = []
    subject = facts["subject"]

    store = certificate.trust_store(target.ca_file)
    trusted, why, path = certificate.verify_chain(chain, store)
    facts["trusted"] = trusted
    facts["trust_error"] = why or None
    facts["trust_sources"] = list(store.sources)
    if not trusted:
        issues.append(TlsIssue("CERT003", f"The server certificate is not trusted: {why}.",
                               f"subject={subject}; issuer={facts['issuer']}", None, ""))

    name = (target.sni or target.host).strip()
    matches = certificate.name_matches(leaf, name)
    facts["name_checked"] = name
    facts["name_matches"] = matches
    if not matches:
        names = ", ".join(facts["san"]) or "none"
        issues.append(TlsIssue("CERT004", f"The server certificate does not match the name {name!r}.",
                               f"presented: {names}", None, ""))

    not_before, not_after = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    if now > not_after:
        issues.append(TlsIssue("CERT001", f"The server certificate expired on {not_after:%Y-%m-%d}.",
                               f"notAfter={facts['not_after']}; subject={subject}", None, ""))
    elif now < not_before:
        issues.append(TlsIssue("CERT002", f"The server certificate is not valid before "
                               f"{not_before:%Y-%m-%d}.", f"notBefore={facts['not_before']}; "
                               f"subject={subject}", None, ""))
    elif facts["days_left"] < target.cert_expiry_days:
        sev = Severity.MEDIUM if facts["days_left"] < 7 else Severity.LOW
        issues.append(TlsIssue("CERT007", f"The server certificate expires in {facts['days_left']} "
                               f"day(s), on {not_after:%Y-%m-%d}.",
                               f"notAfter={facts['not_after']}; threshold={target.cert_expiry_days} days",
                               sev, ""))

    key_sev = certificate.weak_key_severity(facts["key_type"], facts["key_bits"])
    if key_sev:
        issues.append(TlsIssue("CERT005", f"The server certificate has a weak {facts['key_type']} key "
                               f"of {facts['key_bits']} bits.",
                               f"key={facts['key_type']}-{facts['key_bits']}; subject={subject}",
                               Severity.parse(key_sev), ""))

    # The trust anchor's own self-signature does not matter; every signature below it does.
    signed = [c for c in (path if trusted else chain) if not store.is_anchor(c)] or [leaf]
    worst: tuple[str, str] | None = None
    for cert in signed:
        algo = certificate.signature_hash(cert)
        hash_sev = certificate.WEAK_HASHES.get(algo)
        if hash_sev and (worst is None or Severity.parse(hash_sev) > Severity.parse(worst[1])):
            worst = (f"{algo} signature on {certificate._rfc4514(cert.subject)}", hash_sev)
    if worst:
        issues.append(TlsIssue("CERT006", f"The server certificate chain uses a weak signature: "
                               f"{worst[0]}.", worst[0], Severity.parse(worst[1]), ""))
    return facts, issues
