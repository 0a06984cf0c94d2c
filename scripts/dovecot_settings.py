#!/usr/bin/env python3
"""Generate ``checks/dovecot/known_settings.json``: every setting name Dovecot 2.3 and 2.4 know.

Why: ``doveconf`` refuses a configuration with an unknown setting (``Fatal: Unknown setting:
sssl``), so the linter must know the complete list to say so (DOV013), and must not call a
real setting unknown. "Known" means known to some release of that major version or to one
of the plugins Debian ships for it; one local doveconf is no proof (it lacks later releases
and uninstalled plugins), so the lists are the union of

1. ``doveconf -a`` of the real packages: Dovecot 2.3 from the host's Debian (12) and 2.4 from
   the Debian 13 root filesystem (``scripts/rootfs24.sh``), each in a throwaway overlay copy
   of its root with every Debian Dovecot plugin package installed (sieve, managesieved, ldap,
   lua, solr, fts-xapian, flatcurve, sql drivers, ...); nothing is installed on the host or
   in the shared root filesystem;
2. ``checks/dovecot/settings_docs.txt``: names Dovecot's own settings documentation lists
   for later releases or plugins that Debian does not package (each with its page).

Run as root: ``python3 scripts/dovecot_settings.py`` (a few minutes; uses apt). The output
records the package versions it came from.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "checks" / "dovecot" / "known_settings.json"
DOCS = REPO / "checks" / "dovecot" / "settings_docs.txt"
ROOTFS24 = Path(os.environ.get("IMAP_GATE_ROOTFS24") or "/var/cache/imap-gate/trixie-dovecot24")

# The Debian plugin packages (scripts/test.sh installs the same for the oracles).
PLUGINS = {v: (REPO / "scripts" / f"dovecot-plugins-{v}.txt").read_text().split()
           for v in ("2.3", "2.4")}
# One of each 2.3 section kind, so that ``doveconf -a`` prints the names they take.
MINIMAL = {"2.3": "namespace inbox {\n  mailbox Sent {\n  }\n}\npassdb {\n  driver = static\n}\n"
                  "userdb {\n  driver = static\n}\n",
           "2.4": "dovecot_config_version = 2.4.0\ndovecot_storage_version = 2.4.0\n"}
HIDDEN: dict[str, list[str]] = {}
KINDS: dict[str, str] = {}
_LINE = re.compile(r"^( *)([^ =]+) = ?")
_SECTION = re.compile(r"^( *)(\S+)(?: (.*?))? \{$")


def sh(*args: str, **kw) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw).stdout


def in_overlay(lower: Path, version: str) -> tuple[str, dict[str, str]]:
    """``doveconf -a`` in a throwaway overlay of ``lower`` with the plugin packages added."""
    with tempfile.TemporaryDirectory(prefix=f"dovecot-settings-{version}-") as tmp:
        t = Path(tmp)
        for d in ("upper", "work", "merged"):
            (t / d).mkdir()
        merged = t / "merged"
        sh("mount", "-t", "overlay", "overlay", "-o",
           f"lowerdir={lower},upperdir={t / 'upper'},workdir={t / 'work'}", str(merged))
        mounts = [merged]
        try:
            for sub in ("proc", "dev", "sys"):
                (merged / sub).mkdir(exist_ok=True)
                sh("mount", "--bind", f"/{sub}", str(merged / sub))
                mounts.append(merged / sub)
            for sub in ("tmp", "var/tmp"):
                (merged / sub).mkdir(parents=True, exist_ok=True)
                sh("mount", "-t", "tmpfs", "tmpfs", str(merged / sub))
                mounts.append(merged / sub)
            # package scripts must not start a service in the copy
            rc = merged / "usr/sbin/policy-rc.d"
            rc.write_text("#!/bin/sh\nexit 101\n")
            rc.chmod(0o755)
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            subprocess.run(["chroot", str(merged), "apt-get", "install", "-y", "-q",
                            "--no-install-recommends", *PLUGINS[version]],
                           check=True, capture_output=True, env=env)
            (merged / "tmp/min.conf").write_text(MINIMAL[version])
            out = sh("chroot", str(merged), "doveconf", "-a", "-c", "/tmp/min.conf")
            top, _inside, _sections = names_from(out)
            hidden = sorted(probe_hidden(merged, version, top))
            out += "".join(f"{h} = <hidden>\n" for h in hidden)
            HIDDEN[version] = hidden
            if version == "2.4":
                KINDS.update(classify_lists(merged, top))
            versions = {}
            for line in sh("chroot", str(merged), "dpkg-query", "-W",
                           "-f", "${Package} ${Version}\\n").splitlines():
                name, _, ver = line.partition(" ")
                if name.startswith("dovecot-"):
                    versions[name] = ver
            return out, versions
        finally:
            for m in reversed(mounts):
                subprocess.run(["umount", "-l", str(m)], check=False)


def probe_hidden(merged: Path, version: str, known: set[str]) -> set[str]:
    """Names doveconf accepts but ``doveconf -a`` does not print (hidden settings such as
    2.4's ``mailbox_list_utf8``, 2.2 names 2.3 still converts): every identifier in the
    installed Dovecot binaries (see below) is tried, one ``doveconf -n`` each; "Unknown
    setting" means unknown."""
    files = [p for d in ("usr/lib/dovecot", "usr/sbin", "usr/bin") for p in (merged / d).rglob("*")
             if p.is_file() and not p.is_symlink() and ("dove" in p.name or d == "usr/lib/dovecot")]
    words: set[str] = set()
    symbols: set[str] = set()
    for f in files:
        words |= set(subprocess.run(["strings", "-n", "4", str(f)], capture_output=True,
                                    text=True, errors="replace").stdout.split())
        symbols |= {ln.split()[-1] for ln in subprocess.run(
            ["nm", "-D", "--defined-only", str(f)], capture_output=True, text=True,
            errors="replace").stdout.splitlines() if ln.strip()}
    # Tried: every identifier that shares its first word with a known setting and is not an
    # exported function, and every two-word one (``base_dir`` is a setting and a symbol).
    firsts = {k.split("_")[0] for k in known}
    cands = sorted(w for w in words if re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)+", w)
                   and w not in known and ((w.split("_")[0] in firsts and w not in symbols)
                                           or w.count("_") == 1))

    def accepted(i_name: tuple[int, str]) -> str | None:
        i, name = i_name
        conf = merged / f"tmp/probe-{i}.conf"
        conf.write_text(MINIMAL[version] + f"{name} = 0\n")
        proc = subprocess.run(["chroot", str(merged), "doveconf", "-n", "-c", f"/tmp/probe-{i}.conf"],
                              capture_output=True, text=True, errors="replace")
        conf.unlink()
        return None if "Unknown setting" in proc.stderr else name

    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(4) as pool:
        return {n for n in pool.map(accepted, enumerate(cands)) if n}


