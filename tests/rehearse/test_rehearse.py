"""Rehearsal (issue 20): the committed configuration started in a sandbox by the real Dovecot
(2.3 on the host, 2.4 from the Debian 13 root filesystem) and probed by the gate's own probe."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from checks.rehearse import rehearsal, report, sandbox, server
from tests.conftest import REPO
from tests.support import certs, rootfs24

pytestmark = pytest.mark.skipif(server.dovecot23() is None or os.geteuid() != 0,
                                reason="rehearsal needs root and Dovecot 2.3 (dovecot-imapd)")

MANIFEST = """version: 1
configs:
  dovecot: [dovecot.conf]
"""


def _tree(tmp_path: Path, conf: str, manifest: str = MANIFEST, **files: str) -> Path:
    (tmp_path / "dovecot.conf").write_text(conf)
    (tmp_path / "imap-gate.yml").write_text(manifest)
    for name, text in files.items():
        p = tmp_path / name.replace("__", "/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return tmp_path


def _findings(root: Path, entry: str = "dovecot.conf") -> tuple[rehearsal.Outcome, list]:
    out = rehearsal.rehearse(root, entry, "imap-gate.yml")
    return out, report.findings(out, "imap-gate.yml")


def _line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def _json(run_cli, root: Path, *extra: str) -> tuple[int, list[dict]]:
    out = root / "report.json"
    r = run_cli("--root", str(root), "--rehearse", "--json", str(out), *extra)
    doc = json.loads(out.read_text())
    return r.code, doc["findings"]


# ------------------------------------------------------------------ the bundled examples

def test_insecure_example_shows_live_cleartext_and_old_tls_at_the_lines_that_cause_them(
        tmp_path: Path, run_cli) -> None:
    root = tmp_path / "insecure"
    shutil.copytree(REPO / "examples" / "insecure", root)
    code, found = _json(run_cli, root, "--only", "lint")
    conf = root / "deploy" / "dovecot" / "dovecot.conf"
    rehearsed = [f for f in found if f["message"].startswith("Rehearsal of")]
    by_rule = {}
    for f in rehearsed:
        by_rule.setdefault(f["rule_id"], []).append(f)
    assert code == 1
    imap004 = by_rule["IMAP004"][0]
    assert imap004["path"] == "deploy/dovecot/dovecot.conf"
    # Dovecot 2.3 treats "trusted" clients as secured: the whole internet is trusted here
    assert imap004["line"] == _line_of(conf, "login_trusted_networks = 0.0.0.0/0")
    assert "AUTHENTICATE PLAIN" in imap004["evidence"] or "+" in imap004["evidence"]
    tls = by_rule["TLS002"]
    assert {f["line"] for f in tls} == {_line_of(conf, "ssl_min_protocol = TLSv1")}
    assert any("imaps listener" in f["message"] for f in tls)
    assert "REH004" in by_rule and "throwaway" in by_rule["REH004"][0]["message"]
    # certificate rules are not judged against a throwaway certificate
    assert not [f for f in rehearsed if f["rule_id"].startswith("CERT")]


def test_secure_example_passes_its_rehearsal(tmp_path: Path, run_cli) -> None:
    root = tmp_path / "secure"
    shutil.copytree(REPO / "examples" / "secure", root)
    code, found = _json(run_cli, root, "--only", "lint")
    rehearsed = [f for f in found if f["message"].startswith("Rehearsal of")]
    assert code == 0, found
    assert [f["rule_id"] for f in rehearsed] == ["REH004"]
    assert "imaps (imaps)" in rehearsed[0]["message"] and "imap (imap)" not in rehearsed[0][
        "message"]


def test_without_the_flag_nothing_is_rehearsed(tmp_path: Path, run_cli) -> None:
    root = tmp_path / "insecure"
    shutil.copytree(REPO / "examples" / "insecure", root)
    out = root / "r.json"
    run_cli("--root", str(root), "--only", "lint", "--json", str(out))
    assert not [f for f in json.loads(out.read_text())["findings"]
                if f["rule_id"].startswith("REH") or f["message"].startswith("Rehearsal of")]


# ------------------------------------------------------------------ refusals

def test_a_syntax_error_is_refused_with_dovecots_message_and_line(tmp_path: Path) -> None:
    root = _tree(tmp_path, "protocols = imap\nssl = no\nservice imap-login {\n"
                 "  inet_listener imap {\n    port = 143\n  }\n  proces_limit = 3\n}\n")
    out, found = _findings(root)
    assert out.status == "refused"
    [f] = found
    assert f.rule_id == "REH001" and f.sev.name == "MEDIUM"
    assert (f.location.path, f.location.line) == ("dovecot.conf", 7)
    assert "Unknown setting" in f.message and "proces_limit" in f.message
    assert "imap-gate-rehearse" not in f.message   # the sandbox's path is not the user's


def test_a_24_refusal_without_a_line_points_at_the_setting_it_names(tmp_path: Path) -> None:
    rootfs24.require()
    root = _tree(tmp_path, "dovecot_config_version = 2.4.1\nssl = required\n"
                 "auth_allow_cleartext = yes\n")
    out, found = _findings(root)
    [f] = found
    assert out.version == "2.4" and f.rule_id == "REH001"
    assert "has no effect with ssl=required" in f.message
    assert f.location.line == 3


def test_a_23_setting_in_a_24_file_is_refused_by_24(tmp_path: Path) -> None:
    rootfs24.require()
    root = _tree(tmp_path, "dovecot_config_version = 2.4.1\nssl = yes\n"
                 "auth_mechanisms = plain\ndisable_plaintext_auth = no\n")
    out, found = _findings(root)
    assert out.status == "refused", out
    assert found[0].location.line == 4 and "disable_plaintext_auth" in found[0].message


def test_24_without_a_storage_version_is_refused(tmp_path: Path) -> None:
    rootfs24.require()
    out, found = _findings(_tree(tmp_path, "dovecot_config_version = 2.4.1\nssl = no\n"))
    assert out.status == "refused" and "dovecot_storage_version" in found[0].message


def test_a_missing_dovecot_is_incomplete_never_a_pass(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("IMAP_GATE_ROOTFS24", str(tmp_path / "nowhere"))
    root = _tree(tmp_path, "dovecot_config_version = 2.4.1\nssl = yes\n")
    out, found = _findings(root)
    assert out.status == "incomplete"
    assert [f.rule_id for f in found] == ["REH002"] and found[0].sev.name == "MEDIUM"


# ------------------------------------------------------------------ 2.4 postures

def test_24_cleartext_and_weak_tls_are_seen_live_at_their_lines(tmp_path: Path) -> None:
    rootfs24.require()
    conf = ("dovecot_config_version = 2.4.1\ndovecot_storage_version = 2.4.1\n"
            "protocols = imap\nssl = yes\nssl_server_cert_file = /etc/dovecot/mail.crt\n"
            "ssl_server_key_file = /etc/dovecot/mail.key\nssl_min_protocol = TLSv1\n"
            "ssl_cipher_list = ALL:@SECLEVEL=0\nauth_allow_cleartext = yes\n")
    root = _tree(tmp_path, conf)
    out, found = _findings(root)
    assert out.status == "rehearsed", out.reason
    lines = {f.rule_id: f.location.line for f in found}
    assert lines["IMAP004"] == 9 and lines["TLS002"] == 7 and lines["TLS004"] == 8


def test_24_ssl_required_refuses_cleartext_even_to_trusted_networks(tmp_path: Path) -> None:
    """2.4 semantics (issue 16): trusted networks still need TLS under ssl = required."""
    rootfs24.require()
    conf = ("dovecot_config_version = 2.4.1\ndovecot_storage_version = 2.4.1\n"
            "protocols = imap\nssl = required\n"
            "login_trusted_networks = 0.0.0.0/0\n")
    out, found = _findings(_tree(tmp_path, conf))
    assert out.status == "rehearsed", out.reason
    assert "IMAP004" not in {f.rule_id for f in found}


# ------------------------------------------------------------------ trust and the probe's address

def test_a_whole_internet_trust_list_keeps_covering_the_probe(tmp_path: Path) -> None:
    conf = ("protocols = imap\nssl = yes\ndisable_plaintext_auth = yes\n"
            "login_trusted_networks = 0.0.0.0/0\n")
    out, found = _findings(_tree(tmp_path, conf))
    assert out.status == "rehearsed", out.reason
    assert [f.location.line for f in found if f.rule_id == "IMAP004"] == [4]


def test_a_loopback_trust_entry_is_kept_away_from_the_probe(tmp_path: Path) -> None:
    conf = ("protocols = imap\nssl = yes\ndisable_plaintext_auth = yes\n"
            "login_trusted_networks = 127.0.0.0/8 10.0.0.0/8\n"
            "remote 127.0.0.1 {\n  disable_plaintext_auth = no\n}\n")
    out, found = _findings(_tree(tmp_path, conf))
    assert out.status == "rehearsed", out.reason
    assert "IMAP004" not in {f.rule_id for f in found}   # a public client is not trusted
    said = "\n".join(r.render() for r in out.sandbox.rewrites)
    assert "127.0.0.0/8 removed" in said and "remote 127.0.0.1 filter" in said


def test_kept_away_rule() -> None:
    assert sandbox.kept_away("127.0.0.0/8") and sandbox.kept_away("127.0.0.1")
    assert sandbox.kept_away("mx.example.com")           # a name Dovecot would resolve
    assert not sandbox.kept_away("0.0.0.0/0") and not sandbox.kept_away("0.0.0.0/1")
    assert not sandbox.kept_away("10.0.0.0/8") and not sandbox.kept_away("::/0")


def test_disagreement_between_lint_and_rehearsal_is_a_note(tmp_path: Path) -> None:
    """OpenSSL on this host refuses TLS 1.0 below SECLEVEL 0: the file allows it, Dovecot
    does not offer it, and the rehearsal says so instead of guessing."""
    conf = "protocols = imap\nssl = yes\nssl_min_protocol = TLSv1\n"
    out, found = _findings(_tree(tmp_path, conf))
    assert out.status == "rehearsed", out.reason
    notes = [f for f in found if f.rule_id == "REH003"]
    assert notes and all(f.sev.name == "NOTE" for f in notes)
    assert notes[0].location.line == 3 and "OpenSSL" in notes[0].message


# ------------------------------------------------------------------ safety

def test_nothing_outside_the_tree_is_included_and_nothing_is_run(tmp_path: Path) -> None:
    outside = tmp_path / "outside.conf"
    outside.write_text("this is not dovecot syntax {{{\n")
    marker = tmp_path / "ran"
    conf = (f"protocols = imap\nssl = no\n!include {outside}\n!include_try ../escape.conf\n"
            "passdb {\n  driver = checkpassword\n  args = /bin/false\n}\n"
            f"service quota-warning {{\n  executable = script /bin/touch {marker}\n"
            "  user = nosuchuser\n}\n"
            f"service imap {{\n  executable = imap postlogin\n}}\n"
            "service auth {\n  unix_listener /var/spool/postfix/private/auth {\n"
            "    mode = 0660\n  }\n}\n"
            f"plugin {{\n  quota_warning_command = /bin/touch {marker}\n}}\n"
            "default_internal_user = nosuchuser\n")
    root = tmp_path / "repo"
    root.mkdir()
    out, _found = _findings(_tree(root, conf))
    assert out.status == "rehearsed", (out.reason, out.refusal)
    said = "\n".join(r.render() for r in out.sandbox.rewrites)
    for needle in ("!include", "passdb replaced", "service quota-warning removed",
                   "service imap: executable removed", "/var/spool/postfix/private/auth removed",
                   "quota_warning_command removed", "default_internal_user"):
        assert needle in said, needle
    assert not marker.exists()
    assert not Path("/var/spool/postfix/private/auth").exists()


def test_committed_private_key_is_used_but_never_reported(tmp_path: Path, run_cli) -> None:
    leaf = certs.make_leaf(certs.make_ca(), ["localhost"])
    root = tmp_path / "repo"
    (root / "tls").mkdir(parents=True)
    leaf.write(root / "tls", "mail")
    key_pem = (root / "tls" / "mail.key").read_text()
    conf = ("protocols = imap\nssl = yes\nssl_cert = <tls/mail.crt\nssl_key = <tls/mail.key\n"
            "disable_plaintext_auth = no\n")
    _tree(root, conf)
    _code, found = _json(run_cli, root, "--only", "lint")
    text = json.dumps(found) + (root / "report.json").read_text()
    body = key_pem.splitlines()[1]
    assert body not in text and "PRIVATE KEY" not in text
    note = next(f for f in found if f["rule_id"] == "REH004")
    assert "committed certificate was used" in note["message"]
    assert not list(Path("/tmp").glob("imap-gate-rehearse-*/tree/tls/mail.key"))


def test_dovecot_is_stopped_and_the_sandbox_removed(tmp_path: Path) -> None:
    out, _ = _findings(_tree(tmp_path, "protocols = imap\nssl = no\n"))
    assert out.status == "rehearsed"
    assert not out.sandbox.host_dir.exists()
    assert out.pid is not None
    assert _live_in_group(out.pid) == []      # neither the master nor any child is left


def _live_in_group(pgid: int) -> list[int]:
    """Processes of a process group that are not zombies (init reaps those a moment later)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


