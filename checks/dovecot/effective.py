"""Effective settings: what Dovecot applies to one kind of client.

The client is the one the gate cares about: an arbitrary address on the
internet, protocol imap, on 143 (STARTTLS) or 993 (implicit TLS). Built-in
defaults fill whatever the files do not set, so a fragment is judged with
defaults and an absent setting is never insecure.

Filter semantics follow ``doveconf`` 2.3 (checked against it in the tests):
a ``protocol`` filter that matches imap wins over the global value whatever the
order; a global assignment after a filter does not change the filter's value;
``remote``/``local``/``local_name`` filters do not apply to an arbitrary
internet client (they are judged on their own by DOV006).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from imap_gate.findings import Location

from .parser import Node, Section, Setting
from .template import is_templated
from .version import VersionInfo

CIPHERS_23 = ("ALL:!kRSA:!SRP:!kDHd:!DSS:!aNULL:!eNULL:!EXPORT:!DES:!3DES:!MD5:!PSK:!RC4:"
              "!ADH:!LOW@STRENGTH")

DEFAULTS_23: dict[str, str] = {
    "ssl": "yes",
    "disable_plaintext_auth": "yes",
    "ssl_min_protocol": "TLSv1.2",
    "ssl_cipher_list": CIPHERS_23,
    "auth_mechanisms": "plain",
    "login_trusted_networks": "",
    "haproxy_trusted_networks": "",
    "auth_verbose_passwords": "no",
    "auth_debug_passwords": "no",
    "auth_debug": "no",
    "mail_debug": "no",
    "verbose_ssl": "no",
    "login_greeting": "Dovecot ready.",
    "imap_id_send": "name *",
    "protocols": "imap pop3 lmtp",
    "listen": "*, ::",
}
DEFAULTS_24: dict[str, str] = {
    **{k: v for k, v in DEFAULTS_23.items() if k not in ("disable_plaintext_auth", "verbose_ssl")},
    "auth_allow_cleartext": "no",
    "imap_id_send": "name",
    "protocols": "",              # 2.4 enables no protocol by default (doveconf 2.4.1 -h)
    "listen": "* ::",
    "ssl_server_prefer_ciphers": "client",
}
# 2.2 shipped ``ssl_protocols = !SSLv2 !SSLv3`` (TLS 1.0 and 1.1 on); 2.3 before 2.3.15
# defaulted ``ssl_min_protocol`` to TLSv1; 2.3.15 and later to TLSv1.2.
DEFAULT_SSL_PROTOCOLS_22 = "!SSLv2 !SSLv3"

FILTER_TYPES = frozenset({"protocol", "remote", "local", "local_name"})
# 2.4 boolean-list settings that may also be written as a block of ``name = yes|no``.
BOOLLISTS = frozenset({"auth_mechanisms", "login_trusted_networks", "haproxy_trusted_networks",
                       "protocols"})
PREFIX_SECTIONS = frozenset({"ssl_server", "ssl_client", "imap_id_send"})
TLS_ORDER = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
LISTENER_DEFAULTS = {"imap": ("143", "no"), "imaps": ("993", "yes")}

_VAR = re.compile(r"\$(SET:|ENV:)?([A-Za-z_][A-Za-z0-9_/]*)")


@dataclass
class Assign:
    key: str
    value: str | None         # None: templated or depends on the environment
    loc: Location
    setting: Setting
    templated: bool = False
    from_group: bool = False  # set by a 2.4 ``@group`` include (a default for its scope)


@dataclass
class Filter:
    conds: tuple[tuple[str, str], ...]   # (type, name) from outermost to innermost
    loc: Location
    assigns: dict[str, Assign] = field(default_factory=dict)
    section: Section | None = None


@dataclass
class Listener:
    service: str
    name: str
    loc: Location
    assigns: dict[str, Assign] = field(default_factory=dict)


def protocol_matches(names: str, proto: str = "imap") -> bool:
    """``protocol imap pop3`` and ``protocol !pop3`` both match imap."""
    words = names.split()
    pos = [w for w in words if not w.startswith("!")]
    neg = [w[1:] for w in words if w.startswith("!")]
    if proto in neg:
        return False
    return proto in pos if pos else bool(neg)


@dataclass
class EffectiveConfig:
    """The settings of one top-level file (with its includes), read for an internet client."""

    path: str
    info: VersionInfo
    root: dict[str, Assign] = field(default_factory=dict)
    filters: list[Filter] = field(default_factory=list)
    listeners: dict[tuple[str, str], Listener] = field(default_factory=dict)
    all_settings: list[Assign] = field(default_factory=list)
    # Settings may also come from files that were not read (an absolute ``!include`` such as
    # Debian's /usr/share/dovecot/protocols.d/*.protocol): a default is then not proof.
    partial: bool = False

    # -- generic access -------------------------------------------------------------
    @property
    def defaults(self) -> dict[str, str]:
        return DEFAULTS_24 if self.info.version == "2.4" else DEFAULTS_23

    def lookup(self, key: str, protocol: str = "imap") -> Assign | None:
        """The assignment that applies to an internet client of ``protocol``, or None (default)."""
        found: Assign | None = None
        for f in self.filters:
            if key in f.assigns and all(t == "protocol" for t, _ in f.conds) and \
                    all(protocol_matches(n, protocol) for _, n in f.conds):
                found = f.assigns[key]
        return found or self.root.get(key)

    def value(self, key: str, protocol: str = "imap") -> tuple[str | None, Location | None]:
        a = self.lookup(key, protocol)
        if a is None:
            return self.defaults.get(key), None
        return a.value, a.loc

    def version(self) -> tuple[str, Location | None]:
        """("2.3" | "2.4", the setting that told: dovecot_config_version or a version-only name)."""
        ev = self.info.evidence
        return self.info.version, (ev.loc if ev is not None else None)

    # -- the contract other checks use ----------------------------------------------
    def ssl_mode(self) -> tuple[str | None, Location | None]:
        v, loc = self.value("ssl")
        if self.lookup("ssl") is None:
            dis = self.lookup("ssl_disable")
            if dis is not None:
                return ({"yes": "no", "no": "yes"}.get(dis.value or ""), dis.loc)
        return (v if v in ("no", "yes", "required") else None), loc

    def cleartext_setting(self) -> tuple[bool | None, Location | None]:
        """Whether the auth setting alone allows cleartext auth without TLS."""
        if self.info.version == "2.4":
            v, loc = self.value("auth_allow_cleartext")
            return {"yes": True, "no": False}.get(v or ""), loc
        v, loc = self.value("disable_plaintext_auth")
        return {"no": True, "yes": False}.get(v or ""), loc

    def cleartext_auth_allowed(self, port: int = 143) -> tuple[bool | None, Location | None]:
        """Can an internet client send a password in clear on ``port``?"""
        listener = self._listener_for_port(port)
        if listener is not None:
            ssl_v, ssl_loc = listener
            if ssl_v == "yes":
                return False, ssl_loc
        elif port == 993:
            return False, None
        mode, mode_loc = self.ssl_mode()
        trusted = self._trusted_everyone(mode)
        if trusted is not None:
            return True, trusted
        if mode == "required":
            return False, mode_loc
        return self._by_auth_setting(mode, mode_loc)

    def _trusted_everyone(self, mode: str | None) -> Location | None:
        """Where ``login_trusted_networks`` trusts everyone in a way that allows cleartext."""
        trusted = self.lookup("login_trusted_networks")
        if trusted is not None and trusted.value and covers_everyone(trusted.value) and \
                (self.info.version == "2.3" or mode != "required"):
            # 2.3 counts trusted clients as secured, even under ssl = required; 2.4 still
            # demands TLS from them when ssl = required (upgrade notes, "changed settings")
            return trusted.loc
        return None

    def _by_auth_setting(self, mode: str | None,
                         mode_loc: Location | None) -> tuple[bool | None, Location | None]:
        """Below ssl = required: the auth setting decides (unknown when ssl is unknown)."""
        setting, loc = self.cleartext_setting()
        if setting is None:
            return None, loc
        if setting:
            if mode is None:
                return None, mode_loc
            return True, loc
        return False, loc

    def min_tls(self) -> tuple[str | None, Location | None]:
        a = self.lookup("ssl_min_protocol")
        if a is not None:
            return a.value, a.loc
        p = self.lookup("ssl_protocols")
        if self.info.dialect in ("2.2", "1.x") or p is not None:
            text, loc = (p.value, p.loc) if p is not None else (DEFAULT_SSL_PROTOCOLS_22, None)
            if text is None:
                return None, loc
            return min_from_protocols(text), loc
        return self.defaults["ssl_min_protocol"], None

    def listener(self, name: str) -> tuple[str | None, str | None, Location | None, Location | None]:
        """(port, ssl, where port set, where the listener is) for imap-login's listener ``name``."""
        port_d, ssl_d = LISTENER_DEFAULTS.get(name, (None, "no"))
        lst = self.listeners.get(("imap-login", name))
        if lst is None:
            return port_d, ssl_d, None, None
        port = lst.assigns.get("port")
        ssl = lst.assigns.get("ssl")
        return (port.value if port else port_d, ssl.value if ssl else ssl_d,
                port.loc if port else None, lst.loc)

    def raw_listener_ports(self) -> dict[str, int | None]:
        out: dict[str, int | None] = {}
        for name in ("imap", "imaps"):
            port, _, _, _ = self.listener(name)
            out[name] = int(port) if port is not None and port.isdigit() else None
        return out

    def imap_enabled(self) -> tuple[bool | None, Location | None]:
        if self.lookup("protocols") is None and self.partial and self.info.version == "2.4":
            return None, None     # 2.4 enables nothing by default; an unread include may
        v, loc = self.value("protocols")
        if v is None:
            return None, loc
        words = set(v.replace(",", " ").split())
        return ("imap" in words or "imaps" in words or "$protocols" in words
                or "$SET:protocols" in words), loc

    def listener_ports(self) -> tuple[dict[str, int | None], Location | None]:
        """Ports as Dovecot would listen: 0 when the listener or imap itself is disabled."""
        ports = self.raw_listener_ports()
        enabled, loc = self.imap_enabled()
        if enabled is False:
            return {"imap": 0, "imaps": 0}, loc
        where = self.listener("imap")[2] or self.listener("imaps")[2]
        return ports, where

    def _listener_for_port(self, port: int) -> tuple[str | None, Location | None] | None:
        for (service, _name), lst in self.listeners.items():
            if service != "imap-login":
                continue
            p, s, _, _ = self.listener(_name)
            if p is not None and p.isdigit() and int(p) == port:
                a = lst.assigns.get("ssl")
                return s, (a.loc if a else lst.loc)
        return None


