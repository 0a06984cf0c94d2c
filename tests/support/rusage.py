"""Run a command and learn its own peak RSS, not its parent's.

On Linux a process's ``ru_maxrss`` keeps the high-water mark of the memory it
had before ``exec``; Python's subprocess uses vfork, so a child spawned by a big
pytest process reports pytest's size. A tiny launcher process fork()s the real
command (whose memory then starts at the launcher's few MiB), waits for it with
``wait4`` and writes its ``ru_maxrss`` (KiB) to a file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status) & 0xFF)
"""


@dataclass
class Measured:
    code: int | None          # None: killed at the time limit
    seconds: float
    maxrss_kb: int

    @property
    def hung(self) -> bool:
        return self.code is None


def run_measured(argv: Sequence[str], limit: float, stdout: IO[bytes] | int | None = None,
                 stderr: IO[bytes] | int | None = None, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> Measured:
    """Run ``argv`` with a hard time limit (its whole process group is killed)."""
    with tempfile.NamedTemporaryFile(prefix="rss-", delete=False) as f:
        rss_file = Path(f.name)
    try:
        start = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-S", "-c", LAUNCHER, str(rss_file), *argv],
                                stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, env=env,
                                cwd=cwd, start_new_session=True)
        try:
            code: int | None = proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, 9)
            except ProcessLookupError:
                pass
            proc.wait()
            code = None
        seconds = time.monotonic() - start
        text = rss_file.read_text().strip() if rss_file.exists() else ""
        return Measured(code, seconds, int(text) if text.isdigit() else 0)
    finally:
        rss_file.unlink(missing_ok=True)