def test_the_manifest_key_selects_the_files(tmp_path: Path, run_cli) -> None:
    manifest = "version: 1\nconfigs:\n  dovecot: [a.conf, dovecot.conf]\nrehearse: [a.conf]\n"
    root = _tree(tmp_path, "protocols = imap\nssl = no\n", manifest,
                 **{"a.conf": "protocols = imap\nssl = yes\nproces_limit = 1\n"})
    code, found = _json(run_cli, root)
    rehearsed = {f["path"] for f in found if f["rule_id"].startswith("REH")}
    assert rehearsed == {"a.conf"} and code == 1


def test_the_action_input_turns_rehearsal_on() -> None:
    from imap_gate.cli import build_parser
    from imap_gate.github import action

    parser = build_parser()
    assert "--rehearse" in action.inputs_to_argv({"INPUT_REHEARSE": "true"}, parser)
    assert "--rehearse" not in action.inputs_to_argv({}, parser)
    assert "--rehearse" not in action.inputs_to_argv({"INPUT_REHEARSE": "false"}, parser)


def test_a_port_taken_by_another_process_is_retried_not_refused(tmp_path: Path,
                                                                monkeypatch) -> None:
    """Ports are picked free and bound by Dovecot a moment later: if another process takes
    one in between, Dovecot's bind error is the machine's, not the configuration's."""
    import socket

    taken = socket.socket()
    taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    taken.bind((rehearsal.LISTEN, 0))
    taken.listen()
    port = taken.getsockname()[1]
    calls = []
    real = rehearsal._free_port

    def first_taken(addr: str) -> int:
        calls.append(addr)
        return port if len(calls) == 1 else real(addr)

    monkeypatch.setattr(rehearsal, "_free_port", first_taken)
    try:
        out, found = _findings(_tree(tmp_path, "protocols = imap\nssl = no\n"))
    finally:
        taken.close()
    assert out.status == "rehearsed", (out.refusal, out.reason)
    assert "REH001" not in {f.rule_id for f in found}


