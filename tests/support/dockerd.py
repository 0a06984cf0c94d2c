"""A private Docker daemon for the image tier (``tests/action/test_image.py``) and ``bench/image.py``.

The tier starts its own ``dockerd`` (no iptables, no bridge, its own data and exec roots and
socket), so it never touches a system daemon and is stopped by its PID at the end. No container
registry is reachable here: when ``python:3.11-slim-bookworm`` is not available the base is the
stand-in ``scripts/pybase.sh`` builds (say so in the output), or a ``docker save`` of the real
image named by ``IMAP_GATE_PYTHON_IMAGE_TAR``.

Storage: overlay2 where the kernel allows it (a container starts in well under a second), else
vfs, which works everywhere but copies the whole image for every layer and every container.
``IMAP_GATE_DOCKER_STORAGE`` (e.g. ``vfs``) forces one.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BASE = "python:3.11-slim-bookworm"
# what the official image sets and `docker import` of a root filesystem does not
STANDIN_CHANGES = ("ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
                   "ENV LANG=C.UTF-8", 'CMD ["python3"]')


def missing() -> str | None:
    """Why the tier cannot run on this machine, or None."""
    if os.geteuid() != 0:
        return "the image tier needs root (it starts its own dockerd)"
    for tool in ("dockerd", "docker"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/test.sh installs docker.io)"
    return None


@dataclass
class Daemon:
    sock: Path
    pid: int
    data_root: Path
    exec_root: Path
    storage: str
    log: Path
    notes: list[str] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env["DOCKER_HOST"] = f"unix://{self.sock}"
        env["DOCKER_BUILDKIT"] = "0"   # the classic builder: no buildx plugin needed
        return env

    def docker(self, *args: str, timeout: float = 900, check: bool = True,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                              env={**self.env, **(env or {})})
        if check and proc.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args[:3])} exited {proc.returncode}: "
                               f"{proc.stderr.strip()[-2000:]}")
        return proc

    def stop(self) -> None:
        """SIGTERM to our dockerd only (it stops its containerd), then undo its mounts."""
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _alive(self.pid):
            time.sleep(0.2)
        if _alive(self.pid):
            os.kill(self.pid, signal.SIGKILL)
        for root in (self.exec_root, self.data_root):
            _unmount_under(root)
            shutil.rmtree(root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _unmount_under(root: Path) -> None:
    prefix = str(root.resolve())
    with open("/proc/mounts", encoding="utf-8") as fh:
        points = [ln.split()[1] for ln in fh]
    for point in sorted((p for p in points if p == prefix or p.startswith(prefix + "/")),
                        key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


def start(storage: str | None = None) -> Daemon:
    """Start a private dockerd; overlay2 first, vfs if the kernel refuses it."""
    wanted = os.environ.get("IMAP_GATE_DOCKER_STORAGE")
    candidates = [storage] if storage else [wanted] if wanted else ["overlay2", "vfs"]
    problems = []
    for driver in candidates:
        try:
            return _start(driver)
        except RuntimeError as exc:
            problems.append(f"{driver}: {exc}")
    raise RuntimeError("dockerd did not start: " + "; ".join(problems))


def _start(storage: str) -> Daemon:
    tag = uuid.uuid4().hex[:8]
    data_root = Path(tempfile.mkdtemp(prefix=f"imap-gate-image-{tag}-", dir="/var/tmp"))
    exec_root = Path(tempfile.mkdtemp(prefix=f"igd-{tag}-", dir="/run"))  # short: socket paths
    sock, pidfile, log = exec_root / "docker.sock", exec_root / "dockerd.pid", data_root / "dockerd.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["dockerd", "--iptables=false", "--ip6tables=false", "--bridge=none",
             f"--storage-driver={storage}", "--data-root", str(data_root / "data"),
             "--exec-root", str(exec_root / "exec"), "--pidfile", str(pidfile),
             "-H", f"unix://{sock}"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    daemon = Daemon(sock, proc.pid, data_root, exec_root, storage, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if sock.exists() and daemon.docker("version", check=False, timeout=20).returncode == 0:
            if daemon.docker("info", "--format", "{{.Driver}}", check=False).stdout.strip() == storage:
                return daemon
            break
        time.sleep(0.2)
    tail = log.read_text(errors="replace").strip().splitlines()[-3:]
    daemon.stop()
    raise RuntimeError(" / ".join(tail) or "no socket within 60 s")


def ensure_base(daemon: Daemon) -> str:
    """Make ``python:3.11-slim-bookworm`` available; returns a note saying what it is."""
    if daemon.docker("image", "inspect", BASE, check=False).returncode == 0:
        return f"{BASE}: present locally"
    saved = os.environ.get("IMAP_GATE_PYTHON_IMAGE_TAR")
    if saved and Path(saved).is_file():
        daemon.docker("load", "-i", saved)
        if daemon.docker("image", "inspect", BASE, check=False).returncode == 0:
            return f"{BASE}: loaded from {saved}"
    tar = _import_standin(daemon, BASE, "pybase.sh", STANDIN_CHANGES)
    return (f"{BASE} is a STAND-IN (no registry reachable): Debian 12 minbase python3 3.11 with "
            f"`python3 -m venv /usr/local`, imported from {tar}")


def _import_standin(daemon: Daemon, tag: str, script: str, changes: tuple[str, ...]) -> str:
    """``docker import`` the root filesystem tarball that ``scripts/SCRIPT`` prints, as TAG."""
    tar = subprocess.run([str(REPO / "scripts" / script)], capture_output=True, text=True,
                         timeout=1800, env={**os.environ, "PYTHON": sys.executable})
    if tar.returncode != 0:
        raise RuntimeError(f"scripts/{script} failed: {tar.stderr.strip()[-2000:]}")
    daemon.docker("import", *[a for c in changes for a in ("--change", c)], tar.stdout.strip(), tag)
    return tar.stdout.strip()


def build(daemon: Daemon, tag: str) -> float:
    """``docker build --network host`` of the repository's Dockerfile; returns seconds taken."""
    t0 = time.monotonic()
    daemon.docker("build", "--network", "host", "-t", tag, str(REPO), timeout=1800)
    return time.monotonic() - t0


def image_size(daemon: Daemon, tag: str) -> int:
    return int(daemon.docker("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip())


TRIXIE = "debian:trixie-slim"
TRIXIE_CHANGES = ("ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                  'CMD ["bash"]')


def ensure_trixie(daemon: Daemon) -> str:
    """Make ``debian:trixie-slim`` (rehearse/Dockerfile's 2.4 stage) available; says what it is."""
    if daemon.docker("image", "inspect", TRIXIE, check=False).returncode == 0:
        return f"{TRIXIE}: present locally"
    tar = _import_standin(daemon, TRIXIE, "trixiebase.sh", TRIXIE_CHANGES)
    return f"{TRIXIE} is a STAND-IN (no registry reachable): Debian 13 minbase, imported from {tar}"


def build_rehearse(daemon: Daemon, base_tag: str, tag: str) -> float:
    """``docker build`` of rehearse/ on top of the image just built; returns seconds taken."""
    t0 = time.monotonic()
    daemon.docker("build", "--network", "host", "--build-arg", f"IMAP_GATE_IMAGE={base_tag}",
                  "--build-arg", f"DOVECOT24_BASE={TRIXIE}", "-t", tag, str(REPO / "rehearse"),
                  timeout=1800)
    return time.monotonic() - t0
