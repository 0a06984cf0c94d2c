"""The probe and the drift rules against real Dovecot 2.4 servers (issue 16), the same
postures as for 2.3: ssl required, cleartext allowed, legacy TLS, weak ciphers, trusted
networks, same-IP; and DRIFT001 between a committed 2.4 file and the live 2.4 server.

The servers listen on 127.0.0.2 and the probe comes from 127.0.0.1 (Dovecot treats a client
from its own address as secured; the same-IP test does exactly that on purpose)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import dovecot24, rootfs24
from tests.support import probe_manifest as pm

pytestmark = pytest.mark.dovecot
NOTE_13 = "IMAP013"


@pytest.fixture
def start24() -> Iterator[Callable[..., dovecot24.Dovecot24]]:
    root = rootfs24.require()
    started: list[dovecot24.Dovecot24] = []

    def factory(settings: str = "", **kw: object) -> dovecot24.Dovecot24:
        d = dovecot24.start(root, settings, **kw)  # type: ignore[arg-type]
        started.append(d)
        return d

    try:
        yield factory
    finally:
        for d in started:
            d.stop()


def _manifest(tmp_path: Path, d: dovecot24.Dovecot24, source: str = dovecot24.CLIENT_ADDR,
              conf: str | None = None) -> Path:
    root = pm.write(tmp_path / "m", [(d.imap_port, "imap"), (d.imaps_port, "imaps")],
                    host=dovecot24.SERVER_ADDR, source=source)
    if conf is not None:
        (root / "deploy").mkdir(exist_ok=True)
        (root / "deploy" / "dovecot.conf").write_text(conf)
        with (root / "imap-gate.yml").open("a") as fh:
            fh.write("    dovecot: [deploy/dovecot.conf]\n")
    return root


def _rules(res) -> set[str]:  # type: ignore[no-untyped-def]
    return {f["rule_id"] for f in res.json["findings"]}


def test_24_ssl_required(start24, run_cli, tmp_path) -> None:
    d = start24("ssl = required")
    res = run_cli("--root", str(_manifest(tmp_path, d)), "--only", "probe")
    assert res.code == 0, res.stdout + res.stderr
    assert _rules(res) <= {NOTE_13, "IMAP006"}
    facts = res.json["endpoints"][f"mail:{d.imap_port}"]
    assert facts["starttls"] == "ok" and facts["auth_plain"] == "refused"
    assert "LOGINDISABLED" in facts["caps_before_tls"]


def test_24_cleartext_allowed(start24, run_cli, tmp_path) -> None:
    d = start24("auth_allow_cleartext = yes")
    res = run_cli("--root", str(_manifest(tmp_path, d)), "--only", "probe")
    assert res.code == 1
    f = [x for x in res.json["findings"] if x["rule_id"] == "IMAP004"]
    assert [x["port"] for x in f] == [d.imap_port] and "+" in f[0]["evidence"]
    assert res.json["endpoints"][f"mail:{d.imap_port}"]["auth_plain"] == "continuation"


def test_24_default_refuses_cleartext(start24, run_cli, tmp_path) -> None:
    """2.4's auth_allow_cleartext defaults to no (2.3's disable_plaintext_auth = yes)."""
    d = start24("")
    res = run_cli("--root", str(_manifest(tmp_path, d)), "--only", "probe")
    assert "IMAP004" not in _rules(res)


def test_24_legacy_tls(start24, run_cli, tmp_path) -> None:
    d = start24("ssl = required\nssl_min_protocol = TLSv1\nssl_cipher_list = DEFAULT:@SECLEVEL=0")
    res = run_cli("--root", str(_manifest(tmp_path, d)), "--only", "probe")
    assert res.code == 1
    tls002 = {(f["port"], f["message"]) for f in res.json["findings"] if f["rule_id"] == "TLS002"}
    assert {p for p, _ in tls002} == {d.imap_port, d.imaps_port}
    assert any("TLSv1.0" in m for _, m in tls002)


def test_24_weak_ciphers(start24, run_cli, tmp_path) -> None:
    d = start24("ssl = required\nssl_cipher_list = ALL:@SECLEVEL=0")
    res = run_cli("--root", str(_manifest(tmp_path, d)), "--only", "probe")
    assert res.code == 1
    assert {f["port"] for f in res.json["findings"] if f["rule_id"] == "TLS004"} == {
        d.imap_port, d.imaps_port}


def test_24_trusted_networks_under_ssl_required_still_need_tls(start24, run_cli,
                                                               tmp_path) -> None:
    """2.4: a trusted client (127.0.0.1 here) sees LOGINDISABLED under ssl = required; 2.3
    would let it log in in clear."""
    d = start24("ssl = required\nlogin_trusted_networks = 127.0.0.0/8")
    res = run_cli("--root", str(_manifest(tmp_path, d)), "--only", "probe")
    assert "IMAP004" not in _rules(res)
    facts = res.json["endpoints"][f"mail:{d.imap_port}"]
    assert "LOGINDISABLED" in facts["caps_before_tls"]


def test_24_trusted_networks_without_ssl_required_allow_cleartext(start24, run_cli,
                                                                   tmp_path) -> None:
    d = start24("ssl = yes\nlogin_trusted_networks = 127.0.0.0/8")
    res = run_cli("--root", str(_manifest(tmp_path, d)), "--only", "probe")
    assert [f["port"] for f in res.json["findings"] if f["rule_id"] == "IMAP004"] == [
        d.imap_port]


def test_24_same_ip_client_is_secured(start24, run_cli, tmp_path) -> None:
    """A client from the server's own address logs in in clear, even under ssl = required."""
    d = start24("ssl = required")
    res = run_cli("--root", str(_manifest(tmp_path, d, source=dovecot24.SERVER_ADDR)),
                  "--only", "probe")
    assert "IMAP004" in _rules(res) and NOTE_13 in _rules(res)


COMMITTED_24 = """dovecot_config_version = 2.4.1
dovecot_storage_version = 2.4.1
protocols = imap
ssl = required
auth_allow_cleartext = no
ssl_min_protocol = TLSv1.2
"""


def test_24_drift_committed_forbids_cleartext_live_allows_it(start24, run_cli,
                                                            tmp_path) -> None:
    d = start24("ssl = yes\nauth_allow_cleartext = yes")
    res = run_cli("--root", str(_manifest(tmp_path, d, conf=COMMITTED_24)))
    drift = [f for f in res.json["findings"] if f["rule_id"] == "DRIFT001"]
    assert [(f["port"], f["path"], f["line"]) for f in drift] == [
        (d.imap_port, "deploy/dovecot.conf", 4)]
    assert "forbids cleartext login" in drift[0]["message"]


def test_24_drift_committed_modern_tls_live_tls10(start24, run_cli, tmp_path) -> None:
    d = start24("ssl = required\nssl_min_protocol = TLSv1\nssl_cipher_list = DEFAULT:@SECLEVEL=0")
    res = run_cli("--root", str(_manifest(tmp_path, d, conf=COMMITTED_24)))
    drift = {(f["port"], f["line"]) for f in res.json["findings"] if f["rule_id"] == "DRIFT001"}
    assert drift == {(d.imap_port, 6), (d.imaps_port, 6)}


def test_24_matching_committed_file_gives_no_drift(start24, run_cli, tmp_path) -> None:
    d = start24("ssl = required\nauth_allow_cleartext = no\nssl_min_protocol = TLSv1.2")
    res = run_cli("--root", str(_manifest(tmp_path, d, conf=COMMITTED_24)))
    assert not [f for f in res.json["findings"] if f["rule_id"].startswith("DRIFT")]
