"""One nftables rule, read expression by expression into conditions and a verdict.

An expression this reader does not model becomes an undecidable condition (so it can only
make the verdict "unknown", never wrong)."""

from __future__ import annotations

import ipaddress
import operator
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from imap_gate.findings import Location

from .iptables_args import is_templated
from .model import (
    SADDR_KEY,
    Action,
    AnyOf,
    Cond,
    Const,
    Dest,
    FamilyIs,
    FilterRule,
    InIface,
    Ports,
    Proto,
    SetAdd,
    SetLookup,
    Source,
    State,
    Tri,
    V,
)
from .nftables_lex import NftError, Tok
from .nftables_objects import NSet, NTable
from .services import port_of

if TYPE_CHECKING:
    from .nftables import NftParser


FLAG_BITS = {"fin": 1, "syn": 2, "rst": 4, "psh": 8, "ack": 16, "urg": 32, "ecn": 64, "cwr": 128}
KNOWN_HEADS = {"ip", "ip6", "tcp", "udp", "udplite", "sctp", "dccp", "th", "meta", "ct", "iif",
               "iifname", "oif", "oifname", "icmp", "icmpv6", "ether", "vlan", "arp", "fib",
               "limit", "counter", "log", "comment", "mark", "socket", "rt", "exthdr", "ipsec",
               "numgen", "jhash", "symhash", "osf", "quota", "synproxy", "tproxy", "dup", "fwd",
               "notrack", "flow", "queue", "set", "update", "add", "delete", "ah", "esp", "comp",
               "igmp", "frag", "hbh", "dst", "mh", "srh", "l4proto", "nfproto", "pkttype",
               "skuid", "skgid", "cgroup", "cpu", "iiftype", "oiftype", "accept", "drop",
               "reject", "return", "jump", "goto", "continue", "dnat", "snat", "masquerade",
               "redirect", "iifgroup", "oifgroup", "ingress", "tcpopt", "reset", "vmap",
               "priority", "length", "nexthdr", "protocol", "time", "day", "hour", "random",
               "gre", "vxlan", "geneve", "inner", "xfrm", "ipv4", "ipv6", "ip6nexthdr", "nftrace",
               "iifkind", "oifkind", "sdif", "sdifname", "last", "secmark"}
# The fields nft knows after each header keyword (nft(8), "PAYLOAD EXPRESSION", "META", "CT"): a
# misspelt field is a file nft refuses, so it is an error here too, never an unmodelled match.
FIELDS = {
    "ip": {"version", "hdrlength", "dscp", "ecn", "length", "id", "frag-off", "ttl", "protocol",
           "checksum", "saddr", "daddr", "option"},
    "ip6": {"version", "dscp", "ecn", "flowlabel", "length", "nexthdr", "hoplimit", "saddr", "daddr"},
    "tcp": {"sport", "dport", "sequence", "ackseq", "doff", "reserved", "flags", "window",
            "checksum", "urgptr", "option"},
    "udp": {"sport", "dport", "length", "checksum"},
    "udplite": {"sport", "dport", "checksum"},
    "sctp": {"sport", "dport", "vtag", "checksum", "chunk"},
    "dccp": {"sport", "dport", "type"},
    "th": {"sport", "dport"},
    "meta": {"length", "protocol", "priority", "mark", "iif", "iifname", "iiftype", "oif", "oifname",
             "oiftype", "skuid", "skgid", "nftrace", "rtclassid", "ibrname", "obrname", "pkttype",
             "cpu", "iifgroup", "oifgroup", "cgroup", "random", "ipsec", "iifkind", "oifkind", "time",
             "day", "hour", "secmark", "sdif", "sdifname", "broute", "l4proto", "nfproto", "secpath",
             "ibriport", "obriport", "ibrpvid", "ibrvproto"},
    "ct": {"state", "direction", "status", "mark", "expiration", "helper", "label", "l3proto",
           "protocol", "bytes", "packets", "avgpkt", "zone", "count", "original", "reply", "saddr",
           "daddr", "proto-src", "proto-dst", "id", "event", "ip", "ip6", "timeout", "secmark"},
}
# Protocol names nft resolves (its own keywords and netbase's /etc/protocols, built in so that
# every machine gives the same answer); a name outside them nft refuses ("Could not resolve
# protocol name").
PROTOCOLS = frozenset({
    "ip", "hopopt", "icmp", "igmp", "ggp", "ipencap", "st", "tcp", "egp", "igp", "pup", "udp", "hmp",
    "xns-idp", "rdp", "iso-tp4", "dccp", "xtp", "ddp", "idpr-cmtp", "ipv6", "ipv6-route", "ipv6-frag",
    "idrp", "rsvp", "gre", "esp", "ah", "skip", "ipv6-icmp", "ipv6-nonxt", "ipv6-opts", "rspf", "vmtp",
    "eigrp", "ospf", "ax.25", "ipip", "etherip", "encap", "pim", "ipcomp", "vrrp", "l2tp", "isis",
    "sctp", "fc", "mobility-header", "udplite", "mpls-in-ip", "manet", "hip", "shim6", "wesp", "rohc",
    "ethernet", "mptcp", "icmpv6", "comp", "th",
})
ICMP_FIELDS = {"icmp": {"type", "code", "checksum", "id", "sequence", "gateway", "mtu"},
               "icmpv6": {"type", "code", "checksum", "id", "sequence", "mtu", "max-delay", "taddr",
                          "daddr"}}
ICMP_TYPES = {
    "icmp": {"echo-reply", "destination-unreachable", "source-quench", "redirect", "echo-request",
             "router-advertisement", "router-solicitation", "time-exceeded", "parameter-problem",
             "timestamp-request", "timestamp-reply", "info-request", "info-reply",
             "address-mask-request", "address-mask-reply"},
    "icmpv6": {"destination-unreachable", "packet-too-big", "time-exceeded", "parameter-problem",
               "echo-request", "echo-reply", "mld-listener-query", "mld-listener-report",
               "mld-listener-done", "mld-listener-reduction", "nd-router-solicit", "nd-router-advert",
               "nd-neighbor-solicit", "nd-neighbor-advert", "nd-redirect", "router-renumbering",
               "ind-neighbor-solicit", "ind-neighbor-advert", "mld2-listener-report"},
}
CT_STATES = {"new", "established", "related", "invalid", "untracked"}
REJECT_CODES = {"net-unreachable", "host-unreachable", "prot-unreachable", "port-unreachable",
                "net-prohibited", "host-prohibited", "admin-prohibited", "no-route",
                "addr-unreachable", "policy-fail", "reject-route", "frag-needed"}
