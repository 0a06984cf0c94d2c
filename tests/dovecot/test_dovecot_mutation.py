"""Differential mutation test: mutated real files, the gate against the real doveconf.

Seeds are the fixtures and corpus files that doveconf of their version loads (2.3 on the
host, 2.4 in the Debian 13 root filesystem). Each case applies one seeded mutation — a
misspelt setting name, a non-UTF-8 byte in a comment, a dropped brace or quote, a changed
``ssl`` / cleartext value, a duplicated or reordered setting — and requires:

- doveconf refuses the mutant: the gate does not pass (DOV013 or DOV015 at medium);
- doveconf loads it: no DOV013, and the effective settings the gate judges equal doveconf's.

CI runs a bounded number of cases; ``bench/fuzz.sh`` (IMAP_GATE_FUZZ_SCALE) runs more.
"""

from __future__ import annotations

import random
import re
from functools import cache
from pathlib import Path

import pytest

from checks.dovecot.check import lint_file
from tests.conftest import CORPUS
from tests.dovecot.test_dovecot_oracle import (
    FIXTURES,
    PORTS,
    SETTINGS,
    _corpus_entries,
    _norm,
    _stub_includes,
    blockers,
    oracle,
    ours,
    version_of,
)
from tests.support.doveconf import (
    Result,
    environmental,
    stage,
    template_refusal,
    with_local_users,
    write_staged,
)
from tests.support.fuzz import examples

CASES = examples(240)
_SETTING = re.compile(rb"^([ \t]*)([A-Za-z_][A-Za-z0-9_]*)([ \t]*=)(.*)$")


def _seed_files() -> list[tuple[Path, str]]:
    out = [(FIXTURES, p.name) for p in sorted(FIXTURES.glob("*.conf"))]
    for e in _corpus_entries():
        local = Path(e["local_file"])
        out.append((CORPUS / local.parent, local.name))
    return out


@cache
def loadable_seeds() -> tuple[tuple[Path, str, str], ...]:
    """(root, rel, version) of every seed its version's doveconf loads, staged alone."""
    seeds = []
    for root, rel in _seed_files():
        version = version_of(root, rel)
        dc = oracle(version)
        with dc.staging() as st:
            staged = stage(root, rel, Path(st), alone=True)
            _stub_includes(staged)
            if with_local_users(dc, staged).ok:
                seeds.append((root, rel, version))
    return tuple(seeds)


# -- mutations: bytes in, bytes out (None: not applicable to this file) -----------------

def _setting_lines(lines: list[bytes]) -> list[int]:
    return [i for i, ln in enumerate(lines) if _SETTING.match(ln) and b"{" not in ln
            and not ln.lstrip().startswith(b"#")]


def misspell(lines: list[bytes], rnd: random.Random) -> list[bytes] | None:
    idx = _setting_lines(lines)
    if not idx:
        return None
    i = rnd.choice(idx)
    m = _SETTING.match(lines[i])
    assert m
    key = m.group(2)
    if len(key) < 3:
        return None
    j = rnd.randrange(1, len(key) - 1)
    wrong = key[:j] + key[j + 1:] if rnd.random() < 0.5 else key[:j] + key[j:j + 1] + key[j:]
    lines[i] = m.group(1) + wrong + m.group(3) + m.group(4)
    return lines


def latin1_comment(lines: list[bytes], rnd: random.Random) -> list[bytes] | None:
    lines.insert(rnd.randrange(0, len(lines) + 1), b"# Caf\xe9 mail server \xff")
    return lines


def drop_brace(lines: list[bytes], rnd: random.Random) -> list[bytes] | None:
    idx = [i for i, ln in enumerate(lines) if ln.strip() in (b"}",) or
           (ln.rstrip().endswith(b"{") and not ln.lstrip().startswith(b"#"))]
    if not idx:
        return None
    i = rnd.choice(idx)
    lines[i] = lines[i].replace(b"{", b"", 1) if b"{" in lines[i] else b""
    return lines


def drop_quote(lines: list[bytes], rnd: random.Random) -> list[bytes] | None:
    idx = [i for i in _setting_lines(lines) if lines[i].rstrip().endswith((b'"', b"'"))]
    if not idx:
        return None
    i = rnd.choice(idx)
    lines[i] = lines[i].rstrip()[:-1]
    return lines


