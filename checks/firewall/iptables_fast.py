"""The fast path for the ``-A CHAIN ...`` lines of a large iptables-save file.

Rules that share a plan (the same options in the same places, the same -p/-m/-j/-g values;
see ``iptables_args._Plan``) differ only in their values. A plan is compiled once: each of its
steps becomes a function bound to its word position, and what every rule of the plan shares is
computed once (the protocol and match conditions, the verdict, whether the rule can see TCP at
all, which conditions are its destination ports). A line is then recognised by its option
words alone, one C-level comparison, instead of the regexes that find its plan.

The fast path never decides anything the full path (``iptables_save.command``) would not: it
builds the same conditions with the same functions, and whatever it does not plainly handle
(a miss, a value iptables refuses, a chain that does not exist, -i/-o on a chain that refuses
it) returns None, and the line goes the full way, which reports it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from operator import itemgetter

from .iptables_args import (
    _CORE_COND,
    _CORE_CONST,
    _PLAIN_V4,
    _PORT_OPTS,
    DECIMAL_PORTS,
    LazySource,
    SpecError,
    _c_source,
    _ext_cond,
    _Plan,
    _ports,
    _reset_refused,
    untemplated_plan,
)
from .iptables_ext import MODELLED
from .model import Action, Cond, Ports, Proto

Builder = Callable[[Sequence[str]], Cond]
MAX_COMPILED = 4096
MAX_PER_BUCKET = 8
# Chains on which iptables refuses -o (incoming only) and -i (outgoing only).
_REFUSE = {"-o": frozenset({"INPUT", "PREROUTING"}), "-i": frozenset({"OUTPUT", "POSTROUTING"})}


# Word positions: the fast path reads whole lines, "-A CHAIN" first, then the rule's words.
SKIP = 2


class Compiled:
    """One plan bound to the positions of its words in a ``-A CHAIN ...`` line."""

    __slots__ = ("bangs", "dport", "dports", "effects", "expected", "family", "getter", "make",
                 "n", "refused_chains", "reset_refused", "rx", "rx_make", "tcp", "verdict")

    def __init__(self, plan: _Plan, words: list[str], family: str, steps: list[_Step],
                 example: list[Cond]) -> None:
        spec = words[SKIP:]
        self.n, self.family = len(words), family
        sig = [i + SKIP for i in sorted((set(range(len(spec))) - plan.values) |
                                        set(plan.deciders))]
        self.getter = itemgetter(*sig)
        self.expected = self.getter(words)
        # No value may be a '!' (iptables refuses that): the count of '!' words must be the
        # plan's own, which all sit at the positions compared (or in the chain's name).
        self.bangs = words.count("!")
        self.make = _maker([st[0] for st in steps])
        self.rx_make = _maker([st[1] for st in steps])
        self.rx = _line_regex(words, set(sig), {st[2]: st[3] for st in steps if st[3]})
        self.verdict: Action = plan.verdict
        self.refused_chains = frozenset().union(*(_REFUSE[o] for o in _REFUSE
                                                  if o in plan.options))
        proto = next((spec[at].lower() for what, at, _n in plan.steps if what == "-p"), None)
        proto_neg = any(neg for what, _at, neg in plan.steps if what == "-p")
        self.reset_refused = _reset_refused(plan, proto, proto_neg)
        # What Rule.__post_init__ derives, derived once: the kinds of condition a step builds
        # depend on its option alone, so the example rule's are every rule's.
        self.dports = tuple(i for i, c in enumerate(example)
                            if isinstance(c, Ports) and not c.source and c.unknown is None)
        self.dport = self.dports[0] if len(self.dports) == 1 else -1
        self.tcp = not any(isinstance(c, Proto) and not c.negate and
                           not (c.protos & {"all", "0", "tcp", "6"}) for c in example)
        self.effects = any(c.effect for c in example)

    def matches(self, words: list[str]) -> bool:
        return len(words) == self.n and self.getter(words) == self.expected and \
            words.count("!") == self.bangs

    def port_filter(self, conds: tuple[Cond, ...]) -> tuple[bool, tuple[Ports, ...]]:
        if self.dport >= 0:
            return (self.tcp, (conds[self.dport],))  # type: ignore[return-value]
        return (self.tcp, tuple(conds[i] for i in self.dports))  # type: ignore[misc]


_BUCKETS: dict[tuple[str, int, str, str], list[Compiled]] = {}
_count = 0


def lookup(words: list[str], family: str) -> Compiled | None:
    """The compiled plan of the words of an untemplated ``-A CHAIN ...`` line, compiling it on
    first sight; None where the full path must decide (a plan iptables refuses, a value the
    example rule's conditions refuse, a full cache)."""
    global _count
    if len(words) <= SKIP:
        return None
    key = (family, len(words), words[SKIP], words[-1])
    bucket = _BUCKETS.get(key)
    if bucket is not None:
        for cp in bucket:
            if cp.matches(words):
                return cp
    if _count >= MAX_COMPILED or (bucket is not None and len(bucket) >= MAX_PER_BUCKET):
        return None
    try:
        made = _compile(untemplated_plan(words[SKIP:], family), words, family)
    except SpecError:
        return None
    if made is not None:
        _BUCKETS.setdefault(key, []).append(made)
        _count += 1
    return made


def _compile(plan: _Plan, words: list[str], family: str) -> Compiled | None:
    steps = [st for what, at, neg in plan.steps
             if (st := _step(what, at + SKIP, neg, words, family)) is not None]
    example = [st[0](words) for st in steps]   # SpecError: this rule goes the full way
    if any(c is None for c in example):
        return None   # a step that sometimes adds no condition: not compiled
    return Compiled(plan, words, family, steps, example)


# A compiled step: its builder, its builder for a line the plan's regex matched (which has
# checked the value already), the position of its value and the regex of that value (or "").
_Step = tuple[Builder, Builder, int, str]
# A value word in a plan's line regex: no space, no '!' (iptables refuses it as a value), no
# quote or template mark; whatever else a value holds goes the split way.
_VALUE = r'([^\s"${}%!@]+)'
MAX_REGEX_WORDS = 64


def _line_regex(words: list[str], sig: set[int], values: dict[int, str]
                ) -> Callable[[str], re.Match[str] | None] | None:
    """A regex that matches exactly the lines whose words ``str.split`` makes alike at the
    plan's positions, one space apart, with values that are no '!', quote or template mark
    (and a plain dotted quad where the -s step wants one). Its groups are the line's words."""
    if len(words) > MAX_REGEX_WORDS:
        return None
    parts = [f"({re.escape(w)})" if pos == 0 or pos in sig else
             f"({values[pos]})" if pos in values else _VALUE for pos, w in enumerate(words)]
    return re.compile(" ".join(parts)).fullmatch


def _maker(builders: list[Builder]) -> Callable[[Sequence[str]], tuple[Cond, ...]]:
    """The conditions of a rule from its words, one builder per condition; a tuple display
    for the usual few, which spares a list per rule."""
    if not builders:
        return lambda w: ()
    if len(builders) == 1:
        (b0,) = builders
        return lambda w: (b0(w),)
    if len(builders) == 2:
        b0, b1 = builders
        return lambda w: (b0(w), b1(w))
    if len(builders) == 3:
        b0, b1, b2 = builders
        return lambda w: (b0(w), b1(w), b2(w))
    if len(builders) == 4:
        b0, b1, b2, b3 = builders
        return lambda w: (b0(w), b1(w), b2(w), b3(w))
    bs = tuple(builders)
    return lambda w: tuple([b(w) for b in bs])


def _const(c: Cond) -> Builder:
    return lambda w: c


def _step(what: object, at: int, neg: bool, words: list[str], family: str) -> _Step | None:
    """The step bound to its position; None for a step that adds no condition to any rule."""
    b = _builder(what, at, neg, words, family)
    if b is None:
        return None
    if what == "-s" and family == "ipv4":
        return b, _plain_source(at, neg), at, _PLAIN_V4.pattern
    return b, b, at, ""


def _builder(what: object, at: int, neg: bool, words: list[str], family: str) -> Builder | None:
    if what.__class__ is tuple:
        mod, opt, nargs = what  # type: ignore[misc]
        ports = _PORT_OPTS.get(opt)
        if ports is not None and mod != "multiport" and not ports[0]:
            return _port_builder(at, neg, ports[1], mod not in DECIMAL_PORTS)
        if opt in _VALUELESS or opt not in MODELLED.get(mod, ()):
            c = _ext_cond(mod, opt, nargs, words, at, neg)
            return None if c is None else _const(c)
        return lambda w: _ext_cond(mod, opt, nargs, w, at, neg)  # type: ignore[arg-type,return-value]
    step = _CORE_COND[what]  # type: ignore[index]
    if what in _CORE_CONST:
        c = step(words, at, neg, family, False)
        return None if c is None else _const(c)
    if what == "-s" and family == "ipv4":
        plain, trusted = _PLAIN_V4.fullmatch, _plain_source(at, neg)

        def src(w: Sequence[str]) -> Cond:
            if plain(w[at]) is None:   # _c_source's test, inlined
                return _c_source(w, at, neg, family, False)  # type: ignore[arg-type]
            return trusted(w)
        return src
    return lambda w: step(w, at, neg, family, False)  # type: ignore[arg-type,return-value]


def _plain_source(at: int, neg: bool) -> Builder:
    """-s with a value that is plain dotted quads (_PLAIN_V4): ``LazySource(v, neg)``, inlined."""
    new = object.__new__

    def src(w: Sequence[str]) -> Cond:
        s = new(LazySource)
        d = s.__dict__
        d["_text"], d["negate"], d["sets"] = w[at], neg, ()
        return s
    return src


def _port_builder(at: int, neg: bool, source: bool, c_numbers: bool) -> Builder:
    seen: dict[str, Ports] = {}   # this step's conditions by value (they are immutable)

    def ports(w: Sequence[str]) -> Cond:
        v = w[at]
        got = seen.get(v)
        if got is None:
            if v.isdigit() and v[0] != "0" and len(v) < 6 and int(v) <= 65535:
                # What _ports makes of a plain decimal without a leading zero (see there).
                p = int(v)
                got = Ports.of(((p, p),), neg, source)
            else:
                got = _ports(v, False, neg, source, c_numbers)
            if len(seen) < 65536:
                seen[v] = got
        return got
    return ports


# Extension options whose condition does not depend on their values (or that add none).
_VALUELESS = frozenset({"--syn", "--rcheck", "--update", "--remove", "--set", "--icmp-type",
                        "--icmpv6-type"})
