"""The job summary (``$GITHUB_STEP_SUMMARY``): verdict, counts, per-endpoint
matrix, findings with rule links, waived findings, upload status.

GitHub refuses a step summary over 1 MiB, and a fleet can produce 25,000
findings, so the text is budgeted: every fixed part is kept and table rows are
dropped from the end (least severe first) with a line saying how many.
Probe facts come from other families and may be missing or shaped a little
differently; every cell is read defensively and shows "—" when unknown.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from imap_gate.findings import Finding
from imap_gate.policy import GateVerdict
from imap_gate.reports import text
from imap_gate.rules import doc_url

CAP_BYTES = 1024 * 1024 - 16 * 1024   # GitHub's limit is 1 MiB; keep a margin
ROW_CAP = 4000                        # characters of one table row
NONE = "—"
ORDER = ("critical", "high", "medium", "low", "note")

def _get(node: Any, *path: str) -> Any:
    """A nested fact, or None: facts are data from a server and may be any shape."""
    for part in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _cell(value: Any, cap: int = 120) -> str:
    if value is None or value == "" or value == [] or value == {}:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    out = _joined(value)
    if len(out) > cap:
        out = out[:cap] + "…"
    return text._md_escape(out)


def _joined(value: Any) -> str:
    """A list as 'a, b', a mapping as 'k=v, k=v', anything else as str() makes it."""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


_REACH = {"open": "yes", "refused": "refused", "filtered": "filtered", "unreachable": "unreachable"}
_STARTTLS = {"ok": "yes", "not-offered": "no ⚠️", "refused": "refused ⚠️",
             "handshake-failed": "broken ⚠️", "handshake-incomplete": "incomplete ⚠️"}
_INJECTION = {"vulnerable": "vulnerable ⚠️", "not-vulnerable": "no", "rejected": "no"}
_WEAK_ORDER = ("null_anon_export", "rc4_des_md5", "3des")


def _mapped(table: Mapping[str, str], value: Any) -> str:
    if isinstance(value, str) and value in table:
        return table[value]
    if value in (None, "not-tried"):
        return NONE
    return _cell(value)


def _starttls(fx: Mapping[str, Any]) -> str:
    if fx.get("protocol") == "imaps":
        return "implicit TLS" if fx.get("implicit_tls") == "ok" else _mapped({}, None)
    return _mapped(_STARTTLS, fx.get("starttls"))


def _cleartext(fx: Mapping[str, Any], flagged: bool) -> str:
    """IMAP004's verdict where the probe made one; otherwise what the capabilities say."""
    if fx.get("greeting_status") == "PREAUTH":
        return "PREAUTH: no login at all ❌"
    if flagged:
        return "allowed ⚠️"
    if fx.get("connect") != "open":
        return NONE
    if fx.get("protocol") == "imaps":
        return "TLS only"
    caps = fx.get("caps_before_tls")
    if fx.get("auth_plain") == "refused" or (isinstance(caps, list) and "LOGINDISABLED" in caps):
        return "refused"
    return NONE


_CATEGORY = {"null_anon_export": ("NULL/anonymous/export", "❌"),
             "rc4_des_md5": ("RC4/DES/MD5", "❌"), "3des": ("3DES", "⚠️"),
             "static_rsa": ("static RSA, no forward secrecy", "⚠️"),
             "forward_secrecy": ("forward secret", "")}
_SUITE_IN = re.compile(r"cipher=(\S+)")
_OLD_VERSIONS = {"SSLv2": "❌", "SSLv3": "❌", "TLSv1.0": "⚠️", "TLSv1.1": "⚠️"}


def weakest_suite(tls: Any) -> tuple[str, str, str] | None:
    """(suite, category, mark) of the weakest suite the server agreed to, or None.

    The weak categories hold evidence ("ServerHello version=TLSv1.0 cipher=X"): the suite is
    read out of it, so the cell shows the suite and why it is weak, not raw evidence."""
    suites = _get(tls, "suites")
    if not isinstance(suites, Mapping):
        return None
    order = [*_WEAK_ORDER]
    if not suites.get("forward_secrecy"):
        order.append("static_rsa")
    order.append("forward_secrecy")
    for category in order:
        value = suites.get(category)
        if value:
            text_ = str(value)
            m = _SUITE_IN.search(text_)
            label, mark = _CATEGORY[category]
            return (m.group(1) if m else text_), label, mark
    chosen = suites.get("chosen")
    if isinstance(chosen, Mapping) and chosen:
        return str(chosen[sorted(chosen)[0]]), "", ""  # the suite of the oldest version accepted
    return None


