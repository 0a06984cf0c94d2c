"""The firewall check: lint every firewall file the manifest names, once each.

Files are read only inside the root (nftables includes and ufw's settings files
too). Each file's verdict is published as ``artefact.VERDICTS`` for the DRIFT
rules; a file that cannot be read or understood becomes FW006, never an exception.
"""

from __future__ import annotations

import glob as globmod
import posixpath
from pathlib import Path

from imap_gate.context import Context
from imap_gate.findings import Finding, Location
from imap_gate.manifest import FirewallFile
from imap_gate.paths import is_inside, rel

from .. import Check
from . import detect, iptables_save, iptables_script, nftables, ufw
from .artefact import VERDICTS
from .judge import judge
from .model import IfaceView, Parsed, ParseIssue, no_cyclic_gc
from .rules import FW006
from .verdict import FirewallVerdict

MAX_BYTES = 64 * 1024 * 1024


def _files(ctx: Context) -> list[FirewallFile]:
    out: dict[str, FirewallFile] = {}
    for ff in [*ctx.manifest.firewall_files, *(f for t in ctx.manifest.targets for f in t.firewall)]:
        prev = out.get(ff.path)
        if prev is None or (prev.format is None and ff.format is not None) or \
                (iface_view(prev) is None and iface_view(ff) is not None):
            out[ff.path] = ff
    return list(out.values())


class RootReader:
    """Reads text files under the root only; every path is POSIX and relative to it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def read(self, relpath: str) -> str | None:
        p = self.root / relpath
        if not is_inside(self.root, p) or not p.is_file():
            return None
        try:
            data = p.read_bytes()[:MAX_BYTES]
        except OSError:
            return None
        return data.decode("utf-8", errors="replace")

    def include(self, including: str, name: str) -> list[tuple[str, str]]:
        """nftables ``include``: relative to the including file, absolute ones mapped into the root."""
        if name.startswith("/"):
            candidates = [name.lstrip("/")]
        else:
            candidates = [posixpath.normpath(posixpath.join(posixpath.dirname(including), name)),
                          posixpath.normpath(name)]
        for cand in candidates:
            if cand.startswith("../") or cand == "..":
                continue
            if globmod.has_magic(cand):
                hits = sorted(globmod.glob(str(self.root / cand)))
                out = []
                for h in hits:
                    r = rel(self.root, Path(h))
                    text = self.read(r)
                    if text is not None:
                        out.append((r, text))
                if out:
                    return out
                continue
            text = self.read(cand)
            if text is not None:
                return [(cand, text)]
        return []


def _ufw_settings(reader: RootReader, path: str, extra: list[tuple[str, str]]) -> ufw.Settings:
    """/etc/default/ufw and ufw.conf next to a ufw file (or named in the manifest)."""
    s = ufw.Settings()
    d = posixpath.dirname(path)
    seen: set[str] = set()
    for cand in (posixpath.join(d, "ufw.conf"), posixpath.normpath(posixpath.join(d, "../default/ufw")),
                 posixpath.join(d, "default", "ufw")):
        if cand.startswith("..") or cand in seen:
            continue
        seen.add(cand)
        text = reader.read(cand)
        if text is not None:
            ufw.read_settings(text, cand, s)
    for p, text in extra:
        if p not in seen:
            ufw.read_settings(text, p, s)
    s.issues = []  # the settings files report their own problems when they are linted
    return s


def lint_text(text: str, path: str, fmt: str | None, reader: RootReader | None = None,
              ufw_extra: list[tuple[str, str]] | None = None,
              ifaces: IfaceView | None = None) -> FirewallVerdict:
    """Parse one file's text; pure apart from the reader for includes and ufw settings.

    ``ifaces``: the manifest's interface declarations, which the evaluator applies to every
    format alike (a rule bound to an undeclared interface is taken to face the internet)."""
    with no_cyclic_gc():
        v = _lint_text(text, path, fmt, reader, ufw_extra)
    if ifaces is not None and v.parsed is not None:
        for rs in v.parsed.rulesets.values():
            rs.ifaces = ifaces
    return v


def iface_view(ff: FirewallFile) -> IfaceView | None:
    if ff.internal_interfaces is None and ff.public_interfaces is None:
        return None
    return IfaceView(ff.internal_interfaces or (), ff.public_interfaces or ())


def _lint_text(text: str, path: str, fmt: str | None, reader: RootReader | None,
               ufw_extra: list[tuple[str, str]] | None) -> FirewallVerdict:
    fmt = detect.detect(text, path, fmt)
    if fmt is None:
        return FirewallVerdict(path, None, None)
    parsed: Parsed
    if fmt == "iptables-save":
        parsed = iptables_save.parse(text, path)
    elif fmt == "iptables-script":
        parsed = iptables_script.parse(text, path)
    elif fmt == "nftables":
        inc = None
        if reader is not None:
            rd = reader

            def inc(including: str, name: str) -> list[tuple[str, str]]:
                return rd.include(including, name)
        parsed = nftables.parse(text, path, inc)
    elif fmt in ("ufw-rules", "ufw-script"):
        settings = _ufw_settings(reader, path, ufw_extra or []) if reader else ufw.Settings()
        parsed = ufw.parse_rules(text, path, settings) if fmt == "ufw-rules" else \
            ufw.parse_script(text, path, settings)
    elif fmt == "ufw-default":
        parsed = ufw.parse_default(text, path)
    elif fmt == "ufw-conf":
        parsed = ufw.parse_conf(text, path)
    else:
        from . import firewalld  # here: its XML reader imports much of the standard library

        parsed = firewalld.parse(text, path, firewalld.repo_services(reader.read, path)
                                 if reader is not None else None)
    return FirewallVerdict(path, fmt, parsed)


def run(ctx: Context) -> list[Finding]:
    reader = RootReader(ctx.root)
    verdicts: dict[str, FirewallVerdict] = {}
    findings: list[Finding] = []
    files = _files(ctx)
    texts: dict[str, str | None] = {ff.path: reader.read(ff.path) for ff in files}
    ufw_extra = [(ff.path, t) for ff in files if (t := texts[ff.path]) is not None and
                 detect.detect(t, ff.path, ff.format) in ("ufw-default", "ufw-conf")]
    for ff in files:
        text = texts[ff.path]
        if text is None:
            findings.append(FW006.finding(f"The firewall file {ff.path} cannot be read, so its "
                                          "IMAP exposure cannot be judged.",
                                          Location(ff.path, 1), key=f"file={ff.path};unreadable"))
            continue
        try:
            verdicts[ff.path] = lint_text(text, ff.path, ff.format, reader, ufw_extra,
                                          iface_view(ff))
        except Exception as exc:
            verdicts[ff.path] = FirewallVerdict(ff.path, ff.format or "unknown", Parsed(
                ff.format or "unknown", path=ff.path, issues=[ParseIssue(
                    Location(ff.path, 1), f"the firewall reader failed ({type(exc).__name__}); "
                                          "please report this file")]))
    peers = list(verdicts.values())
    with no_cyclic_gc():
        for v in peers:
            findings += judge(v, peers)
    ctx.artefacts.put(VERDICTS, verdicts)
    return findings


CHECK = Check(name="firewall", kind="lint", run=run)
