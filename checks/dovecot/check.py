"""The dovecot check: lint every committed Dovecot configuration.

Each top-level file (from ``configs.dovecot`` and every ``targets[].dovecot``)
is read with its includes, judged once, and its effective settings are left in
``ctx.results["dovecot"]`` ({rel path: EffectiveConfig}) for the drift rules. A file
that another listed file includes is judged as part of that parent, not on its own, and
its entry in the results is the parent's EffectiveConfig.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from checks import Check
from checks.dovecot import loader, names, v24
from checks.dovecot.effective import EffectiveConfig, build
from checks.dovecot.judge import judge
from checks.dovecot.parser import Node, ParseError, Section, Setting
from checks.dovecot.template import is_template_line, is_templated
from checks.dovecot.version import ONLY_23, RENAMED_24, detect
from imap_gate.context import Context
from imap_gate.findings import Finding, Location
from imap_gate.severity import Severity

_ENUMS_23 = {
    "ssl": ("yes", "no", "required"),
    "disable_plaintext_auth": ("yes", "no"),
    "ssl_min_protocol": ("ANY", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3", "LATEST"),
}
_ENUMS_24 = {
    "ssl": ("yes", "no", "required"),
    "auth_allow_cleartext": ("yes", "no"),
    # SSLv3 has a finding of its own (v24.refusals)
    "ssl_min_protocol": (*v24.MIN_PROTOCOLS_24, "SSLv3"),
    "ssl_server_prefer_ciphers": ("client", "server"),
}


def listed_files(ctx: Context) -> list[str]:
    """The union of ``configs.dovecot`` and every target's ``dovecot``, each once, in order."""
    seen: list[str] = []
    for f in ctx.manifest.dovecot_files:
        if f not in seen:
            seen.append(f)
    for t in ctx.manifest.targets:
        for f in t.dovecot:
            if f not in seen:
                seen.append(f)
    return seen


def lint_file(root: Path, top: str) -> tuple[list[Finding], EffectiveConfig, loader.Loaded]:
    """Lint one top-level file (with its includes); never raises on bad content."""
    loaded = loader.load(root, top)
    info = detect(loaded.nodes)
    eff = build(top, loaded.nodes, info)
    eff.partial = bool(loaded.unread)

    def read_pointed(base: str, text: str) -> tuple[str | None, bytes | None]:
        return loader.read_pointed_file(root, base, text)

    findings = judge(eff, read_pointed)
    findings += _structure(loaded, eff)
    findings = _apply_suppressions(findings, loaded)
    return [_printable(_name_mapping(f, loaded)) for f in findings], eff, loaded


def _name_mapping(f: Finding, loaded: loader.Loaded) -> Finding:
    """A finding in a file read for an absolute ``!include`` says which host path it stands
    for (``loader.repo_places``): the reader can check that the mapping is the right one."""
    host = loaded.mapped.get(f.location.path)
    if host is None:
        return f
    note = f"(read from {f.location.path} for !include {host})"
    return replace(f, evidence=f"{f.evidence} {note}" if f.evidence else note)


def _printable(f: Finding) -> Finding:
    """Findings are UTF-8 text (SARIF, fingerprints): a byte that was not UTF-8 in the file
    (kept as a lone surrogate, see ``loader.decode``) is shown as ``\\xNN``."""
    texts = (f.message, f.evidence, f.key or "")
    if not any(_has_surrogate(t) for t in texts) and \
            not any(r.message and _has_surrogate(r.message) for r in f.related):
        return f
    related = tuple(replace(r, message=_escape(r.message)) if r.message else r
                    for r in f.related)
    return replace(f, message=_escape(f.message), evidence=_escape(f.evidence),
                   key=_escape(f.key) if f.key else f.key, related=related)


def _has_surrogate(text: str) -> bool:
    return not text.isascii() and any("\udc80" <= ch <= "\udcff" for ch in text)


