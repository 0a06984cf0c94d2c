"""The live probe: every endpoint of every target, judged, as findings and facts."""

from __future__ import annotations

import socket
from typing import Any

from imap_gate.context import Context, endpoint_key
from imap_gate.errors import InputError
from imap_gate.findings import Finding
from imap_gate.manifest import Target
from imap_gate.rules import Issue, Rule

from .. import Check
from ..tls.rules import TLS001, TLS002
from . import artefact, engine, judge
from .facts import Plan
from .rules import IMAP002, IMAP004, IMAP012


def plans_for(targets: tuple[Target, ...]) -> list[Plan]:
    return [Plan(target=t.name, host=t.host, port=e.port, protocol=e.protocol, expect=e.expect,
                 sni=t.sni, source=t.source_address, timeout=t.timeout)
            for t in targets for e in t.endpoints]


def run(ctx: Context) -> list[Finding]:
    """Probe (engine), judge (judge), publish (facts for the reports, artefact for drift)."""
    targets = ctx.manifest.targets
    plans = plans_for(targets)
    if not plans:
        return []
    _check_sources(ctx)
    results = _probe(ctx, plans)
    by_name = {t.name: t for t in targets}
    # A target where nothing answered gets one finding (judge_target), not one per port.
    silent = {t.name for t in targets if judge.nothing_answered(_facts_of(results, t))}
    findings: list[Finding] = []
    live: dict[tuple[str, int], artefact.LiveEndpoint] = {}
    for r in results:
        target = by_name[r.plan.target]
        found, live[(target.name, r.plan.port)] = _endpoint(ctx, target, r, target.name in silent)
        findings += found
    for target in targets:
        findings += [_finding(ctx, target, issue)
                     for issue in judge.judge_target(_facts_of(results, target))]
    ctx.artefacts.put(artefact.ENDPOINTS, live)
    return findings


def _facts_of(results: list[engine.EndpointResult], target: Target) -> list[Any]:
    """The dialog facts of the target's endpoints, in probe order."""
    return [r.facts for r in results if r.plan.target == target.name]


def _endpoint(ctx: Context, target: Target, r: engine.EndpointResult,
              silent: bool) -> tuple[list[Finding], artefact.LiveEndpoint]:
    """One endpoint judged: its facts for the reports, its findings (the dialog's and the
    TLS scan's; no connect finding where the whole target is silent), what drift reads."""
    ctx.facts[endpoint_key(target.name, r.plan.port)] = _report_facts(r)
    issues = [i for i in judge.judge_endpoint(r.facts)
              if not (silent and i.detail == "phase=connect")]
    findings = [_finding(ctx, target, issue) for issue in issues]
    if r.tls is not None:
        findings += _tls_findings(ctx, target, r)
    return findings, _published(r, issues)


def _probe(ctx: Context, plans: list[Plan]) -> list[engine.EndpointResult]:
    """Every endpoint, through the engine, with a progress count on a terminal."""
    targets = ctx.manifest.targets
    tls = engine.TlsSettings(
        now=ctx.now, cert_expiry_days=ctx.manifest.defaults.cert_expiry_days,
        ca_files={t.name: str(ctx.root / t.ca_file) if t.ca_file else None for t in targets})
    on_done = None
    if ctx.progress is not None:
        ctx.progress.stage("probing endpoints", len(plans))
        on_done = ctx.progress.advance
    return engine.probe_all(plans, ctx.manifest.defaults.concurrency, tls, on_done=on_done,
                            per_host=ctx.manifest.defaults.per_host)


def _report_facts(r: engine.EndpointResult) -> dict[str, Any]:
    """The endpoint as the reports show it (JSON): the dialog's facts and the TLS facts."""
    facts = r.facts.as_json()
    if r.tls is not None:
        facts["tls"] = dict(r.tls.facts)
        facts["tls"].setdefault("handshakes", r.tls.handshakes)
    return facts


def _published(r: engine.EndpointResult, issues: list[Issue]) -> artefact.LiveEndpoint:
    """The endpoint as drift reads it: its facts, and the first issue of each kind drift
    compares with the committed files (the message and evidence of that finding)."""
    def first(rules: tuple[Rule, ...], found: list[Issue]) -> artefact.Observation | None:
        return next((artefact.Observation(i.message, i.evidence) for i in found
                     if i.rule in rules), None)

    port = r.plan.port
    mine = [i for i in issues if i.port == port]
    tls = r.tls.issues if r.tls is not None else []
    f = r.facts
    return artefact.LiveEndpoint(
        target=r.plan.target, port=port, connect=f.connect, remote_address=f.remote_address,
        local_address=f.local_address, auth_plain=f.auth_plain,
        auth_plain_evidence=f.auth_plain_evidence, starttls=f.starttls,
        starttls_evidence=f.starttls_evidence,
        cleartext_login=first((IMAP004,), mine), no_starttls=first((IMAP002,), mine),
        legacy_tls=first((TLS001, TLS002), tls))


def _finding(ctx: Context, target: Target, issue: Issue) -> Finding:
    key = f"target={target.name};" + (f"port={issue.port}" if issue.port is not None
                                      else "scope=target")
    if issue.detail:
        key += f";{issue.detail}"
    return ctx.live_finding(issue.rule_id, target, issue.port, issue.message, issue.evidence,
                            issue.severity, key)


def _tls_findings(ctx: Context, target: Target, r: engine.EndpointResult) -> list[Finding]:
    assert r.tls is not None
    port = r.plan.port
    out = [ctx.live_finding(i.rule_id, target, port, i.message, i.evidence, i.severity,
                            f"target={target.name};port={port};{i.detail}")
           for i in r.tls.issues]
    if r.tls.incomplete:
        where = f"{target.name} ({target.host}:{port}, {r.plan.protocol})"
        out.append(ctx.live_finding(
            IMAP012.id, target, port,
            f"{where} could not be judged (tls-assessment): {r.tls.incomplete}.",
            r.tls.incomplete, None, f"target={target.name};port={port};phase=tls-assessment"))
    return out


def _check_sources(ctx: Context) -> None:
    """A source address this host does not own is a manifest mistake, not a server fact."""
    seen: set[str] = set()
    for t in ctx.manifest.targets:
        src = t.source_address
        if not src or src in seen:
            continue
        seen.add(src)
        family = socket.AF_INET6 if ":" in src else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.bind((src, 0))
        except OSError as exc:
            raise InputError(f"targets: source_address {src!r} cannot be used on this host: "
                             f"{exc.strerror or exc}", ctx.manifest.path,
                             t.source_line or t.line, t.source_column) from None


CHECK = Check(name="imap", kind="probe", run=run)
