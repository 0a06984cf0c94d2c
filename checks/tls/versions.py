"""Protocol versions as they appear on the wire and in reports."""

from __future__ import annotations

SSL2 = 0x0002
SSL3 = 0x0300
TLS10 = 0x0301
TLS11 = 0x0302
TLS12 = 0x0303
TLS13 = 0x0304

NAMES: dict[int, str] = {
    SSL2: "SSLv2",
    SSL3: "SSLv3",
    TLS10: "TLSv1.0",
    TLS11: "TLSv1.1",
    TLS12: "TLSv1.2",
    TLS13: "TLSv1.3",
}

ALL = (SSL2, SSL3, TLS10, TLS11, TLS12, TLS13)  # oldest first


def name(version: int) -> str:
    return NAMES.get(version, f"0x{version:04X}")
