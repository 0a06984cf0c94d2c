"""Declared versus live: what the committed files say against what the probe saw.

Reads the typed artefacts the other families published (``ctx.artefacts``: effective
Dovecot settings, firewall verdicts, the probe's endpoints with its own judgements). It
never touches the network or the filesystem itself, and never reads other rules' findings.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from imap_gate.context import Context
from imap_gate.findings import Finding, Location
from imap_gate.manifest import Target
from imap_gate.rules import Rule

from .. import Check
from ..dovecot.artefact import CONFIGS
from ..firewall.artefact import VERDICTS
from ..imap.artefact import ENDPOINTS, LiveEndpoint
from .rules import DRIFT001, DRIFT002, DRIFT003

if TYPE_CHECKING:
    from ..dovecot.effective import EffectiveConfig
    from ..firewall.verdict import FirewallVerdict

MODERN = {"TLSv1.2", "TLSv1.3"}


def _configs(ctx: Context, target: Target) -> list[tuple[str, EffectiveConfig]]:
    known = ctx.artefacts.get(CONFIGS) or {}
    return [(p, known[p]) for p in target.dovecot if p in known]


def _firewalls(ctx: Context, target: Target) -> list[tuple[str, FirewallVerdict]]:
    known = ctx.artefacts.get(VERDICTS) or {}
    return [(f.path, known[f.path]) for f in target.firewall if f.path in known]


def _endpoint(ctx: Context, target: Target, port: int) -> LiveEndpoint | None:
    return (ctx.artefacts.get(ENDPOINTS) or {}).get((target.name, port))


def _family(host: str, live: LiveEndpoint | None) -> str:
    addr = (live.remote_address if live else None) or host
    try:
        return "ipv6" if ipaddress.ip_address(str(addr).split("%")[0]).version == 6 else "ipv4"
    except ValueError:
        return "ipv4"


def _is_outside(source: str | None) -> bool:
    """Loopback traffic never crosses the firewall's internet rules (``-i lo -j ACCEPT``):
    only a probe from a real interface address can confirm or refute them."""
    if not source:
        return False
    try:
        return not ipaddress.ip_address(source.split("%")[0]).is_loopback
    except ValueError:
        return False


def _finding(rule: Rule, ctx: Context, target: Target, port: int | None, message: str,
             primary: Location | None, fallback_path: str, evidence: str, key: str,
             extra_related: tuple[Location, ...] = ()) -> Finding:
    manifest_loc = Location(ctx.manifest.path, target.line, target.column,
                            message=f"target {target.name} in the manifest")
    loc = primary or Location(fallback_path, 1)
    return Finding(rule.id, message, loc, target=target.name, host=target.host, port=port,
                   evidence=evidence, key=f"target={target.name};port={port};{key}",
                   related=(manifest_loc, *extra_related))


@dataclass(frozen=True)
class _Committed:
    """What one committed Dovecot file says about the settings drift compares, and where."""
    path: str
    ssl_mode: str | None
    ssl_loc: Location | None
    clear: bool | None
    clear_loc: Location | None
    min_tls: str | None
    tls_loc: Location | None

    @classmethod
    def of(cls, path: str, cfg: EffectiveConfig) -> _Committed:
        ssl_mode, ssl_loc = cfg.ssl_mode()
        clear, clear_loc = cfg.cleartext_auth_allowed(143)
        min_tls, tls_loc = cfg.min_tls()
        return cls(path, ssl_mode, ssl_loc, clear, clear_loc, min_tls, tls_loc)


def _config_drift(ctx: Context, target: Target) -> list[Finding]:
    out: list[Finding] = []
    for path, cfg in _configs(ctx, target):
        said = _Committed.of(path, cfg)
        for ep in target.endpoints:
            live = _endpoint(ctx, target, ep.port)
            if live is None or live.connect != "open":
                continue
            if ep.protocol == "imap":
                out += _cleartext_drift(ctx, target, ep.port, said, live)
                out += _ssl_drift(ctx, target, ep.port, said, live)
            out += _min_tls_drift(ctx, target, ep.port, said, live)
    return out


def _cleartext_drift(ctx: Context, target: Target, port: int, said: _Committed,
                     live: LiveEndpoint) -> list[Finding]:
    """The committed cleartext-login setting against the cleartext port's answer."""
    path = said.path
    live_clear = live.cleartext_login
    if said.clear is False and live_clear:
        return [_finding(
            DRIFT001, ctx, target, port,
            f"{path} forbids cleartext login, but {target.host}:{port} accepts "
            "a password before TLS.", said.clear_loc, path, live_clear.evidence,
            f"file={path};aspect=cleartext")]
    if said.clear is True and not live_clear and live.auth_plain == "refused":
        return [_finding(
            DRIFT001, ctx, target, port,
            f"{path} allows cleartext login, but {target.host}:{port} refuses it: "
            "the server does not run the committed configuration.", said.clear_loc, path,
            live.auth_plain_evidence, f"file={path};aspect=cleartext")]
    return []


def _ssl_drift(ctx: Context, target: Target, port: int, said: _Committed,
               live: LiveEndpoint) -> list[Finding]:
    """The committed ``ssl`` mode against whether the cleartext port offers STARTTLS."""
    path = said.path
    no_tls = live.no_starttls
    if said.ssl_mode == "required" and no_tls:
        return [_finding(
            DRIFT001, ctx, target, port,
            f"{path} sets ssl = required, but {target.host}:{port} offers no "
            "STARTTLS.", said.ssl_loc, path, no_tls.evidence, f"file={path};aspect=ssl")]
    if said.ssl_mode == "no" and live.starttls == "ok":
        return [_finding(
            DRIFT001, ctx, target, port,
            f"{path} sets ssl = no, but {target.host}:{port} completes STARTTLS: "
            "the server does not run the committed configuration.", said.ssl_loc, path,
            live.starttls_evidence, f"file={path};aspect=ssl")]
    return []


