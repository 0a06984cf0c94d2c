"""ClientHello builder and reply parser, on recorded real replies and on their
truncated, corrupted and random variants: nothing but our own errors escapes."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks.net import ProbeError
from checks.tls import clienthello, records, suites, versions
from checks.tls.records import MalformedReply, parse_reply_bytes
from tests.support import fuzz

FIX = Path(__file__).parent.parent / "fixtures" / "tls"


def fixture(name: str) -> bytes:
    return (FIX / name).read_bytes()


# --- ClientHello builder ---------------------------------------------------------------------

def test_tls12_hello_is_one_well_formed_record() -> None:
    data = clienthello.client_hello(versions.TLS12, suites.LEGACY, "mail.example.org")
    kind, rec_version, length = struct.unpack("!BHH", data[:5])
    assert (kind, rec_version, length) == (22, versions.TLS10, len(data) - 5)
    assert data[5] == 1 and int.from_bytes(data[6:9], "big") == len(data) - 9
    parsed = clienthello.parse_client_hello(data)
    assert parsed is not None
    assert parsed.version == versions.TLS12
    assert parsed.suites[:-1] == suites.LEGACY and parsed.suites[-1] == 0x00FF
    assert parsed.sni == "mail.example.org"
    assert parsed.supported_versions == ()


def test_tls13_hello_offers_13_then_the_legacy_version() -> None:
    data = clienthello.client_hello(versions.TLS12, suites.TLS13 + suites.LEGACY, "x.example",
                                    tls13=True)
    parsed = clienthello.parse_client_hello(data)
    assert parsed is not None
    assert parsed.supported_versions == (versions.TLS13, versions.TLS12)
    assert parsed.suites[:len(suites.TLS13)] == suites.TLS13


def test_no_sni_for_ip_literals_and_padding_avoids_the_256_511_range() -> None:
    for host in ("127.0.0.1", "::1", ""):
        parsed = clienthello.parse_client_hello(clienthello.client_hello(versions.TLS12, (0x002F,), host))
        assert parsed is not None and parsed.sni is None
    for offered in ((0x002F,), suites.FORWARD_SECRET, suites.LEGACY):
        size = len(clienthello.client_hello(versions.TLS12, offered, "a.example")) - 5
        assert not 256 <= size < 512, size


def test_sslv3_hello_has_no_extensions_and_an_sslv3_record() -> None:
    data = clienthello.client_hello(versions.SSL3, suites.LEGACY, "a.example")
    assert data[1:3] == b"\x03\x00"
    body_end = 9 + 2 + 32 + 1 + 2 + 2 * (len(suites.LEGACY) + 1) + 2
    assert len(data) == body_end


def test_sslv2_hello_layout() -> None:
    data = clienthello.sslv2_client_hello(suites.SSL2_CIPHERS, challenge=bytes(16))
    assert data[0] & 0x80 and ((data[0] & 0x7F) << 8 | data[1]) == len(data) - 2
    parsed = clienthello.parse_client_hello(data)
    assert parsed is not None and parsed.version == versions.SSL2
    assert set(parsed.suites) == set(suites.SSL2_CIPHERS)


def test_suite_categories() -> None:
    cat = {s.name: s.weak for s in suites.SUITES.values()}
    assert cat["TLS_RSA_EXPORT_WITH_RC4_40_MD5"] == suites.NULL_ANON_EXPORT
    assert cat["TLS_DH_anon_WITH_AES_128_CBC_SHA"] == suites.NULL_ANON_EXPORT
    assert cat["TLS_RSA_WITH_NULL_SHA256"] == suites.NULL_ANON_EXPORT
    assert cat["TLS_RSA_WITH_RC4_128_SHA"] == suites.RC4_DES_MD5
    assert cat["TLS_RSA_WITH_DES_CBC_SHA"] == suites.RC4_DES_MD5
    assert cat["TLS_RSA_WITH_3DES_EDE_CBC_SHA"] == suites.TRIPLE_DES
    assert cat["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"] is None
    assert not set(suites.FORWARD_SECRET) & set(suites.STATIC_RSA)
    assert all(suites.SUITES[c].kx in ("dhe", "ecdhe") for c in suites.FORWARD_SECRET)


# --- recorded replies ------------------------------------------------------------------------

def test_recorded_tls13_server_hello() -> None:
    reply = parse_reply_bytes(fixture("modern_tls13.bin"))
    assert reply.kind == "server_hello" and reply.hello is not None
    assert reply.hello.legacy_version == versions.TLS12
    assert reply.hello.version == versions.TLS13
    assert reply.hello.cipher in suites.TLS13
    assert reply.certificates is None  # encrypted in 1.3


def test_recorded_tls12_flight_carries_the_certificate() -> None:
    from cryptography import x509

    reply = parse_reply_bytes(fixture("modern_tls12_flight.bin"))
    assert reply.kind == "server_hello" and reply.hello is not None
    assert reply.hello.version == versions.TLS12
    assert suites.SUITES[reply.hello.cipher].forward_secret
    assert reply.certificates and len(reply.certificates) == 1
    cert = x509.load_der_x509_certificate(reply.certificates[0])
    ca = x509.load_pem_x509_certificate((FIX / "ca.pem").read_bytes())
    assert cert.issuer == ca.subject


def test_recorded_legacy_replies() -> None:
    reply = parse_reply_bytes(fixture("legacy_tls10_flight.bin"))
    assert reply.hello is not None and reply.hello.version == versions.TLS10
    null = parse_reply_bytes(fixture("legacy_null_md5.bin"))
    assert null.hello is not None
    assert suites.SUITES[null.hello.cipher].weak == suites.NULL_ANON_EXPORT
    # Without the certificates wanted, the parser stops right after the ServerHello.
    short = parse_reply_bytes(fixture("legacy_tls10_flight.bin"), want_certificates=False)
    assert short.certificates is None and short.hello == reply.hello


@pytest.mark.parametrize(("name", "alert"), [("openssl_tls10_alert.bin", "protocol_version"),
                                             ("openssl_3des_alert.bin", "handshake_failure"),
                                             ("openssl_sslv2_reply.bin", "protocol_version")])
def test_recorded_alerts(name: str, alert: str) -> None:
    reply = parse_reply_bytes(fixture(name))
    assert reply.kind == "alert" and reply.alert_name == alert


def test_warning_alert_before_the_server_hello_is_not_a_refusal() -> None:
    warning = b"\x15\x03\x03\x00\x02\x01\x70"  # warning unrecognized_name
    reply = parse_reply_bytes(warning + fixture("modern_tls12_flight.bin"))
    assert reply.kind == "server_hello" and reply.certificates
    fatal = b"\x15\x03\x03\x00\x02\x02\x28"
    assert parse_reply_bytes(fatal + fixture("modern_tls12_flight.bin")).kind == "alert"


def test_hang_up_before_any_byte_is_an_answer() -> None:
    assert fixture("modern_tls10_closed.bin") == b""
    assert parse_reply_bytes(b"").kind == "closed"


def _outcome(data: bytes) -> str:
    try:
        return parse_reply_bytes(data).kind
    except ProbeError as exc:
        return type(exc).__name__


@pytest.mark.parametrize("name", ["modern_tls13.bin", "modern_tls12_flight.bin",
                                  "legacy_null_md5.bin", "openssl_3des_alert.bin"])
def test_every_truncation_is_handled(name: str) -> None:
    data = fixture(name)
    full = parse_reply_bytes(data)
    hello_end = 5 + 4 + int.from_bytes(data[6:9], "big")
    for cut in range(0, len(data), 1 if len(data) < 200 else 7):
        outcome = _outcome(data[:cut])
        if cut == 0:
            assert outcome == "closed"
        elif cut < min(hello_end, len(data)):
            assert outcome in ("Closed", "MalformedReply"), (cut, outcome)
        else:  # the ServerHello is whole: a cut certificate flight still yields the version
            assert outcome == full.kind, (cut, outcome)


def test_corrupted_bytes_are_malformed_not_crashes() -> None:
    data = fixture("modern_tls12_flight.bin")
    for pos in range(0, 120):
        for value in (0x00, 0xFF, data[pos] ^ 0x55):
            mutated = data[:pos] + bytes([value]) + data[pos + 1:]
            assert _outcome(mutated) in ("server_hello", "alert", "sslv2", "closed", "Closed",
                                         "MalformedReply", "TooLong")


def test_specific_malformations() -> None:
    with pytest.raises(MalformedReply):
        parse_reply_bytes(b"* OK IMAP4rev1 ready\r\n")
    with pytest.raises(MalformedReply):  # record length beyond the TLS limit
        parse_reply_bytes(b"\x16\x03\x03\xff\xff" + bytes(64))
    with pytest.raises(MalformedReply):  # application data before any ServerHello
        parse_reply_bytes(b"\x17\x03\x03\x00\x02ab")
    with pytest.raises(MalformedReply):  # a Certificate message first
        parse_reply_bytes(b"\x16\x03\x03\x00\x08\x0b\x00\x00\x04\x00\x00\x00\x00")
    with pytest.raises(MalformedReply):
        records.parse_certificate_list(b"\x00\x00\x05\x00\x00\x09ab")
    with pytest.raises(MalformedReply):
        records.parse_server_hello(bytes(10))


# --- fuzz ------------------------------------------------------------------------------------

@settings(max_examples=fuzz.examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_fuzz_random_replies(data: bytes) -> None:
    _outcome(data)  # raises only if something other than ProbeError escapes


_RECORD = st.builds(
    lambda kind, body: bytes([kind, 3, 3]) + len(body).to_bytes(2, "big") + body,
    st.sampled_from([20, 21, 22, 23]), st.binary(max_size=200))


@settings(max_examples=fuzz.examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_RECORD, max_size=4), st.binary(max_size=16))
def test_fuzz_record_shaped_replies(recs: list[bytes], tail: bytes) -> None:
    _outcome(b"".join(recs) + tail)


@settings(max_examples=fuzz.examples(200), deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_message_parsers(body: bytes) -> None:
    for parse in (records.parse_server_hello, records.parse_certificate_list,
                  records.parse_sslv2_server_hello):
        try:
            parse(body)
        except MalformedReply:
            pass


@settings(max_examples=fuzz.examples(100), deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_client_hello_parser_never_raises(data: bytes) -> None:
    clienthello.parse_client_hello(data)
