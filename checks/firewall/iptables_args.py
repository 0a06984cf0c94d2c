"""The rule specification shared by iptables-save files and iptables shell scripts.

``parse_spec`` turns the words after ``-A CHAIN`` into match conditions and a
verdict. Options may come in any order (ufw writes ``-j RETURN -m limit ...``);
an option this module does not know becomes an undecidable condition rather than
a guess, and malformed values raise ``SpecError`` (reported as FW006).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from .model import (
    Cond,
    Const,
    Dest,
    InIface,
    Ports,
    Proto,
    Source,
    State,
    Tri,
    V,
    Verdict,
)
from .services import port_of

TEMPLATE_MARKS = ("{{", "}}", "{%", "$", "%%", "!!", "<%", "@@")

FINAL_DROP = {"DROP", "REJECT", "TARPIT"}
NON_TERMINAL = {"LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "CT", "NOTRACK", "TCPMSS", "TOS", "DSCP",
                "SET", "AUDIT", "CLASSIFY", "TRACE", "CHECKSUM", "TTL", "HL", "SECMARK",
                "CONNSECMARK", "LED", "IDLETIMER", "TEE", "SYNPROXY", "HMARK", "RATEEST", "NETMAP"}
NAT_TARGETS = {"DNAT", "SNAT", "MASQUERADE", "REDIRECT"}
FLAG_BITS = {"FIN": 1, "SYN": 2, "RST": 4, "PSH": 8, "ACK": 16, "URG": 32, "ALL": 63, "NONE": 0}
# Options that take no value.
FLAGS = {"--syn", "--rcheck", "--update", "--set", "--remove", "--rsource", "--rdest", "-f",
         "--fragment", "--log-tcp-sequence", "--log-tcp-options", "--log-ip-options", "--log-uid",
         "--reap", "--random", "--persistent", "--random-fully", "--clamp-mss-to-pmtu",
         "--strict", "--return-nomatch", "--ctdir", "--bytes", "--invert", "--mask"}
FLAGS -= {"--ctdir", "--mask"}
OPT_ALIASES = {"--protocol": "-p", "--source": "-s", "--src": "-s", "--destination": "-d",
               "--dst": "-d", "--in-interface": "-i", "--out-interface": "-o", "--jump": "-j",
               "--goto": "-g", "--match": "-m", "--destination-port": "--dport",
               "--source-port": "--sport", "--destination-ports": "--dports",
               "--source-ports": "--sports", "--set-counters": "-c", "--fragment": "-f"}


# Match options that only exist once their module is loaded (``-p tcp`` loads ``tcp``).
NEEDS: dict[str, frozenset[str]] = {
    "--dport": frozenset({"tcp", "udp", "sctp", "dccp", "udplite", "multiport"}),
    "--sport": frozenset({"tcp", "udp", "sctp", "dccp", "udplite", "multiport"}),
    "--dports": frozenset({"multiport"}), "--sports": frozenset({"multiport"}),
    "--ports": frozenset({"multiport"}), "--comment": frozenset({"comment"}),
    "--state": frozenset({"state"}), "--ctstate": frozenset({"conntrack"}),
    "--ctorigdstport": frozenset({"conntrack"}), "--syn": frozenset({"tcp"}),
    "--tcp-flags": frozenset({"tcp"}), "--match-set": frozenset({"set"}),
    "--src-range": frozenset({"iprange"}), "--mac-source": frozenset({"mac"}),
    "--icmp-type": frozenset({"icmp"}), "--icmpv6-type": frozenset({"icmp6", "icmpv6"}),
    "--limit": frozenset({"limit", "hashlimit"}),
}


class SpecError(ValueError):
    """A rule specification the real tool would reject."""


@dataclass
class Spec:
    conds: list[Cond]
    verdict: Verdict
    target_name: str | None
    templated: list[str]


_TEMPLATED = re.compile("|".join(re.escape(m) for m in TEMPLATE_MARKS))


def is_templated(word: str) -> bool:
    return _TEMPLATED.search(word) is not None


def parse_ports(text: str, multi: bool) -> Ports:
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
            lo = port_of(a) if a else 0
            hi = port_of(b) if b else 65535
            if lo is None or hi is None:
                raise SpecError(f"invalid port/service {item!r}")
            if lo > hi:
                lo, hi = hi, lo
            ranges.append((lo, hi))
        else:
            p = port_of(item)
            if p is None:
                raise SpecError(f"invalid port/service {item!r}")
            ranges.append((p, p))
    return Ports(tuple(ranges))


_DOTTED = re.compile(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:/(\d{1,2}))?")


def _net(item: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """ip_network(item, strict=False), with a fast path for the common dotted-quad form."""
    m = _DOTTED.fullmatch(item)
    if m:
        a, b, c, d = (int(x) for x in m.groups()[:4])
        plen = int(m.group(5)) if m.group(5) is not None else 32
        if a < 256 and b < 256 and c < 256 and d < 256 and plen <= 32:
            value = (a << 24) | (b << 16) | (c << 8) | d
            return ipaddress.IPv4Network((value & (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF, plen))
    if item in ("0/0", "0"):
        return ipaddress.IPv4Network("0.0.0.0/0")  # iptables' usual spelling of "anywhere"
    return ipaddress.ip_network(item, strict=False)


def parse_nets(text: str, family: str) -> Source:
    if _DOTTED.fullmatch(text) is None and is_templated(text):
        return Source(sets=(f"{text} (templated)",))
    nets = []
    for item in text.split(","):
        try:
            net = _net(item)
        except ValueError:
            raise SpecError(f"host/network {item!r} is not an address (names are not resolved)") \
                from None
        if (net.version == 4) != (family == "ipv4"):
            raise SpecError(f"{item!r} is not an {family} address")
        nets.append(net)
    return Source(tuple(nets))


def _flags(text: str) -> int:
    bits = 0
    for f in text.upper().split(","):
        if f not in FLAG_BITS:
            raise SpecError(f"unknown TCP flag {f!r}")
        bits |= FLAG_BITS[f]
    return bits


# Conditions and verdicts are immutable, so equal ones are shared: large rulesets repeat them.
_VERDICTS = {k: Verdict(k) for k in V}
_PROTOS: dict[tuple[str, bool], Proto] = {}
_PORTS: dict[tuple[str, bool, bool, bool], Ports] = {}
_STATES: dict[tuple[str, bool], State] = {}
_PROTO_MODULE = {"6": "tcp", "17": "udp", "ipv6-icmp": "icmp6", "icmpv6": "icmp6", "1": "icmp",
                 "58": "icmp6"}


def _proto(v: str, neg: bool) -> Proto:
    got = _PROTOS.get((v, neg))
    if got is None:
        got = _PROTOS[(v, neg)] = Proto(frozenset({v}), neg)
    return got


def _ports(text: str, multi: bool, neg: bool, source: bool) -> Ports:
    key = (text, multi, neg, source)
    got = _PORTS.get(key)
    if got is None:
        p = parse_ports(text, multi)
        got = Ports(p.ranges, neg, source, p.unknown)
        if len(_PORTS) < 65536:
            _PORTS[key] = got
    return got


def _state(text: str, neg: bool) -> State:
    got = _STATES.get((text, neg))
    if got is None:
        got = _STATES[(text, neg)] = State(frozenset(s.lower() for s in text.split(",")), neg)
    return got


def parse_spec(words: list[str], family: str) -> Spec:
    # One search over the whole rule spares a search per word in the common, untemplated case.
    tpl = _TEMPLATED.search(" ".join(words)) is not None
    conds: list[Cond] = []
    templated: list[str] = []
    verdict = _VERDICTS[V.NONE]
    target_name: str | None = None
    module = ""
    loaded: set[str] = set()
    i = 0
    neg = False
    n = len(words)

    def value() -> str:
        nonlocal i
        i += 1
        if i >= n:
            raise SpecError(f"option {words[i - 1]!r} needs a value")
        v = words[i]
        if v == "!":
            raise SpecError(f"'!' after {words[i - 1]!r}: write '! {words[i - 1]} VALUE'")
        if tpl and is_templated(v):
            templated.append(v)
        return v

    while i < n:
        w = words[i]
        if w == "!":
            neg = True
            i += 1
            continue
        opt = OPT_ALIASES.get(w, w)
        need = NEEDS.get(opt)
        if need is not None and not (need & loaded):
            raise SpecError(f"unknown option {w!r} (it needs -m {sorted(need)[0]})")
        if opt == "-p":
            v = value().lower()
            conds.append(Const(Tri.MAYBE, v) if tpl and is_templated(v) else _proto(v, neg))
            loaded.add(_PROTO_MODULE.get(v, v))
        elif opt == "-s":
            src = parse_nets(value(), family)
            conds.append(Source(src.nets, src.sets, neg))
        elif opt == "-d":
            dst = parse_nets(value(), family)
            if dst.nets:
                conds.append(Dest(dst.nets, neg))
        elif opt == "-i":
            v = value()
            conds.append(InIface((v,), neg, unknown=tpl and is_templated(v)))
        elif opt == "-o":
            value()
            conds.append(Const(Tri.NO, "-o never matches incoming packets"))
        elif opt in ("-j", "-g"):
            v = value()
            target_name = v
            if v == "ACCEPT":
                verdict = _VERDICTS[V.ACCEPT]
            elif tpl and is_templated(v):
                verdict = _VERDICTS[V.UNKNOWN]
            elif v in FINAL_DROP:
                verdict = _VERDICTS[V.DROP]
            elif v == "RETURN":
                verdict = _VERDICTS[V.RETURN]
            elif v in NON_TERMINAL:
                verdict = _VERDICTS[V.NONE]
            elif v in NAT_TARGETS:
                verdict = _VERDICTS[V.ACCEPT]
            elif v in ("QUEUE", "NFQUEUE"):
                verdict = _VERDICTS[V.UNKNOWN]
            else:
                verdict = Verdict(V.GOTO if opt == "-g" else V.JUMP, v)
        elif opt == "-m":
            module = value().lower()
            loaded.add(module)
            if module == "owner":
                conds.append(Const(Tri.NO, "owner matches only locally generated packets"))
        elif opt == "-c":
            value()
            value()
        elif opt == "-f":
            conds.append(Const(Tri.of(neg), "fragment"))
        elif opt in ("--dport", "--dports", "--ctorigdstport", "--ports"):
            conds.append(_ports(value(), opt in ("--dports", "--ports") or "multiport" in loaded,
                                neg, False))
        elif opt in ("--sport", "--sports"):
            conds.append(_ports(value(), opt == "--sports" or "multiport" in loaded, neg, True))
        elif opt in ("--state", "--ctstate"):
            conds.append(_state(value(), neg))
        elif opt == "--syn":
            conds.append(Const(Tri.of(not neg), "--syn"))
        elif opt == "--tcp-flags":
            mask = _flags(value())
            comp = _flags(value())
            conds.append(Const(Tri.of(((FLAG_BITS["SYN"] & mask) == comp) != neg), "tcp flags"))
        elif opt in ("--icmp-type", "--icmpv6-type"):
            value()  # an ICMP type, never a port
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
                nets = tuple(ipaddress.summarize_address_range(a, b))  # type: ignore[arg-type]
            except (ValueError, TypeError):
                raise SpecError(f"bad address range {v!r}") from None
            conds.append(Source(nets, negate=neg))
        elif opt == "--mac-source":
            conds.append(Source(sets=(f"mac {value()}",), negate=neg))
        elif opt == "--src-cc":
            conds.append(Source(sets=(f"geoip {value()}",), negate=neg))
        elif opt in ("--rcheck", "--update"):
            conds.append(Const(Tri.of(neg), "recent: a first connection is not in the list"))
        elif opt in ("--connlimit-above", "--hashlimit-above"):
            value()
            conds.append(Const(Tri.of(neg), "over a limit: not the first connection"))
        elif opt == "--limit" and module == "limit":
            value()
        elif opt == "--dst-type":
            v = value().upper()
            conds.append(Const(Tri.of((v in ("LOCAL", "UNICAST")) != neg), "addrtype"))
        elif opt == "--src-type":
            v = value().upper()
            conds.append(Const(Tri.of((v == "UNICAST") != neg), "addrtype"))
        elif opt == "--pkt-type":
            v = value().lower()
            conds.append(Const(Tri.of((v == "unicast") != neg), "pkttype"))
        elif opt in FLAGS:
            pass
        elif opt.startswith("--"):
            nxt = words[i + 1] if i + 1 < n else None
            if nxt is not None and ((not nxt.startswith("-") and nxt != "!") or _is_number(nxt)):
                value()
        else:
            raise SpecError(f"unknown option {w!r}")
        neg = False
        i += 1
    if neg:
        raise SpecError("'!' at the end of the rule negates nothing")
    if "tcp-reset" in words and not any(isinstance(c, Proto) and c.protos & {"tcp", "6"} and
                                        not c.negate for c in conds):
        raise SpecError("--reject-with tcp-reset is only valid with -p tcp (the kernel refuses it)")
    return Spec(conds, verdict, target_name, templated)


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True
