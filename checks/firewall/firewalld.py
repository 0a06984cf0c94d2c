"""firewalld zone files, read with defusedxml (no DTDs, no entity expansion, no external entities).

A zone's input path, as firewalld builds it: rich rules that drop or reject, then
what the zone allows (services, ports, protocols, rich rules that accept), then the
zone target ("default" and %%REJECT%% reject, DROP drops, ACCEPT accepts). A zone
bound to ``<source>`` addresses only sees packets from them; one bound only to
internal interfaces (wg0, docker0...) does not see the internet.
"""

from __future__ import annotations

import ipaddress
import posixpath
import xml.sax
from collections.abc import Callable
from dataclasses import dataclass, field
from xml.sax.handler import ContentHandler

import defusedxml.sax
from defusedxml import DefusedXmlException

from imap_gate.findings import Location

from . import firewalld_services as services
from .iptables_args import is_templated
from .model import (
    Action,
    Chain,
    Cond,
    Const,
    FamilyIs,
    FilterRule,
    InIface,
    Parsed,
    ParseIssue,
    Ports,
    Proto,
    Ruleset,
    Source,
    Tri,
    V,
)


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    line: int
    children: list[Node] = field(default_factory=list)

    def find(self, tag: str) -> list[Node]:
        return [c for c in self.children if c.tag == tag]


class _Builder(ContentHandler):
    def __init__(self) -> None:
        super().__init__()
        self.root: Node | None = None
        self.stack: list[Node] = []
        self._locator: xml.sax.xmlreader.Locator | None = None

    def setDocumentLocator(self, locator: xml.sax.xmlreader.Locator) -> None:
        self._locator = locator

    def startElement(self, name: str, attrs: xml.sax.xmlreader.AttributesImpl) -> None:
        line = self._locator.getLineNumber() if self._locator else 1
        node = Node(name, {k: attrs[k] for k in attrs.getNames()}, line or 1)
        if self.stack:
            self.stack[-1].children.append(node)
        else:
            self.root = node
        self.stack.append(node)

    def endElement(self, name: str) -> None:
        self.stack.pop()


def read_xml(text: str) -> Node:
    builder = _Builder()
    parser = defusedxml.sax.make_parser()
    parser.setContentHandler(builder)
    parser.setFeature(xml.sax.handler.feature_external_ges, False)
    parser.setFeature(xml.sax.handler.feature_external_pes, False)
    import io

    src = xml.sax.xmlreader.InputSource()
    src.setByteStream(io.BytesIO(text.encode("utf-8")))
    parser.parse(src)
    if builder.root is None:
        raise ValueError("empty document")
    return builder.root


def _ports(text: str, loc: Location) -> Ports:
    if is_templated(text):
        return Ports((), unknown=text)
    ranges = []
    for item in text.split(","):
        a, _, b = item.partition("-")
        try:
            lo, hi = int(a), int(b or a)
        except ValueError:
            raise ValueError(f"bad port {item!r}") from None
        if not (0 <= lo <= 65535 and 0 <= hi <= 65535):
            raise ValueError(f"port {item!r} is out of range")
        ranges.append((min(lo, hi), max(lo, hi)))
    return Ports(tuple(ranges))


def _service(name: str, custom: services.Lookup | None) -> list[Cond]:
    if is_templated(name):
        return [Ports((), unknown=name)]
    try:
        ranges = services.tcp_ranges(name, custom)
    except services.UnknownService as exc:
        raise ValueError(f"service {exc} is neither a stock firewalld service (firewalld "
                         f"{', '.join(services.catalogue()['packages'])}) nor defined in a "
                         "services/NAME.xml beside this zone, so its ports are not known") from None
    return [Proto(frozenset({"tcp"})), Ports(ranges)]


