"""Rules of the dovecot family: the one place DOV001..DOV015 are written."""

from __future__ import annotations

from imap_gate.rules import Rule
from imap_gate.severity import Severity

_SSL = "https://doc.dovecot.org/2.3/configuration_manual/dovecot_ssl_configuration/"
_SSL24 = "https://doc.dovecot.org/2.4.0/core/config/ssl.html"
_SETTINGS = "https://doc.dovecot.org/2.3/settings/core/"
_SETTINGS24 = "https://doc.dovecot.org/2.4.0/core/summaries/settings.html"
_AUTH = "https://doc.dovecot.org/2.3/configuration_manual/authentication/authentication_mechanisms/"
_SERVICE = "https://doc.dovecot.org/2.3/configuration_manual/service_configuration/"
_CONFIG = "https://doc.dovecot.org/2.3/configuration_manual/config_file/config_file_syntax/"
_UPGRADE = "https://doc.dovecot.org/2.4.0/installation/upgrade/2.3-to-2.4.html"
_RFC8314 = "https://www.rfc-editor.org/rfc/rfc8314"
_RFC8996 = "https://www.rfc-editor.org/rfc/rfc8996"
_RFC7525 = "https://www.rfc-editor.org/rfc/rfc9325"
_LOG = "https://doc.dovecot.org/2.3/admin_manual/logging/"


def _lint(id: str, name: str, sev: Severity, short: str, full: str, remediation: str,
          refs: tuple[str, ...], precision: str = "high") -> Rule:
    return Rule(id=id, name=name, severity=sev, short=short, full=full, remediation=remediation,
                references=refs, kind="lint", precision=precision)


DOV001 = _lint("DOV001", "ssl-disabled", Severity.HIGH,
      "The Dovecot configuration turns TLS off (`ssl = no`).",
      "With `ssl = no` Dovecot offers neither STARTTLS on 143 nor implicit TLS on 993, so "
      "every password and every message crosses the network in clear text.",
      "Turn TLS on and require it before authentication, with a certificate:\n\n"
      "- Dovecot 2.3: `ssl = required` with `ssl_cert = </etc/dovecot/tls/fullchain.pem` "
      "and `ssl_key = </etc/dovecot/tls/privkey.pem`\n"
      "- Dovecot 2.4: `ssl = required` with `ssl_server_cert_file = "
      "/etc/dovecot/tls/fullchain.pem` and `ssl_server_key_file = "
      "/etc/dovecot/tls/privkey.pem`",
      (_SSL, _SSL24, _RFC8314))

DOV002 = _lint("DOV002", "cleartext-auth-allowed", Severity.HIGH,
      "A client on the internet may send its password before TLS is established.",
      "`disable_plaintext_auth = no` (2.3) or `auth_allow_cleartext = yes` (2.4), while "
      "`ssl` is not `required`, lets IMAP LOGIN and AUTHENTICATE PLAIN run on a cleartext "
      "connection: anyone on the path reads the password.",
      "Refuse cleartext authentication (or require TLS outright):\n\n"
      "- Dovecot 2.3: `disable_plaintext_auth = yes` (or `ssl = required`)\n"
      "- Dovecot 2.4: `auth_allow_cleartext = no` (or `ssl = required`)",
      (_SSL, _SETTINGS24 + "#auth_allow_cleartext", _RFC8314))

DOV003 = _lint("DOV003", "legacy-tls-allowed", Severity.MEDIUM,
      "The configuration allows TLS 1.0 or 1.1.",
      "TLS 1.0 and 1.1 are deprecated by RFC 8996; allowing them exposes clients to "
      "downgrade and to weak MAC and cipher constructions.",
      "Require TLS 1.2 or later:\n\n"
      "- Dovecot 2.3 (2.3.0 and later): `ssl_min_protocol = TLSv1.2` (and remove any 2.2-era "
      "`ssl_protocols`)\n"
      "- Dovecot 2.4: `ssl_min_protocol = TLSv1.2`\n"
      "- Dovecot 2.2: `ssl_protocols = !SSLv3 !TLSv1 !TLSv1.1`",
      (_SETTINGS + "#ssl-min-protocol", _SETTINGS24 + "#ssl_min_protocol", _RFC8996))

