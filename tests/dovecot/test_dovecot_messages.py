"""Dovecot findings quote what the user wrote, and point where the problem is."""

from __future__ import annotations

from pathlib import Path

from checks.dovecot.check import run
from tests.dovecot.test_dovecot_check import ctx_for


def _lint(tmp_path: Path, content: bytes) -> list:  # type: ignore[type-arg]
    (tmp_path / "dovecot.conf").write_bytes(content)
    return run(ctx_for(tmp_path, ("dovecot.conf",)))


def test_quoted_setting_leaves_out_its_trailing_comment(tmp_path: Path) -> None:
    findings = _lint(tmp_path, b"ssl = no # legacy\ndisable_plaintext_auth = no  # old clients\n"
                               b"protocols = imap\n")
    messages = {f.rule_id: f.message for f in findings}
    assert "(ssl = no):" in messages["DOV001"], messages["DOV001"]
    assert "(disable_plaintext_auth = no)" in messages["DOV002"], messages["DOV002"]
    assert "#" not in messages["DOV001"] + messages["DOV002"]
    dov001 = next(f for f in findings if f.rule_id == "DOV001")
    assert "# legacy" in dov001.evidence      # the evidence is still the line as written


def test_non_utf8_byte_is_no_error_and_keeps_true_positions(tmp_path: Path) -> None:
    """Dovecot reads bytes: a Latin-1 byte in a comment is no DOV013, and the settings after it
    keep their own lines and columns."""
    findings = _lint(tmp_path, b"# caf\xe9\n  ssl = no\ndisable_plaintext_auth = no\nprotocols = imap\n")
    assert "DOV013" not in {f.rule_id for f in findings}
    where = {f.rule_id: (f.location.line, f.location.column) for f in findings}
    assert where["DOV001"] == (2, 3) and where["DOV002"][0] == 3
