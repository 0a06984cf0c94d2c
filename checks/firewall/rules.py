"""Rules of the firewall family."""

from __future__ import annotations

from imap_gate.rules import Rule
from imap_gate.severity import Severity

IPTABLES_MAN = "https://man7.org/linux/man-pages/man8/iptables.8.html"
IPTABLES_EXT = "https://man7.org/linux/man-pages/man8/iptables-extensions.8.html"
NFT_MAN = "https://www.netfilter.org/projects/nftables/manpage.html"
UFW_MAN = "https://manpages.ubuntu.com/manpages/noble/man8/ufw.8.html"
FIREWALLD_ZONE = "https://firewalld.org/documentation/man-pages/firewalld.zone.html"
FIREWALLD_RICH = "https://firewalld.org/documentation/man-pages/firewalld.richlanguage.html"
RFC8314 = "https://www.rfc-editor.org/rfc/rfc8314"
RFC9051 = "https://www.rfc-editor.org/rfc/rfc9051"

RESTRICT_143 = """Allow 143 only from the networks that need it, then drop the rest:

- iptables-save: `-A INPUT -p tcp --dport 143 -s 192.0.2.0/24 -j ACCEPT`
  followed by `-A INPUT -p tcp --dport 143 -j DROP`
- iptables script: `iptables -A INPUT -p tcp --dport 143 -s 192.0.2.0/24 -j ACCEPT`
- nftables: `tcp dport 143 ip saddr 192.0.2.0/24 accept` (and `ip6 saddr 2001:db8::/32` for IPv6)
- ufw: `ufw allow from 192.0.2.0/24 to any port 143 proto tcp` (not `ufw allow 143`)
- firewalld: `<rule family="ipv4"><source address="192.0.2.0/24"/><service name="imap"/><accept/></rule>`
  instead of `<service name="imap"/>`

Better still, close 143 and serve IMAP on 993 with implicit TLS (RFC 8314)."""

FW001 = Rule(
    id="FW001", name="imap-open-to-world", severity=Severity.MEDIUM,
    short="A firewall rule accepts TCP 143 (IMAP) from any source.",
    full=("Port 143 carries IMAP in cleartext until STARTTLS; a rule that accepts it from every "
          "address invites password guessing and, wherever a client or server skips STARTTLS, "
          "passwords in clear text across the internet. If 143 must stay open, restrict it to "
          "the sources that need it."),
    remediation=RESTRICT_143,
    references=(RFC8314, IPTABLES_MAN, NFT_MAN, UFW_MAN, FIREWALLD_RICH),
    kind="lint", precision="high")

FW002 = Rule(
    id="FW002", name="default-accept-policy", severity=Severity.MEDIUM,
    short="The input path ends in accept, so TCP 143 is reachable without any rule allowing it.",
    full=("With an ACCEPT policy (iptables `:INPUT ACCEPT`, an nftables input chain without "
          "`policy drop`, ufw `DEFAULT_INPUT_POLICY=\"ACCEPT\"`, a firewalld zone with "
          "target ACCEPT, or a disabled ufw) and no catch-all drop, every port nobody thought "
          "about is open, IMAP's 143 included."),
    remediation=("Make the input path deny by default and allow what is needed:\n\n"
                 "- iptables-save: `:INPUT DROP [0:0]`\n"
                 "- iptables script: `iptables -P INPUT DROP`\n"
                 "- nftables: `type filter hook input priority filter; policy drop;`\n"
                 "- ufw: `ufw default deny incoming` (and `ufw enable`)\n"
                 "- firewalld: `<zone target=\"DROP\">` or the default target\n\n"
                 "then allow 143 only from known sources, e.g. "
                 "`-A INPUT -p tcp --dport 143 -s 192.0.2.0/24 -j ACCEPT`."),
    references=(IPTABLES_MAN, NFT_MAN, UFW_MAN, FIREWALLD_ZONE, RFC8314),
    kind="lint", precision="high")

FW003 = Rule(
    id="FW003", name="ipv6-unrestricted", severity=Severity.MEDIUM,
    short="TCP 143 is restricted for IPv4 but reachable over IPv6.",
    full=("Restricting IMAP for IPv4 and forgetting IPv6 leaves the same service open on the "
          "host's IPv6 address: missing ip6tables rules (whose policy is ACCEPT by default), an "
          "nftables `ip` table where an `inet` one was meant, or ufw with `IPV6=no`."),
    remediation=("Write the same restriction for IPv6:\n\n"
                 "- ip6tables-save (`rules.v6`): `:INPUT DROP [0:0]` and "
                 "`-A INPUT -p tcp --dport 143 -s 2001:db8::/32 -j ACCEPT`\n"
                 "- nftables: use `table inet filter` and "
                 "`tcp dport 143 ip6 saddr 2001:db8::/32 accept`\n"
                 "- ufw: `IPV6=yes` in /etc/default/ufw and "
                 "`ufw allow from 2001:db8::/32 to any port 143 proto tcp`"),
    references=(IPTABLES_MAN, NFT_MAN, UFW_MAN, RFC8314),
    kind="lint", precision="medium")

