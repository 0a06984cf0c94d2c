"""Step outputs: heredocs with random delimiters that no value can close early."""

from __future__ import annotations

from pathlib import Path

import pytest

from imap_gate.github import outputs


def test_values_round_trip_through_the_env_file(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_text("earlier=1\n")
    tricky = "line one\nghadelimiter_0000\nsarif-file<<EOF\nx=y"
    outputs.write(path, {"gate": "fail", "max-severity": "high", "tricky": tricky, "empty": ""})
    got = outputs.parse(path.read_text())
    assert got == {"earlier": "1", "gate": "fail", "max-severity": "high", "tricky": tricky,
                   "empty": ""}


def test_delimiters_are_random_and_not_in_the_value() -> None:
    a, b = outputs.heredoc("gate", "pass"), outputs.heredoc("gate", "pass")
    assert a != b
    first = a.split("\n")[0]
    delim = first.split("<<", 1)[1]
    assert delim.startswith("ghadelimiter_") and len(delim) > 30
    assert a == f"gate<<{delim}\npass\n{delim}\n"


def test_a_name_with_a_newline_is_refused() -> None:
    with pytest.raises(ValueError):
        outputs.heredoc("a\nb", "x")