def covers_everyone(text: str) -> bool:
    """True when a network list contains 0.0.0.0/0 or ::/0 (any client address)."""
    for word in text.replace(",", " ").split():
        try:
            if ipaddress.ip_network(word, strict=False).prefixlen == 0:
                return True
        except ValueError:
            continue
    return False


def min_from_protocols(text: str) -> str | None:
    """2.2 ``ssl_protocols``: the lowest protocol left on (``!SSLv2 !SSLv3`` leaves TLSv1)."""
    words = text.replace(",", " ").split()
    off = {w[1:] for w in words if w.startswith("!")}
    on = [w for w in words if not w.startswith("!")]
    candidates = [p for p in TLS_ORDER if p not in off]
    if on:
        candidates = [p for p in candidates if p in on]
    return candidates[0] if candidates else None


def build(path: str, nodes: list[Node], info: VersionInfo) -> EffectiveConfig:
    eff = EffectiveConfig(path, info)
    groups: dict[tuple[str, str], list[Node]] = {}
    _walk(eff, nodes, conds=(), service=None, groups=groups, prefix="")
    return eff


def _expand_vars(eff: EffectiveConfig, scope: dict[str, Assign], s: Setting) -> str | None:
    value = s.value
    if "$" not in value:
        return value
    unknown = False

    def sub(m: re.Match[str]) -> str:
        nonlocal unknown
        kind, name = m.group(1), m.group(2)
        if kind == "ENV:":
            unknown = True
            return m.group(0)
        if kind is None and name != s.key:
            return m.group(0)      # 2.3 expands only a setting's own name ($mail_plugins)
        a = scope.get(name) or eff.root.get(name)
        if a is None:
            d = eff.defaults.get(name)
            if d is None:
                unknown = True
            return d or ""
        if a.value is None:
            unknown = True
            return ""
        return a.value

    out = _VAR.sub(sub, value)
    return None if unknown else out


