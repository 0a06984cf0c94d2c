"""Run the real Dovecot of a file's version in the foreground, bounded, stopped by PID.

2.3 is the host's ``dovecot``; 2.4 runs from the Debian 13 root filesystem through
``chroot ROOT dovecot -F -c FILE`` (it shares the network; its files must be inside ROOT).
``running`` is a context manager: whatever happens inside, the master is terminated by
its PID, killed if it does not stop in time, and its process group (its children) after it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT = 8.0
STOP_TIMEOUT = 3.0
STOP_GRACE = 0.1
ROOTFS24_DEFAULT = Path("/var/cache/imap-gate/trixie-dovecot24")
_CONFIG_ERROR = re.compile(r"Error in configuration file (\S+) line (\d+): (.*)")
_FATAL = re.compile(r"(?:Fatal|Error): (.*)")


def dovecot23() -> str | None:
    return shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot",) if Path(p).exists()), None)


def rootfs24() -> Path | None:
    """The 2.4 root filesystem, where it is ready and we may chroot into it."""
    path = Path(os.environ.get("IMAP_GATE_ROOTFS24") or ROOTFS24_DEFAULT)
    if os.geteuid() != 0 or not (path / "usr/sbin/dovecot").exists():
        return None
    return path


def modules_dir(version: str) -> Path | None:
    """Where the Dovecot of ``version`` keeps its plugins, as this host sees it."""
    base = rootfs24() if version == "2.4" else Path("/")
    return None if base is None else base / "usr/lib/dovecot/modules"


@dataclass
class Refusal:
    message: str                   # Dovecot's own words
    path: str | None = None        # the file Dovecot names, as it sees it
    line: int | None = None


@dataclass
class Started:
    pid: int                          # the master's, which is also its process group's
    refused: Refusal | None = None    # Dovecot exited: why
    timeout: str | None = None        # it neither exited nor listened in time


def argv(version: str, conf_seen: str) -> list[str] | None:
    if version == "2.4":
        root = rootfs24()
        return None if root is None else ["chroot", str(root), "dovecot", "-F", "-c", conf_seen]
    binary = dovecot23()
    return None if binary is None else [binary, "-F", "-c", conf_seen]


def refusal(text: str) -> Refusal:
    """Dovecot's fatal line: the configuration error with its file and line when it has one."""
    for raw in text.splitlines():
        m = _CONFIG_ERROR.search(raw)
        if m:
            return Refusal(m.group(3).strip(), m.group(1), int(m.group(2)))
    for raw in text.splitlines():
        m = _FATAL.search(raw)
        if m and "Killed with signal" not in raw:
            return Refusal(m.group(1).strip())
    tail = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return Refusal(tail[-1] if tail else "Dovecot exited without a message")


@contextmanager
def running(cmd: list[str], workdir: Path, listen: str, ports: list[int], source: str,
            timeout: float = START_TIMEOUT) -> Iterator[Started]:
    out_path = workdir / "dovecot.stdout"
    with out_path.open("wb") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, cwd=str(workdir),
                                start_new_session=True)
    try:
        yield _wait(proc, workdir, listen, ports, source, timeout)
    finally:
        _stop(proc)


def _wait(proc: subprocess.Popen, workdir: Path, listen: str, ports: list[int], source: str,
          timeout: float) -> Started:
    end = time.monotonic() + timeout
    settle = time.monotonic() + 0.3   # with no listener to watch: alive this long is started
    while time.monotonic() < end:
        if proc.poll() is not None:
            return Started(proc.pid, refused=refusal(_output(workdir)))
        # Dovecot logs "starting up" only once every listener is bound: a port that answers
        # before that may be somebody else's.
        if (ports or time.monotonic() > settle) and _started_up(workdir) and \
                all(_listening(listen, p, source) for p in ports):
            return Started(proc.pid)
        time.sleep(0.02)
    if proc.poll() is not None:
        return Started(proc.pid, refused=refusal(_output(workdir)))
    return Started(proc.pid, timeout=f"Dovecot did not listen on {listen} ports "
                   f"{', '.join(map(str, ports))} within {timeout:.0f} s")


def _started_up(workdir: Path) -> bool:
    try:
        return b" starting up" in (workdir / "dovecot.log").read_bytes()[:65536]
    except OSError:
        return False


def _output(workdir: Path) -> str:
    parts = []
    for name in ("dovecot.stdout", "dovecot.log"):
        p = workdir / name
        try:
            parts.append(p.read_bytes()[-16384:].decode("utf-8", "replace"))
        except OSError:
            continue
    return "\n".join(parts)


def _listening(addr: str, port: int, source: str) -> bool:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(0.2)
        s.bind((source, 0))
        s.connect((addr, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _stop(proc: subprocess.Popen) -> None:
    """Terminate the master by its PID, give it a short grace (Dovecot's orderly shutdown
    waits about a second for its children), then kill what is left of its process group,
    the one this module created. The master is not reaped before that (``WNOWAIT``): while
    it is a zombie its PID, and so the group id, cannot belong to anyone else."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    end = time.monotonic() + STOP_GRACE
    while time.monotonic() < end:
        if os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            break
        time.sleep(0.01)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait(timeout=STOP_TIMEOUT)
