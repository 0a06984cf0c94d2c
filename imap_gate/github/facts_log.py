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


_EMPTY: tuple[Any, ...] = (None, "", [], {}, "not-tried")   # values the block leaves out


def block(port: int, protocol: str, facts: Any) -> list[str]:
    head = f"  {port}/{protocol}:"
    if not isinstance(facts, Mapping) or not facts:
        return [f"{head} no facts (not probed)"]
    lines = [f"{head} {_v(facts.get('connect', 'not-tried'))}"
             + (f" ({_v(facts['connect_detail'])})" if facts.get("connect_detail") else "")]
    lines += [f"    {label}: {_v(value)}" for label, value in _labelled(facts)
              if value not in _EMPTY]
    return lines


def _labelled(facts: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(label, value) in the order the block shows them, empty ones included."""
    auth = [f"{k.split('_')[1].upper()} {facts[k]}" for k in ("auth_plain", "auth_login")
            if facts.get(k) not in (None, "", "not-tried")]
    tls = facts.get("tls")
    return [("greeting", _pair(facts, "greeting_status", "greeting_text", "?")),
            ("capabilities", facts.get("caps_before_tls")),
            ("implicit TLS", facts.get("implicit_tls")),
            ("STARTTLS", facts.get("starttls")),
            ("capabilities after TLS", facts.get("caps_tls")),
            ("TLS", _pair(facts, "tls_version", "tls_cipher", "")),
            ("cleartext AUTHENTICATE", ", ".join(auth)),
            ("STARTTLS injection", facts.get("injection")),
            *(_tls_labelled(tls) if isinstance(tls, Mapping) else []),
            ("not judged", summary.not_judged(facts))]


def _pair(facts: Mapping[str, Any], first: str, second: str, missing: str) -> str | None:
    """'first second' of two facts shown on one line (None when neither is known)."""
    if not (facts.get(first) or facts.get(second)):
        return None
    return f"{facts.get(first) or missing} {facts.get(second) or ''}".strip()


def _tls_labelled(tls: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The TLS scan's lines: versions, the weakest suite, the certificate's days left."""
    out: list[tuple[str, Any]] = [("TLS versions accepted", tls.get("versions_accepted"))]
    weakest = summary.weakest_suite(tls)
    if weakest:
        suite, label, _ = weakest
        out.append(("weakest suite", f"{suite} ({label})" if label else suite))
    cert = tls.get("certificate")
    if isinstance(cert, Mapping) and "days_left" in cert:
        out.append(("certificate days left", cert.get("days_left")))
    return out
