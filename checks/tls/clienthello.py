"""ClientHello bytes written by hand, so any version and any suite can be offered.

The local OpenSSL refuses to even send SSLv2/SSLv3 or most weak suites, yet a
gate must know whether a server would accept them; as testssl.sh and nmap do,
we write the hello ourselves and only ever parse the reply. No handshake is
ever completed on these connections.
"""

from __future__ import annotations

import ipaddress
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from . import versions

EXT_SERVER_NAME = 0
EXT_SUPPORTED_GROUPS = 10
EXT_EC_POINT_FORMATS = 11
EXT_SIGNATURE_ALGORITHMS = 13
EXT_PADDING = 21
EXT_SUPPORTED_VERSIONS = 43
EXT_PSK_MODES = 45
EXT_KEY_SHARE = 51
EXT_RENEGOTIATION_INFO = 0xFF01

GROUP_X25519 = 29
# x25519, secp256r1, secp384r1, secp521r1, x448, secp224r1, ffdhe2048/3072/4096
GROUPS = (GROUP_X25519, 23, 24, 25, 30, 21, 256, 257, 258)
# Modern first, then the SHA-1/SHA-224/DSA schemes legacy servers may still need.
SIGNATURE_SCHEMES = (0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0807, 0x0808,
                     0x0809, 0x080A, 0x080B, 0x0401, 0x0501, 0x0601, 0x0303, 0x0301,
                     0x0302, 0x0402, 0x0203, 0x0201, 0x0202)
EMPTY_RENEGOTIATION_SCSV = 0x00FF


def _u8(data: bytes) -> bytes:
    return struct.pack("!B", len(data)) + data


def _u16(data: bytes) -> bytes:
    return struct.pack("!H", len(data)) + data


def _u24(data: bytes) -> bytes:
    return struct.pack("!I", len(data))[1:] + data


def _ext(kind: int, body: bytes) -> bytes:
    return struct.pack("!H", kind) + _u16(body)


def _codes(codes: Iterable[int]) -> bytes:
    values = tuple(codes)
    return struct.pack(f"!{len(values)}H", *values)   # one call: hellos offer ~150 suites


@lru_cache(maxsize=256)   # every hello asks again for the same few names
def sni_name(name: str) -> str | None:
    """The host name to put in SNI: RFC 6066 forbids IP literals there."""
    name = name.strip().rstrip(".")
    if not name:
        return None
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return name
    return None


def client_hello(version: int, suites: Iterable[int], sni: str | None = None, *,
                 tls13: bool = False, random: bytes | None = None) -> bytes:
    """One TLS record holding a ClientHello.

    ``version`` is the legacy client_version (SSLv3..TLS 1.2). With ``tls13``
    the hello also carries supported_versions (TLS 1.3 then ``version``) and a
    key share, as RFC 8446 requires, so a TLS 1.3 server answers in 1.3 and an
    older one answers in ``version``. SSLv3 hellos carry no extensions, as
    SSLv3 servers predate them.
    """
    rand = random if random is not None else os.urandom(32)
    session_id = os.urandom(32) if tls13 else b""
    offered = list(dict.fromkeys(suites))
    if EMPTY_RENEGOTIATION_SCSV not in offered:
        offered.append(EMPTY_RENEGOTIATION_SCSV)
    body = (struct.pack("!H", version) + rand + _u8(session_id) + _u16(_codes(offered))
            + _u8(b"\x00"))
    if version > versions.SSL3 or tls13:
        exts = _extensions(version, sni, tls13)
        # Some middleboxes choke on hellos of 256..511 bytes; pad past 512 as browsers do.
        size = len(body) + 2 + len(exts) + 4
        if 256 <= size < 512:
            exts += _ext(EXT_PADDING, bytes(max(0, 512 - size - 4)))
        body += _u16(exts)
    handshake = b"\x01" + _u24(body)
    record_version = min(version, versions.TLS10)
    return struct.pack("!BHH", 22, record_version, len(handshake)) + handshake


