"""Arbitrary text never makes the linter raise, and a huge file lints in linear time."""

from __future__ import annotations

import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks.dovecot.check import lint_file
from tests.support import fuzz

_PIECES = st.sampled_from([
    "ssl = no", "ssl = required", "protocol imap {", "remote 0.0.0.0/0 {", "}", "{", "!include x",
    "!include_try *.conf", "disable_plaintext_auth = no", "a = $a b", "key = <file", "\\", "#",
    "'", '"', "{{ x }}", "{% if %}", "<%", "group @g n {", "@g = n", "local_name x {",
    "service imap-login {", "inet_listener imap {", "port = 0", "ssl_cipher_list = ALL",
    "login_trusted_networks = ::/0", "\t", " ", "=", "dovecot_config_version = 2.4.0",
])


def _lint(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "x.conf").write_bytes(data)
    findings, eff, _ = lint_file(tmp_path, "x.conf")
    for f in findings:
        assert f.location.line >= 1
    eff.ssl_mode(), eff.cleartext_auth_allowed(143), eff.min_tls(), eff.listener_ports()


@settings(max_examples=fuzz.examples(150), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_PIECES, max_size=40).map("\n".join))
def test_structured_noise_never_raises(tmp_path: Path, text: str) -> None:
    _lint(tmp_path, text.encode())


@settings(max_examples=fuzz.examples(100), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_arbitrary_bytes_never_raise(tmp_path: Path, data: bytes) -> None:
    _lint(tmp_path, data)


def _big(n: int) -> str:
    block = ["protocol imap {", "  ssl_min_protocol = TLSv1.2", "}", "ssl = yes",
             "auth_mechanisms = plain login", "# a comment", "login_trusted_networks = 10.0.0.0/8",
             "service imap-login {", "  inet_listener imaps {", "    port = 993", "  }", "}"]
    return "\n".join(block[i % len(block)] for i in range(n)) + "\n"


def test_linear_time(tmp_path: Path) -> None:
    """10x the lines must cost far less than 100x the time (quadratic); best of 3 to
    keep a loaded CI machine from deciding the outcome."""
    times = []
    for n in (5_000, 50_000):
        (tmp_path / "big.conf").write_text(_big(n))
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            lint_file(tmp_path, "big.conf")
            best = min(best, time.perf_counter() - start)
        times.append(best)
    assert times[1] < max(times[0], 0.01) * 30
    assert times[1] < 10


def test_deep_nesting_is_an_error_not_a_crash(tmp_path: Path) -> None:
    depth = 5000
    text = "a {\n" * depth + "ssl = no\n" + "}\n" * depth + "ssl = required\n"
    (tmp_path / "deep.conf").write_text(text)
    findings, eff, _ = lint_file(tmp_path, "deep.conf")
    assert [f.rule_id for f in findings] == ["DOV013"] and "nested" in findings[0].message
    assert eff.ssl_mode()[0] == "required"      # braces stayed balanced after the cut


def test_deep_nesting_across_includes_is_bounded(tmp_path: Path) -> None:
    for i in range(40):
        (tmp_path / f"f{i}.conf").write_text("a {\n" * 60 + f"!include f{i + 1}.conf\n" + "}\n" * 60)
    (tmp_path / "f40.conf").write_text("ssl = no\n")
    findings, _eff, _ = lint_file(tmp_path, "f0.conf")
    assert any(f.rule_id == "DOV013" and "deeper" in f.message for f in findings)
