"""Copy a Dovecot configuration tree into a temporary directory and make it runnable there.

Only what cannot work in a sandbox is rewritten, and every rewrite is recorded with the
file and line it touched. Lines are replaced one for one (a removed line becomes a
comment), so Dovecot's "line N" in the copy is line N of the committed file; what the
sandbox adds (loopback listeners, directories, a passdb that accepts nobody) is appended to
the end of the entry file, after everything the committed files set.

Safety: only files the parser read under the root are copied; an ``!include`` that leaves
the tree, every ``*_command`` / script setting, custom service executables and event
exporters are removed; listeners go to loopback; nothing names a host to resolve.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..dovecot import loader
from ..dovecot.effective import EffectiveConfig
from ..dovecot.parser import Node, Section, Setting, strip_comment
from . import throwaway

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
# A TEST-NET-1 address (RFC 5737): never the probe's, never anyone's.
NOBODY_NET = "192.0.2.1/32"
MARK = "#[imap-gate rehearsal removed] "

# Dovecot's own services: for them a removed ``executable`` falls back to the built-in one.
BUILTIN_SERVICES = frozenset({
    "aggregator", "anvil", "auth", "auth-worker", "config", "dict", "dict-async", "dict-expire",
    "director", "dns-client", "doveadm", "health-check", "imap", "imap-hibernate", "imap-login",
    "imap-urlauth", "imap-urlauth-login", "imap-urlauth-worker", "indexer", "indexer-worker",
    "ipc", "lmtp", "log", "managesieve", "managesieve-login", "old-stats", "pop3", "pop3-login",
    "quota-status", "replicator", "stats", "submission", "submission-login",
})
# Settings the sandbox owns: removed wherever they are, set once at the end.
OWNED = frozenset({
    "base_dir", "state_dir", "log_path", "info_log_path", "debug_log_path", "instance_name",
    "listen", "protocols", "mail_location", "mail_driver", "mail_path", "mail_home",
    "mail_index_path", "mail_control_path", "default_internal_user", "default_internal_group",
    "default_login_user", "auth_policy_server_url", "stats_writer_socket_path",
    "import_environment", "mail_plugin_dir", "login_plugin_dir",
})
DROPPED_SECTIONS = frozenset({"passdb", "userdb", "event_exporter", "metric"})
TRUST_KEYS = ("login_trusted_networks", "haproxy_trusted_networks")
SERVICE_DROPPED = frozenset({"user", "group", "extra_groups", "chroot", "executable",
                             "privileged_group"})
# (``ssl_cert_file`` and friends: the 1.x names that 2.3 still converts)
CERT_KEYS = frozenset({"ssl_cert", "ssl_alt_cert", "ssl_server_cert_file",
                       "ssl_server_alt_cert_file", "ssl_cert_file"})
KEY_KEYS = frozenset({"ssl_key", "ssl_alt_key", "ssl_server_key_file",
                      "ssl_server_alt_key_file", "ssl_key_file"})
CA_KEYS = frozenset({"ssl_ca", "ssl_server_ca_file", "ssl_ca_file"})
EMPTY_NAME = "empty"
DH_KEYS = frozenset({"ssl_dh", "ssl_server_dh_file"})
PASSWORD_KEYS = frozenset({"ssl_key_password", "ssl_server_key_password"})
CLIENT_TLS_KEYS = frozenset({"ssl_client_cert", "ssl_client_key", "ssl_client_cert_file",
                             "ssl_client_key_file"})
_RUNS = re.compile(r"(_command$|script|_bin_dir$|^executable$)")
_INCLUDE = re.compile(r"^([ \t]*)!include(_try)?[ \t]+(.*?)[ \t]*$")


@dataclass(frozen=True)
class Rewrite:
    path: str      # the committed file (relative to the root)
    line: int
    what: str      # never a secret: names and paths only

    def render(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


@dataclass(frozen=True)
class Listener:
    service: str
    name: str
    protocol: str          # imap | imaps
    port: int              # the loopback port the sandbox gave it
    declared_port: int     # the port the committed file gives it


@dataclass
class Sandbox:
    host_dir: Path             # the temporary directory on this host
    seen_dir: str              # the same directory as Dovecot sees it (inside a chroot for 2.4)
    entry: str                 # the entry file, relative to the root
    version: str               # 2.3 | 2.4
    listen: str
    listeners: list[Listener] = field(default_factory=list)
    rewrites: list[Rewrite] = field(default_factory=list)
    throwaway_cert: bool = False
    imap_enabled: bool = True
    line_counts: dict[str, int] = field(default_factory=dict)  # committed file -> lines
    modules: Path | None = None    # the local Dovecot's plugin directory, as this host sees it

    def lacks_plugin(self, name: str) -> bool:
        if self.modules is None or not self.modules.is_dir() or name.startswith("$"):
            return False
        return not any(self.modules.glob(f"lib*_{name}_plugin.so"))

    def conf_seen(self) -> str:
        return f"{self.seen_dir}/tree/{self.entry}"

    def committed_location(self, seen_path: str, line: int) -> tuple[str, int] | None:
        """Map a path and line Dovecot names back to the committed file, or None (ours)."""
        prefix = f"{self.seen_dir}/tree/"
        if not seen_path.startswith(prefix):
            return None
        rel = seen_path[len(prefix):]
        count = self.line_counts.get(rel)
        if count is None or line > count:
            return None
        return rel, line


def _words(value: str) -> list[str]:
    return value.replace(",", " ").split()


def kept_away(word: str) -> bool:
    """True for a trust entry that covers the probe (loopback) but no public address,
    or a host name (which Dovecot would resolve): the sandbox removes it."""
    try:
        net = ipaddress.ip_network(word, strict=False)
    except ValueError:
        return True
    return net.version == 4 and net.subnet_of(LOOPBACK)  # type: ignore[arg-type]


def _section_end(lines: list[str], start: int) -> int:
    """The line (1-based) of the ``}`` that closes the section opened on ``start``."""
    if not strip_comment(lines[start - 1]).strip().endswith("{"):
        return start
    depth = 0
    for i in range(start - 1, len(lines)):
        body = strip_comment(lines[i]).strip()
        if body.endswith("{"):
            depth += 1
        elif body == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return len(lines)


class _Editor:
    """Line-for-line edits of the copied files, each recorded."""

    def __init__(self, texts: dict[str, list[str]]) -> None:
        self.lines = texts
        self.rewrites: list[Rewrite] = []
        self.touched: set[tuple[str, int]] = set()

    def replace(self, path: str, line: int, new: str, why: str) -> None:
        lines = self.lines.get(path)
        if lines is None or not 1 <= line <= len(lines) or (path, line) in self.touched:
            return
        self.touched.add((path, line))
        lines[line - 1] = new
        self.rewrites.append(Rewrite(path, line, why))

    def remove(self, path: str, line: int, why: str) -> None:
        lines = self.lines.get(path)
        if lines is None or not 1 <= line <= len(lines):
            return
        self.replace(path, line, MARK + lines[line - 1].strip(), why)

    def remove_section(self, path: str, line: int, why: str) -> None:
        lines = self.lines.get(path)
        if lines is None:
            return
        end = _section_end(lines, line)
        self.remove(path, line, f"{why} (lines {line}-{end})")
        for n in range(line + 1, end + 1):
            if (path, n) not in self.touched:
                self.touched.add((path, n))
                lines[n - 1] = MARK + lines[n - 1].strip()

    def indent(self, path: str, line: int) -> str:
        text = self.lines[path][line - 1]
        return text[: len(text) - len(text.lstrip(" \t"))]


@dataclass
class _Certs:
    repo: bool                       # every cert/key setting names a committed file
    # (file, line) of a setting that names a committed file -> its copy, as Dovecot sees it
    copies: dict[tuple[str, int], str] = field(default_factory=dict)


def prepare(root: Path, loaded: loader.Loaded, eff: EffectiveConfig, host_dir: Path,
            seen_dir: str, listen: str, ports: list[int], modules: Path | None = None
            ) -> Sandbox:
    """Write the sandboxed tree under ``host_dir/tree`` and say what was rewritten.

    ``ports``: free loopback ports to hand out to the IMAP listeners, in order;
    ``modules``: the local Dovecot's plugin directory (plugins it lacks are removed)."""
    version = eff.info.version
    sb = Sandbox(host_dir, seen_dir, loaded.top, version, listen, modules=modules)
    texts: dict[str, list[str]] = {}
    for rel in loaded.files:
        text, _why = loader.read_text(root, rel)
        if text is not None:
            texts[rel] = text.split("\n")
            sb.line_counts[rel] = len(texts[rel])
    ed = _Editor(texts)
    _includes(root, ed)
    certs = _cert_plan(root, loaded.nodes, host_dir, seen_dir)
    service_listeners: list[tuple[str, str]] = []
    _walk(ed, loaded.nodes, (), None, certs, service_listeners, version, sb)
    sb.throwaway_cert = not certs.repo
    enabled, _ = eff.imap_enabled()
    sb.imap_enabled = enabled is not False
    tail = _tail(sb, eff, certs, service_listeners, ports)
    sb.rewrites = ed.rewrites + sb.rewrites
    tree = host_dir / "tree"
    for rel, lines in texts.items():
        dest = tree / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        body = "\n".join(lines)
        if rel == loaded.top:
            body = body + ("" if body.endswith("\n") else "\n") + tail
        dest.write_text(body, encoding="utf-8")
    for sub in ("run", "state", "home", "mail"):
        (host_dir / sub).mkdir(parents=True, exist_ok=True)
    (host_dir / "nobody.passwd").write_text("")
    (host_dir / EMPTY_NAME).write_text("")
    if not loaded.files.get(loaded.top):
        (tree / loaded.top).parent.mkdir(parents=True, exist_ok=True)
        (tree / loaded.top).write_text(tail)
    return sb