def _extensions(version: int, sni: str | None, tls13: bool) -> bytes:
    exts = b""
    host = sni_name(sni or "")
    if host:
        encoded = host.encode("idna") if not host.isascii() else host.encode("ascii")
        exts += _ext(EXT_SERVER_NAME, _u16(b"\x00" + _u16(encoded)))
    exts += _ext(EXT_SUPPORTED_GROUPS, _u16(_codes(GROUPS)))
    exts += _ext(EXT_EC_POINT_FORMATS, _u8(b"\x00"))
    if version >= versions.TLS12 or tls13:  # RFC 5246 7.4.1.4.1: not defined before TLS 1.2
        exts += _ext(EXT_SIGNATURE_ALGORITHMS, _u16(_codes(SIGNATURE_SCHEMES)))
    exts += _ext(EXT_RENEGOTIATION_INFO, b"\x00")
    if tls13:
        exts += _ext(EXT_SUPPORTED_VERSIONS, _u8(_codes((versions.TLS13, version))))
        exts += _ext(EXT_PSK_MODES, _u8(b"\x01"))
        # Any 32 bytes are a valid X25519 public key; we never finish the handshake.
        share = struct.pack("!H", GROUP_X25519) + _u16(os.urandom(32))
        exts += _ext(EXT_KEY_SHARE, _u16(share))
    return exts


def sslv2_client_hello(ciphers: Iterable[int], challenge: bytes | None = None) -> bytes:
    """An SSL 2.0 CLIENT-HELLO offering only SSL 2.0 (version 0x0002)."""
    specs = b"".join(struct.pack("!I", c)[1:] for c in ciphers)
    chal = challenge if challenge is not None else os.urandom(16)
    msg = (b"\x01" + struct.pack("!HHHH", versions.SSL2, len(specs), 0, len(chal)) + specs + chal)
    return struct.pack("!H", 0x8000 | len(msg)) + msg


@dataclass(frozen=True)
class ParsedHello:
    """What a (test) server needs to know of a ClientHello."""

    version: int              # legacy client_version, or 0x0002 for SSLv2
    suites: tuple[int, ...]
    supported_versions: tuple[int, ...] = ()
    sni: str | None = None


def parse_client_hello(data: bytes) -> ParsedHello | None:
    """Inverse of the builders, for tests and the fake servers; None if not a hello."""
    try:
        if data[0] & 0x80:
            return _parse_sslv2_hello(data)
        if data[0] != 22 or data[5] != 1:
            return None
        body = data[9:]
        version = struct.unpack("!H", body[:2])[0]
        pos = 34
        pos += 1 + body[pos]
        n = struct.unpack("!H", body[pos:pos + 2])[0]
        suites = tuple(struct.unpack("!H", body[i:i + 2])[0] for i in range(pos + 2, pos + 2 + n, 2))
        pos += 2 + n
        pos += 1 + body[pos]
        sv, sni = _hello_extensions(body, pos)
        return ParsedHello(version, suites, sv, sni)
    except (IndexError, struct.error):
        return None


def _parse_sslv2_hello(data: bytes) -> ParsedHello | None:
    """An SSLv2 CLIENT-HELLO (two-byte header with the high bit set, three-byte specs)."""
    length = ((data[0] & 0x7F) << 8) | data[1]
    msg = data[2:2 + length]
    if msg[0] != 1:
        return None
    version, spec_len, _sid_len, _chal_len = struct.unpack("!HHHH", msg[1:9])
    specs = msg[9:9 + spec_len]
    return ParsedHello(version, tuple(int.from_bytes(specs[i:i + 3], "big")
                                      for i in range(0, len(specs), 3)))


def _hello_extensions(body: bytes, pos: int) -> tuple[tuple[int, ...], str | None]:
    """supported_versions and the server name from the extensions at ``pos``, if any."""
    sv: tuple[int, ...] = ()
    sni = None
    if pos + 2 <= len(body):
        end = pos + 2 + struct.unpack("!H", body[pos:pos + 2])[0]
        pos += 2
        while pos + 4 <= end:
            kind, size = struct.unpack("!HH", body[pos:pos + 4])
            ext = body[pos + 4:pos + 4 + size]
            if kind == EXT_SUPPORTED_VERSIONS:
                sv = tuple(struct.unpack("!H", ext[i:i + 2])[0] for i in range(1, 1 + ext[0], 2))
            elif kind == EXT_SERVER_NAME:
                sni = ext[5:].decode("ascii", "replace")
            pos += 4 + size
    return sv, sni
