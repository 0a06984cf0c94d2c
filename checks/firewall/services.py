"""Port names as /etc/services resolves them (tcp), without reading the host's file.

A linter must give the same answer on every machine, so the names firewall files
commonly use are written here; anything else is looked up in /etc/services when
the file exists, and otherwise left unknown (never guessed).
"""

from __future__ import annotations

import functools
from pathlib import Path

KNOWN: dict[str, int] = {
    "ftp-data": 20, "ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53, "dns": 53,
    "http": 80, "www": 80, "pop3": 110, "pop-3": 110, "sunrpc": 111, "ident": 113, "auth": 113,
    "ntp": 123, "imap": 143, "imap2": 143, "snmp": 161, "ldap": 389, "https": 443,
    "microsoft-ds": 445, "submissions": 465, "smtps": 465, "ssmtp": 465, "urd": 465,
    "submission": 587, "ldaps": 636, "imaps": 993, "pop3s": 995, "openvpn": 1194,
    "mysql": 3306, "sieve": 4190, "postgresql": 5432, "http-alt": 8080, "webcache": 8080,
    "imap3": 220, "kerberos": 88, "rsync": 873, "bgp": 179, "syslog": 514, "dhcpv6-client": 546,
    "xmpp-client": 5222, "xmpp-server": 5269, "git": 9418, "mdns": 5353,
}


@functools.lru_cache(maxsize=1)
def _system() -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        text = Path("/etc/services").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) < 2 or not parts[1].endswith("/tcp"):
            continue
        try:
            port = int(parts[1].split("/")[0])
        except ValueError:
            continue
        for name in [parts[0], *parts[2:]]:
            out.setdefault(name.lower(), port)
    return out


def port_of(name: str) -> int | None:
    """A number or a tcp service name; None when it is neither."""
    n = name.strip().lower()
    if n.isdigit():
        value = int(n)
        return value if 0 <= value <= 65535 else None
    if n in KNOWN:
        return KNOWN[n]
    return _system().get(n)
