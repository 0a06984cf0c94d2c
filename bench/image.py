#!/usr/bin/env python3
"""The Action's image: its size and how long the container takes to start.

Starts a private dockerd (``tests/support/dockerd.py``, the image tier's), makes the base
available (the official image if present or saved, else the stand-in ``scripts/pybase.sh``
builds, and says which), builds the Dockerfile with ``docker build --network host`` and
prints: build time, image size (and the base's), and the wall time of
``docker run --rm IMAGE --version`` (a container's start-up, what every Action step pays on
top of the gate) next to ``python -I entrypoint.py --version`` on the host. Exits 0; needs root.

    python bench/image.py [--runs 10] [--storage overlay2|vfs]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support import dockerd  # noqa: E402


def timed(argv: list[str], runs: int, env: dict[str, str] | None = None) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True, env=env)
        out.append(time.perf_counter() - t0)
    return out


def fmt(xs: list[float]) -> str:
    return f"median {statistics.median(xs) * 1000:.0f} ms (min {min(xs) * 1000:.0f}, " \
           f"max {max(xs) * 1000:.0f}, n={len(xs)})"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--storage", help="dockerd storage driver (default: overlay2, else vfs)")
    args = p.parse_args()
    why = dockerd.missing()
    if why:
        print(f"image bench skipped: {why}")
        return 0
    daemon = dockerd.start(args.storage)
    try:
        note = dockerd.ensure_base(daemon)
        tag = f"imap-gate:bench-{uuid.uuid4().hex[:8]}"
        built = dockerd.build(daemon, tag)
        size, base = dockerd.image_size(daemon, tag), dockerd.image_size(daemon, dockerd.BASE)
        docker = ["docker", "run", "--rm", "--network", "host", tag, "--version"]
        timed(docker, 1, daemon.env)  # the first run warms the page cache
        container = timed(docker, args.runs, daemon.env)
        host = timed([sys.executable, "-I", str(REPO / "entrypoint.py"), "--version"], args.runs)
        print(f"base: {note}")
        print(f"dockerd storage driver: {daemon.storage}")
        print(f"build (docker build --network host, cold): {built:.1f} s")
        print(f"image size: {size / 1e6:.1f} MB (base {base / 1e6:.1f} MB, "
              f"imap-gate and its dependencies {(size - base) / 1e6:.1f} MB)")
        print(f"container start-up, docker run --rm IMAGE --version: {fmt(container)}")
        print(f"host, python -I entrypoint.py --version:             {fmt(host)}")
    finally:
        daemon.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
