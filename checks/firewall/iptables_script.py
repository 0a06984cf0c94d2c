"""Shell scripts that call iptables / ip6tables (directly, through ``$IPT``-style variables,
in functions, loops and init.d ``case`` blocks; see ``shell`` for how scripts are walked)."""

from __future__ import annotations

import re

from imap_gate.findings import Location

from . import iptables_save
from .iptables_args import SpecError, is_templated, parse_spec
from .iptables_model import IptablesState
from .iptables_save import command as run_command
from .model import Parsed, ParseIssue
from .shell import Command, run_script

V4 = {"iptables", "iptables-legacy", "iptables-nft"}
V6 = {"ip6tables", "ip6tables-legacy", "ip6tables-nft"}
RESTORE = {"iptables-restore": "ipv4", "iptables-legacy-restore": "ipv4",
           "iptables-nft-restore": "ipv4", "ip6tables-restore": "ipv6",
           "ip6tables-legacy-restore": "ipv6", "ip6tables-nft-restore": "ipv6"}
COMMANDS = {"-A", "--append", "-I", "--insert", "-D", "--delete", "-F", "--flush", "-X",
            "--delete-chain", "-N", "--new-chain", "-P", "--policy", "-Z", "--zero"}
READ_ONLY = {"-L", "--list", "-S", "--list-rules", "-E", "--rename-chain",
             "-h", "--help", "-V", "--version"}
CHECK = {"-C", "--check"}
# Directories a tool is run from; /etc/init.d/iptables is a service script, not the tool.
BIN_DIRS = ("/sbin", "/usr/sbin", "/bin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin")
TOOL_VAR = re.compile(r"^\s*(?:export\s+|readonly\s+|local\s+|declare\s+\S+\s+)?[A-Za-z_]\w*=[\"']?"
                      r"(?:[\w/.-]*/)?ip6?tables(?:-legacy|-nft)?\b", re.M)


def family_of(word: str) -> str | None:
    d, _, base = word.rpartition("/")
    if d and d not in BIN_DIRS:
        return None
    if base in V4:
        return "ipv4"
    if base in V6:
        return "ipv6"
    return None


def is_tool(word: str) -> bool:
    return word in V4 or word in V6 or word in RESTORE


def parse(text: str, path: str) -> Parsed:
    states = {"ipv4": IptablesState("ipv4", path), "ipv6": IptablesState("ipv6", path)}
    issues: list[ParseIssue] = []
    first: list[Location] = []

    def run(cmd: Command) -> int | None:
        loc = Location(path, cmd.line)
        head = cmd.words[0]
        base = head.rsplit("/", 1)[-1]
        if base in RESTORE and (not head.count("/") or head.rpartition("/")[0] in BIN_DIRS):
            return _restore(cmd, states[RESTORE[base]], issues, path)
        fam = family_of(head)
        if fam is None:
            if head.startswith("$") and any(k in head.upper() for k in ("IPT", "TABLES")):
                issues.append(ParseIssue(loc, f"{head} is not set in this script, so which tool it "
                                              "runs (and its rules) is not guessed", cmd.text))
            return None
        first.append(loc)
        return _iptables(cmd, states[fam], loc, issues)

    for si in run_script(text, run, is_tool):
        issues.append(ParseIssue(Location(path, si.line), si.message, si.text))
    parsed = Parsed("iptables-script", path=path)
    for fam, st in states.items():
        issues.extend(st.issues)
        if st.first_loc is not None:
            parsed.rulesets[fam] = st.ruleset()
    if not first and not parsed.rulesets:
        m = TOOL_VAR.search(text)
        line = text.count("\n", 0, m.start()) + 1 if m else 1
        issues.append(ParseIssue(Location(path, line), "no iptables command in this script runs "
                                 "when it is run as `script start` (they are echoed or built at "
                                 "run time, or sit in functions or branches chosen by other "
                                 "arguments), so its rules are not known", m.group(0).strip() if m else ""))
    parsed.issues = sorted(issues, key=lambda x: x.loc.line)
    return parsed


def _iptables(cmd: Command, st: IptablesState, loc: Location,
              issues: list[ParseIssue]) -> int | None:
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
        if w.startswith("--table="):
            table_name = w.split("=", 1)[1]
            i += 1
            continue
        if w in ("-w", "--wait", "-W", "--wait-interval"):
            i += 2 if i + 1 < len(words) and words[i + 1].replace(".", "").isdigit() else 1
            continue
        if w.startswith(("--wait=", "--wait-interval=")):
            i += 1
            continue
        if w in ("-v", "--verbose", "-n", "--numeric", "--line-numbers", "-x", "--exact",
                 "-4", "-6", "--ipv4", "--ipv6", "-vn", "-nv", "-nvL", "-vnL", "-nL", "-Ln"):
            if w.endswith("L"):
                return 0
            i += 1
            continue
        if not op and (w in COMMANDS or w in READ_ONLY or w in CHECK):
            op = [w]
            i += 1
            continue
        rest.append(w)
        i += 1
    if not op:
        issues.append(ParseIssue(loc, "an iptables call without a command (-A, -I, -P, ...)",
                                 cmd.text))
        return 2
    if op[0] in READ_ONLY:
        return 0
    if is_templated(table_name):
        issues.append(ParseIssue(loc, f"table {table_name!r} is templated: not guessed",
                                 cmd.text, templated=True))
        return 2
    before = len(st.issues)
    table = st.table(table_name, loc)
    if table is None:
        return 2
    if op[0] in CHECK:
        return _check(st, table, rest, loc, cmd.text, issues)
    run_command(st, table, op + rest, loc, cmd.text)
    return 0 if len(st.issues) == before else 1


def _check(st: IptablesState, table, rest: list[str], loc: Location, text: str,
           issues: list[ParseIssue]) -> int | None:
    """``iptables -C CHAIN RULE``: 0 when the rule is there, as the shell's tests need."""
    if not rest:
        return None
    chain = table.chains.get(rest[0])
    try:
        spec = parse_spec(rest[1:], st.family)
    except SpecError as exc:
        issues.append(ParseIssue(loc, str(exc), text))
        return None
    if chain is None or spec.templated:
        return None
    return 0 if any(r.conds == tuple(spec.conds) and r.verdict == spec.verdict
                    for r in chain.rules) else 1


def _restore(cmd: Command, st: IptablesState, issues: list[ParseIssue], path: str) -> int | None:
    """``iptables-restore <<EOF ... EOF``: the heredoc is an iptables-save file in the script."""
    if cmd.heredoc is None:
        issues.append(ParseIssue(Location(path, cmd.line), "iptables-restore reads a file this "
                                 "script does not hold: lint that file instead", cmd.text))
        return None
    before = len(st.issues)
    iptables_save.parse(cmd.heredoc, path, st.family, line_offset=cmd.heredoc_line - 1, state=st)
    st.first_loc = st.first_loc or Location(path, cmd.line)
    return 0 if len(st.issues) == before else 1
