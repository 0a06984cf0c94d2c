"""Rules of the firewall family."""

from __future__ import annotations

from imap_gate.rules import Rule

RULES: tuple[Rule, ...] = ()
