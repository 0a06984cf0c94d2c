#!/usr/bin/env python3
"""How long reading a big manifest takes: imap-gate's loader against PyYAML's C loader.

imap-gate reads, validates (schema and meaning) and locates (line:column of every value)
a manifest of N targets; the reference is ``yaml.load(text, Loader=yaml.CSafeLoader)`` on
the same file, which only loads: no schema, no positions kept (its nodes carry marks, so its
composing alone is printed too). Target: within 3x of the C loader at 10,000 targets.

    python bench/manifest_read.py [--targets 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from imap_gate.manifest import load_manifest


def manifest_text(n: int) -> str:
    lines = ["version: 1", "name: bench-fleet", "defaults:", "  timeout: 5",
             "  concurrency: 64", "targets:"]
    for i in range(n):
        lines += [f"  - name: mail-{i:05d}   # a comment",
                  f"    host: 10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
                  "    ports: [143, 993]" if i % 3 else
                  "    ports:\n      - 993\n      - {port: 11430, protocol: imap}",
                  f"    sni: mail-{i}.example.com",
                  "    expect: {\"993\": open}" if i % 2 else "    timeout: 2.5"]
    lines += ["policy:", "  fail_on: medium", "  waivers: []"]
    return "\n".join(lines) + "\n"


def best(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="imap-gate-bench-") as d:
        root = Path(d)
        path = root / "imap-gate.yml"
        text = manifest_text(args.targets)
        path.write_text(text, encoding="utf-8")
        m = load_manifest(root, path)
        assert len(m.targets) == args.targets and m.targets[-1].line > 1
        ours = best(lambda: load_manifest(root, path), args.repeat)
        c_loader = best(lambda: yaml.load(path.read_text(encoding="utf-8"),
                                          Loader=yaml.CSafeLoader), args.repeat)
        def c_compose() -> None:
            loader = yaml.CSafeLoader(path.read_text(encoding="utf-8"))
            try:
                loader.get_single_node()
            finally:
                loader.dispose()

        c_nodes = best(c_compose, args.repeat)
        py_loader = best(lambda: yaml.safe_load(path.read_text(encoding="utf-8")), 1)
    size = len(text.encode()) / 1e6
    print(f"python bench/manifest_read.py  ({args.targets} targets, {size:.1f} MB, best of "
          f"{args.repeat})")
    print(f"{'reader':34} {'seconds':>8} {'ratio':>7}")
    print(f"{'imap-gate (read, validate, locate)':34} {ours:8.3f} {ours / c_loader:6.2f}x")
    print(f"{'PyYAML CSafeLoader (load)':34} {c_loader:8.3f} {1:6.2f}x")
    print(f"{'PyYAML CSafeLoader (nodes, marks)':34} {c_nodes:8.3f} {c_nodes / c_loader:6.2f}x")
    print(f"{'PyYAML safe_load (pure Python)':34} {py_loader:8.3f} {py_loader / c_loader:6.2f}x")
    print(f"target: imap-gate within 3x of CSafeLoader: {'met' if ours <= 3 * c_loader else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
