"""Check families. Each family is a package with ``rules.py`` (its rules, defined
once) and ``check.py`` (a ``CHECK`` that turns a ``Context`` into findings)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from imap_gate.context import Context
from imap_gate.findings import Finding


@dataclass(frozen=True)
class Check:
    name: str
    kind: str  # lint | probe | correlation
    run: Callable[[Context], list[Finding]]


def all_checks() -> list[Check]:
    """In the order they run: lints, then probes, then what correlates both."""
    from checks.dovecot.check import CHECK as dovecot
    from checks.drift.check import CHECK as drift
    from checks.firewall.check import CHECK as firewall
    from checks.imap.check import CHECK as probe

    return [dovecot, firewall, probe, drift]
