"""Which firewall format a file is in, from the manifest's word, its content and its name."""

from __future__ import annotations

import re

FORMATS = ("iptables-save", "iptables-script", "nftables", "ufw-rules", "ufw-script",
           "ufw-default", "ufw-conf", "firewalld-zone")
ALIASES = {"ip6tables-save": "iptables-save", "ip6tables-script": "iptables-script",
           "nft": "nftables", "firewalld": "firewalld-zone", "ufw": "ufw-script"}

_TABLE_LINE = re.compile(r"^\s*\*(filter|nat|mangle|raw|security)\s*$", re.M)
_NFT = re.compile(r"^\s*(table\s+(?:(?:ip|ip6|inet|arp|bridge|netdev)\s+)?[\w.-]+\s*\{|"
                  r"(?:add|insert)\s+(?:table|chain|rule)\b|flush\s+ruleset\b|"
                  r"chain\s+[\w.-]+\s*\{\s*(?:#.*)?$)", re.M)
_UFW_CMD = re.compile(r"^\s*(?:sudo\s+)?(?:/usr/sbin/)?ufw\s+(?:--force\s+)?"
                      r"(?:allow|deny|reject|limit|insert|prepend|delete|default|enable|disable|"
                      r"reset)\b", re.M)
_IPT_CMD = re.compile(r"^\s*(?:sudo\s+(?:-\w+\s+)*)?(?:[\w/.-]*/)?(?:ip6?tables(?:-legacy|-nft)?|"
                      r"\$\{?IP6?T\w*\}?|\$\{?IPTABLES\w*\}?)\s+-", re.M | re.I)
# A variable holding the iptables tool (``iptables="/sbin/iptables"``, ``IPT=$(which iptables)``).
_IPT_VAR = re.compile(r"^\s*(?:export\s+|readonly\s+)?[A-Za-z_]\w*=[\"']?(?:\$\(\s*which\s+|`which\s+)?"
                      r"(?:[\w/.-]*/)?ip6?tables(?:-legacy|-nft)?[\"'`)]*\s*$", re.M)


def normalise(fmt: str | None) -> str | None:
    if fmt is None:
        return None
    f = fmt.strip().lower()
    f = ALIASES.get(f, f)
    return f if f in FORMATS else None


def detect(text: str, path: str, declared: str | None = None) -> str | None:
    """The format, or None when nothing identifies it (reported as FW006, never guessed)."""
    if declared:
        return normalise(declared)
    name = path.rsplit("/", 1)[-1].lower()
    head = text.lstrip()[:400]
    if head.startswith("<?xml") or re.match(r"<zone\b", head) or "<zone" in head:
        return "firewalld-zone"
    shell = re.match(r"#!\s*(?:\S*/)?(?:env\s+)?(?:ba|da|k|z)?sh\b", head) is not None or \
        re.search(r"\bip6?tables(?:-legacy|-nft)?-restore\b[^\n]*<<", text) is not None
    if _TABLE_LINE.search(text) and not shell:
        if "ufw-user-input" in text or "ufw6-user-input" in text or "### tuple ###" in text or \
                re.search(r"^:ufw6?-(?:before|after)-input\b", text, re.M):
            return "ufw-rules"
        return "iptables-save"
    if "DEFAULT_INPUT_POLICY" in text:
        return "ufw-default"
    if re.search(r"^\s*ENABLED\s*=", text, re.M) and name.startswith("ufw"):
        return "ufw-conf"
    if _NFT.search(text) or name.endswith(".nft") or "nft -f" in head:
        return "nftables"
    if _UFW_CMD.search(text):
        return "ufw-script"
    if _IPT_CMD.search(text) or _IPT_VAR.search(text):
        return "iptables-script"
    if name in ("rules.v4", "rules.v6", "iptables", "ip6tables") or name.endswith((".rules",)):
        return "iptables-save"
    return None
