"""Rules of the tls family: what the TLS protecting IMAP must not allow."""

from __future__ import annotations

from imap_gate.rules import Rule
from imap_gate.severity import Severity

_DOVECOT_SSL = "https://doc.dovecot.org/2.3/configuration_manual/dovecot_ssl_configuration/"
_RFC8996 = "https://www.rfc-editor.org/rfc/rfc8996"
_RFC8314 = "https://www.rfc-editor.org/rfc/rfc8314"
_RFC7525 = "https://www.rfc-editor.org/rfc/rfc7525"
_RFC9325 = "https://www.rfc-editor.org/rfc/rfc9325"
_RFC6125 = "https://www.rfc-editor.org/rfc/rfc6125"
_RFC5280 = "https://www.rfc-editor.org/rfc/rfc5280"

TLS001 = Rule(
    id="TLS001", name="legacy-ssl", severity=Severity.HIGH,
    short="The IMAP endpoint accepts SSLv2 or SSLv3.",
    full=("SSLv2 (RFC 6176) and SSLv3 (RFC 7568) are broken: DROWN and POODLE let an attacker on "
          "the path recover session data such as the IMAP password. A client or middlebox that "
          "can be pushed down to them exposes every login. SSLv2 is critical, SSLv3 high."),
    remediation=("Accept TLS 1.2 and newer only. In Dovecot (`conf.d/10-ssl.conf`):\n\n"
                 "```\nssl_min_protocol = TLSv1.2\n```\n\nand make sure no TLS terminator "
                 "in front of Dovecot (haproxy, stunnel) still enables SSLv2/SSLv3."),
    references=("https://www.rfc-editor.org/rfc/rfc6176", "https://www.rfc-editor.org/rfc/rfc7568",
                _RFC8996, _DOVECOT_SSL),
)

TLS002 = Rule(
    id="TLS002", name="deprecated-tls", severity=Severity.MEDIUM,
    short="The IMAP endpoint accepts TLS 1.0 or TLS 1.1.",
    full=("RFC 8996 deprecates TLS 1.0 and 1.1: they depend on SHA-1/MD5 in the handshake and "
          "lack modern AEAD suites. RFC 8314 requires mail clients and servers to use TLS 1.2 "
          "or newer; keeping the old versions only helps attackers downgrade."),
    remediation="Set the minimum protocol in Dovecot:\n\n```\nssl_min_protocol = TLSv1.2\n```",
    references=(_RFC8996, _RFC8314, _DOVECOT_SSL),
)

TLS003 = Rule(
    id="TLS003", name="no-modern-tls", severity=Severity.HIGH,
    short="The IMAP endpoint accepts neither TLS 1.2 nor TLS 1.3.",
    full=("Without TLS 1.2 or 1.3 every client either fails or falls back to deprecated, "
          "attackable protocol versions; current clients refuse such servers outright."),
    remediation=("Upgrade the TLS library or the terminator and allow TLS 1.2 and 1.3:\n\n"
                 "```\nssl_min_protocol = TLSv1.2\n```\n\nDovecot 2.3 with OpenSSL 1.1.1 "
                 "or newer negotiates TLS 1.3 automatically."),
    references=(_RFC8996, _RFC8314, "https://www.rfc-editor.org/rfc/rfc8446", _DOVECOT_SSL),
)

TLS004 = Rule(
    id="TLS004", name="weak-cipher", severity=Severity.HIGH,
    short="The IMAP endpoint negotiates a broken cipher suite.",
    full=("A server that picks a NULL, anonymous or EXPORT suite (critical) gives no "
          "confidentiality or no authentication at all; RC4, single DES and MD5-MAC suites "
          "(high) are broken (RFC 7465); 3DES (medium) has a 64-bit block exposed to SWEET32 "
          "on long IMAP sessions. The suite the server picked is the evidence."),
    remediation=("Offer only AEAD suites with forward secrecy and let the server choose:\n\n"
                 "```\nssl_cipher_list = ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:!aNULL:!eNULL:"
                 "!EXPORT:!RC4:!DES:!3DES:!MD5\nssl_prefer_server_ciphers = yes\n```"),
    references=("https://www.rfc-editor.org/rfc/rfc7465", _RFC9325, "https://sweet32.info/",
                _DOVECOT_SSL),
)

TLS005 = Rule(
    id="TLS005", name="no-forward-secrecy", severity=Severity.MEDIUM,
    short="The IMAP endpoint accepts only static-RSA key exchange (no forward secrecy).",
    full=("With static RSA key exchange, anyone who later obtains the server's private key can "
          "decrypt every recorded session, including the passwords sent at login. TLS 1.3 and "
          "ECDHE/DHE suites give forward secrecy (RFC 9325)."),
    remediation=("Enable ECDHE suites (and TLS 1.3) first:\n\n```\nssl_cipher_list = "
                 "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:!aNULL:!eNULL\n"
                 "ssl_prefer_server_ciphers = yes\n```"),
    references=(_RFC9325, _RFC7525, _DOVECOT_SSL),
)

