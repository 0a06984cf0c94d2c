"""The types at the seam between the live probe engine (checks/imap) and the TLS assessment:
what the engine hands over (``TlsTarget``, an ``Opener``) and what it gets back
(``TlsAssessment``). A module of their own so that ``api`` (the entry point) imports the
engine and the engine imports these, with no cycle."""

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
