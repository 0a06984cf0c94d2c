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


def all_checks(only: str | None = None) -> list[Check]:
    """In the order they run: lints, then probes, then what correlates both.

    With ``only`` the other families are not even imported: a probe-only run
    does not pay for the linters' parsers, nor a lint-only run for the TLS code."""
    out: list[Check] = []
    if only in (None, "lint"):
        from checks.dovecot.check import CHECK as dovecot
        from checks.firewall.check import CHECK as firewall

        out += [dovecot, firewall]
    from checks.rehearse.check import CHECK as rehearse  # does nothing without --rehearse

    out.append(rehearse)
    if only in (None, "probe"):
        from checks.imap.check import CHECK as probe

        out.append(probe)
    if only is None:
        from checks.drift.check import CHECK as drift

        out.append(drift)
    elif only == "lint":
        from checks.drift.check import FILES_CHECK as drift_files

        out.append(drift_files)
    return out
