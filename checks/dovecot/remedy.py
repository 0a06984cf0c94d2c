"""The fix, written for the file's own Dovecot version.

A 2.4 file is never told to set ``disable_plaintext_auth`` (2.4 refuses it) and a 2.3 file
never ``auth_allow_cleartext`` (2.3 refuses that); where nothing in the files tells the
version, both lines are given. The rule catalogue keeps the full text for both versions.
"""

from __future__ import annotations

from imap_gate.rules import Rule

from .effective import EffectiveConfig
from .rules import DOV001, DOV002, DOV006, DOV011, DOV014

_FIX: dict[str, dict[str, str]] = {
    DOV001.id: {
        "2.3": "set `ssl = required` with `ssl_cert = </path/fullchain.pem` and "
               "`ssl_key = </path/privkey.pem`",
        "2.4": "set `ssl = required` with `ssl_server_cert_file = /path/fullchain.pem` and "
               "`ssl_server_key_file = /path/privkey.pem`",
    },
    DOV002.id: {
        "2.3": "set `disable_plaintext_auth = yes` (or `ssl = required`)",
        "2.4": "remove `auth_allow_cleartext = yes` (the default is no), or set "
               "`ssl = required`",
    },
    DOV006.id: {
        "2.3": "drop the override, or relax it only for loopback or a small internal range "
               "(`remote 10.0.0.0/8 { disable_plaintext_auth = no }`)",
        "2.4": "drop the override, or relax it only for loopback or a small internal range "
               "(`remote 10.0.0.0/8 { auth_allow_cleartext = yes }`)",
    },
    DOV011.id: {
        "2.3": "remove the key from the repository and its history, rotate it, and point "
               "`ssl_key = </etc/dovecot/private/privkey.pem` at a host or secret-store path",
        "2.4": "remove the key from the repository and its history, rotate it, and point "
               "`ssl_server_key_file = /etc/dovecot/private/privkey.pem` at a host or "
               "secret-store path",
    },
    DOV014.id: {
        "2.3": "set `auth_debug = no`, `mail_debug = no` and `verbose_ssl = no` in production",
        "2.4": "set `mail_debug = no` and drop `log_debug` (2.4's debug categories) in "
               "production",
    },
}


def fix(eff: EffectiveConfig, rule: Rule) -> str:
    """`` Fix (Dovecot 2.4): ...`` for the file's version, or both when it is not known."""
    table = _FIX.get(rule.id)
    if table is None:
        return ""
    if eff.info.evidence is None and eff.info.declared is None:
        return f" Fix: Dovecot 2.3: {table['2.3']}; Dovecot 2.4: {table['2.4']}."
    v = eff.info.version
    return f" Fix (Dovecot {v}): {table[v]}."
