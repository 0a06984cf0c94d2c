"""Arbitrary manifests never raise anything but the tool's own error."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imap_gate.errors import GateError
from imap_gate.manifest import load_manifest
from tests.conftest import REPO
from tests.support import fuzz

ENTRYPOINT = REPO / "entrypoint.py"

KEYS = ["version", "name", "defaults", "targets", "configs", "policy", "host", "ports", "port",
        "protocol", "expect", "timeout", "waivers", "rule", "reason", "expires", "dovecot",
        "firewall", "path", "format", "sni", "ca_file", "source_address", "fail_on", "143", "x"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10, 70000), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["imap", "imaps", "closed", "open",
                                                           "2027-01-01", "../x", "/etc", "**"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)),
    max_leaves=20)


def _load(text: str | bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        path = root / "imap-gate.yml"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            load_manifest(root, path)
        except GateError as exc:
            assert str(exc).strip()


@settings(max_examples=fuzz.examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_arbitrary_bytes(data: bytes) -> None:
    _load(data)


@settings(max_examples=fuzz.examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(KEYS), values, max_size=6))
def test_arbitrary_structures(doc: dict) -> None:
    doc.setdefault("version", 1)
    _load(yaml.safe_dump(doc))


@pytest.mark.parametrize("shape", ["flow", "block"])
def test_deeply_nested_manifest_is_an_error_not_a_crash(tmp_path: Path, shape: str) -> None:
    """libyaml's composer recurses in C and overflows the stack near 100k levels, which kills
    the process; the pure-Python composer hits RecursionError, which the loader turns into a
    finding. A subprocess, so that a crash shows as a signal instead of killing pytest."""
    depth = 200_000
    nested = "[" * depth + "]" * depth if shape == "flow" else "- " * depth + "x"
    (tmp_path / "imap-gate.yml").write_text(f"version: 1\ntargets: {nested}\n"
                                            if shape == "flow" else f"version: 1\ntargets:\n{nested}\n")
    proc = subprocess.run([sys.executable, str(ENTRYPOINT), "--root", str(tmp_path), "--only", "lint"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-500:]
    assert "imap-gate.yml:" in proc.stderr and "Traceback" not in proc.stderr
