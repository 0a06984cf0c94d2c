"""Real Dovecot on loopback, on 993 and on 143 after STARTTLS: the verdicts come from the wire."""

from __future__ import annotations

import datetime as dt
import socket
import time
from collections.abc import Callable

import pytest

from checks.net import Deadline, Reader, send_all
from checks.tls.api import TlsAssessment, TlsTarget, assess
from imap_gate.severity import Severity
from tests.support import certs
from tests.support import dovecot as dovecot_support
from tests.support.dovecot import CLIENT_ADDR, SERVER_ADDR, Dovecot

pytestmark = pytest.mark.dovecot

# Without a stats writer Dovecot stops in about a second instead of five (imap-login
# otherwise waits out its stats handshake timeout while the master shuts down).
QUICK_STOP = "stats_writer_socket_path =\n"
MODERN = QUICK_STOP + "ssl_min_protocol = TLSv1.2"


def implicit_opener(port: int) -> Callable[[Deadline], socket.socket]:
    def opener(deadline: Deadline) -> socket.socket:
        sock = socket.socket()
        sock.bind((CLIENT_ADDR, 0))
        deadline.arm(sock)
        sock.connect((SERVER_ADDR, port))
        return sock

    return opener


def starttls_opener(port: int) -> Callable[[Deadline], socket.socket]:
    """The minimal IMAP dialog the probe engine performs before handing over the socket."""

    def opener(deadline: Deadline) -> socket.socket:
        sock = implicit_opener(port)(deadline)
        reader = Reader(sock)
        assert reader.readline(deadline).startswith(b"* OK")
        send_all(sock, b"a STARTTLS\r\n", deadline)
        while not (line := reader.readline(deadline)).startswith(b"a "):
            pass
        assert line.startswith(b"a OK"), line
        assert reader.pending() == b""
        return sock

    return opener


def judge(d: Dovecot, starttls: bool, sni: str = "localhost",
          ca_file: str | None = "default") -> tuple[TlsAssessment, float]:
    port = d.imap_port if starttls else d.imaps_port
    opener = starttls_opener(port) if starttls else implicit_opener(port)
    target = TlsTarget(SERVER_ADDR, port, sni, starttls, 3.0, Deadline.after(20),
                       dt.datetime.now(dt.UTC), str(d.ca) if ca_file == "default" else ca_file)
    start = time.monotonic()
    result = assess(target, opener)
    return result, time.monotonic() - start


def rules(result: TlsAssessment) -> dict[str, list[tuple[Severity | None, str]]]:
    out: dict[str, list[tuple[Severity | None, str]]] = {}
    for i in result.issues:
        out.setdefault(i.rule_id, []).append((i.severity, i.detail))
    return out


@pytest.fixture(scope="module")
def ca() -> certs.Issued:
    return certs.make_ca()


def test_modern_endpoint_has_no_tls_or_cert_issue(start_dovecot, ca) -> None:
    d = start_dovecot(MODERN, ca=ca, leaf=certs.make_leaf(ca, ["localhost", "127.0.0.1"]))
    for starttls in (False, True):
        result, elapsed = judge(d, starttls)
        assert result.incomplete is None, result.incomplete
        assert result.issues == []
        facts = result.facts
        assert facts["versions_accepted"] == ["TLSv1.2", "TLSv1.3"]
        assert facts["suites"]["forward_secrecy"]
        assert facts["certificate"]["trusted"] and facts["certificate"]["name_matches"]
        assert result.handshakes <= 9
        assert elapsed < 1.0, elapsed
    # The IP literal is a name too: the leaf carries IP:127.0.0.1.
    result, _ = judge(d, False, sni="127.0.0.1")
    assert result.issues == []


def test_legacy_endpoint_findings_come_from_the_wire(start_dovecot, ca) -> None:
    d = start_dovecot(QUICK_STOP + "ssl_min_protocol = TLSv1\nssl_cipher_list = ALL:eNULL:@SECLEVEL=0",
                      ca=ca, leaf=certs.make_leaf(ca, ["localhost"]))
    for starttls in (False, True):
        result, _ = judge(d, starttls)
        assert result.incomplete is None
        found = rules(result)
        assert sorted(found["TLS002"], key=str) == [(Severity.MEDIUM, "version=TLSv1.0"),
                                                     (Severity.MEDIUM, "version=TLSv1.1")]
        # Debian's OpenSSL still serves NULL and anonymous suites at @SECLEVEL=0.
        assert found["TLS004"] == [(Severity.CRITICAL, "category=null_anon_export")]
        assert set(found) == {"TLS002", "TLS004"}
        assert "ServerHello version=TLSv1.0" in {i.detail: i.evidence for i in result.issues}[
            "version=TLSv1.0"]


