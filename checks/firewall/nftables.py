"""nftables rulesets as ``nft -f`` reads them.

What matters for a packet to the host: base chains of type filter on the
prerouting and input hooks of ``ip``/``ip6``/``inet`` tables, ordered by hook and
priority. An omitted policy is accept. Rules are read statement by statement; an
expression this reader does not model becomes an undecidable condition (so it
can only make the verdict "unknown", never wrong).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from imap_gate.findings import Location

from .iptables_args import is_templated
from .model import (
    Chain,
    Cond,
    Const,
    Dest,
    FamilyIs,
    InIface,
    Parsed,
    ParseIssue,
    Ports,
    Proto,
    Rule,
    Ruleset,
    Source,
    State,
    Tri,
    V,
    Verdict,
)
from .services import port_of

Reader = Callable[[str, str], list[tuple[str, str]]]   # (including file, name) -> [(rel path, text)]

PRIORITIES = {"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50,
              "srcnat": 100}
HOOK_ORDER = {"prerouting": 0, "input": 1}
FLAG_BITS = {"fin": 1, "syn": 2, "rst": 4, "psh": 8, "ack": 16, "urg": 32, "ecn": 64, "cwr": 128}
KNOWN_HEADS = {"ip", "ip6", "tcp", "udp", "udplite", "sctp", "dccp", "th", "meta", "ct", "iif",
               "iifname", "oif", "oifname", "icmp", "icmpv6", "ether", "vlan", "arp", "fib",
               "limit", "counter", "log", "comment", "mark", "socket", "rt", "exthdr", "ipsec",
               "numgen", "jhash", "symhash", "osf", "quota", "synproxy", "tproxy", "dup", "fwd",
               "notrack", "flow", "queue", "set", "update", "add", "delete", "ah", "esp", "comp",
               "igmp", "frag", "hbh", "dst", "mh", "srh", "l4proto", "nfproto", "pkttype",
               "skuid", "skgid", "cgroup", "cpu", "iiftype", "oiftype", "accept", "drop",
               "reject", "return", "jump", "goto", "continue", "dnat", "snat", "masquerade",
               "redirect", "iifgroup", "oifgroup", "ingress", "tcpopt", "reset", "vmap",
               "priority", "length", "nexthdr", "protocol", "time", "day", "hour", "random",
               "gre", "vxlan", "geneve", "inner", "xfrm", "ipv4", "ipv6", "ip6nexthdr", "nftrace",
               "iifkind", "oifkind", "sdif", "sdifname", "last", "secmark"}


@dataclass
class Tok:
    text: str
    line: int


@dataclass
class NSet:
    name: str
    elements: list[str] | None = None   # None: members unknown (dynamic, or filled at run time)
    line: int = 1


@dataclass
class NChain:
    name: str
    line: int
    hook: str | None = None
    ctype: str | None = None
    priority: int = 0
    policy: V | None = None
    policy_line: int | None = None
    policy_text: str = ""
    rules: list[Rule] = field(default_factory=list)
    path: str = ""


@dataclass
class NTable:
    family: str
    name: str
    line: int
    chains: dict[str, NChain] = field(default_factory=dict)
    sets: dict[str, NSet] = field(default_factory=dict)


class NftError(Exception):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


# ---------------------------------------------------------------- tokens

TOKEN = re.compile(r'\\[ \t\r]*\n|"(?:[^"\\\n]|\\.)*"|[{};,\n]|[^\s{};,"#\\]+|#[^\n]*|[ \t\r]+')
TEMPLATE_LINE = re.compile(r"\{\{|\{%|<%|%%\w|!!\w")


def tokenize(text: str) -> list[Tok]:
    out: list[Tok] = []
    line = 1
    pos = 0
    n = len(text)
    while pos < n:
        m = TOKEN.match(text, pos)
        if m is None:
            raise NftError(f"unexpected character {text[pos]!r}", line)
        t = m.group(0)
        pos = m.end()
        if t.startswith("#") or (t.isspace() and t != "\n"):
            continue
        if t.startswith("\\"):
            line += 1
            continue
        out.append(Tok(t, line))
        line += t.count("\n")
    return out


def statements(toks: list[Tok]) -> list[list[Tok]]:
    """Split at newline / ';' outside braces, keeping each ``{ ... }`` block inside its statement."""
    out: list[list[Tok]] = []
    cur: list[Tok] = []
    depth = 0
    for t in toks:
        if t.text == "{":
            depth += 1
        elif t.text == "}":
            depth -= 1
        if depth == 0 and t.text in ("\n", ";"):
            if cur:
                out.append(cur)
            cur = []
            continue
        if t.text == "\n" and depth > 0:
            cur.append(t)
            continue
        cur.append(t)
        if depth < 0:
            raise NftError("unbalanced '}'", t.line)
    if depth != 0:
        raise NftError("unbalanced '{' (a block is not closed)", toks[-1].line if toks else 1)
    if cur:
        out.append(cur)
    return out


def _block(stmt: list[Tok], start: int) -> tuple[list[Tok], int]:
    """The tokens between the '{' at ``start`` and its '}', and the index after it."""
    depth = 0
    for i in range(start, len(stmt)):
        if stmt[i].text == "{":
            depth += 1
        elif stmt[i].text == "}":
            depth -= 1
            if depth == 0:
                return stmt[start + 1:i], i + 1
    raise NftError("unbalanced '{'", stmt[start].line)


# ---------------------------------------------------------------- the reader

class NftParser:
    def __init__(self, path: str, reader: Reader | None) -> None:
        self.path = path
        self.reader = reader
        self.defines: dict[str, list[Tok]] = {}
        self.tables: dict[tuple[str, str], NTable] = {}
        self.issues: list[ParseIssue] = []
        self.first_line: int | None = None
        self.include_stack: list[str] = [path]
        self.cur_path = path

    def issue(self, line: int, msg: str, text: str = "", templated: bool = False) -> None:
        self.issues.append(ParseIssue(Location(self.cur_path, line), msg, text, templated))

    def loc(self, line: int) -> Location:
        return Location(self.cur_path, line)

    def run(self, text: str) -> None:
        for no, raw in enumerate(text.splitlines(), 1):
            if TEMPLATE_LINE.search(raw) and not raw.lstrip().startswith("#"):
                self.issue(no, "templated text is not nft syntax; its value is not guessed",
                           raw.strip(), templated=True)
        try:
            toks = tokenize(text)
            stmts = statements(toks)
        except NftError as exc:
            self.issue(exc.line, str(exc))
            return
        lines = text.splitlines()
        self.lines_of = lines
        for st in stmts:
            if self.first_line is None and self.cur_path == self.path:
                self.first_line = st[0].line
            try:
                self.top(st, lines)
            except NftError as exc:
                self.issue(exc.line, str(exc), _line_text(lines, exc.line))

    def expand(self, toks: list[Tok]) -> list[Tok]:
        out: list[Tok] = []
        for t in toks:
            if t.text.startswith("$") and len(t.text) > 1:
                name = t.text[1:]
                if name in self.defines:
                    out.extend(Tok(x.text, t.line) for x in self.defines[name])
                    continue
                raise NftError(f"undefined variable {t.text!r} (templated or defined elsewhere: "
                               "not guessed)", t.line)
            out.append(t)
        return out

    def top(self, st: list[Tok], lines: list[str]) -> None:
        head = st[0].text
        words = [t.text for t in st]
        if head == "define" or head == "redefine":
            if len(st) < 4 or st[2].text != "=":
                raise NftError("define needs 'define NAME = VALUE'", st[0].line)
            self.defines[st[1].text] = [t for t in self.expand(st[3:]) if t.text != "\n"]
            return
        if head == "undefine":
            self.defines.pop(st[1].text if len(st) > 1 else "", None)
            return
        if head == "include":
            self.include(st)
            return
        if head == "flush" and words[1:2] == ["ruleset"]:
            self.tables.clear()
            return
        if head == "table":
            self.table_block(st)
            return
        if head in ("add", "create", "insert", "flush", "delete", "destroy", "replace"):
            self.command(st)
            return
        if is_templated(head):
            raise NftError(f"templated text {head!r} is not nft syntax (not guessed)", st[0].line)
        raise NftError(f"unknown statement {head!r}", st[0].line)

    def include(self, st: list[Tok]) -> None:
        if len(st) < 2:
            raise NftError("include needs a file name", st[0].line)
        name = st[1].text.strip('"')
        if self.reader is None:
            self.issue(st[0].line, f"include {name!r} was not read")
            return
        if len(self.include_stack) > 16:
            raise NftError("includes nest too deep", st[0].line)
        found = self.reader(self.cur_path, name)
        if not found:
            raise NftError(f"include {name!r}: no such file inside the root (files outside the "
                           "root are never read)", st[0].line)
        for rel, text in found:
            if rel in self.include_stack:
                raise NftError(f"include {name!r} includes itself", st[0].line)
            saved, saved_lines = self.cur_path, self.lines_of
            self.include_stack.append(rel)
            self.cur_path = rel
            try:
                self.run(text)
            finally:
                self.cur_path, self.lines_of = saved, saved_lines
                self.include_stack.pop()

    def get_table(self, family: str, name: str, line: int) -> NTable:
        key = (family, name)
        if key not in self.tables:
            self.tables[key] = NTable(family, name, line)
        return self.tables[key]

    def table_spec(self, words: list[Tok], line: int) -> tuple[str, str, int]:
        """``[family] name``: returns (family, name, tokens used)."""
        if not words:
            raise NftError("a table needs a name", line)
        if words[0].text in ("ip", "ip6", "inet", "arp", "bridge", "netdev") and len(words) > 1 \
                and words[1].text not in ("{",):
            return words[0].text, words[1].text, 2
        return "ip", words[0].text, 1

    def table_block(self, st: list[Tok]) -> None:
        fam, name, used = self.table_spec(st[1:], st[0].line)
        table = self.get_table(fam, name, st[0].line)
        i = 1 + used
        if i >= len(st):
            return
        if st[i].text != "{":
            raise NftError(f"expected '{{' after table {name}", st[i].line)
        body, end = _block(st, i)
        if end < len(st):
            raise NftError(f"unexpected {st[end].text!r} after the table's closing brace", st[end].line)
        for sub in statements(body):
            try:
                self.table_item(table, sub)
            except NftError as exc:
                self.issue(exc.line, str(exc), _line_text(self.lines_of, exc.line))

    def table_item(self, table: NTable, st: list[Tok]) -> None:
        head = st[0].text
        if head == "chain":
            if len(st) < 2:
                raise NftError("a chain needs a name", st[0].line)
            chain = self.chain(table, st[1].text, st[0].line)
            if len(st) > 2 and st[2].text == "{":
                body, _ = _block(st, 2)
                for sub in statements(body):
                    try:
                        self.chain_item(table, chain, sub)
                    except NftError as exc:
                        self.issue(exc.line, str(exc), _line_text(self.lines_of, exc.line))
                        chain.rules.append(_unknown_rule(self.loc(exc.line), str(exc),
                                                         _line_text(self.lines_of, exc.line)))
            return
        if head in ("set", "map"):
            if len(st) < 2:
                raise NftError(f"a {head} needs a name", st[0].line)
            nset = NSet(st[1].text, None, st[0].line)
            if len(st) > 2 and st[2].text == "{":
                body, _ = _block(st, 2)
                for sub in statements(body):
                    if sub[0].text == "elements" and len(sub) > 2 and sub[1].text == "=":
                        nset.elements = _flat_values(self.expand(sub[2:]))
            table.sets[nset.name] = nset
            return
        if head in ("flowtable", "counter", "quota", "ct", "limit", "secmark", "synproxy",
                    "comment", "flags"):
            return
        raise NftError(f"unknown table item {head!r}", st[0].line)

    def chain(self, table: NTable, name: str, line: int) -> NChain:
        if name not in table.chains:
            table.chains[name] = NChain(name, line, path=self.cur_path)
        return table.chains[name]

    def chain_item(self, table: NTable, chain: NChain, st: list[Tok]) -> None:
        head = st[0].text
        words = [t.text for t in st]
        if head == "type":
            if len(words) < 6 or words[2] != "hook" or words[4] != "priority":
                raise NftError("a base chain needs 'type T hook H priority P;'", st[0].line)
            chain.ctype, chain.hook = words[1], words[3]
            chain.priority = _priority(self.expand(st[5:]), st[0].line)
            if chain.policy is None:
                chain.policy_line = st[0].line
                chain.path = self.cur_path
            return
        if head == "policy":
            val = self.expand(st[1:2])
            p = val[0].text if val else ""
            if p not in ("accept", "drop"):
                raise NftError(f"policy {p!r}: write accept or drop", st[0].line)
            chain.policy = V.ACCEPT if p == "accept" else V.DROP
            chain.policy_line = st[0].line
            chain.path = self.cur_path
            chain.policy_text = _line_text(self.lines_of, st[0].line)
            return
        if head in ("comment", "devices", "device", "flags"):
            return
        chain.rules.extend(self.rules(table, st))

    def command(self, st: list[Tok]) -> None:
        words = [t.text for t in st]
        verb = words[0]
        if len(words) < 2:
            raise NftError(f"{verb} needs an object", st[0].line)
        obj = words[1]
        rest = st[2:]
        if obj == "table":
            fam, name, used = self.table_spec(rest, st[0].line)
            if verb in ("delete", "destroy"):
                self.tables.pop((fam, name), None)
            elif verb == "flush":
                t = self.tables.get((fam, name))
                if t:
                    for c in t.chains.values():
                        c.rules.clear()
            else:
                self.get_table(fam, name, st[0].line)
                if len(rest) > used and rest[used].text == "{":
                    self.table_block([st[0], *rest])
            return
        if obj in ("chain", "rule", "set", "element", "map"):
            fam, tname, used = self.table_spec(rest, st[0].line)
            table = self.tables.get((fam, tname))
            if table is None:
                raise NftError(f"table {fam} {tname} does not exist", st[0].line)
            rest = rest[used:]
            if not rest:
                raise NftError(f"{obj} needs a name", st[0].line)
            name = rest[0].text
            if obj == "chain":
                if verb in ("delete", "destroy"):
                    table.chains.pop(name, None)
                elif verb == "flush":
                    if name in table.chains:
                        table.chains[name].rules.clear()
                else:
                    self.table_item(table, [Tok("chain", st[0].line), *rest])
                return
            if obj == "rule":
                if verb in ("delete", "destroy", "replace"):
                    return
                if name not in table.chains:
                    raise NftError(f"chain {name!r} does not exist", st[0].line)
                chain = table.chains[name]
                body = rest[1:]
                if body and body[0].text in ("position", "handle", "index"):
                    body = body[2:]  # placed at the chain's start (insert) or end (add)
                new = self.rules(table, body) if body else []
                if verb == "insert":
                    chain.rules[0:0] = new
                else:
                    chain.rules.extend(new)
                return
            if obj in ("set", "map"):
                self.table_item(table, [Tok(obj, st[0].line), *rest])
                return
            if obj == "element":
                nset = table.sets.get(name)
                if nset is None:
                    raise NftError(f"set {name!r} does not exist", st[0].line)
                if verb in ("add", "create"):
                    nset.elements = (nset.elements or []) + _flat_values(self.expand(rest[1:]))
                return
        if verb == "flush" and obj == "ruleset":
            self.tables.clear()
            return
        if obj in ("flowtable", "counter", "quota", "ct", "limit", "secmark", "synproxy"):
            return
        raise NftError(f"unknown command '{verb} {obj}'", st[0].line)

    # ------------------------------------------------------------ rules

    def rules(self, table: NTable, st: list[Tok]) -> list[Rule]:
        line = st[0].line
        text = _line_text(self.lines_of, line)
        loc = self.loc(line)
        try:
            toks = self.expand(st)
        except NftError as exc:
            self.issue(exc.line, str(exc), text, templated=True)
            return [_unknown_rule(loc, str(exc), text)]
        toks = [t for t in toks if t.text != "\n"]
        try:
            return RuleReader(self, table, toks, loc, text).read()
        except NftError as exc:
            self.issue(exc.line, str(exc), text)
            return [_unknown_rule(loc, str(exc), text)]

    # ------------------------------------------------------------ result

    def rulesets(self) -> dict[str, Ruleset]:
        out: dict[str, Ruleset] = {}
        first = Location(self.path, self.first_line or 1)
        for fam in ("ipv4", "ipv6"):
            wanted = {"ip", "inet"} if fam == "ipv4" else {"ip6", "inet"}
            tables = [t for t in self.tables.values() if t.family in wanted]
            if not tables:
                continue
            rs = Ruleset(fam, first_loc=first)
            bases: list[tuple[int, int, int, str]] = []
            for ti, t in enumerate(tables):
                for ci, c in enumerate(t.chains.values()):
                    key = f"{t.family} {t.name}/{c.name}"
                    policy_loc = self.policy_loc(c)
                    ch = Chain(key, [_qualify(r, t) for r in c.rules], policy=None,
                               policy_loc=policy_loc)
                    if c.hook in HOOK_ORDER and c.ctype == "filter":
                        ch.policy = c.policy or V.ACCEPT
                        ch.policy_implicit = c.policy is None
                        ch.policy_text = c.policy_text or (
                            f"chain {c.name}: no policy, so nftables accepts by default")
                        bases.append((HOOK_ORDER[c.hook], c.priority, ti * 10000 + ci, key))
                    rs.chains[key] = ch
            rs.stages = [k for *_, k in sorted(bases)]
            if not rs.stages:
                # A fragment (e.g. a chain meant to be included in another ruleset): read its
                # chains named input as the input path, with what follows them unknown.
                frag = [f"{t.family} {t.name}/{c.name}" for t in tables for c in t.chains.values()
                        if c.name.lower() == "input" and c.hook is None]
                rs.stages = frag
                if frag:
                    rs.notes.append("no base chain hooks input in this file; the chain named "
                                    "input is read as if it were hooked, with the rest unknown")
            out[fam] = rs
        return out

    def policy_loc(self, c: NChain) -> Location:
        return Location(c.path or self.path, c.policy_line or c.line)


def _check_jumps(p: NftParser) -> None:
    """nft refuses a jump or goto to a chain its table does not have."""
    for t in p.tables.values():
        for c in t.chains.values():
            for r in c.rules:
                if r.verdict.kind in (V.JUMP, V.GOTO) and r.verdict.target not in t.chains:
                    p.issues.append(ParseIssue(r.loc, f"{r.verdict.kind.value} to chain "
                                                      f"{r.verdict.target!r}, which table "
                                                      f"{t.family} {t.name} does not have", r.text))


def _qualify(rule: Rule, table: NTable) -> Rule:
    if rule.verdict.kind in (V.JUMP, V.GOTO) and rule.verdict.target:
        return Rule(rule.conds, Verdict(rule.verdict.kind,
                                        f"{table.family} {table.name}/{rule.verdict.target}"),
                    rule.loc, rule.text)
    return rule


def _unknown_rule(loc: Location, why: str, text: str) -> Rule:
    return Rule((Const(Tri.MAYBE, why),), Verdict(V.UNKNOWN), loc, text)


def _line_text(lines: list[str], line: int) -> str:
    return lines[line - 1].strip() if 0 < line <= len(lines) else ""


def _priority(toks: list[Tok], line: int) -> int:
    words = [t.text for t in toks]
    if not words:
        raise NftError("priority needs a value", line)
    total = 0
    sign = 1
    for w in words:
        if w in ("+", "-"):
            sign = 1 if w == "+" else -1
            continue
        if w in PRIORITIES:
            total += sign * PRIORITIES[w]
        else:
            try:
                total += sign * int(w)
            except ValueError:
                raise NftError(f"bad priority {w!r}", line) from None
        sign = 1
    return total


def _flat_values(toks: list[Tok]) -> list[str]:
    return [t.text for t in toks if t.text not in ("{", "}", ",", "\n")]


# ---------------------------------------------------------------- one rule

class RuleReader:
    """Reads one rule's expressions left to right into conditions and a verdict."""

    def __init__(self, parser: NftParser, table: NTable, toks: list[Tok], loc: Location,
                 text: str) -> None:
        self.p = parser
        self.table = table
        self.toks = toks
        self.i = 0
        self.loc = loc
        self.text = text
        self.conds: list[Cond] = []
        self.verdict = Verdict(V.NONE)
        self.vmap: list[tuple[Cond, Verdict]] | None = None

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.toks[j].text if j < len(self.toks) else ""

    def take(self) -> str:
        if self.i >= len(self.toks):
            raise NftError("the rule ends too early", self.loc.line)
        t = self.toks[self.i].text
        self.i += 1
        return t

    def value(self) -> tuple[bool, list[str], str | None]:
        """[op] value-or-set: (negated, plain values, named set)."""
        neg = False
        if self.peek() in ("!=", "==", "eq", "ne"):
            neg = self.take() in ("!=", "ne")
        t = self.peek()
        if t == "{":
            depth = 0
            vals: list[str] = []
            while True:
                w = self.take()
                if w == "{":
                    depth += 1
                elif w == "}":
                    depth -= 1
                    if depth == 0:
                        break
                elif w != ",":
                    vals.append(w)
            return neg, vals, None
        w = self.take()
        if w.startswith("@"):
            return neg, [], w[1:]
        vals = [w]
        while self.peek() == ",":  # "ct state established,related"
            self.take()
            vals.append(self.take())
        return neg, vals, None

    def read(self) -> list[Rule]:
        while self.i < len(self.toks):
            w = self.take()
            self.expr(w)
        if self.vmap is not None:
            return [Rule((*self.conds, c), v, self.loc, self.text) for c, v in self.vmap]
        return [Rule(tuple(self.conds), self.verdict, self.loc, self.text)]

    def set_verdict(self, v: Verdict) -> None:
        if self.verdict.kind is not V.NONE:
            raise NftError("a rule has at most one verdict", self.loc.line)
        self.verdict = v

    def expr(self, w: str) -> None:
        if w in ("accept",):
            self.set_verdict(Verdict(V.ACCEPT))
        elif w in ("drop",):
            self.set_verdict(Verdict(V.DROP))
        elif w == "reject":
            self.set_verdict(Verdict(V.DROP))
            if self.peek() == "with":
                self.take()
                kind = self.take()  # tcp reset | icmp[v6|x] [type] CODE
                if kind == "tcp":
                    self.take()
                else:
                    if self.peek() == "type":
                        self.take()
                    self.take()
        elif w == "return":
            self.set_verdict(Verdict(V.RETURN))
        elif w in ("jump", "goto"):
            self.set_verdict(Verdict(V.JUMP if w == "jump" else V.GOTO, self.take()))
        elif w == "continue":
            pass
        elif w == "queue":
            self.set_verdict(Verdict(V.UNKNOWN))
            self.skip_args()
        elif w in ("dnat", "snat", "redirect", "masquerade", "tproxy"):
            self.set_verdict(Verdict(V.ACCEPT))
            self.skip_args()
        elif w in ("tcp", "udp", "udplite", "sctp", "dccp", "th"):
            self.transport(w)
        elif w in ("ip", "ip6"):
            self.ip(w)
        elif w in ("iif", "iifname"):
            neg, vals, nset = self.value()
            if nset is not None:
                self.conds.append(InIface((), unknown=True))
            else:
                self.conds.append(InIface(tuple(v.strip('"') for v in vals), neg))
        elif w in ("oif", "oifname"):
            self.value()
            self.conds.append(Const(Tri.NO, "an incoming packet has no output interface yet"))
        elif w == "meta":
            self.meta()
        elif w == "ct":
            self.ct()
        elif w in ("l4proto", "nfproto", "iifname", "mark", "pkttype", "skuid"):
            self.i -= 1
            self.meta()
        elif w in ("icmp", "icmpv6"):
            self.take()
            self.value()
            self.conds.append(Proto(frozenset({w})))
        elif w == "counter":
            while self.peek() in ("packets", "bytes", "name"):
                self.take()
                self.take()
        elif w == "log":
            while self.peek() in ("prefix", "level", "flags", "group", "snaplen", "queue-threshold"):
                k = self.take()
                self.take()
                if k == "flags" and self.peek() in ("options", "sequence"):
                    self.take()
        elif w == "comment":
            self.take()
        elif w == "limit":
            self.limit()
        elif w == "fib":
            self.fib()
        elif w == "vmap":
            raise NftError("vmap without a key", self.loc.line)
        elif w in ("notrack", "flow") or w in ("mark", "nftrace"):
            self.skip_args()
        elif w in KNOWN_HEADS:
            # A selector this reader does not model: its match is not guessed.
            self.conds.append(Const(Tri.MAYBE, f"nft expression {w!r} is not modelled"))
            self.skip_args()
        elif is_templated(w):
            raise NftError(f"templated value {w!r} is not guessed", self.loc.line)
        else:
            raise NftError(f"unknown expression {w!r}", self.loc.line)

    def skip_args(self) -> None:
        stops = {"accept", "drop", "reject", "return", "jump", "goto", "counter", "log", "comment",
                 "continue"}
        depth = 0
        while self.i < len(self.toks):
            t = self.peek()
            if depth == 0 and t in stops:
                return
            if t == "{":
                depth += 1
            elif t == "}":
                depth -= 1
            self.take()

    def maybe_vmap(self, make: Callable[[list[str]], Cond]) -> bool:
        if self.peek() != "vmap":
            return False
        self.take()
        _neg, vals, nset = self.value()
        if nset is not None:
            raise NftError("named verdict maps are not read", self.loc.line)
        entries: list[tuple[Cond, Verdict]] = []
        k = 0
        while k < len(vals):
            key = vals[k]
            if k + 2 >= len(vals) + 1 or vals[k + 1] != ":":
                # "143 : accept" may arrive as "143", ":", "accept" or "143:" "accept"
                if key.endswith(":"):
                    key = key[:-1]
                    k -= 1
                else:
                    raise NftError("a verdict map needs 'key : verdict'", self.loc.line)
            verdict_word = vals[k + 2]
            k += 3
            if verdict_word in ("jump", "goto"):
                target = vals[k]
                k += 1
                v = Verdict(V.JUMP if verdict_word == "jump" else V.GOTO, target)
            else:
                v = {"accept": Verdict(V.ACCEPT), "drop": Verdict(V.DROP),
                     "reject": Verdict(V.DROP), "return": Verdict(V.RETURN),
                     "continue": Verdict(V.NONE)}.get(verdict_word, Verdict(V.UNKNOWN))
            entries.append((make([key]), v))
        self.vmap = entries
        return True

    def transport(self, proto: str) -> None:
        field = self.take()
        if field in ("dport", "sport"):
            src = field == "sport"
            if proto != "th":
                self.conds.append(Proto(frozenset({proto})))
            if self.maybe_vmap(lambda vals: self.ports(vals, None, False, src)):
                return
            neg, vals, nset = self.value()
            self.conds.append(self.ports(vals, nset, neg, src))
        elif field == "flags" and proto == "tcp":
            self.conds.append(Proto(frozenset({"tcp"})))
            self.conds.append(self.tcp_flags())
        else:
            if proto != "th":
                self.conds.append(Proto(frozenset({proto})))
            self.conds.append(Const(Tri.MAYBE, f"{proto} {field}"))
            self.value()

    def ports(self, vals: list[str], nset: str | None, neg: bool, src: bool) -> Ports:
        if nset is not None:
            s = self.table.sets.get(nset)
            if s is None:
                raise NftError(f"set @{nset} is not defined", self.loc.line)
            if s.elements is None:
                return Ports((), neg, src, unknown=f"@{nset} (members unknown)")
            vals = s.elements
        ranges: list[tuple[int, int]] = []
        for v in vals:
            if is_templated(v):
                return Ports((), neg, src, unknown=v)
            if "-" in v and not v.startswith("-"):
                a, b = v.split("-", 1)
                lo, hi = port_of(a), port_of(b)
            else:
                lo = hi = port_of(v)
            if lo is None or hi is None:
                raise NftError(f"{v!r} is not a port or a known service name", self.loc.line)
            ranges.append((lo, hi))
        return Ports(tuple(ranges), neg, src)

    def ip(self, w: str) -> None:
        fam = "ipv4" if w == "ip" else "ipv6"
        field = self.take()
        self.conds.append(FamilyIs(fam))
        if field in ("saddr", "daddr"):
            if self.maybe_vmap(lambda vals: self.addrs(vals, None, False, fam)):
                return
            neg, vals, nset = self.value()
            if field == "saddr":
                self.conds.append(self.addrs(vals, nset, neg, fam))
            elif nset is None:
                dst = self.addrs(vals, None, neg, fam)
                if dst.nets:
                    self.conds.append(Dest(dst.nets, neg))
        elif field in ("protocol", "nexthdr"):
            neg, vals, nset = self.value()
            self.conds.append(Proto(frozenset(v.lower() for v in vals), neg) if nset is None
                              else Const(Tri.MAYBE, "protocol set"))
        elif field == "version":
            neg, vals, _ = self.value()
            self.conds.append(Const(Tri.of((("4" if fam == "ipv4" else "6") in vals) != neg)))
        else:
            self.conds.append(Const(Tri.MAYBE, f"{w} {field}"))
            self.value()

    def addrs(self, vals: list[str], nset: str | None, neg: bool, fam: str) -> Source:
        if nset is not None:
            s = self.table.sets.get(nset)
            if s is None:
                raise NftError(f"set @{nset} is not defined", self.loc.line)
            if s.elements is None:
                return Source(sets=(f"@{nset}",), negate=neg)
            vals = s.elements
        nets: list = []
        sets: list[str] = []
        for v in vals:
            if is_templated(v):
                sets.append(f"{v} (templated)")
                continue
            try:
                if "-" in v and "/" not in v:
                    a, b = (ipaddress.ip_address(x) for x in v.split("-", 1))
                    nets.extend(ipaddress.summarize_address_range(a, b))  # type: ignore[arg-type]
                else:
                    nets.append(ipaddress.ip_network(v, strict=False))
            except (ValueError, TypeError):
                raise NftError(f"{v!r} is not an address or network", self.loc.line) from None
        for n in nets:
            if (n.version == 4) != (fam == "ipv4"):
                raise NftError(f"{n} is not an {fam} address", self.loc.line)
        return Source(tuple(nets), tuple(sets), neg)

    def meta(self) -> None:
        field = self.take()
        if field in ("l4proto", "protocol") and field == "l4proto":
            neg, vals, nset = self.value()
            self.conds.append(Proto(frozenset(v.lower() for v in vals), neg) if nset is None
                              else Const(Tri.MAYBE, "l4proto set"))
        elif field == "nfproto":
            neg, vals, _ = self.value()
            self.conds.append(_family_cond(vals, neg))
        elif field in ("iif", "iifname"):
            neg, vals, nset = self.value()
            self.conds.append(InIface(tuple(v.strip('"') for v in vals), neg, unknown=nset is not None))
        elif field in ("oif", "oifname"):
            self.value()
            self.conds.append(Const(Tri.NO, "no output interface on input"))
        elif field == "pkttype":
            neg, vals, _ = self.value()
            self.conds.append(Const(Tri.of(("host" in vals or "unicast" in vals) != neg)))
        elif field in ("mark", "nftrace", "priority") and self.peek() == "set":
            self.take()
            self.take()
        else:
            self.conds.append(Const(Tri.MAYBE, f"meta {field}"))
            self.value()

    def ct(self) -> None:
        field = self.take()
        if field == "state":
            if self.peek() == "vmap":
                self.maybe_vmap(lambda vals: State(frozenset(vals)))
                return
            neg, vals, _ = self.value()
            states = frozenset(s for v in vals for s in v.split(","))
            self.conds.append(State(states, neg))
        elif field in ("mark", "label") and self.peek() == "set":
            self.take()
            self.take()
        elif field == "original" or field == "reply":
            self.conds.append(Const(Tri.MAYBE, f"ct {field}"))
            self.take()
            self.value()
        else:
            self.conds.append(Const(Tri.MAYBE, f"ct {field}"))
            self.value()

    def limit(self) -> None:
        if self.take() != "rate":
            raise NftError("limit needs 'rate'", self.loc.line)
        over = False
        if self.peek() == "over":
            self.take()
            over = True
        self.take()  # N/unit or N
        if self.peek() in ("second", "minute", "hour", "day", "week", "bytes", "kbytes", "mbytes"):
            self.take()
        if self.peek().startswith("/"):
            self.take()
        if self.peek() == "burst":
            self.take()
            self.take()
            if self.peek() in ("packets", "bytes", "kbytes", "mbytes"):
                self.take()
        self.conds.append(Const(Tri.of(not over), "limit"))

    def fib(self) -> None:
        words = []
        while self.peek() and self.peek() not in ("accept", "drop", "reject", "return", "jump",
                                                  "goto", "counter", "log", "comment"):
            words.append(self.take())
        joined = " ".join(words)
        if "type" in words and "local" in words and "daddr" in words:
            self.conds.append(Const(Tri.of("!=" not in words), "fib daddr type local"))
        elif "missing" in words and "saddr" in joined:
            self.conds.append(Const(Tri.NO, "reverse path check passes for a routable source"))
        else:
            self.conds.append(Const(Tri.MAYBE, f"fib {joined}"))

    def tcp_flags(self) -> Cond:
        syn = FLAG_BITS["syn"]
        neg = False
        if self.peek() in ("!=", "=="):
            neg = self.take() == "!="
        if self.peek() == "&":
            self.take()
            mask = _flagset(self.take(), self.loc.line)
            op = self.take()
            val = self.take()
            cmp = 0 if val == "0" else _flagset(val, self.loc.line)
            got = syn & mask
            res = {"==": got == cmp, "!=": got != cmp, "<": got < cmp, ">": got > cmp,
                   "<=": got <= cmp, ">=": got >= cmp}.get(op)
            if res is None:
                return Const(Tri.MAYBE, "tcp flags")
            return Const(Tri.of(res))
        neg2, vals, _ = self.value()
        neg = neg or neg2
        if not vals:
            return Const(Tri.MAYBE, "tcp flags")
        v = vals[0]
        if "/" in v or (self.peek().startswith("/")):
            return Const(Tri.MAYBE, "tcp flags mask")
        flags = [_flagset(x, self.loc.line) for x in vals]
        if len(vals) == 1:
            # "tcp flags syn" tests the bit; a set tests equality of the whole field.
            return Const(Tri.of(bool(syn & flags[0]) != neg))
        return Const(Tri.of((syn in flags) != neg))


def _flagset(text: str, line: int) -> int:
    bits = 0
    for f in text.strip("()").replace(",", "|").split("|"):
        if not f:
            continue
        if f not in FLAG_BITS:
            raise NftError(f"unknown tcp flag {f!r}", line)
        bits |= FLAG_BITS[f]
    return bits


def _family_cond(vals: list[str], neg: bool) -> Cond:
    fams = {"ipv4": "ipv4", "ipv6": "ipv6"}
    got = [fams[v] for v in vals if v in fams]
    if len(got) == 1:
        return FamilyIs(got[0], neg)
    return Const(Tri.MAYBE, "nfproto")


def parse(text: str, path: str, reader: Reader | None = None) -> Parsed:
    p = NftParser(path, reader)
    p.lines_of = text.splitlines()
    p.run(text)
    _check_jumps(p)
    parsed = Parsed("nftables", path=path, issues=p.issues)
    parsed.rulesets = p.rulesets()
    return parsed