def _suite_cell(tls: Any) -> str:
    got = weakest_suite(tls)
    if got is None:
        return NONE
    suite, label, mark = got
    out = _cell(suite) + (f" ({_cell(label)})" if label else "")
    return out + (f" {mark}" if mark else "")


def _versions_cell(tls: Any) -> str:
    accepted = _get(tls, "versions_accepted")
    if not isinstance(accepted, list):
        return _cell(accepted)
    out = _cell(accepted)
    marks = {_OLD_VERSIONS[v] for v in accepted if v in _OLD_VERSIONS}
    return out + (" ❌" if "❌" in marks else " ⚠️" if marks else "")


def _days_cell(tls: Any, warn_days: int = 30) -> str:
    days = _get(tls, "certificate", "days_left")
    if isinstance(days, bool) or not isinstance(days, int):
        return _cell(days)
    if days < 0:
        return f"expired {-days} days ago ❌"
    if days < warn_days:
        return f"{days} ⚠️"
    return str(days)


def not_judged(fx: Mapping[str, Any]) -> str | None:
    """Why the endpoint could not be judged (the probe's problems, an incomplete TLS
    assessment), or None: such a row must never read like a clean one."""
    reasons = []
    problems = fx.get("problems")
    if isinstance(problems, list):
        for p in problems:
            if isinstance(p, Mapping):
                reasons.append(f"{p.get('phase', '?')}: {p.get('reason', '')}".strip(": "))
            elif p:
                reasons.append(str(p))
    incomplete = _get(fx.get("tls"), "incomplete")
    if incomplete:
        reasons.append(f"tls-assessment: {incomplete}")
    return "; ".join(reasons) if reasons else None


def _reach_cell(fx: Mapping[str, Any]) -> str:
    why = not_judged(fx)
    if why:
        return f"not judged ⚠️ ({_cell(why, 200)})"
    if fx.get("connect") == "error":
        return f"error ⚠️ ({_cell(fx.get('connect_detail'), 200)})"
    return _mapped(_REACH, fx.get("connect"))


def endpoint_rows(manifest: Any, facts: Mapping[str, Mapping[str, Any]],
                  findings: list[Finding], now: dt.datetime | None = None) -> list[str]:
    """One row per manifest endpoint, in manifest order, then any facts for others.

    Reads the probe's facts (``checks/imap/facts.py`` ``EndpointFacts``, with
    the TLS assessment under ``tls``) and shows "—" where a fact is absent."""
    warn_days = getattr(getattr(manifest, "defaults", None), "cert_expiry_days", 30)
    rows: list[str] = []
    for name, host, port in _endpoint_keys(manifest, facts):
        fx = facts.get(f"{name}:{port}") or {}
        if not isinstance(fx, Mapping):
            fx = {}
        mine = [f for f in findings if not f.waived and f.target == name and f.port == port]
        rows.append(_endpoint_row(name, host, port, fx, mine, warn_days))
    return rows


def _endpoint_keys(manifest: Any, facts: Mapping[str, Any]) -> list[tuple[str, str, int]]:
    """(target, host, port) of every manifest endpoint in manifest order, then of facts for
    endpoints the manifest does not name (``name:port`` keys, host unknown)."""
    keys: list[tuple[str, str, int]] = []
    for t in getattr(manifest, "targets", ()):
        for e in t.endpoints:
            keys.append((t.name, t.host, e.port))
    known = {f"{n}:{p}" for n, _, p in keys}
    for k in sorted(facts):
        if k not in known and ":" in k:
            name, _, digits = k.rpartition(":")
            keys.append((name, "", int(digits) if digits.isdigit() else 0))
    return keys


