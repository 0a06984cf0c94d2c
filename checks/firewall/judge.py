"""From verdicts to findings FW001..FW006, each located at the line that decides."""

from __future__ import annotations

import posixpath
import re
from dataclasses import replace

from imap_gate.findings import Finding, Location

from .evaluate import CLOSED, OPEN, RESTRICTED, UNKNOWN, Exposure, PortReport, Walk
from .forward import Forwarded, forwards
from .model import FilterRule, Parsed, Ruleset, V, no_cyclic_gc
from .rules import FW001, FW002, FW003, FW004, FW005, FW006, FW007
from .verdict import FirewallVerdict

PORTS = (143, 993)
SCRIPTS = ("iptables-script", "ufw-script")
NON_SHELL_TEMPLATE = re.compile(r"\{\{|\{%|<%|%%|!!\w|@@")
NAMES = {143: "143 (IMAP)", 993: "993 (IMAPS)", "ipv4": "IPv4", "ipv6": "IPv6"}
WS = re.compile(r"\s+")


def _fix(fmt: str | None, family: str, port: int) -> str:
    net = "192.0.2.0/24" if family == "ipv4" else "2001:db8::/32"
    svc = "imap" if port == 143 else "imaps"
    return {
        "iptables-save": f"`-A INPUT -p tcp --dport {port} -s {net} -j ACCEPT` then "
                         f"`-A INPUT -p tcp --dport {port} -j DROP`",
        "iptables-script": f"`{'iptables' if family == 'ipv4' else 'ip6tables'} -A INPUT -p tcp "
                           f"--dport {port} -s {net} -j ACCEPT`",
        "nftables": f"`tcp dport {port} {'ip' if family == 'ipv4' else 'ip6'} saddr {net} accept`",
        "ufw-rules": f"`ufw allow from {net} to any port {port} proto tcp`",
        "ufw-script": f"`ufw allow from {net} to any port {port} proto tcp`",
        "ufw-default": "`DEFAULT_INPUT_POLICY=\"DROP\"` and "
                       f"`ufw allow from {net} to any port {port} proto tcp`",
        "firewalld-zone": f"`<rule family=\"{family}\"><source address=\"{net}\"/>"
                          f"<service name=\"{svc}\"/><accept/></rule>`",
    }.get(fmt or "", f"allow {port} only from the networks that need it")


def _key(path: str, family: str, port: int) -> str:
    return f"file={path};family={family};port={port}"


def _norm(text: str) -> str:
    return WS.sub(" ", text.strip())[:200]


def _where(exp: Exposure, v: FirewallVerdict, rs: Ruleset | None) -> Location:
    if exp.location is not None:
        return exp.location
    if rs is not None and rs.first_loc is not None:
        return rs.first_loc
    return Location(v.path, 1)


def _templated_note(exp: Exposure, path: str = "") -> str:
    note = (" Some rules on the way hold templated or unmodelled values; they were not guessed, "
            "and the verdict holds whichever way they match.") if exp.templated else ""
    if exp.assumed_ifaces:
        names = ", ".join(exp.assumed_ifaces)
        note += (f" The verdict assumes interface {names} faces the internet (the file cannot say); "
                 f"if it does not, declare it in the manifest: `firewall: [{{path: {path}, "
                 f"internal_interfaces: [{names}]}}]` (or `public_interfaces: [...]`, per file or "
                 "under `defaults`).")
    return note


def judge(v: FirewallVerdict, peers: list[FirewallVerdict]) -> list[Finding]:
    with no_cyclic_gc():
        return _judge(v, peers)


def _judge(v: FirewallVerdict, peers: list[FirewallVerdict]) -> list[Finding]:
    if v.format is None:
        return [FW006.finding(
            f"The firewall file {v.path} is in no format imap-gate recognises "
                     "(iptables-save, iptables script, nftables, ufw, firewalld zone), so whether "
                     "143/993 is reachable cannot be judged. Name its format in the manifest.",
            Location(v.path, 1), file=v.path, format="unknown")]
    assert v.parsed is not None
    out, runtime_vars = _issue_findings(v, v.parsed)
    ports, unknowns = _port_findings(v, v.parsed, peers)
    out += ports
    out += _unknown_findings(v, unknowns)
    out += _missing_v6(v, peers)
    for family in ("ipv4", "ipv6"):
        rs = v.parsed.rulesets.get(family)
        if rs is not None:
            out += _forward_findings(v, family, forwards(rs))
    if runtime_vars:
        lines = ", ".join(str(n) for n in sorted(set(runtime_vars))[:10])
        note = (f" Line(s) {lines} use shell variables set at run time; their values were not "
                "guessed.")
        out = [f if f.rule_id == FW006.id else replace(f, message=f.message + note) for f in out]
    return out


