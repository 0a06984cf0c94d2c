"""The Debian 13 root filesystem that carries Dovecot 2.4 (``scripts/rootfs24.sh`` builds it).

``chroot ROOT doveconf ...`` is the 2.4 oracle and ``chroot ROOT dovecot -F -c ...`` a real
2.4 server sharing the host's network. Tests that need it call ``require()``: in CI (``CI``
set) its absence is a failure, since ``scripts/test.sh`` always prepares it; elsewhere they
skip with the reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DEFAULT = Path("/var/cache/imap-gate/trixie-dovecot24")


def root() -> Path | None:
    """The prepared root filesystem, or None where it is not ready (or we are not root)."""
    path = Path(os.environ.get("IMAP_GATE_ROOTFS24") or DEFAULT)
    if os.geteuid() != 0 or not (path / ".imap-gate-ready").is_file():
        return None
    return path


def require() -> Path:
    """The root filesystem; fails in CI and skips elsewhere when it is not there."""
    path = root()
    if path is not None:
        return path
    why = "the Dovecot 2.4 root filesystem is not prepared (run scripts/rootfs24.sh as root)"
    if os.environ.get("CI"):
        pytest.fail(why)
    pytest.skip(why)
    raise AssertionError("unreachable")