def _source(node: Node) -> Cond:
    neg = node.attrs.get("invert", "").lower() in ("true", "yes", "1")
    if "address" in node.attrs:
        addr = node.attrs["address"]
        if is_templated(addr):
            return Source(sets=(f"{addr} (templated)",), negate=neg)
        try:
            return Source((ipaddress.ip_network(addr, strict=False),), negate=neg)
        except ValueError:
            raise ValueError(f"bad source address {addr!r}") from None
    if "ipset" in node.attrs:
        return Source(sets=(f"ipset {node.attrs['ipset']}",), negate=neg)
    if "mac" in node.attrs:
        return Source(sets=(f"mac {node.attrs['mac']}",), negate=neg)
    raise ValueError("a source needs address, ipset or mac")


def _read_zone(text: str, path: str, parsed: Parsed) -> Node | None:
    """The zone's XML tree, or None with the reason on ``parsed`` (unsafe, not well-formed,
    unreadable, or not a <zone>)."""
    try:
        root = read_xml(text)
    except DefusedXmlException as exc:
        parsed.issues.append(ParseIssue(Location(path, 1), f"refused unsafe XML: {exc}"))
        return None
    except xml.sax.SAXParseException as exc:
        parsed.issues.append(ParseIssue(Location(path, exc.getLineNumber() or 1),
                                        f"not well-formed XML: {exc.getMessage()}"))
        return None
    except (xml.sax.SAXException, ValueError, UnicodeError) as exc:
        parsed.issues.append(ParseIssue(Location(path, 1), f"unreadable XML: {exc}"))
        return None
    if root.tag != "zone":
        parsed.issues.append(ParseIssue(Location(path, root.line),
                                        f"the root element is <{root.tag}>, not <zone>"))
        return None
    return root


def _zone_policy(root: Node, zloc: Location, parsed: Parsed) -> V:
    """What the zone target does to what the zone does not allow; an unknown target is said."""
    target = root.attrs.get("target", "default")
    tgt = target.upper()
    if tgt == "ACCEPT":
        return V.ACCEPT
    if tgt in ("DROP", "%%REJECT%%", "REJECT", "DEFAULT"):
        return V.DROP
    parsed.issues.append(ParseIssue(zloc, f"zone target {target!r} is not ACCEPT, DROP, "
                                          "%%REJECT%% or default: not guessed",
                                    templated=is_templated(target)))
    return V.UNKNOWN