def _includes(root: Path, ed: _Editor) -> None:
    for path, lines in ed.lines.items():
        base = str(PurePosixPath(path).parent)
        base = "" if base == "." else base
        for n, text in enumerate(lines, start=1):
            m = _INCLUDE.match(strip_comment(text))
            if not m:
                continue
            pattern = m.group(3).strip("'\"")
            mapped, status = loader.inside_path(root, base, pattern)
            if mapped is None:
                where = "an absolute path" if status == "absolute" else "outside the repository"
                ed.remove(path, n, f"!include{m.group(2) or ''} {pattern} removed: it names "
                          f"{where}, which the rehearsal does not read")


def _cert_plan(root: Path, nodes: list[Node], host_dir: Path, seen_dir: str) -> _Certs:
    pointed: list[tuple[Setting, str]] = []
    for s, key, _ in _settings(nodes):
        if key in CERT_KEYS | KEY_KEYS | CA_KEYS or s.kind == "file":
            pointed.append((s, key))
    plan = _Certs(repo=any(k in CERT_KEYS for _, k in pointed))
    for s, key in pointed:
        rel, data = loader.read_pointed_file(root, s.loc.path, s.value)
        if rel is None or data is None:
            if key in CERT_KEYS | KEY_KEYS:
                plan.repo = False
            continue
        dest = host_dir / "tree" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        dest.chmod(0o600)
        plan.copies[(s.loc.path, s.loc.line)] = f"{seen_dir}/tree/{rel}"
    return plan


