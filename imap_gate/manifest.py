"""The target manifest: YAML, checked against ``schemas/manifest.schema.json``.

Every mistake becomes ``file:line:col: where: what is wrong (what to write)``.
"""

from __future__ import annotations

import ipaddress
import json
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imap_gate import layout, schemacheck, yamlpos
from imap_gate.errors import InputError, InputErrors
from imap_gate.paths import expand_glob, rel, resolve_inside

if TYPE_CHECKING:
    import jsonschema

SCHEMA_PATH = layout.SCHEMAS / "manifest.schema.json"
DEFAULT_NAMES = ("imap-gate.yml", ".github/imap-gate.yml")
STDIN = Path("-")                 # --manifest -: read the manifest from standard input
WELL_KNOWN = {143: "imap", 993: "imaps"}


def _close_matches(word: str, choices: list[str], n: int = 3, cutoff: float = 0.6) -> list[str]:
    """difflib, imported only when a manifest has a mistake to suggest a fix for."""
    import difflib

    return difflib.get_close_matches(word, choices, n=n, cutoff=cutoff)


@dataclass(frozen=True)
class Endpoint:
    port: int
    protocol: str                 # imap (cleartext + STARTTLS) | imaps (implicit TLS)
    expect: str | None = None     # closed | open | starttls-required


@dataclass(frozen=True)
class FirewallFile:
    path: str                     # relative to root
    format: str | None = None
    line: int = 1                 # where the manifest names it
    # Which interfaces face the internet, where the manifest says (the file entry, else defaults);
    # None: not declared, so a rule bound to an interface is judged as if it faced the internet.
    internal_interfaces: tuple[str, ...] | None = None
    public_interfaces: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Target:
    name: str
    host: str
    endpoints: tuple[Endpoint, ...]
    sni: str
    ca_file: str | None           # relative to root
    source_address: str | None
    timeout: float
    dovecot: tuple[str, ...] = ()
    firewall: tuple[FirewallFile, ...] = ()
    line: int = 1                 # line of ``host:`` in the manifest
    column: int = 1
    # where source_address is set (the target's own, else defaults'): errors about it point there
    source_line: int | None = None
    source_column: int | None = None


@dataclass(frozen=True)
class Waiver:
    rule: str
    reason: str
    expires: str
    target: str | None = None
    path: str | None = None
    port: int | None = None
    owner: str | None = None
    line: int = 1


@dataclass(frozen=True)
class Defaults:
    timeout: float = 5.0
    concurrency: int = 32
    source_address: str | None = None
    cert_expiry_days: int = 30
    per_host: int = 4             # connections open at once to one address (the probe's legs)
    internal_interfaces: tuple[str, ...] | None = None
    public_interfaces: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Manifest:
    path: str                     # relative to root, the SARIF location of live findings
    name: str
    defaults: Defaults
    targets: tuple[Target, ...]
    dovecot_files: tuple[str, ...]
    firewall_files: tuple[FirewallFile, ...]
    fail_on: str | None
    waivers: tuple[Waiver, ...] = field(default_factory=tuple)
    # Rehearsal (issue 20): the files of ``rehearse:`` (empty: every Dovecot entry file), and
    # whether to rehearse at all (``--rehearse`` / the Action input ``rehearse``).
    rehearse_files: tuple[str, ...] = ()
    rehearse_line: int = 1
    rehearse: bool = False


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def find_manifest(root: Path, explicit: str | None) -> Path:
    if explicit == "-":
        return STDIN
    if explicit:
        path = Path(explicit)
        if not path.is_absolute() and (root / path).exists():
            path = root / path  # relative to --root first, else to the current directory
        # /dev/stdin and <(...) are pipes, not regular files, and are read as well
        if not path.exists() or path.is_dir():
            raise InputError(f"manifest {explicit!r} not found (looked in {root})")
        return path
    for name in DEFAULT_NAMES:
        if (root / name).is_file():
            return root / name
    raise InputError(f"no manifest: write {DEFAULT_NAMES[0]} or {DEFAULT_NAMES[1]} under {root}, "
                     "or pass --manifest PATH")


