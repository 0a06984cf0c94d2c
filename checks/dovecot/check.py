"""The dovecot check: lint every committed Dovecot configuration (load -> judge -> publish).

Each top-level file (from ``configs.dovecot`` and every ``targets[].dovecot``)
is read with its includes (``loader``), judged once (``judge`` for the settings,
``structure`` for what doveconf refuses, ``suppress`` for inline waivers), and its
effective settings are published as ``artefact.CONFIGS`` ({rel path: EffectiveConfig}) for
the drift rules. A file that another listed file includes is judged as part of that parent,
not on its own, and its entry in the results is the parent's EffectiveConfig.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from imap_gate.context import Context
from imap_gate.findings import Finding

from .. import Check
from . import loader, structure, suppress
from .artefact import CONFIGS
from .effective import EffectiveConfig, build
from .judge import judge
from .version import detect


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
    findings += structure.refusals(loaded, eff)
    findings = suppress.apply(findings, loaded)
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
    if not _has_raw_bytes(f):
        return f
    related = tuple(replace(r, message=_escape(r.message)) if r.message else r
                    for r in f.related)
    return replace(f, message=_escape(f.message), evidence=_escape(f.evidence),
                   key=_escape(f.key) if f.key else f.key, related=related)


def _has_raw_bytes(f: Finding) -> bool:
    texts = (f.message, f.evidence, f.key or "", *(r.message or "" for r in f.related))
    return any(_has_surrogate(t) for t in texts)


def _has_surrogate(text: str) -> bool:
    return not text.isascii() and any("\udc80" <= ch <= "\udcff" for ch in text)


def _escape(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


Linted = tuple[str, list[Finding], EffectiveConfig, loader.Loaded]


def run(ctx: Context) -> list[Finding]:
    results: dict[str, EffectiveConfig] = {}
    ctx.artefacts.put(CONFIGS, results)
    files = listed_files(ctx)
    linted: list[Linted] = [(top, *lint_file(ctx.root, top)) for top in files]
    parent_of = _parents(linted)
    out: list[Finding] = []
    for top, findings, eff, _ in linted:
        if top in parent_of and parent_of.get(parent_of[top]) != top:
            continue      # judged as part of its parent (an include cycle keeps both)
        results[top] = eff
        out.extend(findings)
    _share_parents(results, parent_of, files)
    return out


def _share_parents(results: dict[str, EffectiveConfig], parent_of: dict[str, str],
                   files: list[str]) -> None:
    """A listed file that a listed parent includes maps to the parent's settings: those
    are what Dovecot runs with, and a target may name either file."""
    for child, parent in parent_of.items():
        if child in files and child not in results and parent in results:
            results[child] = results[parent]


def _parents(linted: list[Linted]) -> dict[str, str]:
    """Each file another linted file includes -> the first file that includes it."""
    parent_of: dict[str, str] = {}
    for top, _, _, loaded in linted:
        for f in sorted(loaded.included):
            if f != top:
                parent_of.setdefault(f, top)
    return parent_of


CHECK = Check(name="dovecot", kind="lint", run=run)