def _settings(nodes: list[Node], prefix: str = "", chain: tuple[Section, ...] = ()):
    for n in nodes:
        if isinstance(n, Setting):
            yield n, prefix + n.key, chain
        elif isinstance(n, Section):
            sub = prefix
            if n.type in ("ssl_server", "ssl_client") and not n.name:
                sub = prefix + n.type + "_"
            yield from _settings(n.children, sub, (*chain, n))


def _walk(ed: _Editor, nodes: list[Node], chain: tuple[Section, ...], service: str | None,
          certs: _Certs, service_listeners: list[tuple[str, str]], version: str, sb: Sandbox,
          prefix: str = "") -> None:
    for n in nodes:
        if isinstance(n, Section):
            _section(ed, n, chain, service, certs, service_listeners, version, sb, prefix)
        elif isinstance(n, Setting):
            _setting(ed, n, prefix + n.key, chain, service, certs, version, sb)


def _section(ed: _Editor, n: Section, chain: tuple[Section, ...], service: str | None,
             certs: _Certs, service_listeners: list[tuple[str, str]], version: str, sb: Sandbox,
             prefix: str) -> None:
    """One section of the committed tree: removed, rewritten, or walked into. Sections that
    matter only at the top level and those inside a ``service`` block are told apart first,
    then the list-like sections any level may hold."""
    if service is None:
        if _top_section(ed, n, chain, certs, service_listeners, version, sb):
            return
    elif _service_section(ed, n, service, service_listeners):
        return
    if _list_section(ed, n, sb):
        return
    if n.type in ("remote", "local") and service is None:
        _filter_section(ed, n)
    sub = prefix
    if n.type in ("ssl_server", "ssl_client") and not n.name:
        sub = prefix + n.type + "_"
    _walk(ed, n.children, (*chain, n), service, certs, service_listeners, version, sb, sub)


