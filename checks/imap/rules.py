"""Rules of the imap family: what the live probe on 143/993 can find."""

from __future__ import annotations

from imap_gate.rules import Rule
from imap_gate.severity import Severity

RFC3501 = "https://www.rfc-editor.org/rfc/rfc3501"
RFC9051 = "https://www.rfc-editor.org/rfc/rfc9051"
RFC8314 = "https://www.rfc-editor.org/rfc/rfc8314"
RFC2595 = "https://www.rfc-editor.org/rfc/rfc2595"
RFC2971 = "https://www.rfc-editor.org/rfc/rfc2971"
RFC4505 = "https://www.rfc-editor.org/rfc/rfc4505"
RFC6331 = "https://www.rfc-editor.org/rfc/rfc6331"
NO_STARTTLS = "https://www.usenix.org/conference/usenixsecurity21/presentation/poddebniak"
NO_STARTTLS_SITE = "https://nostarttls.secvuln.info/"
DOVECOT_SSL = "https://doc.dovecot.org/2.3/configuration_manual/dovecot_ssl_configuration/"
DOVECOT_24_SETTINGS = "https://doc.dovecot.org/latest/core/summaries/settings.html"

_REQUIRE_TLS = """Dovecot 2.3 (`conf.d/10-ssl.conf`, `conf.d/10-auth.conf`):

```
ssl = required
disable_plaintext_auth = yes
```

Dovecot 2.4:

```
ssl = required
auth_allow_cleartext = no
```"""

IMAP001 = Rule(
    id="IMAP001",
    name="preauth-greeting",
    severity=Severity.CRITICAL,
    short="The server greets with PREAUTH on a cleartext port, so the session can never be "
          "protected by STARTTLS.",
    full="A `* PREAUTH` greeting puts the session in the authenticated state before any "
         "command. STARTTLS is only allowed in the not-authenticated state (RFC 3501 6.2.1, "
         "RFC 9051), so the whole mailbox is served in clear text, and an attacker on the "
         "path can inject a PREAUTH greeting to strip TLS from clients that do not insist on "
         "it (the NO STARTTLS paper, USENIX Security 2021).",
    remediation="Do not pre-authenticate on a network listener: remove the `preauth`/"
                 "`imap -p` style wrapper (e.g. an `inetd`/`stunnel` line that starts "
                 "`/usr/lib/dovecot/imap` directly) and let `imap-login` authenticate. "
                 "Serve mail over implicit TLS on 993, and keep clients on `SSL/TLS`, "
                 "not `STARTTLS if available`.",
    references=(RFC3501, RFC9051, NO_STARTTLS),
)

IMAP002 = Rule(
    id="IMAP002",
    name="starttls-missing",
    severity=Severity.HIGH,
    short="The cleartext IMAP port answers but does not offer STARTTLS.",
    full="Without the STARTTLS capability every session on this port, password and mail "
         "included, crosses the network in clear text; clients that are set to "
         "`STARTTLS` refuse to connect, clients set to `none` leak everything.",
    remediation="Enable TLS with a certificate. Dovecot 2.3:\n\n```\nssl = required\n"
                "ssl_cert = </etc/ssl/mail/fullchain.pem\nssl_key = </etc/ssl/private/mail.key\n"
                "disable_plaintext_auth = yes\n```\n\nDovecot 2.4:\n\n```\nssl = required\n"
                "ssl_server_cert_file = /etc/ssl/mail/fullchain.pem\n"
                "ssl_server_key_file = /etc/ssl/private/mail.key\nauth_allow_cleartext = no\n"
                "```\n\nOr close 143 and serve implicit TLS on 993 only (RFC 8314).",
    references=(RFC3501, RFC2595, RFC8314, DOVECOT_SSL),
)

IMAP003 = Rule(
    id="IMAP003",
    name="starttls-broken",
    severity=Severity.HIGH,
    short="STARTTLS is advertised but refused, or the TLS handshake after it fails.",
    full="Clients that see STARTTLS try it; when the server answers NO/BAD or the handshake "
         "fails, strict clients cannot connect and lax ones fall back to clear text. The "
         "same rule reports, at low severity, a server that still advertises STARTTLS "
         "inside TLS (RFC 3501 6.2.1 forbids it), which points at a broken TLS layer or a "
         "proxy in the path.",
    remediation="Check the certificate and key the server loads and its TLS log lines "
                "(`doveadm log errors`). Dovecot 2.3: `ssl = required`, `ssl_cert = "
                "</path/fullchain.pem`, `ssl_key = </path/key.pem`; Dovecot 2.4: "
                "`ssl_server_cert_file = /path/fullchain.pem`, `ssl_server_key_file = "
                "/path/key.pem`. Make sure no proxy or middlebox in front of port 143 "
                "strips or answers STARTTLS itself.",
    references=(RFC3501, RFC2595, DOVECOT_SSL),
)

