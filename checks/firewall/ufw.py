"""ufw: its rule files, its settings files, and scripts that call the ufw command.

ufw's INPUT path is: loopback and established traffic accepted (before.rules), then
the user rules in order, then the default incoming policy (DEFAULT_INPUT_POLICY in
/etc/default/ufw, "deny" when nothing says otherwise). With ``IPV6=no`` ufw writes no
IPv6 rules at all, so IPv6 is not filtered by ufw. A disabled ufw filters nothing.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from imap_gate.findings import Location

from . import iptables_save
from .iptables_args import is_templated
from .iptables_model import IptablesState
from .model import (
    Action,
    Chain,
    Cond,
    Const,
    FilterRule,
    InIface,
    Parsed,
    ParseIssue,
    Ports,
    Proto,
    Ruleset,
    Source,
    State,
    Tri,
    V,
)
from .services import port_of
from .shell import commands

APPS: dict[str, tuple[tuple[int, int], ...]] = {
    "dovecot imap": ((143, 143),), "dovecot secure imap": ((993, 993),),
    "dovecot pop3": ((110, 110),), "dovecot secure pop3": ((995, 995),),
    "openssh": ((22, 22),), "postfix": ((25, 25),), "postfix smtps": ((465, 465),),
    "postfix submission": ((587, 587),), "apache": ((80, 80),), "apache secure": ((443, 443),),
    "apache full": ((80, 80), (443, 443)), "nginx http": ((80, 80),),
    "nginx https": ((443, 443),), "nginx full": ((80, 80), (443, 443)),
    "www": ((80, 80),), "www secure": ((443, 443),), "www full": ((80, 80), (443, 443)),
    "bind9": ((53, 53),), "samba": ((139, 139), (445, 445)), "cups": ((631, 631),),
}
Reader = Callable[[str], tuple[str, str] | None]   # sibling rel path -> (rel, text)


@dataclass
class Settings:
    """What /etc/default/ufw and /etc/ufw/ufw.conf say (with where they say it)."""

    policy: V = V.DROP
    policy_loc: Location | None = None
    policy_text: str = "(DEFAULT_INPUT_POLICY not found: ufw's default is DROP)"
    ipv6: bool = True
    ipv6_loc: Location | None = None
    enabled: bool | None = None
    enabled_loc: Location | None = None
    issues: list[ParseIssue] = field(default_factory=list)


UFW_MENTION = re.compile(r"^[^#\n]*\bufw\s+(?:--force\s+)?(?:allow|deny|reject|limit|insert|prepend|"
                         r"default|enable|disable|reset)\b[^\n]*", re.M)
KV = re.compile(r'^\s*([A-Z_0-9]+)\s*=\s*"?([^"#]*)"?')


def read_settings(text: str, path: str, into: Settings | None = None) -> Settings:
    s = into or Settings()
    for no, raw in enumerate(text.splitlines(), 1):
        m = KV.match(raw)
        if not m:
            continue
        key, val = m.group(1), m.group(2).strip()
        loc = Location(path, no)
        if is_templated(val):
            s.issues.append(ParseIssue(loc, f"{key} is templated ({val!r}): not guessed", raw.strip(),
                                       templated=True))
            continue
        if key == "DEFAULT_INPUT_POLICY":
            up = val.upper()
            if up not in ("ACCEPT", "DROP", "REJECT"):
                s.issues.append(ParseIssue(loc, f"DEFAULT_INPUT_POLICY {val!r} is not ACCEPT, DROP "
                                                "or REJECT", raw.strip()))
                continue
            s.policy = V.ACCEPT if up == "ACCEPT" else V.DROP
            s.policy_loc, s.policy_text = loc, raw.strip()
        elif key == "IPV6":
            s.ipv6 = val.lower() == "yes"
            s.ipv6_loc = loc
        elif key == "ENABLED":
            s.enabled = val.lower() == "yes"
            s.enabled_loc = loc
    return s


def _path_stage(settings: Settings, user_chain: str | None, first: Location,
                rs: Ruleset) -> None:
    """INPUT -> before (loopback, established) -> user chain -> default policy."""
    pol_loc = settings.policy_loc or first
    chain = Chain("ufw/INPUT", policy=settings.policy, policy_loc=pol_loc,
                  policy_text=settings.policy_text, policy_implicit=settings.policy_loc is None)
    chain.rules.append(FilterRule((InIface(("lo",)),), Action(V.ACCEPT), first, "ufw-before-input: lo"))
    chain.rules.append(FilterRule((State(frozenset({"established", "related"})),), Action(V.ACCEPT),
                            first, "ufw-before-input: established"))
    if user_chain:
        chain.rules.append(FilterRule((), Action(V.JUMP, user_chain), first, f"-j {user_chain}"))
    rs.chains[chain.name] = chain
    rs.stages = [chain.name]
    if settings.enabled is False:
        rs.disabled_loc = settings.enabled_loc


# Chains ufw creates itself (ufw's framework, /usr/lib/ufw and ufw's iptables setup), which
# before.rules / after.rules jump to without declaring them. What each does to a new incoming
# connection: None = nothing decided (logging, or rules that live in another file), or the
# verdict; "policy" = ufw's default incoming policy.
FRAMEWORK: dict[str, str | None] = {
    "logging-deny": None, "logging-allow": None,            # LOG with a rate limit, no verdict
    "skip-to-policy-input": "policy", "skip-to-policy-output": None,
    "skip-to-policy-forward": None,
    "user-input": None, "user-output": None, "user-forward": None,   # user.rules: its own file
    "user-logging-input": None, "user-logging-output": None, "user-logging-forward": None,
    "user-limit": "drop", "user-limit-accept": "accept",      # ufw limit: LOG+REJECT / ACCEPT
    "before-logging-input": None, "before-logging-output": None, "before-logging-forward": None,
    "after-logging-input": None, "after-logging-output": None, "after-logging-forward": None,
    "before-input": None, "before-output": None, "before-forward": None,
    "after-input": None, "after-output": None, "after-forward": None,
    "reject-input": None, "reject-output": None, "reject-forward": None,
    "track-input": None, "track-output": None, "track-forward": None,
}
FRAMEWORK_FILE = re.compile(r"^:ufw6?-(?:before|after)-(?:input|output|forward)\b", re.M)


def _framework_state(fam: str, path: str, settings: Settings) -> IptablesState:
    st = IptablesState(fam, path)
    loc = Location(path, 1)
    table = st.table("filter", loc)
    assert table is not None
    prefix = "ufw-" if fam == "ipv4" else "ufw6-"
    for suffix, does in FRAMEWORK.items():
        chain = st.chain(table, prefix + suffix, loc, create=True)
        assert chain is not None
        if does == "policy":
            chain.rules.append(FilterRule((), Action(settings.policy), settings.policy_loc or loc,
                                    settings.policy_text))
        elif does is not None:
            chain.rules.append(FilterRule((), Action(V.ACCEPT if does == "accept" else V.DROP), loc,
                                    f"ufw's {prefix + suffix} chain"))
    st.tables["filter"] = table
    return st


def parse_framework(text: str, path: str, settings: Settings | None = None) -> Parsed:
    """before.rules / after.rules (and their IPv6 twins): rules in ufw's own chains.

    ufw hooks them to INPUT as ufw-before-input, then the user rules (user.rules, linted as
    their own file; taken here to decide nothing), then ufw-after-input, then the default
    incoming policy."""
    settings = settings or Settings()
    fam = iptables_save.guess_family(text, path)
    if "ufw6-" in text:
        fam = "ipv6"
    st = _framework_state(fam, path, settings)
    inner = iptables_save.parse(text, path, fam, state=st, flush_tables=False)
    prefix = "ufw-" if fam == "ipv4" else "ufw6-"
    first = st.first_loc or Location(path, 1)
    table = st.tables["filter"]
    before = table.chains[prefix + "before-input"]
    # ufw itself ends ufw-before-input with the jump to the user rules.
    before.rules.append(FilterRule((), Action(V.JUMP, prefix + "user-input"), first,
                             f"-A {prefix}before-input -j {prefix}user-input (added by ufw)"))
    rs = st.ruleset()
    out = Ruleset(fam, chains=dict(rs.chains), first_loc=first,
                  notes=[f"{prefix}user-input (the user rules) is linted in its own file"])
    pol_loc = settings.policy_loc or first
    chain = Chain("ufw/INPUT", policy=settings.policy, policy_loc=pol_loc,
                  policy_text=settings.policy_text, policy_implicit=settings.policy_loc is None)
    for stage in ("before-input", "after-input", "reject-input"):
        chain.rules.append(FilterRule((), Action(V.JUMP, f"filter/{prefix}{stage}"), first,
                                f"-A INPUT -j {prefix}{stage} (ufw)"))
    out.chains[chain.name] = chain
    out.stages = [chain.name]
    if settings.enabled is False:
        out.disabled_loc = settings.enabled_loc
    if fam == "ipv6" and not settings.ipv6 and settings.ipv6_loc is not None:
        out.disabled_loc = settings.ipv6_loc
    return Parsed("ufw-rules", {fam: out}, inner.issues + settings.issues, path)


def parse_rules(text: str, path: str, settings: Settings | None = None) -> Parsed:
    """user.rules / user6.rules: iptables-save text whose user chain hangs off ufw's INPUT."""
    if FRAMEWORK_FILE.search(text) and not re.search(r"^:ufw6?-user-input\b", text, re.M):
        return parse_framework(text, path, settings)
    inner = iptables_save.parse(text, path)
    fam = next(iter(inner.rulesets))
    settings = settings or Settings()
    rs = inner.rulesets[fam]
    name = "ufw-user-input" if fam == "ipv4" else "ufw6-user-input"
    user = next((k for k in rs.chains if k.endswith(("/ufw-user-input", "/ufw6-user-input"))), None)
    first = rs.first_loc or Location(path, 1)
    out = Ruleset(fam, chains=dict(rs.chains), first_loc=first)
    _path_stage(settings, user, first, out)
    if user is None:
        inner.issues.append(ParseIssue(first, f"no {name} chain: this does not look like ufw's "
                                              "user rules"))
    if fam == "ipv6" and not settings.ipv6 and settings.ipv6_loc is not None:
        out.disabled_loc = settings.ipv6_loc
    parsed = Parsed("ufw-rules", {fam: out}, inner.issues + settings.issues, path)
    return parsed


