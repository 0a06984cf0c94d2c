"""The rules: effective settings in, findings out.

Pure functions of the parsed tree and the effective settings; the only outside
input is ``read_pointed`` (to look inside a committed key file), passed in by
``check.py`` so that this module never touches the filesystem itself.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from imap_gate.findings import Finding, Location
from imap_gate.rules import Rule
from imap_gate.severity import Severity

from . import templated
from .effective import (
    TLS_ORDER,
    Assign,
    EffectiveConfig,
    Filter,
    Listener,
    protocol_matches,
)
from .parser import strip_comment
from .remedy import fix
from .rules import (
    DOV001,
    DOV002,
    DOV003,
    DOV004,
    DOV005,
    DOV006,
    DOV007,
    DOV008,
    DOV009,
    DOV010,
    DOV011,
    DOV012,
    DOV013,
    DOV014,
    DOV015,
)

ReadPointed = Callable[[str, str], tuple[str | None, bytes | None]]

SECURITY_KEYS = frozenset({
    "ssl", "disable_plaintext_auth", "auth_allow_cleartext", "ssl_min_protocol", "ssl_protocols",
    "ssl_cipher_list", "login_trusted_networks", "haproxy_trusted_networks", "auth_mechanisms",
    "auth_verbose_passwords", "auth_debug_passwords", "protocols", "listen", "port",
    "ssl_disable",
})
# Not here: key and certificate paths (ssl_key, ssl_server_key_file ...). A templated path
# decides no TLS or cleartext verdict, and DOV011 reads only files committed under the root,
# which a placeholder path does not name.
KEY_SETTINGS = frozenset({"ssl_key", "ssl_alt_key", "ssl_client_key", "ssl_server_key_file",
                          "ssl_server_alt_key_file", "ssl_client_key_file", "ssl_key_file"})
_PRIVATE = re.compile(rb"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----")
_VERSIONISH = re.compile(r"\b\d+\.\d+(\.\d+)?\b|\b(ubuntu|debian|centos|red ?hat|rhel|fedora|"
                         r"freebsd|openbsd|linux|windows|alpine|suse)\b", re.I)


def _key(path: str, setting: str, flt: Filter | None = None) -> str:
    base = f"file={path};setting={setting}"
    if flt is not None:
        base += ";filter=" + " / ".join(f"{t} {n}".strip() for t, n in flt.conds)
    return base


def _f(rule: Rule, msg: str, a: Assign, flt: Filter | None = None,
       severity: Severity | None = None, related: tuple[Location, ...] = ()) -> Finding:
    """A finding at the assignment that causes it, keyed by file, setting and filter."""
    return rule.finding(msg, a.loc, severity=severity, evidence=a.setting.text,
                        key=_key(a.loc.path, a.key, flt), related=related)


def _default_finding(rule: Rule, msg: str, eff: EffectiveConfig, setting: str,
                     severity: Severity | None = None) -> Finding:
    """A finding about a default nobody wrote: located at the file's first line."""
    return rule.finding(msg, Location(eff.path, 1, 1), severity=severity,
                        key=_key(eff.path, setting))


def _owner(eff: EffectiveConfig, a: Assign) -> Filter | None:
    """The filter block an assignment sits in (None: global), for the finding's key."""
    return next((f for f in eff.filters if any(x is a for x in f.assigns.values())), None)


def scopes(eff: EffectiveConfig, key: str) -> Iterator[tuple[Assign, Filter | None]]:
    """The final assignment of ``key`` in every scope (global and each filter)."""
    a = eff.root.get(key)
    if a is not None:
        yield a, None
    for f in eff.filters:
        if key in f.assigns:
            yield f.assigns[key], f


# -- networks ------------------------------------------------------------------------

def _nets(text: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network | None]:
    out: list[ipaddress.IPv4Network | ipaddress.IPv6Network | None] = []
    for word in text.replace(",", " ").split():
        try:
            out.append(ipaddress.ip_network(word, strict=False))
        except ValueError:
            out.append(None)     # a host name: not judged
    return out


