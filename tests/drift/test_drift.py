"""Declared versus live, against real Dovecot instances whose running configuration differs
from the one committed to the repository."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import dovecot
from tests.support import probe_manifest as pm

SECURE_CONF = """# the committed, reviewed configuration
protocols = imap
ssl = required
disable_plaintext_auth = yes
ssl_min_protocol = TLSv1.2
"""
LAX_CONF = """# the committed configuration allows cleartext login
protocols = imap
ssl = yes
disable_plaintext_auth = no
"""
OPEN_143 = """*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -p tcp --dport 143 -j ACCEPT
-A INPUT -p tcp --dport 993 -j ACCEPT
COMMIT
"""
CLOSED_143 = """*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp --dport 993 -j ACCEPT
COMMIT
"""


def repo(tmp_path: Path, d: dovecot.Dovecot, conf: str, firewall: str | None = None,
         host: str = dovecot.SERVER_ADDR, source: str = dovecot.CLIENT_ADDR) -> Path:
    """A manifest whose target names the committed files. The committed config says 143/993;
    the test instance listens elsewhere, so the endpoints give their real ports."""
    root = pm.write(tmp_path / "repo", [(d.imap_port or 143, "imap"), (d.imaps_port, "imaps")],
                    host=host, source=source)
    (root / "deploy").mkdir(exist_ok=True)
    (root / "deploy" / "dovecot.conf").write_text(conf)
    text = (root / "imap-gate.yml").read_text()
    text += "    dovecot: [deploy/dovecot.conf]\n"
    if firewall is not None:
        (root / "deploy" / "rules.v4").write_text(firewall)
        text += "    firewall: [deploy/rules.v4]\n"
    (root / "imap-gate.yml").write_text(text)
    return root


def drift(res) -> list[dict]:  # type: ignore[no-untyped-def]
    return [f for f in res.json["findings"] if f["rule_id"].startswith("DRIFT")]


def test_config_forbids_cleartext_but_server_allows_it(start_dovecot, run_cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = start_dovecot("ssl = yes\ndisable_plaintext_auth = no\n")
    res = run_cli("--root", str(repo(tmp_path, d, SECURE_CONF)))
    assert res.code == 1
    found = drift(res)
    # the deciding line: ssl = required makes cleartext login impossible
    assert [(f["rule_id"], f["port"], f["path"], f["line"]) for f in found] == [
        ("DRIFT001", d.imap_port, "deploy/dovecot.conf", 3)]
    assert "forbids cleartext login" in found[0]["message"]
    related = found[0]["related"]
    assert related[0]["path"] == "imap-gate.yml"
    sarif_result = next(r for r in res.sarif["runs"][0]["results"] if r["ruleId"] == "DRIFT001")
    assert sarif_result["relatedLocations"][0]["physicalLocation"]["artifactLocation"]["uri"] == \
        "imap-gate.yml"


def test_config_allows_cleartext_but_server_refuses_it(start_dovecot, run_cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = start_dovecot("ssl = required\n")
    res = run_cli("--root", str(repo(tmp_path, d, LAX_CONF)))
    found = drift(res)
    assert [(f["rule_id"], f["port"]) for f in found] == [("DRIFT001", d.imap_port)]
    assert "refuses it" in found[0]["message"]
    assert {f["rule_id"] for f in res.json["findings"]} >= {"DOV002", "DRIFT001"}


def test_config_requires_modern_tls_but_server_speaks_tls10(start_dovecot, run_cli,  # type: ignore[no-untyped-def]
                                                           tmp_path) -> None:
    d = start_dovecot("ssl = required\nssl_min_protocol = TLSv1\n"
                      "ssl_cipher_list = DEFAULT:@SECLEVEL=0\n")
    res = run_cli("--root", str(repo(tmp_path, d, SECURE_CONF)))
    found = drift(res)
    assert {(f["rule_id"], f["port"], f["line"]) for f in found} == {
        ("DRIFT001", d.imap_port, 5), ("DRIFT001", d.imaps_port, 5)}
    assert all("ssl_min_protocol = TLSv1.2" in f["message"] for f in found)


def test_matching_config_gives_no_drift(start_dovecot, run_cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = start_dovecot("ssl = required\ndisable_plaintext_auth = yes\nssl_min_protocol = TLSv1.2\n")
    res = run_cli("--root", str(repo(tmp_path, d, SECURE_CONF, CLOSED_143)))
    assert drift(res) == []


def test_world_open_143_and_cleartext_is_one_combined_finding(start_dovecot, run_cli,  # type: ignore[no-untyped-def]
                                                              tmp_path) -> None:
    d = start_dovecot("ssl = yes\ndisable_plaintext_auth = no\n")
    res = run_cli("--root", str(repo(tmp_path, d, LAX_CONF, OPEN_143)))
    combined = [f for f in drift(res) if f["rule_id"] == "DRIFT003"]
    assert len(combined) == 1
    f = combined[0]
    assert f["severity"] == "high"
    assert (f["path"], f["line"]) == ("deploy/dovecot.conf", 4)
    paths = [(r["path"], r["line"]) for r in f["related"]]
    assert ("deploy/rules.v4", 6) in paths and paths[0][0] == "imap-gate.yml"
    # the loopback probe never meets the firewall's internet rules: no DRIFT002 from it
    assert not [x for x in drift(res) if x["rule_id"] == "DRIFT002"]


def test_drift_needs_both_halves(start_dovecot, run_cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = start_dovecot("ssl = yes\ndisable_plaintext_auth = no\n")
    root = repo(tmp_path, d, SECURE_CONF)
    assert drift(run_cli("--root", str(root), "--only", "lint")) == []
    assert drift(run_cli("--root", str(root), "--only", "probe")) == []


# ------------------------------------------------------------ DRIFT002 from outside, in a namespace

@pytest.fixture
def server_ns() -> Iterator[tuple[str, str, str]]:
    """A namespace for the server, joined to this one by a veth pair on addresses the test
    chooses (198.18.7.0/30, a benchmarking range): the probe's source is not loopback."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    tag = uuid.uuid4().hex[:6]
    ns, host_if, ns_if = f"igdrift{tag}", f"igdh{tag}", f"igdn{tag}"

    def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)

    try:
        ip("netns", "add", ns)
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        pytest.skip(f"cannot create a network namespace here: {exc}")
    try:
        ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        ip("link", "set", ns_if, "netns", ns)
        ip("addr", "add", "198.18.7.2/30", "dev", host_if)
        ip("link", "set", host_if, "up")
        ip("netns", "exec", ns, "ip", "addr", "add", "198.18.7.1/30", "dev", ns_if)
        ip("netns", "exec", ns, "ip", "link", "set", ns_if, "up")
        ip("netns", "exec", ns, "ip", "link", "set", "lo", "up")
        yield ns, "198.18.7.1", "198.18.7.2"
    finally:
        ip("link", "del", host_if, check=False)
        ip("netns", "del", ns, check=False)


