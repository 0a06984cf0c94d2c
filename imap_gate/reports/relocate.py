"""Report paths relative to a base above --root (the repository, when the Action runs with
``working-directory``), so that annotations, SARIF, JSON, text and the job summary all name a
file the same way and code scanning finds it.

Only the locations move: a finding's fingerprint is kept as it was (its identity is frozen into
``key`` first), so baselines written before and after still match.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from imap_gate.errors import InputError
from imap_gate.findings import Finding, Location

# "path:line[:col]: message" or "path: message" as InputError.render writes them
_LEADING_PATH = re.compile(r"^(?P<file>[^\s:]+)(?=:(?:\d+(?::\d+)?:)? )")


def prefix(root: Path, base: Path) -> str:
    """``root`` relative to ``base`` as a POSIX prefix ("" or "mail/")."""
    try:
        rel = root.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        raise InputError(f"--report-base {str(base)!r} is not a parent of --root "
                         f"{str(root)!r}") from None
    return "" if rel == "." else rel + "/"


def location(loc: Location, pre: str) -> Location:
    if not pre or loc.path.startswith("/"):
        return loc
    return dataclasses.replace(loc, path=pre + loc.path)


def finding(f: Finding, pre: str) -> Finding:
    if not pre:
        return f
    key = f.key
    if key is None and f.target is None:  # the identity names the path: keep it as it was
        key = f"path={f.location.path};msg={f.message}"
    return dataclasses.replace(f, key=key, location=location(f.location, pre),
                               related=tuple(location(r, pre) for r in f.related))


def error_line(text: str, pre: str, root: Path | None) -> str:
    """An error that starts with a file under the root names it from the base instead."""
    m = _LEADING_PATH.match(text)
    if not pre or not m or root is None or not (root / m["file"]).exists():
        return text
    return pre + text


def error_lines(errors: Iterable[str], root_arg: str | None, base_arg: str | None) -> list[str]:
    """For exit 2 before a result: rebase what can be rebased, never fail on it."""
    errors = list(errors)
    if not base_arg:
        return errors
    try:
        root = Path(root_arg or os.environ.get("GITHUB_WORKSPACE") or ".")
        pre = prefix(root, Path(base_arg))
    except (InputError, OSError):
        return errors
    return [error_line(e, pre, root) for e in errors]


def result(res: Any, root: Path, base: Path) -> Any:
    """A RunResult whose findings, errors and manifest path are relative to ``base``."""
    pre = prefix(root, base)
    if not pre:
        return res
    manifest = res.manifest
    if (root / manifest.path).is_file():  # not "<stdin>"
        manifest = dataclasses.replace(manifest, path=pre + manifest.path)
    return dataclasses.replace(res, manifest=manifest,
                               findings=[finding(f, pre) for f in res.findings],
                               errors=[error_line(e, pre, root) for e in res.errors])