def _assign(eff: EffectiveConfig, scope: dict[str, Assign], s: Setting, key: str) -> Assign:
    templated = s.conditional or is_templated(s.value) or is_templated(s.raw)
    if templated:
        value: str | None = None
    elif s.kind == "var":
        value = _expand_vars(eff, scope, s)
    elif s.kind == "file":
        # ``key = <file``: the file's contents when committed under the root, else the path
        value = " ".join(s.content.split()) if s.content is not None else s.value
    else:
        value = s.value
    a = Assign(key, value, s.loc, s, templated)
    scope[key] = a
    eff.all_settings.append(a)
    return a


Conds = tuple[tuple[str, str], ...]
Groups = dict[tuple[str, str], list[Node]]


def _walk(eff: EffectiveConfig, nodes: list[Node], conds: Conds,
          service: str | None, groups: Groups, prefix: str,
          scope: dict[str, Assign] | None = None) -> None:
    if scope is None:
        scope = eff.root
    for n in nodes:
        if isinstance(n, Setting):
            _walk_setting(eff, n, conds, service, groups, prefix, scope)
        elif isinstance(n, Section):
            _walk_section(eff, n, conds, service, groups, prefix, scope)


def _walk_setting(eff: EffectiveConfig, n: Setting, conds: Conds, service: str | None,
                  groups: Groups, prefix: str, scope: dict[str, Assign]) -> None:
    """A setting, or a 2.4 ``@group`` reference that brings a group's settings in."""
    if not (n.key.startswith("@") and not prefix):
        _assign(eff, scope, n, prefix + n.key)
        return
    body = groups.get((n.key, n.value))
    if body is None:
        return
    # 2.4.1: a group's settings are defaults for the scope that includes it;
    # a setting written in that scope wins whatever the order (doveconf 2.4.1)
    included: dict[str, Assign] = {}
    _walk(eff, body, conds, service, groups, prefix, included)
    for k, a in included.items():
        if k not in scope or scope[k].from_group:
            a.from_group = True
            scope[k] = a