def _read_bounded(path: Path) -> bytes:
    """At most one byte past the size limit, so a huge file or endless pipe is refused cheaply."""
    limit = yamlpos.MAX_MANIFEST_BYTES + 1
    if path == STDIN:
        stream = getattr(sys.stdin, "buffer", None)
        if stream is None:
            raise OSError(0, "there is no standard input to read")
        return stream.read(limit)
    with path.open("rb") as f:
        return f.read(limit)


def _display(root: Path, path: Path) -> str:
    if path == STDIN or str(path) in ("/dev/stdin", "/proc/self/fd/0", "/dev/fd/0"):
        return "stdin"
    if str(path).startswith(("/dev/", "/proc/")):
        return str(path)
    return rel(root, path)


def load_manifest(root: Path, path: Path) -> Manifest:
    display = _display(root, path)
    try:
        raw = _read_bounded(path)
    except OSError as exc:
        raise InputError(f"cannot read the manifest: {exc.strerror}", display) from None
    if len(raw) > yamlpos.MAX_MANIFEST_BYTES:
        raise InputError("the manifest is larger than 4 MiB; split it", display, 1)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError("the manifest is not UTF-8 text", display, line) from None
    data, pos = yamlpos.load(text, display)
    if data is None:
        raise InputError("the manifest is empty; start it with 'version: 1' and a 'targets:' list",
                         display, 1, 1)
    if not isinstance(data, dict):
        raise InputError("the manifest must be a mapping with 'version: 1' at the top",
                         display, 1, 1)
    errors = _schema_errors(data, pos, display)
    if errors:
        raise InputErrors(errors)
    return _build(root, data, pos, display, path)


# ---------------------------------------------------------------- schema errors

