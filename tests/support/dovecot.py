"""Real Dovecot instances for the tests and benches: each on loopback high ports,
with its own config, base_dir, log and certificates, stopped afterwards.

Dovecot treats a client whose address equals the server's as secured, so the
probe in tests connects from another loopback address (127.0.0.2 -> 127.0.0.1).
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from tests.support import certs

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
SERVER_ADDR = "127.0.0.1"
CLIENT_ADDR = "127.0.0.2"
D = TypeVar("D", bound="Dovecot")


@lru_cache(maxsize=1)
def default_ca() -> certs.Issued:
    """One CA for every instance that is not given its own, so a test can trust them all."""
    return certs.make_ca("imap-gate dovecot test CA")


@lru_cache(maxsize=1)
def default_ca_file() -> Path:
    """The default CA's certificate, written once per process to a file of its own: a name
    made of the pid alone could meet a stale file of an earlier run whose pid was the same,
    and a test would then trust the wrong CA (seen as CERT003 on a loaded machine)."""
    fd, name = tempfile.mkstemp(prefix="imap-gate-dovecot-ca-", suffix=".pem")
    with os.fdopen(fd, "wb") as fh:
        fh.write(default_ca().cert_pem())
    atexit.register(os.unlink, name)
    return Path(name)


def available() -> bool:
    return Path(DOVECOT).exists()


def free_port(addr: str = SERVER_ADDR) -> int:
    with socket.socket() as s:
        s.bind((addr, 0))
        return s.getsockname()[1]


@dataclass
class Dovecot:
    """One running instance. ``imap_port``/``imaps_port`` are 0 when disabled."""

    workdir: Path
    conf: Path
    imap_port: int
    imaps_port: int
    proc: subprocess.Popen | None = None
    cert: Path | None = None
    ca: Path | None = None
    log: Path = field(default_factory=Path)

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc, grace=5.0)
        self.proc = None

    def __enter__(self) -> Dovecot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(workdir: Path, settings: str = "", *, imap: bool = True, imaps: bool = True,
          leaf: certs.Issued | None = None, ca: certs.Issued | None = None,
          names: tuple[str, ...] = ("localhost", "127.0.0.1"), ssl: bool = True,
          listen: str = SERVER_ADDR, netns: str | None = None,
          ports: tuple[int, int] | None = None) -> Dovecot:
    """Start Dovecot with ``settings`` (dovecot.conf lines) appended to a safe base.

    The base requires nothing by itself: it sets ``ssl = yes`` and certificates,
    so a test states the posture it wants (``ssl = required``,
    ``disable_plaintext_auth = no`` ...) in ``settings``, which wins (last one wins).
    ``netns``: run it inside that network namespace (``listen`` is then its address there);
    ``ports``: (imap, imaps) to use instead of free high ports, e.g. (143, 993) in a namespace.
    """
    cert_path, key_path, ca_path = prepare(workdir, ssl, leaf, ca, names)
    port_addr = SERVER_ADDR if netns else listen  # any free number will do inside a namespace
    imap_port = free_port(port_addr) if imap else 0
    imaps_port = free_port(port_addr) if imaps else 0
    if ports is not None:
        imap_port, imaps_port = (ports[0] if imap else 0), (ports[1] if imaps else 0)
    ssl_lines = (f"ssl = yes\nssl_cert = <{cert_path}\nssl_key = <{key_path}\n"
                 if ssl else "ssl = no\n")
    conf = workdir / "dovecot.conf"
    conf.write_text(f"""# written by tests/support/dovecot.py
protocols = imap
listen = {listen}
base_dir = {workdir}/run
state_dir = {workdir}/state
log_path = {workdir}/dovecot.log
instance_name = ig-{uuid.uuid4().hex[:10]}
{ssl_lines}auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = {workdir}/users
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={workdir}/home
}}
service imap-login {{
  inet_listener imap {{
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = {imaps_port}
  }}
}}
stats_writer_socket_path =
service anvil {{
  chroot =
}}
{settings}
""")
    prefix = ["ip", "netns", "exec", netns] if netns else []
    d = Dovecot(workdir, conf, imap_port, imaps_port, None, cert_path, ca_path,
                workdir / "dovecot.log")
    return launch(d, [*prefix, DOVECOT, "-F", "-c", str(conf)], listen)


def prepare(workdir: Path, ssl: bool, leaf: certs.Issued | None, ca: certs.Issued | None,
            names: tuple[str, ...]) -> tuple[Path | None, Path | None, Path | None]:
    """The directories, empty passwd file and certificates both versions' servers use:
    (certificate, key, CA file) under ``workdir``, all None without TLS."""
    workdir.mkdir(parents=True, exist_ok=True)
    for sub in ("run", "state", "home"):
        (workdir / sub).mkdir(exist_ok=True)
    (workdir / "users").write_text("")
    if not ssl:
        return None, None, None
    if leaf is None:
        ca = ca or default_ca()
        leaf = certs.make_leaf(ca, list(names))
    cert_path, key_path = leaf.write(workdir, "server")
    ca_path = None
    if ca is not None:
        ca_path = workdir / "ca.pem"
        ca_path.write_bytes(ca.cert_pem())
    return cert_path, key_path, ca_path


def launch(d: D, argv: list[str], listen: str, *, new_session: bool = False) -> D:
    """Start ``argv`` as ``d``'s master and wait until its ports listen; stop it (``d.stop``)
    and re-raise when it exits or does not listen in time."""
    d.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, start_new_session=new_session)
    try:
        _wait_listening(d, listen)
    except BaseException:
        d.stop()
        raise
    return d


def terminate(proc: subprocess.Popen, grace: float, group: bool = False) -> None:
    """SIGTERM, then after ``grace`` seconds SIGKILL (to its process group when it leads one)."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        if group:
            try:
                os.killpg(proc.pid, signal.SIGKILL)   # its own group, still held by it
            except ProcessLookupError:
                proc.kill()
        else:
            proc.kill()
        proc.wait(timeout=5)


def _wait_listening(d: Dovecot, addr: str, timeout: float = 10.0) -> None:
    ports = [p for p in (d.imap_port, d.imaps_port) if p]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if d.proc and d.proc.poll() is not None:
            out = d.proc.stdout.read().decode(errors="replace") if d.proc.stdout else ""
            log = d.log.read_text(errors="replace") if d.log.exists() else ""
            raise RuntimeError(f"dovecot exited ({d.proc.returncode}): {out}{log}")
        if all(_listening(addr, p) for p in ports):
            return
        time.sleep(0.05)
    d.stop()
    raise RuntimeError(f"dovecot did not listen on {ports} within {timeout}s")


def _listening(addr: str, port: int) -> bool:
    try:
        with socket.create_connection((addr, port), timeout=0.2):
            return True
    except OSError:
        return False
