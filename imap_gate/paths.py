"""Paths from the manifest: relative to --root, and never outside it."""

from __future__ import annotations

import glob
from pathlib import Path

from imap_gate.errors import InputError


def is_inside(root: Path, candidate: Path) -> bool:
    try:
        candidate.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def rel(root: Path, path: Path) -> str:
    """The POSIX path relative to the root, as SARIF wants it."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def resolve_inside(root: Path, text: str, where: tuple[str, int, int], what: str,
                   must_exist: bool = True) -> Path:
    """Resolve ``text`` against the root; refuse absolute paths, ``..`` and symlink escapes."""
    file, line, col = where
    if text.startswith(("/", "\\")) or (len(text) > 1 and text[1] == ":"):
        raise InputError(f"{what}: {text!r} is absolute; write it relative to the root "
                         f"(e.g. {text.lstrip('/')!r})", file, line, col)
    if any(part == ".." for part in Path(text).parts):
        raise InputError(f"{what}: {text!r} climbs out of the root with '..'; "
                         "paths must stay inside --root", file, line, col)
    path = root / text
    if not is_inside(root, path):
        raise InputError(f"{what}: {text!r} leads outside --root through a symbolic link; "
                         "refusing to read it", file, line, col)
    if must_exist and not path.exists():
        raise InputError(f"{what}: {text!r} does not exist under the root", file, line, col)
    return path


def expand_glob(root: Path, pattern: str, where: tuple[str, int, int], what: str) -> list[Path]:
    """Glob relative to the root (``**`` allowed); every match must stay inside."""
    if not glob.has_magic(pattern):
        return [resolve_inside(root, pattern, where, what)]
    resolve_inside(root, pattern, where, what, must_exist=False)
    matches = sorted(Path(p) for p in glob.glob(str(root / pattern), recursive=True))
    files = [m for m in matches if m.is_file()]
    file, line, col = where
    if not files:
        raise InputError(f"{what}: the pattern {pattern!r} matches no file under the root",
                         file, line, col)
    for f in files:
        if not is_inside(root, f):
            shown = f.relative_to(root).as_posix() if f.is_relative_to(root) else f.as_posix()
            raise InputError(f"{what}: {shown!r} leads outside --root through a "
                             "symbolic link; refusing to read it", file, line, col)
    return files
