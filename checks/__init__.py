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
    kind: str  # lint | rehearsal | probe | correlation (checks.registry.STAGE), as its family
    run: Callable[[Context], list[Finding]]


def all_checks(only: str | None = None) -> list[Check]:
    """In the order they run (``checks.registry.STAGE``): lints, the rehearsal, probes, then
    what correlates both. Only the families this run needs are imported."""
    from .registry import FAMILIES, STAGE

    ordered = sorted(FAMILIES, key=lambda f: STAGE[f.kind])  # stable: registry order within
    return [c for f in ordered for c in [f.load_check(only)] if c is not None]
