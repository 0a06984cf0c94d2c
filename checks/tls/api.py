"""The seam between the live probe engine (checks/imap) and the TLS assessment.

The engine owns connections and the IMAP dialog; the TLS family owns judging
TLS. The engine hands over an ``Opener`` that yields a socket at the exact
point where a ClientHello may be sent (plain TCP for imaps, after a
successful STARTTLS for imap), so the TLS code never speaks IMAP.
"""

from __future__ import annotations

from .engine import run
from .types import Opener, TlsAssessment, TlsTarget

__all__ = ["Opener", "TlsAssessment", "TlsTarget", "assess"]


def assess(target: TlsTarget, opener: Opener) -> TlsAssessment:
    """Judge the TLS of one endpoint: versions, cipher categories, certificate.

    Calls ``opener`` once per handshake (``handshakes`` counts them, at most
    15). Never raises for anything the server does: a stall, a reset or bytes
    that are not TLS end the plan and set ``incomplete``; what was already
    proven stays in ``issues``.
    """
    return run(target, opener)