DOV004 = _lint("DOV004", "weak-ciphers", Severity.HIGH,
      "`ssl_cipher_list` enables broken or weak cipher suites.",
      "NULL, anonymous (aNULL) and EXPORT suites give no confidentiality or no "
      "authentication; RC4, DES, MD5, LOW and `@SECLEVEL=0` are broken; 3DES is "
      "vulnerable to Sweet32.",
      "Use the default list, or an explicit modern one, in both 2.3 and 2.4:\n\n"
      "`ssl_cipher_list = ALL:!kRSA:!SRP:!kDHd:!DSS:!aNULL:!eNULL:!EXPORT:!DES:!3DES:!MD5:"
      "!PSK:!RC4:!ADH:!LOW@STRENGTH`",
      (_SETTINGS + "#ssl-cipher-list", _SETTINGS24 + "#ssl_cipher_list", _RFC7525))

DOV005 = _lint("DOV005", "trusted-networks-too-broad", Severity.HIGH,
      "`login_trusted_networks` or `haproxy_trusted_networks` trusts the internet or a "
      "large public range.",
      "Clients from trusted networks are treated as secure: Dovecot lets them authenticate "
      "in cleartext (2.3 `disable_plaintext_auth`, 2.4 `auth_allow_cleartext` do not apply) "
      "and believes the client address they claim, so a broad range switches the "
      "cleartext protection off for the internet.",
      "List only your own proxies or internal networks, in both 2.3 and 2.4, e.g.:\n\n"
      "`login_trusted_networks = 10.0.0.0/8 192.168.10.5`",
      (_SETTINGS + "#login-trusted-networks", _SETTINGS24 + "#login_trusted_networks",
       _RFC8314))

DOV006 = _lint("DOV006", "relaxed-filter", Severity.HIGH,
      "A `remote`/`local` filter relaxes TLS or cleartext-auth settings for a broad network.",
      "Settings inside `remote <net> {}` or `local <ip> {}` override the global ones for "
      "those connections; relaxing `ssl`, cleartext authentication or the TLS minimum for a "
      "large or public range undoes the global protection for those clients.",
      "Relax only for loopback or a small internal range, or drop the override.\n\n"
      "Dovecot 2.3:\n\n```\nremote 10.0.0.0/8 {\n  disable_plaintext_auth = no\n}\n```\n\n"
      "Dovecot 2.4:\n\n```\nremote 10.0.0.0/8 {\n  auth_allow_cleartext = yes\n}\n```",
      (_CONFIG, _SETTINGS24, _RFC8314), precision="medium")

DOV007 = _lint("DOV007", "password-logging", Severity.HIGH,
      "Dovecot is configured to write passwords to its logs.",
      "`auth_verbose_passwords = yes|plain` logs the password of failed logins and "
      "`auth_debug_passwords = yes` logs passwords in debug output: logs are copied, "
      "shipped and kept far longer and wider than a password store.",
      "Never log passwords (same line in 2.3 and 2.4):\n\n"
      "`auth_verbose_passwords = no` (or `sha1` to tell brute force from typos) and "
      "`auth_debug_passwords = no`",
      (_SETTINGS + "#auth-verbose-passwords", _SETTINGS24 + "#auth_verbose_passwords"))

DOV008 = _lint("DOV008", "cleartext-listener", Severity.LOW,
      "The IMAP listener on 143 is active on a public address.",
      "Port 143 starts in cleartext; even with STARTTLS a client or an attacker in the path "
      "can strip the upgrade. RFC 8314 recommends implicit TLS on 993 only.",
      "Disable the cleartext listener and keep 993 (same block in 2.3 and 2.4):\n\n"
      "```\nservice imap-login {\n  inet_listener imap {\n    port = 0\n  }\n}\n```",
      (_SERVICE, _RFC8314))

DOV009 = _lint("DOV009", "imaps-disabled", Severity.MEDIUM,
      "The implicit-TLS IMAP listener (993) is disabled or runs without TLS.",
      "Without a working imaps listener clients must use 143 and STARTTLS, which an "
      "attacker can strip; RFC 8314 prefers implicit TLS.",
      "Keep 993 with TLS (same block in 2.3 and 2.4):\n\n"
      "```\nservice imap-login {\n  inet_listener imaps {\n    port = 993\n    ssl = yes\n"
      "  }\n}\n```",
      (_SERVICE, _RFC8314))