def _issue_findings(v: FirewallVerdict, parsed: Parsed) -> tuple[list[Finding], list[int]]:
    """FW006 for each line the reader could not understand or that holds a template, and the
    lines of scripts' shell variables filled in at run time (a loop over addresses, say): not
    an error, and only worth a word on the findings where it could matter."""
    out: list[Finding] = []
    runtime_vars: list[int] = []
    for issue in parsed.issues:
        if issue.templated and v.format in SCRIPTS and not NON_SHELL_TEMPLATE.search(issue.text):
            runtime_vars.append(issue.loc.line)
            continue
        what = "holds a templated value that is not guessed" if issue.templated else \
            "cannot be understood"
        out.append(FW006.finding(
            f"Line {issue.loc.line} of {issue.loc.path} {what}: {issue.message}.",
            issue.loc, evidence=issue.text,
            file=v.path, issue=_norm(issue.message), text=_norm(issue.text)))
    return out, runtime_vars


# (deciding location, reason) -> the "IPv4 143"-style endpoints that could not be judged
_Unknowns = dict[tuple[Location | None, str], list[str]]


def _port_findings(v: FirewallVerdict, parsed: Parsed,
                   peers: list[FirewallVerdict]) -> tuple[list[Finding], _Unknowns]:
    """The exposure and shadowed-rule findings of each family and port, and the endpoints that
    cannot be judged (where the file has an input path at all), grouped by their cause."""
    out: list[Finding] = []
    unknowns: _Unknowns = {}
    for family in ("ipv4", "ipv6"):
        rs = parsed.rulesets.get(family)
        for port in PORTS:
            rep = v.report(port, family)
            if rep is None or rs is None:
                continue
            exp = rep.exposure
            if exp.state == UNKNOWN:
                if rs.stages or rs.disabled_loc:
                    unknowns.setdefault((exp.location, exp.reason), []).append(
                        f"{NAMES[family]} {port}")
                continue
            out += _exposure_findings(v, rs, family, port, exp, peers)
            out += _shadowed(v, rs, family, port, rep)
    return out, unknowns


def _unknown_findings(v: FirewallVerdict, unknowns: _Unknowns) -> list[Finding]:
    """One FW006 per cause, naming every endpoint it leaves undecided."""
    return [FW006.finding(
        f"Whether TCP {', '.join(endpoints)} is reachable from the internet cannot be "
                 f"judged from {v.path}: {reason or 'the outcome depends on rules not in it'}.",
        loc or Location(v.path, 1),
        file=v.path, unknown=','.join(endpoints),
        evidence="") for (loc, reason), endpoints in unknowns.items()]


def _other_v4_restricts(v: FirewallVerdict, peers: list[FirewallVerdict]) -> FirewallVerdict | None:
    """The file itself or a sibling in the same directory that keeps IPv4 143 from the world."""
    for cand in [v] + [p for p in peers if p is not v and
                       posixpath.dirname(p.path) == posixpath.dirname(v.path)]:
        if "ipv4" in cand.families and cand.exposure(143, "ipv4").state in (RESTRICTED, CLOSED):
            return cand
    return None


def _exposure_findings(v: FirewallVerdict, rs: Ruleset, family: str, port: int, exp: Exposure,
                       peers: list[FirewallVerdict]) -> list[Finding]:
    if exp.state != OPEN:
        return []
    loc = _where(exp, v, rs)
    fam = NAMES[family]
    fix = _fix(v.format, family, port)
    note = _templated_note(exp, v.path)
    if port == 993:
        how = "the policy lets everything in" if exp.by_policy else f"line {loc.line} accepts it"
        return [FW005.finding(f"TCP 993 (IMAPS) is reachable from any {fam} address in {v.path}: "
                                 f"{how}. Expected for public mail; to restrict it write {fix}.{note}",
                        loc, evidence=exp.evidence, key=_key(v.path, family, port))]
    if family == "ipv6":
        v4 = _other_v4_restricts(v, peers)
        if v4 is not None:
            where = "" if v4 is v else f" ({v4.path})"
            return [FW003.finding(f"TCP 143 (IMAP) is restricted for IPv4{where} but reachable "
                                     f"from any IPv6 address in {v.path} (line {loc.line}). "
                                     f"Restrict it for IPv6 too: {fix}.{note}",
                            loc, evidence=exp.evidence, key=_key(v.path, family, port))]
    if exp.by_policy or rs.disabled_loc is not None or not exp.port_explicit:
        if rs.disabled_loc is not None and exp.location == rs.disabled_loc:
            why = "the firewall is disabled"
        elif exp.by_policy:
            why = "the input path ends in accept"
        else:
            why = "a catch-all rule accepts it"
        return [FW002.finding(f"TCP 143 (IMAP) is reachable from any {fam} address in {v.path} "
                                 f"because {why} (line {loc.line}); no rule restricts it. Deny by "
                                 f"default and allow 143 only from known sources: {fix}.{note}",
                        loc, evidence=exp.evidence, key=_key(v.path, family, port))]
    return [FW001.finding(f"TCP 143 (IMAP) is open to any {fam} address in {v.path}: line "
                             f"{loc.line} accepts it with no source restriction. Restrict it to the "
                             f"sources that need it: {fix}.{note}",
                    loc, evidence=exp.evidence, key=_key(v.path, family, port))]