def _dotted(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _schema_errors(data: Any, pos: yamlpos.Positions, display: str) -> list[InputError]:
    sch = schema()
    if schemacheck.conforms(data, sch):
        return []   # jsonschema (70 ms to import) is needed only to explain what is wrong
    import jsonschema

    validator = jsonschema.Draft202012Validator(
        sch, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    out: list[InputError] = []
    seen: set[tuple[Any, ...]] = set()
    for err in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        path = tuple(err.absolute_path)
        if path in seen:
            continue
        seen.add(path)
        out.append(_explain(err, path, pos, display))
    out.sort(key=lambda e: (e.line or 0, e.column or 0))
    return out


def _subschema_props(err: jsonschema.ValidationError) -> list[str]:
    props = err.schema.get("properties", {}) if isinstance(err.schema, dict) else {}
    return sorted(props)


@dataclass(frozen=True)
class _Mistake:
    """One schema error with what every explanation needs: where it is and what was found."""

    err: jsonschema.ValidationError
    path: tuple[Any, ...]
    pos: yamlpos.Positions
    display: str

    @property
    def v(self) -> Any:
        return self.err.validator

    @property
    def inst(self) -> Any:
        return self.err.instance

    @property
    def where(self) -> str:
        return _dotted(self.path)

    @property
    def last(self) -> Any:
        return self.path[-1] if self.path else None

    @property
    def parent(self) -> Any:
        return self.path[-2] if len(self.path) >= 2 else None

    def error(self, msg: str, at: tuple[Any, ...] | None = None) -> InputError:
        line, col = self.pos.at(self.path if at is None else at)
        return InputError(msg, self.display, line, col)

    def say(self, msg: str) -> InputError:
        """``where: msg`` at the offending value."""
        return self.error(f"{self.where}: {msg}")


def _unknown_key(m: _Mistake) -> InputError | None:
    """Point at the unknown key itself (not its mapping) and suggest the key it resembles."""
    if m.v != "additionalProperties" or not isinstance(m.inst, dict):
        return None
    allowed = _subschema_props(m.err)
    unknown = sorted(k for k in m.inst if k not in allowed)
    key = unknown[0] if unknown else "?"
    hint = _close_matches(str(key), allowed, n=1, cutoff=0.5)
    msg = f"unknown key {key!r}"
    msg += f"; did you mean {hint[0]!r}?" if hint else f" (allowed: {', '.join(allowed)})"
    return m.error(f"{m.where}: {msg}", m.path + (f"<key>{key}",))


def _missing_key(m: _Mistake) -> InputError | None:
    if m.v != "required":
        return None
    missing = m.err.message.split("'")[1] if "'" in m.err.message else "?"
    return m.say(f"missing required key {missing!r}")


def _bad_version(m: _Mistake) -> InputError | None:
    if m.last != "version":
        return None
    return m.error(f"version: {m.inst!r} is not a supported manifest version; write 'version: 1'")


def _bad_port_number(m: _Mistake) -> InputError | None:
    if not (_is_port_path(m.path) and isinstance(m.inst, int) and not isinstance(m.inst, bool)):
        return None
    return m.say(f"{m.inst} is not a valid port (1-65535)")


def _port_or_firewall_mapping(m: _Mistake) -> InputError | None:
    """{port: ..., protocol: pop3}: say what is wrong inside the mapping, not that oneOf failed."""
    if m.v != "oneOf" or not isinstance(m.inst, dict) or m.parent not in ("ports", "firewall"):
        return None
    sub = _object_branch_error(m.err)
    if sub is None:
        return None
    return _explain(sub, tuple(sub.absolute_path), m.pos, m.display)


def _port_item(m: _Mistake) -> InputError | None:
    if m.v != "oneOf" or m.parent != "ports":
        return None
    hint = _yaml11_number(m.inst, "integer") if isinstance(m.inst, str) else None
    if hint:
        return m.say(hint)
    return m.say(f"{m.inst!r} is not a port; write a number such as 993 or "
                 "{port: 11430, protocol: imap}")


def _firewall_item(m: _Mistake) -> InputError | None:
    if m.v != "oneOf" or m.parent != "firewall":
        return None
    return m.say("write a path, or {path: FILE, format: FORMAT}")


def _bad_protocol(m: _Mistake) -> InputError | None:
    if m.v != "enum" or m.last != "protocol":
        return None
    return m.say(f"{m.inst!r} is not a protocol imap-gate knows; write imap "
                 "(cleartext with STARTTLS) or imaps (implicit TLS)")


def _bad_firewall_format(m: _Mistake) -> InputError | None:
    if m.v != "enum" or m.last != "format" or "firewall" not in m.path:
        return None
    known = [str(c) for c in m.err.validator_value]
    hint = _close_matches(str(m.inst), known, n=1, cutoff=0.5)
    extra = f"did you mean {hint[0]!r}? " if hint else ""
    return m.say(f"{m.inst!r} is not a firewall format imap-gate knows; {extra}"
                 f"known: {', '.join(known)}; or leave format out to have it detected")


def _not_in_enum(m: _Mistake) -> InputError | None:
    if m.v != "enum":
        return None
    choices = ", ".join(str(c) for c in m.err.validator_value)
    hint = _close_matches(str(m.inst), [str(c) for c in m.err.validator_value], n=1)
    extra = f"; did you mean {hint[0]!r}?" if hint else ""
    return m.say(f"{m.inst!r} is not one of: {choices}{extra}")


def _number_as_string(m: _Mistake) -> InputError | None:
    """'1e9' where a number belongs: a YAML 1.1 string, which deserves its own explanation."""
    if m.v != "type" or m.err.validator_value not in ("number", "integer") or \
            not isinstance(m.inst, str):
        return None
    hint = _yaml11_number(m.inst, m.err.validator_value)
    return m.say(hint) if hint else None


def _wrong_type(m: _Mistake) -> InputError | None:
    if m.v != "type":
        return None
    want = m.err.validator_value
    want = " or ".join(want) if isinstance(want, list) else want
    article = "an" if str(want)[0] in "aeiou" else "a"
    return m.say(f"expected {article} {want}, found {type(m.inst).__name__} {m.inst!r}")


def _bad_date(m: _Mistake) -> InputError | None:
    if m.last != "expires" or m.v not in ("format", "pattern"):
        return None
    return m.say(f"{m.inst!r} is not a date; write YYYY-MM-DD, e.g. 2027-03-31")


def _bad_pattern(m: _Mistake) -> InputError | None:
    """A name or host that fails its pattern: say what the field may hold, not the regex."""
    if m.v != "pattern":
        return None
    if m.last == "name":
        return m.say(f"{m.inst!r} may hold only letters, digits, '.', '_' and '-'")
    if m.last == "host":
        return m.say(f"{m.inst!r} is not a host name or address (no scheme, path or spaces)")
    return None


def _out_of_range(m: _Mistake) -> InputError | None:
    if m.v not in ("minimum", "maximum", "exclusiveMinimum"):
        return None
    return m.say(f"{m.inst!r} is out of range ({m.err.message})")


# Tried in order; the first that recognises the mistake explains it (order matters: a port
# number out of range is said as a port before the generic range message).
_EXPLAINERS = (
    _unknown_key, _missing_key, _bad_version, _bad_port_number, _port_or_firewall_mapping,
    _port_item, _firewall_item, _bad_protocol, _bad_firewall_format, _not_in_enum,
    _number_as_string, _wrong_type, _bad_date, _bad_pattern, _out_of_range,
)


def _explain(err: jsonschema.ValidationError, path: tuple[Any, ...], pos: yamlpos.Positions,
             display: str) -> InputError:
    mistake = _Mistake(err, path, pos, display)
    for explainer in _EXPLAINERS:
        found = explainer(mistake)
        if found is not None:
            return found
    return mistake.say(err.message)


def _object_branch_error(err: jsonschema.ValidationError) -> jsonschema.ValidationError | None:
    """Of a oneOf's sub-errors, the one from its mapping branch (the one a mapping meant)."""
    subs = [e for e in err.context or () if e.relative_schema_path and
            isinstance(e.schema, dict) and e.relative_schema_path[0] == 1]
    return max(subs, key=lambda e: len(e.absolute_path), default=None)


def _yaml11_number(text: str, want: str) -> str | None:
    """'1e9' reads as a number almost everywhere but YAML 1.1 (PyYAML): say so, and what to write."""
    import math

    try:
        number = float(text.replace("_", ""))
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    if number.is_integer() and abs(number) < 1e18:
        write = str(int(number))
    elif want == "integer":
        return f"{text!r} is not a whole number; write an integer"
    else:
        write = repr(number) if "e" in repr(number) or "." in repr(number) else f"{number}.0"
        write = write if "e" not in write or "." in write.split("e")[0] else \
            write.replace("e", ".0e")
    return (f"{text!r} is a string, not a number, in YAML 1.1 (which imap-gate reads, as PyYAML "
            f"does): its floats need a dot and a signed exponent, as in 1.0e+9; write {write}")


def _is_port_path(path: tuple[Any, ...]) -> bool:
    return (len(path) >= 2 and path[-2] == "ports") or (len(path) >= 3 and path[-3] == "ports") \
        or (bool(path) and path[-1] == "port")


# ---------------------------------------------------------------- building

class _Builder:
    """Turns a schema-valid manifest into a ``Manifest``, collecting every semantic mistake
    (not only the first) so one run tells the user all that is wrong."""

    def __init__(self, root: Path, pos: yamlpos.Positions, display: str) -> None:
        self.root = root
        self.pos = pos
        self.display = display
        self.errors: list[InputError] = []
        self.names: dict[str, int] = {}       # target name -> index of its first use

    def where(self, p: tuple[Any, ...]) -> tuple[str, int, int]:
        line, col = self.pos.at(p)
        return self.display, line, col

    def attempt(self, fn: Any, *args: Any) -> Any:
        """Run ``fn``; an InputError it raises is collected and the result is None."""
        try:
            return fn(*args)
        except InputError as exc:
            self.errors.append(exc)
            return None

    def fail(self, msg: str, p: tuple[Any, ...]) -> None:
        self.errors.append(InputError(msg, *self.where(p)))

    def defaults(self, d: dict[str, Any]) -> Defaults:
        defaults = Defaults(
            timeout=float(d.get("timeout", 5.0)),
            concurrency=int(d.get("concurrency", 32)),
            source_address=d.get("source_address"),
            cert_expiry_days=int(d.get("cert_expiry_days", 30)),
            per_host=int(d.get("per_host", 4)),
            internal_interfaces=_names(d.get("internal_interfaces")),
            public_interfaces=_names(d.get("public_interfaces")),
        )
        if d.get("source_address"):
            _check_ip(d["source_address"], self.where(("defaults", "source_address")), self.errors)
        return defaults

    def unique_name(self, i: int, name: str) -> None:
        if name in self.names:
            self.fail(f"targets[{i}].name: {name!r} is already the name of "
                      f"targets[{self.names[name]}]; target names must be unique",
                      ("targets", i, "name"))
        self.names.setdefault(name, i)

    def endpoints(self, i: int, t: dict[str, Any]) -> list[Endpoint]:
        """The target's ports, each with its protocol (said, or known for 143/993) and
        expectation; a port without a known protocol or listed twice is an error."""
        tp = ("targets", i)
        expect = t.get("expect") or {}
        endpoints: list[Endpoint] = []
        for j, item in enumerate(t.get("ports", [143, 993])):
            port = item if isinstance(item, int) else item["port"]
            proto = None if isinstance(item, int) else item.get("protocol")
            proto = proto or WELL_KNOWN.get(port)
            if proto is None:
                self.fail(f"targets[{i}].ports[{j}]: port {port} is not 143 or 993, so say which "
                          f"protocol it speaks: {{port: {port}, protocol: imap}} or "
                          f"{{port: {port}, protocol: imaps}}", tp + ("ports", j))
            elif any(e.port == port for e in endpoints):
                self.fail(f"targets[{i}].ports[{j}]: port {port} is listed twice",
                          tp + ("ports", j))
            else:
                endpoints.append(Endpoint(port, proto, expect.get(str(port))))
        self.expectations(i, expect, endpoints)
        return endpoints

    def expectations(self, i: int, expect: dict[str, Any], endpoints: list[Endpoint]) -> None:
        """An expectation must name one of the target's ports, and starttls-required only
        makes sense on a cleartext port."""
        tp = ("targets", i)
        by_port = {e.port: e for e in endpoints}
        for key in expect:
            if int(key) not in by_port:
                self.fail(f"targets[{i}].expect: port {key} is not in this target's ports "
                          f"({', '.join(str(p) for p in sorted(by_port))}); add it to ports or "
                          "remove the expectation", tp + ("expect", f"<key>{key}"))
            elif expect[key] == "starttls-required" and by_port[int(key)].protocol != "imap":
                self.fail(f"targets[{i}].expect.{key}: starttls-required applies to a cleartext "
                          "imap port; for implicit TLS write 'open'", tp + ("expect", key))

    def ca_file(self, i: int, ca: str | None) -> str | None:
        """The target's CA file, inside the root and holding a certificate, relative to root."""
        if ca is None:
            return None
        w = self.where(("targets", i, "ca_file"))
        what = f"targets[{i}].ca_file"
        p = self.attempt(resolve_inside, self.root, ca, w, what)
        if p is not None and self.attempt(_check_ca_file, p, ca, w, what) is None:
            p = None
        return rel(self.root, p) if p else None

    def source_position(self, i: int, t: dict[str, Any],
                        src: str | None) -> tuple[int | None, int | None]:
        """Where the target's source_address is set: its own key, else the defaults'."""
        if t.get("source_address") is not None:
            return self.where(("targets", i, "source_address"))[1:]
        if src:
            return self.where(("defaults", "source_address"))[1:]
        return None, None

    def target(self, i: int, t: dict[str, Any], defaults: Defaults) -> Target:
        tp = ("targets", i)
        name, host = t["name"], t["host"]
        self.unique_name(i, name)
        endpoints = self.endpoints(i, t)
        src = t.get("source_address", defaults.source_address)
        ca_rel = self.ca_file(i, t.get("ca_file"))
        dov = _files(self.root, t.get("dovecot") or [], tp + ("dovecot",), self.where,
                     self.attempt, f"targets[{i}].dovecot")
        fw = _firewall_files(self.root, t.get("firewall") or [], tp + ("firewall",), self.where,
                             self.attempt, f"targets[{i}].firewall", defaults)
        hl, hc = self.pos.at(tp + ("host",))
        sl, sc = self.source_position(i, t, src)
        target = Target(
            name=name, host=host, endpoints=tuple(endpoints), sni=t.get("sni", host),
            ca_file=ca_rel, source_address=src,
            timeout=float(t.get("timeout", defaults.timeout)), dovecot=tuple(dov),
            firewall=tuple(fw), line=hl, column=hc, source_line=sl, source_column=sc)
        if t.get("source_address"):
            _check_ip(t["source_address"], self.where(tp + ("source_address",)), self.errors)
        return target

    def waivers(self, items: list[dict[str, Any]]) -> list[Waiver]:
        """Each waiver names a known rule (id or name, stored as the id) and, if it names a
        target, one the manifest declares."""
        from imap_gate import catalogue  # late: the catalogue imports every check family

        waivers: list[Waiver] = []
        for k, w in enumerate(items):
            wp = ("policy", "waivers", k)
            rule = catalogue.resolve(w["rule"])
            if rule is None:
                known = [r.id for r in catalogue.catalogue().values()] + \
                        [r.name for r in catalogue.catalogue().values()]
                hint = _close_matches(w["rule"], known, n=1)
                extra = f"; did you mean {hint[0]!r}?" if hint else ""
                self.fail(f"policy.waivers[{k}].rule: no rule {w['rule']!r}{extra}", wp + ("rule",))
                continue
            if "target" in w and w["target"] not in self.names:
                self.fail(f"policy.waivers[{k}].target: no target named {w['target']!r}",
                          wp + ("target",))
            waivers.append(Waiver(rule=rule.id, reason=w["reason"], expires=w["expires"],
                                  target=w.get("target"), path=w.get("path"), port=w.get("port"),
                                  owner=w.get("owner"), line=self.pos.at(wp)[0]))
        return waivers


def _build(root: Path, data: dict[str, Any], pos: yamlpos.Positions, display: str,
           path: Path) -> Manifest:
    b = _Builder(root, pos, display)
    defaults = b.defaults(data.get("defaults") or {})
    targets = [b.target(i, t, defaults) for i, t in enumerate(data.get("targets") or [])]
    dovecot_files, firewall_files, rehearse_files = _config_files(root, data, b, defaults)
    rehearse_line = pos.at(("rehearse",))[0] if "rehearse" in data else 1
    pol = data.get("policy") or {}
    waivers = b.waivers(pol.get("waivers") or [])
    if b.errors:
        raise InputErrors(sorted(b.errors, key=lambda e: (e.line or 0, e.column or 0)))
    return Manifest(path=display, name=_name(data, display), defaults=defaults, targets=tuple(targets),
                    dovecot_files=tuple(dovecot_files), firewall_files=tuple(firewall_files),
                    fail_on=pol.get("fail_on"), waivers=tuple(waivers),
                    rehearse_files=tuple(rehearse_files), rehearse_line=rehearse_line)


def _config_files(root: Path, data: dict[str, Any], b: _Builder, defaults: Defaults
                  ) -> tuple[list[str], list[FirewallFile], list[str]]:
    """The files the manifest names (Dovecot, firewall, rehearsal), each glob expanded; a
    glob that matches nothing is the builder's error on its line."""
    cfg = data.get("configs") or {}
    dovecot_files = _files(root, cfg.get("dovecot") or [], ("configs", "dovecot"), b.where,
                           b.attempt, "configs.dovecot")
    firewall_files = _firewall_files(root, cfg.get("firewall") or [], ("configs", "firewall"),
                                     b.where, b.attempt, "configs.firewall", defaults)
    rehearse_files = _files(root, data.get("rehearse") or [], ("rehearse",), b.where, b.attempt,
                            "rehearse")
    return dovecot_files, firewall_files, rehearse_files


def _name(data: dict[str, Any], display: str) -> str:
    """The manifest's name, else its file's stem, so two manifests' reports differ."""
    return data.get("name") or Path(display).stem.replace(".github", "") or "imap-gate"


def _check_ca_file(path: Path, text: str, where: tuple[str, int, int], what: str) -> bool:
    """A ca_file must hold a certificate, or every probe of the target says CERT003 for it."""
    from imap_gate import pem

    try:
        with path.open("rb") as f:
            data = f.read(pem.MAX_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{what}: cannot read {text!r}: {exc.strerror}", *where) from None
    if len(data) > pem.MAX_BYTES:
        raise InputError(f"{what}: {text!r} is larger than 16 MiB; it is not a CA file", *where)
    if not pem.certificates(data):
        raise InputError(f"{what}: {text!r} holds no PEM certificate (-----BEGIN CERTIFICATE-----); "
                         "point it at your CA's certificate", *where)
    return True


def _check_ip(text: str, where: tuple[str, int, int], errors: list[InputError]) -> None:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        errors.append(InputError(f"{text!r} is not an IP address (write e.g. 192.0.2.10 "
                                 "or 2001:db8::1)", *where))


def _files(root: Path, patterns: list[str], base: tuple[Any, ...], where: Any, attempt: Any,
           what: str) -> list[str]:
    out: list[str] = []
    for n, pattern in enumerate(patterns):
        found = attempt(expand_glob, root, pattern, where(base + (n,)), f"{what}[{n}]") or []
        for f in found:
            r = rel(root, f)
            if r not in out:
                out.append(r)
    return out


def _names(value: Any) -> tuple[str, ...] | None:
    return None if value is None else tuple(str(x) for x in value)


def _firewall_files(root: Path, items: list[Any], base: tuple[Any, ...], where: Any, attempt: Any,
                    what: str, defaults: Defaults | None = None) -> list[FirewallFile]:
    out: list[FirewallFile] = []
    d = defaults or Defaults()
    for n, item in enumerate(items):
        pattern, fmt, internal, public = _firewall_entry(item, d)
        w = where(base + (n,))
        found = attempt(expand_glob, root, pattern, w, f"{what}[{n}]") or []
        for f in found:
            ff = FirewallFile(rel(root, f), fmt, w[1], internal, public)
            if all(x.path != ff.path for x in out):
                out.append(ff)
    return out


def _firewall_entry(item: Any, d: Defaults) -> tuple[str, str | None, tuple[str, ...] | None,
                                                      tuple[str, ...] | None]:
    """A configs.firewall entry, a glob or a mapping: its glob, format, and interface names
    (the entry's own, else the defaults')."""
    if isinstance(item, str):
        return item, None, d.internal_interfaces, d.public_interfaces
    internal = _names(item.get("internal_interfaces"))
    public = _names(item.get("public_interfaces"))
    return (item["path"], item.get("format"),
            internal if internal is not None else d.internal_interfaces,
            public if public is not None else d.public_interfaces)