def test_static_rsa_suites_but_tls13_keeps_forward_secrecy(start_dovecot, ca) -> None:
    d = start_dovecot(MODERN + "\nssl_cipher_list = AES128-SHA:AES256-SHA", ca=ca,
                      leaf=certs.make_leaf(ca, ["localhost"]))
    result, _ = judge(d, False)
    assert result.issues == []
    assert result.facts["suites"]["static_rsa"] == "TLS_RSA_WITH_AES_128_CBC_SHA"
    assert result.facts["suites"]["forward_secrecy"] is None


def test_tls13_only_fetches_the_chain_with_the_ssl_module(start_dovecot, ca) -> None:
    d = start_dovecot(QUICK_STOP + "ssl_min_protocol = TLSv1.3", ca=ca,
                      leaf=certs.make_leaf(ca, ["localhost"]))
    for starttls in (False, True):
        result, _ = judge(d, starttls)
        assert result.issues == [] and result.incomplete is None
        assert result.facts["versions_accepted"] == ["TLSv1.3"]
        assert result.facts["certificate"]["source"] == "ssl module handshake (TLSv1.3)"
        assert result.facts["certificate"]["subject"] == "CN=localhost"


# One Dovecot serves every bad leaf, each under its own SNI name (``local_name``), so the
# cases cost one start instead of seven. OpenSSL 3 refuses to load the SHA-1 and 1024-bit
# leaves at its default security level, hence @SECLEVEL=0 (no weak suite is compiled in).
CASES = {
    "expired.test": ({"days_before": 100, "days_after": -1}, {"CERT001": None}),
    "not-yet-valid.test": ({"days_before": -2}, {"CERT002": None}),
    "self-signed.test": ({"ca": None}, {"CERT003": None}),
    "wrong-host.test": ({"names": ["other.example.org"]}, {"CERT004": None}),
    "rsa-1024.test": ({"bits": 1024}, {"CERT005": Severity.HIGH}),
    "sha1.test": ({"hash_name": "sha1"}, {"CERT006": Severity.MEDIUM}),
    "expiring.test": ({"days_after": 5}, {"CERT007": Severity.MEDIUM}),
    "good.test": ({}, {}),
}


@pytest.fixture(scope="module")
def bad_leaves(ca, tmp_path_factory: pytest.TempPathFactory):
    if not dovecot_support.available():
        pytest.skip("dovecot is not installed (apt-get install dovecot-imapd)")
    work = tmp_path_factory.mktemp("dovecot-certs")
    blocks = []
    for name, (leaf_kw, _) in CASES.items():
        kw = {"names": [name], **leaf_kw}
        issuer = kw.pop("ca", ca)
        leaf = certs.make_leaf(issuer, kw.pop("names"), **kw)
        cert, key = leaf.write(work / "leaves", name)
        blocks.append(f"local_name {name} {{\n  ssl_cert = <{cert}\n  ssl_key = <{key}\n}}")
    settings = MODERN + "\nssl_cipher_list = DEFAULT:@SECLEVEL=0\n" + "\n".join(blocks)
    d = dovecot_support.start(work / "d", settings, ca=ca,
                              leaf=certs.make_leaf(ca, ["localhost"]))
    yield d
    d.stop()


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("starttls", [False, True], ids=["993", "143-starttls"])
def test_each_bad_certificate_gives_its_rule(bad_leaves, name: str, starttls: bool) -> None:
    expected = CASES[name][1]
    result, elapsed = judge(bad_leaves, starttls, sni=name)
    assert result.incomplete is None
    assert result.facts["certificate"]["san"][0] in (f"DNS:{name}", "DNS:other.example.org")
    assert {i.rule_id: i.severity for i in result.issues} == expected, result.issues
    assert elapsed < 1.0


def test_anonymous_suites_found_when_the_server_breaks_on_one_of_them(start_dovecot, ca) -> None:
    """Dovecot without ssl_dh picks a DH_anon suite and then hangs up without an alert;
    the ECDH_anon suites it can complete must still be found (sslyze, testssl.sh and nmap
    all report them)."""
    d = start_dovecot(QUICK_STOP + "ssl_min_protocol = TLSv1\nssl_cipher_list = ALL:@SECLEVEL=0",
                      ca=ca, leaf=certs.make_leaf(ca, ["localhost"]))
    result, _ = judge(d, starttls=False)
    assert result.incomplete is None
    found = rules(result)
    assert found["TLS004"] == [(Severity.CRITICAL, "category=null_anon_export")]
    assert "anon" in {i.detail: i.evidence for i in result.issues}["category=null_anon_export"]
    assert result.handshakes <= 15
