"""Reading files under the root: ``!include`` expansion and ``key = <file`` contents.

This is the only module that touches the filesystem. It never reads outside
``--root`` (absolute paths, ``..`` and symbolic links that lead out are refused
and reported), follows includes relative to the including file as ``doveconf``
does, and stops at include cycles.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from imap_gate.findings import Location

from .parser import (
    Include,
    Node,
    ParsedFile,
    ParseError,
    Section,
    Setting,
    parse_text,
)

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 32           # include levels
MAX_TOTAL_DEPTH = 150    # sections plus includes: keeps tree walks far from the recursion limit
MAX_POINTED_TEXT = 1024 * 1024   # a ``<file`` value larger than this is not read as text


@dataclass
class Problem:
    """A DOV013 in the making: what went wrong, where, and how bad."""

    message: str
    loc: Location
    text: str = ""
    severity: str | None = None   # None: the rule's default; "note" for system paths


@dataclass
class Loaded:
    top: str                                   # rel path of the file linted
    nodes: list[Node]                          # the tree with includes spliced in
    files: dict[str, ParsedFile] = field(default_factory=dict)  # every file read, by rel path
    problems: list[Problem] = field(default_factory=list)
    included: set[str] = field(default_factory=set)             # files reached by an include
    unread: list[Include] = field(default_factory=list)         # absolute includes, not read
    mapped: dict[str, str] = field(default_factory=dict)        # repo path read -> absolute include


def _rel(root: Path, p: Path) -> str | None:
    try:
        return p.resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, OSError):
        return None


def decode(data: bytes) -> str:
    """Bytes to text the way Dovecot reads them: as bytes, whatever the encoding.

    UTF-8 is decoded; any other byte (a Latin-1 ``\xe9`` in a comment) becomes one lone
    surrogate (``surrogateescape``), so nothing is an error, every character keeps its
    column, and ``os.fsencode`` gives the original bytes back for a path.
    """
    return data.decode("utf-8", "surrogateescape")


def read_text(root: Path, rel_path: str) -> tuple[str | None, str | None]:
    """(text, None) or (None, why not): binary, too big, unreadable.

    A non-UTF-8 byte is not a reason: ``doveconf`` loads such a file (see ``decode``)."""
    path = root / rel_path
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, f"the file is {size} bytes, larger than the {MAX_FILE_BYTES} byte limit"
        data = path.read_bytes()
    except OSError as exc:
        return None, f"cannot read the file: {exc.strerror or exc}"
    if b"\0" in data:
        return None, "the file is binary (it contains NUL bytes), not a Dovecot configuration"
    return decode(data), None


def inside_path(root: Path, base_dir: str, text: str) -> tuple[str | None, str]:
    """Map a path written in a config to a rel path under the root, or say why not.

    Relative paths are resolved from the including file's directory. Absolute paths are
    deployment paths (``/etc/dovecot/...``): they are not read.
    """
    if text.startswith("/"):
        return None, "absolute"
    joined = os.path.normpath(str(PurePosixPath(base_dir) / text)) if base_dir else \
        os.path.normpath(text)
    if joined == ".." or joined.startswith("../") or joined.startswith("/"):
        return None, "escapes"
    real = _rel(root, root / joined)
    if real is None:
        return None, "symlink"
    return joined, "ok"


def load(root: Path, top: str) -> Loaded:
    """Parse ``top`` and every file it includes into one tree."""
    out = Loaded(top, [])
    out.nodes = _load_file(root, top, out, stack=[], where=None, depth=0)
    return out


def _load_file(root: Path, rel_path: str, out: Loaded, stack: list[str],
               where: Location | None, depth: int) -> list[Node]:
    text, why = read_text(root, rel_path)
    if text is None:
        out.problems.append(Problem(f"{rel_path}: {why}", where or Location(rel_path, 1, 1)))
        return []
    parsed = out.files.get(rel_path)
    if parsed is None:
        parsed = parse_text(text, rel_path)
        out.files[rel_path] = parsed
    return _expand(root, parsed.nodes, rel_path, out, [*stack, rel_path], depth)


def _expand(root: Path, nodes: list[Node], rel_path: str, out: Loaded,
            stack: list[str], depth: int) -> list[Node]:
    result: list[Node] = []
    base = str(PurePosixPath(rel_path).parent)
    base = "" if base == "." else base
    for node in nodes:
        if isinstance(node, Section):
            if depth >= MAX_TOTAL_DEPTH:
                out.problems.append(Problem(
                    f"sections and includes nested deeper than {MAX_TOTAL_DEPTH} levels; "
                    "the rest is not read", node.loc, node.text))
                continue
            node.children = _expand(root, node.children, rel_path, out, stack, depth + 1)
            result.append(node)
        elif isinstance(node, Include):
            result.extend(_include(root, node, base, out, stack, depth + 1))
        else:
            if isinstance(node, Setting) and node.kind == "file" and node.value:
                _read_content(root, rel_path, node)
            result.append(node)
    return result


def _read_content(root: Path, rel_path: str, node: Setting) -> None:
    """``key = <file``: the committed file's text, when it is small enough to be a value."""
    _, data = read_pointed_file(root, rel_path, node.value)
    if data is not None and len(data) <= MAX_POINTED_TEXT:
        node.content = decode(data)