def parse_default(text: str, path: str) -> Parsed:
    """/etc/default/ufw on its own: the default policy with no user rules."""
    s = read_settings(text, path)
    first = Location(path, 1)
    parsed = Parsed("ufw-default", path=path, issues=list(s.issues))
    if s.policy_loc is None:
        return parsed
    for fam in ("ipv4", "ipv6"):
        rs = Ruleset(fam, first_loc=first)
        _path_stage(s, None, first, rs)
        if fam == "ipv6" and not s.ipv6 and s.ipv6_loc is not None:
            rs.disabled_loc = s.ipv6_loc
        parsed.rulesets[fam] = rs
    return parsed


def parse_conf(text: str, path: str) -> Parsed:
    """ufw.conf alone says only whether ufw runs: exposure stays unknown without rules."""
    s = read_settings(text, path)
    return Parsed("ufw-conf", path=path, issues=list(s.issues))


# ---------------------------------------------------------------- ufw commands in scripts

class UfwError(ValueError):
    pass


@dataclass
class UfwRule:
    action: str                 # allow | deny | reject | limit
    conds: tuple[Cond, ...]
    families: tuple[str, ...]
    spec: tuple[str, ...]       # normalised words, for "ufw delete <rule>"
    loc: Location
    text: str


def _port_spec(text: str) -> tuple[tuple[tuple[int, int], ...], str | None]:
    """'143', '143/tcp', '143,993/tcp', '1000:2000/tcp', 'imap' -> (ranges, proto)."""
    proto = None
    if "/" in text:
        text, proto = text.rsplit("/", 1)
        if proto not in ("tcp", "udp"):
            raise UfwError(f"unsupported protocol {proto!r}")
    ranges = []
    for item in text.split(","):
        if ":" in item:
            a, b = item.split(":", 1)
            lo, hi = port_of(a), port_of(b)
            if proto is None:
                raise UfwError("a port range needs a protocol (e.g. 1000:2000/tcp)")
        else:
            lo = hi = port_of(item)
        if lo is None or hi is None:
            raise UfwError(f"bad port {item!r}")
        ranges.append((lo, hi))
    return tuple(ranges), proto