def test_firewall_says_closed_but_outside_probe_gets_in(server_ns, run_cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ns, server, client = server_ns
    d = dovecot.start(tmp_path / "dovecot", "ssl = required\n", listen=server, netns=ns,
                      names=("localhost", server), ports=(143, 993))
    try:
        res = run_cli("--root", str(repo(tmp_path, d, SECURE_CONF, CLOSED_143, host=server,
                                         source=client)))
    finally:
        d.stop()
    found = [f for f in drift(res) if f["rule_id"] == "DRIFT002"]
    # 993 is open in the committed rules too, so only 143 disagrees
    assert [(f["port"], f["path"]) for f in found] == [(143, "deploy/rules.v4")]
    assert f"the probe from {client} reached" in found[0]["message"]
    assert not any(f["rule_id"] == "IMAP013" for f in res.json["findings"])  # not loopback


def test_firewall_says_open_but_the_port_is_dropped(server_ns, run_cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ns, server, client = server_ns
    loaded = subprocess.run(["ip", "netns", "exec", ns, "iptables-restore"], input=CLOSED_143,
                            capture_output=True, text=True, timeout=30)
    if loaded.returncode != 0:
        pytest.skip(f"cannot load iptables rules in the namespace: {loaded.stderr.strip()}")
    d = dovecot.start(tmp_path / "dovecot", "ssl = required\n", listen=server, netns=ns,
                      names=("localhost", server), ports=(143, 993), imap=False)
    try:
        res = run_cli("--root", str(repo(tmp_path, d, SECURE_CONF, OPEN_143, host=server,
                                         source=client)))
    finally:
        d.stop()
    found = [f for f in drift(res) if f["rule_id"] == "DRIFT002"]
    assert [(f["port"], f["line"]) for f in found] == [(143, 6)]
    assert "silently drops the probe" in found[0]["message"]


def test_only_lint_keeps_the_drift_of_the_files_alone(run_cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Issue 14: ``--only lint`` dropped DRIFT003 although it needs no live fact."""
    root = pm.write(tmp_path / "repo", [(143, "imap"), (993, "imaps")],
                    host=dovecot.SERVER_ADDR, source=dovecot.CLIENT_ADDR)
    (root / "deploy").mkdir(exist_ok=True)
    (root / "deploy" / "dovecot.conf").write_text(LAX_CONF)
    (root / "deploy" / "rules.v4").write_text(OPEN_143)
    (root / "imap-gate.yml").write_text((root / "imap-gate.yml").read_text()
                                        + "    dovecot: [deploy/dovecot.conf]\n"
                                        "    firewall: [deploy/rules.v4]\n")
    res = run_cli("--root", str(root), "--only", "lint")
    combined = [f for f in drift(res) if f["rule_id"] == "DRIFT003"]
    assert [(f["path"], f["line"], f["severity"]) for f in combined] == [
        ("deploy/dovecot.conf", 4, "high")]
    assert not [f for f in drift(res) if f["rule_id"] != "DRIFT003"]   # no live drift
    assert not [f for f in res.json["findings"] if f["rule_id"].startswith(("IMAP", "TLS"))]
