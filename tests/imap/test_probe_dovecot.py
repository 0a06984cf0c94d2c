"""The probe against real Dovecot, through the CLI: each posture gives exactly its rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import probe_manifest as pm
from tests.support.dovecot import free_port
from tests.support.fakeserver import unaccepting_port

pytestmark = pytest.mark.dovecot

NOTE_13 = "IMAP013"  # every test probes 127.0.0.2 -> 127.0.0.1: loopback, so always a note


def _both(d) -> list[tuple[int, str]]:
    return [(d.imap_port, "imap"), (d.imaps_port, "imaps")]


def test_secure_starttls_required(start_dovecot, run_cli, tmp_path: Path) -> None:
    d = start_dovecot("ssl = required\ndisable_plaintext_auth = yes")
    root = pm.write(tmp_path / "m", _both(d), expect={d.imap_port: "starttls-required",
                                                      d.imaps_port: "open"})
    res = run_cli("--root", str(root))
    assert res.code == 0, res.stdout + res.stderr
    assert pm.rules_of(res.json) == {(NOTE_13, d.imap_port), (NOTE_13, d.imaps_port)}
    assert pm.severity_of(res.json, NOTE_13) == ["note", "note"]
    facts = res.json["endpoints"][f"mail:{d.imap_port}"]
    assert facts["starttls"] == "ok" and facts["auth_plain"] == "refused"
    assert "LOGINDISABLED" in facts["caps_before_tls"] and "STARTTLS" not in facts["caps_tls"]
    assert facts["injection"] in ("rejected", "not-vulnerable")
    assert "LOGIN" not in facts["commands"]
    # SARIF: the notes are there, at note level
    levels = {r["level"] for r in res.sarif["runs"][0]["results"]}
    assert levels == {"note"}


def test_secure_without_expectation_gets_low_imap006(start_dovecot, run_cli, tmp_path) -> None:
    d = start_dovecot("ssl = required")
    res = run_cli("--root", str(pm.write(tmp_path / "m", _both(d))))
    assert res.code == 0
    assert pm.rules_of(res.json) == {("IMAP006", d.imap_port), (NOTE_13, d.imap_port),
                                     (NOTE_13, d.imaps_port)}
    assert pm.severity_of(res.json, "IMAP006") == ["low"]


def test_starttls_optional_with_cleartext_auth(start_dovecot, run_cli, tmp_path) -> None:
    d = start_dovecot("disable_plaintext_auth = no")
    res = run_cli("--root", str(pm.write(tmp_path / "m", _both(d))))
    assert res.code == 1
    assert pm.rules_of(res.json) == {("IMAP004", d.imap_port), (NOTE_13, d.imap_port),
                                     (NOTE_13, d.imaps_port)}
    f = next(x for x in res.json["findings"] if x["rule_id"] == "IMAP004")
    assert f["severity"] == "high" and "+" in f["evidence"]
    assert res.json["endpoints"][f"mail:{d.imap_port}"]["auth_plain"] == "continuation"


def test_ssl_no(start_dovecot, run_cli, tmp_path) -> None:
    d = start_dovecot("disable_plaintext_auth = no", ssl=False, imaps=False)
    res = run_cli("--root", str(pm.write(tmp_path / "m", [(d.imap_port, "imap")])))
    assert res.code == 1
    assert pm.rules_of(res.json) == {("IMAP002", d.imap_port), ("IMAP004", d.imap_port),
                                     ("IMAP007", d.imap_port), (NOTE_13, d.imap_port)}


def test_only_993(start_dovecot, run_cli, tmp_path) -> None:
    d = start_dovecot("ssl = required", imap=False)
    closed = free_port()
    res = run_cli("--root", str(pm.write(tmp_path / "m", [(closed, "imap"),
                                                          (d.imaps_port, "imaps")])))
    assert res.code == 0
    assert pm.rules_of(res.json) == {(NOTE_13, d.imaps_port)}
    assert res.json["endpoints"][f"mail:{closed}"]["connect"] == "refused"


def test_version_disclosed(start_dovecot, run_cli, tmp_path) -> None:
    d = start_dovecot("ssl = required\nlogin_greeting = Dovecot 2.3.19 ready\n"
                      "imap_id_send = name * version * os *")
    res = run_cli("--root", str(pm.write(tmp_path / "m", _both(d),
                                         expect={d.imap_port: "starttls-required"})))
    assert res.code == 0  # low does not fail the gate at the default threshold
    assert pm.rules_of(res.json) == {("IMAP008", d.imap_port), ("IMAP008", d.imaps_port),
                                     (NOTE_13, d.imap_port), (NOTE_13, d.imaps_port)}
    f = next(x for x in res.json["findings"] if x["rule_id"] == "IMAP008")
    assert "2.3.19" in f["message"] and '"version"' in f["message"] and '"os"' in f["message"]


def test_expectation_mismatches(start_dovecot, run_cli, tmp_path) -> None:
    d = start_dovecot("ssl = required", imaps=False)
    closed = free_port()
    root = pm.write(tmp_path / "m", [(d.imap_port, "imap"), (closed, "imaps")],
                    expect={d.imap_port: "closed", closed: "open"})
    res = run_cli("--root", str(root))
    assert res.code == 1
    assert pm.rules_of(res.json) == {("IMAP010", d.imap_port), ("IMAP011", closed),
                                     ("IMAP006", d.imap_port), ("IMAP007", d.imap_port),
                                     (NOTE_13, d.imap_port)}


def test_starttls_required_not_met(start_dovecot, run_cli, tmp_path) -> None:
    d = start_dovecot("disable_plaintext_auth = no", imaps=False)
    root = pm.write(tmp_path / "m", [(d.imap_port, "imap")],
                    expect={d.imap_port: "starttls-required"})
    res = run_cli("--root", str(root))
    assert res.code == 1
    assert {r for r, _ in pm.rules_of(res.json)} == {"IMAP004", "IMAP011", "IMAP007", NOTE_13}


def test_refused_and_filtered(run_cli, tmp_path) -> None:
    refused = free_port()
    with unaccepting_port() as filtered:
        root = pm.write(tmp_path / "m", [(refused, "imap"), (filtered, "imaps")], timeout=1)
        res = run_cli("--root", str(root))
        eps = res.json["endpoints"]
        assert eps[f"mail:{refused}"]["connect"] == "refused"
        assert eps[f"mail:{filtered}"]["connect"] == "filtered"
        # nothing answered and nothing is expected: one finding for the target (IMAP016),
        # not a pass and not one per port
        assert pm.rules_of(res.json) == {("IMAP016", None)}
        assert res.code == 1
        root = pm.write(tmp_path / "m2", [(refused, "imap"), (filtered, "imaps")], timeout=1,
                        expect={refused: "closed", filtered: "closed"})
        res = run_cli("--root", str(root))
        assert res.code == 0 and pm.rules_of(res.json) == set()


def test_probe_speed(start_dovecot, tmp_path) -> None:
    """A full probe of one loopback endpoint (dialog + injection connection) in well under 1 s."""
    from checks.imap import engine
    from checks.imap.facts import Plan

    d = start_dovecot("ssl = required")
    plan = Plan("mail", "127.0.0.1", d.imap_port, "imap", None, "localhost", "127.0.0.2", 2.0)
    engine.probe_all([plan], 4, None)  # warm Dovecot's login processes
    import time
    t = time.monotonic()
    [r] = engine.probe_all([plan], 4, None)
    elapsed = time.monotonic() - t
    assert r.facts.starttls == "ok" and not r.facts.problems
    assert elapsed < 0.5, elapsed


def test_one_manifest_many_targets(start_dovecot, run_cli, tmp_path) -> None:
    """The gate as a user runs it: several targets at once, each with exactly its rules."""
    from tests.support import fakeserver as fs

    secure = start_dovecot("ssl = required")
    lax = start_dovecot("disable_plaintext_auth = no", imaps=False)
    with fs.serve(fs.imap_script(greeting=b"* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n")) as pre, \
            fs.serve(fs.imap_script(inject_vulnerable=True)) as inj:
        extra = "".join(
            f"  - name: {name}\n    host: 127.0.0.1\n    ports: [{{port: {port}, protocol: imap}}]\n"
            f"    expect: {{\"{port}\": starttls-required}}\n    ca_file: ca.pem\n"
            for name, port in (("lax", lax.imap_port), ("preauth", pre.port),
                               ("inject", inj.port)))
        root = pm.write(tmp_path / "m", _both(secure), name="secure",
                        expect={secure.imap_port: "starttls-required"}, extra_targets=extra)
        res = run_cli("--root", str(root))
    assert res.code == 1
    got = {(f["target"], f["rule_id"]) for f in res.json["findings"] if f["rule_id"] != NOTE_13}
    assert got == {("lax", "IMAP004"), ("lax", "IMAP011"), ("lax", "IMAP007"),
                   ("preauth", "IMAP001"), ("preauth", "IMAP011"), ("preauth", "IMAP007"),
                   ("inject", "IMAP005"), ("inject", "IMAP007")}
    assert len(res.json["endpoints"]) == 5