def _addr(text: str) -> tuple[Source | None, tuple[str, ...]]:
    if text == "any":
        return None, ("ipv4", "ipv6")
    if is_templated(text):
        return Source(sets=(f"{text} (templated)",)), ("ipv4", "ipv6")
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise UfwError(f"bad address {text!r}") from None
    return Source((net,)), ("ipv4",) if net.version == 4 else ("ipv6",)


def _rule_head(words: list[str]) -> tuple[str, str, list[Cond], list[str]]:
    """``ACTION [in|out] [on IF] [log|log-all] ... [comment C]`` -> action, direction, the
    interface condition and the words that say what the rule matches."""
    action = words[0]
    w = words[1:]
    direction = "in"
    if w and w[0] in ("in", "out"):
        direction = w[0]
        w = w[1:]
    conds: list[Cond] = []
    if len(w) >= 2 and w[0] == "on":
        conds.append(InIface((w[1],), unknown=is_templated(w[1])))
        w = w[2:]
    while w and w[0] in ("log", "log-all"):
        w = w[1:]
    if "comment" in w:
        w = w[:w.index("comment")]
    return action, direction, conds, w


def _simple_syntax(spec: str) -> list[Cond]:
    """ufw's simple syntax: PORT[/PROTO], a service name, or an application profile."""
    app = APPS.get(spec.lower())
    if app is not None:
        return [Proto(frozenset({"tcp"})), Ports(app)]
    if is_templated(spec):
        return [Ports((), unknown=spec)]
    ranges, proto = _port_spec(spec)
    return ([Proto(frozenset({proto}))] if proto else []) + [Ports(ranges)]


