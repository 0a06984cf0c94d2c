"""YAML loading that remembers where every value was written.

jsonschema reports errors by path (``targets/0/ports/1``); users need
``file:line:col``. We compose the values ourselves from the parser's events, so each path
maps to its mark, and refuse duplicate keys, which plain PyYAML silently merges.

Why events and not a PyYAML composer: libyaml's (``CSafeLoader``) recurses in C, so a
manifest nested 100k levels deep crashes the process (tests/gate/test_manifest_fuzz.py); the
pure-Python one is as slow as ``safe_load`` (4-7 s for 10,000 targets); both expand aliases
without a bound (375 bytes of nested ten-fold aliases grow past 1.5 GB). libyaml's parser
only emits events and keeps its stack on the heap. The loop below turns them into values
without recursion, stops at the first level deeper than ``MAX_DEPTH`` on the line where it
starts, counts what each alias stands for before anything is expanded, and resolves plain
scalars with PyYAML's own YAML 1.1 rules, so values mean what ``yaml.safe_load`` makes of them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import ScalarNode

from imap_gate.errors import InputError

_Parser: type[Any]
try:  # libyaml's parser, which the pinned PyYAML wheel ships; the pure-Python one otherwise
    from yaml._yaml import CParser as _Parser
except ImportError:  # pragma: no cover - only where PyYAML was built without libyaml
    _Parser = yaml.SafeLoader

Path_ = tuple[Any, ...]
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
# Values that aliases may stand for in one manifest: about what a manifest written out within
# the 4 MiB limit can hold, so 10,000 targets may each alias a shared ports list and
# expectation, while 375 bytes of nine nested ten-fold aliases (a billion values) are refused.
# Each alias's size is known when it is met, and aliased values are shared, not copied, so
# neither checking the bound nor staying under it costs memory.
MAX_ALIASED_VALUES = 1_000_000

_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_IMPLICIT = yaml.SafeLoader.yaml_implicit_resolvers   # first character -> [(tag, regexp)]
_WILDCARD = _IMPLICIT.get(None, [])
_CONSTRUCTORS = SafeConstructor.yaml_constructors
_NO_KEY = object()


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
        _refuse_tabs(text, filename)
    parser = _Parser(text)
    try:
        return _Composer(parser, filename).document()
    except yaml.MarkedYAMLError as exc:
        raise _marked_error(exc, filename) from None
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text, filename) from None
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {exc}", filename, 1) from None
    finally:
        parser.dispose()


def _refuse_tabs(text: str, filename: str) -> None:
    """YAML indents with spaces only; name the first line a tab indents, not the parser's
    vaguer complaint further on."""
    for n, raw in enumerate(text.splitlines(), 1):
        stripped = raw.lstrip(" ")
        if stripped.startswith("\t"):
            raise InputError("a tab indents this line; YAML indents with spaces only",
                             filename, n, len(raw) - len(stripped) + 1)


def _marked_error(exc: yaml.MarkedYAMLError, filename: str) -> InputError:
    """The parser's complaint on the line (and column) its mark names."""
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, None)
    problem = exc.problem or exc.context or "invalid YAML"
    return InputError(f"not valid YAML: {problem}", filename, line, col)


def _reader_error(exc: yaml.reader.ReaderError, text: str, filename: str) -> InputError:
    """A character YAML does not allow, on its line."""
    # libyaml counts the position in UTF-8 bytes, PyYAML's reader in characters
    if _Parser is not yaml.SafeLoader:
        line = text.encode("utf-8").count(b"\n", 0, exc.position) + 1
    else:
        line = text.count("\n", 0, exc.position) + 1
    code = exc.character if isinstance(exc.character, int) else ord(exc.character[:1] or "?")
    return InputError(f"not valid YAML: character U+{code:04X} is not allowed "
                      "(control characters are not YAML)", filename, line)


def _mark(event: Any) -> tuple[int, int]:
    return event.start_mark.line + 1, event.start_mark.column + 1


