"""The dovecot check (not built yet: it finds nothing)."""

from __future__ import annotations

from checks import Check
from imap_gate.context import Context
from imap_gate.findings import Finding


def run(ctx: Context) -> list[Finding]:
    return []


CHECK = Check(name="dovecot", kind="lint", run=run)
