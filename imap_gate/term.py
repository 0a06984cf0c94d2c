"""What a terminal gets and a pipe does not: colour and a live progress count.

Both follow the conventions of the tools our users run every day: colour only when the
stream is a terminal, never with ``NO_COLOR`` set (https://no-color.org), always with
``FORCE_COLOR`` set (NO_COLOR wins, as in CPython); progress only on a terminal's stderr,
never with ``--quiet``, so logs, pipes and the Action's log stay byte-for-byte quiet.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from typing import IO

_STYLES = {"critical": "1;35", "high": "1;31", "medium": "33", "low": "36", "note": "2",
           "fail": "1;31", "pass": "1;32", "waived": "2"}


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def colour_enabled(stream: IO[str], env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR"):
        return True
    return _isatty(stream) and env.get("TERM") != "dumb"


def paint(text: str, style: str, enabled: bool) -> str:
    code = _STYLES.get(style)
    return f"\x1b[{code}m{text}\x1b[0m" if enabled and code else text


class Progress:
    """``imap-gate: probing 120/10000 endpoints`` rewritten in place on a terminal's stderr.

    Thread-safe (probe threads call ``advance``) and throttled to ten updates a second, so a
    fleet of 10,000 endpoints costs a few hundred writes, not 10,000.
    """

    INTERVAL = 0.1

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.lock = threading.Lock()
        self.label = ""
        self.total = 0
        self.done = 0
        self.last = 0.0
        self.shown = False

    @classmethod
    def for_run(cls, stream: IO[str], quiet: bool) -> Progress | None:
        """None unless this stream is a terminal and the user did not ask for quiet."""
        if quiet or not _isatty(stream) or os.environ.get("GITHUB_ACTIONS") == "true":
            return None
        return cls(stream)

    def stage(self, label: str, total: int = 0) -> None:
        with self.lock:
            self.label, self.total, self.done = label, total, 0
            self._draw()

    def advance(self, n: int = 1) -> None:
        with self.lock:
            self.done += n
            now = time.monotonic()
            if now - self.last >= self.INTERVAL or self.done >= self.total:
                self._draw(now)

    def finish(self) -> None:
        with self.lock:
            if self.shown:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
                self.shown = False

    def _draw(self, now: float | None = None) -> None:
        self.last = time.monotonic() if now is None else now
        count = f" {self.done}/{self.total}" if self.total else ""
        self.stream.write(f"\r\x1b[Kimap-gate: {self.label}{count}")
        self.stream.flush()
        self.shown = True
