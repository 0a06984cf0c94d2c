"""Dovecot 2.4 semantics in the judge, each against the real 2.4 (doveconf 2.4.1 in the
Debian 13 root filesystem) and, for contrast, the real 2.3 on the host.

Live-server facts (a trusted client under ``ssl = required`` sees LOGINDISABLED in 2.4) are
the issue's; what doveconf decides is checked here, on the same file the gate reads.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from checks.dovecot.check import lint_file
from tests.support import rootfs24
from tests.support.doveconf import Doveconf, Result

HEAD = "dovecot_config_version = 2.4.0\ndovecot_storage_version = 2.4.0\n"
KEY = ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n"
       "-----END PRIVATE KEY-----\n")


def run(version: str, text: str, extra: dict[str, str] | None = None):
    """(doveconf's Result, the gate's findings, its EffectiveConfig) for one file."""
    dc = Doveconf("2.4", rootfs24.require()) if version == "2.4" else Doveconf("2.3")
    with dc.staging() as st:
        work = Path(st)
        (work / "dovecot.conf").write_text(text)
        for name, body in (extra or {}).items():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            (work / name).write_text(body)
        findings, eff, _ = lint_file(work, "dovecot.conf")
        return dc.loads(work / "dovecot.conf"), findings, eff, dc, work


def value(version: str, text: str, name: str) -> str:
    dc = Doveconf("2.4", rootfs24.require()) if version == "2.4" else Doveconf("2.3")
    with dc.staging() as st:
        (Path(st) / "dovecot.conf").write_text(text)
        got = dc.values(Path(st) / "dovecot.conf", (name,))
        assert not isinstance(got, Result), got.reason
        return got[name]


def ids(findings) -> list[str]:
    return sorted(f.rule_id for f in findings)


REFUSED = [
    pytest.param("2.4", HEAD + "ssl = required\nauth_allow_cleartext = yes\n",
                 "auth_allow_cleartext=yes has no effect with ssl=required", None,
                 id="cleartext-yes-with-ssl-required"),
    pytest.param("2.4", "dovecot_config_version = 2.4.0\nssl = yes\n",
                 "dovecot_storage_version setting must be set", None, id="no-storage-version"),
    pytest.param("2.4", "ssl = required\nssl_server_cert_file = /etc/c.pem\n",
                 "The first setting must be dovecot_config_version", 1, id="no-config-version"),
    pytest.param("2.4", "ssl = required\n" + HEAD, "The first setting must be dovecot_config_version",
                 1, id="config-version-not-first"),
    pytest.param("2.4", HEAD + "disable_plaintext_auth = no\n",
                 "Unknown setting: disable_plaintext_auth", 3, id="mixed-23-name"),
    pytest.param("2.4", HEAD + "ssl_prefer_server_ciphers = yes\n",
                 "Unknown setting: ssl_prefer_server_ciphers", 3, id="23-prefer-ciphers"),
    pytest.param("2.4", HEAD + "ssl_server_prefer_ciphers = yes\n", "Invalid value: yes", 3,
                 id="prefer-ciphers-value"),
    pytest.param("2.4", HEAD + "sssl = no\n", "Unknown setting: sssl", 3, id="typo-24"),
    pytest.param("2.3", "sssl = no\n", "Unknown setting: sssl", 1, id="typo-23"),
    pytest.param("2.4", HEAD + 'protocols = "imap lmtp\n', "Missing ending '\"'", 3,
                 id="boollist-unclosed-quote"),
    pytest.param("2.4", HEAD + "import_environment = TZ\n", "Setting is a string list", 3,
                 id="strlist-as-value"),
    pytest.param("2.3", "remote 10.0.0.0/8 {\n  auth_mechanisms = plain login\n}\n",
                 "Auth settings not supported inside local/remote blocks", 2,
                 id="auth-in-remote-23"),
    pytest.param("2.3", "ssl = yes\nauth_allow_cleartext = yes\nssl_cert = </c.pem\n",
                 "Unknown setting: auth_allow_cleartext", 2, id="mixed-24-name-in-23"),
]


@pytest.mark.parametrize(("version", "text", "reason", "line"), REFUSED)
def test_what_doveconf_refuses_is_dov013_with_its_reason(version, text, reason, line) -> None:  # type: ignore[no-untyped-def]
    res, findings, _eff, _, _ = run(version, text)
    assert not res.ok and reason in res.reason, res.reason
    errors = [f for f in findings if f.rule_id == "DOV013"]
    assert errors, f"doveconf {version} refuses ({res.reason}); the gate has no DOV013"
    assert any(reason.split(": ")[-1] in f.message for f in errors), [f.message for f in errors]
    if line is not None:
        assert any(f.location.line == line for f in errors)


def test_trusted_networks_under_ssl_required_need_tls_in_24() -> None:
    text = HEAD + "ssl = required\nlogin_trusted_networks = 0.0.0.0/0\nprotocols = imap\n"
    res, findings, eff, _, _ = run("2.4", text)
    assert res.ok, res.reason
    assert value("2.4", text, "login_trusted_networks") == "0.0.0.0/0"
    assert eff.cleartext_auth_allowed(143)[0] is False
    dov005 = [f for f in findings if f.rule_id == "DOV005"]
    assert len(dov005) == 1 and "may log in with cleartext" not in dov005[0].message
    assert "still makes Dovecot 2.4 demand TLS" in dov005[0].message
    assert dov005[0].sev.label == "medium"
    # 2.3 lets the same trusted clients log in in clear
    res23, f23, eff23, _, _ = run("2.3", "ssl = required\nlogin_trusted_networks = 0.0.0.0/0\n"
                                  "disable_plaintext_auth = yes\n")
    assert res23.ok and eff23.cleartext_auth_allowed(143)[0] is True
    assert any(f.rule_id == "DOV005" and "cleartext passwords" in f.message
               and f.sev.label == "high" for f in f23)


def test_auth_allow_cleartext_is_the_inverse_of_disable_plaintext_auth() -> None:
    text = HEAD + "protocols = imap\nssl = yes\nauth_allow_cleartext = yes\n"
    res, findings, eff, _, _ = run("2.4", text)
    assert res.ok and value("2.4", text, "auth_allow_cleartext") == "yes"
    assert eff.cleartext_auth_allowed(143)[0] is True
    dov002 = next(f for f in findings if f.rule_id == "DOV002")
    assert dov002.location.line == 5 and dov002.sev.label == "high"
    # the fix is written for 2.4: never the 2.3 name
    assert "auth_allow_cleartext" in dov002.message.split("Fix")[1]
    assert "disable_plaintext_auth" not in dov002.message
    text = HEAD + "protocols = imap\nssl = yes\nauth_allow_cleartext = no\n"
    res, findings, eff, _, _ = run("2.4", text)
    assert res.ok and eff.cleartext_auth_allowed(143)[0] is False and "DOV002" not in ids(findings)


def test_remediation_is_for_the_files_own_version() -> None:
    res, findings, _, _, _ = run("2.3", "ssl = yes\ndisable_plaintext_auth = no\n"
                                 "ssl_cert = </etc/c.pem\n")
    assert res.ok
    msg = next(f for f in findings if f.rule_id == "DOV002").message
    assert "disable_plaintext_auth = yes" in msg and "auth_allow_cleartext" not in msg
    # no version-only name: both
    res, findings, _, _, _ = run("2.3", "ssl = no\n")
    msg = next(f for f in findings if f.rule_id == "DOV001").message
    assert "Dovecot 2.3: " in msg and "Dovecot 2.4: " in msg and "ssl_server_cert_file" in msg


def test_ssl_server_files_are_plain_paths(tmp_path: Path) -> None:
    text = (HEAD + "protocols = imap\nssl = required\nssl_server_cert_file = certs/cert.pem\n"
            "ssl_server_key_file = certs/key.pem\nssl_server_dh_file = certs/dh.pem\n"
            "ssl_server_prefer_ciphers = server\n")
    res, findings, eff, _, _ = run("2.4", text, {"certs/key.pem": KEY})
    assert res.ok, res.reason
    assert "DOV013" not in ids(findings)
    leak = next(f for f in findings if f.rule_id == "DOV011")
    assert leak.location.line == 6 and leak.related[0].path == "certs/key.pem"
    assert "ssl_server_key_file = /etc/dovecot/private/privkey.pem" in leak.message
    assert eff.value("ssl_server_prefer_ciphers")[0] == "server"


def test_no_protocol_is_enabled_by_default_in_24() -> None:
    text = HEAD + "ssl = yes\nauth_allow_cleartext = yes\n"
    res, findings, eff, _, _ = run("2.4", text)
    assert res.ok and value("2.4", text, "protocols") == ""
    assert eff.imap_enabled()[0] is False and eff.listener_ports()[0] == {"imap": 0, "imaps": 0}
    assert next(f for f in findings if f.rule_id == "DOV002").sev.label == "low"
    assert "DOV008" not in ids(findings)
    # Debian's main file adds each installed protocol from protocols.d, which is not read
    text = HEAD + "!include_try /usr/share/dovecot/protocols.d/*.protocol\nssl = yes\n"
    res, _, eff, _, _ = run("2.4", text)
    assert res.ok and eff.imap_enabled()[0] is None


def test_sslv3_is_gone_from_24() -> None:
    text = HEAD + "ssl = yes\nssl_min_protocol = SSLv3\n"
    res, findings, _, _, _ = run("2.4", text)
    assert res.ok        # doveconf loads it; the TLS library then refuses the value
    f = next(f for f in findings if f.rule_id == "DOV013")
    assert f.location.line == 4 and "SSLv3" in f.message
    lib24 = rootfs24.require() / "usr/lib/dovecot/modules/libssl_iostream_openssl.so"
    lib23 = Path("/usr/lib/dovecot/modules/libssl_iostream_openssl.so")
    words24 = set(subprocess.run(["strings", str(lib24)], capture_output=True, text=True).stdout.split())
    words23 = set(subprocess.run(["strings", str(lib23)], capture_output=True, text=True).stdout.split())
    assert {"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"} <= words24 and "SSLv3" not in words24
    assert "SSLv3" in words23
    res, findings, _, _, _ = run("2.3", "ssl = yes\nssl_min_protocol = SSLv3\n")
    assert res.ok and "DOV013" not in ids(findings) and "DOV003" in ids(findings)


def test_24_group_includes_are_defaults_as_doveconf_says() -> None:
    group = "group @tls relaxed {\n  ssl_min_protocol = TLSv1\n}\n"
    for body in ("@tls = relaxed\n", "ssl_min_protocol = TLSv1.2\n@tls = relaxed\n",
                 "@tls = relaxed\nssl_min_protocol = TLSv1.3\n",
                 "ssl_min_protocol = TLSv1.3\nprotocol imap {\n  @tls = relaxed\n}\n"):
        text = HEAD + group + body
        res, _, eff, _, _ = run("2.4", text)
        assert res.ok
        assert eff.min_tls()[0] == value("2.4", text, "ssl_min_protocol"), body


def test_later_releases_and_plugins_are_not_config_errors() -> None:
    """imap4rev2_enable (2.4.2) and plugin settings are known; doveconf 2.4.1 is no proof."""
    text = (HEAD + "imap4rev2_enable = yes\nfts_flatcurve_substring_search = yes\n"
            "managesieve_notify_capability = mailto\nssl = required\n")
    _, findings, _, _, _ = run("2.4", text)
    assert "DOV013" not in ids(findings)
    res, findings, _, _, _ = run("2.3", "managesieve_notify_capability = mailto\n"
                                 "plugin {\n  fts_anything_goes = yes\n}\nssl = required\n")
    assert res.ok and "DOV013" not in ids(findings)


def test_an_unclosed_quote_in_a_string_setting_loads_in_24() -> None:
    """Only list settings parse quotes; doveconf 2.4 keeps a string's stray quote as text."""
    res, findings, _, _, _ = run("2.4", HEAD + 'log_timestamp = "%Y-%m-%d\nssl = required\n')
    assert res.ok and "DOV013" not in ids(findings)
