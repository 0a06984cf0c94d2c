"""Real GNU Mailutils imap4d instances for the tests: a second IMAP server beside Dovecot.

Each instance runs in the foreground on 127.0.0.1:<free port> with its own config file
(``imap4d --config-file=F``), certificates from ``tests.support.certs`` and a GnuTLS
priority string, and is stopped afterwards. GnuTLS serves what Debian 12's OpenSSL will not:
TLS 1.0/1.1 and 3DES, so the TLS version and cipher legs meet a real legacy server.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support import certs
from tests.support.dovecot import SERVER_ADDR, _listening, free_port

IMAP4D = shutil.which("imap4d") or "/usr/sbin/imap4d"
LEGACY = "NORMAL:+VERS-TLS1.0:+VERS-TLS1.1:+3DES-CBC:+RSA"


def available() -> bool:
    return Path(IMAP4D).exists()


@dataclass
class Imap4d:
    port: int
    conf: Path
    proc: subprocess.Popen
    ca: certs.Issued

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def __enter__(self) -> Imap4d:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def config(port: int, tls_mode: str, cert: Path, key: Path, priorities: str = LEGACY,
           extra: str = "") -> str:
    return f"""# written by tests/support/imap4d.py
mode daemon;
foreground true;
{extra}
server {SERVER_ADDR}:{port} {{
  tls-mode {tls_mode};
  tls {{
    ssl-certificate-file {cert};
    ssl-key-file {key};
    ssl-priorities "{priorities}";
  }};
}};
"""


def start(workdir: Path, tls_mode: str = "required", priorities: str = LEGACY,
          extra: str = "", ca: certs.Issued | None = None) -> Imap4d:
    """``tls_mode``: ondemand | required | connection | false (imap4d's own words)."""
    workdir.mkdir(parents=True, exist_ok=True)
    ca = ca or certs.make_ca("imap-gate imap4d test CA")
    cert, key = certs.make_leaf(ca, ["localhost", SERVER_ADDR]).write(workdir, "server")
    port = free_port()
    conf = workdir / "imap4d.conf"
    conf.write_text(config(port, tls_mode, cert, key, priorities, extra))
    lint = subprocess.run([IMAP4D, f"--config-file={conf}", "--config-lint"],
                          capture_output=True, text=True, timeout=30)
    if lint.returncode != 0:
        raise RuntimeError(f"imap4d --config-lint refused {conf}: {lint.stderr}")
    proc = subprocess.Popen([IMAP4D, f"--config-file={conf}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    d = Imap4d(port, conf, proc, ca)
    import time

    end = time.monotonic() + 10
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"imap4d exited ({proc.returncode}) with {conf}")
        if _listening(SERVER_ADDR, port):
            return d
        time.sleep(0.05)
    d.stop()
    raise RuntimeError(f"imap4d did not listen on {port} within 10 s")
