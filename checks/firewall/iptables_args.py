"""The rule specification shared by iptables-save files and iptables shell scripts.

``parse_spec`` turns the words after ``-A CHAIN`` into match conditions and a
verdict. Options may come in any order (ufw writes ``-j RETURN -m limit ...``);
an option this module does not know becomes an undecidable condition rather than
a guess, and malformed values raise ``SpecError`` (reported as FW006).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

from .iptables_ext import (
    CORE_ALIASES,
    CORE_NARGS,
    CT_STATES,
    MATCH_ALIASES,
    MATCHES,
    MODELLED,
    NEUTRAL,
    PROTO_MATCH,
    PROTOCOLS,
    STATE_STATES,
    TARGETS,
    Ext,
)
from .model import (
    Action,
    Cond,
    Const,
    Dest,
    InIface,
    Net,
    Ports,
    Proto,
    Source,
    State,
    Tri,
    V,
)
from .services import port_of

TEMPLATE_MARKS = ("{{", "}}", "{%", "$", "%%", "!!", "<%", "@@")

FINAL_DROP = {"DROP", "REJECT", "TARPIT"}
# Targets that let the packet go on to the next rule (they log, mark, count...).
NON_TERMINAL = {"LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "CT", "NOTRACK", "TCPMSS", "TOS", "DSCP",
                "SET", "AUDIT", "CLASSIFY", "TRACE", "CHECKSUM", "TTL", "HL", "SECMARK",
                "CONNSECMARK", "LED", "IDLETIMER", "TEE", "HMARK", "RATEEST", "ECN",
                "TCPOPTSTRIP", "CLUSTERIP"}
NAT_TARGETS = {"DNAT", "SNAT", "MASQUERADE", "REDIRECT", "NETMAP", "DNPT", "SNPT", "TPROXY"}
FLAG_BITS = {"FIN": 1, "SYN": 2, "RST": 4, "PSH": 8, "ACK": 16, "URG": 32, "ALL": 63, "NONE": 0}
# Matches the kernel accepts only with their protocol (``-m tcp`` needs ``-p tcp``).
NEEDS_PROTO: dict[str, frozenset[str]] = {
    "tcp": frozenset({"tcp", "6"}), "udp": frozenset({"udp", "17"}),
    "sctp": frozenset({"sctp", "132"}), "dccp": frozenset({"dccp", "33"}),
    "icmp": frozenset({"icmp", "1"}), "icmp6": frozenset({"icmpv6", "ipv6-icmp", "58"}),
    "esp": frozenset({"esp", "50"}), "ah": frozenset({"ah", "51"}),
    "mh": frozenset({"mh", "ipv6-mh", "135"}),
    "multiport": frozenset({"tcp", "6", "udp", "17", "udplite", "136", "sctp", "132", "dccp",
                            "33"}),
}
_HOST = re.compile(r"(?=.{1,253}$)(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*"
                   r"[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?")


class SpecError(ValueError):
    """A rule specification the real tool would reject."""


@dataclass
class Spec:
    conds: list[Cond]
    verdict: Action
    target_name: str | None
    templated: list[str]
    options: frozenset[str] = frozenset()   # the core options given (-i, -o, ...)


_TEMPLATED = re.compile("|".join(re.escape(m) for m in TEMPLATE_MARKS))


def is_templated(word: str) -> bool:
    return _TEMPLATED.search(word) is not None


# iptables reads a port number as C's strtoul with base 0 does: 0x8f and 0217 are both 143.
_C_NUMBER = re.compile(r"[ \t]*\+?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")


_DECIMAL = re.compile(r"[ \t]*\+?[0-9]+")
# Matches whose ports are read in base 10 (libxtables' x6 port type): there 0217 is 217 and
# 0x8f no port; tcp, sctp, dccp and multiport read C numbers (0217 and 0x8f are 143).
DECIMAL_PORTS = frozenset({"udp", "conntrack"})


def _ipt_port(item: str, c_numbers: bool = True) -> int | None:
    if not c_numbers:
        if _DECIMAL.fullmatch(item):
            value = int(item)
            return value if value <= 65535 else None
        return None if item.strip()[:1].isdigit() else port_of(item)
    number = _c_uint(item, 65535)
    if number is not None:
        return number
    if item.strip().isdigit() or _C_NUMBER.fullmatch(item):
        return None   # "08", "99999": no C number in range, and no service is called that
    return port_of(item)


def parse_ports(text: str, multi: bool, c_numbers: bool = True) -> Ports:
    if not text.isdigit() and is_templated(text):
        return Ports((), unknown=text)
    ranges: list[tuple[int, int]] = []
    items = text.split(",") if multi else [text]
    if not multi and "," in text:
        raise SpecError(f"invalid port/service {text!r} (a list needs -m multiport --dports)")
    for item in items:
        if not item:
            raise SpecError(f"empty port in {text!r}")
        if ":" in item:
            a, b = item.split(":", 1)
            lo = _ipt_port(a, c_numbers) if a else 0
            hi = _ipt_port(b, c_numbers) if b else 65535
            if lo is None or hi is None:
                raise SpecError(f"invalid port/service {item!r}")
            if lo > hi:
                lo, hi = hi, lo
            ranges.append((lo, hi))
        else:
            p = _ipt_port(item, c_numbers)
            if p is None:
                raise SpecError(f"invalid port/service {item!r}")
            ranges.append((p, p))
    return Ports(tuple(ranges))


_DOTTED = re.compile(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:/(\d{1,2}))?")


def _c_uint(text: str, limit: int) -> int | None:
    """libxtables' xtables_strtoui(text, base 0): decimal, 0x hex or 0 octal, within limit."""
    m = _C_NUMBER.fullmatch(text)
    if m is None:
        return None
    digits = m.group(1)
    if digits[:2] in ("0x", "0X"):
        value = int(digits, 16)
    elif len(digits) > 1 and digits[0] == "0":
        value = int(digits, 8)
    else:
        value = int(digits)
    return value if value <= limit else None


