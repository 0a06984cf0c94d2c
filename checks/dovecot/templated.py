"""DOV015, in one place: what a template decides and the gate therefore cannot judge.

Three sources, each a function the callers run in their place in the finding order:
security settings whose value a template fills in or a template conditional guards
(``settings``, from the judge), lines a template engine owns (``template_lines``, from the
structure checks), and setting names that are placeholders (``templated_name``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from imap_gate.findings import Finding, Location
from imap_gate.rules import Rule
from imap_gate.severity import Severity

from .effective import Assign, EffectiveConfig
from .loader import Loaded
from .parser import Node, ParseError, Section, Setting
from .rules import DOV015
from .template import is_template_line, is_templated, placeholder

# A template line that prints text (a placeholder), not only control flow.
_OUTPUT = re.compile(r"\{\{|<%=|<%-?\s*[a-z_@]+\s*-?%>|^\s*%[a-z]|\bPH_[A-Z]|\$\{|@@|__[A-Z]")

SettingFinding = Callable[[Rule, str, Assign], Finding]


def walk(nodes: list[Node]) -> Iterator[Node]:
    for n in nodes:
        yield n
        if isinstance(n, Section):
            yield from walk(n.children)


def settings(eff: EffectiveConfig, security_keys: frozenset[str],
             finding: SettingFinding) -> list[Finding]:
    """Security settings on the IMAP surface whose value a template or the environment decides."""
    off_surface = _other_listeners(eff)
    out = []
    for a in eff.all_settings:
        if a.key not in security_keys or id(a) in off_surface:
            continue
        msg = _undecided(a)
        if msg is not None:
            out.append(finding(DOV015, msg, a))
    return out


def _other_listeners(eff: EffectiveConfig) -> set[int]:
    """Settings of lmtp, stats, sieve ... listeners: not the IMAP attack surface."""
    imap = {id(a) for lst in eff.listeners.values() if lst.service == "imap-login"
            for a in lst.assigns.values()}
    return {id(a) for lst in eff.listeners.values() for a in lst.assigns.values()} - imap


def _undecided(a: Assign) -> str | None:
    if a.templated and a.setting.conditional and not (
            is_templated(a.setting.value) or is_templated(a.setting.raw)):
        return (f"{a.key} = {a.setting.value} is set inside a template "
                "conditional or loop: whether it applies is decided when the template "
                "is rendered, so its value could not be judged.")
    if a.templated:
        return (f"{a.key} is a template placeholder "
                f"({placeholder(a.setting.value)}); its value could not be judged.")
    if a.value is None and "$ENV:" in a.setting.value:
        return (f"{a.key} comes from an environment variable "
                f"({a.setting.value}); its value could not be judged.")
    return None


def templated_files(loaded: Loaded) -> set[str]:
    """Files with at least one line a template engine owns."""
    return {path for path, pf in loaded.files.items()
            if any(isinstance(n, ParseError) and (n.template or is_template_line(n.text))
                   for n in walk(pf.nodes))}


def is_template_error(node: ParseError, in_templated_file: bool) -> bool:
    """A parse error that a template explains: its own line, or a brace a template unbalanced."""
    return node.template or is_template_line(node.text) or (
        in_templated_file and ("section" in node.message or "'}'" in node.message))


def split_errors(loaded: Loaded) -> tuple[list[ParseError], list[ParseError]]:
    """The parse errors of the tree, in order: (those doveconf refuses, those a template
    explains), in one walk."""
    templated = templated_files(loaded)
    plain: list[ParseError] = []
    template: list[ParseError] = []
    for node in walk(loaded.nodes):
        if isinstance(node, ParseError):
            (template if is_template_error(node, node.loc.path in templated)
             else plain).append(node)
    return plain, template


def template_lines(errors: list[ParseError]) -> list[Finding]:
    """One DOV015 per file for the lines a template engine owns (not DOV013: a template
    construct is never a config error)."""
    lines: dict[str, list[int]] = {}
    output: set[str] = set()   # files with a template line that may print settings
    for node in errors:
        lines.setdefault(node.loc.path, []).append(node.loc.line)
        if node.message == "template code" or _OUTPUT.search(node.text):
            output.add(node.loc.path)
    return [_template_lines(path, found, path in output) for path, found in lines.items()]


def _template_lines(path: str, lines: list[int], prints: bool) -> Finding:
    if prints:
        return DOV015.finding(
            f"{len(lines)} template line(s) in {path} (first at line {lines[0]}) "
            "could not be parsed; settings they produce are not judged.",
            Location(path, lines[0], 1), file=path, setting="<template lines>")
    # only control flow ({% if %}, {% endif %}, <% end %>) and the lines it joins: the
    # settings inside are judged as conditional (DOV015 on each that decides a verdict)
    return DOV015.finding(
        f"{len(lines)} template control line(s) in {path} (first at line "
        f"{lines[0]}): the settings inside them are judged as conditional.",
        Location(path, lines[0], 1), severity=Severity.LOW,
        file=path, setting="<template lines>")


def templated_name(s: Setting) -> Finding | None:
    """A setting name that is a placeholder: neither the setting nor its value is known."""
    if not is_templated(s.key):
        return None
    return DOV015.finding(
        f"The setting name {s.key} is a template placeholder; which setting "
        "it becomes, and its value, could not be judged.", s.loc, evidence=s.text,
        file=s.loc.path, setting=s.key, error="templated-name")
