"""The state iptables keeps per family: tables, chains, policies, rule order.

Both the iptables-save reader and the shell-script reader drive this builder with
the same commands (-A, -I, -D, -F, -X, -N, -P), so their semantics cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from imap_gate.findings import Location

from .model import Chain, FilterRule, ParseIssue, Ruleset, V

BUILTIN: dict[str, tuple[str, ...]] = {
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "raw": ("PREROUTING", "OUTPUT"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "security": ("INPUT", "FORWARD", "OUTPUT"),
}
# The hooks a packet for the host itself passes, in order (nat does not filter).
STAGES = (("raw", "PREROUTING"), ("mangle", "PREROUTING"), ("mangle", "INPUT"),
          ("filter", "INPUT"), ("security", "INPUT"))


@dataclass
class Table:
    name: str
    loc: Location
    chains: dict[str, Chain] = field(default_factory=dict)


@dataclass
class IptablesState:
    family: str
    path: str
    tables: dict[str, Table] = field(default_factory=dict)
    issues: list[ParseIssue] = field(default_factory=list)
    first_loc: Location | None = None
    touched_input: bool = False

    def table(self, name: str, loc: Location) -> Table | None:
        if name not in BUILTIN:
            self.issues.append(ParseIssue(loc, f"unknown table {name!r}"))
            return None
        t = self.tables.get(name)
        if t is None:
            t = Table(name, loc)
            for c in BUILTIN[name]:
                t.chains[c] = Chain(f"{name}/{c}", policy=V.ACCEPT, policy_loc=loc,
                                    policy_text=f"(no policy set for {c}: the kernel default ACCEPT)",
                                    policy_implicit=True)
            self.tables[name] = t
        return t

    def chain(self, table: Table, name: str, loc: Location, create: bool = False) -> Chain | None:
        c = table.chains.get(name)
        if c is None and create:
            c = Chain(f"{table.name}/{name}")
            table.chains[name] = c
        if c is None:
            self.issues.append(ParseIssue(loc, f"chain {name!r} does not exist in table "
                                               f"{table.name!r}"))
        return c

    def note_input(self, table: Table, chain: str) -> None:
        if not self.touched_input and (table.name, chain) in STAGES:
            self.touched_input = True

    def set_policy(self, table: Table, chain: str, policy: str, loc: Location, text: str) -> None:
        if chain not in BUILTIN[table.name]:
            if policy != "-":
                self.issues.append(ParseIssue(loc, f"only built-in chains have a policy, not {chain!r}",
                                              text))
            self.chain(table, chain, loc, create=True)
            return
        up = policy.upper()
        if up not in ("ACCEPT", "DROP"):
            self.issues.append(ParseIssue(loc, f"bad policy {policy!r} for {chain} "
                                               "(ACCEPT or DROP)", text))
            return
        c = table.chains[chain]
        c.policy = V.ACCEPT if up == "ACCEPT" else V.DROP
        c.policy_loc, c.policy_text, c.policy_implicit = loc, text, False
        self.note_input(table, chain)

    def flush(self, table: Table, chain: str | None, loc: Location) -> None:
        if chain is None:
            for c in table.chains.values():
                c.rules.clear()
            return
        named = self.chain(table, chain, loc)
        if named is not None:
            named.rules.clear()

    def delete_chain(self, table: Table, chain: str | None, loc: Location) -> None:
        names = [chain] if chain else [c for c in table.chains if c not in BUILTIN[table.name]]
        for n in names:
            if n in BUILTIN[table.name]:
                self.issues.append(ParseIssue(loc, f"cannot delete built-in chain {n!r}"))
            else:
                table.chains.pop(n, None)

    def add(self, table: Table, chain: str, rule: FilterRule, position: int | None, loc: Location) -> None:
        c = self.chain(table, chain, loc)
        if c is None:
            return
        if position is None:
            c.rules.append(rule)
            if not self.touched_input:
                self.note_input(table, chain)
            return
        else:
            if position < 1 or position > len(c.rules) + 1:
                self.issues.append(ParseIssue(loc, f"index {position} is out of range for {chain}",
                                              rule.text))
                position = min(max(position, 1), len(c.rules) + 1)
            c.rules.insert(position - 1, rule)
        self.note_input(table, chain)

    def delete(self, table: Table, chain: str, rule: FilterRule, loc: Location) -> None:
        c = self.chain(table, chain, loc)
        if c is None:
            return
        for i, r in enumerate(c.rules):
            if r.conds == rule.conds and r.verdict == rule.verdict:
                del c.rules[i]
                return
        self.issues.append(ParseIssue(loc, "-D names a rule that does not exist", rule.text))

    def ruleset(self) -> Ruleset:
        rs = Ruleset(self.family, first_loc=self.first_loc)
        for t in self.tables.values():
            for c in t.chains.values():
                rs.chains[c.name] = c
        # Jump targets are chain names within the same table.
        jumps = (V.JUMP, V.GOTO)
        for t in self.tables.values():
            for c in t.chains.values():
                # One cheap pass finds the jumps among a large chain's rules.
                for idx in [i for i, r in enumerate(c.rules) if r.verdict.kind in jumps]:
                    r = c.rules[idx]
                    if r.verdict.target and "/" not in r.verdict.target:
                        if r.verdict.target not in t.chains:
                            self.issues.append(ParseIssue(
                                r.loc, f"jump to chain {r.verdict.target!r}, which is not defined "
                                       f"in table {t.name!r}", r.text))
                        c.rules[idx] = FilterRule(r.conds, type(r.verdict)(
                            r.verdict.kind, f"{t.name}/{r.verdict.target}"), r.loc, r.text)
        if self.touched_input:
            rs.stages = [f"{t}/{c}" for t, c in STAGES if t in self.tables]
        return rs