IMAP004 = Rule(
    id="IMAP004",
    name="cleartext-auth",
    severity=Severity.HIGH,
    short="The server would take a password before TLS: no LOGINDISABLED, or a '+' to "
          "AUTHENTICATE PLAIN.",
    full="Before STARTTLS the server either does not advertise LOGINDISABLED (RFC 3501 "
         "6.2.3: clients may then send LOGIN with the password in clear) or answers "
         "`AUTHENTICATE PLAIN` with a `+` continuation, ready to read the password. The "
         "probe cancels with `*` (RFC 3501 6.2.2) and never sends a credential. Even when "
         "the server then rejects the login, the password has already crossed the network. "
         "A server that refuses authentication before TLS (its refusal names STARTTLS or "
         "PRIVACYREQUIRED, or it shows imap4d's `XTLSREQUIRED`) but does not advertise "
         "LOGINDISABLED, as RFC 9051 requires, is reported at medium: it refuses the login, "
         "but a client that trusts the capability list has sent its password in clear.",
    remediation=_REQUIRE_TLS + "\n\nProbe from a host that is not on the server's own "
                "address or in `login_trusted_networks`, or Dovecot treats the session "
                "as secured (see IMAP013).",
    references=(RFC3501, RFC9051, RFC2595, RFC8314, DOVECOT_SSL),
)

IMAP005 = Rule(
    id="IMAP005",
    name="starttls-injection",
    severity=Severity.HIGH,
    short="Commands pipelined in clear text after STARTTLS are answered inside TLS "
          "(STARTTLS command injection).",
    full="The probe sends `A STARTTLS\\r\\nB NOOP\\r\\n` in one write. A server that keeps "
         "the plaintext `B NOOP` in its buffer and executes it after the handshake lets an "
         "attacker on the path inject commands into the protected session (CVE-2011-0411 "
         "class; Poddebniak et al., NO STARTTLS, USENIX Security 2021).",
    remediation="Update the IMAP server or the TLS proxy in front of it: after `STARTTLS` "
                "it must discard any buffered plaintext before the handshake (Dovecot does "
                "so). Prefer implicit TLS on 993, where no plaintext phase exists.",
    references=(NO_STARTTLS, NO_STARTTLS_SITE, RFC2595, RFC8314),
)

IMAP006 = Rule(
    id="IMAP006",
    name="cleartext-port-open",
    severity=Severity.LOW,
    short="Port 143 is reachable even though it refuses cleartext login.",
    full="The port is correctly locked down (STARTTLS, LOGINDISABLED), yet a cleartext "
         "phase remains in which an attacker can tamper with the session before TLS "
         "(STARTTLS stripping, response injection). RFC 8314 prefers implicit TLS on 993. "
         "Not raised when the manifest declares the port `open` or `starttls-required`: "
         "then it is open on purpose.",
    remediation="Close 143 once clients use 993. Dovecot (2.3 and 2.4):\n\n```\n"
                "service imap-login {\n  inet_listener imap {\n    port = 0\n  }\n}\n```\n\n"
                "or drop it at the firewall, e.g. `iptables -A INPUT -p tcp --dport 143 -j "
                "REJECT` / nftables `tcp dport 143 reject`. If 143 stays open on purpose, "
                "declare it: `expect: {143: starttls-required}`.",
    references=(RFC8314, RFC3501),
)

