"""Which setting names Dovecot 2.3 and 2.4 know, and where a name is free-form.

``doveconf`` refuses a file with an unknown setting (``Fatal: Unknown setting: sssl``), so an
unknown name is a DOV013 on its line. The lists come from ``known_settings.json``, generated
by ``scripts/dovecot_settings.py`` from the real packages (every Debian plugin package
installed) and Dovecot's settings documentation: a name of a later release of the same major
version, or of a plugin, is known even where one local doveconf would refuse it.

Scopes, as doveconf reads them:

- 2.3 is hierarchical: global and filter (``protocol``/``remote``/``local``/``local_name``)
  scopes take global names; ``service``, ``inet_listener``, ``namespace``, ``passdb`` ... take
  their own; ``plugin`` and ``dict`` contents are free-form, and so are sections this list
  does not describe (they are not read for a verdict either).
- 2.4 is flat: every setting is a global name, and inside a named filter a name is tried with
  the filter's prefixes (``passdb sql { query }`` is ``passdb_sql_query``, ``inet_listener
  imap { port }`` is ``inet_listener_port``). A block named after a setting
  (``imap_id_send { name = Dovecot }``, ``mail_plugins { quota = yes }``) is that setting's
  list: its keys are free-form.
"""

from __future__ import annotations

import difflib
import json
from functools import cache
from pathlib import Path

_DATA = Path(__file__).with_name("known_settings.json")

FILTERS = frozenset({"protocol", "remote", "local", "local_name"})
FREE_23 = frozenset({"plugin", "dict"})
# 2.2-era names that doveconf 2.3 still reads (converting them, with a warning) or ignores;
# checked against doveconf 2.3 in tests/dovecot/test_dovecot_names.py.
OBSOLETE_23 = frozenset({
    "ssl_protocols", "ssl_parameters_regenerate", "ssl_dh_parameters_length",
})


@cache
def _data() -> dict:
    return json.loads(_DATA.read_text(encoding="utf-8"))


@cache
def settings(version: str) -> frozenset[str]:
    """Every global setting name of ``version`` ("2.3" | "2.4")."""
    return frozenset(_data()[version]["settings"])


@cache
def _inside_23() -> dict[str, frozenset[str]]:
    return {k: frozenset(v) for k, v in _data()["2.3"]["inside"].items()}


@cache
def _list_like(version: str) -> frozenset[str]:
    """Names ``doveconf -a`` prints (hidden ones are in 2.4 mostly filter names such as
    ``ssl_server`` or ``inet_listener``, whose blocks hold prefixed settings)."""
    return settings(version) - frozenset(_data()[version].get("hidden", ()))


@cache
def list_kind(key: str) -> str | None:
    """2.4: "boollist" (``protocols``, ``mail_plugins``: quoted words, an unclosed quote is
    refused), "strlist" (``import_environment``: only the ``{ }`` block form), or None."""
    kinds = _data()["2.4"].get("kinds", {})
    return kinds.get(key)


def only_24(key: str) -> bool:
    """A global name 2.4 knows and 2.3 does not: evidence of a 2.4 file."""
    return key in settings("2.4") and key not in settings("2.3")


def known(version: str, key: str, sections: tuple[tuple[str, str], ...]) -> bool | None:
    """Whether doveconf ``version`` knows ``key`` inside ``sections`` ((type, name), outermost
    first); None where the scope is free-form or not described (not judged)."""
    if version == "2.4":
        return _known_24(key, sections)
    return _known_23(key, sections)


def _known_23(key: str, sections: tuple[tuple[str, str], ...]) -> bool | None:
    if any(t in FREE_23 for t, _n in sections):
        return None
    inner = next((t for t, _n in reversed(sections) if t not in FILTERS), None)
    if inner is None:
        return key in settings("2.3") or key in OBSOLETE_23
    legacy = _legacy_auth_1x(key, inner, sections)
    if legacy is not None:
        return legacy
    return _known_in_block_23(key, inner)


def _legacy_auth_1x(key: str, inner: str, sections: tuple[tuple[str, str], ...]) -> bool | None:
    """1.x ``auth default { ... }`` blocks, which 2.3 still reads; None: not one of them."""
    if inner == "auth" and sections[-1][0] == "auth":
        # 1.x ``auth default { mechanisms = plain }``: 2.3 reads it as auth_mechanisms
        return f"auth_{key}" in settings("2.3")
    if inner in ("master", "client") and any(t == "auth" for t, _ in sections):
        # 1.x ``auth default { socket listen { client { path = ... } } }``
        return key in ("path", "mode", "user", "group")
    return None


def _known_in_block_23(key: str, inner: str) -> bool | None:
    names = _inside_23().get(inner)
    if names is None:
        return None
    if key in names:
        return True
    # ``doveconf -a`` prints a block's names only when they are set (2.3 hides an unset
    # ``alias_for``), so a name missing here may still be real: it is unknown when it is a
    # global setting out of place or a near-miss of one of the block's own names (a typo).
    if key in settings("2.3") or difflib.get_close_matches(key, names, n=1, cutoff=0.8):
        return False
    return None


def _candidates_24(key: str, sections: tuple[tuple[str, str], ...]):
    """The full 2.4 names ``key`` may stand for inside ``sections``, most literal first."""
    yield key
    for t, n in sections:
        base = t.lstrip("@")
        first = n.split(" ", 1)[0] if n else ""
        yield f"{base}_{key}"
        if first:
            yield f"{base}_{first}_{key}"
            yield f"{first}_{key}"
    # nested filters chain their types: ``metric x { group_by y { method exponential {
    # base = 10 }}}`` is metric_group_by_method_exponential_base
    for i in range(len(sections)):
        chain = "_".join(t.lstrip("@") for t, _ in sections[i:])
        last = sections[-1][1].split(" ", 1)[0] if sections[-1][1] else ""
        yield f"{chain}_{key}"
        if last:
            yield f"{chain}_{last}_{key}"


def resolve_24(key: str, sections: tuple[tuple[str, str], ...]) -> str | None:
    """The 2.4 setting ``key`` is inside ``sections`` (``port`` in an inet_listener is
    inet_listener_port), or None when unknown."""
    names = settings("2.4")
    return next((c for c in _candidates_24(key, sections) if c in names), None)


def _known_24(key: str, sections: tuple[tuple[str, str], ...]) -> bool | None:
    if resolve_24(key, sections) is not None:
        return True
    outer = ""
    for t, n in sections:
        # an unnamed block named after a setting is that setting's list (``fields { uid =
        # vmail }`` in ``userdb static`` is ``userdb_fields``): its keys are free-form
        listed = _list_like("2.4")
        if not n and (t in listed or (outer and f"{outer}_{t}" in listed)):
            return None
        outer = t
    return False