class _Frame:
    """An open mapping or sequence: its value so far and where its next child goes."""

    __slots__ = ("anchor", "key", "key_mark", "path", "size", "value")

    def __init__(self, value: dict[Any, Any] | list[Any], path: Path_, anchor: str | None) -> None:
        self.value = value
        self.path = path
        self.anchor = anchor
        self.size = 1
        self.key: Any = _NO_KEY
        self.key_mark = (1, 1)


class _Composer:
    def __init__(self, parser: Any, filename: str) -> None:
        self.get = parser.get_event
        self.filename = filename
        self.pos = Positions()
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.open_anchors: set[str] = set()
        self.aliased = 0
        self.scalars: dict[str, Any] = {}   # resolved plain scalars (143, true...)

    def error(self, message: str, event: Any) -> InputError:
        return InputError(message, self.filename, *_mark(event))

    def document(self) -> tuple[Any, Positions]:
        get = self.get
        get()                                   # StreamStartEvent
        event = get()
        if isinstance(event, StreamEndEvent):
            return None, self.pos
        value = self.root()
        event = get()
        if isinstance(event, DocumentEndEvent):
            event = get()
        if not isinstance(event, StreamEndEvent):   # a second document
            raise self.error("not valid YAML: expected a single document in the stream", event)
        return value, self.pos

    def root(self) -> Any:
        """The document's value, composed from its events in one loop over an explicit
        stack of open collections (no recursion: see the module docstring)."""
        get = self.get
        stack: list[_Frame] = []
        while True:
            event = get()
            cls = type(event)
            if cls is MappingEndEvent or cls is SequenceEndEvent:
                value, size = self._close(stack.pop())
            elif cls is DocumentEndEvent:
                return None
            else:
                top = stack[-1] if stack else None
                if top is not None and type(top.value) is dict and top.key is _NO_KEY:
                    top.key_mark = _mark(event)
                    top.key = self._key(event, top)
                    continue
                made = self._value(event, cls, top, len(stack))
                if isinstance(made, _Frame):
                    stack.append(made)
                    continue
                value, size = made
            if not stack:
                return value
            self._attach(stack[-1], value, size)

    def _close(self, frame: _Frame) -> tuple[Any, int]:
        """A collection's end: its anchor, open until now, may be aliased from here on."""
        if frame.anchor is not None:
            self.open_anchors.discard(frame.anchor)
            self.anchors[frame.anchor] = (frame.value, frame.size)
        return frame.value, frame.size

    @staticmethod
    def _child_path(top: _Frame | None) -> Path_:
        """Where the next value inside ``top`` goes (the root when nothing is open)."""
        if top is None:
            return ()
        if type(top.value) is list:
            return top.path + (len(top.value),)
        return top.path + (top.key,)

    def _value(self, event: Any, cls: type, top: _Frame | None,
               depth: int) -> _Frame | tuple[Any, int]:
        """A value event, located: a scalar's or alias's value and size, or the frame a
        collection's start opens."""
        path = self._child_path(top)
        if depth > MAX_DEPTH:
            raise self.error(f"the manifest nests deeper than {MAX_DEPTH} levels", event)
        self.pos[path] = _mark(event)
        if cls is ScalarEvent:
            value = self._scalar(event)
            if event.anchor is not None:
                self._define(event, value)
            return value, 1
        if cls is AliasEvent:
            return self._alias(event, path)
        if cls is MappingStartEvent or cls is SequenceStartEvent:
            if event.anchor is not None:
                self._define(event, None)
            return _Frame({} if cls is MappingStartEvent else [], path, event.anchor)
        raise self.error(  # pragma: no cover - the parser emits nothing else in a document
            f"not valid YAML: unexpected {cls.__name__}", event)

    def _attach(self, top: _Frame, value: Any, size: int) -> None:
        top.size += size
        if type(top.value) is list:
            top.value.append(value)
        else:
            top.value[top.key] = value
            top.key = _NO_KEY

    def _define(self, event: Any, scalar: Any) -> None:
        """A scalar's anchor is defined at once; a collection's is open until its end event."""
        anchor: str = event.anchor              # callers pass only events that name one
        if anchor in self.anchors or anchor in self.open_anchors:
            raise self.error(f"not valid YAML: the anchor &{anchor} is defined twice", event)
        if type(event) is ScalarEvent:
            self.anchors[anchor] = (scalar, 1)
        else:
            self.open_anchors.add(anchor)

    def _alias(self, event: Any, path: Path_) -> tuple[Any, int]:
        name = event.anchor
        if name in self.open_anchors:
            raise self.error(f"the alias *{name} refers to a value it is part of; "
                             "a manifest cannot contain itself", event)
        if name not in self.anchors:
            raise self.error(f"not valid YAML: found undefined alias *{name}", event)
        value, size = self.anchors[name]
        self.aliased += size
        if self.aliased > MAX_ALIASED_VALUES:
            raise self.error(f"YAML aliases in this manifest stand for more than "
                             f"{MAX_ALIASED_VALUES} values (nested aliases multiply); write the "
                             "values out instead of aliasing aliases", event)
        if path and path[-1] == "expect" and isinstance(value, dict):
            value = {str(k) if isinstance(k, int) else k: v for k, v in value.items()}
        # Values inside the alias are located at the alias: that is where this copy is written.
        return value, size

    def _key(self, event: Any, top: _Frame) -> Any:
        key = self._key_value(event)
        if not isinstance(key, (str, int)):
            raise self.error("a mapping key must be a plain word", event)
        if isinstance(key, int) and top.path and top.path[-1] == "expect":
            key = str(key)
        if key in top.value:
            raise self.error(f"key {key!r} is written twice in this mapping; keep one", event)
        self.pos[top.path + (f"<key>{key}",)] = _mark(event)
        return key

    def _key_value(self, event: Any) -> Any:
        """A key event's value: a scalar (never a merge key) or what an alias stands for;
        a collection is no key."""
        cls = type(event)
        if cls is ScalarEvent:
            if event.implicit[0] and event.tag is None and event.value == "<<":
                raise self.error("YAML merge keys (<<) are not supported here; write the keys out",
                                 event)
            key = self._scalar(event)
            if event.anchor is not None:
                self._define(event, key)
            return key
        if cls is AliasEvent:
            return self._alias(event, ())[0]
        raise self.error("a mapping key must be a plain word", event)

    def _scalar(self, event: Any) -> Any:
        value: str = event.value
        tag = event.tag
        if tag is None or tag == "!":
            if not event.implicit[0]:
                return value                        # quoted: always a string
            cached = self.scalars.get(value, _NO_KEY)
            if cached is not _NO_KEY:
                return cached
            tag = _resolve(value)
            if tag == _STR:
                return value
            if tag == _MERGE:
                raise self.error("YAML merge keys (<<) are not supported here; write the keys out",
                                 event)
            result = self._construct(tag, event)
            self.scalars[value] = result
            return result
        if tag == _STR:
            return value
        return self._construct(tag, event)

    def _construct(self, tag: str, event: Any) -> Any:
        constructor = _CONSTRUCTORS.get(tag)
        if constructor is None:
            raise self.error(f"not valid YAML here: the tag {tag} has no meaning in a manifest",
                             event)
        node = ScalarNode(tag, event.value, event.start_mark, event.end_mark)
        try:
            value = constructor(_constructor(), node)
        except yaml.YAMLError as exc:
            raise self.error(f"not valid YAML: {exc}", event) from None
        except (ValueError, OverflowError):  # e.g. a date like 2027-02-30
            raise self.error(f"{event.value!r} looks like a date but is not a real one",
                             event) from None
        if isinstance(value, (dt.date, dt.datetime)):
            return value.isoformat()
        return value


def _resolve(value: str) -> str:
    """The tag a plain scalar gets under PyYAML's (YAML 1.1) rules, as its Resolver decides."""
    resolvers = _IMPLICIT.get(value[0], ()) if value else _IMPLICIT.get("", ())
    for tag, regexp in (*resolvers, *_WILDCARD) if _WILDCARD else resolvers:
        if regexp.match(value):
            return tag
    return _STR


_CONSTRUCTOR: SafeConstructor | None = None


def _constructor() -> SafeConstructor:
    global _CONSTRUCTOR
    if _CONSTRUCTOR is None:
        _CONSTRUCTOR = SafeConstructor()
    return _CONSTRUCTOR
