"""The live probe: every endpoint of every target, judged, as findings and facts."""

from __future__ import annotations

import socket

from imap_gate.context import Context, endpoint_key
from imap_gate.errors import InputError
from imap_gate.findings import Finding
from imap_gate.manifest import Target

from .. import Check
from . import engine, judge
from .facts import Plan


def plans_for(targets: tuple[Target, ...]) -> list[Plan]:
    return [Plan(target=t.name, host=t.host, port=e.port, protocol=e.protocol, expect=e.expect,
                 sni=t.sni, source=t.source_address, timeout=t.timeout)
            for t in targets for e in t.endpoints]


def run(ctx: Context) -> list[Finding]:
    targets = ctx.manifest.targets
    plans = plans_for(targets)
    if not plans:
        return []
    _check_sources(ctx)
    tls = engine.TlsSettings(
        now=ctx.now, cert_expiry_days=ctx.manifest.defaults.cert_expiry_days,
        ca_files={t.name: str(ctx.root / t.ca_file) if t.ca_file else None for t in targets})
    on_done = None
    if ctx.progress is not None:
        ctx.progress.stage("probing endpoints", len(plans))
        on_done = ctx.progress.advance
    results = engine.probe_all(plans, ctx.manifest.defaults.concurrency, tls, on_done=on_done,
                               per_host=ctx.manifest.defaults.per_host)
    by_name = {t.name: t for t in targets}
    # A target where nothing answered gets one finding (judge_target), not one per port.
    silent = {t.name for t in targets
              if judge.nothing_answered([r.facts for r in results if r.plan.target == t.name])}
    findings: list[Finding] = []
    for r in results:
        target = by_name[r.plan.target]
        facts = r.facts.as_json()
        if r.tls is not None:
            facts["tls"] = dict(r.tls.facts)
            facts["tls"].setdefault("handshakes", r.tls.handshakes)
        ctx.facts[endpoint_key(target.name, r.plan.port)] = facts
        for issue in judge.judge_endpoint(r.facts):
            if target.name in silent and issue.detail == "phase=connect":
                continue
            findings.append(_finding(ctx, target, issue))
        if r.tls is not None:
            findings += _tls_findings(ctx, target, r)
    for target in targets:
        endpoints = [r.facts for r in results if r.plan.target == target.name]
        for issue in judge.judge_target(endpoints):
            findings.append(_finding(ctx, target, issue))
    # For correlation (drift): the same JSON-shaped facts, keyed like ctx.facts.
    mine = {endpoint_key(r.plan.target, r.plan.port) for r in results}
    ctx.results["probe"] = {k: v for k, v in ctx.facts.items() if k in mine}
    return findings


def _finding(ctx: Context, target: Target, issue: judge.Issue) -> Finding:
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
            "IMAP012", target, port,
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


CHECK = Check(name="probe", kind="probe", run=run)