def _top_section(ed: _Editor, n: Section, chain: tuple[Section, ...], certs: _Certs,
                 service_listeners: list[tuple[str, str]], version: str, sb: Sandbox) -> bool:
    """Outside any service: what could reach beyond the machine or run a program goes."""
    path, line = n.loc.path, n.loc.line
    if n.type in DROPPED_SECTIONS:
        why = {"passdb": "passdb replaced by one that accepts nobody",
               "userdb": "userdb replaced by a static one",
               }.get(n.type, f"{n.type} removed: it may send events off this machine")
        ed.remove_section(path, line, why)
        return True
    if n.type == "auth" and n.name:
        ed.remove_section(path, line, f"1.x auth {n.name} section (passdb, userdb, sockets) "
                          "replaced by the sandbox's passdb that accepts nobody")
        return True
    if n.type != "service":
        return False
    if n.name not in BUILTIN_SERVICES:
        ed.remove_section(path, line, f"service {n.name} removed: it is not one of "
                          "Dovecot's own, so it would run a program from the configuration")
        return True
    _walk(ed, n.children, (*chain, n), n.name, certs, service_listeners, version, sb)
    return True


def _service_section(ed: _Editor, n: Section, service: str,
                     service_listeners: list[tuple[str, str]]) -> bool:
    """Inside a service: sockets outside the sandbox go, inet listeners move to loopback."""
    path, line = n.loc.path, n.loc.line
    if n.type in ("unix_listener", "fifo_listener") and n.name.startswith("/"):
        ed.remove_section(path, line, f"{n.type} {n.name} removed: a socket outside the sandbox")
        return True
    if n.type != "inet_listener":
        return False
    service_listeners.append((service, n.name))
    for c in n.children:
        if isinstance(c, Setting) and c.key in ("port", "address", "listen"):
            ed.remove(c.loc.path, c.loc.line, f"service {service} listener {n.name}: "
                      f"{c.key} moved to the sandbox's loopback address")
        elif isinstance(c, Setting) and c.key == "haproxy":
            # a proxy hands Dovecot the internet client's address: without one, the probe
            # is that client itself
            ed.remove(c.loc.path, c.loc.line, f"service {service} listener {n.name}: "
                      "haproxy removed: the probe connects directly, as the client a "
                      "proxy would announce")
    return True


def _list_section(ed: _Editor, n: Section, sb: Sandbox) -> bool:
    """2.4's list sections (``login_trusted_networks { ... }``, ``mail_plugins { ... }``,
    ``protocols { ... }``): the entries the sandbox cannot keep go, one by one."""
    if n.name:
        return False
    if n.type in TRUST_KEYS:
        _trusted_list(ed, n)
        return True
    if n.type == "mail_plugins":
        _plugin_list(ed, n, sb)
        return True
    if n.type == "protocols":
        ed.remove_section(n.loc.path, n.loc.line, "protocols set by the sandbox")
        return True
    return False


