"""Just enough shell to read firewall scripts: logical lines, variables, simple commands.

Scripts are read top to bottom once, as if every line ran (function bodies where
they are written, loop bodies once with the loop variable unknown). A variable the
script does not set is left as ``$NAME``: its value is never guessed.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass

ASSIGN = re.compile(r"^(?:export\s+|readonly\s+|local\s+|declare\s+(?:-\w+\s+)?)?([A-Za-z_]\w*)=(.*)$")
FOR = re.compile(r"^for\s+([A-Za-z_]\w*)\s+in\b")
VAR = re.compile(r"\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)")
SEPARATORS = {";", "&&", "||", "|", "&", ";;", "(", ")"}
PREFIXES = {"sudo", "command", "exec", "nohup", "time", "then", "do", "else", "{", "!"}


@dataclass
class Command:
    line: int
    words: list[str]
    text: str


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    start = 0
    buf = ""
    for no, raw in enumerate(text.splitlines(), 1):
        if not buf:
            start = no
        if raw.endswith("\\") and not raw.endswith("\\\\"):
            buf += raw[:-1] + " "
            continue
        buf += raw
        yield start, buf
        buf = ""
    if buf:
        yield start, buf


def expand(word: str, env: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        return env[name] if name in env else m.group(0)

    return VAR.sub(sub, word)


def commands(text: str) -> Iterator[Command]:
    """Simple commands with variables the script set expanded; assignments are applied."""
    env: dict[str, str] = {}
    for line, logical in logical_lines(text):
        stripped = logical.strip()
        if not stripped or stripped.startswith("#"):
            continue
        m = FOR.match(stripped)
        if m:
            env.pop(m.group(1), None)  # unknown inside the loop: never guessed
        try:
            lex = shlex.shlex(stripped, posix=True, punctuation_chars=";&|()")
            lex.whitespace_split = True
            lex.commenters = "#"
            tokens = list(lex)
        except ValueError:
            # Unbalanced quotes: fall back to a plain split, so the line is still seen.
            tokens = stripped.split()
        cur: list[str] = []
        for tok in [*tokens, ";"]:
            if tok in SEPARATORS:
                if cur:
                    cmd = _command(cur, env, line, stripped)
                    if cmd is not None:
                        yield cmd
                cur = []
            else:
                cur.append(tok)


def _command(words: list[str], env: dict[str, str], line: int, text: str) -> Command | None:
    while words and words[0] in PREFIXES:
        words = words[1:]
    # Leading assignments: NAME=value [NAME=value ...] [command]
    while words:
        m = ASSIGN.match(words[0])
        if not m:
            break
        value = m.group(2)
        if "$(" in value or "`" in value:
            env.pop(m.group(1), None)
        else:
            env[m.group(1)] = expand(value, env)
        words = words[1:]
    if not words:
        return None
    return Command(line, [expand(w, env) for w in words], text)
