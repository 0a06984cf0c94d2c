"""Certificate judgement without a network: each defect gives its own rule, a good chain none."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from checks.net import Deadline
from checks.tls import certificate
from checks.tls.api import TlsTarget
from checks.tls.judge import certificate_facts_and_issues
from imap_gate.severity import Severity
from tests.conftest import REPO
from tests.support import certs

NOW = certs.NOW


@pytest.fixture(scope="module")
def ca() -> certs.Issued:
    return certs.make_ca()


@pytest.fixture(scope="module")
def ca_file(ca: certs.Issued, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    path.write_bytes(ca.cert_pem())
    return str(path)


def der(issued: certs.Issued) -> bytes:
    return issued.cert.public_bytes(serialization.Encoding.DER)


def judge(chain: list[bytes], ca_file: str | None, sni: str = "imap.example.org",
          now: dt.datetime = NOW, expiry: int = 30) -> tuple[dict, dict[str, Severity | None]]:
    target = TlsTarget("127.0.0.1", 993, sni, False, 2.0, Deadline.after(5), now, ca_file, expiry)
    facts, issues = certificate_facts_and_issues(chain, target)
    return facts, {i.rule_id: i.severity for i in issues}


def test_good_leaf_from_the_manifest_ca_has_no_issue(ca: certs.Issued, ca_file: str) -> None:
    leaf = certs.make_leaf(ca, ["imap.example.org"])
    facts, rules = judge([der(leaf)], ca_file)
    assert rules == {}
    assert facts["trusted"] and facts["name_matches"]
    assert facts["key_type"] == "RSA" and facts["key_bits"] == 2048
    assert facts["signature_hash"] == "sha256" and 88 <= facts["days_left"] <= 90
    assert facts["san"] == ["DNS:imap.example.org"] and facts["issuer"] == "CN=imap-gate test CA"


def test_without_ca_file_the_test_ca_is_unknown(ca: certs.Issued) -> None:
    leaf = certs.make_leaf(ca, ["imap.example.org"])
    facts, rules = judge([der(leaf)], None)
    assert rules == {"CERT003": None}
    assert "unknown CA or missing intermediate" in facts["trust_error"]


@pytest.mark.parametrize(("kw", "expected"), [
    ({"days_before": 100, "days_after": -1}, {"CERT001": None}),
    ({"days_before": -2, "days_after": 90}, {"CERT002": None}),
    ({"bits": 1024}, {"CERT005": Severity.HIGH}),
    ({"hash_name": "sha1"}, {"CERT006": Severity.MEDIUM}),
    ({"hash_name": "md5"}, {"CERT006": Severity.CRITICAL}),
    ({"days_after": 20}, {"CERT007": Severity.LOW}),
    ({"days_after": 3}, {"CERT007": Severity.MEDIUM}),
    ({"key_kind": "ec"}, {}),
])
def test_each_defect_gives_its_own_rule(ca: certs.Issued, ca_file: str, kw: dict,
                                        expected: dict) -> None:
    leaf = certs.make_leaf(ca, ["imap.example.org"], **kw)
    _, rules = judge([der(leaf)], ca_file)
    assert rules == expected


def test_self_signed_and_wrong_host(ca: certs.Issued, ca_file: str) -> None:
    facts, rules = judge([der(certs.make_leaf(None, ["imap.example.org"]))], ca_file)
    assert rules == {"CERT003": None} and "self-signed" in facts["trust_error"]
    facts, rules = judge([der(certs.make_leaf(ca, ["other.example.org"]))], ca_file)
    assert rules == {"CERT004": None}
    assert facts["name_matches"] is False


def test_expiry_threshold_comes_from_the_target(ca: certs.Issued, ca_file: str) -> None:
    leaf = certs.make_leaf(ca, ["imap.example.org"], days_after=40)
    assert judge([der(leaf)], ca_file, expiry=30)[1] == {}
    assert judge([der(leaf)], ca_file, expiry=60)[1] == {"CERT007": Severity.LOW}
    # A fixed "now" moves the verdict: the same certificate, judged later, has expired.
    later = NOW + dt.timedelta(days=41)
    assert judge([der(leaf)], ca_file, now=later)[1] == {"CERT001": None}


def _intermediate(root: certs.Issued) -> certs.Issued:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "imap-gate intermediate")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(root.cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=400))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(root.key, hashes.SHA256()))
    return certs.Issued(cert, key)


def test_chain_through_an_intermediate_and_a_missing_one(ca: certs.Issued, ca_file: str) -> None:
    inter = _intermediate(ca)
    leaf = certs.make_leaf(inter, ["imap.example.org"])
    facts, rules = judge([der(leaf), der(inter)], ca_file)
    assert rules == {} and facts["chain_length"] == 2
    facts, rules = judge([der(leaf)], ca_file)
    assert rules == {"CERT003": None}
    assert "imap-gate intermediate" in facts["trust_error"]


def test_sha1_on_an_intermediate_counts_but_not_on_the_root(ca: certs.Issued, ca_file: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sha1 intermediate")])
    inter_cert = (x509.CertificateBuilder().subject_name(name).issuer_name(ca.cert.subject)
                  .public_key(key.public_key()).serial_number(x509.random_serial_number())
                  .not_valid_before(NOW - dt.timedelta(days=1))
                  .not_valid_after(NOW + dt.timedelta(days=400))
                  .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                  .sign(ca.key, hashes.SHA256()))
    inter_cert = certs._resign_legacy(inter_cert, ca.key, "sha1")
    inter = certs.Issued(inter_cert, key)
    leaf = certs.make_leaf(inter, ["imap.example.org"])
    _, rules = judge([der(leaf), der(inter)], ca_file)
    assert rules == {"CERT006": Severity.MEDIUM}


def test_garbage_certificate_is_untrusted_not_a_crash(ca_file: str) -> None:
    facts, rules = judge([b"\x30\x03\x02\x01\x00"], ca_file)
    assert rules == {"CERT003": None} and "does not parse" in facts["error"]


@pytest.mark.parametrize(("pattern", "name", "ok"), [
    ("imap.example.org", "IMAP.Example.org.", True),
    ("*.example.org", "imap.example.org", True),
    ("*.example.org", "a.b.example.org", False),
    ("*.example.org", "example.org", False),
    ("im*.example.org", "imap.example.org", False),
    ("*.org", "example.org", False),
    ("imap.*.org", "imap.example.org", False),
])
def test_rfc6125_dns_matching(pattern: str, name: str, ok: bool) -> None:
    assert certificate._dns_match(pattern, certificate._norm(name)) is ok


def test_ip_and_cn_fallback(ca: certs.Issued) -> None:
    ip_leaf = certs.make_leaf(ca, ["127.0.0.1"], cn="127.0.0.1")
    assert certificate.name_matches(ip_leaf.cert, "127.0.0.1")
    assert not certificate.name_matches(ip_leaf.cert, "127.0.0.2")
    # A SAN with a DNS name: the CN is never consulted.
    leaf = certs.make_leaf(ca, ["imap.example.org"], cn="legacy.example.org")
    assert not certificate.name_matches(leaf.cert, "legacy.example.org")
    # No SAN at all: the CN is the fallback RFC 6125 allows, for DNS names only.
    cn_only = certs.make_leaf(ca, [], cn="legacy.example.org")
    assert certificate.name_matches(cn_only.cert, "legacy.example.org")
    cn_ip = certs.make_leaf(ca, [], cn="127.0.0.1")
    assert not certificate.name_matches(cn_ip.cert, "127.0.0.1")


def test_weak_key_scale() -> None:
    assert certificate.weak_key_severity("RSA", 512) == "critical"
    assert certificate.weak_key_severity("RSA", 1024) == "high"
    assert certificate.weak_key_severity("RSA", 1536) == "medium"
    assert certificate.weak_key_severity("RSA", 2048) is None
    assert certificate.weak_key_severity("EC-secp192r1", 192) == "medium"
    assert certificate.weak_key_severity("EC-secp256r1", 256) is None


def test_system_store_is_loaded() -> None:
    store = certificate.trust_store(None)
    if certificate.system_bundle_path() is None:
        pytest.skip("no system CA bundle")
    assert len(store.ders) > 50 and Path(store.sources[0]).is_file()


RACE = """
import ssl, sys, threading
from pathlib import Path
from checks.tls import certificate
from tests.support import hostile
files = hostile.negative_serial_cert(Path(sys.argv[1]))
der = ssl.PEM_cert_to_DER_cert(files.cert.read_text())
def parse():
    for _ in range(300):
        certificate.load_chain([der])
        certificate._read_pem_file(str(files.cert))
sys.setswitchinterval(1e-6)      # threads switch as often as they do under a loaded fleet run
threads = [threading.Thread(target=parse) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
"""


def test_parsing_odd_certificates_in_threads_prints_no_warning(tmp_path: Path) -> None:
    """Probe threads parse certificates at once. A warning filter that is swapped in and out
    around each parse (catch_warnings) leaks other threads' warnings onto the run's stderr,
    which users read as an error of the tool."""
    for _ in range(6):     # the old code leaked in about half of such runs
        proc = subprocess.run([sys.executable, "-c", RACE, str(tmp_path)],
                              cwd=REPO, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "Warning" not in proc.stderr, proc.stderr[-2000:]
