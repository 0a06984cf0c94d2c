"""The gate's decision: which findings count, and whether the gate fails."""

from __future__ import annotations

from dataclasses import dataclass

from imap_gate.findings import Finding
from imap_gate.severity import Severity


@dataclass(frozen=True)
class GateVerdict:
    gate: str                       # pass | fail
    threshold: Severity | None      # None: --fail-on never
    counting: tuple[Finding, ...]   # not waived, at or above the threshold
    max_severity: Severity | None   # of the findings that count (not waived, not baselined)

    @property
    def exit_code(self) -> int:
        return 1 if self.gate == "fail" else 0


def decide(findings: list[Finding], threshold: Severity | None) -> GateVerdict:
    live = [f for f in findings if f.counts]
    counting = tuple(f for f in live if threshold is not None and f.sev >= threshold)
    max_sev = max((f.sev for f in live), default=None)
    return GateVerdict(gate="fail" if counting else "pass", threshold=threshold, counting=counting,
                       max_severity=max_sev)
