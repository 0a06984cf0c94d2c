"""nftables rulesets as ``nft -f`` reads them.

What matters for a packet to the host: base chains of type filter on the
prerouting and input hooks of ``ip``/``ip6``/``inet`` tables, ordered by hook and
priority. An omitted policy is accept. Rules are read statement by statement; an
expression this reader does not model becomes an undecidable condition (so it
can only make the verdict "unknown", never wrong).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from imap_gate.findings import Location

from .iptables_args import is_templated
from .model import (
    Action,
    Chain,
    Const,
    FilterRule,
    Parsed,
    ParseIssue,
    Ruleset,
    Tri,
    V,
)
from .nftables_lex import (
    TEMPLATE_LINE,
    TOKEN,
    NftError,
    Tok,
    _block,
    statements,
    tokenize,
)
from .nftables_objects import NChain, NSet, NTable
from .nftables_rule import (
    BITOPS,
    CT_STATES,
    FIELDS,
    FLAG_BITS,
    ICMP_FIELDS,
    ICMP_TYPES,
    KNOWN_HEADS,
    MAYBE_KEY,
    META_SHORT,
    PROTOCOLS,
    RATE_UNIT,
    REJECT_CODES,
    RELOPS,
    SEL_HEADS,
    SET_STMT_WORDS,
    RuleReader,
)

Reader = Callable[[str, str], list[tuple[str, str]]]   # (including file, name) -> [(rel path, text)]
PRIORITIES = {"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50,
              "srcnat": 100}
HOOK_ORDER = {"prerouting": 0, "input": 1}
CHAIN_TYPES = {"filter", "nat", "route"}
HOOKS = {"prerouting", "input", "forward", "output", "postrouting", "ingress", "egress"}
# Words nft's scanner takes as keywords: unquoted, they cannot name a chain (``chain fwd`` is
# "unexpected fwd, expecting string"); measured with nft -c, one word at a time.
NFT_KEYWORDS = frozenset({
    "accept", "add", "ah", "arp", "bridge", "cgroup", "chain", "comment", "comp", "continue",
    "counter", "cpu", "ct", "day", "dccp", "define", "delete", "dnat", "drop", "dst", "dup",
    "elements", "esp", "ether", "exthdr", "fib", "flags", "flow", "frag", "fwd", "goto", "hbh", "hook",
    "hour", "icmp", "icmpv6", "igmp", "iif", "iifgroup", "iifname", "iiftype", "include", "inet", "ip",
    "ip6", "ipsec", "jhash", "jump", "limit", "log", "mark", "masquerade", "meta", "meter", "mh",
    "netdev", "nftrace", "notrack", "numgen", "oif", "oifgroup", "oifname", "oiftype", "osf",
    "pkttype", "policy", "priority", "queue", "quota", "random", "redirect", "reject", "reset",
    "return", "rt", "sctp", "secmark", "set", "skgid", "skuid", "snat", "socket", "srh", "symhash",
    "synproxy", "table", "tcp", "th", "time", "tproxy", "type", "udp", "udplite", "update", "vlan",
    "vmap",
})
SET_ITEMS = {"type", "typeof", "flags", "timeout", "gc-interval", "elements", "size", "policy",
             "auto-merge", "counter", "comment", "quota", "limit", "ct"}
SET_FLAGS = {"constant", "interval", "timeout", "dynamic"}


class NftParser:
    def __init__(self, path: str, reader: Reader | None) -> None:
        self.path = path
        self.reader = reader
        self.defines: dict[str, list[Tok]] = {}
        self.tables: dict[tuple[str, str], NTable] = {}
        self.issues: list[ParseIssue] = []
        self.first_line: int | None = None
        self.include_stack: list[str] = [path]
        self.has_dnat = False
        self.cur_path = path

    def issue(self, line: int, msg: str, text: str = "", templated: bool = False) -> None:
        self.issues.append(ParseIssue(Location(self.cur_path, line), msg, text, templated))

    def loc(self, line: int) -> Location:
        return Location(self.cur_path, line)

    def run(self, text: str) -> None:
        self.has_dnat = self.has_dnat or bool(DNAT_WORD.search(text))
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
            self._chain_decl(table, st)
            return
        if head in ("set", "map"):
            self._set_decl(table, st, head)
            return
        if head in ("flowtable", "counter", "quota", "ct", "limit", "secmark", "synproxy",
                    "comment", "flags"):
            return
        raise NftError(f"unknown table item {head!r}", st[0].line)

    def _chain_decl(self, table: NTable, st: list[Tok]) -> None:
        """``chain NAME [{ ... }]``: a mistake in one of its statements is reported on its line
        and stands in the chain as a rule that cannot be judged; the rest is still read."""
        if len(st) < 2:
            raise NftError("a chain needs a name", st[0].line)
        chain = self.chain(table, st[1].text, st[0].line)
        if len(st) <= 2 or st[2].text != "{":
            return
        body, _ = _block(st, 2)
        for sub in statements(body):
            try:
                self.chain_item(table, chain, sub)
            except NftError as exc:
                self.issue(exc.line, str(exc), _line_text(self.lines_of, exc.line))
                chain.rules.append(_unknown_rule(self.loc(exc.line), str(exc),
                                                 _line_text(self.lines_of, exc.line)))

    def _set_decl(self, table: NTable, st: list[Tok], head: str) -> None:
        """``set|map NAME [{ type ...; flags ...; elements = { ... } }]``; items and flags
        nft does not know are refused as nft refuses them."""
        if len(st) < 2:
            raise NftError(f"a {head} needs a name", st[0].line)
        nset = NSet(st[1].text, None, st[0].line)
        if len(st) > 2 and st[2].text == "{":
            body, _ = _block(st, 2, elements_end=True)
            for sub in statements(body):
                self._set_item(nset, sub, head)
        table.sets[nset.name] = nset

    def _set_item(self, nset: NSet, sub: list[Tok], head: str) -> None:
        if sub[0].text not in SET_ITEMS:
            raise NftError(f"unknown {head} item {sub[0].text!r}", sub[0].line)
        if sub[0].text == "flags":
            bad = [t.text for t in sub[1:] if t.text != "," and t.text not in SET_FLAGS]
            if bad:
                raise NftError(f"unknown {head} flag {bad[0]!r}", sub[0].line)
        if sub[0].text == "elements" and len(sub) > 2 and sub[1].text == "=":
            vals = self.expand(sub[2:])
            nset.elements = _flat_values(vals)
            nset.raw = [t.text for t in vals if t.text != "\n"]

    def chain(self, table: NTable, name: str, line: int) -> NChain:
        if name in NFT_KEYWORDS:
            raise NftError(f"{name!r} is an nft keyword and cannot name a chain unquoted", line)
        name = name.strip('"')
        if name not in table.chains:
            table.chains[name] = NChain(name, line, path=self.cur_path)
        return table.chains[name]

    def chain_item(self, table: NTable, chain: NChain, st: list[Tok]) -> None:
        head = st[0].text
        words = [t.text for t in st]
        if head == "type":
            pr = 4
            if len(words) > 5 and words[4] == "device":   # netdev: hook ingress device eth0 priority 0
                pr = 6
            elif len(words) > 5 and words[4] == "devices":  # devices = { eth0, eth1 }
                pr = words.index("}") + 1 if "}" in words else len(words)
            if len(words) < pr + 2 or words[2] != "hook" or words[pr] != "priority":
                raise NftError("a base chain needs 'type T hook H priority P;'", st[0].line)
            if words[1] not in CHAIN_TYPES:
                raise NftError(f"unknown chain type {words[1]!r}", st[0].line)
            if words[3] not in HOOKS:
                raise NftError(f"unknown hook {words[3]!r}", st[0].line)
            chain.ctype, chain.hook = words[1], words[3]
            chain.priority = _priority(self.expand(st[pr + 1:]), st[0].line)
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
        if obj == "table":
            self._cmd_table(verb, st)
            return
        handler = _TABLE_OBJECTS.get(obj)
        if handler is not None:
            table, name, rest = self._cmd_target(obj, st)
            handler(self, verb, table, name, rest, st[0].line)
            return
        if verb == "flush" and obj == "ruleset":
            self.tables.clear()
            return
        if obj in ("flowtable", "counter", "quota", "ct", "limit", "secmark", "synproxy"):
            return
        raise NftError(f"unknown command '{verb} {obj}'", st[0].line)

    def _cmd_table(self, verb: str, st: list[Tok]) -> None:
        """``add|create|delete|destroy|flush table FAMILY NAME [{ ... }]``."""
        rest = st[2:]
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

    def _cmd_target(self, obj: str, st: list[Tok]) -> tuple[NTable, str, list[Tok]]:
        """``VERB OBJ [FAMILY] TABLE NAME ...``: the table (which must exist), the object's name
        and the tokens from the name on."""
        fam, tname, used = self.table_spec(st[2:], st[0].line)
        table = self.tables.get((fam, tname))
        if table is None:
            raise NftError(f"table {fam} {tname} does not exist", st[0].line)
        rest = st[2 + used:]
        if not rest:
            raise NftError(f"{obj} needs a name", st[0].line)
        return table, rest[0].text, rest

    def _cmd_chain(self, verb: str, table: NTable, name: str, rest: list[Tok], line: int) -> None:
        if verb in ("delete", "destroy"):
            table.chains.pop(name, None)
        elif verb == "flush":
            if name in table.chains:
                table.chains[name].rules.clear()
        else:
            self.table_item(table, [Tok("chain", line), *rest])

    def _cmd_rule(self, verb: str, table: NTable, name: str, rest: list[Tok], line: int) -> None:
        """``add|insert rule ... CHAIN [position|handle|index N] RULE``; deleting or replacing
        a rule by its handle is not followed (handles exist only in a running ruleset)."""
        if verb in ("delete", "destroy", "replace"):
            return
        if name not in table.chains:
            raise NftError(f"chain {name!r} does not exist", line)
        chain = table.chains[name]
        body = rest[1:]
        if body and body[0].text in ("position", "handle", "index"):
            body = body[2:]  # placed at the chain's start (insert) or end (add)
        new = self.rules(table, body) if body else []
        if verb == "insert":
            chain.rules[0:0] = new
        else:
            chain.rules.extend(new)

    def _cmd_set(self, verb: str, table: NTable, name: str, rest: list[Tok], line: int) -> None:
        self.table_item(table, [Tok("set", line), *rest])

    def _cmd_map(self, verb: str, table: NTable, name: str, rest: list[Tok], line: int) -> None:
        self.table_item(table, [Tok("map", line), *rest])

    def _cmd_element(self, verb: str, table: NTable, name: str, rest: list[Tok],
                     line: int) -> None:
        nset = table.sets.get(name)
        if nset is None:
            raise NftError(f"set {name!r} does not exist", line)
        if verb in ("add", "create"):
            vals = self.expand(rest[1:])
            nset.elements = (nset.elements or []) + _flat_values(vals)
            nset.raw = [*nset.raw, ",", *(t.text for t in vals if t.text != "\n")]

    # ------------------------------------------------------------ rules

    def rules(self, table: NTable, st: list[Tok]) -> list[FilterRule]:
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
            if tables:
                out[fam] = self._ruleset(fam, tables, first)
        return out

    def _ruleset(self, fam: str, tables: list[NTable], first: Location) -> Ruleset:
        """One family's chains, and the input, forward and dnat paths through them, each in
        hook then priority then file order."""
        rs = Ruleset(fam, first_loc=first)
        bases: list[tuple[int, int, int, str]] = []
        fwd: list[tuple[int, int, int, str]] = []
        nat: list[tuple[int, int, str]] = []
        for ti, t in enumerate(tables):
            for ci, c in enumerate(t.chains.values()):
                key = f"{t.family} {t.name}/{c.name}"
                order = ti * 10000 + ci
                ch = Chain(key, [_qualify(r, t) for r in c.rules], policy=None,
                           policy_loc=self.policy_loc(c))
                if c.hook in HOOK_ORDER and c.ctype == "filter":
                    _base_policy(ch, c)
                    bases.append((HOOK_ORDER[c.hook], c.priority, order, key))
                if c.ctype == "filter" and c.hook in ("prerouting", "forward"):
                    if c.hook == "forward":
                        _base_policy(ch, c)
                    fwd.append((0 if c.hook == "prerouting" else 1, c.priority, order, key))
                elif c.ctype == "nat" and c.hook == "prerouting":
                    ch.policy = V.ACCEPT  # a nat chain never filters
                    nat.append((c.priority, order, key))
                rs.chains[key] = ch
        rs.stages = [k for *_, k in sorted(bases)]
        rs.forward_stages = [k for *_, k in sorted(fwd)]
        rs.dnat_stages = [k for *_, k in sorted(nat)]
        if not rs.stages:
            _fragment_stages(rs, tables)
        return rs

    def policy_loc(self, c: NChain) -> Location:
        return Location(c.path or self.path, c.policy_line or c.line)


def _base_policy(ch: Chain, c: NChain) -> None:
    """A base chain without a policy accepts: say so where its policy would be."""
    ch.policy = c.policy or V.ACCEPT
    ch.policy_implicit = c.policy is None
    ch.policy_text = c.policy_text or f"chain {c.name}: no policy, so nftables accepts by default"


def _fragment_stages(rs: Ruleset, tables: list[NTable]) -> None:
    """A fragment (e.g. a chain meant to be included in another ruleset): read its chains
    named input as the input path, with what follows them unknown."""
    frag = [f"{t.family} {t.name}/{c.name}" for t in tables for c in t.chains.values()
            if c.name.lower() == "input" and c.hook is None]
    rs.stages = frag
    if frag:
        rs.notes.append("no base chain hooks input in this file; the chain named "
                        "input is read as if it were hooked, with the rest unknown")


_TableObject = Callable[["NftParser", str, NTable, str, list[Tok], int], None]
# ``VERB OBJ TABLE NAME ...`` commands on an object inside a table -> how each is applied.
_TABLE_OBJECTS: dict[str, _TableObject] = {
    "chain": NftParser._cmd_chain, "rule": NftParser._cmd_rule, "set": NftParser._cmd_set,
    "map": NftParser._cmd_map, "element": NftParser._cmd_element,
}


def _check_jumps(p: NftParser) -> None:
    """nft refuses a jump or goto to a chain its table does not have."""
    for t in p.tables.values():
        for c in t.chains.values():
            for r in c.rules:
                if r.verdict.kind in (V.JUMP, V.GOTO) and r.verdict.target not in t.chains:
                    p.issues.append(ParseIssue(r.loc, f"{r.verdict.kind.value} to chain "
                                                      f"{r.verdict.target!r}, which table "
                                                      f"{t.family} {t.name} does not have", r.text))


def _qualify(rule: FilterRule, table: NTable) -> FilterRule:
    if rule.verdict.kind in (V.JUMP, V.GOTO) and rule.verdict.target:
        return FilterRule(rule.conds, Action(rule.verdict.kind,
                                        f"{table.family} {table.name}/{rule.verdict.target}"),
                    rule.loc, rule.text)
    return rule


def _unknown_rule(loc: Location, why: str, text: str) -> FilterRule:
    return FilterRule((Const(Tri.MAYBE, why),), Action(V.UNKNOWN), loc, text)


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


DNAT_WORD = re.compile(r"\bdnat\s+(?!accept\b|drop\b|counter\b|continue\b|return\b)\S|\bredirect\b")


def parse(text: str, path: str, reader: Reader | None = None) -> Parsed:
    p = NftParser(path, reader)
    p.lines_of = text.splitlines()
    p.run(text)
    _check_jumps(p)
    parsed = Parsed("nftables", path=path, issues=p.issues)
    parsed.rulesets = p.rulesets()
    return parsed

# The lexer, the objects and the rule reader live in their own modules; their names stay
# importable from here.
__all__ = [
    "BITOPS",
    "CT_STATES",
    "FIELDS",
    "FLAG_BITS",
    "ICMP_FIELDS",
    "ICMP_TYPES",
    "KNOWN_HEADS",
    "MAYBE_KEY",
    "META_SHORT",
    "PROTOCOLS",
    "RATE_UNIT",
    "REJECT_CODES",
    "RELOPS",
    "SEL_HEADS",
    "SET_STMT_WORDS",
    "TEMPLATE_LINE",
    "TOKEN",
    "NChain",
    "NSet",
    "NTable",
    "NftError",
    "NftParser",
    "RuleReader",
    "Tok",
    "_block",
    "parse",
    "statements",
    "tokenize",
]
