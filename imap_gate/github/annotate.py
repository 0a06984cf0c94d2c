"""Workflow commands (``::error file=…::message``) and the annotation budget.

GitHub shows at most 10 annotations of each level per step, so the most severe
findings go first and one notice says how many more are in the job summary.
Escaping follows the Actions toolkit: data escapes ``%``, CR and LF; property
values additionally escape ``:`` and ``,`` (they delimit properties).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from imap_gate.findings import Finding
from imap_gate.severity import Severity

PER_LEVEL = 10          # GitHub's display limit per level per step
MESSAGE_CAP = 2000      # characters of a finding's message in an annotation
FIX_CAP = 1500          # characters of the remediation that follows it (the longest is ~700)


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str = "", **props: object) -> str:
    """One workflow command line; properties with a None value are left out."""
    parts = [f"{k}={escape_property(str(v))}" for k, v in props.items() if v is not None]
    head = f"::{name}" + (" " + ",".join(parts) if parts else "")
    return f"{head}::{escape_data(message)}"


def level(sev: Severity) -> str:
    if sev >= Severity.HIGH:
        return "error"
    if sev == Severity.MEDIUM:
        return "warning"
    return "notice"


@dataclass(frozen=True)
class Annotation:
    level: str
    message: str
    file: str | None = None
    line: int | None = None
    col: int | None = None
    title: str | None = None

    def render(self) -> str:
        return command(self.level, self.message, file=self.file, line=self.line, col=self.col,
                       title=self.title)


def for_finding(f: Finding, path_of: Callable[[str], str]) -> Annotation:
    where = ""
    if f.target is not None:
        where = f" [{f.target} {f.host}:{f.port}]" if f.port else f" [{f.target}]"
    msg = f"{f.sev.label.upper()}: {f.message}{where}"
    if len(msg) > MESSAGE_CAP:
        msg = msg[:MESSAGE_CAP] + "…"
    fix = fix_text(f.rule.remediation)
    if fix:
        msg += "\nFix: " + fix
    return Annotation(level=level(f.sev), message=msg, file=path_of(f.location.path),
                      line=f.location.line, col=f.location.column,
                      title=f"{f.rule_id} {f.rule.name}")


def fix_text(remediation: str) -> str:
    """The whole remediation as plain lines (Markdown code marks and blank lines dropped):
    its first line often ends with a colon and the setting to write follows on the next one.
    Cut at a line boundary past ``FIX_CAP``; ``command`` escapes the line breaks."""
    lines = [ln.replace("`", "").rstrip() for ln in remediation.strip().splitlines()]
    lines = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("```")]
    out: list[str] = []
    size = 0
    for ln in lines:
        if size + len(ln) > FIX_CAP:
            out.append((ln[: max(0, FIX_CAP - size)] + "…") if not out else "…")
            break
        out.append(ln)
        size += len(ln) + 1
    return "\n".join(out)


def plan(findings: Iterable[Finding], path_of: Callable[[str], str],
         reserved: Mapping[str, int] | None = None) -> list[Annotation]:
    """Annotations to emit, within GitHub's per-level budget, most severe first.

    ``reserved`` holds slots per level for messages the caller emits itself
    (tool errors, why the SARIF upload was refused), so that none is hidden.
    """
    reserved = reserved or {}
    live = sorted((f for f in findings if not f.waived), key=Finding.sort_key)
    budget = {lv: max(0, PER_LEVEL - reserved.get(lv, 0)) for lv in ("error", "warning", "notice")}
    chosen: list[Annotation] = []
    left_out = 0
    for f in live:
        a = for_finding(f, path_of)
        if budget[a.level] > 0:
            chosen.append(a)
            budget[a.level] -= 1
        else:
            left_out += 1
    if left_out:
        _say_left_out(chosen, budget["notice"], left_out)
    return chosen


def _say_left_out(chosen: list[Annotation], notices_left: int, left_out: int) -> None:
    """Add the notice that says how many findings have no annotation, making room for it
    by dropping the least severe notice when the notice level is full."""
    notices = [a for a in chosen if a.level == "notice"]
    if notices_left == 0 and notices:
        # make room: drop the least severe notice, it is counted among those left out
        drop = notices[-1]
        chosen.remove(drop)
        left_out += 1
    if notices_left > 0 or notices:
        chosen.append(Annotation(
            "notice", f"{left_out} more finding(s) are not shown as annotations "
                      "(GitHub shows 10 per level); see the job summary for all of them.",
            title="imap-gate: more findings"))