def _include(root: Path, inc: Include, base: str, out: Loaded, stack: list[str],
             depth: int) -> list[Node]:
    word = "!include" if inc.required else "!include_try"
    mapped, status = _target(root, inc, base, out)
    if mapped is None:
        return []
    files = _matches(root, inc, word, mapped, out)
    if files is None:
        return []
    if not files:
        _no_match(inc, base, out)
        return []
    if status == "absolute":
        out.mapped.update((f, inc.pattern) for f in files)
    result: list[Node] = []
    for f in files:
        if _may_enter(inc, word, f, out, stack, depth):
            out.included.add(f)
            result.extend(_load_file(root, f, out, stack, inc.loc, depth))
    return result


def _target(root: Path, inc: Include, base: str, out: Loaded) -> tuple[str | None, str]:
    """The repository path (or glob) an include names, and how it was found
    ("ok": relative, "absolute": mapped from a host path); None: reported, not read."""
    mapped, status = inside_path(root, base, inc.pattern)
    if status == "absolute":
        return _absolute_include(root, inc, out), status
    if mapped is None:
        word = "!include" if inc.required else "!include_try"
        out.problems.append(Problem(
            f"{word} {inc.pattern} leads outside --root; refusing to read it", inc.loc, inc.text))
    return mapped, status


def _no_match(inc: Include, base: str, out: Loaded) -> None:
    """doveconf: ``No matches`` is fatal for ``!include``, nothing for ``!include_try``."""
    if inc.required:
        out.problems.append(Problem(
            f"!include {inc.pattern} matches no file (relative to "
            f"{base or 'the root'}); doveconf refuses to load this configuration",
            inc.loc, inc.text))


def _matches(root: Path, inc: Include, word: str, mapped: str, out: Loaded) -> list[str] | None:
    """The files an include names (a glob's in order); None when a symlink leads out."""
    if not glob.has_magic(mapped):
        p = root / mapped
        if _rel(root, p) is None:
            out.problems.append(Problem(f"{word} {inc.pattern} leads outside --root through a "
                                        "symbolic link; refusing to read it", inc.loc, inc.text))
            return None
        return [_rel(root, p) or mapped] if p.is_file() else []
    files = []
    for m in sorted(glob.glob(glob.escape(str(root)) + "/" + mapped)):
        r = _rel(root, Path(m))
        if r is None:
            out.problems.append(Problem(
                f"{word} {inc.pattern}: {m} leads outside --root through a symbolic link; "
                "refusing to read it", inc.loc, inc.text))
        elif Path(m).is_file():
            files.append(r)
    return files


def _may_enter(inc: Include, word: str, f: str, out: Loaded, stack: list[str],
               depth: int) -> bool:
    """Not an include cycle and not nested too deep (each reported on the include line)."""
    if f in stack:
        out.problems.append(Problem(
            f"{word} {inc.pattern} includes {f} again: an include cycle "
            f"({' -> '.join([*stack[stack.index(f):], f])})", inc.loc, inc.text))
        return False
    if len(stack) >= MAX_DEPTH or depth >= MAX_TOTAL_DEPTH:
        out.problems.append(Problem(f"{word} nesting deeper than {MAX_DEPTH} files",
                                    inc.loc, inc.text))
        return False
    return True


