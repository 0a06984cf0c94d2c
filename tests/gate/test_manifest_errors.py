"""Every manifest mistake is answered with file:line:col, what is wrong, and what to write."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from imap_gate.cli import main

BASE = "version: 1\ntargets:\n  - name: mail\n    host: 127.0.0.1\n"


def gate(tmp_path: Path, manifest: str | bytes, capsys: pytest.CaptureFixture[str],
         *extra: str) -> tuple[int, str]:
    path = tmp_path / "imap-gate.yml"
    if isinstance(manifest, bytes):
        path.write_bytes(manifest)
    else:
        path.write_text(manifest)
    code = main(["--root", str(tmp_path), "--only", "lint", *extra])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.err


CASES = [
    ("unknown key with a hint",
     BASE + "defaults:\n  timout: 3\n",
     "imap-gate.yml:6:3: defaults: unknown key 'timout'; did you mean 'timeout'?"),
    ("port out of range",
     BASE + "    ports: [143, 70000]\n",
     "imap-gate.yml:5:18: targets[0].ports[1]: 70000 is not a valid port (1-65535)"),
    ("non-standard port without protocol",
     BASE + "    ports: [11430]\n",
     "imap-gate.yml:5:13: targets[0].ports[0]: port 11430 is not 143 or 993, so say which "
     "protocol it speaks: {port: 11430, protocol: imap} or {port: 11430, protocol: imaps}"),
    ("bad fail_on",
     BASE + "policy:\n  fail_on: hgh\n",
     "imap-gate.yml:6:12: policy.fail_on: 'hgh' is not one of: critical, high, medium, low, "
     "note, never; did you mean 'high'?"),
    ("wrong type",
     BASE + "defaults:\n  concurrency: many\n",
     "imap-gate.yml:6:16: defaults.concurrency: expected an integer, found str 'many'"),
    ("missing host",
     "version: 1\ntargets:\n  - name: mail\n",
     "imap-gate.yml:3:5: targets[0]: missing required key 'host'"),
    ("duplicate target name",
     BASE + "  - name: mail\n    host: 127.0.0.2\n",
     "imap-gate.yml:5:11: targets[1].name: 'mail' is already the name of targets[0]; "
     "target names must be unique"),
    ("duplicate YAML key",
     BASE + "    host: 127.0.0.2\n",
     "imap-gate.yml:5:5: key 'host' is written twice in this mapping; keep one"),
    ("tab indentation",
     BASE + "\tports: [143]\n",
     "imap-gate.yml:5:1: a tab indents this line; YAML indents with spaces only"),
    ("YAML syntax",
     BASE + "    ports: [143, 993\n",
     "imap-gate.yml:6:1: not valid YAML"),
    ("unsupported version",
     "version: 2\n",
     "imap-gate.yml:1:10: version: 2 is not a supported manifest version; write 'version: 1'"),
    ("expectation for an unlisted port",
     BASE + "    ports: [143]\n    expect: {\"993\": open}\n",
     "imap-gate.yml:6:14: targets[0].expect: port 993 is not in this target's ports (143); "
     "add it to ports or remove the expectation"),
    ("starttls-required on implicit TLS",
     BASE + "    expect: {\"993\": starttls-required}\n",
     "imap-gate.yml:5:21: targets[0].expect.993: starttls-required applies to a cleartext imap "
     "port; for implicit TLS write 'open'"),
    ("bad source address",
     BASE + "    source_address: 10.0.0.300\n",
     "imap-gate.yml:5:21: '10.0.0.300' is not an IP address"),
    ("host with a scheme",
     "version: 1\ntargets:\n  - name: mail\n    host: imaps://mail.example.com\n",
     "imap-gate.yml:4:11: targets[0].host: 'imaps://mail.example.com' is not a host name or "
     "address (no scheme, path or spaces)"),
    ("waiver without reason",
     BASE + "policy:\n  waivers:\n    - rule: IMAP006\n      expires: 2027-03-31\n",
     "imap-gate.yml:7:7: policy.waivers[0]: missing required key 'reason'"),
    ("waiver with a bad date",
     BASE + "policy:\n  waivers:\n    - {rule: POL002, reason: legacy, expires: 31/03/2027}\n",
     "policy.waivers[0].expires: '31/03/2027' is not a date; write YYYY-MM-DD"),
    ("impossible date",
     BASE + "policy:\n  waivers:\n    - {rule: POL001, reason: abc, expires: 2027-02-30}\n",
     "imap-gate.yml:7:44: '2027-02-30' looks like a date but is not a real one"),
    ("control character",
     BASE + "name: a\x07b\n",
     "imap-gate.yml:5: not valid YAML: character U+0007 is not allowed"),
    ("waiver for an unknown rule",
     BASE + "policy:\n  waivers:\n    - {rule: waiver-unsued, reason: legacy, expires: 2027-03-31}\n",
     "policy.waivers[0].rule: no rule 'waiver-unsued'; did you mean 'waiver-unused'?"),
    ("empty manifest",
     "",
     "imap-gate.yml:1:1: the manifest is empty"),
    ("not a mapping",
     "- 143\n- 993\n",
     "imap-gate.yml:1:1: the manifest must be a mapping"),
    ("path climbing out",
     BASE + "configs:\n  dovecot: [../etc/dovecot.conf]\n",
     "imap-gate.yml:6:13: configs.dovecot[0]: '../etc/dovecot.conf' climbs out of the root"),
    ("absolute path",
     BASE + "configs:\n  dovecot: [/etc/dovecot/dovecot.conf]\n",
     "configs.dovecot[0]: '/etc/dovecot/dovecot.conf' is absolute; write it relative to the root"),
    ("missing file",
     BASE + "configs:\n  firewall: [deploy/rules.v4]\n",
     "imap-gate.yml:6:14: configs.firewall[0]: 'deploy/rules.v4' does not exist under the root"),
    ("glob matching nothing",
     BASE + "configs:\n  dovecot: ['deploy/**/*.conf']\n",
     "configs.dovecot[0]: the pattern 'deploy/**/*.conf' matches no file under the root"),
    ("bad firewall format",
     BASE + "configs:\n  firewall: [{path: x, format: iptable}]\n",
     "imap-gate.yml:6:32: configs.firewall[0].format: 'iptable' is not a firewall format "
     "imap-gate knows; did you mean 'iptables-save'? known: iptables-save, iptables-script, "
     "nftables, ufw-rules, ufw-script, ufw-default, ufw-conf, firewalld-zone; or leave format "
     "out to have it detected"),
    ("unknown firewall format",
     BASE + "configs:\n  firewall: [{path: x, format: pf}]\n",
     "configs.firewall[0].format: 'pf' is not a firewall format imap-gate knows; known: "
     "iptables-save, iptables-script, nftables"),
    ("firewall item with an unknown key",
     BASE + "configs:\n  firewall: [{path: x, frmat: nftables}]\n",
     "imap-gate.yml:6:24: configs.firewall[0]: unknown key 'frmat'; did you mean 'format'?"),
    ("unknown protocol",
     BASE + "    ports: [{port: 11430, protocol: pop3}]\n",
     "imap-gate.yml:5:37: targets[0].ports[0].protocol: 'pop3' is not a protocol imap-gate "
     "knows; write imap (cleartext with STARTTLS) or imaps (implicit TLS)"),
    ("YAML 1.1 exponent without a dot",
     BASE + "    timeout: 1e9\n",
     "imap-gate.yml:5:14: targets[0].timeout: '1e9' is a string, not a number, in YAML 1.1 "
     "(which imap-gate reads, as PyYAML does): its floats need a dot and a signed exponent, "
     "as in 1.0e+9; write 1000000000"),
    ("YAML 1.1 exponent for an integer",
     BASE + "defaults:\n  concurrency: 1e2\n",
     "defaults.concurrency: '1e2' is a string, not a number, in YAML 1.1"),
    ("YAML 1.1 exponent for a port",
     BASE + "    ports: [9.93e2]\n",
     "imap-gate.yml:5:13: targets[0].ports[0]: '9.93e2' is a string, not a number, in YAML 1.1 "
     "(which imap-gate reads, as PyYAML does): its floats need a dot and a signed exponent, "
     "as in 1.0e+9; write 993"),
    ("ca_file that is not a certificate",
     BASE + "    ca_file: imap-gate.yml\n",
     "imap-gate.yml:5:14: targets[0].ca_file: 'imap-gate.yml' holds no PEM certificate "
     "(-----BEGIN CERTIFICATE-----); point it at your CA's certificate"),
]


@pytest.mark.parametrize(("manifest", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_manifest_mistake_is_explained(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       manifest: str, expected: str) -> None:
    code, err = gate(tmp_path, manifest, capsys)
    assert code == 2
    assert expected in err
    assert len([line for line in err.splitlines() if line]) >= 1
    for line in err.splitlines():
        assert line.startswith("imap-gate: ")


def test_all_schema_mistakes_are_reported_at_once(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    manifest = BASE + "    ports: [143, 70000]\n    bogus: 1\ndefaults:\n  timout: 3\n"
    code, err = gate(tmp_path, manifest, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert [line.split(":")[1:3] for line in lines] == [[" imap-gate.yml", "5"],
                                                        [" imap-gate.yml", "6"],
                                                        [" imap-gate.yml", "8"]]


def test_symlink_escape_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "dovecot.conf").write_text("ssl = no\n")
    root = tmp_path / "repo"
    root.mkdir()
    os.symlink(outside, root / "deploy")
    code, err = gate(root, BASE + "configs:\n  dovecot: [deploy/dovecot.conf]\n", capsys)
    assert code == 2
    assert "leads outside --root through a symbolic link" in err


def test_glob_through_symlink_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.conf").write_text("ssl = no\n")
    root = tmp_path / "repo"
    (root / "deploy").mkdir(parents=True)
    os.symlink(outside / "x.conf", root / "deploy" / "x.conf")
    code, err = gate(root, BASE + "configs:\n  dovecot: ['deploy/*.conf']\n", capsys)
    assert code == 2
    assert "'deploy/x.conf' leads outside --root" in err


def test_non_utf8_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = gate(tmp_path, b"version: 1\nname: caf\xe9\n", capsys)
    assert code == 2
    assert "imap-gate.yml:2: the manifest is not UTF-8 text" in err


def test_missing_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--root", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "no manifest: write imap-gate.yml or .github/imap-gate.yml" in err


def test_manifest_found_under_dot_github(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "imap-gate.yml").write_text("version: 1\n")
    assert main(["--root", str(tmp_path)]) == 0
    assert "gate passed" in capsys.readouterr().out


def test_unknown_flag_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--root", str(tmp_path), "--fail-on", "severe"])
    assert exc.value.code == 2
    assert "invalid choice: 'severe'" in capsys.readouterr().err
