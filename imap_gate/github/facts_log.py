"""What the probe learned about one endpoint, as a short block for the Action's log.

The full facts are data for machines and belong in ``--json``; a person reading the log wants
a few lines: reached or not, the greeting, STARTTLS and cleartext login, TLS, the certificate,
and what could not be judged. Every value is read defensively (facts are server data).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from imap_gate.github import summary

CAP = 200   # characters of one value


def _v(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        value = " ".join(str(v) for v in value)
    out = str(value)
    return out if len(out) <= CAP else out[:CAP] + "…"


def block(port: int, protocol: str, facts: Any) -> list[str]:
    head = f"  {port}/{protocol}:"
    if not isinstance(facts, Mapping) or not facts:
        return [f"{head} no facts (not probed)"]
    lines = [f"{head} {_v(facts.get('connect', 'not-tried'))}"
             + (f" ({_v(facts['connect_detail'])})" if facts.get("connect_detail") else "")]

    def add(label: str, value: Any) -> None:
        if value not in (None, "", [], {}, "not-tried"):
            lines.append(f"    {label}: {_v(value)}")

    if facts.get("greeting_status") or facts.get("greeting_text"):
        add("greeting", f"{facts.get('greeting_status') or '?'} {facts.get('greeting_text') or ''}"
            .strip())
    add("capabilities", facts.get("caps_before_tls"))
    add("implicit TLS", facts.get("implicit_tls"))
    add("STARTTLS", facts.get("starttls"))
    add("capabilities after TLS", facts.get("caps_tls"))
    if facts.get("tls_version") or facts.get("tls_cipher"):
        add("TLS", f"{facts.get('tls_version') or ''} {facts.get('tls_cipher') or ''}".strip())
    auth = [f"{k.split('_')[1].upper()} {facts[k]}" for k in ("auth_plain", "auth_login")
            if facts.get(k) not in (None, "", "not-tried")]
    add("cleartext AUTHENTICATE", ", ".join(auth))
    add("STARTTLS injection", facts.get("injection"))
    tls = facts.get("tls")
    if isinstance(tls, Mapping):
        add("TLS versions accepted", tls.get("versions_accepted"))
        weakest = summary.weakest_suite(tls)
        if weakest:
            suite, label, _ = weakest
            add("weakest suite", f"{suite} ({label})" if label else suite)
        cert = tls.get("certificate")
        if isinstance(cert, Mapping) and "days_left" in cert:
            add("certificate days left", cert.get("days_left"))
    why = summary.not_judged(facts)
    add("not judged", why)
    return lines
