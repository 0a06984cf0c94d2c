"""The real ``doveconf`` as an oracle: 2.3 on the host, 2.4 in the Debian 13 root filesystem.

A configuration is staged in a directory of its own (for 2.4 under ``ROOT/tmp``, since the
chrooted doveconf sees only the root filesystem), with its absolute ``!include`` lines
commented out: the linter never reads outside the repository, and doveconf must not read the
test machine's ``/etc/dovecot`` either. Nothing here resolves a name or opens a socket.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

INTERNET_CLIENT = "203.0.113.77"
_ABSOLUTE_INCLUDE = re.compile(rb"^([ \t]*!include(?:_try)?[ \t]+['\"]?/)", re.M)


@dataclass
class Result:
    ok: bool
    stdout: str
    reason: str          # doveconf's Fatal/Error line when it refuses


class Doveconf:
    """One doveconf: ``version`` "2.3" (host) or "2.4" (``chroot rootfs``)."""

    def __init__(self, version: str, rootfs: Path | None = None) -> None:
        self.version = version
        self.rootfs = rootfs
        if version == "2.4" and rootfs is None:
            raise ValueError("doveconf 2.4 needs the root filesystem")

    def staging(self) -> tempfile.TemporaryDirectory[str]:
        """A unique directory doveconf can read (inside the rootfs for 2.4)."""
        base = str(self.rootfs / "tmp") if self.rootfs is not None else None
        return tempfile.TemporaryDirectory(prefix=f"imap-gate-doveconf-{uuid.uuid4().hex[:8]}-",
                                           dir=base)

    def _argv(self, conf: Path, *args: str) -> list[str]:
        if self.rootfs is None:
            return ["doveconf", "-c", str(conf), *args]
        inside = "/" + conf.resolve().relative_to(self.rootfs.resolve()).as_posix()
        return ["chroot", str(self.rootfs), "doveconf", "-c", inside, *args]

    def run(self, conf: Path, *args: str) -> Result:
        proc = subprocess.run(self._argv(conf, *args), capture_output=True, timeout=60)
        out = proc.stdout.decode("utf-8", "surrogateescape")
        err = proc.stderr.decode("utf-8", "surrogateescape")
        if proc.returncode != 0:
            fatal = [ln for ln in err.splitlines() if "Fatal" in ln or "Error" in ln]
            return Result(False, out, fatal[-1] if fatal else err.strip()[-300:])
        return Result(True, out, "")

    def loads(self, conf: Path) -> Result:
        return self.run(conf, "-n")

    def values(self, conf: Path, names: tuple[str, ...]) -> dict[str, str] | Result:
        """Each setting as an internet IMAP client gets it, or the refusal."""
        if self.version == "2.3":       # 2.3 prints several -h names, one a line
            r = self.run(conf, "-f", "protocol=imap", "-f", f"remote={INTERNET_CLIENT}",
                         *[a for n in names for a in ("-h", n)])
            if not r.ok:
                return r
            return dict(zip(names, r.stdout.split("\n"), strict=False))
        out: dict[str, str] = {}
        for name in names:
            r = self.run(conf, "-f", "protocol=imap", "-f", f"remote={INTERNET_CLIENT}",
                         "-h", name)
            if not r.ok:
                if "Unknown setting" in r.reason or "not found" in r.reason or \
                        "Multiple settings" in r.reason:
                    continue
                return r
            out[name] = r.stdout.rstrip("\n")
        return out


def stage(src_root: Path, rel: str, dest: Path, alone: bool = False) -> Path:
    """Copy ``rel`` (and, unless ``alone``, the files beside it) under ``dest``; absolute
    includes commented out. Returns the staged file."""
    src = src_root / rel
    target = dest / (Path(rel).name if alone else rel)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not alone:
        for p in src.parent.rglob("*"):
            if p.is_file():
                q = dest / p.relative_to(src_root)
                q.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(p, q)
    target.write_bytes(_ABSOLUTE_INCLUDE.sub(rb"# \1", src.read_bytes()))
    return target


def write_staged(dest: Path, name: str, data: bytes) -> Path:
    target = dest / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(_ABSOLUTE_INCLUDE.sub(rb"# \1", data))
    return target


def environmental(reason: str) -> bool:
    """doveconf refused for the test machine, not for the file (a user only the server has)."""
    return "doesn't exist" in reason and ("user" in reason or "group" in reason)


_MISSING = re.compile(r"(\w+) doesn't exist: (\S+)")


def with_local_users(dc: Doveconf, staged: Path) -> Result:
    """``doveconf -n``; where it refuses only because a user or group of the server does not
    exist on this machine (``default_login_user doesn't exist: vmail``), that setting is
    rewritten to root in the staged copy (which the gate then reads too) and it is tried
    again. Users decide nothing the gate judges."""
    res = dc.loads(staged)
    for _ in range(6):
        m = _MISSING.search(res.reason) if not res.ok else None
        if m is None:
            return res
        key, who = m.group(1), m.group(2)
        data = staged.read_bytes()
        fixed = re.sub(rb"(?m)^([ \t]*" + re.escape(key.encode()) + rb"[ \t]*=[ \t]*)"
                       + re.escape(who.encode()) + rb"[ \t]*$", rb"\g<1>root", data)
        if fixed == data:
            return res
        staged.write_bytes(fixed)
        res = dc.loads(staged)
    return res


_TEMPLATE = re.compile(r"\{%|\{\{|\{#|<%|^\s*%\{?[A-Za-z_]")


def template_refusal(staged: Path, reason: str, findings) -> bool:
    """doveconf refused the unrendered template on a template line, and the gate reported
    the template (DOV015): a template construct is not a configuration error, and where it
    decides no verdict the gate need not fail (README, "Templates")."""
    m = re.search(r"line (\d+)", reason)
    if m is None or not any(f.rule_id == "DOV015" for f in findings):
        return False
    lines = staged.read_bytes().decode("utf-8", "surrogateescape").split("\n")
    n = int(m.group(1))
    return 0 < n <= len(lines) and bool(_TEMPLATE.search(lines[n - 1]))
