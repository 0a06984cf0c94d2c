"""What the live probe publishes for correlation: per endpoint, the facts and the judgements
drift compares with the committed files.

The judgements are the probe's own (the same issue that became the IMAP004, IMAP002,
TLS001/TLS002 finding: its message and evidence), so drift neither re-judges nor finds them
by rule id among the findings."""

from __future__ import annotations

from dataclasses import dataclass

from imap_gate.artefacts import Key


@dataclass(frozen=True)
class Observation:
    """One thing the probe judged wrong on an endpoint, as it was reported."""

    message: str
    evidence: str


@dataclass(frozen=True)
class LiveEndpoint:
    target: str
    port: int
    connect: str                  # open | refused | filtered | error | unresolved | ...
    remote_address: str | None
    local_address: str | None
    auth_plain: str               # accepted | refused | not-tried | ...
    auth_plain_evidence: str
    starttls: str                 # ok | not-offered | refused | ...
    starttls_evidence: str
    cleartext_login: Observation | None = None   # a password is taken before TLS (IMAP004)
    no_starttls: Observation | None = None       # no STARTTLS offered (IMAP002)
    legacy_tls: Observation | None = None        # TLS 1.0/1.1 or SSL accepted (TLS001/TLS002)


ENDPOINTS: Key[dict[tuple[str, int], LiveEndpoint]] = Key("imap.endpoints")
