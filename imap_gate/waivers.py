"""Waivers: honest escape hatches that expire.

A waiver matches on a finding's stable identity (rule + target + port, or
rule + file glob), never on a line number, so it survives edits elsewhere.
An expired waiver stops applying and is itself reported (POL001); one that
matches nothing is reported too (POL002), so waivers cannot silently rot.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache

from imap_gate.findings import Finding, Location
from imap_gate.manifest import Manifest, Waiver


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Path glob where ``*`` stays within a directory and ``**`` crosses them."""
    out = ""
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
            continue
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            continue
        out += {"*": "[^/]*", "?": "[^/]"}.get(c, re.escape(c))
        i += 1
    return re.compile(out + r"\Z")


def path_matches(pattern: str, path: str) -> bool:
    return bool(_glob_regex(pattern.lstrip("./")).match(path))


def matches(waiver: Waiver, finding: Finding) -> bool:
    if finding.rule_id != waiver.rule:
        return False
    if waiver.target is not None and finding.target != waiver.target:
        return False
    if waiver.port is not None and finding.port != waiver.port:
        return False
    if waiver.path is not None:
        paths = [finding.location.path, *(r.path for r in finding.related)]
        if not any(path_matches(waiver.path, p) for p in paths):
            return False
    return True


def expired(waiver: Waiver, today: dt.date) -> bool:
    """A waiver is good through its ``expires`` date and lapses the day after."""
    return dt.date.fromisoformat(waiver.expires) < today


def _describe(w: Waiver) -> str:
    scope = ", ".join(f"{k} {v}" for k, v in (("target", w.target), ("path", w.path),
                                              ("port", w.port)) if v is not None)
    return f"{w.rule}" + (f" ({scope})" if scope else "")


def apply(findings: list[Finding], manifest: Manifest, today: dt.date,
          enabled: bool = True) -> list[Finding]:
    """Mark waived findings and add POL001/POL002. With ``enabled=False`` (a hard gate)
    every waiver and inline suppression is ignored."""
    if not enabled:
        return [f.without_waiver() if f.waived else f for f in findings]
    used: set[int] = set()
    active = [(n, w) for n, w in enumerate(manifest.waivers) if not expired(w, today)]
    out = [f if f.waived else _waive(f, active, used) for f in findings]
    out += _waiver_findings(manifest, today, used)
    return out


def _waive(f: Finding, active: list[tuple[int, Waiver]], used: set[int]) -> Finding:
    """``f`` under the first active waiver that matches it (noted in ``used``), else as is."""
    for n, w in active:
        if matches(w, f):
            used.add(n)
            owner = f" (owner: {w.owner})" if w.owner else ""
            return f.with_waiver(f"{w.reason}{owner}; expires {w.expires}")
    return f


def _waiver_findings(manifest: Manifest, today: dt.date, used: set[int]) -> list[Finding]:
    """POL001 for each expired waiver, POL002 for each active one that matched nothing: a
    waiver nobody needs any more hides the next finding it happens to match."""
    out: list[Finding] = []
    for n, w in enumerate(manifest.waivers):
        where = Location(manifest.path, w.line)
        ident = f"waiver={w.rule};target={w.target};path={w.path};port={w.port}"
        if expired(w, today):
            out.append(Finding(
                "POL001", f"The waiver for {_describe(w)} expired on {w.expires}; the findings it "
                f"covered count again.", where, key=ident,
                evidence=f"reason: {w.reason}"))
        elif n not in used:
            out.append(Finding(
                "POL002", f"The waiver for {_describe(w)} matches no finding; remove it or fix "
                "its scope.", where, key=ident, evidence=f"reason: {w.reason}"))
    return out