@dataclass
class _Zone:
    """The zone's elements sorted by where firewalld puts them in the input path."""

    lines: list[str]
    custom: services.Lookup | None
    deny: list[FilterRule] = field(default_factory=list)
    allow: list[FilterRule] = field(default_factory=list)
    early: list[tuple[int, FilterRule]] = field(default_factory=list)   # rich rules, priority < 0
    late: list[tuple[int, FilterRule]] = field(default_factory=list)    # rich rules, priority > 0
    bind_sources: list[Cond] = field(default_factory=list)
    forwards: list[FilterRule] = field(default_factory=list)
    ifaces: list[str] = field(default_factory=list)

    def text_of(self, n: Node) -> str:
        return self.lines[n.line - 1].strip() if 0 < n.line <= len(self.lines) else f"<{n.tag}>"

    def service(self, node: Node, loc: Location) -> None:
        self.allow.append(FilterRule(tuple(_service(node.attrs.get("name", ""), self.custom)),
                               Action(V.ACCEPT), loc, self.text_of(node)))

    def port(self, node: Node, loc: Location) -> None:
        proto = node.attrs.get("protocol", "tcp").lower()
        self.allow.append(FilterRule((Proto(frozenset({proto})), _ports(node.attrs.get("port", ""), loc)),
                               Action(V.ACCEPT), loc, self.text_of(node)))

    def protocol(self, node: Node, loc: Location) -> None:
        self.allow.append(FilterRule((Proto(frozenset({node.attrs.get("value", "").lower()})),),
                               Action(V.ACCEPT), loc, self.text_of(node)))

    def source(self, node: Node, loc: Location) -> None:
        self.bind_sources.append(_source(node))

    def interface(self, node: Node, loc: Location) -> None:
        self.ifaces.append(node.attrs.get("name", ""))

    def forward_port(self, node: Node, loc: Location) -> None:
        """A port forward to another host: firewalld also lets the forwarded connection
        through its forward path (see checks/firewall/forward.py). Without to-addr it is a
        local redirect, which the input path already sees as the target port."""
        if not node.attrs.get("to-addr"):
            return
        proto = node.attrs.get("protocol", "tcp").lower()
        to = node.attrs["to-addr"]
        to_port = node.attrs.get("to-port")
        target = f"[{to}]:{to_port}" if to_port and ":" in to else \
            (f"{to}:{to_port}" if to_port else to)
        self.forwards.append(FilterRule((Proto(frozenset({proto})), _ports(node.attrs.get("port", ""), loc)),
                                  Action(V.ACCEPT), loc, self.text_of(node), nat_to=target))

    def rich_rule(self, node: Node, loc: Location) -> None:
        rule, prio = _rich(node, loc, self.text_of(node), self.custom)
        if rule is None:
            return
        if prio < 0:
            self.early.append((prio, rule))
        elif prio > 0:
            self.late.append((prio, rule))
        elif rule.verdict.kind is V.DROP:
            self.deny.append(rule)
        else:
            self.allow.append(rule)

    def gate(self, zloc: Location) -> list[FilterRule]:
        """A zone bound to sources or interfaces sees only their packets."""
        if self.bind_sources:
            srcs = [s for s in self.bind_sources if isinstance(s, Source)]
            nets = tuple(n for s in srcs for n in s.nets)
            sets = tuple(x for s in srcs for x in s.sets)
            return [FilterRule((Source(nets, sets, negate=True),), Action(V.DROP), zloc,
                         "zone bound to <source> addresses: other sources use another zone")]
        if self.ifaces:
            # Packets arriving on other interfaces use another zone. Whether these interfaces
            # face the internet is the manifest's word (internal_interfaces / public_interfaces);
            # undeclared ones are taken to, and the finding says so.
            return [FilterRule((InIface(tuple(self.ifaces), negate=True),), Action(V.DROP), zloc,
                         "zone bound to interfaces " + ", ".join(self.ifaces) +
                         ": other interfaces use another zone")]
        return []

    def input_rules(self, gate: list[FilterRule]) -> list[FilterRule]:
        return gate + [r for _, r in sorted(self.early, key=lambda x: x[0])] + self.deny + \
            self.allow + [r for _, r in sorted(self.late, key=lambda x: x[0])]


# The zone's child elements that change its input path; others (short, description, ...) do not.
_ELEMENTS: dict[str, Callable[[_Zone, Node, Location], None]] = {
    "service": _Zone.service, "port": _Zone.port, "protocol": _Zone.protocol,
    "source": _Zone.source, "interface": _Zone.interface, "forward-port": _Zone.forward_port,
    "rule": _Zone.rich_rule,
}


def _policy_note(root: Node) -> str:
    if "target" not in root.attrs:
        return " (no target: firewalld rejects what the zone does not allow)"
    return {"DEFAULT": " (firewalld rejects what the zone does not allow)",
            "%%REJECT%%": " (%%REJECT%% is firewalld's own spelling of REJECT)"}.get(
        root.attrs["target"].upper(), "")


def _zone_ruleset(fam: str, zone: _Zone, root: Node, zloc: Location, policy: V) -> Ruleset:
    chain = Chain(f"zone/{fam}", policy=policy, policy_loc=zloc,
                  policy_text=zone.text_of(root) + _policy_note(root),
                  policy_implicit="target" not in root.attrs)
    gate = zone.gate(zloc)
    chain.rules = zone.input_rules(gate)
    rs = Ruleset(fam, stages=[chain.name], chains={chain.name: chain}, first_loc=zloc)
    fam_fwd = [r for r in zone.forwards if _target_family(r.nat_to or "") == fam]
    if fam_fwd:
        nat = Chain(f"zone/{fam}/forward-ports", gate + fam_fwd, policy=V.ACCEPT,
                    policy_loc=zloc)
        rs.chains[nat.name] = nat
        rs.dnat_stages = [nat.name]
    return rs