RATE_UNIT = re.compile(r"^(?:[kmg]?bytes)?(?:/(?:second|minute|hour|day|week))?$")
SEL_HEADS = {"ip", "ip6", "tcp", "udp", "udplite", "sctp", "dccp", "th", "meta", "ct"}
META_SHORT = {"iif", "iifname", "oif", "oifname", "mark", "l4proto", "nfproto", "pkttype", "skuid",
              "skgid", "iiftype", "oiftype", "iifgroup", "oifgroup", "cpu", "cgroup", "priority"}
SET_STMT_WORDS = {"timeout", "expires", "counter", "packets", "bytes", "limit", "rate", "over",
                  "burst", "ct", "count", "quota", "until", "used", "comment"}
# Where a statement's arguments end: the next verdict or statement.
_ARG_STOPS = frozenset({"accept", "drop", "reject", "return", "jump", "goto", "counter", "log",
                        "comment", "continue"})


# (key text, conditions the selector implies, value -> condition, is the source address)
_Spec = tuple[str, list[Cond], Callable[[str], Cond] | None, bool]


class RuleReader:
    """Reads one rule's expressions left to right into conditions and a verdict."""

    def __init__(self, parser: NftParser, table: NTable, toks: list[Tok], loc: Location,
                 text: str) -> None:
        self.p = parser
        self.table = table
        self.toks = toks
        self.i = 0
        self.loc = loc
        self.text = text
        self.conds: list[Cond] = []
        self.verdict = Action(V.NONE)
        self.vmap: list[tuple[Cond, Action]] | None = None
        self.terminal = False
        self.nat: tuple[str, list[str]] | None = None

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.toks[j].text if j < len(self.toks) else ""

    def take(self) -> str:
        if self.i >= len(self.toks):
            raise NftError("the rule ends too early", self.loc.line)
        t = self.toks[self.i].text
        self.i += 1
        return t

    def value(self) -> tuple[bool, list[str], str | None]:
        """[op] value-or-set: (negated, plain values, named set)."""
        neg = False
        if self.peek() in ("!=", "==", "eq", "ne"):
            neg = self.take() in ("!=", "ne")
        t = self.peek()
        if t == "{":   # the words of every element, nested braces and commas left out
            return neg, [w for el in self.braces() for w in el if w not in ("{", "}", ",")], None
        w = self.take()
        if w.startswith("@"):
            return neg, [], w[1:]
        if w in ("{", "}", ";"):
            raise NftError(f"a value is missing before {w!r}", self.loc.line)
        if self.peek() == "-" and self.i + 1 < len(self.toks):  # '"17:00"-"19:00"' is one range
            self.take()
            w = f"{w}-{self.take()}"
        vals = [w]
        while self.peek() == ",":  # "ct state established,related"
            self.take()
            vals.append(self.take())
        return neg, vals, None

    def skip_value(self) -> None:
        """An unmodelled selector's comparison: [op] [bitwise op and operand] [op] value-or-set."""
        if self.peek() in RELOPS:
            self.take()
        while self.peek() in BITOPS:
            self.take()
            self.take()
            if self.peek() in RELOPS:
                self.take()
        if self.peek() == "vmap" or self.peek() == "map":
            raise NftError("a map on this selector is not read", self.loc.line)
        if self.peek() == "set":
            # ``meta mark set 1``, ``ct helper set "ftp"``: a statement that changes packet metadata
            # and decides nothing; a later match on that metadata is itself unmodelled.
            self.take()
            self.skip_args()
            return
        if self.i < len(self.toks):
            self.value()

    def read(self) -> list[FilterRule]:
        while self.i < len(self.toks):
            w = self.take()
            if self.terminal and w != "comment":
                raise NftError("statement after terminal statement has no effect", self.loc.line)
            self.expr(w)
        if self.vmap is not None:
            return [FilterRule((*self.conds, c), v, self.loc, self.text) for c, v in self.vmap]
        # The whole dnat statement (a map may span lines the rule's text does not show).
        nat_to = "dnat " + " ".join(self.nat[1]) if self.nat and self.nat[0] == "dnat" else None
        return [FilterRule(tuple(self.conds), self.verdict, self.loc, self.text, nat_to=nat_to)]

    def set_verdict(self, v: Action, terminal: bool = True) -> None:
        if self.verdict.kind is not V.NONE:
            raise NftError("statement after terminal statement has no effect", self.loc.line)
        self.verdict = v
        self.terminal = terminal

    def field(self, head: str) -> str:
        f = self.take()
        if f not in FIELDS[head]:
            raise NftError(f"unknown {head} field {f!r}", self.loc.line)
        return f

    def expr(self, w: str) -> None:
        handler = _EXPRESSIONS.get(w)
        if handler is not None and handler(self, w) is not False:
            return
        if w in KNOWN_HEADS:
            # A selector this reader does not model: its match is not guessed.
            self.conds.append(Const(Tri.MAYBE, f"nft expression {w!r} is not modelled"))
            self.skip_args()
        elif is_templated(w):
            raise NftError(f"templated value {w!r} is not guessed", self.loc.line)
        else:
            raise NftError(f"unknown expression {w!r}", self.loc.line)

    # -- expressions: each reads what follows its head word ``w``; False: ``w`` is not this
    #    expression here (``add`` without ``@set``), so it is judged as an unknown head.
    def _x_accept(self, w: str) -> bool | None:
        self.set_verdict(Action(V.ACCEPT))
        return None

    def _x_drop(self, w: str) -> bool | None:
        self.set_verdict(Action(V.DROP))
        return None

    def _x_reject(self, w: str) -> bool | None:
        """``reject [with tcp reset | with icmp[v6|x] [type] CODE]``: a drop, whatever it answers."""
        self.set_verdict(Action(V.DROP))
        if self.peek() != "with":
            return None
        self.take()
        kind = self.take()
        if kind == "tcp":
            if self.take() != "reset":
                raise NftError("reject with tcp needs 'reset'", self.loc.line)
        elif kind in ("icmp", "icmpv6", "icmp6", "icmpx"):
            if self.peek() == "type":
                self.take()
            code = self.take()
            if code not in REJECT_CODES and not code.isdigit():
                raise NftError(f"unknown reject code {code!r}", self.loc.line)
        else:
            raise NftError(f"reject with {kind!r}: write tcp reset or icmp(x) CODE", self.loc.line)
        return None

    def _x_return(self, w: str) -> bool | None:
        self.set_verdict(Action(V.RETURN))
        return None

    def _x_jump(self, w: str) -> bool | None:
        self.set_verdict(Action(V.JUMP if w == "jump" else V.GOTO, self.take().strip('"')))
        return None

    def _x_nothing(self, w: str) -> bool | None:
        return None

    def _x_queue(self, w: str) -> bool | None:
        """The packet goes to a user-space program, whose answer is not known."""
        self.set_verdict(Action(V.UNKNOWN))
        self.skip_args()
        return None

    def _x_nat(self, w: str) -> bool | None:
        """NAT lets the packet on (not terminal: a verdict may follow)."""
        self.set_verdict(Action(V.ACCEPT), terminal=False)
        self.nat_args(w)
        return None

    def _x_transport(self, w: str) -> bool | None:
        self.transport(w)
        return None

    def _x_ip(self, w: str) -> bool | None:
        self.ip(w)
        return None

    def _x_iif(self, w: str) -> bool | None:
        if self.peek() == ".":
            self.concat(("meta", w))
            return None
        if self.maybe_vmap(lambda vals: InIface((vals[0].strip('"'),))):
            return None
        neg, vals, nset = self.value()
        if nset is not None:
            self.conds.append(InIface((), unknown=True))
        else:
            self.conds.append(InIface(tuple(v.strip('"') for v in vals), neg))
        return None

    def _x_oif(self, w: str) -> bool | None:
        why = "an incoming packet has no output interface yet"
        if self.maybe_vmap(lambda vals: Const(Tri.NO, why)):
            return None
        self.value()
        self.conds.append(Const(Tri.NO, why))
        return None

    def _x_meta(self, w: str) -> bool | None:
        self.meta()
        return None

    def _x_meta_short(self, w: str) -> bool | None:
        """``l4proto tcp`` is ``meta l4proto tcp``: read it as meta from its key."""
        self.i -= 1
        self.meta()
        return None

    def _x_ct(self, w: str) -> bool | None:
        self.ct()
        return None

    def _x_icmp(self, w: str) -> bool | None:
        f = self.take()
        if f not in ICMP_FIELDS[w]:
            raise NftError(f"unknown {w} field {f!r}", self.loc.line)
        if f == "type" and self.peek() != "vmap":
            _neg, vals, _ = self.value()
            bad = [v for v in vals if v not in ICMP_TYPES[w] and not v.isdigit()]
            if bad:
                raise NftError(f"unknown {w} type {bad[0]!r}", self.loc.line)
        else:
            self.skip_value()
        self.conds.append(Proto(frozenset({w})))
        return None

    def _x_counter(self, w: str) -> bool | None:
        while self.peek() in ("packets", "bytes", "name"):
            self.take()
            self.take()
        return None

    def _x_log(self, w: str) -> bool | None:
        while self.peek() in ("prefix", "level", "flags", "group", "snaplen", "queue-threshold"):
            k = self.take()
            self.take()
            if k == "flags" and self.peek() in ("options", "sequence"):
                self.take()
        return None

    def _x_comment(self, w: str) -> bool | None:
        self.take()
        if self.i < len(self.toks):
            raise NftError("a comment must end the rule", self.loc.line)
        return None

    def _x_limit(self, w: str) -> bool | None:
        self.conds.append(Const(self.limit(), "limit"))
        return None

    def _x_quota(self, w: str) -> bool | None:
        self.conds.append(Const(self.quota(), "quota"))
        return None

    def _x_dynset(self, w: str) -> bool | None:
        if not self.peek().startswith("@"):
            return False
        self.dynset(w)
        return None

    def _x_old_dynset(self, w: str) -> bool | None:
        if self.peek() not in ("add", "update", "delete"):
            return False
        self.old_dynset()
        return None

    def _x_meter(self, w: str) -> bool | None:
        self.meter()
        return None

    def _x_fib(self, w: str) -> bool | None:
        self.fib()
        return None

    def _x_vmap(self, w: str) -> bool | None:
        raise NftError("vmap without a key", self.loc.line)

    def _x_skip(self, w: str) -> bool | None:
        self.skip_args()
        return None

    def nat_args(self, w: str) -> None:
        """``dnat [ip|ip6] to ADDR[:PORT]`` and friends; the destination is kept for the forwarding
        check (``nat_to``), what follows a map is not read."""
        self.nat = (w, self.take_args())

    def skip_args(self) -> None:
        self.take_args()

    def take_args(self) -> list[str]:
        """The words up to the next verdict or statement at brace depth 0 (braces nest)."""
        words: list[str] = []
        depth = 0
        while self.i < len(self.toks):
            t = self.peek()
            if depth == 0 and t in _ARG_STOPS:
                break
            if t == "{":
                depth += 1
            elif t == "}":
                depth -= 1
            words.append(self.take())
        return words

    def maybe_vmap(self, make: Callable[[list[str]], Cond]) -> bool:
        if self.peek() != "vmap":
            return False
        self.take()
        entries: list[tuple[Cond, Action]] = []
        if self.peek().startswith("@"):
            name = self.take()[1:]
            m = self.table.sets.get(name)
            if m is None:
                raise NftError(f"map @{name} is not defined", self.loc.line)
            if m.elements is None:
                # Filled at run time: which verdict a key gets is not in the file.
                self.vmap = [(Const(Tri.MAYBE, f"verdict map @{name} (members unknown)"),
                              Action(V.UNKNOWN))]
                return True
            elems = _split_elements(m.raw)
        else:
            elems = self.braces()
        keys: dict[str, Action] = {}
        for el in elems:
            keytoks, v = self.vmap_entry(el)
            if len(keytoks) != 1:
                raise NftError("a verdict map needs 'key : verdict'", self.loc.line)
            if keys.setdefault(keytoks[0], v) != v:
                # nft: "Could not process rule: File exists"
                raise NftError(f"verdict map key {keytoks[0]!r} is given twice", self.loc.line)
            entries.append((make(keytoks), v))
        self.vmap = entries
        return True

    def vmap_entry(self, el: list[str]) -> tuple[list[str], Action]:
        toks: list[str] = []
        for t in el:  # "143 : accept" may arrive as "143", ":", "accept" or "143:" "accept"
            if t.endswith(":") and t != ":" and not t.endswith("::"):
                toks += [t[:-1], ":"]
            else:
                toks.append(t)
        if ":" not in toks:
            raise NftError("a verdict map needs 'key : verdict'", self.loc.line)
        k = len(toks) - 1 - toks[::-1].index(":")
        key, vt = toks[:k], toks[k + 1:]
        if not key or not vt:
            raise NftError("a verdict map needs 'key : verdict'", self.loc.line)
        word = vt[0]
        if word in ("jump", "goto"):
            if len(vt) != 2:
                raise NftError(f"{word} needs one chain", self.loc.line)
            return key, Action(V.JUMP if word == "jump" else V.GOTO, vt[1])
        v = {"accept": Action(V.ACCEPT), "drop": Action(V.DROP), "reject": Action(V.DROP),
             "return": Action(V.RETURN), "continue": Action(V.NONE)}.get(word)
        if v is None or len(vt) != 1:
            raise NftError(f"unknown verdict {' '.join(vt)!r} in a verdict map", self.loc.line)
        return key, v

    def braces(self) -> list[list[str]]:
        """``{ a, b . c, ... }``: the elements, each as its tokens (commas split them)."""
        if self.take() != "{":
            raise NftError("expected '{'", self.loc.line)
        out: list[list[str]] = [[]]
        depth = 1
        while True:
            w = self.take()
            if w == "{":
                depth += 1
            elif w == "}":
                depth -= 1
                if depth == 0:
                    break
            if w == "," and depth == 1:
                out.append([])
                continue
            out[-1].append(w)
        return [e for e in out if e]

    def block_tokens(self) -> list[str]:
        if self.peek() != "{":
            raise NftError("expected '{'", self.loc.line)
        body = [t for el in self.braces() for t in [*el, ","]]
        return body[:-1]

    # ------------------------------------------------------------ concatenations and sets

    def selector(self) -> tuple[str, str]:
        h = self.take()
        if h in SEL_HEADS:
            f = self.field(h)
            if h == "ct" and f in ("original", "reply"):
                nxt = self.take()
                f = f"{f} {nxt} {self.take()}" if nxt in ("ip", "ip6") else f"{f} {nxt}"
            return h, f
        if h in META_SHORT:
            return "meta", h
        raise NftError(f"unknown expression {h!r} in a concatenation", self.loc.line)

    def spec(self, h: str, f: str) -> _Spec:
        """(key text, conditions the selector implies, value -> condition, is the source address)."""
        read = _SPECS.get(h)
        got = read(self, h, f) if read is not None else None
        return got if got is not None else (f"{h} {f}", [], None, False)

    def _spec_ip(self, h: str, f: str) -> _Spec:
        fam = "ipv4" if h == "ip" else "ipv6"
        pre: list[Cond] = [FamilyIs(fam)]
        if f == "saddr":
            return SADDR_KEY, pre, lambda v: self.addrs([v], None, False, fam), True
        if f == "daddr":
            return f"{h} daddr", pre, lambda v: _dest(self.addrs([v], None, False, fam)), False
        if f in ("protocol", "nexthdr"):
            return f"{h} {f}", pre, lambda v: Proto(_protos([v], self.loc.line)), False
        return f"{h} {f}", pre, None, False

    def _spec_transport(self, h: str, f: str) -> _Spec:
        pre: list[Cond] = [] if h == "th" else [Proto(frozenset({h}))]
        if f in ("dport", "sport"):
            src = f == "sport"
            return f"{h} {f}", pre, lambda v: self.ports([v], None, False, src), False
        return f"{h} {f}", pre, None, False

    def _spec_meta(self, h: str, f: str) -> _Spec | None:
        if f in ("iif", "iifname"):
            return f"meta {f}", [], lambda v: InIface((v.strip('"'),)), False
        if f == "l4proto":
            return "meta l4proto", [], lambda v: Proto(_protos([v], self.loc.line)), False
        if f == "nfproto":
            return "meta nfproto", [], lambda v: _family_cond([v], False), False
        if f in ("oif", "oifname"):
            return f"meta {f}", [Const(Tri.NO, "no output interface on input")], None, False
        return None

    def _spec_ct(self, h: str, f: str) -> _Spec | None:
        if f == "state":
            return "ct state", [], lambda v: State(frozenset({v})), False
        return None

    def element(self, specs: list, toks: list[str]) -> tuple[Cond, ...]:
        parts: list[list[str]] = [[]]
        for t in toks:
            if t == ".":
                parts.append([])
            else:
                parts[-1].append(t)
        if len(parts) != len(specs) or any(not p for p in parts):
            raise NftError(f"element {' '.join(toks)!r} does not match the key "
                           f"{' . '.join(s[0] for s in specs)}", self.loc.line)
        out: list[Cond] = []
        for sp, part in zip(specs, parts, strict=True):
            make = sp[2]
            out.append(make(part[0]) if make else Const(Tri.MAYBE, f"{sp[0]} in a set"))
        return tuple(out)

    def concat(self, first: tuple[str, str]) -> None:
        """``ip saddr . tcp dport @s`` / ``{ a . b, ... }`` / ``vmap { a . b : verdict }``."""
        sels = [first]
        while self.peek() == ".":
            self.take()
            sels.append(self.selector())
        specs = [self.spec(h, f) for h, f in sels]
        key = " . ".join(s[0] for s in specs)
        for s in specs:
            self.conds.extend(s[1])
        if self.peek() == "vmap":
            self.take()
            if self.peek().startswith("@"):
                raise NftError("named verdict maps are not read", self.loc.line)
            entries: list[tuple[Cond, Action]] = []
            for el in self.braces():
                keytoks, v = self.vmap_entry(el)
                entries.append((AnyOf((self.element(specs, keytoks),)), v))
            self.vmap = entries
            return
        neg = False
        if self.peek() in ("!=", "==", "eq", "ne"):
            neg = self.take() in ("!=", "ne")
        t = self.peek()
        if t.startswith("@"):
            self.take()
            self.conds.append(self.set_lookup(t[1:], specs, key, neg))
        elif t == "{":
            self.conds.append(AnyOf(tuple(self.element(specs, el) for el in self.braces()), neg))
        else:
            toks = [self.take()]
            while self.peek() == ".":
                toks += [self.take(), self.take()]
            self.conds.append(AnyOf((self.element(specs, toks),), neg))

    def set_lookup(self, name: str, specs: list, key: str, neg: bool) -> Cond:
        s = self.table.sets.get(name)
        if s is None:
            raise NftError(f"set @{name} is not defined", self.loc.line)
        if s.elements is None:
            return SetLookup(f"@{name}", key, any(sp[3] for sp in specs), neg)
        elems = _split_elements(s.raw)
        return AnyOf(tuple(self.element(specs, el) for el in elems), neg)

    def dynset(self, verb: str) -> None:
        """``add @s { KEY [timeout T] [stateful statement] }``, ``update``, ``delete``."""
        name = self.take()[1:]
        if name not in self.table.sets:
            raise NftError(f"set @{name} is not defined", self.loc.line)
        if self.peek() != "{":
            raise NftError(f"'{verb} @{name}' needs '{{ key }}'", self.loc.line)
        self.conds.append(self.set_update(f"@{name}", self.block_tokens(), verb == "delete"))

    def old_dynset(self) -> None:
        """The older spelling ``set add|update KEY @s``."""
        verb = self.take()
        body: list[str] = []
        while not self.peek().startswith("@"):
            body.append(self.take())
        name = self.take()[1:]
        if name not in self.table.sets:
            raise NftError(f"set @{name} is not defined", self.loc.line)
        self.conds.append(self.set_update(f"@{name}", body, verb == "delete"))

    def meter(self) -> None:
        """``meter NAME [size N] { KEY [timeout T] stateful-statement }``: a set of its own."""
        name = self.take()
        if self.peek() == "size":
            self.take()
            if not self.take().isdigit():
                raise NftError("meter size needs a number", self.loc.line)
        self.table.sets.setdefault(name, NSet(name, None, self.loc.line))
        self.conds.append(self.set_update(f"@{name}", self.block_tokens(), False))

    def set_update(self, label: str, body: list[str], delete: bool) -> Cond:
        comps: list[str] = []
        i = 0
        while i < len(body):
            comp, i = self._key_part(body, i)
            if comp is None:
                break
            comps.append(comp)
            if i < len(body) and body[i] == ".":
                i += 1
                continue
            break
        if not comps:
            raise NftError(f"a set update of {label} needs a key", self.loc.line)
        inner = _stateful(body[i:], self.loc.line)
        # A deletion takes the packet's key out of the set; an arbitrary internet source is taken
        # to be in no dynamic set in the first place, so it changes nothing for the verdict.
        key = "" if delete else (MAYBE_KEY if any(c.startswith("=") for c in comps)
                                 else " . ".join(comps))
        return SetAdd(label, key, inner)

    def _key_part(self, body: list[str], i: int) -> tuple[str | None, int]:
        """The set key component at ``body[i]`` (a selector's key text, or ``=constant``) and
        where the next word starts; None where the key ends (a statement word or a comma)."""
        h = body[i]
        if h in SEL_HEADS and i + 1 < len(body):
            f = body[i + 1]
            if f not in FIELDS[h]:
                raise NftError(f"unknown {h} field {f!r}", self.loc.line)
            i += 2
            if h == "ct" and f in ("original", "reply") and i < len(body):
                f = f"{f} {body[i]}"
                i += 1
            return self.spec(h, f)[0], i
        if h in META_SHORT:
            return self.spec("meta", h)[0], i + 1
        if h in SET_STMT_WORDS or h == ",":
            return None, i
        return f"={h}", i + 1  # a constant in the key

    # ------------------------------------------------------------ selectors

    def transport(self, proto: str) -> None:
        field = self.field(proto)
        if self.peek() == ".":
            self.concat((proto, field))
            return
        if field in ("dport", "sport"):
            self._port_match(proto, field == "sport")
        elif field == "flags" and proto == "tcp":
            self.conds.append(Proto(frozenset({"tcp"})))
            self.conds.append(self.tcp_flags())
        elif field == "option" and proto == "tcp":
            self.conds.append(Proto(frozenset({"tcp"})))
            self._tcp_option()
        else:
            if proto != "th":
                self.conds.append(Proto(frozenset({proto})))
            self.conds.append(Const(Tri.MAYBE, f"{proto} {field}"))
            self.skip_value()

    def _port_match(self, proto: str, src: bool) -> None:
        """``tcp dport VALUE``: a port, range, set, verdict map or ordering."""
        if proto != "th":
            self.conds.append(Proto(frozenset({proto})))
        if self.maybe_vmap(lambda vals: self.ports(vals, None, False, src)):
            return
        if self.peek() in ("<", ">", "<=", ">=", "lt", "gt", "le", "ge"):
            self.conds.append(self._port_order(src))
            return
        neg, vals, nset = self.value()
        self.conds.append(self.ports(vals, nset, neg, src))

    def _port_order(self, src: bool) -> Ports:
        """``tcp dport < 1024``: the range of ports the ordering admits."""
        op = {"lt": "<", "gt": ">", "le": "<=", "ge": ">="}.get(self.peek(), self.peek())
        self.take()
        n = port_of(self.peek())
        if n is None:
            raise NftError(f"{self.peek()!r} is not a port", self.loc.line)
        self.take()
        lo, hi = {"<": (0, n - 1), "<=": (0, n), ">": (n + 1, 65535), ">=": (n, 65535)}[op]
        return Ports(((lo, hi),) if lo <= hi else (), False, src)

    def _tcp_option(self) -> None:
        """``tcp option NAME [FIELD] ...``: a match cannot be decided, a ``set`` decides nothing."""
        self.take()  # the option's name
        if self.peek() in ("size", "kind", "length", "value", "count", "left", "right", "tsval",
                           "tsecr"):
            self.take()
        if self.peek() == "set":
            # ``tcp option maxseg size set rt mtu``: rewrites the SYN's MSS, decides nothing.
            self.take()
            self.skip_args()
            return
        self.conds.append(Const(Tri.MAYBE, "tcp option"))
        if self.peek() not in ("", "accept", "drop", "reject", "counter", "log", "jump",
                               "goto", "return", "comment"):
            self.skip_value()

    def ports(self, vals: list[str], nset: str | None, neg: bool, src: bool) -> Ports:
        if nset is not None:
            s = self.table.sets.get(nset)
            if s is None:
                raise NftError(f"set @{nset} is not defined", self.loc.line)
            if s.elements is None:
                return Ports((), neg, src, unknown=f"@{nset} (members unknown)")
            vals = s.elements
        ranges: list[tuple[int, int]] = []
        for v in vals:
            if is_templated(v):
                return Ports((), neg, src, unknown=v)
            if "-" in v and not v.startswith("-"):
                a, b = v.split("-", 1)
                lo, hi = port_of(a), port_of(b)
            else:
                lo = hi = port_of(v)
            if lo is None or hi is None:
                raise NftError(f"{v!r} is not a port or a known service name", self.loc.line)
            ranges.append((lo, hi))
        return Ports(tuple(ranges), neg, src)

    def ip(self, w: str) -> None:
        fam = "ipv4" if w == "ip" else "ipv6"
        field = self.field(w)
        self.conds.append(FamilyIs(fam))
        if self.peek() == ".":
            self.concat((w, field))
            return
        if field in ("saddr", "daddr"):
            self._ip_addr(field, fam)
        elif field in ("protocol", "nexthdr"):
            self._ip_protocol()
        elif field == "version":
            neg, vals, _ = self.value()
            self.conds.append(Const(Tri.of((("4" if fam == "ipv4" else "6") in vals) != neg)))
        elif field == "frag-off":
            self.conds.append(self.frag_off())
        else:
            self.conds.append(Const(Tri.MAYBE, f"{w} {field}"))
            self.skip_value()

    def _ip_addr(self, field: str, fam: str) -> None:
        """A source address match, or a destination one (this host's own addresses are not
        known, so only a destination the rule names is kept, for the forward path)."""
        if self.maybe_vmap(lambda vals: self.addrs(vals, None, False, fam)):
            return
        neg, vals, nset = self.value()
        if field == "saddr":
            self.conds.append(self.addrs(vals, nset, neg, fam))
        elif nset is None:
            dst = self.addrs(vals, None, neg, fam)
            if dst.nets:
                self.conds.append(Dest(dst.nets, neg))

    def _ip_protocol(self) -> None:
        if self.maybe_vmap(lambda vals: Proto(_protos(vals[:1], self.loc.line))):
            return
        neg, vals, nset = self.value()
        self.conds.append(Proto(_protos(vals, self.loc.line), neg) if nset is None
                          else Const(Tri.MAYBE, "protocol set"))

    def frag_off(self) -> Cond:
        """``ip frag-off [& MASK] [OP] VALUE``. A SYN is never a fragment (offset 0, no
        more-fragments bit) and an ordinary client sets don't-fragment on it (path MTU discovery,
        RFC 1191, the default of every mainstream system): the field reads 0x4000."""
        got = 0x4000
        if self.peek() == "&":
            self.take()
            try:
                got &= int(self.take(), 0)
            except ValueError:
                raise NftError("ip frag-off & MASK needs a number", self.loc.line) from None
        op = self.take() if self.peek() in RELOPS else "=="
        neg, vals, nset = self.value()
        if nset is not None or len(vals) != 1:
            return Const(Tri.MAYBE, "ip frag-off")
        try:
            val = int(vals[0], 0)
        except ValueError:
            raise NftError(f"ip frag-off {vals[0]!r} is not a number", self.loc.line) from None
        res = {"==": got == val, "eq": got == val, "!=": got != val, "ne": got != val,
               "<": got < val, "lt": got < val, ">": got > val, "gt": got > val,
               "<=": got <= val, "le": got <= val, ">=": got >= val, "ge": got >= val}[op]
        return Const(Tri.of(res != neg), "ip frag-off")

    def addrs(self, vals: list[str], nset: str | None, neg: bool, fam: str) -> Source:
        if nset is not None:
            s = self.table.sets.get(nset)
            if s is None:
                raise NftError(f"set @{nset} is not defined", self.loc.line)
            if s.elements is None:
                return Source(sets=(f"@{nset}",), negate=neg)
            vals = s.elements
        nets: list = []
        sets: list[str] = []
        for v in vals:
            if is_templated(v):
                sets.append(f"{v} (templated)")
                continue
            try:
                if "-" in v and "/" not in v:
                    a, b = (ipaddress.ip_address(x) for x in v.split("-", 1))
                    nets.extend(ipaddress.summarize_address_range(a, b))  # type: ignore[arg-type]
                else:
                    nets.append(ipaddress.ip_network(v, strict=False))
            except (ValueError, TypeError):
                raise NftError(f"{v!r} is not an address or network", self.loc.line) from None
        for n in nets:
            if (n.version == 4) != (fam == "ipv4"):
                raise NftError(f"{n} is not an {fam} address", self.loc.line)
        return Source(tuple(nets), tuple(sets), neg)

    def meta(self) -> None:
        field = self.field("meta")
        if self.peek() == ".":
            self.concat(("meta", field))
            return
        read = _META_FIELDS.get(field)
        if read is not None:
            read(self)
        elif self.peek() == "set":
            # ``meta mark set 0x1``, ``meta priority set``, ``meta nftrace set 1``: metadata for
            # later rules or routing, no verdict; a later match on it is itself unmodelled.
            self.take()
            self.skip_args()
        else:
            self.conds.append(Const(Tri.MAYBE, f"meta {field}"))
            self.skip_value()

    def _meta_l4proto(self) -> None:
        if self.maybe_vmap(lambda vals: Proto(_protos(vals[:1], self.loc.line))):
            return
        neg, vals, nset = self.value()
        self.conds.append(Proto(_protos(vals, self.loc.line), neg) if nset is None
                          else Const(Tri.MAYBE, "l4proto set"))

    def _meta_nfproto(self) -> None:
        if self.maybe_vmap(lambda vals: _family_cond(vals, False)):
            return
        neg, vals, _ = self.value()
        self.conds.append(_family_cond(vals, neg))

    def _meta_iif(self) -> None:
        if self.maybe_vmap(lambda vals: InIface((vals[0].strip('"'),))):
            return
        neg, vals, nset = self.value()
        self.conds.append(InIface(tuple(v.strip('"') for v in vals), neg, unknown=nset is not None))

    def _meta_oif(self) -> None:
        """An incoming packet has no output interface yet: never matches on input."""
        self.value()
        self.conds.append(Const(Tri.NO, "no output interface on input"))

    def _meta_pkttype(self) -> None:
        """A client's SYN to this host is unicast (``host``)."""
        neg, vals, _ = self.value()
        self.conds.append(Const(Tri.of(("host" in vals or "unicast" in vals) != neg)))

    def _meta_protocol(self) -> None:
        """The ethertype: ip for IPv4 packets, ip6 for IPv6 (vlan, arp: never a test packet)."""
        def fam(vals: list[str]) -> Cond:
            known = {"ip": "ipv4", "ip6": "ipv6"}
            return FamilyIs(known[vals[0]]) if vals[0] in known else Const(Tri.NO, "ethertype")
        if self.maybe_vmap(fam):
            return
        neg, vals, nset = self.value()
        if nset is not None:
            self.conds.append(Const(Tri.MAYBE, "meta protocol set"))
        elif len(vals) == 1:
            c = fam(vals)
            self.conds.append(FamilyIs(c.family, neg) if isinstance(c, FamilyIs) else
                              Const(Tri.of(neg), "ethertype"))
        else:
            fams = {v for v in vals if v in ("ip", "ip6")}
            self.conds.append(_family_cond(["ipv4" if f == "ip" else "ipv6" for f in fams], neg)
                              if len(fams) == 1 else Const(Tri.of((len(fams) == 2) != neg)))

    def ct(self) -> None:
        field = self.field("ct")
        if field in ("original", "reply"):
            self._ct_tuple(field)
            return
        if self.peek() == ".":
            self.concat(("ct", field))
            return
        if field == "state":
            self._ct_state()
        elif field == "count":
            self._ct_count()
        elif field == "direction" and self.peek() not in BITOPS:
            neg, vals, _ = self.value()  # a client's SYN travels in the original direction
            self.conds.append(Const(Tri.of(("original" in vals) != neg), "ct direction"))
        elif field == "status" and self.peek() not in RELOPS | BITOPS:
            self._ct_status()
        elif self.peek() == "set":
            # ``ct mark set``, ``ct helper set "ftp"``, ``ct zone set``: conntrack metadata, no
            # verdict (a helper admits only RELATED connections of its own protocol).
            self.take()
            self.skip_args()
        else:
            self.conds.append(Const(Tri.MAYBE, f"ct {field}"))
            self.skip_value()

    def _ct_tuple(self, direction: str) -> None:
        """``ct original|reply [ip|ip6] FIELD VALUE``: the conntrack tuple is not modelled."""
        nxt = self.take()
        if nxt in ("ip", "ip6"):
            nxt = self.take()
        self.conds.append(Const(Tri.MAYBE, f"ct {direction} {nxt}"))
        self.skip_value()

    def _ct_state(self) -> None:
        if self.peek() == "vmap":
            self.maybe_vmap(lambda vals: State(frozenset(_ct_states(vals, self.loc.line))))
            return
        neg, vals, _ = self.value()
        states = frozenset(_ct_states([s for v in vals for s in v.split(",")], self.loc.line))
        self.conds.append(State(states, neg))

    def _ct_count(self) -> None:
        """``ct count [over] N``: connections of this key so far; a first connection is under
        any limit, as for ``limit`` (a quiet host is assumed)."""
        over = self.peek() == "over"
        if over:
            self.take()
        if not self.take().isdigit():
            raise NftError("ct count needs a number", self.loc.line)
        self.conds.append(Const(Tri.of(not over), "ct count"))

    def _ct_status(self) -> None:
        """A new connection straight to the host: not expected (no helper session), not
        confirmed, seen-reply or assured yet, not source-NATed before input; destination-NATed
        only if a dnat or redirect in these files rewrote it."""
        neg, vals, nset = self.value()
        flags = {f for v in vals for f in v.split("|")}
        if nset is not None or (flags & {"dnat"} and self.p.has_dnat):
            self.conds.append(Const(Tri.MAYBE, "ct status"))
        else:
            self.conds.append(Const(Tri.NO.negate(neg), "ct status"))

    def limit(self) -> Tri:
        """``limit rate [over] N[/unit] | N bytes-unit/unit [burst N [unit]]``, ``limit name X``.

        The first connection of a quiet host is under any rate: ``limit rate`` matches it and
        ``limit rate over`` does not (the same reading as iptables' ``-m limit``)."""
        w = self.take()
        if w == "name":
            self.take()
            return Tri.MAYBE
        if w != "rate":
            raise NftError("limit needs 'rate'", self.loc.line)
        over = False
        if self.peek() in ("over", "until"):
            over = self.take() == "over"
        n = self.take()
        num, _, unit = n.partition("/")
        if not num.isdigit() or (unit and unit not in ("second", "minute", "hour", "day", "week")):
            raise NftError(f"bad rate {n!r}", self.loc.line)
        if not unit and self.peek() and RATE_UNIT.match(self.peek()):
            self.take()
        if self.peek() == "burst":
            self.take()
            if not self.take().isdigit():
                raise NftError("burst needs a number", self.loc.line)
            if self.peek() in ("packets", "bytes", "kbytes", "mbytes"):
                self.take()
        return Tri.of(not over)

    def quota(self) -> Tri:
        """``quota [over|until] N unit [used N unit]``: a quiet host has used none of it."""
        over = False
        if self.peek() in ("over", "until"):
            over = self.take() == "over"
        if self.peek() == "name":
            self.take()
            self.take()
            return Tri.MAYBE
        if not self.take().isdigit():
            raise NftError("quota needs a number", self.loc.line)
        if self.peek() in ("bytes", "kbytes", "mbytes", "gbytes"):
            self.take()
        if self.peek() == "used":
            self.take()
            self.take()
            if self.peek() in ("bytes", "kbytes", "mbytes", "gbytes"):
                self.take()
        return Tri.of(not over)

    def fib(self) -> None:
        words = []
        while self.peek() and self.peek() not in ("accept", "drop", "reject", "return", "jump",
                                                  "goto", "counter", "log", "comment"):
            words.append(self.take())
        joined = " ".join(words)
        if "type" in words and "local" in words and "daddr" in words:
            self.conds.append(Const(Tri.of("!=" not in words), "fib daddr type local"))
        elif "missing" in words and "saddr" in joined:
            self.conds.append(Const(Tri.NO, "reverse path check passes for a routable source"))
        else:
            self.conds.append(Const(Tri.MAYBE, f"fib {joined}"))

    def flag_expr(self) -> str:
        """``syn``, ``(fin|syn)`` or ``( fin | syn | rst )``: one flag expression as one word."""
        t = self.take()
        if t.startswith("(") and not t.endswith(")"):
            while not t.endswith(")"):
                t += self.take()
        return t

    def tcp_flags(self) -> Cond:
        """Whether a new connection's SYN (the only flag it carries) passes ``tcp flags ...``."""
        neg = False
        if self.peek() in ("!=", "=="):
            neg = self.take() == "!="
        if self.peek() == "&":
            self.take()
            return self._flags_and()
        neg2, vals, _ = self.value()
        neg = neg or neg2
        if not vals:
            return Const(Tri.MAYBE, "tcp flags")
        if self.peek() == "/" or self.peek().startswith("/") or "/" in vals[-1]:
            return self._flags_under_mask(vals, neg)
        syn = FLAG_BITS["syn"]
        flags = [_flagset(x, self.loc.line) for x in vals]
        if len(vals) == 1:
            # "tcp flags syn" tests the bit; a set tests equality of the whole field.
            return Const(Tri.of(bool(syn & flags[0]) != neg))
        return Const(Tri.of((syn in flags) != neg))

    def _flags_and(self) -> Cond:
        """``tcp flags & (syn | ack) == syn``: the SYN's bits under the mask compared."""
        mask = _flagset(self.flag_expr(), self.loc.line)
        op = self.take()
        val = self.flag_expr()
        cmp = 0 if val == "0" else _flagset(val, self.loc.line)
        compare = _COMPARE.get(op)
        if compare is None:
            return Const(Tri.MAYBE, "tcp flags")
        return Const(Tri.of(compare(FLAG_BITS["syn"] & mask, cmp)))

    def _flags_under_mask(self, vals: list[str], neg: bool) -> Cond:
        """``tcp flags syn / fin,syn,rst,ack``: the flags under the mask equal the value."""
        mask = 0
        for word in self._mask_words(vals):
            mask |= _flagset(word, self.loc.line)
        want = 0
        for x in vals:
            if x:
                want |= _flagset(x, self.loc.line)
        return Const(Tri.of(((FLAG_BITS["syn"] & mask) == (want & mask)) != neg), "tcp flags / mask")

    def _mask_words(self, vals: list[str]) -> list[str]:
        """The words after the ``/``, whether the lexer kept it on the value (``syn/syn,ack``),
        on the mask (``/syn``) or alone; the value's last word loses its ``/...``."""
        mask_words: list[str] = []
        if "/" in vals[-1]:
            last, _, m = vals[-1].partition("/")
            vals[-1] = last
            if m:
                mask_words.append(m)
        else:
            t = self.take()
            if t != "/":
                mask_words.append(t[1:])
        if not mask_words:
            mask_words.append(self.take())
        while self.peek() == ",":
            self.take()
            mask_words.append(self.take())
        return mask_words


