"""The one rule catalogue: every family's ``RULES`` in one ordered mapping."""

from __future__ import annotations

from functools import lru_cache

from imap_gate.rules import Rule


def _families() -> list[tuple[str, tuple[Rule, ...]]]:
    # The registry names every family once (checks/registry.py); its order is the order of
    # the README table. The gate's own policy rules come last.
    from imap_gate import layout, policy_rules

    families = layout.checks(".registry").FAMILIES
    return [*((f.name, f.load_rules()) for f in families), ("policy", policy_rules.RULES)]


@lru_cache(maxsize=1)
def catalogue() -> dict[str, Rule]:
    rules: dict[str, Rule] = {}
    names: set[str] = set()
    for _, family in _families():
        for rule in family:
            if rule.id in rules or rule.name in names:
                raise RuntimeError(f"rule {rule.id}/{rule.name} is defined twice")
            rules[rule.id] = rule
            names.add(rule.name)
    return rules


@lru_cache(maxsize=1)
def families() -> dict[str, str]:
    """rule id -> the family that defines it (``checks/<family>/rules.py``)."""
    return {rule.id: name for name, rules in _families() for rule in rules}


def get(rule_id: str) -> Rule:
    return catalogue()[rule_id]


def resolve(id_or_name: str) -> Rule | None:
    """Waivers and ``--fail-on``-style options accept an id or a name."""
    key = id_or_name.strip()
    rules = catalogue()
    if key.upper() in rules:
        return rules[key.upper()]
    for rule in rules.values():
        if rule.name == key.lower():
            return rule
    return None