@dataclass
class _FullSpec:
    """What the full syntax (``proto P from A port N to B port M app X``) has said so far."""

    conds: list[Cond]
    families: tuple[str, ...] = ("ipv4", "ipv6")
    proto: str | None = None


def _full_proto(sp: _FullSpec, key: str, val: str, before: list[str]) -> None:
    sp.proto = val


def _full_addr(sp: _FullSpec, key: str, val: str, before: list[str]) -> None:
    """``from``/``to`` ADDR: the source is a condition; either narrows the address families."""
    src, fams = _addr(val)
    if key == "from" and src is not None:
        sp.conds.append(src)
    sp.families = tuple(f for f in sp.families if f in fams)


def _port_is_destination(before: list[str]) -> bool:
    """A ``port`` belongs to the nearest ``to``/``from`` before it."""
    return "to" in before and (before[::-1].index("to") < (before[::-1] + ["from"]).index(
        "from") if "from" in before else True)


def _full_port(sp: _FullSpec, key: str, val: str, before: list[str]) -> None:
    is_dst = _port_is_destination(before)
    if is_templated(val):
        sp.conds.append(Ports((), unknown=val, source=not is_dst))
    else:
        ranges, _ = _port_spec(val)
        sp.conds.append(Ports(ranges, source=not is_dst))


def _full_app(sp: _FullSpec, key: str, val: str, before: list[str]) -> None:
    app = APPS.get(val.lower())
    if app is None:
        sp.conds.append(Ports((), unknown=f"app {val!r}"))
    else:
        sp.conds += [Proto(frozenset({"tcp"})), Ports(app)]


