"""The seam between the live probe engine (checks/imap) and the TLS assessment.

The engine owns connections and the IMAP dialog; the TLS family owns judging
TLS. The engine hands over an ``Opener`` that yields a socket at the exact
point where a ClientHello may be sent (plain TCP for imaps, after a
successful STARTTLS for imap), so the TLS code never speaks IMAP.
"""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from imap_gate.rules import Issue

from ..net import Deadline

Opener = Callable[[Deadline], socket.socket]


@dataclass(frozen=True)
class TlsTarget:
    host: str
    port: int
    sni: str
    starttls: bool                 # True: the opener performed STARTTLS first
    timeout: float                 # bounds each protocol step (one handshake)
    deadline: Deadline             # bounds the whole assessment of this endpoint
    now: dt.datetime
    ca_file: str | None = None     # absolute path to extra trust anchors (PEM)
    cert_expiry_days: int = 30
    # Runs handshakes as legs at once (``checks.imap.legs.EndpointLegs``: ``map`` and ``call``),
    # each holding a per-host connection slot; None: one after another, as before.
    legs: Any = None


@dataclass
class TlsAssessment:
    facts: dict[str, Any] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    handshakes: int = 0
    incomplete: str | None = None  # why it could not finish: the engine reports IMAP012


def assess(target: TlsTarget, opener: Opener) -> TlsAssessment:
    """Judge the TLS of one endpoint: versions, cipher categories, certificate.

    Calls ``opener`` once per handshake (``handshakes`` counts them, at most
    15). Never raises for anything the server does: a stall, a reset or bytes
    that are not TLS end the plan and set ``incomplete``; what was already
    proven stays in ``issues``.
    """
    from .engine import run  # late: the engine imports this module's types

    return run(target, opener)
