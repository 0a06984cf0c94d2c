"""Findings: what every check produces and every report is a view of."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

from imap_gate import catalogue
from imap_gate.rules import Rule
from imap_gate.severity import Severity

EVIDENCE_CAP = 4096


@dataclass(frozen=True, order=True)
class Location:
    path: str                 # POSIX path relative to --root
    line: int = 1             # >= 1
    column: int | None = None
    message: str | None = None  # for related locations

    def __post_init__(self) -> None:
        if self.line < 1:
            object.__setattr__(self, "line", 1)
        if self.column is not None and self.column < 1:
            object.__setattr__(self, "column", None)


@dataclass(frozen=True)
class Finding:
    rule_id: str
    message: str
    location: Location
    severity: Severity | None = None      # None: the rule's default
    target: str | None = None
    host: str | None = None
    port: int | None = None
    evidence: str = ""
    # Stable identity independent of line numbers: rule + target + port for
    # live findings, rule + file + setting for lint findings.
    key: str | None = None
    related: tuple[Location, ...] = field(default_factory=tuple)
    waived: bool = False
    waiver_reason: str | None = None
    baselined: bool = False   # already in the --baseline report: shown, but does not count

    def __post_init__(self) -> None:
        if len(self.evidence) > EVIDENCE_CAP:
            object.__setattr__(self, "evidence", self.evidence[:EVIDENCE_CAP] + "…[truncated]")
        if self.severity is None:
            object.__setattr__(self, "severity", self.rule.severity)

    @property
    def rule(self) -> Rule:
        return catalogue.get(self.rule_id)

    @property
    def sev(self) -> Severity:
        assert self.severity is not None
        return self.severity

    @property
    def identity(self) -> str:
        """What the fingerprint is made of: never a line number."""
        if self.key is not None:
            base = self.key
        elif self.target is not None:
            base = f"target={self.target};port={self.port}"
        else:
            base = f"path={self.location.path};msg={self.message}"
        return f"{self.rule_id}|{base}"

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.identity.encode("utf-8")).hexdigest()[:32]

    def sort_key(self) -> tuple:
        return (-int(self.sev), self.rule_id, self.location.path, self.location.line,
                self.location.column or 0, self.target or "", self.port or 0, self.message)

    def with_waiver(self, reason: str) -> Finding:
        return replace(self, waived=True, waiver_reason=reason)

    def without_waiver(self) -> Finding:
        return replace(self, waived=False, waiver_reason=None)

    def in_baseline(self) -> Finding:
        return replace(self, baselined=True)

    @property
    def counts(self) -> bool:
        """Whether the gate may count it: not waived, not suppressed, not in the baseline."""
        return not self.waived and not self.baselined


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Deterministic order, most severe first, duplicates (same identity and place) removed."""
    seen: set[tuple] = set()
    out: list[Finding] = []
    for f in sorted(findings, key=Finding.sort_key):
        k = (f.identity, f.location, f.message)
        if k in seen:
            continue
        seen.add(k)
        out.append(f)
    return out