# Each keyword of the full syntax takes the word after it.
_FULL_KEYWORDS: dict[str, Callable[[_FullSpec, str, str, list[str]], None]] = {
    "proto": _full_proto, "from": _full_addr, "to": _full_addr, "port": _full_port,
    "app": _full_app,
}


def _full_syntax(w: list[str], conds: list[Cond]) -> tuple[str, ...]:
    """Read the full syntax into ``conds``; the address families the rule applies to."""
    sp = _FullSpec(conds)
    i = 0
    while i < len(w):
        k = w[i]
        handler = _FULL_KEYWORDS.get(k)
        if handler is None or i + 1 >= len(w):
            raise UfwError(f"unexpected word {k!r}")
        handler(sp, k, w[i + 1], w[:i])
        i += 2
    if sp.proto:
        conds.append(Proto(frozenset({sp.proto.lower()})))
    if not sp.families:
        raise UfwError("'from' and 'to' name different address families")
    return sp.families


def parse_rule_words(words: list[str], loc: Location, text: str) -> UfwRule | None:
    """``allow|deny|reject|limit [in|out] [on IF] [log] ...``; None for out/route rules."""
    if not words:
        raise UfwError("missing rule")
    action, direction, conds, w = _rule_head(words)
    families: tuple[str, ...] = ("ipv4", "ipv6")
    if not w:
        raise UfwError("a rule needs a port, a service or 'from'/'to'")
    if w[0] not in ("from", "to", "proto"):
        conds += _simple_syntax(" ".join(w))
    else:
        families = _full_syntax(w, conds)
    if action not in ("allow", "deny", "reject", "limit"):
        raise UfwError(f"unknown action {action!r}")
    if direction == "out":
        return None
    return UfwRule(action, tuple(conds), families, tuple(words), loc, text)


@dataclass
class _ScriptState:
    """What the ufw commands of a script have set up so far, in the order they run."""

    policy: V
    policy_loc: Location | None
    policy_text: str
    rules: list[UfwRule] = field(default_factory=list)
    disabled: Location | None = None


def _verb_enable(st: _ScriptState, w: list[str], loc: Location, text: str) -> None:
    st.disabled = None


def _verb_disable(st: _ScriptState, w: list[str], loc: Location, text: str) -> None:
    st.disabled = loc


def _verb_reset(st: _ScriptState, w: list[str], loc: Location, text: str) -> None:
    """``ufw reset`` drops every rule, disables ufw and restores the default policy."""
    st.rules.clear()
    st.disabled = loc
    st.policy, st.policy_loc, st.policy_text = V.DROP, None, "(reset: ufw's default DROP)"


def _verb_default(st: _ScriptState, w: list[str], loc: Location, text: str) -> None:
    """``ufw default allow|deny|reject [incoming]``: only the incoming policy matters here."""
    if len(w) < 2:
        raise UfwError("default needs allow, deny or reject")
    where = w[2] if len(w) > 2 else "incoming"
    if where in ("incoming", "input"):
        if w[1] not in ("allow", "deny", "reject"):
            raise UfwError(f"bad default {w[1]!r}")
        st.policy = V.ACCEPT if w[1] == "allow" else V.DROP
        st.policy_loc, st.policy_text = loc, text


def _verb_rule(st: _ScriptState, w: list[str], loc: Location, text: str) -> None:
    r = parse_rule_words(w, loc, text)
    if r is not None:
        st.rules.append(r)


def _verb_insert(st: _ScriptState, w: list[str], loc: Location, text: str) -> None:
    """``ufw insert N RULE`` / ``ufw prepend RULE`` (at position 1)."""
    pos = 1
    rest = w[1:]
    if w[0] == "insert":
        if not rest or not rest[0].isdigit():
            raise UfwError("insert needs a position number")
        pos = int(rest[0])
        rest = rest[1:]
    r = parse_rule_words(rest, loc, text)
    if r is not None:
        st.rules.insert(max(pos - 1, 0), r)