def test_a_plugin_the_local_dovecot_lacks_is_removed_with_a_note(tmp_path: Path) -> None:
    conf = ("protocols = imap\nssl = no\nmail_plugins = $mail_plugins quota no_such_thing\n"
            "protocol imap {\n  mail_plugins = $mail_plugins imap_quota\n}\n")
    out, _ = _findings(_tree(tmp_path, conf))
    assert out.status == "rehearsed"
    said = [r.render() for r in out.sandbox.rewrites if "mail_plugins" in r.what]
    assert said == ["dovecot.conf:3: mail_plugins: no_such_thing removed: the local Dovecot 2.3 "
                    "lacks the plugin"]


def test_two_rehearsals_of_one_file_give_the_same_findings(tmp_path: Path) -> None:
    """Fresh ports every run, but the messages, lines and fingerprints do not move."""
    root = tmp_path / "insecure"
    shutil.copytree(REPO / "examples" / "insecure", root)
    runs = [_findings(root, "deploy/dovecot/dovecot.conf")[1] for _ in range(2)]
    views = [sorted((f.rule_id, f.location.line, f.message, f.fingerprint) for f in r)
             for r in runs]
    assert views[0] == views[1] and len(views[0]) > 5


def test_a_template_is_not_rehearsed_as_if_it_were_the_config(tmp_path: Path) -> None:
    conf = "protocols = imap\n{% if tls %}\nssl = required\n{% endif %}\n"
    out, found = _findings(_tree(tmp_path, conf))
    assert out.status == "incomplete" and "template code" in (out.reason or "")
    assert [f.rule_id for f in found] == ["REH002"]


def test_a_file_that_is_not_text_is_incomplete_not_a_pass(tmp_path: Path) -> None:
    root = _tree(tmp_path, "")
    (root / "dovecot.conf").write_bytes(b"ssl = yes\n\xff\xfe\x00binary")
    out, found = _findings(root)
    assert out.status == "incomplete" and [f.rule_id for f in found] == ["REH002"]


def test_a_haproxy_listener_is_probed_as_the_client_the_proxy_would_announce(
        tmp_path: Path) -> None:
    conf = ("protocols = imap\nssl = yes\ndisable_plaintext_auth = no\n"
            "haproxy_trusted_networks = 10.0.0.0/8\nservice imap-login {\n"
            "  inet_listener imap {\n    port = 143\n    haproxy = yes\n  }\n}\n")
    out, found = _findings(_tree(tmp_path, conf))
    assert out.status == "rehearsed", (out.reason, out.refusal)
    assert [f.location.line for f in found if f.rule_id == "IMAP004"] == [3]
    assert not [f for f in found if f.rule_id == "IMAP012"]
