"""Dovecot configuration syntax, line by line, the way ``doveconf`` reads it.

One pass over the lines, no backtracking, so a 100,000-line file costs 100,000
small steps. Every node keeps the file, line and column it came from: those are
the SARIF locations. Nothing here raises on bad input; a line that ``doveconf``
would refuse becomes a ``ParseError`` node and parsing goes on, so one typo does
not hide the rest of the file from the rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from imap_gate.findings import Location

_WHITE = " \t"
# Real configurations nest four or five levels; the limit keeps every recursive walk
# over the tree far from Python's recursion limit whatever the input.
MAX_NESTING = 64
_SUPPRESS = re.compile(r"#\s*imap-gate:\s*ignore\[([A-Za-z0-9_, -]*)\]\s*(.*)$")


@dataclass
class Setting:
    key: str
    value: str            # unquoted (and unescaped) text, or the path for ``<file``
    raw: str              # the value as written, quotes included
    loc: Location
    kind: str = "value"   # value | file (``key = <path``) | var (contains ``$``)
    quoted: bool = False
    text: str = ""        # the whole source line (evidence)
    content: str | None = None  # for ``<file``: the file's text when it is inside the root
    conditional: bool = False   # inside a template conditional or loop ({% if %}, <% if %>)


@dataclass
class Include:
    pattern: str
    required: bool        # ``!include`` (True) or ``!include_try`` (False)
    loc: Location
    text: str = ""


@dataclass
class Section:
    type: str
    name: str
    loc: Location
    children: list[Node] = field(default_factory=list)
    text: str = ""
    closed: bool = True


@dataclass
class ParseError:
    message: str
    loc: Location
    text: str = ""
    template: bool = False   # inside a multi-line template block ({% ... %}, <% ... %>)


Node = Setting | Include | Section | ParseError


@dataclass
class Suppression:
    rules: tuple[str, ...]
    reason: str
    line: int
    path: str


@dataclass
class ParsedFile:
    path: str
    nodes: list[Node]
    suppressions: list[Suppression]
    first_setting: Setting | None = None
    line_count: int = 0


def _unescape(text: str) -> str:
    """``str_unescape``: a backslash makes the next character literal."""
    if "\\" not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            i += 1
            ch = text[i]
        out.append(ch)
        i += 1
    return "".join(out)


def strip_comment(line: str) -> str:
    """Cut at the first ``#`` outside quotes, as ``doveconf`` does."""
    if "#" not in line:
        return line
    i = 0
    n = len(line)
    while i < n:
        ch = line[i]
        if ch in "'\"":
            quote = ch
            i += 1
            while i < n and line[i] != quote:
                if line[i] == "\\" and i + 1 < n:
                    i += 1
                i += 1
            if i >= n:
                return line
        elif ch == "#":
            return line[:i]
        i += 1
    return line


def _split_word(s: str) -> tuple[str, str]:
    """The first run of non-white, non-'=' characters, and the rest (leading white removed)."""
    i = 0
    n = len(s)
    while i < n and s[i] not in _WHITE and s[i] != "=":
        i += 1
    return s[:i], s[i:].lstrip(_WHITE)


@dataclass(slots=True)
class Statement:
    """One logical line: continuations joined, comment cut; ``loc`` is where it starts."""

    body: str
    loc: Location
    text: str                 # the (last) source line, stripped: evidence
    in_template: bool = False
    unfinished: bool = False  # the file ended inside a '\\' continuation


@dataclass(slots=True)
class Stray:
    """A node the line reader makes itself (template code): it goes where the builder stands."""

    node: ParseError