def _walk_section(eff: EffectiveConfig, n: Section, conds: Conds, service: str | None,
                  groups: Groups, prefix: str, scope: dict[str, Assign]) -> None:
    if n.type == "group" and n.name.startswith("@"):
        label, _, name = n.name.partition(" ")
        groups[(label, name.strip())] = n.children
    elif n.type in FILTER_TYPES and not prefix:
        _walk_filter(eff, n, conds, service, groups, prefix)
    elif n.type == "service":
        _walk_service(eff, n)
    elif n.type in BOOLLISTS and not n.name and not prefix:
        _boollist(eff, scope, n)
    elif n.type in PREFIX_SECTIONS and not n.name:
        _walk(eff, n.children, conds, service, groups, prefix + n.type + "_", scope)
    # other named blocks (passdb, namespace, plugin, ...) do not hold the
    # settings judged here


def _walk_filter(eff: EffectiveConfig, n: Section, conds: Conds, service: str | None,
                 groups: Groups, prefix: str) -> None:
    """``remote 10.0.0.0/8 { ... }``, ``protocol imap { ... }``: a scope of its own."""
    f = Filter((*conds, (n.type, n.name)), n.loc, section=n)
    eff.filters.append(f)
    _walk(eff, n.children, f.conds, service, groups, prefix, f.assigns)


def _boollist(eff: EffectiveConfig, scope: dict[str, Assign], sec: Section) -> None:
    """2.4 boolean lists: ``auth_mechanisms { cram-md5 = yes }`` adds to the current list."""
    words = _boollist_start(eff, scope, sec.type)
    for c in sec.children:
        if not isinstance(c, Setting):
            continue
        templated = is_templated(c.value) or is_templated(c.key)
        if templated:
            words = None        # unknown from here on
        elif words is not None:
            _toggle(words, c)
        a = Assign(sec.type, None if words is None else " ".join(words), c.loc, c, templated)
        scope[sec.type] = a
        eff.all_settings.append(a)


def _boollist_start(eff: EffectiveConfig, scope: dict[str, Assign], key: str) -> list[str] | None:
    """The list a block adds to: the scope's, the global one, else the version's default."""
    current = scope.get(key) or eff.root.get(key)
    if current is None:
        return eff.defaults.get(key, "").replace(",", " ").split()
    return None if current.value is None else current.value.replace(",", " ").split()


def _toggle(words: list[str], c: Setting) -> None:
    if c.value == "yes" and c.key not in words:
        words.append(c.key)
    elif c.value == "no" and c.key in words:
        words.remove(c.key)


def _walk_service(eff: EffectiveConfig, sec: Section) -> None:
    for n in sec.children:
        if isinstance(n, Section) and n.type == "inet_listener":
            key = (sec.name, n.name)
            lst = eff.listeners.get(key)
            if lst is None:
                lst = eff.listeners[key] = Listener(sec.name, n.name, n.loc)
            for c in n.children:
                if isinstance(c, Setting):
                    _assign(eff, lst.assigns, c, c.key)