IMAP007 = Rule(
    id="IMAP007",
    name="implicit-tls-missing",
    severity=Severity.LOW,
    short="The cleartext port answers but the target has no working implicit-TLS endpoint.",
    full="RFC 8314 asks mail servers to offer implicit TLS (993) so that clients never pass "
         "through a cleartext phase. Raised when a cleartext port greets while every "
         "implicit-TLS endpoint of the target is refused, filtered, fails its TLS handshake "
         "or is not listed. Not raised when the manifest declares the implicit-TLS port "
         "`closed` (a deliberate STARTTLS-only design), nor when no port answers at all.",
    remediation="Enable the imaps listener (Dovecot 2.3 and 2.4):\n\n```\nservice imap-login "
                "{\n  inet_listener imaps {\n    port = 993\n    ssl = yes\n  }\n}\n```\n\n"
                "and open it at the firewall, e.g. `iptables -A INPUT -p tcp --dport 993 -j "
                "ACCEPT` / nftables `tcp dport 993 accept`. Add 993 to the target's `ports` "
                "in the manifest.",
    references=(RFC8314,),
)

IMAP008 = Rule(
    id="IMAP008",
    name="version-disclosure",
    severity=Severity.LOW,
    short="The greeting or the ID reply reveals software version, OS or host details.",
    full="Version numbers, operating system fields (RFC 2971 `version`, `os`, `os-version`, "
         "...) and internal addresses tell an attacker which exploits to try, before any "
         "login. A product or distribution name alone (as in Debian's default greeting "
         "`Dovecot (Debian) ready.`) is not reported.",
    remediation="Dovecot 2.3:\n\n```\nlogin_greeting = Dovecot ready.\nimap_id_send = "
                "name *\n```\n\nDovecot 2.4:\n\n```\nlogin_greeting = Dovecot ready.\n"
                "imap_id_send {\n  name = *\n}\n```",
    references=(RFC2971, RFC3501),
)

IMAP009 = Rule(
    id="IMAP009",
    name="weak-auth-mechanism",
    severity=Severity.MEDIUM,
    short="The server offers a weak or legacy SASL mechanism (ANONYMOUS, NTLM, KERBEROS_V4, "
          "CRAM-MD5, DIGEST-MD5...).",
    full="ANONYMOUS lets anyone in (RFC 4505); NTLM, KERBEROS_V4, SKEY and RPA are broken or "
         "relayable (medium). CRAM-MD5 and DIGEST-MD5 (RFC 6331, Historic) force the server "
         "to store password equivalents and add nothing over PLAIN inside TLS (low). "
         "ANONYMOUS is confirmed before it is judged (IMAP014 when it works, IMAP015 when "
         "it is refused); this rule reports it only when the confirmation could not run.",
    remediation="List only what you need, e.g. Dovecot 2.3 `auth_mechanisms = plain login` "
                "(add `gssapi` or `oauthbearer xoauth2` if used); Dovecot 2.4 the same "
                "`auth_mechanisms = plain login` setting.",
    references=(RFC4505, RFC6331, RFC3501),
)

IMAP010 = Rule(
    id="IMAP010",
    name="unexpected-open",
    severity=Severity.MEDIUM,
    short="The manifest expects this port closed, but it accepts connections.",
    full="A port that should be closed answers: a firewall rule or a listener drifted from "
         "the intended design, and the exposure it was meant to prevent is live.",
    remediation="Close the port: Dovecot `service imap-login { inet_listener imap { port = "
                "0 } }` (or `inet_listener imaps` for 993), or at the firewall "
                "`iptables -A INPUT -p tcp --dport 143 -j REJECT` / nftables `tcp dport 143 "
                "reject`. If it is meant to be open now, update `expect:` in the manifest.",
    references=(RFC8314,),
)

IMAP011 = Rule(
    id="IMAP011",
    name="unexpected-closed",
    severity=Severity.MEDIUM,
    short="The manifest expects this port open or starttls-required, and it is not.",
    full="The port refuses or does not answer, its TLS does not come up, or (for "
         "`starttls-required`) it does not enforce STARTTLS before authentication: the "
         "deployment differs from what the manifest promises, and clients will fail or "
         "fall back.",
    remediation="Start the listener and open the firewall (`iptables -A INPUT -p tcp --dport "
                "993 -j ACCEPT` / nftables `tcp dport 993 accept`); for `starttls-required` "
                "set `ssl = required` and `disable_plaintext_auth = yes` (Dovecot 2.3) or "
                "`ssl = required` and `auth_allow_cleartext = no` (Dovecot 2.4). If the "
                "change is intended, "
                "update `expect:` in the manifest.",
    references=(RFC3501, RFC8314),
)