def _trusted_list(ed: _Editor, n: Section) -> None:
    """A trusted-networks list without the entries that cover loopback but no public
    address: they would trust the probe, and only the probe."""
    for c in n.children:
        if isinstance(c, Setting) and kept_away(c.key):
            ed.remove(c.loc.path, c.loc.line, f"{n.type}: {c.key} removed: it covers the "
                      "probe's loopback address but no public one")


def _plugin_list(ed: _Editor, n: Section, sb: Sandbox) -> None:
    """``mail_plugins { ... }`` without the plugins the local Dovecot lacks."""
    for c in n.children:
        if isinstance(c, Setting) and sb.lacks_plugin(c.key):
            ed.remove(c.loc.path, c.loc.line, f"mail_plugins: {c.key} removed: the local "
                      f"Dovecot {sb.version} lacks the plugin")


def _filter_section(ed: _Editor, n: Section) -> None:
    """``remote``/``local`` filters that cover the probe's loopback address but no public one
    would apply to the rehearsal only: they are pointed at a network nobody is in."""
    path, line = n.loc.path, n.loc.line
    words = _words(n.name)
    if words and any(kept_away(w.strip("'\"")) for w in words):
        ed.replace(path, line, f"{ed.indent(path, line)}{n.type} {NOBODY_NET} {{",
                   f"{n.type} {n.name} filter pointed at {NOBODY_NET}: it covers the "
                   "probe's loopback address but no public one")


def _setting(ed: _Editor, s: Setting, key: str, chain: tuple[Section, ...],
             service: str | None, certs: _Certs, version: str, sb: Sandbox) -> None:
    """One setting of the committed tree: kept, pointed at the sandbox, or removed. A
    setting inside a service block or a plugin block follows the rules of that block."""
    path, line = s.loc.path, s.loc.line
    if s.kind == "file" and key not in CERT_KEYS | KEY_KEYS | CA_KEYS | DH_KEYS:
        _pointed(ed, s, key, certs, sb)
    elif service is not None:
        if s.key in SERVICE_DROPPED:
            ed.remove(path, line, f"service {service}: {s.key} removed (the sandbox runs "
                      "Dovecot's own programs as its default users)")
    elif chain and chain[0].type == "plugin":
        if _RUNS.search(s.key):
            ed.remove(path, line, f"plugin setting {s.key} removed: it runs a program")
    else:
        _global_setting(ed, s, key, certs, sb)


def _global_setting(ed: _Editor, s: Setting, key: str, certs: _Certs, sb: Sandbox) -> None:
    """A setting outside service and plugin blocks: what the sandbox owns or cannot run
    goes, TLS files and trusted networks are pointed at the sandbox's own."""
    path, line = s.loc.path, s.loc.line
    if key in OWNED:
        ed.remove(path, line, f"{key} set by the sandbox")
    elif key == "mail_plugins":
        _plugins_setting(ed, s, sb)
    elif key in TRUST_KEYS:
        _trust_setting(ed, s, key)
    elif key in CERT_KEYS | KEY_KEYS | CA_KEYS | DH_KEYS:
        _cert(ed, s, key, certs, sb)
    elif key in PASSWORD_KEYS and not certs.repo:
        ed.remove(path, line, f"{key} removed with the key it unlocks")
    elif key in CLIENT_TLS_KEYS:
        ed.remove(path, line, f"{key} removed: outgoing TLS is not rehearsed")
    elif _RUNS.search(key):
        ed.remove(path, line, f"{key} removed: it runs a program")


def _plugins_setting(ed: _Editor, s: Setting, sb: Sandbox) -> None:
    """``mail_plugins = ...`` without the plugins the local Dovecot lacks."""
    path, line = s.loc.path, s.loc.line
    words = _words(s.value)
    missing = [w for w in words if sb.lacks_plugin(w)]
    if missing:
        shown = " ".join(w for w in words if w not in missing)
        ed.replace(path, line, f"{ed.indent(path, line)}{s.key} = {shown}",
                   f"mail_plugins: {' '.join(missing)} removed: the local Dovecot "
                   f"{sb.version} lacks the plugin")


