"""One typed model for every firewall format.

Each parser turns its text into ``Ruleset`` values (one per address family), so
that a single evaluator decides reachability the same way for iptables, nftables,
ufw and firewalld. A match condition answers with three values because a
templated or unsupported condition must never be guessed: ``MAYBE`` makes the
evaluator try both answers and report "unknown" when they disagree.
"""

from __future__ import annotations

import contextlib
import enum
import gc
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field

from imap_gate.findings import Location

Net = ipaddress.IPv4Network | ipaddress.IPv6Network
# Interface names that by convention face a VPN, a container bridge or the host itself;
# a rule bound to them does not let an arbitrary internet source in.
INTERNAL_IFACE_PREFIXES = ("lo", "wg", "tun", "tap", "docker", "br-", "virbr", "lxc", "lxd", "veth",
                           "vpn", "tailscale", "zt", "cni", "flannel", "cali", "vxlan", "kube",
                           "podman", "nebula", "ipsec", "vti", "ppp-vpn")


class Tri(enum.Enum):
    YES = "yes"
    NO = "no"
    MAYBE = "maybe"

    @staticmethod
    def of(value: bool) -> Tri:
        return Tri.YES if value else Tri.NO

    def negate(self, neg: bool) -> Tri:
        if not neg or self is Tri.MAYBE:
            return self
        return Tri.NO if self is Tri.YES else Tri.YES


@dataclass(frozen=True)
class Origin:
    """Where a test connection comes from: the open internet, one source net, or an interface."""

    family: str
    net: Net | None = None        # None: an arbitrary internet address
    set_name: str | None = None   # a named set / ipset / template whose members are unknown
    iface: str | None = None      # None: an internet-facing interface

    @property
    def is_world(self) -> bool:
        return self.net is None and self.set_name is None and self.iface is None

    def label(self) -> str:
        if self.net is not None:
            return str(self.net)
        if self.set_name is not None:
            return self.set_name
        if self.iface is not None:
            return f"interface {self.iface}"
        return "any"


@dataclass(frozen=True)
class Packet:
    """A new TCP connection (a SYN) to ``port`` from ``origin``."""

    origin: Origin
    port: int
    proto: str = "tcp"
    sport: int = 45000  # an ordinary ephemeral client port
    # (set, key) pairs this packet's own key was put into on its way (nft ``add @s { ip saddr }``):
    # a later lookup of the same set by the same key finds it. Filled by the walker only.
    members: set[tuple[str, str]] = field(default_factory=set, compare=False, hash=False)
    ifaces: IfaceView | None = None   # what the manifest declares about interfaces
    dst: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None  # forwarded: the inner host
    # Interfaces the walk took to face the internet without a declaration saying so.
    assumed: set[str] = field(default_factory=set, compare=False, hash=False)


@contextlib.contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic collector: a large ruleset is hundreds of thousands of small acyclic
    objects that every collection would rescan, turning linear work quadratic.

    On the way out the survivors are moved to the permanent generation (``gc.freeze``), so
    the next young collection does not rescan them all either; they are acyclic and still
    freed by reference counting when dropped.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.freeze()
            gc.enable()


@dataclass(frozen=True)
class IfaceView:
    """The manifest's word on interfaces: ``internal_interfaces`` no internet source arrives on;
    with ``public_interfaces`` the internet arrives on those only. ``lo`` never faces it."""

    internal: tuple[str, ...] = ()
    public: tuple[str, ...] = ()

    def is_internal(self, name: str) -> bool:
        if name.rstrip("+*") == "lo":
            return True
        if self.public:
            return not any(iface_overlap(name, p) for p in self.public)
        if any(iface_overlap(name, i) for i in self.internal):
            return True
        return is_internal_iface(name)

    def declared(self, name: str) -> bool:
        return bool(self.public) or name.rstrip("+*") == "lo" or \
            any(iface_overlap(name, i) for i in self.internal)


def iface_overlap(a: str, b: str) -> bool:
    """Can one interface match both names (either may be a wildcard such as ``eth+``)?"""
    pa, pb = a.endswith(("+", "*")), b.endswith(("+", "*"))
    ra, rb = a.rstrip("+*"), b.rstrip("+*")
    if pa and pb:
        return ra.startswith(rb) or rb.startswith(ra)
    if pa:
        return rb.startswith(ra)
    if pb:
        return ra.startswith(rb)
    return a == b


