"""The probe against a second real server: GNU Mailutils imap4d (GnuTLS), started by the tests
on loopback high ports with its own config. It lies in its capability list (every GNU SASL
mechanism, ANONYMOUS included), refuses LOGIN before STARTTLS without LOGINDISABLED, and
serves TLS 1.0/1.1 and 3DES, which Debian 12's OpenSSL will not."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import imap4d
from tests.support import probe_manifest as pm

pytestmark = pytest.mark.skipif(not imap4d.available(), reason="mailutils-imap4d not installed")


@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    started: list[imap4d.Imap4d] = []

    def factory(mode: str, **kw: object) -> imap4d.Imap4d:
        d = imap4d.start(tmp_path / f"imap4d{len(started)}", mode, **kw)  # type: ignore[arg-type]
        started.append(d)
        return d

    yield factory
    for d in started:
        d.stop()


def _ca(tmp_path: Path, d: imap4d.Imap4d) -> Path:
    path = tmp_path / f"ca{d.port}.pem"
    path.write_bytes(d.ca.cert_pem())
    return path


def test_tls_required_starttls_port(server, run_cli, tmp_path: Path) -> None:
    d = server("required")
    root = pm.write(tmp_path / "m", [(d.port, "imap")], timeout=3.0, ca=[_ca(tmp_path, d)])
    res = run_cli("--root", str(root))
    facts = res.json["endpoints"][f"mail:{d.port}"]
    assert "XTLSREQUIRED" in facts["caps_before_tls"]
    assert "LOGINDISABLED" not in facts["caps_before_tls"]
    assert facts["starttls"] == "ok" and facts["auth_plain"] == "refused"
    # refuses the login, but the password is exposed on the way: medium, not high
    [f] = [x for x in res.json["findings"] if x["rule_id"] == "IMAP004"]
    assert f["severity"] == "medium" and "refuses" in f["message"]
    # ANONYMOUS is listed inside TLS but does not work: a misleading list, not IMAP009 medium
    assert facts["anonymous"] == "refused"
    rules = pm.rules_of(res.json)
    assert ("IMAP015", d.port) in rules
    assert not [x for x in res.json["findings"]
                if x["rule_id"] == "IMAP009" and "ANONYMOUS" in x["message"]]
    assert "LOGIN" not in facts["commands"]


def test_tls_connection_port_weak_versions_and_3des(server, run_cli, tmp_path: Path) -> None:
    d = server("connection")
    root = pm.write(tmp_path / "m", [(d.port, "imaps")], timeout=3.0, ca=[_ca(tmp_path, d)],
                    expect={d.port: "open"})
    res = run_cli("--root", str(root))
    facts = res.json["endpoints"][f"mail:{d.port}"]
    tls = facts["tls"]
    assert {"TLSv1.0", "TLSv1.1"} <= set(tls["versions_accepted"]), tls
    assert tls["handshakes"] + facts["handshakes"] <= 15
    found = {(x["rule_id"], x["severity"]) for x in res.json["findings"]}
    assert ("TLS002", "medium") in found                       # TLS 1.0/1.1 from GnuTLS
    weak = [x for x in res.json["findings"] if x["rule_id"] == "TLS004"]
    assert weak and any("3DES" in x["evidence"] or "3DES" in x["message"] for x in weak), weak
    assert facts["anonymous"] == "refused" and ("IMAP015", d.port) in pm.rules_of(res.json)
    assert not [x for x in res.json["findings"]
                if x["rule_id"] == "IMAP009" and "ANONYMOUS" in x["message"]]


def test_modern_priorities_give_a_clean_993(server, run_cli, tmp_path: Path) -> None:
    """With a modern priority string imap4d on 993 fails the gate on nothing: its lying
    capability list is low (IMAP015, CRAM-MD5/DIGEST-MD5 IMAP009 low)."""
    d = server("connection", priorities="NORMAL:-VERS-TLS1.0:-VERS-TLS1.1:-3DES-CBC")
    root = pm.write(tmp_path / "m", [(d.port, "imaps")], timeout=3.0, ca=[_ca(tmp_path, d)],
                    expect={d.port: "open"})
    res = run_cli("--root", str(root))
    severe = [x for x in res.json["findings"] if x["severity"] in ("critical", "high", "medium")]
    assert res.code == 0 and severe == [], severe
