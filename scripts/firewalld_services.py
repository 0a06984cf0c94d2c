#!/usr/bin/env python3
"""Generate checks/firewall/firewalld_services.json from Debian's ``firewalld`` packages.

Which stock firewalld service opens TCP 143 or 993 is data the package already has
(``/usr/lib/firewalld/services/*.xml``). This script downloads the package of each Debian
release named (``apt-get download`` with a throwaway apt state, the archive taken from this
machine's own apt sources with the suite swapped), unpacks it with ``dpkg-deb -x`` into a
temporary directory and reads the service files with defusedxml. Nothing is installed and
firewalld is never started (it would change the host firewall).

A service that differs between releases keeps the union of its ports: an accept of more ports
is the cautious reading. The data file records each package version it came from.

    scripts/firewalld_services.py [--suite bookworm --suite trixie] [--deb FILE.deb ...]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import defusedxml.ElementTree as ET

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "checks" / "firewall" / "firewalld_services.json"
SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
TRIXIE_KEYRING = Path("/var/cache/imap-gate/trixie-dovecot24/usr/share/keyrings/debian-archive-keyring.gpg")


def _sources_for(suite: str, tmp: Path) -> Path:
    """This machine's Debian sources, with every suite replaced by ``suite``."""
    text = SOURCES.read_text()
    text = re.sub(r"^Suites:.*$", lambda m: "Suites: " + " ".join(
        re.sub(r"^[a-z]+", suite, s) for s in m.group(0).split()[1:]), text, flags=re.M)
    if TRIXIE_KEYRING.is_file():  # a newer keyring knows every older release's keys too
        text = re.sub(r"^Signed-By:.*$", f"Signed-By: {TRIXIE_KEYRING}", text, flags=re.M)
    out = tmp / f"{suite}.sources"
    out.write_text(text)
    return out


def download(suite: str, tmp: Path) -> Path:
    state = tmp / f"apt-{suite}"
    for d in ("lists/partial", "cache/archives/partial"):
        (state / d).mkdir(parents=True, exist_ok=True)
    opts = [f"-oDir::Etc::SourceList={_sources_for(suite, tmp)}", "-oDir::Etc::SourceParts=/dev/null",
            f"-oDir::State::Lists={state / 'lists'}", f"-oDir::Cache={state / 'cache'}",
            "-oDir::State::status=/dev/null", "-oDebug::NoLocking=1"]
    subprocess.run(["apt-get", *opts, "-qq", "update"], check=True)
    where = tmp / f"deb-{suite}"
    where.mkdir()
    subprocess.run(["apt-get", *opts, "-qq", "download", "firewalld"], check=True, cwd=where)
    return next(where.glob("firewalld_*.deb"))


def read_deb(deb: Path, tmp: Path) -> tuple[str, dict[str, dict]]:
    version = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], check=True,
                             capture_output=True, text=True).stdout.strip()
    root = tmp / f"x-{version}"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    services: dict[str, dict] = {}
    for xml in sorted((root / "usr/lib/firewalld/services").glob("*.xml")):
        tree = ET.parse(xml).getroot()
        ports = sorted({(p.get("port", ""), p.get("protocol", "").lower()) for p in tree.iter("port")})
        services[xml.stem] = {
            "ports": [list(p) for p in ports],
            "protocols": sorted({p.get("value", "").lower() for p in tree.iter("protocol")}),
            "source_ports": sorted({f"{p.get('port')}/{p.get('protocol')}"
                                    for p in tree.iter("source-port")}),
            "includes": sorted({i.get("service", "") for i in tree.iter("include")}),
            "helpers": sorted({h.get("name", "") for h in tree.iter("helper")}),
        }
    return version, services


def merge(catalogues: list[tuple[str, dict[str, dict]]]) -> dict:
    services: dict[str, dict] = {}
    for version, cat in catalogues:
        for name, svc in cat.items():
            cur = services.setdefault(name, {k: [] for k in svc} | {"versions": []})
            for k, v in svc.items():
                merged = {tuple(x) if isinstance(x, list) else x for x in cur[k]} | \
                    {tuple(x) if isinstance(x, list) else x for x in v}
                cur[k] = sorted(list(x) if isinstance(x, tuple) else x for x in merged)
            cur["versions"].append(version)
    return {
        "generated_by": "scripts/firewalld_services.py",
        "source": "Debian package firewalld, /usr/lib/firewalld/services/*.xml",
        "packages": [v for v, _ in catalogues],
        "services": dict(sorted(services.items())),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suite", action="append", help="Debian release to take firewalld from")
    ap.add_argument("--deb", action="append", type=Path, help="an already downloaded firewalld .deb")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    suites = args.suite if args.suite is not None else ([] if args.deb else ["bookworm", "trixie"])
    with tempfile.TemporaryDirectory(prefix="firewalld-services-") as t:
        tmp = Path(t)
        debs = list(args.deb or []) + [download(s, tmp) for s in suites]
        data = merge([read_deb(d, tmp) for d in debs])
    args.out.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    print(f"{args.out}: {len(data['services'])} services from firewalld {', '.join(data['packages'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
