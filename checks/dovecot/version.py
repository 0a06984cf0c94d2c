"""Which Dovecot a file is written for, and the names each version uses.

2.4 refuses 2.3 names and the reverse, so the names themselves tell the
version; ``dovecot_config_version`` settles it. A file that mixes both will not
load in either version, which is itself a finding.
"""

from __future__ import annotations

from dataclasses import dataclass

from checks.dovecot.parser import Node, Section, Setting

# Names that exist only in 2.3 (and earlier) and were renamed or removed in 2.4.
ONLY_23 = frozenset({
    "disable_plaintext_auth", "ssl_cert", "ssl_key", "ssl_ca", "ssl_dh", "ssl_key_password",
    "ssl_cert_username_field", "ssl_prefer_server_ciphers", "ssl_client_ca_dir",
    "ssl_client_ca_file", "ssl_client_cert", "ssl_client_key", "ssl_verify_client_cert",
    "ssl_require_crl", "ssl_alt_cert", "ssl_alt_key", "mail_location", "verbose_ssl",
    "auth_username_format", "auth_default_realm", "auth_realms", "mail_plugins_dir",
    "imap_id_log", "ssl_crypto_device", "ssl_options", "ssl_curve_list",
})
# Names that exist only in 2.4.
ONLY_24 = frozenset({
    "dovecot_config_version", "dovecot_storage_version", "auth_allow_cleartext",
    "ssl_server_cert_file", "ssl_server_key_file", "ssl_server_ca_file", "ssl_server_dh_file",
    "ssl_server_key_password", "ssl_server_prefer_ciphers", "ssl_server_request_client_cert",
    "ssl_client_ca_file_path", "mail_driver", "mail_path", "mailbox_list_layout",
    "passwd_file_path", "ssl_server_cert_username_field", "ssl_server_require_crl",
    "auth_username_format_path", "ssl_peer_certificate_fingerprint_hash",
})
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


def _walk(nodes: list[Node]):
    for n in nodes:
        if isinstance(n, Setting):
            yield n
        elif isinstance(n, Section):
            yield from _walk(n.children)


def detect(nodes: list[Node]) -> VersionInfo:
    """Look at every setting name once (linear) and decide."""
    first23: Setting | None = None
    first24: Setting | None = None
    first22: Setting | None = None
    first1x: Setting | None = None
    declared: Setting | None = None
    for s in _walk(nodes):
        k = s.key
        if k == "dovecot_config_version" and declared is None:
            declared = s
        if k in ONLY_24 and first24 is None:
            first24 = s
        elif k in ONLY_23 and first23 is None:
            first23 = s
        elif k in ONLY_22 and first22 is None:
            first22 = s
        elif k in ONLY_1X and first1x is None:
            first1x = s
    old = first23 or first22 or first1x
    mixed = (old, first24) if old is not None and first24 is not None else None
    if declared is not None:
        return VersionInfo("2.4", "2.4", declared, declared.value, mixed)
    if first24 is not None and old is None:
        return VersionInfo("2.4", "2.4", first24, None, None)
    if first1x is not None:
        return VersionInfo("2.3", "1.x", first1x, None, mixed)
    if first22 is not None:
        return VersionInfo("2.3", "2.2", first22, None, mixed)
    return VersionInfo("2.3", "2.3", first23, None, mixed)