IMAP012 = Rule(
    id="IMAP012",
    name="probe-incomplete",
    severity=Severity.MEDIUM,
    short="The endpoint could not be judged: timeout, reset or protocol violation mid-dialog.",
    full="The probe fails closed: a server that stalls, resets, sends garbage or breaks the "
         "IMAP protocol is not given a pass. A port that silently drops the TCP handshake "
         "(filtered) is reported here too, unless the manifest expects it `closed`, and so "
         "is a target whose host name does not resolve (nothing was probed).",
    remediation="Check that the server is up and reachable from where the gate runs, and "
                "raise `defaults.timeout` for slow links. For a port that is firewalled on "
                "purpose, declare `expect: {143: closed}`; for a firewall that drops, prefer "
                "`REJECT` (`iptables -A INPUT -p tcp --dport 143 -j REJECT --reject-with "
                "tcp-reset`) so clients fail fast.",
    references=(RFC3501, RFC9051),
    precision="medium",
)

IMAP013 = Rule(
    id="IMAP013",
    name="secured-source",
    severity=Severity.NOTE,
    short="The probe ran from the server's own address or from loopback, where Dovecot-like "
          "servers treat the session as already secure.",
    full="Dovecot marks a connection `secured` when the client address equals the server's "
         "(2.3), comes from localhost (2.4) or from `login_trusted_networks`; it then allows "
         "cleartext authentication and hides LOGINDISABLED, so the probe sees a different "
         "server than a client on the internet does. Findings about cleartext may be "
         "missing or differ.",
    remediation="Run the gate from another host or network namespace, or set "
                "`source_address:` in the manifest to an address that is not the server's "
                "own and not in `login_trusted_networks`.",
    references=(DOVECOT_SSL, DOVECOT_24_SETTINGS),
    precision="medium",
)

IMAP014 = Rule(
    id="IMAP014",
    name="anonymous-access",
    severity=Severity.HIGH,
    short="The server accepts SASL ANONYMOUS: anyone can log in without a credential.",
    full="The probe confirms an advertised `AUTH=ANONYMOUS` with `AUTHENTICATE ANONYMOUS` "
         "and an empty trace (RFC 4505: no credential, no user name) and logs out at once. "
         "The server accepted it: whatever the anonymous user may read or do is open to "
         "everyone who can reach the port.",
    remediation="Remove `anonymous` from the mechanisms unless anonymous access is "
                "intended: Dovecot 2.3 and 2.4 `auth_mechanisms = plain login` (and no "
                "`anonymous_username`); GNU Mailutils imap4d: drop ANONYMOUS from the SASL "
                "`allowed-mech` list.",
    references=(RFC4505, RFC3501),
)

IMAP015 = Rule(
    id="IMAP015",
    name="misleading-capability",
    severity=Severity.LOW,
    short="The server advertises AUTH=ANONYMOUS but refuses it: the capability list is "
          "misleading.",
    full="Some servers list every SASL mechanism their library knows (GNU Mailutils imap4d "
         "advertises ANONYMOUS, EXTERNAL, SCRAM-*-PLUS... whether configured or not). The "
         "probe tried `AUTHENTICATE ANONYMOUS` with an empty trace and was refused, so there "
         "is no anonymous access, but clients and scanners that take the list at its word "
         "choose mechanisms that fail or report access that does not exist.",
    remediation="Advertise only the mechanisms that work: imap4d `sasl { allowed-mech "
                "(PLAIN, LOGIN); }`; Dovecot `auth_mechanisms = plain login`.",
    references=(RFC4505, RFC3501),
)

IMAP016 = Rule(
    id="IMAP016",
    name="nothing-answered",
    severity=Severity.MEDIUM,
    short="No port of the target answered: every one refused or was filtered, and none is "
          "expected closed.",
    full="A wrong address, a dead server or a firewall that drops everything all look like "
         "this, and none of them is a pass. One finding for the target, instead of one per "
         "port. A host name that does not resolve is reported as IMAP012 instead.",
    remediation="Check the target's `host:` and that the server runs and is reachable from "
                "where the gate runs. If the ports are closed on purpose, say so: "
                "`expect: {143: closed, 993: closed}`.",
    references=(RFC8314,),
)

# The family's rules in catalogue order (README table, docs/rules.md).
RULES: tuple[Rule, ...] = (
    IMAP001, IMAP002, IMAP003, IMAP004, IMAP005, IMAP006,
    IMAP007, IMAP008, IMAP009, IMAP010, IMAP011, IMAP012,
    IMAP013, IMAP014, IMAP015, IMAP016,
)