# tcp flags' relational operators, as the kernel compares the masked field with the value
_COMPARE: dict[str, Callable[[int, int], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, ">": operator.gt,
    "<=": operator.le, ">=": operator.ge}
RELOPS = {"==", "!=", "<", ">", "<=", ">=", "eq", "ne", "lt", "gt", "le", "ge"}
BITOPS = {"&", "|", "^", "<<", ">>", "and", "or", "xor", "lshift", "rshift"}
MAYBE_KEY = "?"   # a set key with a constant in it: what a later lookup finds is not guessed
_Expression = Callable[[RuleReader, str], "bool | None"]
# ``meta FIELD`` -> how RuleReader.meta reads the match (fields not here: a ``set`` statement,
# or a match not modelled).
_META_FIELDS: dict[str, Callable[[RuleReader], None]] = {
    "l4proto": RuleReader._meta_l4proto, "nfproto": RuleReader._meta_nfproto,
    "iif": RuleReader._meta_iif, "iifname": RuleReader._meta_iif,
    "oif": RuleReader._meta_oif, "oifname": RuleReader._meta_oif,
    "protocol": RuleReader._meta_protocol, "pkttype": RuleReader._meta_pkttype,
}
# A selector's head -> how RuleReader.spec reads it inside a set key or concatenation
# (None: a selector whose values are not modelled).
_SPECS: dict[str, Callable[[RuleReader, str, str], _Spec | None]] = {
    "ip": RuleReader._spec_ip, "ip6": RuleReader._spec_ip,
    **dict.fromkeys(("tcp", "udp", "udplite", "sctp", "dccp", "th"), RuleReader._spec_transport),
    "meta": RuleReader._spec_meta, "ct": RuleReader._spec_ct,
}
# A rule's head words -> how RuleReader reads the expression they start.
_EXPRESSIONS: dict[str, _Expression] = {
    "accept": RuleReader._x_accept, "drop": RuleReader._x_drop, "reject": RuleReader._x_reject,
    "return": RuleReader._x_return, "jump": RuleReader._x_jump, "goto": RuleReader._x_jump,
    "continue": RuleReader._x_nothing, "queue": RuleReader._x_queue,
    **dict.fromkeys(("dnat", "snat", "redirect", "masquerade", "tproxy"), RuleReader._x_nat),
    **dict.fromkeys(("tcp", "udp", "udplite", "sctp", "dccp", "th"), RuleReader._x_transport),
    "ip": RuleReader._x_ip, "ip6": RuleReader._x_ip,
    "iif": RuleReader._x_iif, "iifname": RuleReader._x_iif,
    "oif": RuleReader._x_oif, "oifname": RuleReader._x_oif,
    "meta": RuleReader._x_meta, "ct": RuleReader._x_ct,
    **dict.fromkeys(("l4proto", "nfproto", "mark", "pkttype", "skuid"), RuleReader._x_meta_short),
    "icmp": RuleReader._x_icmp, "icmpv6": RuleReader._x_icmp,
    "counter": RuleReader._x_counter, "log": RuleReader._x_log, "comment": RuleReader._x_comment,
    "limit": RuleReader._x_limit, "quota": RuleReader._x_quota,
    **dict.fromkeys(("add", "update", "delete"), RuleReader._x_dynset),
    "set": RuleReader._x_old_dynset, "meter": RuleReader._x_meter, "fib": RuleReader._x_fib,
    "vmap": RuleReader._x_vmap,
    **dict.fromkeys(("notrack", "flow", "nftrace"), RuleReader._x_skip),
}


def _protos(vals: list[str], line: int) -> frozenset[str]:
    out = set()
    for v in vals:
        low = v.lower()
        if not (low in PROTOCOLS or low.isdigit() or is_templated(v)):
            raise NftError(f"could not resolve protocol name {v!r}", line)
        out.add(low)
    return frozenset(out)


def _ct_states(vals: list[str], line: int) -> list[str]:
    for v in vals:
        if v not in CT_STATES:
            raise NftError(f"unknown conntrack state {v!r}", line)
    return vals


def _dest(src: Source) -> Cond:
    return Dest(src.nets) if src.nets else Const(Tri.MAYBE, "daddr")


def _split_elements(raw: list[str]) -> list[list[str]]:
    """A set's element tokens, split at the commas of its outer braces."""
    out: list[list[str]] = [[]]
    depth = 0
    for t in raw:
        if t == "{":
            depth += 1
            if depth == 1:
                continue
        elif t == "}":
            depth -= 1
            if depth == 0:
                continue
        if t == "," and depth <= 1:
            out.append([])
            continue
        out[-1].append(t)
    return [e for e in out if e]


def _stateful(words: list[str], line: int) -> Tri:
    """What a set update's own statements make of a first connection (see ``RuleReader.limit``)."""
    res = Tri.YES
    for k, w in enumerate(words):
        prev = words[k - 1] if k else ""
        if w == "over" and prev in ("rate", "count", "quota"):
            res = Tri.NO
        elif w in SET_STMT_WORDS or w == "," or RATE_UNIT.match(w) or re.fullmatch(
                r"\d+(?:[smhd]|ms)?(?:\d+[smhd])*|\d+/(?:second|minute|hour|day|week)", w) or \
                prev == "comment" or w in ("packets",) or (prev in ("packets", "bytes")):
            continue
        else:
            raise NftError(f"unknown statement {w!r} in a set update", line)
    return res


def _flagset(text: str, line: int) -> int:
    bits = 0
    for f in text.strip("()").replace(",", "|").split("|"):
        if not f:
            continue
        if f not in FLAG_BITS:
            raise NftError(f"unknown tcp flag {f!r}", line)
        bits |= FLAG_BITS[f]
    return bits


def _family_cond(vals: list[str], neg: bool) -> Cond:
    fams = {"ipv4": "ipv4", "ipv6": "ipv6"}
    got = [fams[v] for v in vals if v in fams]
    if len(got) == 1:
        return FamilyIs(got[0], neg)
    return Const(Tri.MAYBE, "nfproto")