def _trust_setting(ed: _Editor, s: Setting, key: str) -> None:
    """A trusted-networks list without the entries that cover the probe's loopback address
    (or name a host Dovecot would resolve)."""
    path, line = s.loc.path, s.loc.line
    words = _words(s.value)
    kept = [w for w in words if not kept_away(w)]
    if kept != words:
        gone = " ".join(w for w in words if kept_away(w))
        ed.replace(path, line, f"{ed.indent(path, line)}{s.key} = {' '.join(kept)}",
                   f"{key}: {gone} removed: it covers the probe's loopback address but no "
                   "public one (or is a name Dovecot would resolve)")


def _pointed(ed: _Editor, s: Setting, key: str, certs: _Certs, sb: Sandbox) -> None:
    """``key = <file`` is read when Dovecot starts: a committed file is copied, any other
    one (a deployment path) becomes an empty file."""
    copy = certs.copies.get((s.loc.path, s.loc.line))
    target = copy or f"{sb.seen_dir}/{EMPTY_NAME}"
    ed.replace(s.loc.path, s.loc.line, f"{ed.indent(s.loc.path, s.loc.line)}{s.key} = <{target}",
               f"{key} pointed at " + ("its committed file, copied into the sandbox" if copy
                                       else "an empty file (the committed value names a file "
                                            "that is not in the repository)"))


def _cert(ed: _Editor, s: Setting, key: str, certs: _Certs, sb: Sandbox) -> None:
    path, line = s.loc.path, s.loc.line
    copy = certs.copies.get((path, line))
    if key in DH_KEYS:
        target, what = f"{sb.seen_dir}/{throwaway.DH_NAME}", "the RFC 7919 ffdhe2048 group"
    elif copy is not None and (certs.repo or key in CA_KEYS):
        target, what = copy, "its committed file, copied into the sandbox"
    elif key in CERT_KEYS or key in CA_KEYS:
        target, what = f"{sb.seen_dir}/{throwaway.CERT_NAME}", "a throwaway certificate"
    else:
        target, what = f"{sb.seen_dir}/{throwaway.KEY_NAME}", "the throwaway certificate's key"
    lt = s.kind == "file" or (sb.version == "2.3" and not s.key.endswith("_file"))
    value = f"<{target}" if lt else target
    ed.replace(path, line, f"{ed.indent(path, line)}{s.key} = {value}", f"{key} pointed at {what}")


def _tail(sb: Sandbox, eff: EffectiveConfig, certs: _Certs,
          service_listeners: list[tuple[str, str]], ports: list[int]) -> str:
    """What the sandbox appends to the committed file: its own paths, users and passdb, a
    throwaway certificate when none is committed, and every listener moved to loopback."""
    d = sb.seen_dir
    v24 = sb.version == "2.4"
    out = ["", "# ---- appended by imap-gate for the rehearsal sandbox ----",
           f"base_dir = {d}/run", f"state_dir = {d}/state", f"log_path = {d}/dovecot.log",
           f"instance_name = imap-gate-rehearsal-{uuid.uuid4().hex[:12]}",
           f"listen = {sb.listen}",
           # 2.4 knows no protocol 'none': an empty list is how it enables nothing
           f"protocols = {'imap' if sb.imap_enabled else ('' if v24 else 'none')}".rstrip()]
    if v24:
        out += ["mail_driver = maildir", f"mail_path = {d}/mail/%{{user}}",
                "passdb passwd-file {", f"  passwd_file_path = {d}/nobody.passwd", "}",
                "userdb static {", "  fields {", "    uid = nobody", "    gid = nogroup",
                f"    home = {d}/home", "  }", "}"]
    else:
        out += [f"mail_location = maildir:{d}/mail/%u",
                "passdb {", "  driver = passwd-file", f"  args = {d}/nobody.passwd", "}",
                "userdb {", "  driver = static",
                f"  args = uid=nobody gid=nogroup home={d}/home", "}"]
    out += _throwaway_cert(sb, eff, certs)
    out += _imap_listeners(sb, eff, service_listeners, ports)
    out += _other_listeners(sb, service_listeners)
    return "\n".join(out)


