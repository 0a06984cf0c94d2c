"""YAML loading that remembers where every value was written.

jsonschema reports errors by path (``targets/0/ports/1``); users need
``file:line:col``. We compose the node tree ourselves so each path maps to
its mark, and refuse duplicate keys, which plain PyYAML silently merges.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import yaml

from imap_gate.errors import InputError

Path_ = tuple[Any, ...]
MAX_MANIFEST_BYTES = 4 * 1024 * 1024


class Positions(dict[Path_, tuple[int, int]]):
    """path -> (line, column), both 1-based; keys of mappings also under path + ('<key>',)."""

    def at(self, path: Path_) -> tuple[int, int]:
        path = tuple(path)
        while path:
            if path in self:
                return self[path]
            path = path[:-1]
        return self.get((), (1, 1))


def load(text: str, filename: str) -> tuple[Any, Positions]:
    if len(text) > MAX_MANIFEST_BYTES:
        raise InputError("the manifest is larger than 4 MiB; split it", filename, 1)
    if "\t" in text:
        for n, line in enumerate(text.splitlines(), 1):
            stripped = line.lstrip(" ")
            if stripped.startswith("\t"):
                raise InputError("a tab indents this line; YAML indents with spaces only",
                                 filename, n, len(line) - len(stripped) + 1)
    loader: yaml.SafeLoader | None = None
    try:
        # Not libyaml's CSafeLoader, though it is faster: its composer recurses in C and a
        # deeply nested manifest crashes the process (tests/test_manifest_fuzz.py).
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, None)
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError(f"not valid YAML: {problem}", filename, line, col) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character[:1] or "?")
        raise InputError(f"not valid YAML: character U+{code:04X} is not allowed "
                         "(control characters are not YAML)", filename, line) from None
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {exc}", filename, 1) from None
    except RecursionError:
        raise InputError("not valid YAML: nested too deeply", filename, 1) from None
    finally:
        if loader is not None:
            loader.dispose()
    positions = Positions()
    if node is None:
        return None, positions
    value = _convert(loader, node, (), positions, filename, 0)
    return value, positions


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _convert(loader: yaml.SafeLoader, node: yaml.Node, path: Path_, pos: Positions,
             filename: str, depth: int) -> Any:
    if depth > 64:
        raise InputError("the manifest nests deeper than 64 levels", filename, *_mark(node))
    pos[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise InputError("YAML merge keys (<<) are not supported here; write the keys out",
                                 filename, *_mark(key_node))
            key = _scalar(loader, key_node, filename)
            if not isinstance(key, (str, int)):
                raise InputError("a mapping key must be a plain word", filename, *_mark(key_node))
            key = str(key) if isinstance(key, int) and path and path[-1] == "expect" else key
            if key in out:
                raise InputError(f"key {key!r} is written twice in this mapping; keep one",
                                 filename, *_mark(key_node))
            pos[path + (f"<key>{key}",)] = _mark(key_node)
            out[key] = _convert(loader, value_node, path + (key,), pos, filename, depth + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(loader, item, path + (i,), pos, filename, depth + 1)
                for i, item in enumerate(node.value)]
    return _scalar(loader, node, filename)


def _scalar(loader: yaml.SafeLoader, node: yaml.Node, filename: str) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise InputError("a mapping key must be a plain word", filename, *_mark(node))
    try:
        value = loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {exc}", filename, *_mark(node)) from None
    except (ValueError, OverflowError):  # e.g. a date like 2027-02-30
        raise InputError(f"{node.value!r} looks like a date but is not a real one",
                         filename, *_mark(node)) from None
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value