def is_internal_iface(name: str) -> bool:
    n = name.rstrip("+*")
    return n == "lo" or any(n.startswith(p) for p in INTERNAL_IFACE_PREFIXES if p != "lo")


# ---------------------------------------------------------------- conditions

class Cond:
    """A match condition: ``test`` answers whether the packet matches."""

    templated: bool = False
    effect: bool = False   # ``apply`` changes what later conditions see (a set update)

    def apply(self, pkt: Packet) -> None:  # pragma: no cover - only effects implement it
        pass

    def test(self, pkt: Packet) -> Tri:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass(frozen=True)
class Proto(Cond):
    protos: frozenset[str]   # lower-case names or numbers; "all" matches everything
    negate: bool = False

    def test(self, pkt: Packet) -> Tri:
        hit = bool(self.protos & {"all", "0", "tcp", "6"}) if pkt.proto == "tcp" else \
            pkt.proto in self.protos
        return Tri.of(hit).negate(self.negate)


@dataclass(frozen=True)
class Ports(Cond):
    """A destination (or source) port condition: ranges, inclusive."""

    ranges: tuple[tuple[int, int], ...]
    negate: bool = False
    source: bool = False
    unknown: str | None = None   # a templated or unresolvable value: never guessed

    @property
    def templated(self) -> bool:  # type: ignore[override]
        return self.unknown is not None

    @classmethod
    def of(cls, ranges: tuple[tuple[int, int], ...], negate: bool, source: bool) -> Ports:
        """``Ports(ranges, negate, source)`` without the frozen dataclass's guarded setattr per
        field: iptables_args builds one per distinct port of a large ruleset."""
        p = object.__new__(cls)
        d = p.__dict__
        d["ranges"], d["negate"], d["source"], d["unknown"] = ranges, negate, source, None
        return p

    def covers(self, port: int) -> bool:
        # A plain loop: this runs once per rule per port, and any(genexpr) is slower.
        for lo, hi in self.ranges:  # noqa: SIM110
            if lo <= port <= hi:
                return True
        return False

    def test(self, pkt: Packet) -> Tri:
        if self.unknown is not None:
            return Tri.MAYBE
        if self.source:
            # An ordinary client uses an ephemeral port; only a condition that covers the whole
            # ephemeral range, or none of it, has a definite answer.
            lo_e, hi_e = 32768, 60999
            full = any(lo <= lo_e and hi >= hi_e for lo, hi in self.ranges)
            none = all(hi < lo_e or lo > hi_e for lo, hi in self.ranges)
            base = Tri.YES if full else (Tri.NO if none else Tri.MAYBE)
            return base.negate(self.negate)
        return Tri.of(self.covers(pkt.port)).negate(self.negate)


@dataclass(frozen=True)
class Source(Cond):
    nets: tuple[Net, ...] = ()
    sets: tuple[str, ...] = ()    # named sets, ipsets, templated values: members unknown
    negate: bool = False
    is_any: bool = field(default=False, init=False, compare=False, repr=False)

    def labels(self) -> tuple[str, ...]:
        return tuple(str(n) for n in self.nets) + self.sets

    def __post_init__(self) -> None:
        # Precomputed: the world test runs once per rule per walk.
        object.__setattr__(self, "is_any", any(n.prefixlen == 0 for n in self.nets))

    def test(self, pkt: Packet) -> Tri:
        o = pkt.origin
        if pkt.members and any((s, SADDR_KEY) in pkt.members for s in self.sets):
            return Tri.YES.negate(self.negate)
        if o.net is None and o.set_name is None:
            hit = self.is_any
        elif o.set_name is not None:
            hit = o.set_name in self.sets or self.is_any
        else:
            assert o.net is not None
            hit = any(n.version == o.net.version and o.net.subnet_of(n)  # type: ignore[arg-type]
                      for n in self.nets)
        return Tri.of(hit).negate(self.negate)


SADDR_KEY = "saddr"   # the key of a plain ``ip saddr @set`` / ``ip6 saddr @set`` lookup


@dataclass(frozen=True)
class AnyOf(Cond):
    """A lookup in a set whose elements are known: one selector or a concatenation
    (``ip saddr . tcp dport { 192.0.2.1 . 143, ... }``); it matches when every component of
    one element matches."""

    alts: tuple[tuple[Cond, ...], ...]
    negate: bool = False

    def test(self, pkt: Packet) -> Tri:
        res = Tri.NO
        for alt in self.alts:
            r = Tri.YES
            for c in alt:
                t = c.test(pkt)
                if t is Tri.NO:
                    r = Tri.NO
                    break
                if t is Tri.MAYBE:
                    r = Tri.MAYBE
            if r is Tri.YES:
                res = Tri.YES
                break
            if r is Tri.MAYBE:
                res = Tri.MAYBE
        return res.negate(self.negate)


