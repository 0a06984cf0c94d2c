"""What Dovecot 2.4 refuses that 2.3 accepted: configuration-level facts of the real 2.4.

Each rule here is checked against ``doveconf`` 2.4.1 (or, where doveconf loads the file and
the server fails later, the 2.4 TLS library's own table) in tests/dovecot/test_dovecot_v24.py.
"""

from __future__ import annotations

from imap_gate.findings import Finding

from .effective import EffectiveConfig
from .parser import Setting
from .rules import DOV013

# The 2.4 TLS library (libssl_iostream_openssl) knows these minimums and no others; 2.3 also
# knew SSLv3. doveconf 2.4.1 loads any word, then every TLS context fails: "Can't set minimum
# protocol to 'SSLv3' (ssl_min_protocol setting): Unknown value".
MIN_PROTOCOLS_24 = ("ANY", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3", "LATEST")


def refusals(eff: EffectiveConfig, first: Setting | None) -> list[Finding]:
    """DOV013 for a 2.4 top-level file: what doveconf 2.4 (or its TLS setup) refuses."""
    if eff.info.version != "2.4":
        return []
    return _no_storage_version(eff, first) + _cleartext_with_required(eff) + _sslv3(eff)


def _no_storage_version(eff: EffectiveConfig, first: Setting | None) -> list[Finding]:
    declared = eff.info.declared is not None
    if not declared or eff.root.get("dovecot_storage_version") is not None or first is None:
        return []
    return [DOV013.finding(
        f"{eff.path}: dovecot_storage_version is not set; Dovecot 2.4 refuses "
        "to start without it (doveconf: dovecot_storage_version setting must be set). "
        "Add `dovecot_storage_version = 2.4.0` (the version whose storage format the "
        "mail files use) after dovecot_config_version.", first.loc, evidence=first.text,
        file=eff.path, setting="dovecot_storage_version", error="missing")]


def _cleartext_with_required(eff: EffectiveConfig) -> list[Finding]:
    ssl = eff.root.get("ssl")
    clear = eff.root.get("auth_allow_cleartext")
    if ssl is None or clear is None or ssl.value != "required" or clear.value != "yes":
        return []
    return [DOV013.finding(
        "auth_allow_cleartext = yes together with ssl = required is a fatal "
        "error in Dovecot 2.4 (doveconf: auth_allow_cleartext=yes has no effect with "
        "ssl=required); remove auth_allow_cleartext = yes.", clear.loc,
        evidence=clear.setting.text,
        file=clear.loc.path, setting="auth_allow_cleartext", error="with-ssl-required")]


def _sslv3(eff: EffectiveConfig) -> list[Finding]:
    return [DOV013.finding(
        "ssl_min_protocol = SSLv3 is no longer a value in Dovecot 2.4: doveconf "
        "loads it, but every TLS connection then fails (Can't set minimum protocol to "
        "'SSLv3' (ssl_min_protocol setting): Unknown value). Use ssl_min_protocol = "
        "TLSv1.2.", a.loc, evidence=a.setting.text,
        file=a.loc.path, setting="ssl_min_protocol", error="sslv3-removed")
        for a in eff.all_settings
        if a.key == "ssl_min_protocol" and a.value is not None and not a.templated
        and a.value.lower() == "sslv3"]
