"""The options each iptables match and target takes, as iptables' extensions define them.

iptables-restore refuses a rule with an option no loaded extension defines
(``unknown option "--dprot"``), a match it cannot load (``Couldn't load match``) or a
target that is neither an extension nor a chain. The gate must refuse the same
rules, so the parser resolves every option through this table: an option that is
not here is "cannot be judged" (FW006) on its line, never skipped.

Each entry maps an option (long name, aliases included) to how many words it takes.
Adding an extension or an option is one line. ``MODELLED`` names the options whose
effect on a new TCP connection the parser models; ``NEUTRAL`` those that provably
cannot change whether such a connection from the internet matches (the reason is
written beside each). Any other option of a known match makes its rule "cannot be
judged" wherever the rule decides the outcome: accepted by the tool, not guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

# Options iptables itself defines (iptables(8)), with their aliases -> canonical name.
CORE_ALIASES: dict[str, str] = {
    "--protocol": "-p", "--source": "-s", "--src": "-s", "--destination": "-d", "--dst": "-d",
    "--in-interface": "-i", "--out-interface": "-o", "--jump": "-j", "--goto": "-g",
    "--match": "-m", "--fragment": "-f", "--set-counters": "-c", "--ipv4": "-4", "--ipv6": "-6",
}
CORE_NARGS: dict[str, int] = {"-p": 1, "-s": 1, "-d": 1, "-i": 1, "-o": 1, "-j": 1, "-g": 1,
                              "-m": 1, "-f": 0, "-c": 2, "-4": 0, "-6": 0}


@dataclass(frozen=True)
class Ext:
    """One extension: its options (name -> number of values) and aliases (alias -> name)."""

    options: dict[str, int]
    aliases: dict[str, str]
    family: str | None = None      # "ipv4" / "ipv6" when only one of iptables / ip6tables has it

    def canonical(self, opt: str) -> str | None:
        if opt in self.options:
            return opt
        return self.aliases.get(opt)

    def names(self) -> list[str]:
        return [*self.options, *self.aliases]


def _e(spec: str, aliases: dict[str, str] | None = None, family: str | None = None) -> Ext:
    """``"--a:1 --b:0"`` -> Ext({"--a": 1, "--b": 0}). Terse, so the table reads like the man page."""
    opts: dict[str, int] = {}
    for item in spec.split():
        name, n = item.rsplit(":", 1)
        opts[name] = int(n)
    return Ext(opts, aliases or {}, family)


_PORTS = {"--source-port": "--sport", "--destination-port": "--dport"}

# Matches (iptables-extensions(8), "MATCH EXTENSIONS"; xtables-addons' geoip, which hosts that
# ship it load). Values: the words each option takes.
MATCHES: dict[str, Ext] = {
    "addrtype": _e("--src-type:1 --dst-type:1 --limit-iface-in:0 --limit-iface-out:0"),
    "ah": _e("--ahspi:1"),  # ip6tables' ah also has --ahlen/--ahres: not listed, so refused
    "bpf": _e("--bytecode:1 --object-pinned:1"),
    "cgroup": _e("--path:1 --cgroup:1"),
    "cluster": _e("--cluster-total-nodes:1 --cluster-local-node:1 --cluster-local-nodemask:1 "
                  "--cluster-hash-seed:1"),
    "comment": _e("--comment:1"),
    "connbytes": _e("--connbytes:1 --connbytes-dir:1 --connbytes-mode:1"),
    "connlabel": _e("--label:1 --set:0"),
    "connlimit": _e("--connlimit-upto:1 --connlimit-above:1 --connlimit-mask:1 --connlimit-saddr:0 "
                    "--connlimit-daddr:0"),
    "connmark": _e("--mark:1"),
    "conntrack": _e("--ctstate:1 --ctproto:1 --ctorigsrc:1 --ctorigdst:1 --ctreplsrc:1 "
                    "--ctrepldst:1 --ctorigsrcport:1 --ctorigdstport:1 --ctreplsrcport:1 "
                    "--ctrepldstport:1 --ctstatus:1 --ctexpire:1 --ctdir:1"),
    "cpu": _e("--cpu:1"),
    "dccp": _e("--sport:1 --dport:1 --dccp-types:1 --dccp-option:1", _PORTS),
    "devgroup": _e("--src-group:1 --dst-group:1"),
    "dscp": _e("--dscp:1 --dscp-class:1"),
    "dst": _e("--dst-len:1 --dst-opts:1", family="ipv6"),
    "ecn": _e("--ecn-tcp-cwr:0 --ecn-tcp-ece:0 --ecn-ip-ect:1"),
    "esp": _e("--espspi:1"),
    "eui64": _e("", family="ipv6"),
    "frag": _e("--fragid:1 --fraglen:1 --fragres:0 --fragfirst:0 --fragmore:0 --fraglast:0",
               family="ipv6"),
    "geoip": _e("--src-cc:1 --dst-cc:1", {"--source-country": "--src-cc",
                                          "--destination-country": "--dst-cc"}),
    "hashlimit": _e("--hashlimit-upto:1 --hashlimit-above:1 --hashlimit-burst:1 "
                    "--hashlimit-mode:1 --hashlimit-srcmask:1 --hashlimit-dstmask:1 "
                    "--hashlimit-name:1 --hashlimit-htable-size:1 --hashlimit-htable-max:1 "
                    "--hashlimit-htable-expire:1 --hashlimit-htable-gcinterval:1 "
                    "--hashlimit-rate-match:0 --hashlimit-rate-interval:1",
                    {"--hashlimit": "--hashlimit-upto"}),
    "hbh": _e("--hbh-len:1 --hbh-opts:1", family="ipv6"),
    "helper": _e("--helper:1"),
    "hl": _e("--hl-eq:1 --hl-lt:1 --hl-gt:1", family="ipv6"),
    "icmp": _e("--icmp-type:1", family="ipv4"),
    "icmp6": _e("--icmpv6-type:1", family="ipv6"),
    "iprange": _e("--src-range:1 --dst-range:1"),
    "ipv6header": _e("--header:1 --soft:0", family="ipv6"),
    "ipvs": _e("--ipvs:0 --vproto:1 --vaddr:1 --vport:1 --vdir:1 --vmethod:1 --vportctl:1"),
    "length": _e("--length:1"),
    "limit": _e("--limit:1 --limit-burst:1"),
    "mac": _e("--mac-source:1"),
    "mark": _e("--mark:1"),
    "mh": _e("--mh-type:1", family="ipv6"),
    "multiport": _e("--sports:1 --dports:1 --ports:1",
                    {"--source-ports": "--sports", "--destination-ports": "--dports"}),
    "nfacct": _e("--nfacct-name:1"),
    "osf": _e("--genre:1 --ttl:1 --log:1", family="ipv4"),
    "owner": _e("--uid-owner:1 --gid-owner:1 --socket-exists:0 --suppl-groups:0"),
    "physdev": _e("--physdev-in:1 --physdev-out:1 --physdev-is-in:0 --physdev-is-out:0 "
                  "--physdev-is-bridged:0"),
    "pkttype": _e("--pkt-type:1"),
    "policy": _e("--dir:1 --pol:1 --strict:0 --reqid:1 --spi:1 --proto:1 --mode:1 "
                 "--tunnel-src:1 --tunnel-dst:1 --next:0"),
    "quota": _e("--quota:1"),
    "rateest": _e("--rateest:1 --rateest1:1 --rateest2:1 --rateest-delta:0 --rateest-bps:1 "
                  "--rateest-pps:1 --rateest-bps1:1 --rateest-bps2:1 --rateest-pps1:1 "
                  "--rateest-pps2:1 --rateest-lt:0 --rateest-gt:0 --rateest-eq:0"),
    "realm": _e("--realm:1", family="ipv4"),
    "recent": _e("--name:1 --set:0 --rsource:0 --rdest:0 --mask:1 --rcheck:0 --update:0 "
                 "--remove:0 --seconds:1 --reap:0 --hitcount:1 --rttl:0"),
    "rpfilter": _e("--loose:0 --validmark:0 --accept-local:0 --invert:0"),
    "rt": _e("--rt-type:1 --rt-segsleft:1 --rt-len:1 --rt-0-res:0 --rt-0-addrs:1 "
             "--rt-0-not-strict:0", family="ipv6"),
    "sctp": _e("--sport:1 --dport:1 --chunk-types:2", _PORTS),
    "set": _e("--match-set:2 --return-nomatch:0 --update-counters:0 --update-subcounters:0 "
              "--packets-eq:1 --packets-lt:1 --packets-gt:1 --bytes-eq:1 --bytes-lt:1 "
              "--bytes-gt:1", {"--set": "--match-set"}),
    "socket": _e("--transparent:0 --nowildcard:0 --restore-skmark:0"),
    "state": _e("--state:1"),
    "statistic": _e("--mode:1 --probability:1 --every:1 --packet:1"),
    "string": _e("--algo:1 --from:1 --to:1 --string:1 --hex-string:1 --icase:0"),
    "tcp": _e("--sport:1 --dport:1 --tcp-flags:2 --syn:0 --tcp-option:1", _PORTS),
    "tcpmss": _e("--mss:1"),
    "time": _e("--datestart:1 --datestop:1 --timestart:1 --timestop:1 --monthdays:1 "
               "--weekdays:1 --contiguous:0 --kerneltz:0 --utc:0 --localtz:0"),
    "tos": _e("--tos:1"),
    "ttl": _e("--ttl-eq:1 --ttl-lt:1 --ttl-gt:1", family="ipv4"),
    "u32": _e("--u32:1"),
    "udp": _e("--sport:1 --dport:1", _PORTS),
    "udplite": _e(""),
}
MATCH_ALIASES = {"icmpv6": "icmp6", "ipv6-icmp": "icmp6"}

# Targets (iptables-extensions(8), "TARGET EXTENSIONS"; xtables-addons' TARPIT).
TARGETS: dict[str, Ext] = {
    "ACCEPT": _e(""), "DROP": _e(""), "RETURN": _e(""), "QUEUE": _e(""),
    "AUDIT": _e("--type:1"),
    "CHECKSUM": _e("--checksum-fill:0"),
    "CLASSIFY": _e("--set-class:1"),
    "CLUSTERIP": _e("--new:0 --hashmode:1 --clustermac:1 --total-nodes:1 --local-node:1 "
                    "--hash-init:1", family="ipv4"),
    "CONNMARK": _e("--set-xmark:1 --save-mark:0 --restore-mark:0 --and-mark:1 --or-mark:1 "
                   "--xor-mark:1 --set-mark:1 --nfmask:1 --ctmask:1 --mask:1"),
    "CONNSECMARK": _e("--save:0 --restore:0"),
    "CT": _e("--notrack:0 --helper:1 --ctevents:1 --expevents:1 --zone-orig:1 --zone-reply:1 "
             "--zone:1 --timeout:1"),
    "DNAT": _e("--to-destination:1 --random:0 --persistent:0"),
    "DNPT": _e("--src-pfx:1 --dst-pfx:1", family="ipv6"),
    "DSCP": _e("--set-dscp:1 --set-dscp-class:1"),
    "ECN": _e("--ecn-tcp-remove:0", family="ipv4"),
    "HL": _e("--hl-set:1 --hl-dec:1 --hl-inc:1", family="ipv6"),
    "HMARK": _e("--hmark-tuple:1 --hmark-mod:1 --hmark-offset:1 --hmark-src-prefix:1 "
                "--hmark-dst-prefix:1 --hmark-sport-mask:1 --hmark-dport-mask:1 "
                "--hmark-spi-mask:1 --hmark-proto-mask:1 --hmark-rnd:1"),
    "IDLETIMER": _e("--timeout:1 --label:1 --alarm:0"),
    "LED": _e("--led-trigger-id:1 --led-delay:1 --led-always-blink:0"),
    "LOG": _e("--log-level:1 --log-prefix:1 --log-tcp-sequence:0 --log-tcp-options:0 "
              "--log-ip-options:0 --log-uid:0 --log-macdecode:0"),
    "MARK": _e("--set-xmark:1 --set-mark:1 --and-mark:1 --or-mark:1 --xor-mark:1"),
    "MASQUERADE": _e("--to-ports:1 --random:0 --random-fully:0"),
    "NETMAP": _e("--to:1"),
    "NFLOG": _e("--nflog-group:1 --nflog-prefix:1 --nflog-range:1 --nflog-size:1 "
                "--nflog-threshold:1"),
    "NFQUEUE": _e("--queue-num:1 --queue-balance:1 --queue-bypass:0 "
                  "--queue-cpu-fanout:0"),
    "NOTRACK": _e(""),
    "RATEEST": _e("--rateest-name:1 --rateest-interval:1 --rateest-ewmalog:1"),
    "REDIRECT": _e("--to-ports:1 --random:0"),
    "REJECT": _e("--reject-with:1"),
    "SECMARK": _e("--selctx:1"),
    "SET": _e("--add-set:2 --del-set:2 --map-set:2 --timeout:1 --exist:0 --map-mark:0 "
              "--map-prio:0 --map-queue:0"),
    "SNAT": _e("--to-source:1 --random:0 --random-fully:0 --persistent:0"),
    "SNPT": _e("--src-pfx:1 --dst-pfx:1", family="ipv6"),
    "SYNPROXY": _e("--mss:1 --wscale:1 --sack-perm:0 --timestamp:0 --ecn:0"),
    "TARPIT": _e("--tarpit:0 --honeypot:0 --reset:0"),
    "TCPMSS": _e("--set-mss:1 --clamp-mss-to-pmtu:0"),
    "TCPOPTSTRIP": _e("--strip-options:1"),
    "TEE": _e("--gateway:1"),
    "TOS": _e("--set-tos:1 --and-tos:1 --or-tos:1 --xor-tos:1"),
    "TPROXY": _e("--on-port:1 --on-ip:1 --tproxy-mark:1"),
    "TRACE": _e(""),
    "TTL": _e("--ttl-set:1 --ttl-dec:1 --ttl-inc:1", family="ipv4"),
    "ULOG": _e("--ulog-nlgroup:1 --ulog-prefix:1 --ulog-cprange:1 --ulog-qthreshold:1",
               family="ipv4"),
}

# The module ``-p NAME`` loads on demand when an option of it follows (iptables(8): "-p tcp
# --dport" works without "-m tcp").
PROTO_MATCH = {"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "icmp": "icmp", "1": "icmp",
               "icmpv6": "icmp6", "ipv6-icmp": "icmp6", "58": "icmp6", "sctp": "sctp",
               "132": "sctp", "dccp": "dccp", "33": "dccp", "esp": "esp", "50": "esp",
               "ah": "ah", "51": "ah", "mh": "mh", "ipv6-mh": "mh", "135": "mh"}

# Protocol names iptables knows itself, plus those of netbase's /etc/protocols (getprotobyname).
PROTOCOLS = frozenset({
    "all", "tcp", "udp", "udplite", "icmp", "icmpv6", "ipv6-icmp", "esp", "ah", "sctp", "mh",
    "ipv6-mh", "dccp", "ip", "hopopt", "igmp", "ggp", "ipencap", "st", "egp", "igp", "pup", "hmp",
    "xns-idp", "rdp", "iso-tp4", "xtp", "ddp", "idpr-cmtp", "ipv6", "ipv6-route", "ipv6-frag",
    "idrp", "rsvp", "gre", "skip", "ipv6-nonxt", "ipv6-opts", "rspf", "vmtp", "eigrp", "ospf",
    "ax.25", "ipip", "etherip", "encap", "pim", "ipcomp", "vrrp", "l2tp", "isis", "fc",
    "mobility-header", "manet", "hip", "shim6", "wesp", "rohc", "ethernet", "mptcp",
})

CT_STATES = frozenset({"invalid", "established", "new", "related", "untracked", "snat", "dnat"})
# Extensions from xtables-addons, not iptables itself: hosts that install it load them.
ADDONS = frozenset({"geoip", "TARPIT"})

STATE_STATES = frozenset({"invalid", "established", "new", "related", "untracked"})

# What each option means for a new TCP connection (a SYN) from an arbitrary internet address.
# MODELLED: the parser turns it into a condition. NEUTRAL: it cannot change whether that
# connection matches, for the reason given.
MODELLED: dict[str, frozenset[str]] = {
    "tcp": frozenset({"--sport", "--dport", "--syn", "--tcp-flags"}),
    "udp": frozenset({"--sport", "--dport"}),
    "multiport": frozenset({"--sports", "--dports", "--ports"}),
    "conntrack": frozenset({"--ctstate", "--ctorigdstport"}),
    "state": frozenset({"--state"}),
    "set": frozenset({"--match-set"}),
    "iprange": frozenset({"--src-range"}),
    "mac": frozenset({"--mac-source"}),
    "geoip": frozenset({"--src-cc"}),
    "recent": frozenset({"--rcheck", "--update", "--remove", "--set"}),
    "connlimit": frozenset({"--connlimit-above", "--connlimit-upto"}),
    "hashlimit": frozenset({"--hashlimit-above", "--hashlimit-upto"}),
    "addrtype": frozenset({"--src-type", "--dst-type"}),
    "pkttype": frozenset({"--pkt-type"}),
    "limit": frozenset({"--limit"}),
    "icmp": frozenset({"--icmp-type"}),
    "icmp6": frozenset({"--icmpv6-type"}),
}
NEUTRAL: dict[str, frozenset[str]] = {
    # A comment is text only.
    "comment": frozenset({"--comment"}),
    # Rate limits: the bucket starts full, so the first connection from a new source passes
    # (an attacker's first try is what exposure means); burst/mode/name only size the bucket.
    "limit": frozenset({"--limit-burst"}),
    "hashlimit": frozenset({"--hashlimit-burst", "--hashlimit-mode", "--hashlimit-srcmask",
                            "--hashlimit-dstmask", "--hashlimit-name", "--hashlimit-htable-size",
                            "--hashlimit-htable-max", "--hashlimit-htable-expire",
                            "--hashlimit-htable-gcinterval"}),
    # connlimit counts connections per source: these only choose how sources are grouped.
    "connlimit": frozenset({"--connlimit-mask", "--connlimit-saddr", "--connlimit-daddr"}),
    # recent: which list, which address, for how long; the first connection is in no list.
    "recent": frozenset({"--name", "--rsource", "--rdest", "--mask", "--seconds", "--reap",
                         "--hitcount", "--rttl"}),
    # addrtype: limiting the lookup to the incoming interface does not change a unicast answer.
    "addrtype": frozenset({"--limit-iface-in", "--limit-iface-out"}),
    # ipset counters: the set membership decides; "update counters" only counts.
    "set": frozenset({"--return-nomatch", "--update-counters", "--update-subcounters"}),
}
