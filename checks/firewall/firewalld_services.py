"""firewalld services: which TCP ports a ``<service name=...>`` opens.

The stock catalogue is generated data (``firewalld_services.json``, written by
``scripts/firewalld_services.py`` from Debian's ``firewalld`` packages, whose versions it
records). A service defined in the repository itself (``services/NAME.xml`` beside the
``zones/`` directory, as in ``/etc/firewalld``) overrides a stock one, as firewalld does.
A name in neither is unknown: a custom service could open 143, so it is never guessed.

Only TCP destination ports decide whether a new connection to 143/993 gets in. Other
protocols' ports, UDP source ports and conntrack helpers are irrelevant to that: a helper
(ftp, sip, ...) only admits RELATED connections announced inside a session of its own
protocol, never a NEW SYN from an arbitrary address.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from importlib import resources

ServiceDef = dict[str, list]                 # the JSON shape: ports, protocols, includes ...
Lookup = Callable[[str], ServiceDef | None]  # a repository-defined service, or None
Ranges = tuple[tuple[int, int], ...]
MAX_INCLUDE_DEPTH = 16


@functools.lru_cache(maxsize=1)
def catalogue() -> dict:
    text = resources.files(__package__).joinpath("firewalld_services.json").read_text("utf-8")
    return json.loads(text)


def stock(name: str) -> ServiceDef | None:
    return catalogue()["services"].get(name)


class UnknownService(Exception):
    pass


def tcp_ranges(name: str, custom: Lookup | None = None) -> Ranges:
    """The TCP destination port ranges the service opens (its includes too).

    Raises ``UnknownService`` naming the service that is neither defined in the repository
    nor stock, or whose definition cannot be read.
    """
    out: set[tuple[int, int]] = set()
    _collect(name, custom, out, (), 0)
    return tuple(sorted(out))


def _collect(name: str, custom: Lookup | None, out: set[tuple[int, int]], seen: tuple[str, ...],
             depth: int) -> None:
    if name in seen:
        return  # firewalld refuses include loops; the ports are the same either way
    if depth > MAX_INCLUDE_DEPTH:
        raise UnknownService(f"service {seen[0]!r} includes services too deeply")
    svc = custom(name) if custom else None
    if svc is None:
        svc = stock(name)
    if svc is None:
        raise UnknownService(name)
    for port, proto in svc.get("ports", []):
        if proto not in ("tcp", ""):
            continue
        a, _, b = str(port).partition("-")
        try:
            lo, hi = int(a), int(b or a)
        except ValueError:
            raise UnknownService(f"{name} (port {port!r})") from None
        out.add((min(lo, hi), max(lo, hi)))
    if any(p in ("tcp", "6", "all") for p in svc.get("protocols", [])):
        out.add((0, 65535))
    for inc in svc.get("includes", []):
        _collect(inc, custom, out, (*seen, name), depth + 1)


def read_service_xml(root: object) -> ServiceDef:
    """A repository's ``services/NAME.xml`` (a parsed ``firewalld.Node``) in the catalogue's shape."""
    ports: list[list[str]] = []
    protocols: list[str] = []
    includes: list[str] = []
    for c in getattr(root, "children", []):
        if c.tag == "port":
            ports.append([c.attrs.get("port", ""), c.attrs.get("protocol", "").lower()])
        elif c.tag == "protocol":
            protocols.append(c.attrs.get("value", "").lower())
        elif c.tag == "include":
            includes.append(c.attrs.get("service", ""))
    return {"ports": ports, "protocols": protocols, "includes": includes}