def _shadowed(v: FirewallVerdict, rs: Ruleset, family: str, port: int,
              rep: PortReport) -> list[Finding]:
    """FW004 for each rule naming the port that the world's walk never reached although the
    rule would have changed its outcome."""
    out: list[Finding] = []
    decider = rep.world
    for name in rep.entered:
        chain = rs.chains.get(name)
        if chain is None:
            continue
        for idx, rule in rep.relevant_rules(chain, port):
            if not rule.mentions_port(port) or (name, idx) in rep.reached:
                continue
            if not _overridden(rule, decider):
                continue
            dl = decider.loc.line if decider.loc else 1
            what = "policy" if decider.by_policy else f"rule at line {dl}"
            out.append(FW004.finding(
                f"The rule at line {rule.loc.line} of {v.path} is meant to restrict TCP "
                         f"{port} ({NAMES[family]}) but never matches: the earlier {what} already "
                         "accepts every source. Move the restriction above it.",
                rule.loc, evidence=rule.text, related=(decider.loc,) if decider.loc else (),
                file=v.path, family=family, port=port, shadowed=_norm(rule.text)))
    return out


def _overridden(rule: FilterRule, decider: Walk) -> bool:
    """An unreached drop, or an unreached accept restricted to some sources, is a restriction
    that never applies when an earlier line accepts every source."""
    kind = rule.verdict.kind
    if kind is V.ACCEPT:
        src = rule.sources()
        if src is None or src.negate or src.is_any:
            return False
    elif kind is not V.DROP:
        return False
    return decider.verdict == "accept"


def _forward_findings(v: FirewallVerdict, family: str, fwds: list[Forwarded]) -> list[Finding]:
    out: list[Finding] = []
    fam = NAMES[family]
    for f in fwds:
        key = f"file={v.path};family={family};port={f.port};forward={f.host}:{f.ext_port}"
        via = "" if f.ext_port == f.port else f" (external port {f.ext_port})"
        if f.state == UNKNOWN:
            out.append(FW006.finding(
                f"Whether the port forward at line {f.loc.line} of {v.path} exposes TCP "
                         f"{f.port} of {f.host} to the internet over {fam} cannot be judged: "
                         f"{f.reason or 'the forward path depends on rules not in this file'}.",
                f.loc, evidence=f.evidence, key=key))
        elif f.state == OPEN:
            fwd = (f" the forward path accepts it (line {f.forward_loc.line})"
                   if f.forward_loc is not None else " nothing on the forward path stops it")
            if f.port == 993:
                out.append(FW005.finding(
                    f"TCP 993 (IMAPS) of the internal host {f.host} is reachable from any "
                             f"{fam} address through this host{via}: line {f.loc.line} of {v.path} "
                             f"forwards it and{fwd}. Expected for a public mail server behind NAT.",
                    f.loc, evidence=f.evidence, key=key))
            else:
                out.append(FW007.finding(
                    f"TCP 143 (IMAP) of the internal host {f.host} is forwarded to any "
                             f"{fam} address{via}: line {f.loc.line} of {v.path} DNATs it and{fwd}. "
                             "Restrict the forward to the sources that need it, or forward 993.",
                    f.loc, evidence=f.evidence, key=key))
    return out


def _missing_v6(v: FirewallVerdict, peers: list[FirewallVerdict]) -> list[Finding]:
    """An iptables IPv4 restriction with no IPv6 rules anywhere in the lint set."""
    if v.format not in ("iptables-save", "iptables-script") or v.families != ("ipv4",):
        return []
    if any("ipv6" in p.families for p in peers):
        return []
    exp = v.exposure(143, "ipv4")
    if exp.state != RESTRICTED:
        return []
    first = v.parsed.rulesets["ipv4"].first_loc if v.parsed else None
    return [FW003.finding(
        f"TCP 143 (IMAP) is restricted for IPv4 in {v.path}, but no IPv6 rules were "
                 "linted: on a host with an IPv6 address, ip6tables' default ACCEPT leaves 143 "
                 "reachable over IPv6. Add an ip6tables file with the same restriction: "
                 f"{_fix(v.format, 'ipv6', 143)}.",
        first or Location(v.path, 1), key=_key(v.path, "ipv6", 143))]
