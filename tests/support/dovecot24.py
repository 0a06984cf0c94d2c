"""Real Dovecot 2.4 instances for the tests, from the Debian 13 root filesystem.

``chroot ROOT dovecot -F -c FILE`` shares the host's network, so the server listens on
loopback like the 2.3 ones; every file it reads lives in a unique directory under ROOT/tmp
(the config names it as /tmp/...). The config is written in 2.4 syntax
(``dovecot_config_version``, ``ssl_server_cert_file``, named passdb/userdb, ``listen`` in the
listener). Dovecot treats a client from the server's own address as secured, so the server
listens on 127.0.0.2 and the probe comes from 127.0.0.1. ``stop`` ends the master by its PID
(then its process group) and removes the directory, whatever happens.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.support import certs
from tests.support.dovecot import Dovecot, _wait_listening, default_ca, free_port

SERVER_ADDR = "127.0.0.2"
CLIENT_ADDR = "127.0.0.1"


@dataclass
class Dovecot24(Dovecot):
    root: Path = Path("/")

    def stop(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)   # its own group, still held by it
                except ProcessLookupError:
                    proc.kill()
                proc.wait(timeout=5)
        self.proc = None
        shutil.rmtree(self.workdir, ignore_errors=True)


def start(root: Path, settings: str = "", *, imap: bool = True, imaps: bool = True,
          leaf: certs.Issued | None = None, ca: certs.Issued | None = None,
          names: tuple[str, ...] = ("localhost", SERVER_ADDR), ssl: bool = True,
          listen: str = SERVER_ADDR) -> Dovecot24:
    """Start Dovecot 2.4 (``root``: the root filesystem) with ``settings`` appended.

    As for 2.3, the base sets ``ssl = yes`` and a certificate and requires nothing; the test
    states the posture (``ssl = required``, ``auth_allow_cleartext = yes`` ...)."""
    name = f"imap-gate-test24-{uuid.uuid4().hex[:12]}"
    host_dir = root / "tmp" / name
    seen = f"/tmp/{name}"
    for sub in ("run", "state", "home"):
        (host_dir / sub).mkdir(parents=True, exist_ok=True)
    (host_dir / "users").write_text("")
    ca_path = None
    ssl_lines = "ssl = no\n"
    cert_path: Path | None = None
    if ssl:
        if leaf is None:
            ca = ca or default_ca()
            leaf = certs.make_leaf(ca, list(names))
        cert_path, _ = leaf.write(host_dir, "server")
        if ca is not None:
            ca_path = host_dir / "ca.pem"
            ca_path.write_bytes(ca.cert_pem())
        ssl_lines = (f"ssl = yes\nssl_server_cert_file = {seen}/server.crt\n"
                     f"ssl_server_key_file = {seen}/server.key\n")
    imap_port = free_port(listen) if imap else 0
    imaps_port = free_port(listen) if imaps else 0
    conf = host_dir / "dovecot.conf"
    conf.write_text(f"""dovecot_config_version = 2.4.1
# written by tests/support/dovecot24.py
dovecot_storage_version = 2.4.1
protocols = imap
listen = {listen}
base_dir = {seen}/run
state_dir = {seen}/state
log_path = {seen}/dovecot.log
instance_name = ig24-{uuid.uuid4().hex[:10]}
{ssl_lines}auth_mechanisms = plain login
passdb passwd-file {{
  passwd_file_path = {seen}/users
}}
userdb static {{
  fields {{
    uid = nobody
    gid = nogroup
    home = {seen}/home
  }}
}}
mail_driver = maildir
mail_path = {seen}/mail/%{{user}}
service imap-login {{
  inet_listener imap {{
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = {imaps_port}
  }}
}}
service anvil {{
  chroot =
}}
{settings}
""")
    proc = subprocess.Popen(["chroot", str(root), "dovecot", "-F", "-c", f"{seen}/dovecot.conf"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    d = Dovecot24(host_dir, conf, imap_port, imaps_port, proc, cert_path, ca_path,
                  host_dir / "dovecot.log", root=root)
    try:
        _wait_listening(d, listen)
    except BaseException:
        d.stop()
        raise
    return d
