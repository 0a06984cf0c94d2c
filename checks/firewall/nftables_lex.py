"""nftables text -> tokens -> statements: what ``nft -f`` splits a file into before it reads
any statement (strings, comments, line continuations, ``{ }`` blocks)."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass
class Tok:
    text: str
    line: int


class NftError(Exception):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


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


def _block(stmt: list[Tok], start: int, elements_end: bool = False) -> tuple[list[Tok], int]:
    """The tokens between the '{' at ``start`` and its '}', and the index after it.

    A table, chain, set or map block is a list of items each ended by a newline or ';': nft
    refuses ``chain c { accept }`` and ``{ ...; policy drop }`` ("expecting newline or
    semicolon"), so this reader does too. A set or map may end with its element list's own
    brace (``elements = { 1, 2 } }``): ``elements_end``."""
    depth = 0
    for i in range(start, len(stmt)):
        if stmt[i].text == "{":
            depth += 1
        elif stmt[i].text == "}":
            depth -= 1
            if depth == 0:
                body = stmt[start + 1:i]
                if body and body[-1].text not in ("\n", ";") and \
                        not (elements_end and body[-1].text == "}"):
                    raise NftError("syntax error: unexpected '}', expecting newline or semicolon",
                                   stmt[i].line)
                return body, i + 1
    raise NftError("unbalanced '{'", stmt[start].line)