def _escape(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _structure(loaded: loader.Loaded, eff: EffectiveConfig) -> list[Finding]:
    """DOV013 (and DOV015 for template lines): what keeps doveconf from loading the files."""
    out: list[Finding] = []
    for p in loaded.problems:
        sev = Severity.NOTE if p.severity == "note" else None
        out.append(Finding("DOV013", p.message, p.loc, severity=sev, evidence=p.text,
                           key=f"file={p.loc.path};error={_slug(p.message)}"))
    templ_lines: dict[str, list[int]] = {}
    output_lines: set[str] = set()   # files with a template line that may print settings
    templated_files = {path for path, pf in loaded.files.items()
                       if any(isinstance(n, ParseError) and (n.template or is_template_line(n.text))
                              for n in _walk_all(pf.nodes))}
    for node in _walk_all(loaded.nodes):
        if isinstance(node, ParseError):
            if node.template or is_template_line(node.text) or (node.loc.path in templated_files and \
                    ("section" in node.message or "'}'" in node.message)):
                templ_lines.setdefault(node.loc.path, []).append(node.loc.line)
                if node.message == "template code" or _OUTPUT.search(node.text):
                    output_lines.add(node.loc.path)
                continue
            out.append(Finding("DOV013", f"{node.loc.path}:{node.loc.line}: {node.message}; "
                               "doveconf refuses this configuration.", node.loc,
                               evidence=node.text,
                               key=f"file={node.loc.path};error={_slug(node.message)}"))
    for path, lines in templ_lines.items():
        if path in output_lines:
            out.append(Finding(
                "DOV015", f"{len(lines)} template line(s) in {path} (first at line {lines[0]}) "
                "could not be parsed; settings they produce are not judged.",
                Location(path, lines[0], 1), key=f"file={path};setting=<template lines>"))
        else:
            # only control flow ({% if %}, {% endif %}, <% end %>) and the lines it joins: the
            # settings inside are judged as conditional (DOV015 on each that decides a verdict)
            out.append(Finding(
                "DOV015", f"{len(lines)} template control line(s) in {path} (first at line "
                f"{lines[0]}): the settings inside them are judged as conditional.",
                Location(path, lines[0], 1), severity=Severity.LOW,
                key=f"file={path};setting=<template lines>"))
    info = eff.info
    if info.mixed is not None:
        old, new = info.mixed
        out.append(Finding(
            "DOV013", f"The configuration mixes Dovecot 2.3 and 2.4 names ({old.key} here, "
            f"{new.key} at {new.loc.path}:{new.loc.line}); neither version will load it "
            f"(doveconf 2.4: {old.key}: Unknown setting: {old.key}"
            + (f"; 2.4 uses {RENAMED_24[old.key]}" if old.key in RENAMED_24 else "") + ").",
            old.loc, evidence=old.text, related=(Location(new.loc.path, new.loc.line,
                                                          new.loc.column, f"2.4 name {new.key}"),),
            key=f"file={old.loc.path};setting={old.key};error=mixed-versions"))
    if info.version == "2.4" and info.declared is None:
        first = loaded.files[loaded.top].first_setting if loaded.top in loaded.files else None
        cands = [s for s in (first, info.evidence) if s is not None and s.loc.path == loaded.top]
        where = min(cands, key=lambda s: s.loc.line) if cands else (first or info.evidence)
        if where is not None:
            told = info.evidence.key if info.evidence is not None else where.key
            out.append(Finding(
                "DOV013", f"{loaded.top} is a Dovecot 2.4 configuration ({told} tells 2.4) "
                "without dovecot_config_version; "
                "2.4 refuses it (doveconf: The first setting must be dovecot_config_version). "
                "Put `dovecot_config_version = 2.4.0` first, or, if this file is a fragment "
                "that a main dovecot.conf includes, list that main file in the manifest.",
                where.loc, evidence=where.text,
                key=f"file={loaded.top};setting=dovecot_config_version;error=missing"))
    if info.declared is not None:
        first = next((pf.first_setting for p, pf in loaded.files.items() if p == loaded.top),
                     None)
        d = info.evidence
        if first is not None and d is not None and first is not d:
            out.append(Finding(
                "DOV013", f"dovecot_config_version must be the first setting in {loaded.top}, "
                f"but {first.key} comes first (line {first.loc.line}); Dovecot 2.4 refuses this "
                "(doveconf: The first setting must be dovecot_config_version).",
                first.loc, evidence=first.text,
                key=f"file={loaded.top};setting=dovecot_config_version;error=not-first"))
    for a in eff.all_settings:
        allowed = (_ENUMS_24 if info.version == "2.4" else _ENUMS_23).get(a.key)
        if allowed is None or a.value is None or a.templated:
            continue
        if a.key == "ssl" and a.setting.loc and _inside_listener(eff, a):
            allowed = ("yes", "no")
        if a.value not in allowed:
            out.append(Finding(
                "DOV013", f"{a.key} = '{a.value}' is not a valid value (use one of "
                f"{', '.join(allowed)}); Dovecot refuses to start.", a.loc,
                evidence=a.setting.text, key=f"file={a.loc.path};setting={a.key};error=value"))
    out += _unknown_names(loaded, eff)
    out += _unknown_protocols(eff)
    out += v24.refusals(eff, loaded.files[loaded.top].first_setting
                        if loaded.top in loaded.files else None)
    return out


# A template line that prints text (a placeholder), not only control flow.
_OUTPUT = re.compile(r"\{\{|<%=|<%-?\s*[a-z_@]+\s*-?%>|^\s*%[a-z]|\bPH_[A-Z]|\$\{|@@|__[A-Z]")


# What ``protocols`` may name: the services Debian's packages ship (sieve is ManageSieve),
# ``none``, and 1.x's imaps/pop3s, which 2.3 converts.
PROTOCOLS = frozenset({"imap", "pop3", "lmtp", "submission", "sieve", "none", "imaps", "pop3s"})


def _unknown_protocols(eff: EffectiveConfig) -> list[Finding]:
    """doveconf: ``protocols: Unknown protocol: X``."""
    a = eff.root.get("protocols")
    if a is None or a.value is None or a.templated or a.setting.kind == "block":
        return []
    bad = [w for w in a.value.replace(",", " ").split() if w not in PROTOCOLS]
    if not bad:
        return []
    return [Finding("DOV013", f"{a.loc.path}:{a.loc.line}: protocols: Unknown protocol: {bad[0]} "
                    f"(known: {', '.join(sorted(PROTOCOLS - {'imaps', 'pop3s'}))}); doveconf "
                    f"{eff.info.version} refuses this configuration.", a.loc,
                    evidence=a.setting.text,
                    key=f"file={a.loc.path};setting=protocols;error=unknown-protocol")]


def _unknown_names(loaded: loader.Loaded, eff: EffectiveConfig) -> list[Finding]:
    """DOV013 for every name doveconf of the file's version does not know (``Unknown
    setting``): unknown to every release of that major version and to its plugins."""
    info = eff.info
    version = info.version
    already = info.mixed[0] if info.mixed is not None else None
    out: list[Finding] = []
    for s, sections in _settings_in(loaded.nodes, ()):
        if s is already or s.key.startswith("@"):
            continue
        full = names.resolve_24(s.key, sections) if version == "2.4" else None
        kind = names.list_kind(full) if full is not None else None
        if kind == "strlist" and s.kind != "block":
            out.append(Finding(
                "DOV013", f"{s.loc.path}:{s.loc.line}: {s.key}: Setting is a string list, use "
                f"'{s.key} {{' (one `NAME = value` a line); doveconf 2.4 refuses this "
                "configuration.", s.loc, evidence=s.text,
                key=f"file={s.loc.path};setting={s.key};error=strlist"))
            continue
        if kind == "boollist" and s.kind == "value" and s.raw[:1] in ("'", '"') and \
                not (len(s.raw) >= 2 and s.raw[-1] == s.raw[0]):
            out.append(Finding(
                "DOV013", f"{s.loc.path}:{s.loc.line}: {s.key}: Missing ending '{s.raw[0]}'; "
                "doveconf 2.4 refuses this configuration.", s.loc, evidence=s.text,
                key=f"file={s.loc.path};setting={s.key};error=quote"))
            continue
        if version == "2.3" and s.key.startswith("auth_") and \
                any(t in ("remote", "local", "local_name") for t, _ in sections):
            out.append(Finding(
                "DOV013", f"{s.loc.path}:{s.loc.line}: Auth settings not supported inside "
                f"local/remote blocks: {s.key}; doveconf 2.3 refuses this configuration.",
                s.loc, evidence=s.text, key=f"file={s.loc.path};setting={s.key};error=scope"))
            continue
        if is_templated(s.key):
            out.append(Finding(
                "DOV015", f"The setting name {s.key} is a template placeholder; which setting "
                "it becomes, and its value, could not be judged.", s.loc, evidence=s.text,
                key=f"file={s.loc.path};setting={s.key};error=templated-name"))
            continue
        if names.known(version, s.key, sections) is not False:
            continue
        if version == "2.4" and (s.key in ONLY_23 or s.key in names.settings("2.3")):
            new = RENAMED_24.get(s.key)
            hint = (f"; {s.key} is a Dovecot 2.3 name that 2.4 no longer knows"
                    + (f" (2.4 uses {new})" if new else ""))
        elif version == "2.3" and s.key in names.settings("2.4"):
            hint = f"; {s.key} is a Dovecot 2.4 name, and this file is read as 2.3"
        else:
            hint = ""
        where = " inside " + " ".join(f"{t} {n}".strip() for t, n in sections[-1:]) \
            if sections else ""
        out.append(Finding(
            "DOV013", f"{s.loc.path}:{s.loc.line}: Unknown setting: {s.key}{where}{hint}; "
            f"doveconf {version} refuses this configuration.", s.loc, evidence=s.text,
            key=f"file={s.loc.path};setting={s.key};error=unknown-setting"))
    if version == "2.3":
        out += _unknown_sections_23(loaded.nodes, None)
    return out


# 2.3's blocks and the blocks each may hold (a ``service`` inside a ``service`` is refused:
# doveconf 2.3 "Unknown setting: service").
_SUBSECTIONS_23 = {"service": {"inet_listener", "unix_listener", "fifo_listener"},
                   "namespace": {"mailbox"}, "mailbox": set(), "inet_listener": set(),
                   "unix_listener": set(), "fifo_listener": set(), "passdb": set(),
                   "userdb": set()}


def _unknown_sections_23(nodes: list[Node], parent: str | None) -> list[Finding]:
    out: list[Finding] = []
    for n in nodes:
        if not isinstance(n, Section) or n.type == "<error>" or is_templated(n.type):
            continue
        allowed = _SUBSECTIONS_23.get(parent) if parent is not None else None
        if allowed is not None and n.type not in allowed:
            out.append(Finding(
                "DOV013", f"{n.loc.path}:{n.loc.line}: a '{n.type}' block cannot stand inside "
                f"'{parent}' (doveconf 2.3: Unknown setting: {n.type}); is a '}}' missing "
                "above?", n.loc, evidence=n.text,
                key=f"file={n.loc.path};section={parent}/{n.type};error=unknown-section"))
            continue
        if parent is None and not n.name and n.type in names.settings("2.3") and \
                n.type not in _SUBSECTIONS_23:
            out.append(Finding(
                "DOV013", f"{n.loc.path}:{n.loc.line}: {n.type} is a setting, not a block, in "
                f"Dovecot 2.3 (write `{n.type} = ...`; the block form is 2.4 syntax); doveconf "
                "2.3 refuses this configuration.", n.loc, evidence=n.text,
                key=f"file={n.loc.path};section={n.type};error=setting-as-block"))
            continue
        inner = n.type if n.type in _SUBSECTIONS_23 else (parent if n.type in names.FILTERS
                                                          else "<free>")
        if inner != "<free>":
            out += _unknown_sections_23(n.children, inner)
    return out


def _settings_in(nodes: list[Node], sections: tuple[tuple[str, str], ...]):
    for n in nodes:
        if isinstance(n, Setting):
            yield n, sections
        elif isinstance(n, Section) and n.type != "<error>" and not is_templated(n.type):
            inner = sections if n.type == "group" and n.name.startswith("@") else \
                (*sections, (n.type, n.name))
            yield from _settings_in(n.children, inner)


def _inside_listener(eff: EffectiveConfig, a: object) -> bool:
    return any(a in lst.assigns.values() for lst in eff.listeners.values())


def _slug(msg: str) -> str:
    """A line-number-free identity for an error message."""
    words = [w for w in msg.replace(":", " ").split() if not any(c.isdigit() for c in w)]
    return "-".join(words[:8]).lower()


def _walk_all(nodes: list[Node]):
    for n in nodes:
        yield n
        if isinstance(n, Section):
            yield from _walk_all(n.children)


def _apply_suppressions(findings: list[Finding], loaded: loader.Loaded) -> list[Finding]:
    """``# imap-gate: ignore[DOV008] reason`` on the line or the line above."""
    by_file: dict[str, dict[int, list]] = {}
    for path, pf in loaded.files.items():
        for s in pf.suppressions:
            by_file.setdefault(path, {}).setdefault(s.line, []).append(s)
    if not by_file:
        return findings
    out: list[Finding] = []
    reported: set[tuple[str, int]] = set()
    for f in findings:
        sups = by_file.get(f.location.path, {})
        match = None
        for line in (f.location.line, f.location.line - 1):
            for s in sups.get(line, []):
                if f.rule_id in s.rules or f.rule.name.upper() in s.rules:
                    match = s
                    break
            if match:
                break
        if match is None:
            out.append(f)
        elif not match.reason:
            out.append(f)
            if (match.path, match.line) not in reported:
                reported.add((match.path, match.line))
                out.append(Finding(
                    "DOV013", f"The inline suppression of {f.rule_id} has no reason, so it is "
                    "ignored and the finding still counts; write "
                    f"'# imap-gate: ignore[{f.rule_id}] <why this is acceptable>'.",
                    Location(match.path, match.line, 1),
                    key=f"file={match.path};suppression={f.rule_id};error=no-reason"))
        else:
            out.append(f.with_waiver(f"inline: {match.reason}"))
    return out


def run(ctx: Context) -> list[Finding]:
    results: dict[str, EffectiveConfig] = {}
    ctx.results["dovecot"] = results
    files = listed_files(ctx)
    linted: list[tuple[str, list[Finding], EffectiveConfig, loader.Loaded]] = []
    for top in files:
        findings, eff, loaded = lint_file(ctx.root, top)
        linted.append((top, findings, eff, loaded))
    parent_of: dict[str, str] = {}
    for top, _, _, loaded in linted:
        for f in sorted(loaded.included):
            if f != top:
                parent_of.setdefault(f, top)
    out: list[Finding] = []
    for top, findings, eff, _ in linted:
        if top in parent_of and parent_of.get(parent_of[top]) != top:
            continue
        results[top] = eff
        out.extend(findings)
    # A listed file that a listed parent includes maps to the parent's settings: those
    # are what Dovecot runs with, and a target may name either file.
    for child, parent in parent_of.items():
        if child in files and child not in results and parent in results:
            results[child] = results[parent]
    return out


CHECK = Check(name="dovecot", kind="lint", run=run)
