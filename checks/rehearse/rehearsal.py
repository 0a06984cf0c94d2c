"""One rehearsal: copy and rewrite the tree, start Dovecot, probe it, stop it, clean up.

The probe is the gate's own (``checks.imap.check``), run on a target made for the sandbox:
the listeners on ``LISTEN`` and the probe from ``SOURCE``, another loopback address, so
Dovecot does not take the probe for a local ("secured") client.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imap_gate.findings import Finding
from imap_gate.manifest import Defaults, Endpoint, Manifest, Target

from ..dovecot import loader
from ..dovecot.effective import EffectiveConfig, build
from ..dovecot.version import detect
from . import sandbox, server, throwaway

LISTEN = "127.0.0.2"
SOURCE = "127.0.0.1"
STEP_TIMEOUT = 2.0
ATTEMPTS = 2


@dataclass
class Outcome:
    entry: str
    version: str
    eff: EffectiveConfig
    status: str = "incomplete"        # rehearsed | refused | incomplete
    sandbox: sandbox.Sandbox | None = None
    refusal: server.Refusal | None = None
    refusal_at: tuple[str, int] | None = None   # the committed file and line Dovecot named
    reason: str | None = None         # why it is incomplete
    findings: list[Finding] = field(default_factory=list)   # the probe's, as it reported them
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0
    pid: int | None = None            # the Dovecot master's (and its process group's)


def read(root: Path, entry: str) -> tuple[loader.Loaded, EffectiveConfig]:
    loaded = loader.load(root, entry)
    return loaded, build(entry, loaded.nodes, detect(loaded.nodes))


def _free_port(addr: str) -> int:
    with socket.socket() as s:
        s.bind((addr, 0))
        return s.getsockname()[1]


def _workdir(version: str) -> tuple[Path, str] | None:
    if version == "2.4":
        root = server.rootfs24()
        if root is None:
            return None
        base = root / "tmp"
        base.mkdir(exist_ok=True)
        host = Path(tempfile.mkdtemp(prefix="imap-gate-rehearse-", dir=base))
        return host, "/tmp/" + host.name
    host = Path(tempfile.mkdtemp(prefix="imap-gate-rehearse-"))
    return host, str(host)


def rehearse(root: Path, entry: str, manifest_path: str, now: dt.datetime | None = None,
             start_timeout: float = server.START_TIMEOUT) -> Outcome:
    """Never raises for anything in the configuration: what fails is the outcome."""
    began = time.monotonic()
    loaded, eff = read(root, entry)
    out = Outcome(entry, eff.info.version, eff)
    try:
        if os.geteuid() != 0:
            out.reason = ("a rehearsal needs root (Dovecot's master starts its services as "
                          "their own users)")
            return out
        for _attempt in range(ATTEMPTS):
            out = Outcome(entry, eff.info.version, eff)
            _run(root, loaded, eff, out, manifest_path, now, start_timeout)
            if not _port_race(out):
                break
        if _port_race(out):   # the machine, not the configuration: never a refusal
            out.status, out.reason = "incomplete", out.refusal.message if out.refusal else None
    finally:
        out.seconds = time.monotonic() - began
    return out


def _port_race(out: Outcome) -> bool:
    """Another process took a port between our pick and Dovecot's bind: try again."""
    return out.status == "refused" and out.refusal is not None and \
        "Address already in use" in out.refusal.message


def _run(root: Path, loaded: loader.Loaded, eff: EffectiveConfig, out: Outcome,
         manifest_path: str, now: dt.datetime | None, start_timeout: float) -> None:
    version = eff.info.version
    unfit = _unfit(root, loaded, out.entry)
    if unfit is not None:
        out.reason = unfit
        return
    cmd = server.argv(version, "")
    place = _workdir(version)
    if cmd is None or place is None:
        out.reason = (f"Dovecot {version} is not available on this machine (2.3: the host's "
                      "dovecot; 2.4: the Debian 13 root filesystem, run as root; the Action's "
                      "default image carries neither, see docs/action.md)")
        return
    host_dir, seen_dir = place
    try:
        throwaway.write(host_dir)
        ports = [_free_port(LISTEN) for _ in range(8)]
        sb = sandbox.prepare(root, loaded, eff, host_dir, seen_dir, LISTEN, ports,
                             server.modules_dir(version))
        out.sandbox = sb
        cmd = server.argv(version, sb.conf_seen()) or []
        with server.running(cmd, host_dir, LISTEN, [x.port for x in sb.listeners], SOURCE,
                            start_timeout) as started:
            out.pid = started.pid
            if started.refused is not None:
                _refused(out, started.refused, sb, eff, seen_dir)
                return
            if started.timeout is not None:
                out.reason = started.timeout
                return
            if sb.listeners:
                out.findings, out.facts = _probe(root, sb, manifest_path, now)
            out.status = "rehearsed"
    except OSError as exc:
        out.reason = f"the sandbox could not be built: {exc.strerror or exc}"
    finally:
        shutil.rmtree(host_dir, ignore_errors=True)


