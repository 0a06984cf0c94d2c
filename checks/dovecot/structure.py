"""DOV013: what keeps ``doveconf`` from loading the files, one function per kind of refusal.

Each function is pure (the loaded tree and the effective settings in, findings out) and
names the line doveconf would name; ``refusals`` runs them in a fixed order, which is the
order of the findings in every report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from imap_gate.findings import Finding, Location
from imap_gate.severity import Severity

from . import names, templated, v24
from .effective import Assign, EffectiveConfig
from .loader import Loaded
from .parser import Node, ParseError, Section, Setting
from .rules import DOV013
from .template import is_templated
from .version import ONLY_23, RENAMED_24, VersionInfo

_ENUMS_23 = {
    "ssl": ("yes", "no", "required"),
    "disable_plaintext_auth": ("yes", "no"),
    "ssl_min_protocol": ("ANY", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3", "LATEST"),
}
_ENUMS_24 = {
    "ssl": ("yes", "no", "required"),
    "auth_allow_cleartext": ("yes", "no"),
    # SSLv3 has a finding of its own (v24.refusals)
    "ssl_min_protocol": (*v24.MIN_PROTOCOLS_24, "SSLv3"),
    "ssl_server_prefer_ciphers": ("client", "server"),
}

# What ``protocols`` may name: the services Debian's packages ship (sieve is ManageSieve),
# ``none``, and 1.x's imaps/pop3s, which 2.3 converts.
PROTOCOLS = frozenset({"imap", "pop3", "lmtp", "submission", "sieve", "none", "imaps", "pop3s"})

# 2.3's blocks and the blocks each may hold (a ``service`` inside a ``service`` is refused:
# doveconf 2.3 "Unknown setting: service").
_SUBSECTIONS_23 = {"service": {"inet_listener", "unix_listener", "fifo_listener"},
                   "namespace": {"mailbox"}, "mailbox": set(), "inet_listener": set(),
                   "unix_listener": set(), "fifo_listener": set(), "passdb": set(),
                   "userdb": set()}

Sections = tuple[tuple[str, str], ...]


def refusals(loaded: Loaded, eff: EffectiveConfig) -> list[Finding]:
    """Every DOV013 of the files (and the DOV015 of template lines, in its place)."""
    info = eff.info
    first = loaded.files[loaded.top].first_setting if loaded.top in loaded.files else None
    plain, template = templated.split_errors(loaded)
    out = _problems(loaded) + _parse_errors(plain) + templated.template_lines(template)
    out += _mixed(info)
    out += _missing_version(loaded, info, first)
    out += _not_first(loaded.top, info, first)
    out += _bad_values(eff)
    out += _unknown_names(loaded, eff)
    out += _unknown_protocols(eff)
    out += v24.refusals(eff, first)
    return out


def slug(msg: str) -> str:
    """A line-number-free identity for an error message."""
    words = [w for w in msg.replace(":", " ").split() if not any(c.isdigit() for c in w)]
    return "-".join(words[:8]).lower()


def _problems(loaded: Loaded) -> list[Finding]:
    """What the loader met: unreadable files, includes it could not follow."""
    return [DOV013.finding(p.message, p.loc,
                           severity=Severity.NOTE if p.severity == "note" else None,
                           evidence=p.text, file=p.loc.path, error=slug(p.message))
            for p in loaded.problems]


def _parse_errors(errors: list[ParseError]) -> list[Finding]:
    """Lines doveconf cannot parse (those a template explains are DOV015, not here)."""
    return [DOV013.finding(f"{n.loc.path}:{n.loc.line}: {n.message}; "
                           "doveconf refuses this configuration.", n.loc, evidence=n.text,
                           file=n.loc.path, error=slug(n.message))
            for n in errors]


def _mixed(info: VersionInfo) -> list[Finding]:
    if info.mixed is None:
        return []
    old, new = info.mixed
    return [DOV013.finding(
        f"The configuration mixes Dovecot 2.3 and 2.4 names ({old.key} here, "
        f"{new.key} at {new.loc.path}:{new.loc.line}); neither version will load it "
        f"(doveconf 2.4: {old.key}: Unknown setting: {old.key}"
        + (f"; 2.4 uses {RENAMED_24[old.key]}" if old.key in RENAMED_24 else "") + ").",
        old.loc, evidence=old.text, related=(Location(new.loc.path, new.loc.line,
                                                      new.loc.column, f"2.4 name {new.key}"),),
        file=old.loc.path, setting=old.key, error="mixed-versions")]


def _missing_version(loaded: Loaded, info: VersionInfo, first: Setting | None) -> list[Finding]:
    """A 2.4 file without ``dovecot_config_version``: at the earlier of its first setting
    and the one that tells 2.4."""
    if info.version != "2.4" or info.declared is not None:
        return []
    where = _earliest(loaded.top, first, info.evidence)
    if where is None:
        return []
    told = info.evidence.key if info.evidence is not None else where.key
    return [DOV013.finding(
        f"{loaded.top} is a Dovecot 2.4 configuration ({told} tells 2.4) "
        "without dovecot_config_version; "
        "2.4 refuses it (doveconf: The first setting must be dovecot_config_version). "
        "Put `dovecot_config_version = 2.4.0` first, or, if this file is a fragment "
        "that a main dovecot.conf includes, list that main file in the manifest.",
        where.loc, evidence=where.text,
        file=loaded.top, setting="dovecot_config_version", error="missing")]


def _earliest(top: str, first: Setting | None, evidence: Setting | None) -> Setting | None:
    """The earlier in the top file of two settings, else whichever there is."""
    cands = [s for s in (first, evidence) if s is not None and s.loc.path == top]
    return min(cands, key=lambda s: s.loc.line) if cands else (first or evidence)


def _not_first(top: str, info: VersionInfo, first: Setting | None) -> list[Finding]:
    d = info.evidence
    if info.declared is None or first is None or d is None or first is d:
        return []
    return [DOV013.finding(
        f"dovecot_config_version must be the first setting in {top}, "
        f"but {first.key} comes first (line {first.loc.line}); Dovecot 2.4 refuses this "
        "(doveconf: The first setting must be dovecot_config_version).",
        first.loc, evidence=first.text,
        file=top, setting="dovecot_config_version", error="not-first")]


def _bad_values(eff: EffectiveConfig) -> list[Finding]:
    """Values outside a setting's enumeration (``ssl = maybe``): Dovecot refuses to start."""
    enums = _ENUMS_24 if eff.info.version == "2.4" else _ENUMS_23
    out: list[Finding] = []
    for a in eff.all_settings:
        allowed = _allowed(eff, enums, a)
        if allowed is not None and a.value not in allowed:
            out.append(DOV013.finding(
                f"{a.key} = '{a.value}' is not a valid value (use one of "
                f"{', '.join(allowed)}); Dovecot refuses to start.", a.loc,
                evidence=a.setting.text, file=a.loc.path, setting=a.key, error="value"))
    return out


