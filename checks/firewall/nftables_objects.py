"""The tables, chains and sets an nftables file declares, as the reader builds them up."""

from __future__ import annotations

from dataclasses import dataclass, field

from .model import (
    FilterRule,
    V,
)


@dataclass
class NSet:
    name: str
    elements: list[str] | None = None   # None: members unknown (dynamic, or filled at run time)
    line: int = 1
    raw: list[str] = field(default_factory=list)  # the element tokens, commas kept (concatenations)


@dataclass
class NChain:
    name: str
    line: int
    hook: str | None = None
    ctype: str | None = None
    priority: int = 0
    policy: V | None = None
    policy_line: int | None = None
    policy_text: str = ""
    rules: list[FilterRule] = field(default_factory=list)
    path: str = ""


@dataclass
class NTable:
    family: str
    name: str
    line: int
    chains: dict[str, NChain] = field(default_factory=dict)
    sets: dict[str, NSet] = field(default_factory=dict)