CERT001 = Rule(
    id="CERT001", name="cert-expired", severity=Severity.CRITICAL,
    short="The IMAP server certificate has expired.",
    full=("Clients that verify certificates refuse to connect; clients that do not are trained "
          "to click through warnings, which is exactly what an attacker with a forged "
          "certificate needs."),
    remediation=("Renew the certificate and reload Dovecot (`doveadm reload`); automate renewal "
                 "(e.g. certbot with a deploy hook) so it cannot lapse again:\n\n"
                 "```\nssl_cert = </etc/letsencrypt/live/mail.example.org/fullchain.pem\n"
                 "ssl_key = </etc/letsencrypt/live/mail.example.org/privkey.pem\n```"),
    references=(_RFC5280, _DOVECOT_SSL),
)

CERT002 = Rule(
    id="CERT002", name="cert-not-yet-valid", severity=Severity.HIGH,
    short="The IMAP server certificate is not valid yet.",
    full=("A notBefore in the future makes verifying clients fail; it usually means a wrong "
          "server clock or a certificate deployed before its time."),
    remediation="Fix the clock of the issuing host (NTP) or deploy a certificate valid today.",
    references=(_RFC5280,),
)

CERT003 = Rule(
    id="CERT003", name="cert-untrusted", severity=Severity.HIGH,
    short="The IMAP server certificate does not chain to a trusted root.",
    full=("A self-signed certificate, an unknown CA or a missing intermediate makes verifying "
          "clients fail and leaves the others unable to tell the server from an attacker."),
    remediation=("Use a certificate from a public CA (or your managed CA, listed as `ca_file` "
                 "in the manifest) and serve the full chain:\n\n```\nssl_cert = "
                 "</etc/ssl/mail/fullchain.pem\n```\n\n(leaf first, then the intermediates)."),
    references=(_RFC5280, _RFC8314, _DOVECOT_SSL),
)

CERT004 = Rule(
    id="CERT004", name="cert-name-mismatch", severity=Severity.HIGH,
    short="The IMAP server certificate does not name the host clients connect to.",
    full=("Per RFC 6125 the client checks the name it connected to against the certificate's "
          "subjectAltName (the CN only when there is no DNS name): a mismatch makes verifying "
          "clients fail and hides a man-in-the-middle from the others."),
    remediation=("Issue the certificate with the IMAP host name in subjectAltName (e.g. "
                 "`DNS:imap.example.org`), or serve a matching one per name:\n\n```\n"
                 "local_name imap.example.org {\n  ssl_cert = </etc/ssl/imap.example.org.pem\n"
                 "  ssl_key = </etc/ssl/private/imap.example.org.key\n}\n```"),
    references=(_RFC6125, "https://www.rfc-editor.org/rfc/rfc9525", _DOVECOT_SSL),
)

CERT005 = Rule(
    id="CERT005", name="cert-weak-key", severity=Severity.MEDIUM,
    short="The IMAP server certificate has a weak public key.",
    full=("RSA keys under 2048 bits and EC keys under 224 bits are below every current "
          "baseline (NIST SP 800-57, CA/Browser Forum); 1024-bit RSA is within reach of "
          "well-funded attackers. Smaller keys are rated higher."),
    remediation=("Generate a new key (`openssl genpkey -algorithm EC -pkeyopt "
                 "ec_paramgen_curve:P-256` or RSA 3072) and reissue the certificate."),
    references=("https://csrc.nist.gov/pubs/sp/800/57/pt1/r5/final",
                "https://cabforum.org/baseline-requirements/"),
)

CERT006 = Rule(
    id="CERT006", name="cert-weak-signature", severity=Severity.MEDIUM,
    short="The IMAP server certificate chain is signed with SHA-1 or MD5.",
    full=("Chosen-prefix collisions make SHA-1 (medium) and MD5 (critical) signatures "
          "forgeable: an attacker can obtain a certificate with the same signature for another "
          "key. Current clients reject them."),
    remediation="Reissue the certificate (and any intermediate) signed with SHA-256 or better.",
    references=("https://www.rfc-editor.org/rfc/rfc6151", "https://shattered.io/",
                "https://sha-mbles.github.io/"),
)

CERT007 = Rule(
    id="CERT007", name="cert-expiring", severity=Severity.LOW,
    short="The IMAP server certificate expires soon.",
    full=("Fewer days are left than `defaults.cert_expiry_days` (30 by default); under 7 days "
          "the finding is medium, as an outage is imminent."),
    remediation=("Renew now and automate renewal, e.g. `certbot renew --deploy-hook "
                 "'doveadm reload'`."),
    references=(_RFC5280,),
)

# The family's rules in catalogue order (README table, docs/rules.md).
RULES: tuple[Rule, ...] = (
    TLS001, TLS002, TLS003, TLS004, TLS005, CERT001,
    CERT002, CERT003, CERT004, CERT005, CERT006, CERT007,
)
