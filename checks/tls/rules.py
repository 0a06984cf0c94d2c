"""Rules of the tls family."""

from __future__ import annotations

from imap_gate.rules import Rule

RULES: tuple[Rule, ...] = ()