def _unfit(root: Path, loaded: loader.Loaded, entry: str) -> str | None:
    """Why the file cannot be rehearsed as committed (unreadable, or template code Dovecot
    would refuse for the wrong reason), or None."""
    text, why = loader.read_text(root, entry)
    if text is None:
        return f"{entry} cannot be read as a configuration: {why}"
    templated = _template_line(loaded)
    if templated is not None:
        return (f"{templated[0]}:{templated[1]} is template code (DOV015): rehearse the "
                "rendered file instead (list it under rehearse:)")
    return None


def _refused(out: Outcome, r: server.Refusal, sb: sandbox.Sandbox, eff: EffectiveConfig,
             seen_dir: str) -> None:
    """Dovecot refused the configuration: the refusal on the committed line it names (or
    the setting its message names); a refusal of the sandbox's own lines is no verdict."""
    r.message = r.message.replace(f"{seen_dir}/tree/", "")
    out.status, out.refusal = "refused", r
    if r.path and r.line:
        out.refusal_at = sb.committed_location(r.path, r.line)
        if out.refusal_at is None and r.path.startswith(f"{seen_dir}/tree/"):
            out.status = "incomplete"
            out.reason = f"the sandbox's own lines were refused: {r.message}"
    elif out.refusal_at is None:
        out.refusal_at = _named_setting(eff, r.message)


def _named_setting(eff: EffectiveConfig, message: str) -> tuple[str, int] | None:
    """A message without a line ("auth_allow_cleartext=yes has no effect with ssl=required"):
    the committed setting it names first, if any."""
    best: tuple[int, tuple[str, int]] | None = None
    for a in eff.all_settings:
        m = re.search(rf"(?<![\w-]){re.escape(a.key)}(?![\w-])", message)
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), (a.loc.path, a.loc.line))
    return best[1] if best else None


def _template_line(loaded: loader.Loaded) -> tuple[str, int] | None:
    """The first line of template code (Jinja, ERB, ...) Dovecot would choke on, if any."""
    from ..dovecot.parser import ParseError, Section
    from ..dovecot.template import is_template_line

    stack = list(loaded.nodes)
    first: tuple[str, int] | None = None
    while stack:
        n = stack.pop()
        if isinstance(n, Section):
            stack.extend(n.children)
        elif isinstance(n, ParseError) and (n.template or is_template_line(n.text)):
            here = (n.loc.path, n.loc.line)
            first = here if first is None or here < first else first
    return first


def _probe(root: Path, sb: sandbox.Sandbox, manifest_path: str, now: dt.datetime | None
           ) -> tuple[list[Finding], dict[str, dict[str, Any]]]:
    from imap_gate.context import Context

    from ..imap.check import run as probe

    target = Target(name="rehearsal", host=sb.listen,
                    endpoints=tuple(Endpoint(x.port, x.protocol) for x in sb.listeners),
                    sni="localhost", ca_file=None, source_address=SOURCE,
                    timeout=STEP_TIMEOUT)
    manifest = Manifest(path=manifest_path, name="rehearsal",
                        defaults=Defaults(timeout=STEP_TIMEOUT, concurrency=8),
                        targets=(target,), dovecot_files=(), firewall_files=(), fail_on=None)
    ctx = Context(root=root, manifest=manifest)
    if now is not None:
        ctx.now = now
    findings = probe(ctx)
    return findings, ctx.facts