def change_security(lines: list[bytes], rnd: random.Random, version: str) -> list[bytes] | None:
    key = rnd.choice([b"ssl", b"auth_allow_cleartext" if version == "2.4" else
                      b"disable_plaintext_auth"])
    values = [b"yes", b"no", b"required"] if key == b"ssl" else [b"yes", b"no"]
    for i in _setting_lines(lines):
        m = _SETTING.match(lines[i])
        if m and m.group(2) == key and not m.group(1):
            lines[i] = key + b" = " + rnd.choice(values)
            return lines
    # not set at the top: append (after any dovecot_config_version, which must stay first)
    lines.append(key + b" = " + rnd.choice(values))
    return lines


def duplicate(lines: list[bytes], rnd: random.Random) -> list[bytes] | None:
    idx = [i for i in _setting_lines(lines) if not lines[i].startswith((b" ", b"\t"))
           and b"dovecot_config_version" not in lines[i]]
    if not idx:
        return None
    i = rnd.choice(idx)
    lines.insert(rnd.randrange(i, len(lines) + 1), lines[i])
    return lines


def reorder(lines: list[bytes], rnd: random.Random) -> list[bytes] | None:
    idx = [i for i in _setting_lines(lines) if not lines[i].startswith((b" ", b"\t"))]
    if len(idx) < 2:
        return None
    a, b = rnd.sample(idx, 2)
    lines[a], lines[b] = lines[b], lines[a]
    return lines


KINDS = ("misspell", "latin1_comment", "drop_brace", "drop_quote", "change_security",
         "duplicate", "reorder")


def mutate(data: bytes, kind: str, rnd: random.Random, version: str) -> bytes | None:
    lines = data.split(b"\n")
    fn = globals()[kind]
    got = fn(lines, rnd, version) if kind == "change_security" else fn(lines, rnd)
    return None if got is None else b"\n".join(got)


@pytest.mark.parametrize("case", range(CASES))
def test_mutant_agrees_with_doveconf(case: int) -> None:
    seeds = loadable_seeds()
    if not seeds:
        pytest.skip("no seed loads (corpus absent and fixtures refused)")
    root, rel, version = seeds[case % len(seeds)]
    kind = KINDS[(case // len(seeds) + case) % len(KINDS)]
    if kind == "drop_brace" and b"socket listen" in (root / rel).read_bytes():
        # 2.3's converter for 1.x ``auth { socket listen { ... } }`` blocks does not count
        # their braces (it loads the file with one missing): no verdict to compare
        kind = "reorder"
    rnd = random.Random(case)
    data = mutate((root / rel).read_bytes(), kind, rnd, version)
    if data is None:
        kind = "latin1_comment"
        data = mutate((root / rel).read_bytes(), kind, rnd, version)
    assert data is not None
    dc = oracle(version)
    with dc.staging() as st:
        work = Path(st)
        staged = write_staged(work, Path(rel).name, data)
        _stub_includes(staged)
        res = with_local_users(dc, staged)
        findings, eff, _ = lint_file(work, staged.name)
        where = f"{rel} ({version}) mutated by {kind} (case {case})"
        if not res.ok and not environmental(res.reason):
            if template_refusal(staged, res.reason, findings):
                return
            assert blockers(findings), f"{where}: doveconf refuses ({res.reason}), the gate passes"
            return
        gap = [f for f in findings if f.rule_id == "DOV013" and f.sev.label != "note"]
        assert not gap, f"{where}: doveconf loads it, the gate says: {gap[0].message}"
        theirs = dc.values(staged, (*SETTINGS[version], *PORTS))
        if isinstance(theirs, Result) and not res.ok:
            return                      # a user only the server has: no values to read
        assert not isinstance(theirs, Result), f"{where}: doveconf -h failed: {theirs.reason}"
        for k, v in ours(eff, version).items():
            if v is None or k not in theirs:
                continue
            assert _norm(k, v) == _norm(k, theirs[k]), \
                f"{where}: {k}: we say {v!r}, doveconf {version} says {theirs[k]!r}"