def _verb_delete(st: _ScriptState, w: list[str], loc: Location, text: str) -> None:
    """``ufw delete N`` or ``ufw delete RULE`` (the first rule written with the same words)."""
    rest = w[1:]
    if rest and rest[0].isdigit():
        idx = int(rest[0]) - 1
        if 0 <= idx < len(st.rules):
            del st.rules[idx]
        return
    spec = tuple(rest)
    for i, r in enumerate(st.rules):
        if r.spec == spec:
            del st.rules[i]
            break


def _verb_ignored(st: _ScriptState, w: list[str], loc: Location, text: str) -> None:
    """Commands that change no incoming rule (route rules are forwarding, not INPUT)."""


_VERBS: dict[str, Callable[[_ScriptState, list[str], Location, str], None]] = {
    "enable": _verb_enable, "disable": _verb_disable, "reset": _verb_reset,
    "default": _verb_default, "allow": _verb_rule, "deny": _verb_rule, "reject": _verb_rule,
    "limit": _verb_rule, "insert": _verb_insert, "prepend": _verb_insert,
    "delete": _verb_delete,
    **dict.fromkeys(("status", "logging", "reload", "show", "app", "route", "version", "help"),
                    _verb_ignored),
}


def _unreached(text: str, path: str) -> ParseIssue | None:
    """ufw commands are written, but none runs when the script is run (as ``script start``):
    they sit in functions never called or in branches of other arguments."""
    m = UFW_MENTION.search(text)
    if not m:
        return None
    line = text.count("\n", 0, m.start()) + 1
    return ParseIssue(
        Location(path, line), "no ufw command in this script runs when it is run as "
        "`script start` (they are in functions or branches chosen by other arguments), "
        "so the rules it sets are not known", m.group(0).strip())


def _script_ruleset(fam: str, st: Settings, rules: list[UfwRule], first: Location) -> Ruleset:
    rs = Ruleset(fam, first_loc=first)
    user = Chain("ufw/user-input")
    for r in rules:
        if fam not in r.families:
            continue
        kind = {"allow": V.ACCEPT, "limit": V.ACCEPT, "deny": V.DROP, "reject": V.DROP}.get(
            r.action, V.UNKNOWN)
        user.rules.append(FilterRule(r.conds, Action(kind), r.loc, r.text))
    rs.chains[user.name] = user
    _path_stage(st, user.name, first, rs)
    return rs


def parse_script(text: str, path: str, settings: Settings | None = None) -> Parsed:
    settings = settings or Settings()
    state = _ScriptState(settings.policy, settings.policy_loc, settings.policy_text)
    issues: list[ParseIssue] = list(settings.issues)
    first: Location | None = None
    for cmd in commands(text):
        if cmd.words[0].rsplit("/", 1)[-1] != "ufw":
            continue
        loc = Location(path, cmd.line)
        first = first or loc
        w = [x for x in cmd.words[1:] if x not in ("--force", "--dry-run", "-f")]
        if not w:
            continue
        try:
            verb = _VERBS.get(w[0])
            if verb is None:
                raise UfwError(f"unknown ufw command {w[0]!r}")
            verb(state, w, loc, cmd.text)
        except UfwError as exc:
            issues.append(ParseIssue(loc, str(exc), cmd.text))
            state.rules.append(UfwRule("unknown", (Const(Tri.MAYBE, str(exc)),),
                                       ("ipv4", "ipv6"), (), loc, cmd.text))
    parsed = Parsed("ufw-script", path=path, issues=issues)
    if first is None:
        unreached = _unreached(text, path)
        if unreached is not None:
            parsed.issues.append(unreached)
        return parsed
    st = Settings(state.policy, state.policy_loc, state.policy_text, settings.ipv6,
                  settings.ipv6_loc, False if state.disabled else settings.enabled,
                  state.disabled)
    for fam in ("ipv4", "ipv6"):
        rs = _script_ruleset(fam, st, state.rules, first)
        if fam == "ipv6" and not settings.ipv6 and settings.ipv6_loc is not None:
            rs.disabled_loc = settings.ipv6_loc
        parsed.rulesets[fam] = rs
    return parsed
