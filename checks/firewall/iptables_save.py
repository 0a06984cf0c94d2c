"""iptables-save / ip6tables-save files (``rules.v4``, ``rules.v6``, ``/etc/sysconfig/iptables``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import fields

from imap_gate.findings import Location

from . import iptables_fast
from .iptables_args import TEMPLATE_MARKS, SpecError, parse_spec
from .iptables_model import IptablesState, Table
from .model import Action, Const, FilterRule, Parsed, ParseIssue, Tri, V

COUNTERS = re.compile(r"^\[\d+:\d+\]\s*")
V6_HINTS = re.compile(r"ipv6-icmp|icmpv6|icmp6|(?:-s|-d|--source|--destination)\s+[0-9a-fA-F:]*::?"
                      r"[0-9a-fA-F:]*[/\s]")


def guess_family(text: str, path: str) -> str:
    name = path.rsplit("/", 1)[-1].lower()
    if "6" in name and any(k in name for k in ("ip6", "v6", "rules6", "user6", "ipv6")):
        return "ipv6"
    if any(k in name for k in ("v4", "ipv4")):
        return "ipv4"
    return "ipv6" if V6_HINTS.search(text) else "ipv4"


def parse(text: str, path: str, family: str | None = None, line_offset: int = 0,
          state: IptablesState | None = None, flush_tables: bool = True) -> Parsed:
    """``state``/``line_offset``: a heredoc fed to iptables-restore inside a shell script (which
    flushes each table it loads), or ufw's rule files on top of ufw's own chains."""
    family = family or (state.family if state else guess_family(text, path))
    st = state or IptablesState(family, path)
    parsed = Parsed("iptables-save", path=path)
    rd = _Reader(st, state is not None and flush_tables)
    # iptables-restore reads lines ending in "\n" only (fgets): a form feed or a stray byte
    # inside a line (str.splitlines would split there) keeps every later line number true.
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    first_no = 1 + line_offset
    new_loc = _location if first_no >= 1 else Location
    i, n = 0, len(lines)
    while i < n:
        if rd.table is not None:
            # The common lines of a large file, rules appended to a chain, take the fast path
            # for as long as they come; it stops at the first line it does not handle.
            i = _fast_lines(st, rd.table, lines, i, path, first_no, new_loc)
            if i >= n:
                break
        raw = lines[i]
        i += 1
        line = raw.strip()
        if not line or line[0] == "#":
            continue
        loc = new_loc(path, i - 1 + first_no)
        if st.first_loc is None:
            st.first_loc = loc
        rd.line(line, raw, loc)
    if rd.open_table:
        st.issues.append(ParseIssue(Location(path, max(1, len(lines) + line_offset)),
                                    "COMMIT expected at the end of the table", ""))
    if state is None:
        parsed.rulesets[family] = st.ruleset()
    parsed.issues = st.issues
    return parsed


class _Reader:
    """The table a line of an iptables-save file is in, and every line but the fast ones."""

    def __init__(self, st: IptablesState, flush: bool) -> None:
        self.st = st
        self.flush = flush          # iptables-restore flushes each table it loads
        self.table: Table | None = None
        self.open_table = False

    def line(self, line: str, raw: str, loc: Location) -> None:
        st, stripped = self.st, line
        if line[0] == "[":
            line = COUNTERS.sub("", line)
        if line.startswith("*"):
            if self.open_table:
                st.issues.append(ParseIssue(loc, "a new table starts before COMMIT", raw))
            if self.flush:
                st.tables.pop(line[1:].strip(), None)
            self.table = st.table(line[1:].strip(), loc)
            self.open_table = True
        elif line == "COMMIT":
            if not self.open_table:
                st.issues.append(ParseIssue(loc, "COMMIT outside a table", raw))
            self.open_table = False
            self.table = None
        elif not self.open_table or self.table is None:
            st.issues.append(ParseIssue(loc, "a rule outside a table (*filter ... COMMIT)", raw))
        elif line.startswith(":"):
            parts = line[1:].split()
            if len(parts) < 2:
                st.issues.append(ParseIssue(loc, "a chain line needs ':NAME POLICY "
                                                 "[packets:bytes]'", raw))
                return
            st.set_policy(self.table, parts[0], parts[1], loc, stripped)
        else:
            # Most lines hold no quoting at all: a plain split is the same and far faster.
            words = line.split() if '"' not in line else restore_argv(line)
            command(st, self.table, words, loc, stripped)


def _location(path: str, line: int) -> Location:
    """``Location(path, line)`` for a line number >= 1 (what its ``__post_init__`` would keep as
    it is), without the frozen dataclass's guarded setattr per field: one per line of a large
    file. Where Location has no instance dict (slots), the ordinary constructor."""
    loc = object.__new__(Location)
    d = loc.__dict__
    d["path"], d["line"], d["column"], d["message"] = path, line, None, None
    return loc


if not hasattr(Location("", 1), "__dict__") or \
        [f.name for f in fields(Location)] != ["path", "line", "column", "message"]:
    _location = Location  # the layout the fast constructor assumes has changed


# Each template mark holds one of these, so a line holding none of them holds no template.
FAST_MARKS = ("$", "{", "}", "%", "!!", "@@")
assert all(any(f in m for f in FAST_MARKS) for m in TEMPLATE_MARKS)


def _fast_lines(st: IptablesState, table: Table, lines: list[str], i: int, path: str,
                first_no: int, new_loc: Callable[[str, int], Location]) -> int:
    """Append the ``-A CHAIN ...`` rules from ``lines[i]`` on through the compiled plans of
    iptables_fast, and the index of the first line it leaves to the full way (``_Reader``):
    one it does not plainly handle, which the full way decides alike and reports (a plan or
    value iptables refuses, a chain that does not exist, quotes, a template mark, ...).

    A line the last plan's regex matches has that plan's words (the regex says so); any
    other is split and looked up."""
    n, family, chains = len(lines), st.family, table.chains
    cp: iptables_fast.Compiled | None = None
    rx: Callable[[str], re.Match[str] | None] | None = None
    chain, rules = "", None
    prebuilt = FilterRule.prebuilt
    while i < n:
        line = lines[i].strip()
        if not line or line[0] == "#":
            i += 1
            continue
        m = rx(line) if rx is not None else None
        if m is not None:
            words: Sequence[str] = m.groups()
            make = cp.rx_make  # type: ignore[union-attr]
        else:
            text = line
            if line[0] == "[":
                line = COUNTERS.sub("", line)
            if line[:3] != "-A " or _not_plain(line):
                return i
            words = line.split()
            if cp is None or not cp.matches(words):  # type: ignore[arg-type]
                cp = iptables_fast.lookup(words, family)  # type: ignore[arg-type]
                if cp is None:
                    return i
                rx = cp.rx
            make = cp.make
            line = text
        assert cp is not None
        if words[1] != chain or rules is None:
            c = chains.get(words[1])
            if c is None:
                return i
            chain, rules = words[1], c.rules
        if chain in cp.refused_chains:
            return i
        try:
            conds = make(words)
        except SpecError:
            return i
        if cp.reset_refused and "tcp-reset" in words:
            return i
        loc = new_loc(path, i + first_no)
        if st.first_loc is None:
            st.first_loc = loc
        d = cp.dport
        rules.append(prebuilt(conds, cp.verdict, loc, line,
                              (cp.tcp, (conds[d],)) if d >= 0 else cp.port_filter(conds),  # type: ignore[arg-type]
                              cp.effects))
        if not st.touched_input:
            st.note_input(table, chain)
        i += 1
    return i


def _not_plain(line: str) -> bool:
    """Quotes or (a superset of) template marks: the line goes the full way."""
    return '"' in line or "$" in line or "{" in line or "}" in line or "%" in line or \
        "!!" in line or "@@" in line


def restore_argv(line: str) -> list[str]:
    """Split a rule line the way iptables-restore does (add_param_to_argv): only double quotes
    group words, a backslash escapes inside them, a closing quote ends the word, and a quote
    left open runs to the end of the line. Single quotes are ordinary characters."""
    out: list[str] = []
    buf: list[str] = []
    quoted = escaped = False
    for ch in line:
        if quoted:
            if escaped:
                buf.append(ch)
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
                out.append("".join(buf))
                buf = []
            else:
                buf.append(ch)
            continue
        if ch == '"':
            quoted = True
        elif ch in " \t\n":
            if buf:
                out.append("".join(buf))
                buf = []
        else:
            buf.append(ch)
    if buf:
        out.append("".join(buf))
    return out


LONG_COMMANDS = {"--append": "-A", "--insert": "-I", "--delete": "-D", "--flush": "-F",
                 "--delete-chain": "-X", "--new-chain": "-N", "--new": "-N", "--policy": "-P",
                 "--zero": "-Z"}


def command(st: IptablesState, table: Table, words: list[str], loc: Location, raw: str) -> None:
    """One iptables command on ``table``: -A/-I/-D/-F/-X/-N/-P and their long forms."""
    if not words:
        return
    op = LONG_COMMANDS.get(words[0], words[0])
    rest = words[1:]
    try:
        if op in ("-A", "-I", "-D"):
            if not rest:
                raise SpecError(f"{op} needs a chain")
            chain = rest[0]
            spec_words = rest[1:]
            position = None
            if op == "-I":
                position = 1
                if spec_words and spec_words[0].isdigit():
                    position = int(spec_words[0])
                    spec_words = spec_words[1:]
            try:
                spec = parse_spec(spec_words, st.family)
            except SpecError as exc:
                # Fail closed: the rule stays in place as one whose effect is unknown.
                st.issues.append(ParseIssue(loc, str(exc), raw))
                if op != "-D":
                    st.add(table, chain, FilterRule((Const(Tri.MAYBE, str(exc)),), Action(V.UNKNOWN),
                                              loc, raw), position, loc)
                return
            if "-o" in spec.options and chain in ("INPUT", "PREROUTING"):
                raise SpecError(f"can't use -o with {chain} (iptables refuses it)")
            if "-i" in spec.options and chain in ("OUTPUT", "POSTROUTING"):
                raise SpecError(f"can't use -i with {chain} (iptables refuses it)")
            rule = FilterRule(tuple(spec.conds), spec.verdict, loc, raw)
            if spec.templated:
                st.issues.append(ParseIssue(loc, "templated value(s) " + ", ".join(
                    repr(t) for t in spec.templated) + " are not guessed", raw, templated=True))
            if op == "-D":
                st.delete(table, chain, rule, loc)
            else:
                st.add(table, chain, rule, position, loc)
        elif op == "-F":
            st.flush(table, rest[0] if rest else None, loc)
        elif op == "-X":
            st.delete_chain(table, rest[0] if rest else None, loc)
        elif op == "-N":
            if not rest:
                raise SpecError("-N needs a chain name")
            if rest[0] in table.chains:
                raise SpecError(f"chain {rest[0]!r} already exists")
            st.chain(table, rest[0], loc, create=True)
        elif op == "-P":
            if len(rest) < 2:
                raise SpecError("-P needs a chain and a policy")
            st.set_policy(table, rest[0], rest[1], loc, raw)
        elif op == "-Z":
            pass
        else:
            raise SpecError(f"unknown command {words[0]!r}")
    except SpecError as exc:
        st.issues.append(ParseIssue(loc, str(exc), raw))
