"""Inline suppressions: ``# imap-gate: ignore[DOV008] reason`` on the line or the line above.

A suppression without a reason is ignored (the finding still counts) and reported once as
DOV013, so that a silenced finding always says why it is acceptable.
"""

from __future__ import annotations

from imap_gate.findings import Finding, Location

from .loader import Loaded
from .parser import Suppression
from .rules import DOV013

ByLine = dict[str, dict[int, list[Suppression]]]


def apply(findings: list[Finding], loaded: Loaded) -> list[Finding]:
    by_file: ByLine = {}
    for path, pf in loaded.files.items():
        for s in pf.suppressions:
            by_file.setdefault(path, {}).setdefault(s.line, []).append(s)
    if not by_file:
        return findings
    out: list[Finding] = []
    reported: set[tuple[str, int]] = set()
    for f in findings:
        match = _match(f, by_file)
        if match is None:
            out.append(f)
        elif match.reason:
            out.append(f.with_waiver(f"inline: {match.reason}"))
        else:
            out.append(f)
            if (match.path, match.line) not in reported:
                reported.add((match.path, match.line))
                out.append(_no_reason(f, match))
    return out


def _match(f: Finding, by_file: ByLine) -> Suppression | None:
    """The first suppression naming the finding's rule on its line, else on the line above."""
    sups = by_file.get(f.location.path, {})
    for line in (f.location.line, f.location.line - 1):
        for s in sups.get(line, []):
            if f.rule_id in s.rules or f.rule.name.upper() in s.rules:
                return s
    return None


def _no_reason(f: Finding, match: Suppression) -> Finding:
    return DOV013.finding(
        f"The inline suppression of {f.rule_id} has no reason, so it is "
        "ignored and the finding still counts; write "
        f"'# imap-gate: ignore[{f.rule_id}] <why this is acceptable>'.",
        Location(match.path, match.line, 1),
        file=match.path, suppression=f.rule_id, error="no-reason")
