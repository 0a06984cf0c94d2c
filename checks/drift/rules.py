"""Rules that compare what the repository declares with what the server does."""

from __future__ import annotations

from imap_gate.rules import Rule
from imap_gate.severity import Severity

DRIFT001 = Rule(
    id="DRIFT001",
    name="config-live-mismatch",
    severity=Severity.HIGH,
    short="The committed Dovecot configuration and the live server disagree on IMAP security.",
    full="The Dovecot configuration that the manifest says this server runs forbids something "
         "the live endpoint allows (cleartext login, TLS below 1.2, IMAP without STARTTLS), or "
         "the reverse. Either the server does not run the reviewed configuration, or the "
         "review looked at the wrong files; in both cases what was approved is not what is "
         "deployed.",
    remediation="Deploy the committed configuration (and reload Dovecot: `doveadm reload`), or "
                "commit the configuration the server really runs and let the gate judge it. "
                "Check with `doveconf -n` on the server that the effective values match.",
    references=("https://doc.dovecot.org/2.3/configuration_manual/config_file/",),
    kind="correlation",
)

DRIFT002 = Rule(
    id="DRIFT002",
    name="firewall-live-mismatch",
    severity=Severity.MEDIUM,
    short="The committed firewall rules and the live reachability of an IMAP port disagree.",
    full="The firewall files that the manifest says protect this server close a port, or "
         "restrict it to sources the probe is not in, yet the probe reached it; or they open "
         "it and it is closed. The firewall in front of the server is not the one in the "
         "repository.",
    remediation="Load the committed rules on the host (`iptables-restore < rules.v4`, "
                "`nft -f main.nft`, `ufw reload`, `firewall-cmd --reload`) or commit the rules "
                "the host really runs.",
    kind="correlation",
)

DRIFT003 = Rule(
    id="DRIFT003",
    name="exposed-cleartext",
    severity=Severity.HIGH,
    short="Port 143 is open to the world and cleartext login is allowed on it.",
    full="The firewall opens IMAP port 143 to any source and the Dovecot configuration or the "
         "live server accepts a password before TLS. Together they let anyone on the path "
         "read the passwords of clients that log in without STARTTLS (RFC 8314 section 3).",
    remediation="Forbid cleartext login (`ssl = required`, or 2.3 `disable_plaintext_auth = "
                "yes` / 2.4 `auth_allow_cleartext = no`) and close 143 or restrict it to the "
                "sources that need it, e.g. `-A INPUT -p tcp --dport 143 -s 192.0.2.0/24 -j "
                "ACCEPT` before a final drop.",
    references=("https://www.rfc-editor.org/rfc/rfc8314#section-3",),
    kind="correlation",
)

# The family's rules in catalogue order (README table, docs/rules.md).
RULES: tuple[Rule, ...] = (
    DRIFT001, DRIFT002, DRIFT003,
)
