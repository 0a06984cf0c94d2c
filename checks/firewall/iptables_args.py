"""The rule specification shared by iptables-save files and iptables shell scripts.

``parse_spec`` turns the words after ``-A CHAIN`` into match conditions and a
verdict. Options may come in any order (ufw writes ``-j RETURN -m limit ...``);
an option this module does not know becomes an undecidable condition rather than
a guess, and malformed values raise ``SpecError`` (reported as FW006).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .model import (
    Cond,
    Const,
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


def is_templated(word: str) -> bool:
    return any(m in word for m in TEMPLATE_MARKS)


def parse_ports(text: str, multi: bool) -> Ports:
    if is_templated(text):
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


def parse_nets(text: str, family: str) -> Source:
    if is_templated(text):
        return Source(sets=(f"{text} (templated)",))
    nets = []
    for item in text.split(","):
        try:
            net = ipaddress.ip_network(item, strict=False)
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


def parse_spec(words: list[str], family: str) -> Spec:
    conds: list[Cond] = []
    templated: list[str] = []
    verdict = Verdict(V.NONE)
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
        if is_templated(v):
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
            conds.append(Const(Tri.MAYBE, v) if is_templated(v) else Proto(frozenset({v}), neg))
            loaded.add({"6": "tcp", "17": "udp", "ipv6-icmp": "icmp6", "icmpv6": "icmp6",
                        "1": "icmp", "58": "icmp6"}.get(v, v))
        elif opt == "-s":
            src = parse_nets(value(), family)
            conds.append(Source(src.nets, src.sets, neg))
        elif opt == "-d":
            parse_nets(value(), family)  # the host's own address: assumed to be one of ours
        elif opt == "-i":
            v = value()
            conds.append(InIface((v,), neg, unknown=is_templated(v)))
        elif opt == "-o":
            value()
            conds.append(Const(Tri.NO, "-o never matches incoming packets"))
        elif opt in ("-j", "-g"):
            v = value()
            target_name = v
            if is_templated(v):
                verdict = Verdict(V.UNKNOWN)
            elif v == "ACCEPT":
                verdict = Verdict(V.ACCEPT)
            elif v in FINAL_DROP:
                verdict = Verdict(V.DROP)
            elif v == "RETURN":
                verdict = Verdict(V.RETURN)
            elif v in NON_TERMINAL:
                verdict = Verdict(V.NONE)
            elif v in NAT_TARGETS:
                verdict = Verdict(V.ACCEPT)
            elif v in ("QUEUE", "NFQUEUE"):
                verdict = Verdict(V.UNKNOWN)
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
            ports = parse_ports(value(), multi=opt in ("--dports", "--ports") or "multiport" in loaded)
            conds.append(Ports(ports.ranges, neg, unknown=ports.unknown))
        elif opt in ("--sport", "--sports"):
            ports = parse_ports(value(), multi=opt == "--sports" or "multiport" in loaded)
            conds.append(Ports(ports.ranges, neg, source=True, unknown=ports.unknown))
        elif opt in ("--state", "--ctstate"):
            conds.append(State(frozenset(s.lower() for s in value().split(",")), neg))
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
