"""Port forwarding: IMAP of an internal host exposed through this one.

A destination NAT in the prerouting path (iptables ``-t nat -A PREROUTING ... -j DNAT
--to-destination 192.168.0.10[:143]``, nft ``dnat to 192.168.0.10``) hands a connection from
the internet to an internal host, and the forward path (``FORWARD`` / ``hook forward``) decides
whether it gets there. Where the internal port is 143 or 993 that is IMAP exposure as much as
an open INPUT port, so each DNAT rule is followed: a world connection to the external port
must reach the DNAT rule (the same walk as the input path, over the nat chains) and then be
accepted on the forward path with the inner host as its destination.

The target is read from the rule's own text (``--to-destination`` / ``dnat to``): the readers
keep the text of every rule, so this works for iptables-save, iptables scripts and nftables
alike. A target that is a map or a variable cannot be followed and is "cannot be judged".
An out-interface condition on the forward path (``-o eth1``, ``oifname "eth1"``) is taken to
be the interface towards the inner host: whoever wrote the rule named it for that.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace

from imap_gate.findings import Location

from .evaluate import CLOSED, OPEN, UNKNOWN, _evaluate, _Walker
from .model import Chain, Const, FilterRule, Origin, Ports, Ruleset, Tri

IMAP_PORTS = (143, 993)
ANY_DNAT = re.compile(r"-j\s+DNAT\b|\bdnat\s+(?!accept\b|drop\b|counter\b)\S")
# nft ``dnat [ip] [addr . port] to tcp dport map { 143 : 192.168.0.10 [. 143], ... }``
NFT_DNAT_MAP = re.compile(r"\bdnat\s+(?:ip6?\s+)?(?:addr\s*\.\s*port\s+)?to\s+(?:tcp|th)\s+dport\s+"
                          r"map\s*\{([^}]*)\}")
MAP_ENTRY = re.compile(r"^\s*(\d+)\s*:\s*([0-9A-Fa-f.:\[\]]+?)(?:\s*\.\s*(\d+))?\s*$")
IPT_DNAT = re.compile(r"-j\s+DNAT\b.*?--to(?:-destination)?[\s=]+(\S+)")
NFT_DNAT = re.compile(r"\bdnat\s+(?:ip6?\s+)?to\s+(\S+)")
OUT_IFACE_WHY = ("-o never matches incoming packets", "an incoming packet has no output interface yet",
                 "no output interface on input")
# iptables: the hooks a forwarded packet passes (raw and mangle can drop too), in order.
IPT_FORWARD = ("raw/PREROUTING", "mangle/PREROUTING", "mangle/FORWARD", "filter/FORWARD",
               "security/FORWARD")
Addr = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Forwarded:
    family: str
    port: int                      # the internal host's port (143 or 993)
    ext_port: int                  # the port the internet connects to on this host
    host: str                      # the internal host (or what names it)
    state: str                     # open-world | closed | unknown
    loc: Location                  # the DNAT rule
    evidence: str
    forward_loc: Location | None = None   # what decided on the forward path
    reason: str = ""


def _target(text: str) -> str | None:
    m = IPT_DNAT.search(text) or NFT_DNAT.search(text)
    return m.group(1).strip('"') if m else None


def _split(target: str) -> tuple[str, str | None]:
    """``host[-host2][:port[-port2]]``, ``[v6]:port``: (host part, port part or None)."""
    if target.startswith("["):
        host, _, rest = target[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else None
    if target.count(":") == 1:
        host, _, port = target.partition(":")
        return host, port or None
    return target, None


def _ports_of(spec: str) -> tuple[int, int] | None:
    a, _, b = spec.partition("-")
    try:
        lo, hi = int(a), int(b or a)
    except ValueError:
        return None
    return (lo, hi) if 0 < lo <= hi <= 65535 else None


def _stages(rs: Ruleset) -> tuple[list[str], list[str]]:
    if rs.dnat_stages or rs.forward_stages:
        return rs.dnat_stages, rs.forward_stages
    nat = ["nat/PREROUTING"] if "nat/PREROUTING" in rs.chains else []
    return nat, [s for s in IPT_FORWARD if s in rs.chains]


def _forward_rules(rs: Ruleset, stages: list[str]) -> Ruleset:
    """The ruleset with out-interface conditions read as 'the interface towards the inner host'."""
    chains: dict[str, Chain] = {}
    for name, chain in rs.chains.items():
        rules = []
        for r in chain.rules:
            if any(isinstance(c, Const) and c.why in OUT_IFACE_WHY for c in r.conds):
                neg = bool(re.search(r"!\s*(?:-o|--out-interface)\b|\boifname\s+!=|\boif\s+!=", r.text))
                conds = tuple(Const(Tri.NO if neg else Tri.YES, "out towards the inner host")
                              if isinstance(c, Const) and c.why in OUT_IFACE_WHY else c for c in r.conds)
                r = FilterRule(conds, r.verdict, r.loc, r.text)
            rules.append(r)
        chains[name] = replace(chain, rules=rules)
    return Ruleset(rs.family, stages=stages, chains=chains, first_loc=rs.first_loc, ifaces=rs.ifaces)


def forwards(rs: Ruleset) -> list[Forwarded]:
    dnat, fwd = _stages(rs)
    if not dnat:
        return []
    dnat_rules = _dnat_rules(rs)
    if not dnat_rules:
        return []
    nat_rs = Ruleset(rs.family, stages=dnat, chains=rs.chains, first_loc=rs.first_loc,
                     ifaces=rs.ifaces)
    fwd_rs = _forward_rules(rs, fwd)
    out: list[Forwarded] = []
    seen: set[tuple[int, str, int]] = set()
    for rule in dnat_rules:
        for ext, internal, host in _candidates(rule):
            got = _follow(nat_rs, fwd_rs, rule, (ext, internal, host), seen)
            if got is not None:
                out.append(got)
    return out


def _dnat_rules(rs: Ruleset) -> list[FilterRule]:
    """Every rule that translates the destination (the nat walk decides which are reached)."""
    return [r for name in rs.chains for r in rs.chains[name].rules
            if r.nat_to is not None or (r.text and ANY_DNAT.search(r.text))]


def _candidates(rule: FilterRule) -> list[tuple[int, int, str]]:
    """(external port, internal IMAP port, host) triples a DNAT rule can hand on."""
    spec = rule.nat_to if rule.nat_to is not None else rule.text
    statement = ANY_DNAT.search(spec) is not None   # else a plain target (firewalld)
    target = _target(spec) if statement else spec
    if target is not None:
        host, port_spec = _split(target)
        return [(e, i, host) for e, i in _port_pairs(rule.ports(), port_spec)]
    mapped = NFT_DNAT_MAP.search(spec)
    if mapped is not None:
        return _map_candidates(mapped.group(1))
    # A DNAT whose target this reader cannot follow (a map of another shape, a variable):
    # if the world reaches it for 143/993, whether that IMAP is exposed is not guessed.
    return [(p, p, "") for p in IMAP_PORTS]


def _map_candidates(body: str) -> list[tuple[int, int, str]]:
    """The entries of an nft DNAT map whose inner port is IMAP; one entry this reader cannot
    follow makes every IMAP port a candidate, to some host of the map."""
    candidates: list[tuple[int, int, str]] = []
    for entry in body.split(","):
        m = MAP_ENTRY.match(entry.split("#")[0])
        if m is None:
            if entry.strip():
                return [(p, p, "a host from the DNAT map") for p in IMAP_PORTS]
            continue
        ext, host, to_port = int(m.group(1)), m.group(2), int(m.group(3) or m.group(1))
        if to_port in IMAP_PORTS:
            candidates.append((ext, to_port, host.strip("[]")))
    return candidates


def _follow(nat_rs: Ruleset, fwd_rs: Ruleset, rule: FilterRule, candidate: tuple[int, int, str],
            seen: set[tuple[int, str, int]]) -> Forwarded | None:
    """One candidate of a DNAT rule: None when the world never reaches the rule for its
    external port (or the same forward was judged already), else what the forward path does."""
    ext, internal, host = candidate
    family = nat_rs.family
    walk = _Walker(nat_rs, ext).walk(Origin(family), maybe_yes=False)
    if walk.maybe is not None:
        alt = _Walker(nat_rs, ext).walk(Origin(family), maybe_yes=True)
        if (alt.rule is rule) != (walk.rule is rule):
            return Forwarded(family, internal, ext, host, UNKNOWN, rule.loc, rule.text,
                             reason=f"whether the rule at line {walk.maybe.loc.line} "
                                    "matches decides whether the DNAT applies")
    if walk.rule is not rule:
        return None  # the world never reaches this DNAT for that port
    key = (internal, host, ext)
    if key in seen:
        return None
    seen.add(key)
    if not host:
        return Forwarded(family, internal, ext, "an internal host", UNKNOWN, rule.loc,
                         rule.text, reason="the DNAT target is not an address this "
                                           "reader can follow")
    return _judge_forward(fwd_rs, family, rule, host, ext, internal)


def _port_pairs(dports: Ports | None, port_spec: str | None) -> list[tuple[int, int]]:
    """(external port, internal IMAP port) pairs this DNAT can produce."""
    if port_spec is not None:
        return _remapped_pairs(dports, port_spec)
    if dports is None:
        return [(p, p) for p in IMAP_PORTS]
    if dports.unknown is not None:
        return []
    return [(p, p) for p in IMAP_PORTS if dports.covers(p) != dports.negate]


def _remapped_pairs(dports: Ports | None, port_spec: str) -> list[tuple[int, int]]:
    """A DNAT that names its target port(s): the IMAP ports among them, each from the
    external port that maps onto it."""
    rng = _ports_of(port_spec)
    if rng is None:
        return []
    hits = [p for p in IMAP_PORTS if rng[0] <= p <= rng[1]]
    if not hits:
        return []
    if not _pinned(dports):
        return [(p, p) for p in hits]  # any external port, or one the nat walk cannot pin
    assert dports is not None
    lo = dports.ranges[0][0]
    # a port range maps onto a port range; a single port onto the one target port
    return [(lo + (p - rng[0]) if rng[0] != rng[1] else lo, p) for p in hits]


def _pinned(dports: Ports | None) -> bool:
    """Whether the rule's destination ports name the external port(s) the nat walk follows."""
    return not (dports is None or dports.unknown is not None or dports.negate or not dports.ranges)


def _judge_forward(fwd_rs: Ruleset, family: str, rule: FilterRule, host: str, ext: int,
                   internal: int) -> Forwarded:
    first = host.split("-", 1)[0]
    try:
        addr: Addr | None = ipaddress.ip_address(first)
    except ValueError:
        addr = None
    if addr is None:
        return Forwarded(family, internal, ext, host, UNKNOWN, rule.loc, rule.text,
                         reason=f"the DNAT target {host!r} is not an address")
    if not fwd_rs.stages:
        # No forward filter in this file: the kernel forwards (if forwarding is on at all).
        return Forwarded(family, internal, ext, host, OPEN, rule.loc, rule.text,
                         reason="no forward filter chain in this file, so nothing stops it")
    rep = _evaluate(fwd_rs, internal, Origin(family), dst=addr)
    exp = rep.exposure
    state = OPEN if exp.state == OPEN else (UNKNOWN if exp.state == UNKNOWN else CLOSED)
    return Forwarded(family, internal, ext, host, state, rule.loc, rule.text, exp.location,
                     exp.reason)