class LogicalLines:
    """Physical lines to ``Statement``s, the way doveconf joins and cuts them.

    Template tags, suppression comments and ``\\`` continuations are line matters; the
    tree builder never sees them, so it only has to know about sections.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.suppressions: list[Suppression] = []
        self.pending = ""       # continuation buffer
        self.pending_line = 0
        self.pending_col = 1
        self.closer = ""        # inside a multi-line template block: the text that ends it
        self.tdepth = 0         # open template conditionals and loops ({% if %} ... {% endif %})

    def read(self, lines: list[str]) -> Iterator[Statement | Stray]:
        line_items = self._line
        for idx, physical in enumerate(lines, start=1):
            line = physical[:-1] if physical.endswith("\r") else physical
            yield from line_items(idx, line)
        if self.pending:
            yield Statement(self.pending.rstrip(), Location(self.path, self.pending_line,
                                                            self.pending_col),
                            self.pending.strip(), unfinished=True)

    def _line(self, idx: int, line: str) -> tuple[Statement | Stray, ...]:
        """What one physical line yields: nothing, a statement, and/or a template node
        (a tuple, not a generator: this runs once per line of a 100k-line file)."""
        stripped = line.lstrip(_WHITE)
        if self.closer:
            return self._inside_tag(idx, line, stripped)
        in_template = self._track_template(line)
        self._suppression(idx, line)
        if not self.pending and _blank(stripped):
            return ()
        stray: tuple[Stray, ...] = ()
        prefix = _LINE_PLACEHOLDER.match(stripped) if stripped.startswith("%{") else None
        if prefix is not None:
            # modoboa's ``%{radicale_enabled}unix_listener x {``: the installer keeps or
            # comments out the line; no Dovecot line starts with a variable
            in_template = True
            stray = (Stray(ParseError("template line prefix", Location(self.path, idx, 1),
                                      line.strip(), template=True)),)
            stripped = stripped[prefix.end():].lstrip(_WHITE)
            line = " " * (len(line) - len(line.lstrip(_WHITE)) + prefix.end()) + stripped
            if _blank(stripped):
                return stray
        stmt = self._join(idx, line, stripped, in_template)
        return stray if stmt is None else (*stray, stmt)

    def _inside_tag(self, idx: int, line: str, stripped: str) -> tuple[Stray, ...]:
        """A line of a template tag opened above: template code until its closer."""
        if self.closer in line:
            self.closer = _open_template(line[line.index(self.closer) + len(self.closer):])
        if not stripped:
            return ()
        return (Stray(ParseError("template code", Location(self.path, idx, 1), line.strip(),
                                 template=True)),)

    def _track_template(self, line: str) -> bool:
        """Open tags and conditionals; whether this line is inside (or opens) one."""
        depth_before = self.tdepth
        if "{" in line or "<%" in line:
            self.closer = _open_template(line)
            if "{%" in line or "<%" in line:
                self.tdepth = max(0, self.tdepth + _control_delta(line))
        return depth_before > 0 or self.tdepth > 0

    def _suppression(self, idx: int, line: str) -> None:
        if "imap-gate:" not in line:
            return
        m = _SUPPRESS.search(line)
        if m:
            ids = tuple(r.strip().upper() for r in m.group(1).split(",") if r.strip())
            self.suppressions.append(Suppression(ids, m.group(2).strip(), idx, self.path))

    def _join(self, idx: int, line: str, stripped: str, in_template: bool) -> Statement | None:
        """A ``\\`` at the end continues the statement on the next line (or ends at a blank)."""
        body = strip_comment(stripped).rstrip(_WHITE)
        if body.endswith("\\"):
            part = body[:-1].rstrip(_WHITE)
            if not self.pending:
                self.pending_line = idx
                self.pending_col = len(line) - len(stripped) + 1
            if part:
                self.pending += part + " "
            return None
        if self.pending:
            body = self.pending + body
            line_no, col = self.pending_line, self.pending_col
            self.pending = ""
        else:
            line_no, col = idx, len(line) - len(stripped) + 1
        if not body:
            return None
        return Statement(body, Location(self.path, line_no, col), line.strip(), in_template)


def _blank(stripped: str) -> bool:
    return not stripped or stripped.startswith("#")


class TreeBuilder:
    """``Statement``s to the section tree: opens, closes, and keeps broken sections together."""

    def __init__(self) -> None:
        self.root: list[Node] = []
        self.stack: list[Section] = []
        self.first: Setting | None = None
        self.overflow = 0       # open sections beyond MAX_NESTING (skipped, not kept)

    @property
    def target(self) -> list[Node]:
        return self.stack[-1].children if self.stack else self.root

    def add(self, item: Statement | Stray) -> None:
        if isinstance(item, Stray):
            self.target.append(item.node)
        elif item.unfinished:
            self._unfinished(item)
        else:
            self._statement(item)

    def _statement(self, st: Statement) -> None:
        node = _parse_statement(st.body, st.loc, st.text)
        if st.in_template:
            # A template decides whether this line exists, or joins it to the one before
            # ({%- if X -%} continuing a value): what it produces is not known here.
            if isinstance(node, Setting):
                node.conditional = True
            elif isinstance(node, ParseError):
                node.template = True
        if self.overflow:
            self._skip(node, st.body)
        elif isinstance(node, Section):
            self._open(node, st)
        elif node == "end":
            self._close(st)
        else:
            assert not isinstance(node, str)
            self._leaf(node, st)

    def _skip(self, node: Node | str, body: str) -> None:
        """Inside sections nested deeper than MAX_NESTING: count braces, keep nothing."""
        if node == "end":
            self.overflow -= 1
        elif isinstance(node, Section) or (isinstance(node, ParseError) and body.endswith("{")):
            self.overflow += 1

    def _open(self, node: Section, st: Statement) -> None:
        if len(self.stack) >= MAX_NESTING:
            self.target.append(ParseError(f"sections nested deeper than {MAX_NESTING} levels; "
                                          "their contents are not read", st.loc, st.text))
            self.overflow = 1
            return
        self.target.append(node)
        self.stack.append(node)

    def _close(self, st: Statement) -> None:
        if self.stack:
            self.stack.pop()
        else:
            self.target.append(ParseError("'}' without an open section", st.loc, st.text))

    def _leaf(self, node: Node, st: Statement) -> None:
        self.target.append(node)
        if isinstance(node, Setting) and not self.stack and self.first is None:
            self.first = node
        elif isinstance(node, ParseError) and st.body.endswith("{"):
            # a broken section opener: keep its body and its '}' together so one
            # mistake is one finding, and its settings are not taken as global ones
            dummy = Section("<error>", "", st.loc, text=st.text)
            self.target.append(dummy)
            self.stack.append(dummy)

    def _unfinished(self, st: Statement) -> None:
        node = _parse_statement(st.body, st.loc, st.text)
        if isinstance(node, Setting | Include | ParseError):
            self.target.append(node)
        else:
            self.target.append(ParseError("the file ends inside a '\\' continuation", st.loc))

    def finish(self) -> list[Node]:
        """Report every section left open (a missing '}') at the top level."""
        for sec in self.stack:
            sec.closed = False
            if sec.type == "<error>":
                continue
            self.root.append(ParseError(
                f"section '{sec.type}{' ' + sec.name if sec.name else ''}' opened here is never "
                "closed (missing '}')", sec.loc, sec.text))
        return self.root


def parse_text(text: str, path: str) -> ParsedFile:
    """Parse one file into a tree; includes are left as ``Include`` nodes for the loader."""
    lines = text.split("\n")
    reader = LogicalLines(path)
    builder = TreeBuilder()
    for item in reader.read(lines):
        builder.add(item)
    return ParsedFile(path, builder.finish(), reader.suppressions, builder.first, len(lines))


# Template tag openers and their closers. ERB needs a space, '=', '-' or '#' after
# "<%": Dovecot's own "<%u>" (login_log_format_elements) is not a template.
_OPENER = re.compile(r"\{%|\{\{|\{#|<%(?=[=#\-\s]|$)")
_CLOSERS = {"{%": "%}", "{{": "}}", "{#": "#}", "<%": "%>"}


_LINE_PLACEHOLDER = re.compile(r"%\{[A-Za-z_][A-Za-z0-9_]*\}")
_CONTROL = re.compile(r"\{%-?\s*(end)?(if|for|macro|block|call|filter|with|raw)\b|"
                      r"<%-?\s*(?:(end)\b|(if|unless|case|while|for)\b|.*\b(do)\s*(?:\|[^|]*\|)?"
                      r"\s*-?%>)")


def _control_delta(line: str) -> int:
    """How many template conditionals or loops this line opens (minus those it closes)."""
    delta = 0
    for m in _CONTROL.finditer(line):
        if m.group(2):                       # jinja
            delta += -1 if m.group(1) else 1
        elif m.group(3):                     # erb <% end %>
            delta -= 1
        elif m.group(4) or m.group(5):       # erb <% if %>, <% x.each do |y| %>
            delta += 1
    return delta


def _open_template(line: str) -> str:
    """The closer still awaited when ``line`` opens a template tag it does not close."""
    pos = 0
    while True:
        m = _OPENER.search(line, pos)
        if m is None:
            return ""
        closer = _CLOSERS[m.group(0)]
        end = line.find(closer, m.end())
        if end < 0:
            return closer
        pos = end + len(closer)


def _parse_statement(body: str, loc: Location, text: str) -> Node | str:
    """One logical line to a node, or ``"end"`` for a closing brace."""
    key, rest = _split_word(body)
    if key in ("!include", "!include_try"):
        return _include(key, rest, loc, text)
    if rest.startswith("="):
        return _setting(key, rest[1:].lstrip(_WHITE), loc, text)
    if key == "}" and not rest:
        return "end"
    if key == "}" or body.startswith("}"):
        return ParseError("unexpected text after '}'", loc, text)
    if not key:
        return ParseError("a line that is neither a setting nor a section", loc, text)
    return _section(key, rest, loc, text)


def _include(key: str, pattern: str, loc: Location, text: str) -> Include | ParseError:
    if len(pattern) >= 2 and pattern[0] == pattern[-1] and pattern[0] in "'\"":
        pattern = _unescape(pattern[1:-1])
    if not pattern:
        return ParseError(f"{key} without a file name", loc, text)
    return Include(pattern, key == "!include", loc, text)


def _setting(key: str, value: str, loc: Location, text: str) -> Setting | ParseError:
    """``key = value``: a ``<file``, a ``$var`` reference, a quoted or a plain value."""
    if not key:
        return ParseError("a setting without a name before '='", loc, text)
    if value.startswith("<"):
        return Setting(key, value[1:].lstrip(_WHITE), value, loc, "file", False, text)
    if value[:1] not in ("'", '"') and "$" in value:
        return Setting(key, value, value, loc, "var", False, text)
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return Setting(key, _unescape(value[1:-1]), value, loc, "value", True, text)
    return Setting(key, value, value, loc, "value", False, text)


def _section(key: str, rest: str, loc: Location, text: str) -> Section | ParseError:
    """``section_type [name] {`` (2.4 also ``group @label name {``)."""
    if rest == "{":
        return Section(key, "", loc, text=text)
    name, after = _section_name(rest)
    if key == "group" and name.startswith("@") and not after.startswith("{"):
        # 2.4: group @label name {
        more, after = _section_name(after)
        name = f"{name} {more}"
    if not after.startswith("{"):
        return ParseError(f"expecting '{{' after '{key} {name}'" if name else
                          f"'{key}' is not followed by '= value' or '{{'", loc, text)
    if after != "{":
        return ParseError("garbage after '{' (a section's contents go on the next lines)",
                          loc, text)
    return Section(key, name, loc, text=text)


def _section_name(rest: str) -> tuple[str, str]:
    if rest[:1] in ("'", '"'):
        quote = rest[0]
        end = rest.find(quote, 1)
        if end < 0:
            return rest[1:], ""
        return rest[1:end], rest[end + 1:].lstrip(_WHITE)
    i = 0
    while i < len(rest) and rest[i] not in _WHITE:
        i += 1
    return rest[:i], rest[i:].lstrip(_WHITE)
