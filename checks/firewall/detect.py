"""Which firewall format a file is in, from the manifest's word, its content and its name."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cached_property

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
    seen = _File(text, path)
    for fmt, test in _TESTS:
        if test(seen):
            return fmt
    return None


class _File:
    """The parts of a file the tests look at; the costlier ones computed once, when asked."""

    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.name = path.rsplit("/", 1)[-1].lower()
        self.head = text.lstrip()[:400]

    @cached_property
    def tables(self) -> bool:
        """``*filter``-style table lines outside a shell script (a script feeding them to
        iptables-restore through a heredoc is a script)."""
        return _TABLE_LINE.search(self.text) is not None and not self.shell

    @cached_property
    def shell(self) -> bool:
        return re.match(r"#!\s*(?:\S*/)?(?:env\s+)?(?:ba|da|k|z)?sh\b", self.head) is not None or \
            re.search(r"\bip6?tables(?:-legacy|-nft)?-restore\b[^\n]*<<", self.text) is not None


def _zone(f: _File) -> bool:
    return f.head.startswith("<?xml") or re.match(r"<zone\b", f.head) is not None or "<zone" in f.head


def _ufw_rules(f: _File) -> bool:
    """ufw's own iptables-save files (user.rules, before.rules): its chains or tuple comments."""
    return f.tables and ("ufw-user-input" in f.text or "ufw6-user-input" in f.text or
                         "### tuple ###" in f.text or
                         re.search(r"^:ufw6?-(?:before|after)-input\b", f.text, re.M) is not None)


def _iptables_save(f: _File) -> bool:
    return f.tables


def _ufw_default(f: _File) -> bool:
    return "DEFAULT_INPUT_POLICY" in f.text


def _ufw_conf(f: _File) -> bool:
    return re.search(r"^\s*ENABLED\s*=", f.text, re.M) is not None and f.name.startswith("ufw")


def _nftables(f: _File) -> bool:
    return _NFT.search(f.text) is not None or f.name.endswith(".nft") or "nft -f" in f.head


def _ufw_script(f: _File) -> bool:
    return _UFW_CMD.search(f.text) is not None


def _iptables_script(f: _File) -> bool:
    return _IPT_CMD.search(f.text) is not None or _IPT_VAR.search(f.text) is not None


def _iptables_save_name(f: _File) -> bool:
    """Names iptables-save output is kept under, for a file whose content says nothing."""
    return f.name in ("rules.v4", "rules.v6", "iptables", "ip6tables") or f.name.endswith((".rules",))


# In order: the first test a file passes names its format.
_TESTS: tuple[tuple[str, Callable[[_File], bool]], ...] = (
    ("firewalld-zone", _zone),
    ("ufw-rules", _ufw_rules),
    ("iptables-save", _iptables_save),
    ("ufw-default", _ufw_default),
    ("ufw-conf", _ufw_conf),
    ("nftables", _nftables),
    ("ufw-script", _ufw_script),
    ("iptables-script", _iptables_script),
    ("iptables-save", _iptables_save_name),
)
