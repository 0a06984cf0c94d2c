"""A fast "yes" for manifests that conform, so jsonschema is imported only to explain a "no".

Importing jsonschema costs about 70 ms of CPU at every start-up, which is a sixth of a whole
probe of twenty endpoints, while the manifest schema uses a dozen plain keywords.
``conforms`` interprets exactly those keywords, with jsonschema's Draft 2020-12 semantics
(bool is not a number, 1.0 is an integer, ``pattern`` searches, ``date`` is checked as its
format checker does), over the same schema file: the schema stays the one source of truth.

It may only ever say "valid" where jsonschema would: anything it does not know, in the schema
or in the instance (a keyword, a format, a remote ``$ref``, a mapping key that is not a
string), makes it answer None and jsonschema decide. ``tests/gate/test_manifest_schemacheck.py``
compares the two on generated manifests.
"""

from __future__ import annotations

import datetime as dt
import numbers
import re
from collections.abc import Callable
from typing import Any

_RE_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)   # as jsonschema's format checker
_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "$defs", "title", "description",
                          "default", "examples"})


class _Unsure(Exception):
    """The schema or the instance holds something this checker does not speak for."""


def conforms(instance: Any, schema: dict[str, Any]) -> bool | None:
    """True: valid; False: invalid; None: not known here, ask jsonschema."""
    try:
        return _valid(instance, schema, schema)
    except (_Unsure, RecursionError):
        return None


def _valid(inst: Any, sch: Any, root: dict[str, Any]) -> bool:
    if sch is True:
        return True
    if sch is False:
        return False
    if not isinstance(sch, dict):
        raise _Unsure
    if isinstance(inst, dict) and not all(isinstance(k, str) for k in inst):
        raise _Unsure
    return _keywords_hold(inst, sch, root)


def _keywords_hold(inst: Any, sch: dict[str, Any], root: dict[str, Any]) -> bool:
    """Each of the schema's keywords holds for ``inst``."""
    ok = True
    for key, value in sch.items():   # every keyword is looked at, so an unknown one always shows
        if key in _ANNOTATIONS:
            continue
        check = _KEYWORDS.get(key)
        if check is None:
            raise _Unsure
        if not check(inst, value, sch, root):
            ok = False
    return ok


def _is_type(inst: Any, name: str) -> bool:
    test = _TYPE_TESTS.get(name)
    if test is None:
        raise _Unsure
    return test(inst)


def _is_null(inst: Any) -> bool:
    return inst is None


def _is_number(inst: Any) -> bool:
    """bool is a Python number, not a JSON one."""
    return isinstance(inst, numbers.Number) and not isinstance(inst, bool)


def _is_integer(inst: Any) -> bool:
    """As Draft 2020-12: 1.0 is an integer, True is not."""
    if isinstance(inst, bool):
        return False
    return isinstance(inst, int) or (isinstance(inst, float) and inst.is_integer())


def _instance_of(cls: type) -> Callable[[Any], bool]:
    def test(inst: Any) -> bool:
        return isinstance(inst, cls)
    return test


_TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "object": _instance_of(dict), "array": _instance_of(list), "string": _instance_of(str),
    "null": _is_null, "boolean": _instance_of(bool), "number": _is_number,
    "integer": _is_integer,
}


def _equal(one: Any, two: Any) -> bool:
    """JSON equality: True is not 1, and that holds inside lists and mappings too."""
    if one is two:
        return True
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(_equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, dict) and isinstance(two, dict):
        return one.keys() == two.keys() and all(_equal(one[k], two[k]) for k in one)
    return _equal_scalars(one, two)


def _equal_scalars(one: Any, two: Any) -> bool:
    """Python's == but for bool, which equals only a bool (True == 1 in Python, not JSON);
    a string is never a bool, so it compares as Python does."""
    if isinstance(one, bool) or isinstance(two, bool):
        return isinstance(one, bool) and isinstance(two, bool) and one == two
    return bool(one == two)


def _resolve(ref: Any, root: dict[str, Any]) -> Any:
    if not isinstance(ref, str) or not ref.startswith("#/"):
        raise _Unsure
    node: Any = root
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            raise _Unsure
        node = node[part]
    return node


def _date(inst: Any) -> bool:
    if not isinstance(inst, str):
        return True
    try:
        return bool(_RE_DATE.fullmatch(inst)) and bool(dt.date.fromisoformat(inst))
    except ValueError:
        return False


def _format(inst: Any, value: Any, sch: dict[str, Any], root: dict[str, Any]) -> bool:
    if value != "date":
        raise _Unsure
    return _date(inst)


def _type(inst: Any, value: Any, sch: dict[str, Any], root: dict[str, Any]) -> bool:
    names = [value] if isinstance(value, str) else value
    return any(_is_type(inst, n) for n in names)


def _properties(inst: Any, value: Any, sch: dict[str, Any], root: dict[str, Any]) -> bool:
    if not isinstance(inst, dict):
        return True
    return all(_valid(inst[p], sub, root) for p, sub in value.items() if p in inst)


def _additional(inst: Any, value: Any, sch: dict[str, Any], root: dict[str, Any]) -> bool:
    if not isinstance(inst, dict):
        return True
    if "patternProperties" in sch:
        raise _Unsure
    named = sch.get("properties", {})
    return all(_valid(v, value, root) for k, v in inst.items() if k not in named)


def _one_of(inst: Any, value: Any, sch: dict[str, Any], root: dict[str, Any]) -> bool:
    return sum(1 for sub in value if _valid(inst, sub, root)) == 1


def _items(inst: Any, value: Any, sch: dict[str, Any], root: dict[str, Any]) -> bool:
    if "prefixItems" in sch:
        raise _Unsure
    return not isinstance(inst, list) or all(_valid(i, value, root) for i in inst)


def _number(op: Callable[[Any, Any], bool]) -> Callable[..., bool]:
    def check(inst: Any, value: Any, sch: dict[str, Any], root: dict[str, Any]) -> bool:
        return not _is_type(inst, "number") or op(inst, value)
    return check


_KEYWORDS: dict[str, Callable[[Any, Any, dict[str, Any], dict[str, Any]], bool]] = {
    "type": _type,
    "const": lambda inst, value, sch, root: _equal(inst, value),
    "enum": lambda inst, value, sch, root: any(_equal(e, inst) for e in value),
    "$ref": lambda inst, value, sch, root: _valid(inst, _resolve(value, root), root),
    "properties": _properties,
    "additionalProperties": _additional,
    "propertyNames": lambda inst, value, sch, root: (
        not isinstance(inst, dict) or all(_valid(k, value, root) for k in inst)),
    "required": lambda inst, value, sch, root: (
        not isinstance(inst, dict) or all(p in inst for p in value)),
    "items": _items,
    "minItems": lambda inst, value, sch, root: not isinstance(inst, list) or len(inst) >= value,
    "maxItems": lambda inst, value, sch, root: not isinstance(inst, list) or len(inst) <= value,
    "oneOf": _one_of,
    "pattern": lambda inst, value, sch, root: (
        not isinstance(inst, str) or re.search(value, inst) is not None),
    "minLength": lambda inst, value, sch, root: not isinstance(inst, str) or len(inst) >= value,
    "maxLength": lambda inst, value, sch, root: not isinstance(inst, str) or len(inst) <= value,
    "minimum": _number(lambda i, v: not i < v),
    "maximum": _number(lambda i, v: not i > v),
    "exclusiveMinimum": _number(lambda i, v: not i <= v),
    "format": _format,
}