_NON_PUBLIC = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    "::1/128", "::/128", "fc00::/7", "fe80::/10", "ff00::/8", "2001:db8::/32",
))


def _is_public(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    """True unless the whole range lies inside private, loopback or reserved space."""
    return not any(net.version == blk.version and net.subnet_of(blk)  # type: ignore[arg-type]
                   for blk in _NON_PUBLIC)


def broad_public(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    """The whole internet, or a public range of a /16 (IPv4) or /32 (IPv6) or larger."""
    if net.prefixlen == 0:
        return True
    limit = 16 if net.version == 4 else 32
    return net.prefixlen <= limit and _is_public(net)


# -- the rules ------------------------------------------------------------------------

@dataclass(frozen=True)
class Judged:
    """What every judge reads: the effective settings, and what several of them need."""

    eff: EffectiveConfig
    read_pointed: ReadPointed
    ssl_mode: str | None
    ssl_loc: Location | None


Judge = Callable[[Judged], list[Finding]]

# One judge per rule (two where one pass over the same settings decides both), in the order
# they run. tests/dovecot/test_dovecot_judges.py checks that these and RAISED_ELSEWHERE cover
# the catalogue's Dovecot rules and that each judge raises only the rules it names.
JUDGES: tuple[tuple[tuple[Rule, ...], Judge], ...] = (
    ((DOV001,), lambda j: _dov001(j.eff, j.ssl_mode)),
    ((DOV002,), lambda j: _dov002(j.eff, j.ssl_loc)),
    ((DOV003,), lambda j: _dov003(j.eff) if j.ssl_mode != "no" else []),
    ((DOV004,), lambda j: _dov004(j.eff) if j.ssl_mode != "no" else []),
    ((DOV005,), lambda j: _dov005(j.eff)),
    ((DOV006,), lambda j: _dov006(j.eff)),
    ((DOV007, DOV014), lambda j: _dov007_014(j.eff)),
    ((DOV008, DOV009), lambda j: _dov008_009(j.eff)),
    ((DOV010,), lambda j: _dov010(j.eff)),
    ((DOV011,), lambda j: _dov011(j.eff, j.read_pointed)),
    ((DOV012,), lambda j: _dov012(j.eff)),
    ((DOV015,), lambda j: _dov015(j.eff)),
)
# Rules raised while the tree is read, not by a judge of the effective settings.
RAISED_ELSEWHERE: dict[Rule, str] = {
    DOV013: "structure.py, loader.py, names.py, v24.py: a file or line doveconf would refuse",
    DOV015: "templated.py, structure.py: a security setting a template or include decides",
}


def judge(eff: EffectiveConfig, read_pointed: ReadPointed) -> list[Finding]:
    ssl_mode, ssl_loc = eff.ssl_mode()
    judged = Judged(eff, read_pointed, ssl_mode, ssl_loc)
    return [f for _, fn in JUDGES for f in fn(judged)]


def _quoted(a: Assign) -> str:
    """The setting as written, without its trailing comment: "(ssl = no)", not "(ssl = no # x)"."""
    return strip_comment(a.setting.text).strip()


def _dov001(eff: EffectiveConfig, mode: str | None) -> list[Finding]:
    a = eff.lookup("ssl")
    if mode != "no":
        return []
    if a is None:
        a = eff.lookup("ssl_disable")
        if a is None:
            return []
    return [_f(DOV001, f"TLS is disabled for IMAP ({_quoted(a)}): passwords and "
               "mail cross the network in clear text." + fix(eff, DOV001), a, _owner(eff, a))]


def _dov002(eff: EffectiveConfig, ssl_loc: Location | None) -> list[Finding]:
    allowed, _loc = eff.cleartext_auth_allowed(143)
    if not allowed:
        return []
    name = "auth_allow_cleartext" if eff.info.version == "2.4" else "disable_plaintext_auth"
    a = eff.lookup(name)
    if a is None:
        return []
    ports, _ = eff.listener_ports()
    related = (Location(ssl_loc.path, ssl_loc.line, ssl_loc.column, "ssl is set here"),) \
        if ssl_loc else ()
    sev = None
    extra = ""
    if ports.get("imap") == 0:
        sev = Severity.LOW
        extra = " No cleartext IMAP listener is active now, so this becomes exploitable only " \
                "if port 143 is enabled."
    flt = _owner(eff, a)
    return [_f(DOV002, f"Cleartext authentication is allowed without TLS ({_quoted(a)}"
               f") and ssl is not 'required': an IMAP client on the internet can send its "
               f"password in clear text on port 143.{extra}" + fix(eff, DOV002), a, flt, sev,
               related)]


def _tls_rank(v: str | None) -> int | None:
    if v is None:
        return None
    table = {p.lower(): i for i, p in enumerate(TLS_ORDER)}
    table.update({"any": 0, "ssl3": 0, "tlsv1.0": 1})
    return table.get(v.strip().lower())


def _dov003(eff: EffectiveConfig) -> list[Finding]:
    v, _loc = eff.min_tls()
    r = _tls_rank(v)
    if r is None or r >= TLS_ORDER.index("TLSv1.2"):
        return []
    a = eff.lookup("ssl_min_protocol") or eff.lookup("ssl_protocols")
    msg = f"TLS versions below 1.2 are allowed (minimum {v}); RFC 8996 deprecates TLS 1.0 and 1.1."
    if a is None:
        default = ("ssl_protocols = !SSLv2 !SSLv3" if eff.info.dialect == "2.2" else
                   "SSLv3 and TLS 1.0 enabled")
        return [_default_finding(
            DOV003, msg[:-1] + f"; this comes from the Dovecot {eff.info.dialect} default "
            f"({default}), which the file does not override.", eff, "ssl_protocols")]
    return [_f(DOV003, msg, a, _owner(eff, a))]


_CIPHER_CLASSES: tuple[tuple[str, Severity, re.Pattern[str]], ...] = (
    ("NULL", Severity.CRITICAL, re.compile(r"^(e?NULL|COMPLEMENTOFALL|NULL-.*|.*-NULL-.*)$", re.I)),
    ("aNULL", Severity.CRITICAL, re.compile(r"^(aNULL|ADH|AECDH|ADH-.*|AECDH-.*|ALL)$", re.I)),
    ("EXPORT", Severity.CRITICAL, re.compile(r"^(EXPORT\d*|EXP|EXP-.*)$", re.I)),
    ("RC4", Severity.HIGH, re.compile(r"^(RC4|.*RC4.*)$", re.I)),
    ("DES", Severity.HIGH, re.compile(r"^(DES|DES-CBC-.*|.*-DES-CBC-.*)$", re.I)),
    ("MD5", Severity.HIGH, re.compile(r"^(MD5|.*-MD5)$", re.I)),
    ("LOW", Severity.HIGH, re.compile(r"^LOW$", re.I)),
    ("@SECLEVEL=0", Severity.HIGH, re.compile(r"^@SECLEVEL=0$", re.I)),
    ("3DES", Severity.MEDIUM, re.compile(r"^(3DES|MEDIUM|.*DES-CBC3.*)$", re.I)),
)
_REMOVES = {"NULL": ("ENULL", "NULL"), "aNULL": ("ANULL", "ADH", "AECDH"),
            "EXPORT": ("EXPORT", "EXP"), "RC4": ("RC4",), "DES": ("DES",), "MD5": ("MD5",),
            "LOW": ("LOW",), "@SECLEVEL=0": (), "3DES": ("3DES", "MEDIUM")}


def weak_cipher_classes(text: str) -> list[tuple[str, Severity]]:
    """Which weak classes the list leaves on: read left to right, a later '!' is final."""
    on: dict[str, Severity] = {}
    banned: set[str] = set()
    for part in _cipher_parts(text):
        if part.upper().startswith("@SECLEVEL="):
            if part.upper() == "@SECLEVEL=0":
                on["@SECLEVEL=0"] = Severity.HIGH
            else:
                on.pop("@SECLEVEL=0", None)
        elif part[:1] in ("!", "-"):
            _remove_classes(part, on, banned)
        else:
            word = part.lstrip("!-+")
            on.update((name, sev) for name, sev, pat in _CIPHER_CLASSES
                      if pat.match(word) and name not in banned)
    return sorted(on.items(), key=lambda kv: -int(kv[1]))


def _cipher_parts(text: str) -> list[str]:
    """OpenSSL's cipher string words, an ``@STRENGTH``/``@SECLEVEL`` suffix as its own word."""
    parts: list[str] = []
    for token in re.split(r"[:, ]+", text.strip()):
        head, sep, tail = token.partition("@")
        parts.append(head)
        if sep:
            parts.append("@" + tail)
    return [p for p in parts if p]


def _remove_classes(part: str, on: dict[str, Severity], banned: set[str]) -> None:
    """``-X`` removes the classes X names; ``!X`` also bans them for the rest of the list."""
    word = part.lstrip("!-+").upper()
    for name, _sev, _pat in _CIPHER_CLASSES:
        if word in _REMOVES[name]:
            on.pop(name, None)
            if part.startswith("!"):
                banned.add(name)


def _dov004(eff: EffectiveConfig) -> list[Finding]:
    """The cipher list an internet IMAP client meets (global, or a protocol imap filter)."""
    a = eff.lookup("ssl_cipher_list")
    if a is None or a.value is None:
        return []
    weak = weak_cipher_classes(a.value)
    if not weak:
        return []
    flt = _owner(eff, a)
    names = ", ".join(n for n, _ in weak)
    return [_f(DOV004, f"ssl_cipher_list enables weak cipher suites ({names}).", a, flt,
               weak[0][1])]


def _dov005(eff: EffectiveConfig) -> list[Finding]:
    """Trusted networks that cover the internet or a large public block."""
    out = []
    # Dovecot 2.4 still demands TLS from trusted clients under ssl = required (a trusted
    # client sees LOGINDISABLED); 2.3 lets them log in in clear even then.
    required_24 = eff.info.version == "2.4" and eff.ssl_mode()[0] == "required"
    for key in ("login_trusted_networks", "haproxy_trusted_networks"):
        for a, flt in scopes(eff, key):
            wide = _wide_nets(a.value)
            if wide:
                out.append(_trusted(key, ", ".join(str(n) for n in wide), a, flt, required_24))
    return out


def _wide_nets(value: str | None) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The broad public networks in a list of networks (none when the value is unknown)."""
    if value is None:
        return []
    return [n for n in _nets(value) if n is not None and broad_public(n)]


def _trusted(key: str, shown: str, a: Assign, flt: Filter | None, required_24: bool) -> Finding:
    if required_24:
        return _f(DOV005, f"{key} trusts {shown}: clients from there may claim "
                  "any client address (and are exempt from auth_allow_cleartext "
                  "= no); ssl = required still makes Dovecot 2.4 demand TLS from "
                  "them, so cleartext login stays closed, but the range covers the "
                  "internet or a large public block.", a, flt, Severity.MEDIUM)
    return _f(DOV005, f"{key} trusts {shown}: clients from there are treated "
              "as secure and may log in with cleartext passwords; "
              "that range covers the internet or a large public block.", a, flt)


_RELAX: tuple[tuple[str, str, str, Severity], ...] = (
    ("ssl", "no", "turns TLS off", Severity.HIGH),
    ("disable_plaintext_auth", "no", "allows cleartext authentication", Severity.HIGH),
    ("auth_allow_cleartext", "yes", "allows cleartext authentication", Severity.HIGH),
)


def _filter_broad(f: Filter) -> tuple[bool, str]:
    """Whether a remote/local filter covers internet clients, and which condition does."""
    for t, n in f.conds:
        if t in _BROAD and any(_BROAD[t](x) for x in _nets(n) if x is not None):
            return True, f"{t} {n}"
    return False, ""


# remote: a broad public client range; local: any public server address
_BROAD: dict[str, Callable[[ipaddress.IPv4Network | ipaddress.IPv6Network], bool]] = {
    "remote": broad_public, "local": _is_public}


def _dov006(eff: EffectiveConfig) -> list[Finding]:
    """Filters for internet clients that undo the global protection."""
    out = []
    global_ssl, _ = eff.ssl_mode()
    for f, what in _internet_filters(eff):
        out += _relaxed(eff, f, what, global_ssl)
        out += _lowered_tls(f, what)
    return out


def _internet_filters(eff: EffectiveConfig) -> Iterator[tuple[Filter, str]]:
    """IMAP-relevant remote/local filters that cover a broad public range, with that range."""
    for f in eff.filters:
        if not any(t in ("remote", "local") for t, _ in f.conds):
            continue
        if any(t == "protocol" and not protocol_matches(n) for t, n in f.conds):
            continue
        broad, what = _filter_broad(f)
        if broad:
            yield f, what


def _relaxed(eff: EffectiveConfig, f: Filter, what: str, global_ssl: str | None) -> list[Finding]:
    out = []
    for key, bad, verb, sev in _RELAX:
        a = f.assigns.get(key)
        if a is None or a.value != bad:
            continue
        if key != "ssl":
            ssl_here = f.assigns.get("ssl")
            effective_ssl = ssl_here.value if ssl_here else global_ssl
            if effective_ssl == "required":
                continue
        out.append(_f(DOV006, f"The filter '{what}' {verb} ({_quoted(a)}) for "
                      "clients on the internet, undoing the global protection for them."
                      + fix(eff, DOV006), a, f, sev))
    return out


def _lowered_tls(f: Filter, what: str) -> list[Finding]:
    a = f.assigns.get("ssl_min_protocol")
    r = _tls_rank(a.value) if a else None
    if a is None or r is None or r >= TLS_ORDER.index("TLSv1.2"):
        return []
    return [_f(DOV006, f"The filter '{what}' lowers the TLS minimum to {a.value} for "
               "clients on the internet.", a, f, Severity.MEDIUM)]


def _dov007_014(eff: EffectiveConfig) -> list[Finding]:
    out = []
    checks = (
        ("auth_verbose_passwords", ("yes", "plain"), DOV007,
         "auth_verbose_passwords = {v} writes the password of every failed login to the log."),
        ("auth_debug_passwords", ("yes",), DOV007,
         "auth_debug_passwords = yes writes passwords to the debug log."),
        ("mail_debug", ("yes",), DOV014, "mail_debug = yes enables debug logging of mail "
         "lookups."),
        ("auth_debug", ("yes",), DOV014, "auth_debug = yes enables debug logging of "
         "authentication (user names, passdb lookups)."),
        ("verbose_ssl", ("yes",), DOV014, "verbose_ssl = yes logs TLS protocol details."),
    )
    for key, bad, rule, msg in checks:
        for a, flt in scopes(eff, key):
            if a.value in bad:
                out.append(_f(rule, msg.format(v=a.value) + fix(eff, rule), a, flt))
    for a, flt in scopes(eff, "log_debug"):
        if a.value:
            out.append(_f(DOV014, f"log_debug = {a.value} enables debug logging."
                          + fix(eff, DOV014), a, flt))
    return out


def _addresses_public(text: str) -> bool:
    words = [w for w in text.replace(",", " ").split() if w]
    if not words:
        return False
    for w in words:
        if w in ("*", "::", "[::]"):
            return True
        try:
            ip = ipaddress.ip_address(w.strip("[]"))
        except ValueError:
            return True       # a host name: assume it may be public
        if ip.is_unspecified or _is_public(ipaddress.ip_network(ip)):
            return True
    return False


def _dov008_009(eff: EffectiveConfig) -> list[Finding]:
    enabled, proto_loc = eff.imap_enabled()
    if enabled is False:
        return []
    return _dov008(eff, enabled, proto_loc) + _dov009(eff)


def _dov008(eff: EffectiveConfig, enabled: bool | None,
            proto_loc: Location | None) -> list[Finding]:
    """The cleartext listener (143) answering on a public address."""
    port, ssl, _port_loc, lst_loc = eff.listener("imap")
    lst = eff.listeners.get(("imap-login", "imap"))
    explicit = lst is not None or (enabled and proto_loc is not None)
    if not explicit or not _cleartext_port(port, ssl):
        return []
    addr = _listen_address(eff, lst)
    if addr is None or not _addresses_public(addr):
        return []
    if lst is not None and "port" in lst.assigns:
        return [_f(DOV008, f"The cleartext IMAP listener is active on port {port} "
                   f"(listening on {addr}); prefer implicit TLS on 993 only.", lst.assigns["port"])]
    return [_default_143(eff, addr, lst, lst_loc, proto_loc)]


def _default_143(eff: EffectiveConfig, addr: str, lst: Listener | None, lst_loc: Location | None,
                 proto_loc: Location | None) -> Finding:
    """143 open by default: at the listener block, else at ``protocols``."""
    where = lst_loc or proto_loc
    assert where is not None
    why = ("the imap listener keeps its default port 143" if lst is not None else
           "'protocols' enables imap and the default imap listener on 143 is not "
           "disabled")
    return DOV008.finding(
        f"The cleartext IMAP listener is active on port 143 (listening on {addr}): {why}; "
        "prefer implicit TLS on 993 only.", where,
        key=_key(where.path, "service/imap-login/inet_listener/imap"),
        evidence=(lst_loc and _line_text(eff, lst_loc)) or "")


def _cleartext_port(port: str | None, ssl: str | None) -> bool:
    """A real port number (not 0, not unset) that does not speak implicit TLS."""
    return port is not None and port != "0" and ssl != "yes" and port.isdigit()


def _listen_address(eff: EffectiveConfig, lst: Listener | None) -> str | None:
    """The listener's own ``address``, else the global ``listen``."""
    addr_a = lst.assigns.get("address") if lst else None
    if addr_a and addr_a.value:
        return addr_a.value
    return eff.value("listen")[0]


def _dov009(eff: EffectiveConfig) -> list[Finding]:
    """The implicit-TLS listener (993) switched off or speaking cleartext."""
    s_port, s_ssl, _s_loc, _s_lst = eff.listener("imaps")
    slst = eff.listeners.get(("imap-login", "imaps"))
    if slst is None:
        return []
    if "port" in slst.assigns and s_port == "0":
        return [_f(DOV009, "The imaps listener (implicit TLS, 993) is disabled "
                   "(port = 0); clients must use 143 and STARTTLS, which can be stripped.",
                   slst.assigns["port"])]
    if "ssl" in slst.assigns and s_ssl == "no" and s_port != "0":
        return [_f(DOV009, f"The imaps listener on port {s_port} runs without TLS "
                   "(ssl = no): port 993 speaks cleartext.", slst.assigns["ssl"])]
    return []


def _line_text(eff: EffectiveConfig, loc: Location) -> str:
    for lst in eff.listeners.values():
        if lst.loc == loc:
            return f"inet_listener {lst.name} {{"
    return ""


_MECH_MEDIUM = {"anonymous", "ntlm", "rpa", "skey", "otp", "gss-spnego"}
_MECH_LOW = {"cram-md5", "digest-md5", "apop"}


def _dov010(eff: EffectiveConfig) -> list[Finding]:
    out = []
    for a, flt in scopes(eff, "auth_mechanisms"):
        if a.value is None:
            continue
        mechs = {m.lower() for m in a.value.replace(",", " ").split()}
        med = sorted(mechs & _MECH_MEDIUM - {"gss-spnego"})
        low = sorted(mechs & _MECH_LOW)
        if med or low:
            sev = Severity.MEDIUM if med else Severity.LOW
            out.append(_f(DOV010, f"auth_mechanisms enables weak or anonymous mechanisms "
                          f"({', '.join(med + low)}).", a, flt, sev))
    return out


def _dov011(eff: EffectiveConfig, read_pointed: ReadPointed) -> list[Finding]:
    """A private key inline in the configuration, or committed where a setting points."""
    out = []
    for a in eff.all_settings:
        if _PRIVATE.search(a.setting.value.encode("utf-8", "replace")):
            out.append(_f(DOV011, f"{a.key} holds a private key inline in the configuration."
                          + fix(eff, DOV011), a))
        elif _points_at_key(a):
            found = _committed_key(eff, a, read_pointed)
            if found is not None:
                out.append(found)
    return out


def _points_at_key(a: Assign) -> bool:
    """A key setting whose value is a path (``<file`` or a ``*_file`` setting)."""
    is_key = a.key in KEY_SETTINGS or a.key.endswith("_key_file")
    if not is_key or a.value is None or not a.setting.value:
        return False
    return a.setting.kind == "file" or a.key.endswith("_file")


def _committed_key(eff: EffectiveConfig, a: Assign, read_pointed: ReadPointed) -> Finding | None:
    rel, data = read_pointed(a.loc.path, a.setting.value)
    if rel is None or data is None:
        return None
    m = _PRIVATE.search(data)
    if not m:
        return None
    line = data[: m.start()].count(b"\n") + 1
    encrypted = b"ENCRYPTED" in data[: m.end() + 200]
    sev = Severity.HIGH if encrypted else None
    note = " (encrypted; its password must not be committed either)" if encrypted else ""
    return _f(DOV011, f"{a.key} points at {rel}, a private key committed to the "
              f"repository{note}." + fix(eff, DOV011), a, None, sev,
              (Location(rel, line, 1, "the committed private key"),))


_ID_LEAKS = ("version", "os", "os-version")


def _dov012(eff: EffectiveConfig) -> list[Finding]:
    """Version or OS details told to every client before login."""
    return _greeting_leaks(eff) + _id_send_leaks(eff) + _id_send_24_leaks(eff)


def _greeting_leaks(eff: EffectiveConfig) -> list[Finding]:
    return [_f(DOV012, f"login_greeting '{a.value}' discloses version or OS details "
               "to every client before login.", a, flt)
            for a, flt in scopes(eff, "login_greeting")
            if a.value and _VERSIONISH.search(a.value)]


def _id_send_leaks(eff: EffectiveConfig) -> list[Finding]:
    """2.3's ``imap_id_send = name "x" version "y"``."""
    out = []
    for a, flt in scopes(eff, "imap_id_send"):
        if a.value is None:
            continue
        leaks = [w for w in a.value.replace('"', " ").split() if w.lower() in _ID_LEAKS]
        if leaks:
            out.append(_f(DOV012, f"imap_id_send sends {', '.join(leaks)} to any client that "
                          "asks with the ID command.", a, flt))
    return out


def _id_send_24_leaks(eff: EffectiveConfig) -> list[Finding]:
    """2.4's ``imap_id_send { version = ... }`` (one setting per field)."""
    return [_f(DOV012, f"imap_id_send sends {a.key[len('imap_id_send_'):]} to any "
               "client that asks with the ID command.", a)
            for a in eff.all_settings
            if a.key.startswith("imap_id_send_") and a.key[len("imap_id_send_"):] in (
                "version", "os", "os-version", "os_version")]


def _dov015(eff: EffectiveConfig) -> list[Finding]:
    return templated.settings(eff, SECURITY_KEYS, _f)