def classify_lists(merged: Path, names: set[str]) -> dict[str, str]:
    """2.4 list settings, as doveconf tells them apart: ``name = "x`` (an unclosed quote) is
    "Missing ending" for a boolean list and "Setting is a string list" for a string list."""

    def kind(i_name: tuple[int, str]) -> tuple[str, str | None]:
        i, name = i_name
        conf = merged / f"tmp/kind-{i}.conf"
        conf.write_text(MINIMAL["2.4"] + f'{name} = "x\n')
        proc = subprocess.run(["chroot", str(merged), "doveconf", "-n", "-c", f"/tmp/kind-{i}.conf"],
                              capture_output=True, text=True, errors="replace")
        conf.unlink()
        if "Missing ending" in proc.stderr:
            return name, "boollist"
        if "is a string list" in proc.stderr:
            return name, "strlist"
        return name, None

    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(4) as pool:
        return {n: k for n, k in pool.map(kind, enumerate(sorted(names))) if k}


def names_from(dump: str) -> tuple[set[str], dict[str, set[str]], set[str]]:
    """(top-level names, {section type: names inside it}, section types) of ``doveconf -a``."""
    top: set[str] = set()
    inside: dict[str, set[str]] = {}
    sections: set[str] = set()
    stack: list[str] = []
    for line in dump.splitlines():
        if line.strip() == "}":
            if stack:
                stack.pop()
            continue
        m = _SECTION.match(line)
        if m and "=" not in (m.group(2) or ""):
            stack.append(m.group(2))
            sections.add(m.group(2))
            continue
        m = _LINE.match(line)
        if not m:
            continue
        name = m.group(2)
        if stack:
            inside.setdefault(stack[-1], set()).add(name)
        else:
            top.add(name)
    return top, inside, sections


def docs_names() -> dict[str, set[str]]:
    """``VERSION NAME  # source`` lines of the documentation supplement."""
    out: dict[str, set[str]] = {"2.3": set(), "2.4": set()}
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        body = line.split("#", 1)[0].split()
        if len(body) >= 2 and body[0] in out:
            out[body[0]].add(body[1])
    return out


def main() -> int:
    if os.geteuid() != 0:
        print("dovecot_settings: needs root (overlay mounts, chroot, apt)", file=sys.stderr)
        return 2
    docs = docs_names()
    result: dict[str, object] = {
        "generated_by": "scripts/dovecot_settings.py",
        "sources": {},
    }
    for version, lower in (("2.3", Path("/")), ("2.4", ROOTFS24)):
        dump, pkgs = in_overlay(lower, version)
        top, inside, sections = names_from(dump)
        result["sources"][version] = {   # type: ignore[index]
            "doveconf -a": f"Debian packages {', '.join(f'{k} {v}' for k, v in sorted(pkgs.items()))}",
            "documentation": "checks/dovecot/settings_docs.txt",
        }
        result[version] = {
            "settings": sorted(top | docs[version]),
            # accepted by doveconf but not printed by -a: in 2.4 mostly filter names
            # (ssl_server, inet_listener), whose blocks hold prefixed settings, not a list
            "hidden": HIDDEN.get(version, []),
            "kinds": dict(sorted(KINDS.items())) if version == "2.4" else {},
            "from_packages": len(top),
            "from_docs_only": len(docs[version] - top),
            "sections": sorted(sections),
            "inside": {k: sorted(v) for k, v in sorted(inside.items())},
        }
    OUT.write_text(json.dumps(result, indent=0, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(REPO)}: 2.3 {len(result['2.3']['settings'])} "  # type: ignore[index]
          f"names, 2.4 {len(result['2.4']['settings'])} names")  # type: ignore[index]
    return 0


if __name__ == "__main__":
    sys.exit(main())