# Dovecot reads dovecot.conf from /etc/dovecot/: a repository's dovecot.conf stands there.
_CONFIG_DIR = "/etc/dovecot/"


def repo_places(top: str, pattern: str) -> list[str]:
    """Where a repository may hold the file an absolute ``!include`` names on the host.

    Two readings, both of a repository that mirrors the host: the repository mirrors ``/``
    (``/etc/dovecot/x.conf`` is ``etc/dovecot/x.conf``), or, when the linted file is a
    ``dovecot.conf``, its directory mirrors ``/etc/dovecot/``, the directory Dovecot reads
    dovecot.conf from (``config/dovecot/dovecot.conf`` + ``/etc/dovecot/conf.d/a.conf`` is
    ``config/dovecot/conf.d/a.conf``). Nothing else is guessed.
    """
    places = [pattern.lstrip("/")]
    top_dir, name = os.path.split(top)
    if name == "dovecot.conf" and pattern.startswith(_CONFIG_DIR):
        places.append(os.path.join(top_dir, pattern[len(_CONFIG_DIR):]))
    return list(dict.fromkeys(os.path.normpath(p) for p in places))


def _holds(root: Path, rel: str) -> bool:
    """Whether the repository holds ``rel`` (a file, or a glob matching at least one)."""
    ok, _status = inside_path(root, "", rel)
    if ok is None:
        return False
    if glob.has_magic(ok):
        return any(Path(m).is_file() for m in glob.glob(glob.escape(str(root)) + "/" + ok))
    return (root / ok).is_file()


def _absolute_include(root: Path, inc: Include, out: Loaded) -> str | None:
    """The repository path an absolute include maps onto, when exactly one place holds it.

    No place, or two different ones: the include is not read (a can't-judge note on its
    line that says where to commit the file); one place: it is read from there, and the
    mapping is named in the evidence of what it yields (``Loaded.mapped``).
    """
    word = "!include" if inc.required else "!include_try"
    places = repo_places(out.top, inc.pattern)
    held = [p for p in places if _holds(root, p)]
    if len(held) == 1:
        return held[0]
    out.unread.append(inc)
    if len(held) > 1:
        out.problems.append(Problem(
            f"{word} {inc.pattern} names an absolute path that the repository holds at two "
            f"places ({' and '.join(held)}); which one the host reads is not known, so its "
            "settings are not judged. Keep one of them, or list the deployed file in the "
            "manifest", inc.loc, inc.text, "note"))
    elif inc.required:
        out.problems.append(Problem(
            f"{word} {inc.pattern} names an absolute path outside the repository; its "
            "settings were not read and are not judged. To judge them, commit that file at "
            f"{' or '.join(places)}, or lint the rendered configuration",
            inc.loc, inc.text, "note"))
    return None


def read_pointed_file(root: Path, base_rel: str, path_text: str) -> tuple[str | None, bytes | None]:
    """For ``key = <file``: (rel path, bytes) when the file is committed under the root.

    An absolute deployment path such as ``/etc/dovecot/private/key.pem`` is also looked
    up as ``etc/dovecot/private/key.pem`` under the root: repositories often mirror /etc.
    """
    base = str(PurePosixPath(base_rel).parent)
    base = "" if base == "." else base
    candidates: list[str] = []
    if path_text.startswith("/"):
        candidates.append(path_text.lstrip("/"))
    else:
        mapped, _why = inside_path(root, base, path_text)
        if mapped is not None:
            candidates.append(mapped)
    for c in candidates:
        mapped, _status = inside_path(root, "", c)
        if mapped is None:
            continue
        p = root / mapped
        try:
            if p.is_file() and p.stat().st_size <= MAX_FILE_BYTES:
                return mapped, p.read_bytes()
        except OSError:
            continue
    return None, None


def file_error_node(rel_path: str, message: str) -> ParseError:
    return ParseError(message, Location(rel_path, 1, 1))
