"""IMAP responses off the wire: reading one complete response and parsing it.

Reading is byte-exact (``checks.net.Reader``): nothing past the response is
consumed, so the socket stays positioned for a TLS handshake after STARTTLS.
Parsing is pure and strict enough to call a violation a violation, lenient
where real servers differ (a bare ``+``, a missing response-code bracket).
Every failure is a ``WireError`` (a ``ProbeError``, so a ``GateError``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..net import Deadline, ProbeError, Reader, TooLong

LOGICAL_CAP = 64 * 1024   # one response including its literals
ID_PAIRS_CAP = 30         # RFC 2971 3.3: at most 30 field-value pairs
STATUS = ("OK", "NO", "BAD", "PREAUTH", "BYE")
_LITERAL_END = re.compile(rb"\{(\d{1,10})\+?\}\r?\n\Z")
# RFC 3501 tag: astring chars except "+": no CTL, SP, ( ) { % * " \ ] or 8-bit
_TAG = re.compile(r"[!#$&',\-./0-9:;<=>?@A-Z\[^_`a-z|}~]+\Z")
_ATOM = re.compile(r"[!#$&'+,\-./0-9:;<=>?@A-Z\[^_`a-z|}~]+\Z")


class WireError(ProbeError):
    """The server broke the IMAP protocol."""


@dataclass(frozen=True)
class Response:
    tag: str               # "*", "+" or the tag of a command
    status: str            # OK/NO/BAD/PREAUTH/BYE, or the data name (CAPABILITY, ID, EXISTS)
    code: str | None       # inside [...] of a status response, without the brackets
    text: str              # what follows status and code (the data of a data response)
    raw: bytes             # the whole logical line, literals included

    @property
    def tagged(self) -> bool:
        return self.tag not in ("*", "+")

    @property
    def continuation(self) -> bool:
        return self.tag == "+"


def read_response(reader: Reader, deadline: Deadline) -> Response:
    """One complete response: a line, plus any ``{n}`` literals and their continuation lines."""
    raw = bytearray()
    while True:
        line = reader.readline(deadline)
        raw += line
        m = _LITERAL_END.search(line)
        if not m:
            break
        size = int(m.group(1))
        if len(raw) + size > LOGICAL_CAP:
            raise TooLong(f"a literal of {size} bytes in one response exceeds {LOGICAL_CAP} bytes",
                          bytes(raw[:256]))
        raw += reader.readexact(size, deadline)
        if len(raw) > LOGICAL_CAP:
            raise TooLong(f"a response longer than {LOGICAL_CAP} bytes", bytes(raw[:256]))
    return parse(bytes(raw))


def parse(raw: bytes) -> Response:
    """Parse one logical response line (CRLF and inline literals included)."""
    body = raw[:-2] if raw.endswith(b"\r\n") else raw.rstrip(b"\n")
    if b"\x00" in body:
        raise WireError("the server sent a NUL byte", raw[:256])
    text = body.decode("utf-8", "replace")
    tag, sep, rest = text.partition(" ")
    if tag == "+":
        return Response("+", "", None, rest, raw)
    if not sep:
        raise WireError(f"not an IMAP response: {show(raw, 80)}", raw[:256])
    if tag != "*" and not _TAG.match(tag):
        raise WireError(f"not an IMAP response (bad tag): {show(raw, 80)}", raw[:256])
    return _after_tag(tag, rest, raw)


def _after_tag(tag: str, rest: str, raw: bytes) -> Response:
    """A response after its tag ('*' or a command's): message data ("* 3 EXISTS"), a
    status (OK, NO, BAD; untagged also BYE and PREAUTH) with its code, or untagged data."""
    word, _, after = rest.partition(" ")
    upper = word.upper()
    if tag == "*" and word.isdigit():          # "* 3 EXISTS": a message-data response
        name, _, after = after.partition(" ")
        return Response(tag, name.upper(), None, after, raw)
    if upper in STATUS:
        if tag != "*" and upper not in ("OK", "NO", "BAD"):
            raise WireError(f"tagged {upper} is not allowed: {show(raw, 80)}", raw[:256])
        code, human = _split_code(after)
        return Response(tag, upper, code, human, raw)
    if tag != "*":
        raise WireError(f"a tagged response must be OK, NO or BAD: {show(raw, 80)}", raw[:256])
    if not _ATOM.match(word):
        raise WireError(f"not an IMAP response: {show(raw, 80)}", raw[:256])
    return Response(tag, upper, None, after, raw)


def _split_code(after: str) -> tuple[str | None, str]:
    if not after.startswith("["):
        return None, after
    end = after.find("]")
    if end < 0:  # lenient: a server that forgets the bracket still said something
        return None, after
    return after[1:end], after[end + 1:].lstrip(" ")


def capabilities(text: str) -> tuple[str, ...]:
    """Capability atoms, upper-cased, in order, without duplicates."""
    out: list[str] = []
    for token in text.split():
        cap = token.upper()
        if _ATOM.match(cap) and cap not in out:
            out.append(cap)
    return tuple(out)


def code_capabilities(code: str | None) -> tuple[str, ...] | None:
    """``[CAPABILITY ...]`` in a greeting or tagged OK saves a round trip."""
    if not code:
        return None
    name, _, rest = code.partition(" ")
    if name.upper() != "CAPABILITY":
        return None
    return capabilities(rest)


def mechanisms(caps: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(c[5:] for c in caps if c.startswith("AUTH=") and len(c) > 5)


# ---------------------------------------------------------------- ID (RFC 2971)

def parse_id(resp: Response) -> dict[str, str | None]:
    """The server's ``* ID (...)`` reply as a mapping; ``NIL`` gives an empty one."""
    raw = resp.raw
    if raw[:4].upper() != b"* ID":
        raise WireError("not an ID reply", raw[:256])
    pos = _skip_sp(raw, 4)
    if raw[pos:pos + 3].upper() == b"NIL":
        return {}
    if raw[pos:pos + 1] != b"(":
        raise WireError("an ID reply that is neither NIL nor a list", raw[:256])
    pos += 1
    items: list[str | None] = []
    while True:
        pos = _skip_sp(raw, pos)
        if raw[pos:pos + 1] == b")":
            break
        if len(items) >= 2 * ID_PAIRS_CAP:
            raise WireError(f"an ID reply with more than {ID_PAIRS_CAP} fields", raw[:256])
        value, pos = _nstring(raw, pos)
        items.append(value)
    if len(items) % 2:
        raise WireError("an ID reply with a field and no value", raw[:256])
    out: dict[str, str | None] = {}
    for i in range(0, len(items), 2):
        key = items[i]
        if key is None:
            raise WireError("an ID reply with NIL as a field name", raw[:256])
        out[key.lower()] = items[i + 1]
    return out


def _skip_sp(raw: bytes, pos: int) -> int:
    while raw[pos:pos + 1] == b" ":
        pos += 1
    return pos


def _nstring(raw: bytes, pos: int) -> tuple[str | None, int]:
    head = raw[pos:pos + 1]
    if head == b'"':
        return _quoted(raw, pos + 1)
    if head == b"{":
        return _literal(raw, pos)
    if raw[pos:pos + 3].upper() == b"NIL":
        return None, pos + 3
    raise WireError("an ID reply with something other than strings", raw[:256])


def _quoted(raw: bytes, pos: int) -> tuple[str, int]:
    """A quoted string from just after its opening quote: its text (backslash escapes
    undone) and the position after its closing quote; it may not span lines."""
    out = bytearray()
    while pos < len(raw):
        ch = raw[pos:pos + 1]
        if ch == b"\\" and pos + 1 < len(raw):
            out += raw[pos + 1:pos + 2]
            pos += 2
            continue
        if ch == b'"':
            return out.decode("utf-8", "replace"), pos + 1
        if ch in (b"\r", b"\n"):
            break
        out += ch
        pos += 1
    raise WireError("an unterminated quoted string", raw[:256])


def _literal(raw: bytes, pos: int) -> tuple[str, int]:
    """A literal ``{n}\\r\\n`` and its n bytes, all of which the response must hold."""
    m = re.compile(rb"\{(\d{1,10})\+?\}\r\n").match(raw, pos)
    if not m:
        raise WireError("a malformed literal", raw[:256])
    size = int(m.group(1))
    end = m.end() + size
    if end > len(raw):
        raise WireError("a literal shorter than announced", raw[:256])
    return raw[m.end():end].decode("utf-8", "replace"), end


# ---------------------------------------------------------------- evidence

_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F)} | {0x0D: "\\r", 0x0A: "\\n"}


def show(data: bytes, cap: int = 512) -> str:
    """Bytes as printable evidence: CR/LF and control bytes escaped, capped."""
    text = data[:cap].decode("utf-8", "backslashreplace").translate(_ESCAPES)
    more = f"…[{len(data) - cap} more bytes]" if len(data) > cap else ""
    return text + more