def _min_tls_drift(ctx: Context, target: Target, port: int, said: _Committed,
                   live: LiveEndpoint) -> list[Finding]:
    """A committed modern ``ssl_min_protocol`` against older protocols the endpoint takes."""
    legacy = live.legacy_tls
    if said.min_tls in MODERN and legacy:
        return [_finding(
            DRIFT001, ctx, target, port,
            f"{said.path} sets ssl_min_protocol = {said.min_tls}, but {target.host}:{port} "
            f"accepts older protocols: {legacy.message}", said.tls_loc, said.path,
            legacy.evidence, f"file={said.path};aspect=min-tls")]
    return []


def _connection(live: LiveEndpoint | None, target: Target) -> tuple[str | None, str | None]:
    """How the probe's connection went (None: not probed) and the address it came from
    (the manifest's source_address when the probe did not say)."""
    if live is None:
        return None, target.source_address
    return live.connect, live.local_address or target.source_address


def _firewall_drift(ctx: Context, target: Target) -> list[Finding]:
    out: list[Finding] = []
    for path, verdict in _firewalls(ctx, target):
        for ep in target.endpoints:
            found = _reach_drift(ctx, target, ep.port, path, verdict)
            if found is not None:
                out.append(found)
    return out


def _reach_drift(ctx: Context, target: Target, port: int, path: str,
                 verdict: FirewallVerdict) -> Finding | None:
    """A firewall file's verdict on the port against the probe's connection: reached
    although it is closed to the probe's source, or dropped although it is open to all."""
    live = _endpoint(ctx, target, port)
    connect, source = _connection(live, target)
    exposure = verdict.exposure(port, _family(target.host, live))
    state, where, sources = exposure.state, exposure.location, exposure.sources
    if state == "unknown" or connect not in ("open", "refused", "filtered"):
        return None
    key = f"file={path};aspect=reach"
    if connect == "open" and _is_outside(source) and \
            exposure.admits(str(source)) is False:
        said = (f"closes port {port}" if state == "closed" else
                f"allows port {port} only from {', '.join(sources) or 'other sources'}")
        return _finding(
            DRIFT002, ctx, target, port,
            f"{path} {said}, but the probe from {source} reached "
            f"{target.host}:{port}.", where, path, f"connect: {connect}", key)
    if connect == "filtered" and state == "open-world":
        # refused means a host answered (often: nothing listens); only a silent
        # drop says that some other firewall is in the way.
        return _finding(
            DRIFT002, ctx, target, port,
            f"{path} opens port {port} to the world, but {target.host}:{port} "
            "silently drops the probe: another firewall is in front of it.", where, path,
            f"connect: {connect}", key)
    return None


def _world_open_143(ctx: Context, target: Target) -> tuple[Location, str] | None:
    """The first firewall line of the target's files that opens 143 to the world, and its file."""
    for path, verdict in _firewalls(ctx, target):
        for family in ("ipv4", "ipv6"):
            exposure = verdict.exposure(143, family)
            if exposure.state == "open-world":
                return exposure.location or Location(path, 1), path
    return None


def _exposed_cleartext(ctx: Context, target: Target) -> list[Finding]:
    """DRIFT003: 143 open to the world, and a password taken in clear (committed or live)."""
    opened = _world_open_143(ctx, target)
    if opened is None:
        return []
    open_world, fw_path = opened
    reasons = _cleartext_reasons(ctx, target)
    if not reasons:
        return []
    why, loc, cfg_path = reasons[0]
    if loc is None:  # only the live server shows it: point at the target, and the firewall
        loc = ctx.target_location(target)
    fw_related = Location(open_world.path, open_world.line, open_world.column,
                          message="the firewall line that opens 143 to the world")
    return [_finding(
        DRIFT003, ctx, target, 143,
        f"Port 143 is open to the world in {fw_path} and {why}: passwords can cross the "
        "internet in clear text.", loc, cfg_path or ctx.manifest.path,
        "; ".join(r[0] for r in reasons), "aspect=exposed-cleartext", (fw_related,))]


def _cleartext_reasons(ctx: Context, target: Target) -> list[tuple[str, Location | None, str]]:
    """Each committed file that allows cleartext login (why, where, its path), then the
    live cleartext port that takes a password before TLS (no location, no path)."""
    reasons: list[tuple[str, Location | None, str]] = []
    for path, cfg in _configs(ctx, target):
        clear, loc = cfg.cleartext_auth_allowed(143)
        if clear is True:
            reasons.append((f"{path} allows cleartext login", loc or Location(path, 1), path))
    live = next((e for ep in target.endpoints if ep.protocol == "imap"
                 for e in [_endpoint(ctx, target, ep.port)] if e and e.cleartext_login), None)
    if live:
        reasons.append((f"{target.host}:{live.port} accepts a password before TLS", None, ""))
    return reasons


def run(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    for target in ctx.manifest.targets:
        out += _config_drift(ctx, target)
        out += _firewall_drift(ctx, target)
        out += _exposed_cleartext(ctx, target)
    return out


def run_files(ctx: Context) -> list[Finding]:
    """``--only lint``: the drift computed from the committed files alone (DRIFT003, a world-
    open 143 in a firewall file with cleartext login in a Dovecot file); the probe did not run,
    so there is no live endpoint to read."""
    return [f for target in ctx.manifest.targets for f in _exposed_cleartext(ctx, target)]


CHECK = Check(name="drift", kind="correlation", run=run)
FILES_CHECK = Check(name="drift", kind="correlation", run=run_files)
