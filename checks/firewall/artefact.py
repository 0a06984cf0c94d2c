"""What the firewall family publishes: each linted file's verdict (``FirewallVerdict``:
``exposure(port, family)`` says whether and from where 143/993 are reachable)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from imap_gate.artefacts import Key

if TYPE_CHECKING:
    from .verdict import FirewallVerdict

VERDICTS: Key[dict[str, FirewallVerdict]] = Key("firewall.verdicts")
