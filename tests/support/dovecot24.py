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

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.support import certs
from tests.support.dovecot import Dovecot, free_port, launch, prepare, terminate

SERVER_ADDR = "127.0.0.2"
CLIENT_ADDR = "127.0.0.1"


@dataclass
class Dovecot24(Dovecot):
    root: Path = Path("/")

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc, grace=2.0, group=True)
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
    cert_path, _key, ca_path = prepare(host_dir, ssl, leaf, ca, names)
    ssl_lines = (f"ssl = yes\nssl_server_cert_file = {seen}/server.crt\n"
                 f"ssl_server_key_file = {seen}/server.key\n") if ssl else "ssl = no\n"
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
    d = Dovecot24(host_dir, conf, imap_port, imaps_port, None, cert_path, ca_path,
                  host_dir / "dovecot.log", root=root)
    # the same start-and-wait as 2.3, through chroot, in a session of its own so that stop
    # can end the master's whole group
    return launch(d, ["chroot", str(root), "dovecot", "-F", "-c", f"{seen}/dovecot.conf"],
                  listen, new_session=True)
