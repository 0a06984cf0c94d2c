"""Step outputs in ``$GITHUB_OUTPUT`` (and other env files) as heredocs.

The delimiter is random per value and checked against the value, so a value
can never end the heredoc early and smuggle in another output.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path


def heredoc(name: str, value: str) -> str:
    while True:
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        if delimiter not in name and delimiter not in value:
            break
    if "\n" in name or "\r" in name or not name:
        raise ValueError(f"bad output name {name!r}")
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def write(path: str | Path, values: Mapping[str, str]) -> None:
    """Append every value; GitHub reads the file once the step ends."""
    with open(path, "a", encoding="utf-8") as fh:
        for name, value in values.items():
            fh.write(heredoc(name, value))


def parse(text: str) -> dict[str, str]:
    """Read an env file back the way the runner does (tests and local dry runs)."""
    out: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line:
            i += 1
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body: list[str] = []
            i += 1
            while i < len(lines) and lines[i] != delimiter:
                body.append(lines[i])
                i += 1
            if i >= len(lines):
                raise ValueError(f"unterminated heredoc for {name!r}")
            out[name] = "\n".join(body)
        else:
            name, _, value = line.partition("=")
            out[name] = value
        i += 1
    return out