FW004 = Rule(
    id="FW004", name="shadowed-rule", severity=Severity.LOW,
    short="A rule meant to restrict TCP 143/993 never matches because an earlier rule decides first.",
    full=("Netfilter stops at the first rule that accepts or drops a packet. A restriction "
          "placed after a broader accept (or a drop after an accept for everyone) is dead: it "
          "reads like protection and gives none."),
    remediation=("Move the restriction above the broader rule, or narrow the broader rule, e.g. "
                 "put `-A INPUT -p tcp --dport 143 -s 192.0.2.0/24 -j ACCEPT` and "
                 "`-A INPUT -p tcp --dport 143 -j DROP` before `-A INPUT -p tcp -j ACCEPT`; "
                 "with ufw use `ufw insert 1 ...`."),
    references=(IPTABLES_MAN, NFT_MAN, UFW_MAN),
    kind="lint", precision="high")

FW005 = Rule(
    id="FW005", name="imaps-open-to-world", severity=Severity.NOTE,
    short="TCP 993 (IMAP over TLS) is reachable from any source.",
    full=("Inventory: implicit-TLS IMAP open to the internet is the expected setup for public "
          "mail (RFC 8314 recommends it over STARTTLS). Recorded so the exposure is visible and "
          "can be compared with what the live probe sees."),
    remediation=("Nothing to do for a public mail server. For a private one, restrict it: "
                 "`-A INPUT -p tcp --dport 993 -s 192.0.2.0/24 -j ACCEPT`, "
                 "`tcp dport 993 ip saddr 192.0.2.0/24 accept`, or "
                 "`ufw allow from 192.0.2.0/24 to any port 993 proto tcp`."),
    references=(RFC8314, IPTABLES_MAN, NFT_MAN),
    kind="lint", precision="high")

FW006 = Rule(
    id="FW006", name="firewall-parse-error", severity=Severity.MEDIUM,
    short="A firewall line or file cannot be understood, so the IMAP exposure cannot be judged.",
    full=("The gate fails closed: a line the real tool would reject, a format that is not "
          "recognised, or a templated value (`{{ }}`, `$VAR` set outside the script, "
          "`!!name!!`) that decides whether 143/993 is reachable is reported rather than "
          "guessed."),
    remediation=("Fix the line so that `iptables-restore --test`, `ip6tables-restore --test` or "
                 "`nft -c -f` accepts it; lint the rendered file rather than its template; or "
                 "name the format in the manifest: `firewall: [{path: rules.v4, format: "
                 "iptables-save}]`."),
    references=("https://man7.org/linux/man-pages/man8/iptables-restore.8.html", NFT_MAN,
                FIREWALLD_ZONE),
    kind="lint", precision="high")

FW007 = Rule(
    id="FW007", name="imap-forwarded-to-internal-host", severity=Severity.MEDIUM,
    short="A port forward (DNAT) hands TCP 143 (IMAP) of an internal host to any source.",
    full=("A destination NAT in the prerouting path with a forward path that accepts it exposes "
          "the internal host's IMAP to the internet exactly as an open INPUT port would: "
          "cleartext IMAP until STARTTLS, password guessing, and a server nobody thinks of as "
          "public. Forwarded 993 is recorded as FW005."),
    remediation=("Remove the forward, or restrict it to the sources that need it:\n\n"
                 "- iptables: `-t nat -A PREROUTING -p tcp --dport 143 -s 192.0.2.0/24 -j DNAT "
                 "--to-destination 192.168.0.10` and `-A FORWARD -p tcp -d 192.168.0.10 --dport "
                 "143 -s 192.0.2.0/24 -j ACCEPT`\n"
                 "- nftables: `tcp dport 143 ip saddr 192.0.2.0/24 dnat to 192.168.0.10` in the "
                 "nat prerouting chain\n\n"
                 "Better still, forward 993 (implicit TLS, RFC 8314) instead of 143."),
    references=(RFC8314, IPTABLES_EXT, NFT_MAN),
    kind="lint", precision="high")

# The family's rules in catalogue order (README table, docs/rules.md).
RULES: tuple[Rule, ...] = (
    FW001, FW002, FW003, FW004, FW005, FW006,
    FW007,
)