@dataclass(frozen=True)
class SetLookup(Cond):
    """A lookup in a set whose members are unknown (dynamic, filled at run time) by a key that
    is not a plain source address (a concatenation such as ``ip saddr . tcp dport``).

    With the source address in the key it is a restriction, as a named set of sources is: an
    arbitrary internet address is taken to be in no such set, the set's own members are.
    Without it, whether the packet is a member is not guessed.
    """

    label: str
    key: str
    by_source: bool
    negate: bool = False

    def test(self, pkt: Packet) -> Tri:
        if (self.label, self.key) in pkt.members:
            return Tri.YES.negate(self.negate)
        if not self.by_source:
            return Tri.MAYBE
        o = pkt.origin
        if o.set_name is not None:
            return Tri.of(o.set_name == self.label).negate(self.negate)
        return Tri.NO.negate(self.negate)


@dataclass(frozen=True)
class SetAdd(Cond):
    """nft ``add @s { KEY ... }`` / ``update @s { ... }`` / ``meter``: puts the packet's key into a
    set, then matches as the stateful statement inside does (``limit rate over``: not for the
    first connection). A lookup of the same set by the same key later on the packet's way finds
    it; that is the only way the statement bears on whether the connection gets in."""

    label: str
    key: str
    inner: Tri = Tri.YES
    effect: bool = True

    def test(self, pkt: Packet) -> Tri:
        return self.inner

    def apply(self, pkt: Packet) -> None:
        if self.key:
            pkt.members.add((self.label, self.key))


def _special(net: Net) -> bool:
    """Destinations a connection to the host's service address never has."""
    return (net.is_loopback or net.is_multicast or net.is_link_local or net.is_unspecified or
            (net.version == 4 and net.network_address == ipaddress.IPv4Address("255.255.255.255")))


@dataclass(frozen=True)
class Dest(Cond):
    """A destination address: the test connection goes to one of the host's own unicast
    addresses, so it matches any ordinary address (the rule's author named the host) and
    none of the loopback, multicast or broadcast ones."""

    nets: tuple[Net, ...]
    negate: bool = False

    def test(self, pkt: Packet) -> Tri:
        if pkt.dst is not None:  # a forwarded connection: its destination is one known host
            return Tri.of(any(n.version == pkt.dst.version and pkt.dst in n  # type: ignore[operator]
                              for n in self.nets)).negate(self.negate)
        return Tri.of(any(not _special(n) for n in self.nets)).negate(self.negate)


@dataclass(frozen=True)
class InIface(Cond):
    names: tuple[str, ...]
    negate: bool = False
    unknown: bool = False

    def test(self, pkt: Packet) -> Tri:
        if self.unknown:
            return Tri.MAYBE
        want = pkt.origin.iface
        if want is None:
            view = pkt.ifaces
            if view is None:
                hit = any(not is_internal_iface(n) for n in self.names)
            else:
                hit = any(not view.is_internal(n) for n in self.names)
            for n in self.names:
                if not (is_internal_iface(n) or (view is not None and view.declared(n))):
                    pkt.assumed.add(n)  # faces the internet only because nothing says otherwise
        else:
            hit = any(_iface_match(n, want) for n in self.names)
        return Tri.of(hit).negate(self.negate)


def _iface_match(pattern: str, name: str) -> bool:
    if pattern.endswith(("+", "*")):
        return name.startswith(pattern[:-1])
    return pattern == name


@dataclass(frozen=True)
class State(Cond):
    """Connection tracking state: a test connection is always NEW."""

    states: frozenset[str]
    negate: bool = False

    def test(self, pkt: Packet) -> Tri:
        return Tri.of("new" in self.states).negate(self.negate)


@dataclass(frozen=True)
class FamilyIs(Cond):
    family: str
    negate: bool = False

    def test(self, pkt: Packet) -> Tri:
        return Tri.of(pkt.origin.family == self.family).negate(self.negate)


@dataclass(frozen=True)
class Const(Cond):
    value: Tri
    why: str = ""

    @property
    def templated(self) -> bool:  # type: ignore[override]
        return self.value is Tri.MAYBE

    def test(self, pkt: Packet) -> Tri:
        return self.value


