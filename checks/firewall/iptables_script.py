"""Shell scripts that call iptables / ip6tables (directly or through ``$IPT``-style variables)."""

from __future__ import annotations

from imap_gate.findings import Location

from .iptables_args import is_templated
from .iptables_model import IptablesState
from .iptables_save import command as run_command
from .model import Parsed, ParseIssue
from .shell import commands

V4 = {"iptables", "iptables-legacy", "iptables-nft"}
V6 = {"ip6tables", "ip6tables-legacy", "ip6tables-nft"}
COMMANDS = {"-A", "--append", "-I", "--insert", "-D", "--delete", "-F", "--flush", "-X",
            "--delete-chain", "-N", "--new-chain", "-P", "--policy", "-Z", "--zero"}
READ_ONLY = {"-L", "--list", "-S", "--list-rules", "-C", "--check", "-E", "--rename-chain",
             "-h", "--help", "-V", "--version"}


def family_of(word: str) -> str | None:
    base = word.rsplit("/", 1)[-1]
    if base in V4:
        return "ipv4"
    if base in V6:
        return "ipv6"
    return None


def parse(text: str, path: str) -> Parsed:
    states = {"ipv4": IptablesState("ipv4", path), "ipv6": IptablesState("ipv6", path)}
    issues: list[ParseIssue] = []
    first: Location | None = None
    for cmd in commands(text):
        loc = Location(path, cmd.line)
        first = first or loc
        head = cmd.words[0]
        fam = family_of(head)
        if fam is None:
            if head.startswith("$") and any(k in head.upper() for k in ("IPT", "TABLES")):
                issues.append(ParseIssue(loc, f"{head} is not set in this script, so which tool it "
                                              "runs (and its rules) is not guessed", cmd.text))
            continue
        st = states[fam]
        st.first_loc = st.first_loc or loc
        words = cmd.words[1:]
        table_name = "filter"
        rest: list[str] = []
        op: list[str] = []
        i = 0
        while i < len(words):
            w = words[i]
            if w in ("-t", "--table") and i + 1 < len(words):
                table_name = words[i + 1]
                i += 2
                continue
            if w in ("-w", "--wait"):
                i += 2 if i + 1 < len(words) and words[i + 1].isdigit() else 1
                continue
            if w in ("-v", "--verbose", "-n", "--numeric", "--line-numbers", "-x", "--exact",
                     "-4", "-6", "--ipv4", "--ipv6"):
                i += 1
                continue
            if not op and (w in COMMANDS or w in READ_ONLY):
                op = [w]
                i += 1
                continue
            rest.append(w)
            i += 1
        if not op:
            issues.append(ParseIssue(loc, "an iptables call without a command (-A, -I, -P, ...)",
                                     cmd.text))
            continue
        if op[0] in READ_ONLY:
            continue
        if is_templated(table_name):
            issues.append(ParseIssue(loc, f"table {table_name!r} is templated: not guessed",
                                     cmd.text, templated=True))
            continue
        table = st.table(table_name, loc)
        if table is None:
            continue
        run_command(st, table, op + rest, loc, cmd.text)
    parsed = Parsed("iptables-script", path=path)
    for fam, st in states.items():
        issues.extend(st.issues)
        if st.first_loc is not None:
            parsed.rulesets[fam] = st.ruleset()
    parsed.issues = sorted(issues, key=lambda x: x.loc.line)
    return parsed