def _throwaway_cert(sb: Sandbox, eff: EffectiveConfig, certs: _Certs) -> list[str]:
    """A throwaway certificate when TLS is on and no committed file names one."""
    d = sb.seen_dir
    v24 = sb.version == "2.4"
    out: list[str] = []
    ssl_mode, _ = eff.ssl_mode()
    has_cert = any(k in CERT_KEYS for k in (a.key for a in eff.all_settings))
    if ssl_mode != "no" and not has_cert:
        cert_key = "ssl_server_cert_file" if v24 else "ssl_cert"
        key_key = "ssl_server_key_file" if v24 else "ssl_key"
        lt = "" if v24 else "<"
        out += [f"{cert_key} = {lt}{d}/{throwaway.CERT_NAME}",
                f"{key_key} = {lt}{d}/{throwaway.KEY_NAME}"]
        sb.rewrites.append(Rewrite(sb.entry, 1, "no certificate in the committed files: a "
                                   "throwaway one was given"))
        certs.repo = False
    return out


def _imap_listeners(sb: Sandbox, eff: EffectiveConfig, service_listeners: list[tuple[str, str]],
                    ports: list[int]) -> list[str]:
    """imap-login's listeners, each moved to a free loopback port (or switched off)."""
    v24 = sb.version == "2.4"
    ssl_mode, _ = eff.ssl_mode()
    out: list[str] = []
    addr_key = "listen" if v24 else "address"
    out.append("service imap-login {")
    free = iter(ports)
    for name, (port, ssl) in _declared_imap(eff, service_listeners).items():
        if port == 0 or not sb.imap_enabled or (ssl == "yes" and ssl_mode == "no"):
            # with ssl = no Dovecot opens no implicit-TLS listener: nothing to probe there
            out += [f"  inet_listener {name} {{", "    port = 0", "  }"]
            continue
        mine = next(free)
        out += [f"  inet_listener {name} {{", f"    port = {mine}",
                f"    {addr_key} = {sb.listen}", "  }"]
        sb.listeners.append(Listener("imap-login", name, "imaps" if ssl == "yes" else "imap",
                                     mine, port))
        sb.rewrites.append(Rewrite(sb.entry, 1, f"imap-login listener {name} (port "
                                   f"{port if port >= 0 else 'unknown'}) moved to "
                                   f"{sb.listen}:{mine}"))
    out.append("}")
    return out


def _declared_imap(eff: EffectiveConfig, service_listeners: list[tuple[str, str]]
                   ) -> dict[str, tuple[int, str]]:
    """imap-login's listeners the configuration has (imap and imaps first): name -> (port,
    -1 where it is not a number; ssl)."""
    declared: dict[str, tuple[int, str]] = {}
    names = ["imap", "imaps"] + [n for (s, n) in service_listeners
                                 if s == "imap-login" and n not in ("imap", "imaps")]
    for name in dict.fromkeys(names):
        port_text, ssl, _, _ = eff.listener(name)
        if port_text is None:
            continue
        port = int(port_text) if port_text.isdigit() else -1
        declared[name] = (port, ssl or "no")
    return declared


def _other_listeners(sb: Sandbox, service_listeners: list[tuple[str, str]]) -> list[str]:
    """Every other service's inet listener switched off: only IMAP is rehearsed."""
    out: list[str] = []
    others = [(s, n) for (s, n) in dict.fromkeys(service_listeners) if s != "imap-login"]
    for service, name in others:
        out += [f"service {service} {{", f"  inet_listener {name} {{", "    port = 0", "  }",
                "}"]
        sb.rewrites.append(Rewrite(sb.entry, 1, f"service {service} listener {name} switched "
                                   "off (only IMAP is rehearsed)"))
    out += ["service anvil {", "  chroot =", "}", ""]
    return out
