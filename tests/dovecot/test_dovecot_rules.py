"""Each DOV rule: fires on the insecure line, stays quiet on the safe one."""

from __future__ import annotations

from pathlib import Path

import pytest

from checks.dovecot.check import lint_file
from checks.dovecot.judge import weak_cipher_classes
from checks.dovecot.rules import RULES
from imap_gate import catalogue
from imap_gate.severity import Severity

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "dovecot"


def lint(tmp_path: Path, text: str, name: str = "dovecot.conf", **files: str):
    (tmp_path / name).write_text(text, encoding="utf-8")
    for rel, body in files.items():
        p = tmp_path / rel.replace("__", "/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(body, encoding="utf-8")
    findings, eff, _ = lint_file(tmp_path, name)
    return findings, eff


def ids(findings) -> list[str]:
    return sorted(f.rule_id for f in findings if not f.waived)


def test_catalogue_has_the_fifteen_rules_as_specified() -> None:
    expected = {
        "DOV001": ("ssl-disabled", Severity.HIGH), "DOV002": ("cleartext-auth-allowed", Severity.HIGH),
        "DOV003": ("legacy-tls-allowed", Severity.MEDIUM), "DOV004": ("weak-ciphers", Severity.HIGH),
        "DOV005": ("trusted-networks-too-broad", Severity.HIGH),
        "DOV006": ("relaxed-filter", Severity.HIGH), "DOV007": ("password-logging", Severity.HIGH),
        "DOV008": ("cleartext-listener", Severity.LOW), "DOV009": ("imaps-disabled", Severity.MEDIUM),
        "DOV010": ("insecure-auth-mechanism", Severity.MEDIUM),
        "DOV011": ("private-key-in-repo", Severity.CRITICAL),
        "DOV012": ("config-version-disclosure", Severity.LOW), "DOV013": ("config-error", Severity.MEDIUM),
        "DOV014": ("debug-logging", Severity.LOW), "DOV015": ("templated-value", Severity.MEDIUM),
    }
    got = {r.id: (r.name, r.severity) for r in RULES}
    assert got == expected
    for r in RULES:
        assert r.kind == "lint" and r.references and "`" in r.remediation
        assert catalogue.get(r.id) is r


def test_secure_config_is_clean(tmp_path: Path) -> None:
    findings, eff = lint(tmp_path, (FIXTURES / "secure.conf").read_text())
    assert ids(findings) == []
    assert eff.ssl_mode()[0] == "required"
    assert eff.cleartext_auth_allowed(143)[0] is False
    assert eff.listener_ports()[0] == {"imap": 0, "imaps": 993}


def test_insecure_config_fires_each_rule_at_its_line(tmp_path: Path) -> None:
    text = (FIXTURES / "insecure.conf").read_text()
    findings, eff = lint(tmp_path, text)
    lines = text.splitlines()
    by_rule: dict[str, list] = {}
    for f in findings:
        by_rule.setdefault(f.rule_id, []).append(f)
    # TLS is off, so DOV003/DOV004 are moot; every other rule fires
    for rule in ("DOV001", "DOV002", "DOV005", "DOV007", "DOV008", "DOV009", "DOV010", "DOV012",
                 "DOV014"):
        assert rule in by_rule, rule
    for f in findings:
        assert f.location.path == "dovecot.conf"
        assert f.key and "line" not in f.key and f.key.startswith("file=dovecot.conf;")
        assert f.evidence.strip() in lines[f.location.line - 1] or not f.evidence
    dov001 = by_rule["DOV001"][0]
    assert (dov001.location.line, dov001.location.column) == (2, 1)
    assert dov001.key == "file=dovecot.conf;setting=ssl"
    assert by_rule["DOV002"][0].location.line == 3
    assert {f.location.line for f in by_rule["DOV007"]} == {8, 9}
    assert {f.location.line for f in by_rule["DOV014"]} == {10, 11, 12}
    assert by_rule["DOV010"][0].sev == Severity.MEDIUM
    assert eff.cleartext_auth_allowed(143)[0] is True
    assert eff.ssl_mode() == ("no", dov001.location)


def test_tls_rules_when_ssl_is_on(tmp_path: Path) -> None:
    findings, eff = lint(tmp_path, "ssl = yes\nssl_min_protocol = TLSv1.1\n"
                         "ssl_cipher_list = ALL:!aNULL:RC4-SHA:3DES\n")
    assert ids(findings) == ["DOV003", "DOV004"]
    assert eff.min_tls() == ("TLSv1.1", findings[0].location if findings[0].rule_id == "DOV003"
                             else findings[1].location)
    dov004 = next(f for f in findings if f.rule_id == "DOV004")
    assert dov004.sev == Severity.HIGH and "RC4" in dov004.message and "3DES" in dov004.message


@pytest.mark.parametrize(("ciphers", "worst"), [
    ("ALL:!kRSA:!SRP:!kDHd:!DSS:!aNULL:!eNULL:!EXPORT:!DES:!3DES:!MD5:!PSK:!RC4:!ADH:!LOW@STRENGTH",
     None),
    ("HIGH:!aNULL:!MD5", None),
    ("ECDHE+AESGCM:ECDHE+CHACHA20", None),
    ("ALL", Severity.CRITICAL),                  # ALL includes anonymous suites
    ("HIGH:eNULL", Severity.CRITICAL),
    ("EXP-RC4-MD5:HIGH", Severity.CRITICAL),
    ("HIGH:RC4:!aNULL", Severity.HIGH),
    ("HIGH:!aNULL@SECLEVEL=0", Severity.HIGH),
    ("HIGH:!aNULL:DES-CBC3-SHA", Severity.MEDIUM),
    ("HIGH:RC4:!RC4:!aNULL", None),              # a later '!' is final
])
def test_cipher_classes(ciphers: str, worst: Severity | None) -> None:
    got = weak_cipher_classes(ciphers)
    assert (got[0][1] if got else None) == worst


def test_ssl_required_makes_cleartext_impossible(tmp_path: Path) -> None:
    findings, eff = lint(tmp_path, "ssl = required\ndisable_plaintext_auth = no\n")
    assert "DOV002" not in ids(findings)
    assert eff.cleartext_auth_allowed(143)[0] is False


def test_fragment_absent_settings_are_not_insecure(tmp_path: Path) -> None:
    findings, eff = lint(tmp_path, "mail_location = maildir:~/Maildir\n")
    assert ids(findings) == []
    assert eff.ssl_mode() == ("yes", None)
    assert eff.cleartext_auth_allowed(143) == (False, None)
    assert eff.min_tls() == ("TLSv1.2", None)
    assert eff.version()[0] == "2.3"


def test_2_2_default_ssl_protocols_points_at_first_line(tmp_path: Path) -> None:
    findings, eff = lint(tmp_path, "# old\nssl_parameters_regenerate = 168\n")
    f = next(f for f in findings if f.rule_id == "DOV003")
    assert f.location.line == 1 and "default" in f.message
    findings, eff = lint(tmp_path, (FIXTURES / "legacy22.conf").read_text())
    f = next(f for f in findings if f.rule_id == "DOV003")
    assert f.location.line == 3 and eff.min_tls()[0] == "TLSv1"


def test_trusted_networks(tmp_path: Path) -> None:
    for nets, fires in (("0.0.0.0/0", True), ("::/0", True), ("8.0.0.0/8", True),
                        ("10.0.0.0/8 192.168.0.0/16 127.0.0.1", False), ("203.0.113.5/32", False),
                        ("mail.example.org", False)):
        findings, _ = lint(tmp_path, f"login_trusted_networks = {nets}\n")
        assert ("DOV005" in ids(findings)) == fires, nets
    findings, _ = lint(tmp_path, "haproxy_trusted_networks = 0.0.0.0/0\n")
    assert ids(findings) == ["DOV005"]


def test_filters(tmp_path: Path) -> None:
    findings, eff = lint(tmp_path, (FIXTURES / "filters.conf").read_text())
    dov006 = [f for f in findings if f.rule_id == "DOV006"]
    # remote 0.0.0.0/0 relaxes auth; local 93.184.216.34 (public) turns ssl off;
    # remote 10.0.0.0/8 and local 127.0.0.1 are internal and fine
    assert sorted(f.location.line for f in dov006) == [10, 19]
    assert {f.key for f in dov006} == {
        "file=dovecot.conf;setting=disable_plaintext_auth;filter=remote 0.0.0.0/0",
        "file=dovecot.conf;setting=ssl;filter=local 93.184.216.34"}
    # protocol imap lowers the TLS minimum for imap; pop3's ssl = no is not imap's
    assert eff.min_tls()[0] == "TLSv1.1" and eff.ssl_mode()[0] == "yes"
    assert "DOV001" not in ids(findings) and "DOV003" in ids(findings)


def test_global_after_filter_keeps_filter_value(tmp_path: Path) -> None:
    _findings, eff = lint(tmp_path, (FIXTURES / "order.conf").read_text())
    assert eff.ssl_mode()[0] == "yes"          # protocol imap { ssl = yes } wins
    assert eff.value("auth_mechanisms")[0] == "plain login"
    assert eff.value("disable_plaintext_auth") == ("no", eff.lookup("disable_plaintext_auth").loc)
    assert eff.lookup("disable_plaintext_auth").loc.line == 9   # continuation starts there


def test_password_logging_variants(tmp_path: Path) -> None:
    for text, fires in (("auth_verbose_passwords = sha1\n", False),
                        ("auth_verbose_passwords = yes\n", True),
                        ("protocol pop3 {\n  auth_debug_passwords = yes\n}\n", True),
                        ("auth_verbose_passwords = plain\nauth_verbose_passwords = no\n", False)):
        findings, _ = lint(tmp_path, text)
        assert ("DOV007" in ids(findings)) == fires, text


def test_listeners(tmp_path: Path) -> None:
    findings, eff = lint(tmp_path, "protocols = imap\nlisten = 127.0.0.1\n")
    assert "DOV008" not in ids(findings)
    findings, eff = lint(tmp_path, "protocols = imap\n")
    assert ids(findings) == ["DOV008"] and findings[0].location.line == 1
    findings, eff = lint(tmp_path, "protocols = pop3\nservice imap-login {\n inet_listener imaps {\n"
                         "  port = 0\n }\n}\n")
    assert ids(findings) == [] and eff.listener_ports()[0] == {"imap": 0, "imaps": 0}
    findings, eff = lint(tmp_path, "service imap-login {\n inet_listener imaps {\n  ssl = no\n }\n}\n")
    assert ids(findings) == ["DOV009"] and findings[0].location.line == 3
    assert eff.cleartext_auth_allowed(993)[0] is False   # auth policy still refuses cleartext


def test_private_key_committed(tmp_path: Path) -> None:
    key = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"
    findings, _ = lint(tmp_path, "ssl_cert = <tls/cert.pem\nssl_key = <tls/key.pem\n",
                       **{"tls__key.pem": key, "tls__cert.pem": "-----BEGIN CERTIFICATE-----\n"})
    f = next(f for f in findings if f.rule_id == "DOV011")
    assert f.location.line == 2 and f.sev == Severity.CRITICAL
    assert f.related[0].path == "tls/key.pem"
    # an absolute deployment path mirrored in the repository is found too
    findings, _ = lint(tmp_path, "ssl_key = </etc/dovecot/private/key.pem\n",
                       **{"etc__dovecot__private__key.pem": key})
    assert "DOV011" in ids(findings)
    # a path that is not in the repository is not a finding
    findings, _ = lint(tmp_path, "ssl_key = </srv/nowhere/key.pem\n")
    assert "DOV011" not in ids(findings)


def test_version_disclosure(tmp_path: Path) -> None:
    findings, _ = lint(tmp_path, "login_greeting = Mail server ready.\nimap_id_send = name *\n")
    assert ids(findings) == []
    findings, _ = lint(tmp_path, "login_greeting = Dovecot 2.3.21 (Ubuntu) ready.\n")
    assert ids(findings) == ["DOV012"]


def test_templated_values_are_not_guessed(tmp_path: Path) -> None:
    text = ("ssl = {{ dovecot_ssl }}\ndisable_plaintext_auth = <%= @plain %>\n"
            "ssl_min_protocol = PH_SSL_MIN\nauth_mechanisms = ${MECHS}\nssl_cipher_list = %ciphers\n"
            "{% if x %}\nssl = no\n{% endif %}\n")
    findings, eff = lint(tmp_path, text)
    assert "DOV013" not in ids(findings)
    notes = [f for f in findings if f.rule_id == "DOV015"]
    assert {f.location.line for f in notes} >= {1, 2, 3, 4, 5, 7}
    # one principle for both families: could not be judged, at FW006's severity; control
    # lines alone decide nothing (the settings inside them are judged as conditional)
    assert all(f.sev == Severity.MEDIUM for f in notes if "control line" not in f.message)
    assert [f.sev for f in notes if "control line" in f.message] == [Severity.LOW]
    assert "DOV001" not in ids(findings)        # `ssl = no` exists only if the template says so
    assert eff.min_tls()[0] is None
    assert eff.value("auth_mechanisms")[0] is None


def test_template_blocks_are_templated_not_config_errors(tmp_path: Path) -> None:
    """Issue 14: a ``{%- if -%}`` block continuing a value was "doveconf refuses" (DOV013)."""
    text = ("ssl = required\n"
            "mail_plugins = $mail_plugins quota {%- if fts_enabled -%}\n"
            "  fts fts_xapian\n"
            "{%- endif %}\n"
            "{%- if tls %}\nssl = required\n{%- else %}\nssl = no\n"
            "disable_plaintext_auth = no\n{%- endif %}\n"
            "<% if @legacy %>\n  auth_mechanisms = plain login cram-md5\n<% end %>\n")
    findings, eff = lint(tmp_path, text)
    assert "DOV013" not in ids(findings)
    assert not {"DOV001", "DOV002", "DOV010"} & set(ids(findings))
    lines = {f.location.line for f in findings if f.rule_id == "DOV015"}
    assert {6, 8, 9, 12} <= lines
    assert eff.ssl_mode()[0] is None


def test_version_24_names_and_groups(tmp_path: Path) -> None:
    findings, eff = lint(tmp_path, (FIXTURES / "v24.conf").read_text())
    assert eff.version()[0] == "2.4"
    assert eff.cleartext_auth_allowed(143)[0] is True
    assert "DOV002" in ids(findings)
    assert eff.min_tls()[0] == "TLSv1"          # the @tls group, included in protocol imap
    assert "DOV003" in ids(findings)
    assert "DOV013" not in ids(findings)


def test_24_group_settings_are_defaults_of_their_scope(tmp_path: Path) -> None:
    """doveconf 2.4.1: a setting written in the scope beats the group it includes, in any order
    (checked against the real 2.4 in test_dovecot_v24.py)."""
    head = "dovecot_config_version = 2.4.0\ndovecot_storage_version = 2.4.0\n"
    group = "group @tls relaxed {\n  ssl_min_protocol = TLSv1\n}\n"
    for body, want in (("@tls = relaxed\n", "TLSv1"),
                       ("ssl_min_protocol = TLSv1.2\n@tls = relaxed\n", "TLSv1.2"),
                       ("@tls = relaxed\nssl_min_protocol = TLSv1.3\n", "TLSv1.3")):
        _findings, eff = lint(tmp_path, head + group + body)
        assert eff.min_tls()[0] == want, body


def test_mixed_versions_and_not_first(tmp_path: Path) -> None:
    findings, _ = lint(tmp_path, "dovecot_config_version = 2.4.0\ndisable_plaintext_auth = yes\n")
    assert "DOV013" in ids(findings)
    findings, _ = lint(tmp_path, "protocols = imap\ndovecot_config_version = 2.4.0\n")
    f = next(f for f in findings if f.rule_id == "DOV013")
    assert "first" in f.message and f.location.line == 1


@pytest.mark.parametrize(("text", "line"), [
    ("ssl = yes\nprotocol imap\n  ssl = no\n", 2),          # missing '{'
    ("ssl = yes\nprotocol imap {\n  ssl = no\n", 2),        # never closed
    ("ssl = yes\n}\n", 2),                                  # stray brace
    ("ssl = NO\n", 1),                                      # invalid value
    ("protocol imap { ssl = no }\n", 1),                    # garbage after '{'
    ("!include missing.conf\n", 1),
    ("!include ../outside.conf\n", 1),
])
def test_config_errors_point_at_the_line(tmp_path: Path, text: str, line: int) -> None:
    findings, _ = lint(tmp_path, text)
    errs = [f for f in findings if f.rule_id == "DOV013"]
    assert errs and errs[0].location.line == line


def test_include_try_missing_is_fine_and_cycles_stop(tmp_path: Path) -> None:
    findings, _ = lint(tmp_path, "!include_try local.conf\nssl = required\n")
    assert ids(findings) == []
    findings, _ = lint(tmp_path, "!include a.conf\n", a__conf="!include ../dovecot.conf\n")
    assert ids(findings) == ["DOV013"]
    findings, _ = lint(tmp_path, "!include a.conf\n", **{"a.conf": "!include dovecot.conf\n"})
    assert ids(findings) == ["DOV013"] and "cycle" in findings[0].message


def test_binary_and_non_utf8(tmp_path: Path) -> None:
    # doveconf reads bytes: a non-UTF-8 value is an invalid value, not an unreadable file
    (tmp_path / "dovecot.conf").write_bytes(b"ssl = \xff\xfe\n")
    findings, _, _ = lint_file(tmp_path, "dovecot.conf")
    assert ids(findings) == ["DOV013"] and "'\\xff\\xfe' is not a valid value" in findings[0].message
    (tmp_path / "dovecot.conf").write_bytes(b"\x00\x01binary")
    findings, _, _ = lint_file(tmp_path, "dovecot.conf")
    assert ids(findings) == ["DOV013"] and "binary" in findings[0].message


def test_latin1_comment_is_read_as_doveconf_reads_it(tmp_path: Path) -> None:
    """Issue 14: one Latin-1 byte in a comment hid ``ssl = no`` behind a "not UTF-8" DOV013."""
    (tmp_path / "dovecot.conf").write_bytes(
        b"# Caf\xe9 mail server\nssl = no\n  disable_plaintext_auth = no\n"
        b"login_greeting = Caf\xe9 ready\n")
    findings, eff, _ = lint_file(tmp_path, "dovecot.conf")
    assert ids(findings) == ["DOV001", "DOV002"]
    by = {f.rule_id: f for f in findings}
    assert (by["DOV001"].location.line, by["DOV001"].location.column) == (2, 1)
    assert (by["DOV002"].location.line, by["DOV002"].location.column) == (3, 3)
    value, loc = eff.value("login_greeting")
    assert value is not None and value.encode("utf-8", "surrogateescape") == b"Caf\xe9 ready"
    assert loc is not None and loc.line == 4
    for f in findings:
        f.fingerprint  # noqa: B018 - findings stay UTF-8 text (SARIF, fingerprints)


def test_trusted_everyone_skips_even_ssl_required(tmp_path: Path) -> None:
    findings, eff = lint(tmp_path, "ssl = required\nlogin_trusted_networks = 0.0.0.0/0\n")
    allowed, loc = eff.cleartext_auth_allowed(143)
    assert allowed is True and loc is not None and loc.line == 2
    assert eff.cleartext_auth_allowed(993)[0] is False
    assert ids(findings) == ["DOV005"]
    _, eff = lint(tmp_path, "ssl = required\nlogin_trusted_networks = 10.0.0.0/8\n")
    assert eff.cleartext_auth_allowed(143)[0] is False


def test_protocol_lists_and_negation(tmp_path: Path) -> None:
    findings, eff = lint(tmp_path, (FIXTURES / "multiproto.conf").read_text())
    assert ids(findings) == []
    assert eff.value("auth_mechanisms")[0] == "plain login"
    assert eff.value("ssl_cipher_list")[0] == "HIGH:!aNULL:!MD5"
    assert eff.ssl_mode()[0] == "yes" and eff.min_tls()[0] == "TLSv1.2"
    # doveconf 2.3 takes one protocol per filter: "Expecting '{'"
    findings, _ = lint(tmp_path, "protocol imap pop3 {\n  ssl = no\n}\n")
    assert ids(findings) == ["DOV013"] and findings[0].location.line == 1


def test_24_trusted_networks_still_need_tls_under_ssl_required(tmp_path: Path) -> None:
    _, eff = lint(tmp_path, "dovecot_config_version = 2.4.0\nssl = required\n"
                  "login_trusted_networks = 0.0.0.0/0\n")
    assert eff.cleartext_auth_allowed(143)[0] is False
    _, eff = lint(tmp_path, "dovecot_config_version = 2.4.0\nlogin_trusted_networks = ::/0\n")
    assert eff.cleartext_auth_allowed(143)[0] is True


def test_1x_ssl_disable(tmp_path: Path) -> None:
    findings, eff = lint(tmp_path, "protocols = imap imaps\nssl_disable = yes\n")
    assert eff.ssl_mode()[0] == "no" and eff.info.dialect == "2.2"
    f = next(f for f in findings if f.rule_id == "DOV001")
    assert f.location.line == 2


def test_24_prefix_filter_detects_version(tmp_path: Path) -> None:
    _, eff = lint(tmp_path, "ssl_server {\n  cert_file = /etc/c.pem\n}\n")
    assert eff.version()[0] == "2.4"


def test_dovecot_percent_variables_are_not_templates(tmp_path: Path) -> None:
    findings, eff = lint(tmp_path, 'login_log_format_elements = "user=<%u> method=%m rip=%r %c"\n'
                         "mail_location = maildir:/var/vmail/%d/%n\nssl = no\n")
    assert ids(findings) == ["DOV001"] and eff.ssl_mode()[0] == "no"


def test_templated_ports_of_other_services_are_not_noted(tmp_path: Path) -> None:
    findings, _ = lint(tmp_path, "service lmtp {\n  inet_listener lmtp {\n    port = {{ p }}\n  }\n}\n"
                       "service imap-login {\n  inet_listener imap {\n    port = {{ q }}\n  }\n}\n")
    assert [(f.rule_id, f.location.line) for f in findings] == [("DOV015", 8)]


@pytest.mark.parametrize(("net", "broad"), [
    ("0.0.0.0/0", True), ("0.0.0.0/1", True), ("128.0.0.0/2", True), ("8.0.0.0/8", True),
    ("::/0", True), ("2000::/3", True), ("10.0.0.0/8", False), ("172.16.0.0/12", False),
    ("8.8.8.0/24", False), ("fd00::/8", False), ("127.0.0.0/8", False),
])
def test_broad_public_ranges(net: str, broad: bool) -> None:
    import ipaddress

    from checks.dovecot.judge import broad_public
    assert broad_public(ipaddress.ip_network(net)) is broad


def test_file_values_are_read_inside_the_root(tmp_path: Path) -> None:
    findings, eff = lint(tmp_path, "login_trusted_networks = <trusted.txt\n",
                         **{"trusted.txt": "10.0.0.0/8\n0.0.0.0/0\n"})
    assert eff.value("login_trusted_networks")[0] == "10.0.0.0/8 0.0.0.0/0"
    assert ids(findings) == ["DOV005"] and findings[0].location.line == 1
    _, eff = lint(tmp_path, "login_trusted_networks = </etc/dovecot/nowhere.txt\n")
    assert eff.value("login_trusted_networks")[0] == "/etc/dovecot/nowhere.txt"


def test_24_boollist_blocks(tmp_path: Path) -> None:
    findings, eff = lint(tmp_path, "dovecot_config_version = 2.4.0\nauth_mechanisms = plain login\n"
                         "auth_mechanisms {\n  login = no\n  cram-md5 = yes\n}\n"
                         "login_trusted_networks {\n  0.0.0.0/0 = yes\n}\n")
    assert eff.value("auth_mechanisms")[0] == "plain cram-md5"
    by = {f.rule_id: f for f in findings}
    assert by["DOV010"].location.line == 5
    assert by["DOV005"].location.line == 8


def test_keys_name_the_filter(tmp_path: Path) -> None:
    findings, _ = lint(tmp_path, "protocol imap {\n  ssl = no\n}\n")
    assert findings[0].key == "file=dovecot.conf;setting=ssl;filter=protocol imap"
    assert (findings[0].location.line, findings[0].location.column) == (2, 3)


def test_line_prefix_placeholders_are_template_conditionals(tmp_path: Path) -> None:
    """modoboa keeps or comments out whole lines with a ``%{flag}`` prefix; the block they
    open and close must balance, and what they set is conditional, never a config error."""
    text = ("service auth {\n  unix_listener auth-userdb {\n    mode = 0600\n  }\n"
            "  %{radicale_enabled}unix_listener auth-radicale {\n"
            "  %{radicale_enabled}  mode = 0666\n  %{radicale_enabled}}\n}\n"
            "service auth-worker {\n}\n%{legacy}ssl = no\n")
    findings, eff = lint(tmp_path, text)
    assert "DOV013" not in ids(findings) and "DOV001" not in ids(findings)
    assert eff.ssl_mode()[0] is None
    assert any(f.rule_id == "DOV015" and f.location.line == 11 for f in findings)
