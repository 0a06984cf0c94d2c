"""The human report, as plain text or Markdown (the job summary reuses Markdown)."""

from __future__ import annotations

from imap_gate.findings import Finding
from imap_gate.policy import GateVerdict
from imap_gate.term import paint

ORDER = ("critical", "high", "medium", "low", "note")


def _where(f: Finding) -> str:
    col = f":{f.location.column}" if f.location.column else ""
    return f"{f.location.path}:{f.location.line}{col}"


def _target(f: Finding) -> str:
    if f.target is None:
        return ""
    return f" [{f.target} {f.host}:{f.port}]" if f.port else f" [{f.target}]"


def render_text(findings: list[Finding], verdict: GateVerdict, quiet: bool = False,
                errors: int = 0, colour: bool = False) -> str:
    """``colour``: severity words and the verdict in ANSI colour (a terminal; see term.py)."""
    lines: list[str] = []
    if not quiet:
        lines += [_text_line(f, colour) for f in findings if not f.waived]
        lines += [_waived_line(f, colour) for f in findings if f.waived]
    lines.append(summary_line(findings, verdict, errors, colour))
    return "\n".join(lines) + "\n"


def _text_line(f: Finding, colour: bool) -> str:
    tag = " (in baseline)" if f.baselined else ""
    word = paint(f.sev.label.upper(), f.sev.label, colour)
    return f"{_where(f)}: {word} {f.rule_id} {f.rule.name}: {f.message}{_target(f)}{tag}"


def _waived_line(f: Finding, colour: bool) -> str:
    return (f"{_where(f)}: {paint('WAIVED', 'waived', colour)} {f.rule_id} "
            f"{f.rule.name}: {f.message}{_target(f)} (reason: {f.waiver_reason})")


def error_line(errors: int) -> str:
    """stdout of a run that could not produce a result: it agrees with exit 2."""
    return f"imap-gate: gate ERROR (exit 2): {errors} error(s) on stderr; nothing was judged"


def counts_text(findings: list[Finding]) -> str:
    """'5 high, 4 medium, 2 waived' (or 'no findings')."""
    return _severity_counts(findings) + _aside(sum(1 for f in findings if f.waived), "waived") + \
        _aside(sum(1 for f in findings if f.baselined and not f.waived), "in baseline")


def _severity_counts(findings: list[Finding]) -> str:
    """'5 high, 4 medium' over the findings that count, worst first ('no findings')."""
    counts = {s: 0 for s in ORDER}
    for f in findings:
        if f.counts:
            counts[f.sev.label] += 1
    return ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no findings"


def _aside(n: int, what: str) -> str:
    """', 2 waived': what does not count, said only when there is some."""
    return f", {n} {what}" if n else ""


def summary_line(findings: list[Finding], verdict: GateVerdict, errors: int = 0,
                 colour: bool = False) -> str:
    threshold = verdict.threshold.label if verdict.threshold else "never"
    parts = counts_text(findings)
    if errors:  # a tool error is exit 2, never a pass, whatever was found besides
        return (f"imap-gate: gate ERROR (exit 2, fail-on {threshold}): {errors} tool error(s), "
                f"the findings may be incomplete: {parts}")
    word = paint("gate FAILED" if verdict.gate == "fail" else "gate passed", verdict.gate, colour)
    return f"imap-gate: {word} (fail-on {threshold}): {parts}"


def _md_escape(text: str) -> str:
    return (text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
            .replace("<", "&lt;").replace(">", "&gt;"))


def render_markdown(findings: list[Finding], verdict: GateVerdict) -> str:
    icon = "❌" if verdict.gate == "fail" else "✅"
    out = [f"## {icon} imap-gate: gate {verdict.gate}", "",
           _md_escape(summary_line(findings, verdict)), ""]
    out += _md_live([f for f in findings if f.counts])
    out += _md_known([f for f in findings if f.baselined and not f.waived])
    out += _md_waived([f for f in findings if f.waived])
    return "\n".join(out)


def _md_live(live: list[Finding]) -> list[str]:
    """The table of findings that count towards the verdict (none: no table)."""
    if not live:
        return []
    out = ["| Severity | Rule | Where | Target | Message |", "|---|---|---|---|---|"]
    for f in live:
        out.append(f"| {f.sev.label} | `{f.rule_id}` {f.rule.name} | `{_md_escape(_where(f))}` | "
                   f"{_md_escape(_target(f).strip(' []'))} | {_md_escape(f.message)} |")
    out.append("")
    return out


def _md_known(known: list[Finding]) -> list[str]:
    """Findings the baseline accepts, folded away: known, not new."""
    if not known:
        return []
    out = [f"<details><summary>{len(known)} findings already in the baseline</summary>", "",
           "| Severity | Rule | Where | Message |", "|---|---|---|---|"]
    for f in known:
        out.append(f"| {f.sev.label} | `{f.rule_id}` | `{_md_escape(_where(f))}` | "
                   f"{_md_escape(f.message)} |")
    out += ["", "</details>", ""]
    return out


def _md_waived(waived: list[Finding]) -> list[str]:
    """Waived findings with the reason each waiver gives."""
    if not waived:
        return []
    out = ["### Waived", "", "| Rule | Where | Reason |", "|---|---|---|"]
    for f in waived:
        out.append(f"| `{f.rule_id}` | `{_md_escape(_where(f))}` | "
                   f"{_md_escape(f.waiver_reason or '')} |")
    out.append("")
    return out
