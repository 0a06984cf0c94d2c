"""Bounded manifest reading: alias bombs, deep nesting, and what the loader makes of values."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imap_gate import yamlpos
from imap_gate.errors import InputError
from tests.conftest import REPO
from tests.support import fuzz
from tests.support.rusage import run_measured

ENTRYPOINT = REPO / "entrypoint.py"
RSS_MARGIN_KB = 16 * 1024
SLACK = 1.0            # the "within a second" (over a run on a small valid manifest)


def alias_bomb(levels: int) -> str:
    """Nine levels: under 400 bytes that stand for 10**9 strings once every alias is expanded."""
    lines = ["version: 1", "a: &a [x,x,x,x,x,x,x,x,x,x]"]
    names = "abcdefghijk"
    for prev, cur in itertools.pairwise(names[:levels]):
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def _run(root: Path, tmp: Path) -> tuple[int | None, float, int, str]:
    err = tmp / f"err-{root.name}"
    with err.open("wb") as e:
        m = run_measured([sys.executable, str(ENTRYPOINT), "--root", str(root), "--only", "lint",
                          "--quiet"], 30.0, stdout=subprocess.DEVNULL, stderr=e, cwd=root)
    return m.code, m.seconds, m.maxrss_kb, err.read_text(errors="replace")


def test_alias_bomb_is_one_error_fast_and_small(tmp_path: Path) -> None:
    assert len(alias_bomb(9).encode()) < 400
    good, bomb = tmp_path / "good", tmp_path / "bomb"
    good.mkdir()
    bomb.mkdir()
    (good / "imap-gate.yml").write_text("version: 1\ntargets: []\n")
    (bomb / "imap-gate.yml").write_text(alias_bomb(9))
    code0, secs0, rss0, _ = _run(good, tmp_path)
    assert code0 == 0
    code, secs, rss, err = _run(bomb, tmp_path)
    assert code == 2, err[-500:]
    lines = err.strip().splitlines()
    assert len(lines) == 1, err[-500:]
    assert lines[0].startswith("imap-gate: imap-gate.yml:")
    assert "aliases" in lines[0] and "stand for more than" in lines[0]
    assert secs <= secs0 + SLACK, (secs, secs0)
    assert rss <= rss0 + RSS_MARGIN_KB, (rss, rss0)


def test_small_aliases_still_work(tmp_path: Path) -> None:
    text = ("version: 1\ntargets:\n  - name: a\n    host: 127.0.0.1\n    ports: &p [143, 993]\n"
            "    expect: &e {143: closed}\n  - name: b\n    host: 127.0.0.2\n    ports: *p\n"
            "    expect: *e\n")
    data, pos = yamlpos.load(text, "m.yml")
    assert data["targets"][1]["ports"] == [143, 993]
    assert data["targets"][1]["expect"] == {"143": "closed"}
    assert pos.at(("targets", 1, "ports", 0)) == (9, 12)     # at the alias that wrote it


def test_scalar_anchors_and_anchored_keys() -> None:
    data, _ = yamlpos.load("version: &v 1\nname: &n mail\n&k sni: x\nx: [*v, *n, *k]\n", "m.yml")
    assert data == {"version": 1, "name": "mail", "sni": "x", "x": [1, "mail", "sni"]}
    with pytest.raises(InputError, match="anchor &v is defined twice"):
        yamlpos.load("a: &v 1\nb: &v 2\n", "m.yml")
    with pytest.raises(InputError, match="undefined alias"):
        yamlpos.load("a: *nowhere\n", "m.yml")


def test_recursive_alias_is_an_error() -> None:
    with pytest.raises(InputError, match="refers to a value it is part of") as exc:
        yamlpos.load("version: 1\nx: &x [1, *x]\n", "m.yml")
    assert exc.value.line == 2


@pytest.mark.parametrize("shape", ["flow", "block"])
def test_deep_nesting_is_reported_on_its_line(shape: str) -> None:
    """5,000 levels used to exhaust Python's recursion and be reported at line 1."""
    nested = "[" * 5000 + "]" * 5000 if shape == "flow" else "\n".join(
        "  " * i + "- " for i in range(100))
    text = f"version: 1\nname: x\ntargets: {nested}\n" if shape == "flow" else \
        f"version: 1\nname: x\ntargets:\n{nested}x\n"
    with pytest.raises(InputError, match="nests deeper than 64 levels") as exc:
        yamlpos.load(text, "m.yml")
    assert exc.value.line == (3 if shape == "flow" else 4 + 64)   # where level 65 starts


def _plain(value: object) -> object:
    import datetime as dt

    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


words = st.sampled_from(["yes", "No", "on", "~", "null", "1e9", "1.0e+9", "0x1F", "0o17", "017",
                         "1_000", "190:20:30", ".inf", "-.NaN", "2027-03-31", "2001-12-14t21:59:43.10-05:00",
                         "true", "143", "-7", "+12.5", "imap", "'quoted'", '"993"', "", "a b",
                         "!!str 12", "!!int '7'", "12.", "._"])
docs = st.recursive(words, lambda inner: st.one_of(
    st.lists(inner, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
    st.lists(st.tuples(st.sampled_from(["k", "port", "143", "x y", "'q'"]), inner), max_size=4,
             unique_by=lambda kv: kv[0]).map(
        lambda kvs: "{" + ", ".join(f"{k}: {v}" for k, v in kvs) + "}")), max_leaves=12)


@settings(max_examples=fuzz.examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs)
def test_values_are_what_safe_load_makes_of_them(doc: str) -> None:
    """The loader composes its own values: they must equal PyYAML's ``safe_load``'s."""
    text = f"v: {doc}\n"
    try:
        expected = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError):
        with pytest.raises(InputError):
            yamlpos.load(text, "m.yml")
        return
    try:
        got, _ = yamlpos.load(text, "m.yml")
    except InputError as exc:
        # our own refusals: keys that are not plain words (PyYAML allows any hashable key)
        assert "mapping key must be a plain word" in str(exc), (text, exc)
        return
    assert got == _plain(expected), text


plain = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40),
                  st.floats(allow_nan=False), st.text(max_size=10),
                  st.sampled_from(["1e9", "yes", "0o17", "2027-03-31", "a: b", "- x", "#", "~"]))
structures = st.recursive(plain, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(min_size=1, max_size=6), inner, max_size=4)),
    max_leaves=15)


@settings(max_examples=fuzz.examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(structures, st.booleans())
def test_dumped_documents_read_back_as_safe_load_reads_them(doc: object, flow: bool) -> None:
    text = yaml.safe_dump({"v": doc}, default_flow_style=flow, allow_unicode=True)
    try:
        got, _ = yamlpos.load(text, "m.yml")
    except InputError as exc:
        assert "control characters" in str(exc) or "tab indents" in str(exc), (text, exc)
        return
    assert got == _plain(yaml.safe_load(text)), text