def _allowed(eff: EffectiveConfig, enums: dict[str, tuple[str, ...]],
             a: Assign) -> tuple[str, ...] | None:
    """The values a setting may take here; None when it has no enumeration or no known value."""
    allowed = enums.get(a.key)
    if allowed is None or a.value is None or a.templated:
        return None
    if a.key == "ssl" and a.setting.loc and _inside_listener(eff, a):
        return ("yes", "no")      # a listener's ssl is a boolean
    return allowed


def _inside_listener(eff: EffectiveConfig, a: Assign) -> bool:
    return any(a in lst.assigns.values() for lst in eff.listeners.values())


def _unknown_protocols(eff: EffectiveConfig) -> list[Finding]:
    """doveconf: ``protocols: Unknown protocol: X``."""
    a = eff.root.get("protocols")
    if a is None or a.value is None or a.templated or a.setting.kind == "block":
        return []
    bad = [w for w in a.value.replace(",", " ").split() if w not in PROTOCOLS]
    if not bad:
        return []
    return [DOV013.finding(f"{a.loc.path}:{a.loc.line}: protocols: Unknown protocol: {bad[0]} "
                    f"(known: {', '.join(sorted(PROTOCOLS - {'imaps', 'pop3s'}))}); doveconf "
                    f"{eff.info.version} refuses this configuration.", a.loc,
                    evidence=a.setting.text,
                    file=a.loc.path, setting="protocols", error="unknown-protocol")]


# One check per way a setting's name is refused, tried in this order; the first that
# applies is the finding (a string list written as a value is not also "unknown").
NameCheck = Callable[[Setting, Sections, str, "str | None"], "Finding | None"]


def _strlist(s: Setting, sections: Sections, version: str, kind: str | None) -> Finding | None:
    if kind != "strlist" or s.kind == "block":
        return None
    return DOV013.finding(
        f"{s.loc.path}:{s.loc.line}: {s.key}: Setting is a string list, use "
        f"'{s.key} {{' (one `NAME = value` a line); doveconf 2.4 refuses this "
        "configuration.", s.loc, evidence=s.text,
        file=s.loc.path, setting=s.key, error="strlist")


def _open_quote(s: Setting, sections: Sections, version: str, kind: str | None) -> Finding | None:
    if kind != "boollist" or s.kind != "value" or s.raw[:1] not in ("'", '"') or \
            (len(s.raw) >= 2 and s.raw[-1] == s.raw[0]):
        return None
    return DOV013.finding(
        f"{s.loc.path}:{s.loc.line}: {s.key}: Missing ending '{s.raw[0]}'; "
        "doveconf 2.4 refuses this configuration.", s.loc, evidence=s.text,
        file=s.loc.path, setting=s.key, error="quote")


def _auth_scope_23(s: Setting, sections: Sections, version: str,
                   kind: str | None) -> Finding | None:
    if version != "2.3" or not s.key.startswith("auth_") or \
            not any(t in ("remote", "local", "local_name") for t, _ in sections):
        return None
    return DOV013.finding(
        f"{s.loc.path}:{s.loc.line}: Auth settings not supported inside "
        f"local/remote blocks: {s.key}; doveconf 2.3 refuses this configuration.",
        s.loc, evidence=s.text, file=s.loc.path, setting=s.key, error="scope")


