"""Seeded mutations of real firewall files, for differential tests against the real tools.

Each mutation is a small edit a person makes by accident (a typo in an option, a match or a
target, ACCEPT and DROP swapped, a port changed, a COMMIT or a quote lost, a Latin-1 byte in
a comment, a rule duplicated or moved). Mutations work on bytes, so a non-UTF-8 byte reaches
the tool and the gate exactly as it would on disk.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

OPTION = re.compile(rb"(?<=\s)--[a-z][a-z0-9-]+")
MATCH = re.compile(rb"(?<=\s-m\s)[a-z0-9]+")
TARGET = re.compile(rb"(?<=\s-j\s)[A-Z]+")
VERDICT = re.compile(rb"\b(ACCEPT|DROP)\b")
PORT = re.compile(rb"(?<=--dport\s)\d+|(?<=--dports\s)[\d,:]+")
RULE = re.compile(rb"^-[AI] ", re.M)


def scale() -> int:
    """IMAP_GATE_FUZZ_SCALE, as bench/fuzz.sh sets it (1 in CI)."""
    try:
        return max(1, int(os.environ.get("IMAP_GATE_FUZZ_SCALE", "1")))
    except ValueError:
        return 1


@dataclass(frozen=True)
class Mutant:
    kind: str
    data: bytes
    line: int          # 1-based line of the edit (0: none in particular)


def _typo(rng: random.Random, word: bytes) -> bytes:
    """One edit: swap two neighbours, drop one, or double one (never the leading dashes)."""
    lead = len(word) - len(word.lstrip(b"-"))
    body = bytearray(word[lead:])
    if len(body) < 2:
        return word + b"x"
    i = rng.randrange(len(body) - 1)
    op = rng.randrange(3)
    if op == 0 and body[i] != body[i + 1]:
        body[i], body[i + 1] = body[i + 1], body[i]
    elif op == 1:
        del body[i]
    else:
        body.insert(i, body[i])
    return word[:lead] + bytes(body)


def _line_of(data: bytes, pos: int) -> int:
    return data.count(b"\n", 0, pos) + 1


def _sub_one(rng: random.Random, data: bytes, pattern: re.Pattern[bytes],
             edit: Callable[[bytes], bytes]) -> tuple[bytes, int] | None:
    hits = list(pattern.finditer(data))
    if not hits:
        return None
    m = rng.choice(hits)
    new = edit(m.group(0))
    if new == m.group(0):
        return None
    return data[:m.start()] + new + data[m.end():], _line_of(data, m.start())


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def mutate(rng: random.Random, data: bytes) -> Mutant | None:
    """One seeded mutation of an iptables-save text (or of a script's iptables lines)."""
    kind = rng.choice(("option", "option", "match", "target", "verdict", "port", "port143",
                       "commit", "quote", "latin1", "duplicate", "reorder", "insert143"))
    got: tuple[bytes, int] | None = None
    if kind == "option":
        got = _sub_one(rng, data, OPTION, lambda w: _typo(rng, w))
    elif kind == "match":
        got = _sub_one(rng, data, MATCH, lambda w: _typo(rng, w))
    elif kind == "target":
        got = _sub_one(rng, data, TARGET, lambda w: _typo(rng, w))
    elif kind == "verdict":
        got = _sub_one(rng, data, VERDICT, lambda w: b"DROP" if w == b"ACCEPT" else b"ACCEPT")
    elif kind == "port":
        got = _sub_one(rng, data, PORT, lambda w: rng.choice((b"143", b"993", b"143,993",
                                                              b"140:150", b"0x8f", b"99999")))
    elif kind == "port143":
        got = _sub_one(rng, data, re.compile(rb"\b(143|993)\b"),
                       lambda w: b"144" if w == b"143" else b"994")
    elif kind == "commit":
        lines = _lines(data)
        idx = [i for i, ln in enumerate(lines) if ln.strip() == b"COMMIT"]
        if idx:
            i = rng.choice(idx)
            got = b"\n".join(lines[:i] + lines[i + 1:]), i + 1
    elif kind == "quote":
        hits = [m.start() for m in re.finditer(rb'"', data)]
        if hits:
            p = rng.choice(hits)
            got = data[:p] + data[p + 1:], _line_of(data, p)
    elif kind == "latin1":
        lines = _lines(data)
        i = rng.randrange(len(lines))
        lines.insert(i, rng.choice((b"# Caf\xe9 mail server", b"# r\xe8gles \x0c pare-feu",
                                    b"# \xff\xfe")))
        got = b"\n".join(lines), i + 1
    elif kind in ("duplicate", "reorder", "insert143"):
        lines = _lines(data)
        rules = [i for i, ln in enumerate(lines) if RULE.match(ln)]
        if not rules:
            return None
        i = rng.choice(rules)
        if kind == "duplicate":
            lines.insert(i, lines[i])
        elif kind == "reorder":
            j = rng.choice(rules)
            if lines[i].split()[1:2] != lines[j].split()[1:2] or i == j:
                return None
            lines[i], lines[j] = lines[j], lines[i]
        else:
            chain = lines[i].split()[1]
            port = rng.choice((b"143", b"993"))
            src = rng.choice((b"", b"-s 192.0.2.0/24 "))
            lines.insert(i, b"-I " + chain + b" -p tcp " + src + b"--dport " + port +
                         rng.choice((b" -j ACCEPT", b" -j DROP", b" -j REJECT")))
        got = b"\n".join(lines), i + 1
    if got is None:
        return None
    return Mutant(kind, got[0], got[1])


def mutants(data: bytes, seed: int, count: int) -> list[Mutant]:
    rng = random.Random(seed)
    out: list[Mutant] = []
    tries = 0
    while len(out) < count and tries < count * 10:
        tries += 1
        m = mutate(rng, data)
        if m is not None and m.data != data:
            out.append(m)
    return out