def _endpoint_row(name: str, host: str, port: int, fx: Mapping[str, Any],
                  mine: list[Finding], warn_days: int) -> str:
    """One endpoint's row of the matrix; ``mine`` are its unwaived findings."""
    tls = fx.get("tls")
    return "| " + " | ".join([
        f"{_cell(name)} ({_cell(host)})" if host else _cell(name),
        str(port),
        _reach_cell(fx),
        _starttls(fx),
        _cleartext(fx, any(f.rule_id == "IMAP004" for f in mine)),
        _mapped(_INJECTION, fx.get("injection")),
        _versions_cell(tls),
        _suite_cell(tls),
        _days_cell(tls, warn_days),
        str(len(mine)),
    ]) + " |"


MATRIX_HEAD = ["| Target | Port | Reachable | STARTTLS | Cleartext auth | STARTTLS injection | "
               "TLS versions | Weakest suite | Cert days left | Findings |",
               "|---|---|---|---|---|---|---|---|---|---|"]

def blob_base(env: Mapping[str, str]) -> str | None:
    """``$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/blob/$GITHUB_SHA/``: where file locations link
    to, the file at the commit the run judged (as code scanning links them); None outside."""
    repo, sha = env.get("GITHUB_REPOSITORY"), env.get("GITHUB_SHA")
    if not repo or not sha:
        return None
    server = (env.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
    return f"{server}/{quote(repo)}/blob/{quote(sha)}/"


def where_cell(f: Finding, blob: str | None) -> str:
    shown = f"`{text._md_escape(text._where(f))}`"
    if not blob or f.location.path.startswith(("/", "<")):
        return shown
    return f"[{shown}]({blob}{quote(f.location.path)}#L{f.location.line})"


def _rule_cell(f: Finding) -> str:
    return f"[`{f.rule_id}`]({doc_url(f.rule_id)}) {f.rule.name}"


def finding_tables(findings: list[Finding], blob: str | None) -> list[str]:
    """Counting findings, those already in the baseline, and waived ones (with the reason)."""
    return (_live_table([f for f in findings if f.counts], blob)
            + _known_table([f for f in findings if f.baselined and not f.waived], blob)
            + _waived_table([f for f in findings if f.waived], blob))


def _live_table(live: list[Finding], blob: str | None) -> list[str]:
    """The findings that count towards the verdict (none: no table)."""
    if not live:
        return []
    md = text._md_escape
    return ["### Findings", "", "| Severity | Rule | Where | Target | Message |",
            "|---|---|---|---|---|",
            *(f"| {f.sev.label} | {_rule_cell(f)} | {where_cell(f, blob)} | "
              f"{md(text._target(f).strip(' []'))} | {md(f.message)} |" for f in live),
            ""]


def _known_table(known: list[Finding], blob: str | None) -> list[str]:
    """Findings the baseline accepts, folded away."""
    if not known:
        return []
    md = text._md_escape
    return [f"<details><summary>{len(known)} findings already in the baseline</summary>", "",
            "| Severity | Rule | Where | Message |", "|---|---|---|---|",
            *(f"| {f.sev.label} | {_rule_cell(f)} | {where_cell(f, blob)} | {md(f.message)} |"
              for f in known),
            "", "</details>", ""]


def _waived_table(waived: list[Finding], blob: str | None) -> list[str]:
    """Waived findings with each waiver's reason."""
    if not waived:
        return []
    md = text._md_escape
    return ["### Waived", "", "| Rule | Where | Reason |", "|---|---|---|",
            *(f"| {_rule_cell(f)} | {where_cell(f, blob)} | {md(f.waiver_reason or '')} |"
              for f in waived),
            ""]


def counts_table(findings: Iterable[Finding]) -> list[str]:
    counts = {s: 0 for s in ORDER}
    waived = 0
    for f in findings:
        if f.waived:
            waived += 1
        else:
            counts[f.sev.label] += 1
    return ["| " + " | ".join([*ORDER, "waived"]) + " |",
            "|" + "---|" * (len(ORDER) + 1),
            "| " + " | ".join([*(str(counts[s]) for s in ORDER), str(waived)]) + " |"]


def render(result: Any, extra: Iterable[str] = (), cap: int = CAP_BYTES,
           now: dt.datetime | None = None, blob: str | None = None) -> str:
    """The whole summary as Markdown, at most ``cap`` bytes of UTF-8; ``--format markdown``
    prints the same. ``blob`` (see ``blob_base``) turns file locations into links."""
    findings: list[Finding] = list(result.findings)
    verdict: GateVerdict = result.verdict
    gate = "error" if result.errors else verdict.gate
    icon = {"error": "⚠️", "fail": "❌"}.get(gate, "✅")
    body: list[str] = [f"## {icon} imap-gate: gate {gate}", "",
                       text._md_escape(text.counts_text(findings)) + ".", ""]
    if result.errors:
        body += ["> [!CAUTION]", "> The run had tool errors (exit 2); the findings below may be "
                                 "incomplete:", ">"]
        body += [f"> - {text._md_escape(e)}" for e in result.errors[:50]]
        body.append("")
    threshold = verdict.threshold.label if verdict.threshold else "never"
    body += [f"Threshold: **{threshold}**; findings at or above it: **{len(verdict.counting)}**; "
             f"manifest `{text._md_escape(result.manifest.path)}`.", ""]
    body += ["### Counts", "", *counts_table(findings), ""]
    rows = endpoint_rows(result.manifest, result.facts, findings, now or result.ended)
    if rows:
        body += ["### Endpoints", "", *MATRIX_HEAD, *rows, ""]
    body += finding_tables(findings, blob)
    body += list(extra)
    return budget(body, cap)


def budget(lines: list[str], cap: int) -> str:
    """Keep every non-row line; keep table rows in order while the cap allows."""
    lines = [ln if len(ln) <= ROW_CAP else ln[:ROW_CAP] + " … |" for ln in lines]
    note_room = 200
    fixed = sum(_size(ln) for ln in lines if not _is_row(ln))
    room = cap - fixed - note_room * 4
    doc = "\n".join(_fit_rows(lines, room)) + "\n"
    data = doc.encode("utf-8")
    if len(data) > cap:  # only when fixed lines alone overflow: cut hard at a line boundary
        doc = data[: cap - note_room].decode("utf-8", "ignore").rsplit("\n", 1)[0] + \
            "\n\n*Summary cut at GitHub's 1 MiB limit.*\n"
    return doc


def _fit_rows(lines: list[str], room: int) -> list[str]:
    """Every non-row line, and the rows that fit in ``room`` bytes, in order; after each
    table that lost rows, a line that says how many."""
    is_row, size = _is_row, _size
    out: list[str] = []
    dropped = 0
    for i, ln in enumerate(lines):
        if is_row(ln):
            if size(ln) <= room:
                out.append(ln)
                room -= size(ln)
            else:
                dropped += 1
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            if dropped and not is_row(nxt):
                out.append("")
                out.append(f"*{dropped} more row(s) left out to keep the summary under GitHub's "
                           "1 MiB limit; the SARIF and JSON reports have them all.*")
                dropped = 0
        else:
            out.append(ln)
    return out


def _is_row(ln: str) -> bool:
    """A table's row, which ``budget`` may leave out; a table's head it keeps."""
    return ln.startswith("| ") and not ln.startswith("| Severity |") and \
        not ln.startswith("| Rule |") and not ln.startswith("| Target |") and \
        not ln.startswith("| critical |")


def _size(ln: str) -> int:
    """Bytes a line takes in the summary, its newline included."""
    return len(ln.encode("utf-8")) + 1


def render_error(errors: list[str], cap: int = CAP_BYTES) -> str:
    """The summary of a run that never produced findings (bad manifest, bad input, crash)."""
    lines = ["## ⚠️ imap-gate: tool error", "",
             "The gate could not run (exit 2): fix the problems below, then run it again.", "",
             "```text"]
    lines += [e.replace("```", "'''") for e in errors[:200]] or ["(no message)"]
    lines += ["```", ""]
    return budget(lines, cap)