DOV010 = _lint("DOV010", "insecure-auth-mechanism", Severity.MEDIUM,
      "`auth_mechanisms` enables a weak or anonymous authentication mechanism.",
      "ANONYMOUS lets anyone in; NTLM, RPA, SKEY and OTP are broken or obsolete; CRAM-MD5, "
      "DIGEST-MD5 and APOP require passwords stored in a reversible form and offer no "
      "protection that TLS does not already give better.",
      "Offer PLAIN and LOGIN over TLS only (same line in 2.3 and 2.4), or SCRAM:\n\n"
      "`auth_mechanisms = plain login`",
      (_AUTH, _SETTINGS24 + "#auth_mechanisms"))

DOV011 = _lint("DOV011", "private-key-in-repo", Severity.CRITICAL,
      "A TLS private key is committed to the repository.",
      "Anyone who can read the repository (forks, CI logs, backups) can impersonate the "
      "server and decrypt recorded sessions that did not use forward secrecy.",
      "Remove the key from the repository and its history, rotate it, and reference it "
      "from the host or a secret store:\n\n"
      "- Dovecot 2.3: `ssl_key = </etc/dovecot/private/privkey.pem`\n"
      "- Dovecot 2.4: `ssl_server_key_file = /etc/dovecot/private/privkey.pem`",
      (_SSL, _SSL24))

DOV012 = _lint("DOV012", "config-version-disclosure", Severity.LOW,
      "The IMAP greeting or ID response discloses software version or OS details.",
      "A version in `login_greeting` or `imap_id_send` tells attackers which exploits to "
      "try without any probing.",
      "Keep the greeting neutral and send only the name (2.3 and 2.4):\n\n"
      "`login_greeting = Dovecot ready.`\n\n"
      "- Dovecot 2.3: `imap_id_send = name`\n"
      "- Dovecot 2.4:\n\n```\nimap_id_send {\n  name = Dovecot\n}\n```",
      (_SETTINGS + "#login-greeting", _SETTINGS24 + "#imap_id_send"))

DOV013 = _lint("DOV013", "config-error", Severity.MEDIUM,
      "The Dovecot configuration cannot be loaded as written.",
      "An unparseable line, an unbalanced brace, a missing `!include`, an include that "
      "leaves the repository, or a file mixing 2.3 and 2.4 names makes `doveconf` refuse "
      "the whole configuration, and the settings the gate judged may not be the ones "
      "deployed.",
      "Fix the line named in the finding; check with `doveconf -c dovecot.conf -n`. For "
      "2.4, `dovecot_config_version = 2.4.0` must be the first setting and only 2.4 names "
      "may be used (e.g. `auth_allow_cleartext` instead of `disable_plaintext_auth`, "
      "`ssl_server_cert_file` instead of `ssl_cert`).",
      (_CONFIG, _UPGRADE))

DOV014 = _lint("DOV014", "debug-logging", Severity.LOW,
      "Debug logging is enabled in the Dovecot configuration.",
      "`mail_debug`, `auth_debug` and `verbose_ssl` log internal details (user names, "
      "lookups, TLS state) that do not belong in production logs.",
      "Turn debug logging off in production:\n\n"
      "- Dovecot 2.3: `auth_debug = no`, `mail_debug = no`, `verbose_ssl = no`\n"
      "- Dovecot 2.4: `mail_debug = no` and no `log_debug` filter (2.4 replaced "
      "`auth_debug` and `verbose_ssl` with `log_debug = category=auth` / `category=ssl`)",
      (_LOG, _SETTINGS24))

DOV015 = _lint("DOV015", "templated-value", Severity.MEDIUM,
      "A security-relevant setting is templated and could not be judged.",
      "The value is filled in, or the line kept or dropped, by a deployment tool (a Jinja "
      "or ERB placeholder or `{% if %}` block, iRedMail PH_*, shell variables); the gate "
      "never guesses it, so this setting is unverified. Template constructs are never "
      "reported as configuration errors (DOV013); the same principle and severity hold for "
      "firewall files (FW006).",
      "Lint the rendered output instead: render the template in CI with the production "
      "variables (e.g. `ansible -m template`, `jinja2-cli`, `erb`) and list the rendered file "
      "in the manifest, or make sure the variable's value is safe, e.g. `ssl = required` "
      "(2.3 and 2.4), `disable_plaintext_auth = yes` (2.3), `auth_allow_cleartext = no` "
      "(2.4).",
      (_CONFIG,))

# The family's rules in catalogue order (README table, docs/rules.md).
RULES: tuple[Rule, ...] = (
    DOV001, DOV002, DOV003, DOV004, DOV005, DOV006,
    DOV007, DOV008, DOV009, DOV010, DOV011, DOV012,
    DOV013, DOV014, DOV015,
)