def _templated_name(s: Setting, sections: Sections, version: str,
                    kind: str | None) -> Finding | None:
    return templated.templated_name(s)


def _unknown(s: Setting, sections: Sections, version: str, kind: str | None) -> Finding | None:
    """``Unknown setting``: unknown to every release of the version and to its plugins."""
    if names.known(version, s.key, sections) is not False:
        return None
    where = " inside " + " ".join(f"{t} {n}".strip() for t, n in sections[-1:]) \
        if sections else ""
    return DOV013.finding(
        f"{s.loc.path}:{s.loc.line}: Unknown setting: {s.key}{where}"
        f"{_version_hint(s.key, version)}; doveconf {version} refuses this configuration.",
        s.loc, evidence=s.text,
        file=s.loc.path, setting=s.key, error="unknown-setting")


def _version_hint(key: str, version: str) -> str:
    """The other version's name, when that is what the unknown setting is."""
    if version == "2.4" and (key in ONLY_23 or key in names.settings("2.3")):
        new = RENAMED_24.get(key)
        return (f"; {key} is a Dovecot 2.3 name that 2.4 no longer knows"
                + (f" (2.4 uses {new})" if new else ""))
    if version == "2.3" and key in names.settings("2.4"):
        return f"; {key} is a Dovecot 2.4 name, and this file is read as 2.3"
    return ""


NAME_CHECKS: tuple[NameCheck, ...] = (_strlist, _open_quote, _auth_scope_23, _templated_name,
                                      _unknown)


def _name_finding(s: Setting, sections: Sections, version: str) -> Finding | None:
    """The first of NAME_CHECKS that refuses the setting's name."""
    full = names.resolve_24(s.key, sections) if version == "2.4" else None
    kind = names.list_kind(full) if full is not None else None
    return next((f for f in (check(s, sections, version, kind) for check in NAME_CHECKS)
                 if f is not None), None)


def _unknown_names(loaded: Loaded, eff: EffectiveConfig) -> list[Finding]:
    """DOV013 for every name doveconf of the file's version does not know (``Unknown
    setting``): unknown to every release of that major version and to its plugins."""
    info = eff.info
    version = info.version
    already = info.mixed[0] if info.mixed is not None else None
    out: list[Finding] = []
    for s, sections in settings_in(loaded.nodes, ()):
        if s is already or s.key.startswith("@"):
            continue
        found = _name_finding(s, sections, version)
        if found is not None:
            out.append(found)
    if version == "2.3":
        out += _unknown_sections_23(loaded.nodes, None)
    return out


def _unknown_sections_23(nodes: list[Node], parent: str | None) -> list[Finding]:
    out: list[Finding] = []
    for n in nodes:
        if not isinstance(n, Section) or n.type == "<error>" or is_templated(n.type):
            continue
        bad = _misplaced_23(n, parent) or _setting_as_block_23(n, parent)
        if bad is not None:
            out.append(bad)
            continue
        inner = n.type if n.type in _SUBSECTIONS_23 else (parent if n.type in names.FILTERS
                                                          else "<free>")
        if inner != "<free>":
            out += _unknown_sections_23(n.children, inner)
    return out


def _misplaced_23(n: Section, parent: str | None) -> Finding | None:
    allowed = _SUBSECTIONS_23.get(parent) if parent is not None else None
    if allowed is None or n.type in allowed:
        return None
    return DOV013.finding(
        f"{n.loc.path}:{n.loc.line}: a '{n.type}' block cannot stand inside "
        f"'{parent}' (doveconf 2.3: Unknown setting: {n.type}); is a '}}' missing "
        "above?", n.loc, evidence=n.text,
        file=n.loc.path, section=f"{parent}/{n.type}", error="unknown-section")


def _setting_as_block_23(n: Section, parent: str | None) -> Finding | None:
    if parent is not None or n.name or n.type not in names.settings("2.3") or \
            n.type in _SUBSECTIONS_23:
        return None
    return DOV013.finding(
        f"{n.loc.path}:{n.loc.line}: {n.type} is a setting, not a block, in "
        f"Dovecot 2.3 (write `{n.type} = ...`; the block form is 2.4 syntax); doveconf "
        "2.3 refuses this configuration.", n.loc, evidence=n.text,
        file=n.loc.path, section=n.type, error="setting-as-block")


def settings_in(nodes: list[Node], sections: Sections) -> Iterator[tuple[Setting, Sections]]:
    for n in nodes:
        if isinstance(n, Setting):
            yield n, sections
        elif isinstance(n, Section) and n.type != "<error>" and not is_templated(n.type):
            inner = sections if n.type == "group" and n.name.startswith("@") else \
                (*sections, (n.type, n.name))
            yield from settings_in(n.children, inner)