def _ipt_v4(text: str, is_mask: bool = False) -> int | None:
    """An IPv4 address as libxtables reads it (__numeric_to_ipaddr): up to four parts, each a
    C number (010 is 8), missing trailing parts zero ("10.1" is 10.1.0.0); a mask needs four."""
    parts = text.split(".")
    if len(parts) > 4 or (is_mask and len(parts) != 4):
        return None
    value = 0
    for k in range(4):
        if k < len(parts):
            byte = _c_uint(parts[k], 255)
            if byte is None:
                return None
        else:
            byte = 0
        value = (value << 8) | byte
    return value


def _net(item: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """-s/-d values as iptables reads them; ValueError when it is no address (a name)."""
    if _PLAIN_ITEM.fullmatch(item):
        # The common form: plain decimal dotted quad, a decimal prefix length.
        addr, _, mask = item.partition("/")
        a, b, c, d = (int(x) for x in addr.split("."))
        plen = int(mask) if mask else 32
        value = (a << 24) | (b << 16) | (c << 8) | d
        return ipaddress.IPv4Network((value & (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF, plen))
    if item in ("0/0", "0"):
        return ipaddress.IPv4Network("0.0.0.0/0")  # iptables' usual spelling of "anywhere"
    addr, slash, mask = item.partition("/")
    if ":" in addr:
        plen6 = _c_uint(mask, 128) if slash else 128
        if plen6 is None:
            raise ValueError(item)
        return ipaddress.ip_network(f"{addr}/{plen6}", strict=False)
    value4 = _ipt_v4(addr)
    if value4 is None:
        raise ValueError(item)
    if not slash:
        plen = 32
    elif "." in mask:
        bits = _ipt_v4(mask, is_mask=True)
        if bits is None:
            raise ValueError(item)
        plen = bin(bits).count("1")
        if bits != (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF:
            raise ValueError(item)   # a mask with holes: iptables-nft cannot load it either
    else:
        got = _c_uint(mask, 32)
        if got is None:
            raise ValueError(item)
        plen = got
    return ipaddress.IPv4Network((value4 & (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF, plen))


class LazySource(Source):
    """A source of plain dotted-quad nets, checked at once but built on first use.

    Most rules of a large ruleset never take part in a verdict (their port is not 143/993,
    which the evaluator sees from the port alone), so building their networks is waste."""

    def __init__(self, text: str, negate: bool) -> None:
        # One per rule of a large ruleset: the instance dict directly, not a frozen setattr each.
        d = self.__dict__
        d["_text"], d["negate"], d["sets"] = text, negate, ()

    @property  # type: ignore[override]
    def nets(self) -> tuple[Net, ...]:
        got = self.__dict__.get("_nets")
        if got is None:
            got = tuple(_net(item) for item in self._text.split(","))  # type: ignore[attr-defined]
            object.__setattr__(self, "_nets", got)
        return got

    @property  # type: ignore[override]
    def is_any(self) -> bool:
        return any(n.prefixlen == 0 for n in self.nets)


_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_PLAIN_V4 = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}(?:/(?:3[0-2]|[12]?\d))?"
                       rf"(?:,{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}(?:/(?:3[0-2]|[12]?\d))?)*")


_PLAIN_ITEM = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}(?:/(?:3[0-2]|[12]?\d))?")


def _plain_v4(text: str) -> bool:
    """Dotted quads with masks, every number in range: exactly what _net's fast path builds."""
    return _PLAIN_V4.fullmatch(text) is not None


def parse_nets(text: str, family: str) -> Source:
    """-s/-d values. A host name is resolved by iptables once, at load time; it is never
    resolved here: it becomes a named source (it admits that host only, never the world)."""
    if _DOTTED.fullmatch(text) is None and is_templated(text):
        return Source(sets=(f"{text} (templated)",))
    nets = []
    names: list[str] = []
    for item in text.split(","):
        try:
            net = _net(item)
        except ValueError:
            names.append(_host_name(item, family))
            continue
        if (net.version == 4) != (family == "ipv4"):
            raise SpecError(f"{item!r} is not an {family} address")
        nets.append(net)
    return Source(tuple(nets), tuple(names))


def _host_name(item: str, family: str) -> str:
    host, _, mask = item.partition("/")
    if mask:
        limit = 32 if family == "ipv4" else 128
        ok = mask.isdigit() and int(mask) <= limit
        if not ok and family == "ipv4":
            try:
                ipaddress.IPv4Network(f"0.0.0.0/{mask}")
                ok = True
            except ValueError:
                ok = False
        if not ok:
            raise SpecError(f"invalid mask {mask!r} in {item!r}")
    if not _HOST.fullmatch(host):
        raise SpecError(f"host/network {item!r} is neither an {family} address nor a host name")
    return f"host {item} (a name iptables resolves at load time; not resolved here)"


def _flags(text: str) -> int:
    bits = 0
    for f in text.upper().split(","):
        if f not in FLAG_BITS:
            raise SpecError(f"unknown TCP flag {f!r}")
        bits |= FLAG_BITS[f]
    return bits


# Conditions and verdicts are immutable, so equal ones are shared: large rulesets repeat them.
_VERDICTS = {k: Action(k) for k in V}
_PROTOS: dict[tuple[str, bool], Proto] = {}
_PORTS: dict[tuple[str, bool, bool, bool, bool], Ports] = {}
_STATES: dict[tuple[str, bool], State] = {}


def _proto(v: str, neg: bool) -> Proto:
    got = _PROTOS.get((v, neg))
    if got is None:
        got = _PROTOS[(v, neg)] = Proto(frozenset({v}), neg)
    return got


def _ports(text: str, multi: bool, neg: bool, source: bool, c_numbers: bool = True) -> Ports:
    key = (text, multi, neg, source, c_numbers)
    got = _PORTS.get(key)
    if got is None:
        if text.isdigit() and text[0] != "0" and len(text) < 6 and int(text) <= 65535:
            # Plain decimal without a leading zero: the same number in base 10 and in C's base
            # 0, and no service name; what parse_ports makes of it, without its checks.
            value = int(text)
            got = Ports.of(((value, value),), neg, source)
        else:
            p = parse_ports(text, multi, c_numbers)
            got = Ports(p.ranges, neg, source, p.unknown)
        if len(_PORTS) < 65536:
            _PORTS[key] = got
    return got


def _state(text: str, neg: bool) -> State:
    got = _STATES.get((text, neg))
    if got is None:
        got = _STATES[(text, neg)] = State(frozenset(s.lower() for s in text.split(",")), neg)
    return got


class _Loaded:
    """One extension instance in a rule (each ``-m`` loads a new one; the target is one too)."""

    __slots__ = ("ext", "name", "seen")

    def __init__(self, name: str, ext: Ext) -> None:
        self.name = name
        self.ext = ext
        self.seen: set[str] = set()


def _resolve(w: str, loaded: list[_Loaded], target: _Loaded | None,
             proto: str | None, family: str) -> tuple[_Loaded | None, str, bool]:
    """Which extension defines option ``w``: (instance or None for iptables' own, canonical
    name, newly loaded). Exact names first, then unique abbreviations, as getopt_long does."""
    core = CORE_ALIASES.get(w)
    if core is not None:
        return None, core, False
    for inst in loaded:
        c = inst.ext.canonical(w)
        if c is not None:
            return inst, c, False
    if target is not None:
        c = target.ext.canonical(w)
        if c is not None:
            return target, c, False
    # Abbreviations: a unique prefix of one option (its aliases count as the same option).
    pool = [*loaded, *([target] if target else [])]
    got = _prefix(w, pool, core=True)
    if got is not None:
        return got[0], got[1], False
    # ``-p tcp`` loads the tcp match when an option iptables does not know yet appears.
    pm = PROTO_MATCH.get(proto or "")
    if pm is not None and not any(i.name == pm for i in loaded):
        ext = MATCHES[pm]
        if ext.family in (None, family):
            implicit = _Loaded(pm, ext)
            c = ext.canonical(w)
            if c is not None:
                return implicit, c, True
            got = _prefix(w, [implicit], core=False)
            if got is not None:
                return got[0], got[1], True
    raise SpecError(f"unknown option {w!r}")


def _prefix(w: str, pool: list[_Loaded], core: bool) -> tuple[_Loaded | None, str] | None:
    hits: dict[tuple[int, str], tuple[_Loaded | None, str]] = {}
    if core:
        for name, canon in CORE_ALIASES.items():
            if name.startswith(w):
                hits[(0, canon)] = (None, canon)
    for inst in pool:
        for name in inst.ext.names():
            if name.startswith(w):
                canon = inst.ext.canonical(name) or name
                hits[(id(inst), canon)] = (inst, canon)
    if len(hits) > 1:
        raise SpecError(f"option {w!r} is ambiguous")
    return next(iter(hits.values())) if hits else None


# A step of a rule's plan: (what, index of its first value, negated). ``what`` is a core
# option ("-p", "-s", ...) or (extension name, canonical option, number of values).
Step = tuple[object, int, bool]


@dataclass(frozen=True)
class _Plan:
    """What the words of a rule mean, decided from its options alone (never from the values
    of -s, --dport, ...): rules that differ only in values share one plan."""

    steps: tuple[Step, ...]
    target_name: str | None
    target_goto: bool
    options: frozenset[str]
    verdict: Action
    # Word positions that hold option values, and among them those whose value decides what
    # later words mean (-p, -m, -j, -g): every other position holds an option or a '!'.
    values: frozenset[int] = frozenset()
    deciders: tuple[int, ...] = ()


_PLANS: dict[tuple[str, ...], _Plan] = {}
# Options whose value changes what later words mean (-p loads its match, -m a match, -j a target).
_KEEP_NEXT = {"-m", "-p", "-j", "-g"} | {name[:k] for name in ("--match", "--protocol", "--jump",
                                                                "--goto")
                                         for k in range(3, len(name) + 1)}


# Rule words joined by a byte no word holds, so each word stays one token for the regexes.
_SEP = "\x01"
_VALUE_WORD = re.compile(r"(?:(?<=\x01)|^)[^-!\x01][^\x01]*")
_KEPT_VALUE = re.compile(r"(?:^|\x01)(?:" + "|".join(sorted(_KEEP_NEXT, key=len, reverse=True)) +
                         r")\x01([^\x01]*)")


def _skeleton(joined: str) -> tuple[str, ...]:
    """The options of a rule in their places (values blanked), and the values that decide what
    later words mean: two rules with one skeleton are parsed alike."""
    return (_VALUE_WORD.sub("", joined), *_KEPT_VALUE.findall(joined))


def parse_spec(words: list[str], family: str) -> Spec:
    # One search over the whole rule spares a search per word in the common, untemplated case.
    joined = _SEP.join(words)
    tpl = _TEMPLATED.search(joined) is not None
    if tpl:
        return _apply(_plan(words, family, tpl), words, family, tpl)
    return _apply(_cached_plan(words, joined, family), words, family, tpl)


def untemplated_plan(words: list[str], family: str) -> _Plan:
    """The plan of an untemplated rule (the caller has checked it holds no template mark);
    SpecError where iptables refuses its options."""
    return _cached_plan(words, _SEP.join(words), family)


def _cached_plan(words: list[str], joined: str, family: str) -> _Plan:
    key = (family, *_skeleton(joined))
    plan = _PLANS.get(key)
    if plan is None:
        plan = _plan(words, family, False)
        if len(_PLANS) < 4096:
            _PLANS[key] = plan
    return plan


def _plan(words: list[str], family: str, tpl: bool) -> _Plan:
    """Resolve every option as iptables would; SpecError for what it refuses (syntax only)."""
    return _Planner(words, family, tpl).plan()


class _Planner:
    """One pass over a rule's words, option by option, as iptables' getopt loop reads them."""

    def __init__(self, words: list[str], family: str, tpl: bool) -> None:
        self.words, self.family, self.tpl = words, family, tpl
        self.steps: list[Step] = []
        self.target_name: str | None = None
        self.target_goto = False
        self.target: _Loaded | None = None
        self.loaded: list[_Loaded] = []
        self.proto: str | None = None
        self.proto_neg = False
        self.core_seen: set[str] = set()
        self.values: set[int] = set()
        self.deciders: list[int] = []
        self.i = 0

    def plan(self) -> _Plan:
        words, n, neg = self.words, len(self.words), False
        while self.i < n:
            w = words[self.i]
            if w == "!":
                if neg:
                    raise SpecError("'!' twice in a row")
                neg = True
                self.i += 1
                continue
            if w[:1] != "-" or w == "-" or w == "--":
                raise SpecError(f"bad argument {w!r}")
            if w[1] != "-":
                if len(w) != 2 or w not in CORE_NARGS:
                    raise SpecError(f"unknown option {w!r}")
                inst, opt = None, w
            else:
                inst, opt, new = _resolve(w, self.loaded, self.target, self.proto, self.family)
                if new and inst is not None:
                    self.loaded.append(inst)
            if inst is None:
                self._core(opt, neg)
            else:
                self._ext(inst, opt, neg)
            neg = False
            self.i += 1
        if neg:
            raise SpecError("'!' at the end of the rule negates nothing")
        return self._finish()

    def _take(self, k: int) -> int:
        """Consume the ``k`` values of the option at ``i``; the index of the first."""
        words, first = self.words, self.i + 1
        for _ in range(k):
            self.i += 1
            if self.i >= len(words):
                raise SpecError(f"option {words[first - 1]!r} needs a value")
            if words[self.i] == "!":
                raise SpecError(f"'!' after {words[first - 1]!r}: write '! {words[first - 1]} "
                                "VALUE'")
            self.values.add(self.i)
        return first

    def _core(self, opt: str, neg: bool) -> None:
        key = "-j" if opt == "-g" else opt
        if key in self.core_seen and key not in ("-m", "-c"):
            raise SpecError(f"multiple {opt} flags are not allowed")
        self.core_seen.add(key)
        at = self._take(CORE_NARGS[opt])
        if opt in ("-p", "-j", "-g", "-m"):
            self.deciders.append(at)
            _CORE_PLAN[opt](self, opt, self.words[at], neg)
        elif opt == "-f" and self.family != "ipv4":
            raise SpecError("-f exists only in iptables (IPv4)")
        self.steps.append((opt, at, neg))

    def _proto(self, opt: str, value: str, neg: bool) -> None:
        v = value.lower()
        if not (self.tpl and is_templated(v)):
            if v not in PROTOCOLS and not (v.isdigit() and int(v) <= 255):
                raise SpecError(f"unknown protocol {v!r}")
            self.proto, self.proto_neg = v, neg

    def _jump(self, opt: str, v: str, neg: bool) -> None:
        self.target_name, self.target_goto = v, opt == "-g"
        ext = TARGETS.get(v)
        if ext is not None and ext.family not in (None, self.family):
            raise SpecError(f"target {v!r} does not exist for {self.family}")
        if ext is not None and opt == "-j":
            self.target = _Loaded(v, ext)

    def _match(self, opt: str, value: str, neg: bool) -> None:
        name = MATCH_ALIASES.get(value, value)
        ext = MATCHES.get(name)
        if ext is None or ext.family not in (None, self.family):
            if not (self.tpl and is_templated(name)):
                raise SpecError(f"unknown match {name!r} (iptables cannot load it)")
        else:
            self.loaded.append(_Loaded(name, ext))

    def _ext(self, inst: _Loaded, opt: str, neg: bool) -> None:
        if opt in inst.seen:
            raise SpecError(f"option {opt!r} can be given once per -m {inst.name}")
        inst.seen.add(opt)
        nargs = inst.ext.options[opt]
        at = self._take(nargs)
        if inst is not self.target:
            self.steps.append(((inst.name, opt, nargs), at, neg))

    def _finish(self) -> _Plan:
        proto, tpl = self.proto, self.tpl
        for inst in self.loaded:
            need = NEEDS_PROTO.get(inst.name)
            if need is not None and (proto is None or self.proto_neg or proto not in need) and \
                    not (tpl and proto is None and "-p" in self.core_seen):
                raise SpecError(f"-m {inst.name} needs -p {max(need, key=len)} (the kernel "
                                "refuses it otherwise)")
        steps = self.steps
        if not tpl:
            # Steps that add no condition are dropped once here, not skipped per rule.
            steps = [st for st in steps if _adds_condition(st, self.words)]
        verdict = _VERDICTS[V.NONE] if self.target_name is None else \
            _target_verdict(self.target_name, "-g" if self.target_goto else "-j", tpl)
        return _Plan(tuple(steps), self.target_name, self.target_goto, frozenset(self.core_seen),
                     verdict, frozenset(self.values), tuple(self.deciders))


_CORE_PLAN: dict[str, Callable[[_Planner, str, str, bool], None]] = {
    "-p": _Planner._proto, "-j": _Planner._jump, "-g": _Planner._jump, "-m": _Planner._match}


_PORT_OPTS = {"--dport": (False, False), "--sport": (False, True), "--dports": (True, False),
              "--sports": (True, True), "--ports": (True, False), "--ctorigdstport": (False, False)}


def _adds_condition(step: Step, words: list[str]) -> bool:
    what, at, _ = step
    if isinstance(what, tuple):
        mod, opt, _n = what
        return opt in MODELLED.get(mod, ()) or opt not in NEUTRAL.get(mod, ())
    if what == "-m":
        return words[at] == "owner"
    return what in ("-p", "-s", "-d", "-i", "-o", "-f")


def _apply(plan: _Plan, words: list[str], family: str, tpl: bool) -> Spec:
    """The conditions of a rule: its plan, filled with this rule's values, step by step (the
    compiled form, ``_Compiled``, is the same steps bound to their positions once)."""
    conds: list[Cond] = []
    templated: list[str] = []
    proto: str | None = None
    proto_neg = False
    for what, at, neg in plan.steps:
        if tpl:
            nvals = CORE_NARGS[what] if isinstance(what, str) else what[2]  # type: ignore[index]
            templated += [v for v in words[at:at + nvals] if is_templated(v)]
        if what.__class__ is tuple:
            mod, opt, nargs = what  # type: ignore[misc]
            c = _ext_cond(mod, opt, nargs, words, at, neg)
        else:
            step = _CORE_COND.get(what)  # type: ignore[call-overload]
            c = None if step is None else step(words, at, neg, family, tpl)
            if what == "-p" and not (tpl and is_templated(words[at])):
                proto, proto_neg = words[at].lower(), neg
        if c is not None:
            conds.append(c)
    if _reset_refused(plan, proto, proto_neg) and "tcp-reset" in words:
        raise SpecError(_RESET_MSG)
    return Spec(conds, plan.verdict, plan.target_name, templated, plan.options)


_RESET_MSG = "--reject-with tcp-reset is only valid with -p tcp (the kernel refuses it)"


def _reset_refused(plan: _Plan, proto: str | None, proto_neg: bool) -> bool:
    return plan.target_name == "REJECT" and (proto not in ("tcp", "6") or proto_neg)


# One function per core option that adds a condition: (words, value index, negated, family,
# templated rule) -> the condition, or None. -j / -g, -c, -4, -6 add none (the verdict comes
# from the plan).

def _c_proto(words: list[str], at: int, neg: bool, family: str, tpl: bool) -> Cond:
    v = words[at].lower()
    if tpl and is_templated(v):
        return Const(Tri.MAYBE, v)
    return _proto(v, neg)


def _c_source(words: list[str], at: int, neg: bool, family: str, tpl: bool) -> Cond:
    v = words[at]
    if family == "ipv4" and _plain_v4(v):
        return LazySource(v, neg)
    src = parse_nets(v, family)
    return Source(src.nets, src.sets, neg)


def _c_dest(words: list[str], at: int, neg: bool, family: str, tpl: bool) -> Cond | None:
    dst = parse_nets(words[at], family)
    if dst.nets:
        return Dest(dst.nets, neg)
    if not any(s.endswith("(templated)") for s in dst.sets):
        # A host name: like an address the author named, taken to be this host's.
        return Const(Tri.of(not neg), "destination " + ", ".join(dst.sets))
    return None


def _c_in(words: list[str], at: int, neg: bool, family: str, tpl: bool) -> Cond:
    v = words[at]
    if len(v) > 15:
        raise SpecError(f"interface name {v!r} is longer than 15 characters")
    return InIface((v,), neg, unknown=tpl and is_templated(v))


def _c_out(words: list[str], at: int, neg: bool, family: str, tpl: bool) -> Cond:
    if len(words[at]) > 15:
        raise SpecError(f"interface name {words[at]!r} is longer than 15 characters")
    return _OUT


def _c_match(words: list[str], at: int, neg: bool, family: str, tpl: bool) -> Cond | None:
    name = words[at]
    if tpl and is_templated(name):
        return Const(Tri.MAYBE, name)
    return _OWNER if name == "owner" else None


def _c_fragment(words: list[str], at: int, neg: bool, family: str, tpl: bool) -> Cond:
    return Const(Tri.of(neg), "fragment")


_CORE_COND: dict[str, Callable[[list[str], int, bool, str, bool], Cond | None]] = {
    "-p": _c_proto, "-s": _c_source, "-d": _c_dest, "-i": _c_in, "-o": _c_out, "-m": _c_match,
    "-f": _c_fragment}
# Core options whose condition depends on the option and the values that decide the plan only
# (-p's protocol, -m's name): one condition serves every rule of a plan.
_CORE_CONST = frozenset({"-p", "-m", "-f"})


def _ext_cond(mod: str, opt: str, nargs: int, words: list[str], at: int, neg: bool) -> Cond | None:
    """The condition of one extension option, or None when it adds none."""
    ports = _PORT_OPTS.get(opt)
    if ports is not None and mod != "multiport" and not ports[0]:
        return _ports(words[at], False, neg, ports[1], mod not in DECIMAL_PORTS)
    if opt in MODELLED.get(mod, ()):
        out: list[Cond] = []
        _modelled(mod, opt, iter(words[at:at + nargs]).__next__, out, neg)
        return out[0] if out else None
    if opt not in NEUTRAL.get(mod, ()):
        return Const(Tri.MAYBE, f"-m {mod} {opt} is not modelled")
    return None


_OUT = Const(Tri.NO, "-o never matches incoming packets")
_OWNER = Const(Tri.NO, "owner matches only locally generated packets")


def _target_verdict(v: str, opt: str, tpl: bool) -> Action:
    if v == "ACCEPT":
        return _VERDICTS[V.ACCEPT]
    if tpl and is_templated(v):
        return _VERDICTS[V.UNKNOWN]
    if v in FINAL_DROP:
        return _VERDICTS[V.DROP]
    if v == "RETURN":
        return _VERDICTS[V.RETURN]
    if v in NON_TERMINAL:
        return _VERDICTS[V.NONE]
    if v in NAT_TARGETS:
        return _VERDICTS[V.ACCEPT]
    if v in TARGETS:  # QUEUE, NFQUEUE, SYNPROXY: decided outside the ruleset
        return _VERDICTS[V.UNKNOWN]
    return Action(V.GOTO if opt == "-g" else V.JUMP, v)


def _modelled(mod: str, opt: str, value: Callable[[], str], conds: list[Cond], neg: bool) -> None:
    """The conditions of the options ``MODELLED`` names, for a new TCP connection."""
    if opt in ("--dport", "--dports", "--ctorigdstport", "--ports"):
        conds.append(_ports(value(), mod == "multiport", neg, False, mod not in DECIMAL_PORTS))
    elif opt in ("--sport", "--sports"):
        conds.append(_ports(value(), mod == "multiport", neg, True, mod not in DECIMAL_PORTS))
    elif opt in ("--state", "--ctstate"):
        v = value()
        allowed = CT_STATES if opt == "--ctstate" else STATE_STATES
        if not (is_templated(v)) and any(s.lower() not in allowed for s in v.split(",")):
            raise SpecError(f"bad state {v!r}")
        conds.append(_state(v, neg))
    elif opt == "--syn":
        conds.append(Const(Tri.of(not neg), "--syn"))
    elif opt == "--tcp-flags":
        mask = _flags(value())
        comp = _flags(value())
        conds.append(Const(Tri.of(((FLAG_BITS["SYN"] & mask) == comp) != neg), "tcp flags"))
    elif opt in ("--icmp-type", "--icmpv6-type"):
        value()  # an ICMP type: the rule needs -p icmp, so it never matches TCP anyway
    elif opt == "--match-set":
        name = value()
        direction = value()
        if direction.split(",")[0] == "src":
            conds.append(Source(sets=(f"ipset {name}",), negate=neg))
        else:
            conds.append(Const(Tri.MAYBE, f"ipset {name} {direction}"))
    elif opt == "--src-range":
        v = value()
        try:
            a, b = (ipaddress.ip_address(x) for x in v.split("-", 1))
            nets: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = tuple(
                ipaddress.summarize_address_range(a, b))  # type: ignore[arg-type]
        except (ValueError, TypeError):
            raise SpecError(f"bad address range {v!r}") from None
        conds.append(Source(nets, negate=neg))
    elif opt == "--mac-source":
        conds.append(Source(sets=(f"mac {value()}",), negate=neg))
    elif opt == "--src-cc":
        conds.append(Source(sets=(f"geoip {value()}",), negate=neg))
    elif opt == "--set":
        pass  # recent --set matches (and records the source)
    elif opt in ("--rcheck", "--update", "--remove"):
        conds.append(Const(Tri.of(neg), "recent: a first connection is not in the list"))
    elif opt in ("--connlimit-above", "--hashlimit-above"):
        value()
        conds.append(Const(Tri.of(neg), "over a limit: not the first connection"))
    elif opt in ("--connlimit-upto", "--hashlimit-upto", "--limit"):
        value()
        conds.append(Const(Tri.of(not neg), "within a limit: the first connection is"))
    elif opt == "--dst-type":
        v = value().upper()
        conds.append(Const(Tri.of((v in ("LOCAL", "UNICAST")) != neg), "addrtype"))
    elif opt == "--src-type":
        v = value().upper()
        conds.append(Const(Tri.of((v == "UNICAST") != neg), "addrtype"))
    elif opt == "--pkt-type":
        v = value().lower()
        conds.append(Const(Tri.of((v == "unicast") != neg), "pkttype"))
    else:  # pragma: no cover - MODELLED and this function are kept in step
        raise AssertionError(opt)

def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True
