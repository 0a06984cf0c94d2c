"""Walk a ruleset as the kernel would, for one new TCP connection at a time.

The question per family and port is "can an arbitrary internet source open a
connection?". We send a virtual SYN from the world (any address, an internet
facing interface) and, to tell "restricted" from "closed", one from each source
net or interface the rules name. Base chains run in order: an accept ends only
its own chain, a drop is final (netfilter's rule for several base chains on one
hook, and for iptables' tables on one hook).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from imap_gate.findings import Location

from .model import (
    AnyOf,
    Chain,
    Cond,
    FilterRule,
    InIface,
    Origin,
    Packet,
    Ruleset,
    SetLookup,
    Source,
    Tri,
    V,
    is_internal_iface,
)

MAX_DEPTH = 64
MAX_ORIGINS = 256

OPEN = "open-world"
RESTRICTED = "restricted"
CLOSED = "closed"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Exposure:
    """The verdict for one family and port, and the line that decides it."""

    state: str                              # open-world | restricted | closed | unknown
    location: Location | None = None
    sources: tuple[str, ...] = ()           # allowed origins when restricted
    by_policy: bool = False                 # decided by a policy / fall-through, not a rule
    evidence: str = ""
    reason: str = ""                        # why unknown, or a caveat worth saying
    templated: bool = False                 # a templated value took part in the decision
    port_explicit: bool = False             # the deciding accept names the port (not a catch-all)
    assumed_ifaces: tuple[str, ...] = ()    # taken to face the internet, undeclared

    def admits(self, address: str) -> bool | None:
        """Would a new connection from ``address`` get in? None when the files cannot say
        (unknown state, or sources that are named sets, interfaces or templates)."""
        try:
            addr = ipaddress.ip_address(address)
        except ValueError:
            return None
        if self.state == OPEN:
            return True
        if self.state == CLOSED:
            return False
        if self.state != RESTRICTED:
            return None
        undecided = False
        for s in self.sources:
            try:
                net = ipaddress.ip_network(s, strict=False)
            except ValueError:
                undecided = True
                continue
            if net.version == addr.version and addr in net:
                return True
        return None if undecided else False


@dataclass
class Walk:
    verdict: str                      # accept | drop | unknown
    loc: Location | None = None
    text: str = ""
    by_policy: bool = False
    maybe: FilterRule | None = None         # first rule whose match could not be decided
    reached: set[tuple[str, int]] = field(default_factory=set)
    entered: set[str] = field(default_factory=set)
    reason: str = ""
    rule: FilterRule | None = None          # the accepting rule, when a rule (not a policy) accepted
    assumed: tuple[str, ...] = ()     # interfaces taken to face the internet on the way


@dataclass
class PortReport:
    """Everything the judge needs for one family and port."""

    exposure: Exposure
    world: Walk
    by_origin: dict[Origin, Walk]
    reached: set[tuple[str, int]]
    entered: set[str]
    # Per chain name, its rules that can see a TCP packet to the port (with their indices),
    # as the walks filtered them: what a later pass over the chain needs to look at.
    relevant: dict[str, list[tuple[int, FilterRule]]] = field(default_factory=dict)

    def relevant_rules(self, chain: Chain, port: int) -> list[tuple[int, FilterRule]]:
        got = self.relevant.get(chain.name)
        return got if got is not None else relevant_rules(chain.rules, port)


class _Stop(Exception):
    pass


def relevant(rule: FilterRule, port: int) -> bool:
    """Cheap pre-filter: a rule that can never see a TCP packet to ``port`` is skipped."""
    tcp, ports = rule.port_filter
    if not tcp:
        return False
    for c in ports:  # noqa: SIM110 - hot path, a loop beats all(genexpr)
        if c.covers(port) == c.negate:
            return False
    return True


def relevant_rules(rules: list[FilterRule], port: int) -> list[tuple[int, FilterRule]]:
    """``relevant`` over a whole chain, with the indices, inlined: it runs once per chain and
    port over every rule of a large ruleset."""
    out = []
    for i, r in enumerate(rules):
        tcp, ports = r.port_filter
        if not tcp:
            continue
        for c in ports:
            hit = False
            for lo, hi in c.ranges:
                if lo <= port <= hi:
                    hit = True
                    break
            if hit == c.negate:
                break
        else:
            out.append((i, r))
    return out


class PortIndex:
    """A chain's rules that can see TCP, by destination port where a rule names exactly one
    (the bulk of a large ruleset), the others in order: a port's relevant rules are then its
    own and those of the others that pass ``relevant``, instead of a pass over every rule."""

    __slots__ = ("chain", "other_idx", "single", "size")

    def __init__(self, chain: Chain) -> None:
        self.chain, self.size = chain, len(chain.rules)
        self.single: dict[int, list[int]] = {}
        other_idx: list[int] = []
        single = self.single
        for i, r in enumerate(chain.rules):
            tcp, ports = r.port_filter
            if not tcp:
                continue
            if len(ports) == 1:
                c = ports[0]
                rg = c.ranges
                if len(rg) == 1 and not c.negate and rg[0][0] == rg[0][1]:
                    # relevant(r, port) is exactly port == this one
                    got = single.get(rg[0][0])
                    if got is None:
                        single[rg[0][0]] = [i]
                    else:
                        got.append(i)
                    continue
            other_idx.append(i)
        self.other_idx = other_idx

    def relevant(self, port: int) -> list[tuple[int, FilterRule]]:
        rules = self.chain.rules
        hits = self.single.get(port, [])
        others = [i for i in self.other_idx if relevant(rules[i], port)]
        idx = sorted(hits + others) if hits and others else (hits or others)
        return [(i, rules[i]) for i in idx]


def _index(rs: Ruleset, chain: Chain) -> PortIndex:
    got = rs.port_index.get(chain.name)
    if not isinstance(got, PortIndex) or got.chain is not chain or got.size != len(chain.rules):
        got = rs.port_index[chain.name] = PortIndex(chain)
    return got


class _Walker:
    def __init__(self, rs: Ruleset, port: int, dst: ipaddress.IPv4Address | ipaddress.IPv6Address |
                 None = None) -> None:
        self.rs = rs
        self.port = port
        self.dst = dst
        self.filtered: dict[str, list[tuple[int, FilterRule]]] = {}

    def rules(self, chain: Chain) -> list[tuple[int, FilterRule]]:
        got = self.filtered.get(chain.name)
        if got is None:
            got = _index(self.rs, chain).relevant(self.port)
            self.filtered[chain.name] = got
        return got

    def walk(self, origin: Origin, maybe_yes: bool) -> Walk:
        pkt = Packet(origin, self.port, ifaces=self.rs.ifaces, dst=self.dst)
        w = self._walk(pkt, maybe_yes)
        if pkt.assumed:
            w.assumed = tuple(sorted(pkt.assumed))
        return w

    def _walk(self, pkt: Packet, maybe_yes: bool) -> Walk:
        if self.rs.disabled_loc is not None:
            return Walk("accept", self.rs.disabled_loc, "firewall disabled", by_policy=True)
        if not self.rs.stages:
            return Walk("unknown", self.rs.first_loc, reason="no input filter chain in this file")
        w = Walk("unknown")
        accepts = _Accepts()
        for stage in self.rs.stages:
            chain = self.rs.chains.get(stage)
            if chain is None:
                continue
            res = self._chain(chain, pkt, maybe_yes, w, 0)
            if res[0] in ("return", "end"):
                if chain.policy is None or chain.policy is V.UNKNOWN:
                    return _unhooked(w, chain, self.rs.first_loc)
                verdict = "accept" if chain.policy is V.ACCEPT else "drop"
                res = (verdict, chain.policy_loc, chain.policy_text, True)
            if res[0] != "accept":
                w.verdict, w.loc, w.text, w.by_policy = res
                return w
            accepts.note(res, chain.policy_implicit, w.rule)
        accepted = accepts.decisive()
        w.verdict, w.loc, w.text, w.by_policy = "accept", accepted.loc, accepted.text, accepted.by_policy
        w.rule = accepted.rule
        return w

    def _chain(self, chain: Chain, pkt: Packet, maybe_yes: bool, w: Walk,
               depth: int) -> _Result:
        """Returns (accept|drop|unknown|return|end, location, text, by_policy)."""
        if depth > MAX_DEPTH:
            return ("unknown", None, "jump loop", False)
        w.entered.add(chain.name)
        for idx, rule in self.rules(chain):
            w.reached.add((chain.name, idx))
            hit = _match(rule, pkt, maybe_yes)
            if hit is Tri.NO:
                continue
            if hit is Tri.MAYBE:
                if w.maybe is None:
                    w.maybe = rule
                if not maybe_yes:
                    continue
            res = self._act(rule, pkt, maybe_yes, w, depth)
            if res is not None:
                return res
        return ("end", None, "", False)

    def _act(self, rule: FilterRule, pkt: Packet, maybe_yes: bool, w: Walk,
             depth: int) -> _Result | None:
        """What a rule that matches (or, with ``maybe_yes``, may match) does with the packet;
        None when the packet goes on to the next rule."""
        k = rule.verdict.kind
        final = _FINAL.get(k)
        if final is not None:
            if k is V.ACCEPT:
                w.rule = rule
            return (final, rule.loc, rule.text, False)
        if k is V.UNKNOWN:
            # A verdict not understood: the first such rule is what makes the outcome unsure.
            if w.maybe is None:
                w.maybe = rule
            return ("accept", rule.loc, rule.text, False) if maybe_yes else None
        if k is V.JUMP or k is V.GOTO:
            return self._jump(rule, pkt, maybe_yes, w, depth)
        return None

    def _jump(self, rule: FilterRule, pkt: Packet, maybe_yes: bool, w: Walk,
              depth: int) -> _Result | None:
        """A jump decides when its target chain does; after a goto the calling chain is left
        (as on a return), after a jump it goes on. A target not in this file cannot be judged."""
        target = self.rs.chains.get(rule.verdict.target or "")
        if target is None:
            return ("unknown", rule.loc, rule.text, False)
        sub = self._chain(target, pkt, maybe_yes, w, depth + 1)
        if sub[0] in ("accept", "drop", "unknown"):
            return sub
        if rule.verdict.kind is V.GOTO:
            return ("return", rule.loc, rule.text, False)
        return None


# (accept|drop|unknown|return|end, location, text, by_policy): what a chain did with a packet
_Result = tuple[str, Location | None, str, bool]
# Rule verdicts that end the chain whatever follows, and what they do
_FINAL = {V.ACCEPT: "accept", V.DROP: "drop", V.RETURN: "return"}


def _match(rule: FilterRule, pkt: Packet, maybe_yes: bool) -> Tri:
    """Whether the packet matches all of the rule's conditions: NO at the first that fails,
    else MAYBE if one could not be decided. Set updates are applied in statement order, as the
    kernel does before the statement's own check, while the rule may still match (or
    ``maybe_yes`` takes undecided matches as hits)."""
    hit = Tri.YES
    effects = rule.effects
    for c in rule.conds:
        if effects and c.effect and (hit is Tri.YES or maybe_yes):
            c.apply(pkt)
        t = c.test(pkt)
        if t is Tri.NO:
            return Tri.NO
        if t is Tri.MAYBE:
            hit = Tri.MAYBE
    return hit


def _unhooked(w: Walk, chain: Chain, first_loc: Location | None) -> Walk:
    """A base chain whose packets fall through without a policy this file sets: what follows
    is decided elsewhere, so the walk cannot be judged."""
    w.verdict = "unknown"
    w.loc = chain.policy_loc or first_loc
    w.by_policy = True
    w.reason = (f"chain {chain.name} is not hooked to input here, so what happens "
                "after it depends on rules outside this file")
    return w


class _Accepts:
    """The accepts of one walk's base chains, to pick the most telling: a rule's (the first
    one), else an explicit policy, else the last implicit one (the filter table's INPUT comes
    last)."""

    __slots__ = ("best", "first_rule", "rank")

    def __init__(self) -> None:
        self.best: Walk | None = None
        self.first_rule: Walk | None = None
        self.rank = 3

    def note(self, res: _Result, implicit: bool, rule: FilterRule | None) -> None:
        _, loc, text, by_policy = res
        rank = 0 if not by_policy else (2 if implicit else 1)
        if self.best is not None and rank > self.rank:
            return
        self.best, self.rank = Walk("accept", loc, text, by_policy), rank
        self.best.rule = None if by_policy else rule
        if rank == 0 and self.first_rule is None:
            self.first_rule = self.best

    def decisive(self) -> Walk:
        assert self.best is not None
        return self.first_rule or self.best


def origins_for(rs: Ruleset, port: int, walker: _Walker | None = None) -> list[Origin]:
    """The world, then the sources and internal interfaces that rules could let in.

    A positive source on a drop rule can only keep its net out, so it is no candidate
    (a block list of thousands of nets costs nothing); rules naming the port come first.
    """
    out: list[Origin] = [Origin(rs.family)]
    seen: set[Origin] = set(out)
    w = walker or _Walker(rs, port)
    rules = [r for chain in rs.chains.values() for _, r in w.rules(chain)
             if r.verdict.kind is not V.NONE]
    rules.sort(key=lambda r: not r.mentions_port(port))
    for rule in rules:
        drops = rule.verdict.kind is V.DROP
        for c in rule.conds:
            for o in _candidates(rs, c, drops):
                if o not in seen:
                    seen.add(o)
                    out.append(o)
                    if len(out) >= MAX_ORIGINS:
                        return out
    return out


def _candidates(rs: Ruleset, c: Cond, drops: bool) -> list[Origin]:
    """The origins one condition of a rule names that the rule could let in: the first
    kind in ``_CANDIDATES`` the condition is an instance of decides (a subclass such as
    iptables' lazy source counts as its base)."""
    for kind, pick in _CANDIDATES:
        if isinstance(c, kind):
            return pick(rs, c, drops)
    return []


def _anyof_candidates(rs: Ruleset, c: AnyOf, drops: bool) -> list[Origin]:
    """The positive source nets of each alternative; a negated set of alternatives, or one
    on a drop rule, lets none of them in."""
    if c.negate or drops:
        return []
    return [o for alt in c.alts for s in alt if isinstance(s, Source) and not s.negate
            for o in _net_origins(rs, s)]


def _set_candidates(rs: Ruleset, c: SetLookup, drops: bool) -> list[Origin]:
    """A named set matched on the source: its members are one origin (the set is not read)."""
    if not c.by_source or (drops and not c.negate):
        return []
    return [Origin(rs.family, set_name=c.label)]


def _source_candidates(rs: Ruleset, c: Source, drops: bool) -> list[Origin]:
    """Each net and each named set; a negated source on a drop rule lets everything else in,
    so it counts too."""
    if drops and not c.negate:
        return []
    return _net_origins(rs, c) + [Origin(rs.family, set_name=s) for s in c.sets]


def _net_origins(rs: Ruleset, c: Source) -> list[Origin]:
    """The source's nets of the ruleset's family, but not the whole address space (the
    world is the first origin anyway)."""
    return [Origin(rs.family, net=n) for n in c.nets if n.prefixlen and _family_of(n) == rs.family]


def _iface_candidates(rs: Ruleset, c: InIface, drops: bool) -> list[Origin]:
    """Internal interfaces the rule names, never loopback; an interface match that was not
    understood names none."""
    if c.unknown or (drops and not c.negate):
        return []
    internal = rs.ifaces.is_internal if rs.ifaces else is_internal_iface
    return [Origin(rs.family, iface=_iface_member(n)) for n in c.names
            if internal(n) and n != "lo"]


def _iface_member(name: str) -> str:
    """An interface a packet can arrive on for ``name``: a ``+``/``*`` wildcard's ``0``."""
    return name.rstrip("+*") + ("0" if name[-1:] in "+*" else "")


# Each picker takes the condition as the type it is paired with.
_CANDIDATES: tuple[tuple[type[Cond], Callable[[Ruleset, Any, bool], list[Origin]]], ...] = (
    (AnyOf, _anyof_candidates),
    (SetLookup, _set_candidates),
    (Source, _source_candidates),
    (InIface, _iface_candidates),
)


def _family_of(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    return "ipv4" if net.version == 4 else "ipv6"


def evaluate(rs: Ruleset, port: int) -> PortReport:
    """With ``public_interfaces`` declared the internet arrives on each of them: the most exposed
    of those walks decides (open, else unknown, else the first)."""
    public = [p for p in (rs.ifaces.public if rs.ifaces else ()) if p.rstrip("+*") != "lo"]
    if not public:
        return _evaluate(rs, port, Origin(rs.family))
    reps = [_evaluate(rs, port, Origin(rs.family, iface=p.rstrip("+*") + ("0" if p[-1:] in "+*" else "")))
            for p in public]
    for state in (OPEN, UNKNOWN):
        for r in reps:
            if r.exposure.state == state:
                return r
    return reps[0]


def _evaluate(rs: Ruleset, port: int, world_origin: Origin,
              dst: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None) -> PortReport:
    walker = _Walker(rs, port, dst)
    world = walker.walk(world_origin, maybe_yes=False)
    reached, entered = set(world.reached), set(world.entered)
    templated = world.maybe is not None
    if world.maybe is not None:
        alt = walker.walk(world_origin, maybe_yes=True)
        reached |= alt.reached
        if alt.verdict != world.verdict:
            m = world.maybe
            exp = Exposure(UNKNOWN, m.loc, evidence=m.text, templated=True,
                           reason=f"the rule at line {m.loc.line} holds a value that is templated "
                                  "or not understood, and whether it matches decides the outcome")
            return PortReport(exp, world, {}, reached, entered, walker.filtered)
    by_origin: dict[Origin, Walk] = {}
    if world.verdict == "accept":
        explicit = world.rule is not None and world.rule.mentions_port(port)
        exp = Exposure(OPEN, world.loc, by_policy=world.by_policy, evidence=world.text,
                       templated=templated, port_explicit=explicit, assumed_ifaces=world.assumed)
    elif world.verdict == "unknown":
        exp = Exposure(UNKNOWN, world.loc, evidence=world.text, reason=world.reason,
                       by_policy=world.by_policy)
    else:
        sources: list[str] = []
        first: Walk | None = None
        for origin in origins_for(rs, port, walker)[1:]:
            if origin == world_origin:
                continue
            ow = walker.walk(origin, maybe_yes=False)
            by_origin[origin] = ow
            reached |= ow.reached
            entered |= ow.entered
            if ow.verdict == "accept":
                sources.append(origin.label())
                first = first or ow
        if first is not None:
            # Restricted: the line that lets the named sources in is the one that decides.
            exp = Exposure(RESTRICTED, first.loc, tuple(sources), by_policy=first.by_policy,
                           evidence=first.text, templated=templated)
        else:
            exp = Exposure(CLOSED, world.loc, by_policy=world.by_policy, evidence=world.text,
                           templated=templated)
    return PortReport(exp, world, by_origin, reached, entered, walker.filtered)