def parse(text: str, path: str, custom: services.Lookup | None = None) -> Parsed:
    """``custom`` finds services defined in the repository (see ``firewalld_services``)."""
    parsed = Parsed("firewalld-zone", path=path)
    root = _read_zone(text, path, parsed)
    if root is None:
        return parsed
    zloc = Location(path, root.line)
    policy = _zone_policy(root, zloc, parsed)
    zone = _Zone(text.splitlines(), custom)
    for node in root.children:
        loc = Location(path, node.line)
        handler = _ELEMENTS.get(node.tag)
        if handler is None:
            continue
        try:
            handler(zone, node, loc)
        except ValueError as exc:
            parsed.issues.append(ParseIssue(loc, str(exc), zone.text_of(node)))
            zone.allow.append(FilterRule((Const(Tri.MAYBE, str(exc)),), Action(V.UNKNOWN), loc,
                                   zone.text_of(node)))
    for fam in ("ipv4", "ipv6"):
        parsed.rulesets[fam] = _zone_ruleset(fam, zone, root, zloc, policy)
    return parsed


def _rich(node: Node, loc: Location, text: str,
          custom: services.Lookup | None) -> tuple[FilterRule | None, int]:
    conds: list[Cond] = []
    fam = node.attrs.get("family")
    if fam in ("ipv4", "ipv6"):
        conds.append(FamilyIs(fam))
    try:
        prio = int(node.attrs.get("priority", "0"))
    except ValueError:
        raise ValueError(f"bad rich rule priority {node.attrs.get('priority')!r}") from None
    verdict: Action | None = None
    for c in node.children:
        if c.tag == "source":
            conds.append(_source(c))
        elif c.tag == "service":
            conds += _service(c.attrs.get("name", ""), custom)
        elif c.tag == "port":
            conds += [Proto(frozenset({c.attrs.get("protocol", "tcp").lower()})),
                      _ports(c.attrs.get("port", ""), loc)]
        elif c.tag == "source-port":
            p = _ports(c.attrs.get("port", ""), loc)
            conds.append(Ports(p.ranges, source=True, unknown=p.unknown))
        elif c.tag == "protocol":
            conds.append(Proto(frozenset({c.attrs.get("value", "").lower()})))
        elif c.tag == "accept":
            verdict = Action(V.ACCEPT)
        elif c.tag in ("reject", "drop"):
            verdict = Action(V.DROP)
        elif c.tag in ("icmp-block", "icmp-type"):
            conds.append(Proto(frozenset({"icmp"})))
        elif c.tag in ("forward-port", "masquerade"):
            return None, prio
        # destination, log, audit, limit, mark: no effect on whether a new connection is allowed
    if verdict is None:
        return None, prio
    return FilterRule(tuple(conds), verdict, loc, text), prio


def _target_family(target: str) -> str:
    return "ipv6" if target.startswith("[") or target.count(":") > 1 else "ipv4"


def repo_services(read: Callable[[str], str | None], zone_path: str) -> services.Lookup:
    """Services defined beside the zone (``zones/../services/NAME.xml``, as under /etc/firewalld).

    A file there that is not a well-formed ``<service>`` is reported through the zone as an
    unknown service, never read as if it opened nothing.
    """
    base = posixpath.dirname(posixpath.dirname(zone_path))

    def lookup(name: str) -> services.ServiceDef | None:
        if not name or "/" in name or name.startswith("."):
            return None
        text = read(posixpath.join(base, "services", f"{name}.xml") if base else f"services/{name}.xml")
        if text is None:
            return None
        try:
            root = read_xml(text)
        except (DefusedXmlException, xml.sax.SAXException, ValueError, UnicodeError):
            raise services.UnknownService(f"{name} (its services/{name}.xml is not readable "
                                          "XML)") from None
        if root.tag != "service":
            raise services.UnknownService(f"{name} (services/{name}.xml is not a <service>)")
        return services.read_service_xml(root)

    return lookup
