"""What a check is given: the root, the manifest, the clock, and shared results.

Checks are pure with respect to each other except through ``artefacts``: typed results a
family publishes under a key it declares (``imap_gate.artefacts``), which a correlation
check (drift) reads. ``facts`` is the JSON view of the endpoints, for the reports only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imap_gate.artefacts import Artefacts
from imap_gate.findings import Finding, Location
from imap_gate.manifest import Manifest, Target
from imap_gate.severity import Severity


@dataclass
class Context:
    root: Path
    manifest: Manifest
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    # "target:port" -> facts the probe learned (greeting, capabilities, TLS, cert...), as
    # the reports show them
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    # typed results for correlation (effective Dovecot settings, firewall verdicts, ...)
    artefacts: Artefacts = field(default_factory=Artefacts)
    # a live count for a terminal (imap_gate.term.Progress), None in pipes, logs and --quiet
    progress: Any = None

    def target_location(self, target: Target) -> Location:
        return Location(self.manifest.path, target.line, target.column)

    def live_finding(self, rule_id: str, target: Target, port: int | None, message: str,
                     evidence: str = "", severity: Severity | None = None,
                     key: str | None = None) -> Finding:
        """A finding about a live endpoint: located at the target's ``host:`` line."""
        return Finding(
            rule_id=rule_id, message=message, location=self.target_location(target),
            severity=severity, target=target.name, host=target.host, port=port,
            evidence=evidence, key=key or f"target={target.name};port={port}")


def endpoint_key(target: str, port: int) -> str:
    return f"{target}:{port}"
