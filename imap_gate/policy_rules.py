"""Rules about the policy itself (waivers)."""

from __future__ import annotations

from imap_gate.rules import Rule
from imap_gate.severity import Severity

POL001 = Rule(
    id="POL001",
    name="waiver-expired",
    severity=Severity.LOW,
    short="A waiver in the manifest has expired and no longer applies.",
    full="A waiver's `expires` date is in the past. The finding it covered counts again, "
         "and this finding points at the waiver so that it is renewed with a reason or removed.",
    remediation="Fix the waived finding, or extend `expires:` on the waiver in "
                "`policy.waivers` with a current `reason:`.",
    kind="policy",
)

POL002 = Rule(
    id="POL002",
    name="waiver-unused",
    severity=Severity.NOTE,
    short="A waiver in the manifest matches no finding.",
    full="A waiver that matches nothing is dead weight and may hide a future finding "
         "that nobody reviewed.",
    remediation="Remove the waiver from `policy.waivers`, or correct its `rule`, "
                "`target` or `path`.",
    kind="policy",
)

# The family's rules in catalogue order (README table, docs/rules.md).
RULES: tuple[Rule, ...] = (
    POL001, POL002,
)
