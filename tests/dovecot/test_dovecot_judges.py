"""The Dovecot judges are a table (issue 19): one entry per rule, compared here with the
catalogue, and each judge raises only the rules its entry names."""

from __future__ import annotations

from pathlib import Path

import pytest

from checks import registry
from checks.dovecot import judge, loader
from checks.dovecot.effective import build
from checks.dovecot.version import detect

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "dovecot"
FILES = sorted([*(p for p in FIXTURES.rglob("*.conf")),
                *(REPO / "examples").glob("*/deploy/dovecot/dovecot.conf")])


def _dovecot_rules() -> set[str]:
    fam = next(f for f in registry.FAMILIES if f.name == "dovecot")
    return {r.id for r in fam.load_rules()}


def test_every_dovecot_rule_has_a_judge_or_a_named_source() -> None:
    judged = {r.id for rules, _ in judge.JUDGES for r in rules}
    elsewhere = {r.id for r in judge.RAISED_ELSEWHERE}
    assert judged | elsewhere == _dovecot_rules()
    assert len(judged) == sum(len(rules) for rules, _ in judge.JUDGES), "a rule judged twice"


def test_the_fixtures_reach_most_judges() -> None:
    """The next test means something only if the files make the judges speak."""
    raised = set()
    for path in FILES:
        raised |= {f.rule_id for f in _run_each(path)[1]}
    judged = {r.id for rules, _ in judge.JUDGES for r in rules}
    assert len(raised & judged) >= 8, sorted(raised)


def _run_each(path: Path) -> tuple[list[tuple[set[str], set[str]]], list]:
    root, top = path.parent, path.name
    loaded = loader.load(root, top)
    eff = build(top, loaded.nodes, detect(loaded.nodes))
    mode, loc = eff.ssl_mode()
    judged = judge.Judged(eff, lambda base, text: loader.read_pointed_file(root, base, text),
                          mode, loc)
    pairs, every = [], []
    for rules, fn in judge.JUDGES:
        out = fn(judged)
        every += out
        pairs.append(({r.id for r in rules}, {f.rule_id for f in out}))
    return pairs, every


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_each_judge_raises_only_its_rules(path: Path) -> None:
    pairs, every = _run_each(path)
    for declared, raised in pairs:
        assert raised <= declared
    # the table is the judge: running it entry by entry is what judge() returns
    root, top = path.parent, path.name
    loaded = loader.load(root, top)
    eff = build(top, loaded.nodes, detect(loaded.nodes))
    whole = judge.judge(eff, lambda base, text: loader.read_pointed_file(root, base, text))
    assert [(f.rule_id, f.key) for f in whole] == [(f.rule_id, f.key) for f in every]