# ---------------------------------------------------------------- rules and chains

class V(enum.StrEnum):
    ACCEPT = "accept"
    DROP = "drop"          # drop and reject: both final
    RETURN = "return"
    JUMP = "jump"
    GOTO = "goto"
    NONE = "none"          # LOG, counter, mark...: the packet goes on
    UNKNOWN = "unknown"    # cannot tell (parse error, queue to user space)


@dataclass(frozen=True)
class Action:
    kind: V
    target: str | None = None  # chain for jump/goto

    def __str__(self) -> str:
        return f"{self.kind.value} {self.target}" if self.target else self.kind.value


@dataclass(frozen=True)
class FilterRule:
    conds: tuple[Cond, ...]
    verdict: Action
    loc: Location
    text: str = ""
    nat_to: str | None = None   # a destination NAT's target, where the reader knows it

    # (can it match TCP at all, its definite destination-port conditions): computed once, as
    # the evaluator's cheap pre-filter runs per rule per port.
    port_filter: tuple[bool, tuple[Ports, ...]] = field(default=(True, ()), init=False,
                                                         compare=False, repr=False)
    effects: bool = field(default=False, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        tcp = True
        ports: list[Ports] = []
        for c in self.conds:
            if isinstance(c, Ports) and not c.source and c.unknown is None:
                ports.append(c)
            elif isinstance(c, Proto) and not c.negate and not (c.protos & {"all", "0", "tcp", "6"}):
                tcp = False
        object.__setattr__(self, "port_filter", (tcp, tuple(ports)))
        object.__setattr__(self, "effects", any(c.effect for c in self.conds))

    @classmethod
    def prebuilt(cls, conds: tuple[Cond, ...], verdict: Action, loc: Location, text: str,
                 port_filter: tuple[bool, tuple[Ports, ...]], effects: bool) -> FilterRule:
        """A rule whose derived fields the caller has computed as ``__post_init__`` would
        (iptables_fast: once per plan, for every rule of it). Skipping the frozen dataclass's
        ``__init__`` (a guarded ``object.__setattr__`` per field) halves the cost of a rule
        in a ruleset of 100k of them."""
        r = object.__new__(cls)
        d = r.__dict__
        d["conds"], d["verdict"], d["loc"], d["text"], d["nat_to"] = conds, verdict, loc, text, None
        d["port_filter"], d["effects"] = port_filter, effects
        return r

    def ports(self) -> Ports | None:
        for c in self.conds:
            if isinstance(c, Ports) and not c.source:
                return c
        return None

    def mentions_port(self, port: int) -> bool:
        """An explicit, definite destination-port condition that includes ``port``."""
        for c in self.port_filter[1]:  # noqa: SIM110 - hot path, a loop beats any(genexpr)
            if not c.negate and c.covers(port):
                return True
        return False

    def sources(self) -> Source | None:
        for c in self.conds:
            if isinstance(c, Source):
                return c
        return None


@dataclass
class Chain:
    name: str
    rules: list[FilterRule] = field(default_factory=list)
    policy: V | None = None          # base chains: ACCEPT / DROP / UNKNOWN
    policy_loc: Location | None = None
    policy_text: str = ""
    policy_implicit: bool = False    # nft base chain without policy, iptables chain never set


@dataclass
class Ruleset:
    """One address family's filter path for packets to the host itself."""

    family: str
    stages: list[str] = field(default_factory=list)  # base chains in traversal order
    chains: dict[str, Chain] = field(default_factory=dict)
    first_loc: Location | None = None
    notes: list[str] = field(default_factory=list)
    disabled_loc: Location | None = None  # ufw disabled/reset: nothing filters
    ifaces: IfaceView | None = None       # the manifest's interface declarations, if any
    # The forwarding path, where the format names it (nft: nat prerouting and filter forward
    # base chains in hook and priority order; iptables derives it from its table names).
    dnat_stages: list[str] = field(default_factory=list)
    forward_stages: list[str] = field(default_factory=list)
    # The evaluator's per-chain index of rules by destination port (evaluate.PortIndex),
    # built once for every port it asks about.
    port_index: dict[str, object] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class ParseIssue:
    loc: Location
    message: str
    text: str = ""
    templated: bool = False


@dataclass
class Parsed:
    """What a parser returns: rulesets for the families the file speaks of, and its problems."""

    format: str
    rulesets: dict[str, Ruleset] = field(default_factory=dict)
    issues: list[ParseIssue] = field(default_factory=list)
    path: str = ""
