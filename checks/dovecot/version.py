"""Which Dovecot a file is written for, and the names each version uses.

2.4 refuses 2.3 names and the reverse, so the names themselves tell the
version; ``dovecot_config_version`` settles it. A file that mixes both will not
load in either version, which is itself a finding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import names
from .parser import Node, Section, Setting

# Names that exist only in 2.3 (and earlier): 2.4 renamed, converted or removed them
# (Dovecot documentation, "Upgrading 2.3 to 2.4": converted and removed settings).
ONLY_23 = frozenset({
    "disable_plaintext_auth", "auth_debug", "auth_default_realm", "verbose_ssl",
    "mail_location", "ssl_alt_cert", "ssl_alt_key", "ssl_ca", "ssl_ca_dir", "ssl_cert",
    "ssl_cert_username_field", "ssl_client_cert", "ssl_client_key", "ssl_dh", "ssl_key",
    "ssl_key_password", "ssl_prefer_server_ciphers", "ssl_require_crl", "ssl_verify_client_cert",
    "imap_id_log", "auth_stats", "login_access_sockets", "default_idle_kill",
    "mail_attachment_dir", "auth_worker_max_count",
})
# The real 2.4 still knows some of them (auth_debug): the generated lists have the last word.
ONLY_23 = ONLY_23 - names.settings("2.4")
# Names that exist only in 2.4 (every ``ssl_server_*`` name is 2.4 too).
ONLY_24 = frozenset({
    "dovecot_config_version", "dovecot_storage_version", "auth_allow_cleartext",
    "ssl_client_cert_file", "ssl_client_key_file", "mail_driver", "mail_path",
    "mailbox_list_layout", "passwd_file_path", "auth_default_domain",
    "default_idle_kill_interval", "mail_ext_attachment_path",
})
ONLY_24 = ONLY_24 - names.settings("2.3")
# 2.2 and earlier names that 2.3's doveconf still converts (with a warning).
ONLY_22 = frozenset({"ssl_protocols", "ssl_parameters_regenerate", "ssl_disable"})
# 1.x names.
ONLY_1X = frozenset({"ssl_cert_file", "ssl_key_file", "ssl_listen", "login_process_per_connection",
                     "auth_executable", "login_dir"})

# 2.3 name -> 2.4 name, for remediation text and for reading 2.4 files.
RENAMED_24 = {
    "disable_plaintext_auth": "auth_allow_cleartext",   # inverted meaning
    "ssl_cert": "ssl_server_cert_file",
    "ssl_key": "ssl_server_key_file",
    "ssl_ca": "ssl_server_ca_file",
    "ssl_dh": "ssl_server_dh_file",
    "ssl_key_password": "ssl_server_key_password",
}


@dataclass(frozen=True)
class VersionInfo:
    version: str               # "2.3" | "2.4": the API answer
    dialect: str               # "1.x" | "2.2" | "2.3" | "2.4": the finer truth
    evidence: Setting | None   # the setting that told
    declared: str | None       # dovecot_config_version's value
    mixed: tuple[Setting, Setting] | None  # (a 2.3-only setting, a 2.4-only setting)


def _walk(nodes: list[Node], prefix: str = "", scope: bool = True):
    """(setting, in global or filter scope) for every setting, with 2.4 prefixes applied."""
    for n in nodes:
        if isinstance(n, Setting):
            if prefix:
                yield Setting(prefix + n.key, n.value, n.raw, n.loc, n.kind, n.quoted,
                              n.text), False
            else:
                yield n, scope
        elif isinstance(n, Section):
            if scope and _setting_block(n):
                yield Setting(n.type, "", "{", n.loc, "block", False, n.text), scope
            # 2.4 named filters such as ``ssl_server { cert_file = ... }``
            sub = n.type + "_" if n.type in ("ssl_server", "ssl_client") and not n.name else ""
            yield from _walk(n.children, prefix + sub, scope and n.type in _FILTERS)


def _setting_block(n: Section) -> bool:
    """A setting written as a block (``import_environment { X = y }``, ``mail_plugins {
    quota = yes }``): 2.4 syntax, 2.3 refuses it."""
    return not n.name and n.type not in SECTIONS_23 and n.type in names.settings("2.4")


_FILTERS = frozenset({"protocol", "remote", "local", "local_name"})
# 2.4 variable syntax: a filter pipeline inside %{...} (``%{user | lower}``); 2.3 has none.
_FILTER_24 = re.compile(r"%\{[^}|]*\|")
# Block types 2.3 itself knows (its filters and sections, besides doveconf -a's list).
SECTIONS_23 = frozenset({*_FILTERS, "service", "inet_listener", "unix_listener", "fifo_listener",
                         "namespace", "mailbox", "passdb", "userdb", "plugin", "dict", "metric",
                         "event_exporter", "auth_policy", "group"})


_OLD_DIALECTS = (("2.3", ONLY_23), ("2.2", ONLY_22), ("1.x", ONLY_1X))


def _tells_24(s: Setting, scope: bool) -> bool:
    """A 2.4-only name, a 2.4 filter or block syntax, or a 2.4 variable pipeline."""
    k = s.key
    return (k in ONLY_24 or k.startswith("ssl_server_") or s.kind == "block"
            or ("%{" in s.value and _FILTER_24.search(s.value) is not None)
            or (scope and k not in ONLY_23 and names.only_24(k)))


def detect(nodes: list[Node]) -> VersionInfo:
    """Look at every setting name once (linear) and decide."""
    first: dict[str, Setting] = {}      # dialect (or "declared") -> the first setting telling it
    for s, scope in _walk(nodes):
        if s.key == "dovecot_config_version":
            first.setdefault("declared", s)
        if "2.4" not in first and _tells_24(s, scope):
            first["2.4"] = s
            continue
        old = next((d for d, only in _OLD_DIALECTS if s.key in only and d not in first), None)
        if old is not None:
            first[old] = s
    return _decide(first)


def _decide(first: dict[str, Setting]) -> VersionInfo:
    """A declared version wins; 2.4 names alone make 2.4; else the oldest dialect seen."""
    old = first.get("2.3") or first.get("2.2") or first.get("1.x")
    first24 = first.get("2.4")
    mixed = (old, first24) if old is not None and first24 is not None else None
    declared = first.get("declared")
    if declared is not None:
        return VersionInfo("2.4", "2.4", declared, declared.value, mixed)
    if first24 is not None and old is None:
        return VersionInfo("2.4", "2.4", first24, None, None)
    for dialect in ("1.x", "2.2"):
        if dialect in first:
            return VersionInfo("2.3", dialect, first[dialect], None, mixed)
    return VersionInfo("2.3", "2.3", first.get("2.3"), None, mixed)
