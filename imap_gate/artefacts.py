"""Typed results that one check family leaves for another.

A family publishes what it learned under a ``Key`` it declares once (``checks/<family>/
artefact.py``); a family that correlates (drift) reads it through the same key and gets the
type back, checked by mypy, instead of finding another family's output by rule-id strings or
JSON field names. ``checks.registry.FAMILIES`` names, for each family, the keys it publishes
and the keys it needs; a test checks that every need is published by a family that runs
earlier.

Reports never read artefacts: their JSON view of the endpoints is ``Context.facts``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Key(Generic[T]):
    """The name of one artefact and, for the type checker, its type."""

    name: str


@dataclass
class Artefacts:
    """What the families of one run published, by key; each key once."""

    _values: dict[str, Any] = field(default_factory=dict)

    def put(self, key: Key[T], value: T) -> None:
        if key.name in self._values:
            raise ValueError(f"artefact {key.name!r} published twice in one run")
        self._values[key.name] = value

    def get(self, key: Key[T]) -> T | None:
        """The artefact, or None when its family did not run (``--only``, no input)."""
        value = self._values.get(key.name)
        return value  # type: ignore[no-any-return]

    def names(self) -> frozenset[str]:
        return frozenset(self._values)
