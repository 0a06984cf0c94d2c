"""Shared helpers of the benches: a fleet of real Dovecot endpoints of mixed
postures on loopback, the manifest that points imap-gate at it, and the ground
truth of which problems each endpoint has, for the detection tables.

Every instance listens on 127.0.0.1 (distinct high ports) with its own config,
base_dir and certificates from tests/support; imap-gate probes from 127.0.0.2,
because Dovecot treats a client whose address equals its own as secured.
"""

from __future__ import annotations

import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support import certs, dovecot, rusage  # noqa: E402

SERVER = dovecot.SERVER_ADDR        # 127.0.0.1
CLIENT = dovecot.CLIENT_ADDR        # 127.0.0.2

# The problem kinds of the detection tables, in column order.
KINDS = ("cleartext-auth", "starttls-missing", "legacy-tls", "weak-cipher",
         "cert-expired", "cert-untrusted", "cert-name")

# imap-gate rule id -> problem kind
RULE_KIND = {
    "IMAP004": "cleartext-auth", "IMAP001": "cleartext-auth",
    "IMAP002": "starttls-missing",
    "TLS001": "legacy-tls", "TLS002": "legacy-tls",
    "TLS004": "weak-cipher", "TLS005": "weak-cipher",
    "CERT001": "cert-expired", "CERT002": "cert-expired",
    "CERT003": "cert-untrusted",
    "CERT004": "cert-name",
}

# Appended to every instance: the local port in each login log line (so the benches
# count connections per endpoint), and imap-login in high-performance mode, so
# hundreds of scanner connections do not each fork a login process.
FLEET_EXTRA = ("login_log_format_elements = user=<%u> method=%m rip=%r lip=%l lport=%{lport} "
               "mpid=%e %c session=<%{session}>\n"
               "service imap-login {\n  service_count = 0\n  process_min_avail = 1\n}\n")

SECURE = "ssl = required\ndisable_plaintext_auth = yes\n"
CLEARTEXT = "ssl = yes\ndisable_plaintext_auth = no\n"
LEGACY = ("ssl = required\ndisable_plaintext_auth = yes\nssl_min_protocol = TLSv1\n"
          "ssl_cipher_list = ALL:@SECLEVEL=0\nssl_prefer_server_ciphers = no\n")


@dataclass(frozen=True)
class Posture:
    """One Dovecot instance: its settings, its certificate, which ports it opens,
    and the problems each of its endpoints really has."""

    name: str
    settings: str
    cert: str = "valid"           # valid | expired | self-signed | wrong-host | not-yet-valid
    imap: bool = True
    imaps: bool = True
    ssl: bool = True
    problems: frozenset[str] = frozenset()
    quick: bool = False           # part of the --quick fleet


CERT_PROBLEMS = {"valid": frozenset(), "expired": frozenset({"cert-expired"}),
                 "not-yet-valid": frozenset({"cert-expired"}),
                 "self-signed": frozenset({"cert-untrusted"}),
                 "wrong-host": frozenset({"cert-name"})}

POSTURES: tuple[Posture, ...] = (
    Posture("secure", SECURE, quick=True),
    Posture("secure-ec", SECURE),
    Posture("cleartext", CLEARTEXT, problems=frozenset({"cleartext-auth"}), quick=True),
    Posture("cleartext-selfsigned", CLEARTEXT, cert="self-signed",
            problems=frozenset({"cleartext-auth"})),
    Posture("nossl", "ssl = no\ndisable_plaintext_auth = no\n", imaps=False, ssl=False,
            problems=frozenset({"cleartext-auth", "starttls-missing"}), quick=True),
    Posture("legacy", LEGACY, problems=frozenset({"legacy-tls", "weak-cipher"}), quick=True),
    Posture("legacy-993only", LEGACY, imap=False, problems=frozenset({"legacy-tls", "weak-cipher"})),
    Posture("expired", SECURE, cert="expired", quick=True),
    Posture("selfsigned", SECURE, cert="self-signed", quick=True),
    Posture("wronghost", SECURE, cert="wrong-host", quick=True),
    Posture("notyetvalid", SECURE, cert="not-yet-valid"),
    Posture("993only", SECURE, imap=False, quick=True),
)


@dataclass(frozen=True)
class Endpoint:
    name: str                     # "<posture>-<port kind>", also the manifest target name
    posture: str
    port: int
    protocol: str                 # imap (STARTTLS) | imaps (implicit TLS)
    problems: frozenset[str]

    @property
    def starttls(self) -> bool:
        return self.protocol == "imap"


@dataclass
class Fleet:
    workdir: Path
    ca_path: Path
    endpoints: list[Endpoint] = field(default_factory=list)
    instances: list[dovecot.Dovecot] = field(default_factory=list)
    started_in: float = 0.0

    def stop(self) -> None:
        for d in self.instances:
            d.stop()
        self.instances.clear()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _leaf(ca: certs.Issued, kind: str, key_kind: str) -> certs.Issued:
    names = ["localhost", SERVER]
    if kind == "expired":
        return certs.make_leaf(ca, names, days_before=400, days_after=-10, key_kind=key_kind)
    if kind == "not-yet-valid":
        return certs.make_leaf(ca, names, days_before=-10, days_after=400, key_kind=key_kind)
    if kind == "self-signed":
        return certs.make_leaf(None, names, key_kind=key_kind)
    if kind == "wrong-host":
        return certs.make_leaf(ca, ["mail.example.invalid"], key_kind=key_kind)
    return certs.make_leaf(ca, names, key_kind=key_kind)


def start_fleet(workdir: Path | None = None, quick: bool = False, extra_settings: str = FLEET_EXTRA) -> Fleet:
    """Start every posture's Dovecot (the --quick subset with ``quick``), in
    parallel; stop what started if any fails."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="imap-gate-fleet-"))
    workdir.mkdir(parents=True, exist_ok=True)
    ca = certs.make_ca("imap-gate bench CA")
    ca_path = workdir / "bench-ca.pem"
    ca_path.write_bytes(ca.cert_pem())
    fleet = Fleet(workdir, ca_path)
    postures = [p for p in POSTURES if p.quick or not quick]
    t0 = time.monotonic()

    def one(p: Posture) -> dovecot.Dovecot:
        leaf = _leaf(ca, p.cert, "ec" if p.name.endswith("-ec") else "rsa") if p.ssl else None
        return dovecot.start(workdir / p.name, p.settings + extra_settings, imap=p.imap,
                             imaps=p.imaps, leaf=leaf, ca=ca, ssl=p.ssl)

    with ThreadPoolExecutor(4) as pool:
        futures = [(p, pool.submit(one, p)) for p in postures]
        errors = []
        for p, fut in futures:
            try:
                d = fut.result()
            except Exception as exc:  # reported below; what started is stopped
                errors.append(f"{p.name}: {exc}")
                continue
            fleet.instances.append(d)
            problems = p.problems | CERT_PROBLEMS[p.cert] if p.ssl else p.problems
            if d.imap_port:
                fleet.endpoints.append(Endpoint(f"{p.name}-143", p.name, d.imap_port, "imap", problems))
            if d.imaps_port:
                tls_only = problems - {"cleartext-auth", "starttls-missing"}
                fleet.endpoints.append(Endpoint(f"{p.name}-993", p.name, d.imaps_port, "imaps",
                                                tls_only))
    fleet.started_in = time.monotonic() - t0
    if errors:
        fleet.stop()
        raise RuntimeError("could not start the fleet: " + "; ".join(errors))
    return fleet


def write_manifest(path: Path, endpoints: Sequence[Endpoint], ca_path: Path | None,
                   timeout: float = 5.0, source: str | None = CLIENT,
                   concurrency: int = 64) -> Path:
    """One target per endpoint, so each gets its own name in the findings. The CA
    is copied beside the manifest: imap-gate reads nothing outside its root."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if ca_path is not None:
        shutil.copyfile(ca_path, path.parent / "bench-ca.pem")
    lines = ["version: 1", "name: bench", "defaults:", f"  timeout: {timeout}",
             f"  concurrency: {concurrency}"]
    if source:
        lines.append(f"  source_address: {source}")
    lines.append("targets:" if endpoints else "targets: []")
    for e in endpoints:
        lines += [f"  - name: {e.name}", f"    host: {SERVER}", f"    sni: {SERVER}",
                  f"    ports: [{{port: {e.port}, protocol: {e.protocol}}}]"]
        if ca_path is not None:
            lines.append("    ca_file: bench-ca.pem")
    path.write_text("\n".join(lines) + "\n")
    return path


# ------------------------------------------------------------------ running things

@dataclass
class Timed:
    argv: list[str]
    code: int | None              # None: killed at the time limit
    seconds: float
    maxrss_kb: int
    stdout: str = ""
    stderr: str = ""

    @property
    def hung(self) -> bool:
        return self.code is None


def timed_run(argv: Sequence[str], limit: float, env: dict[str, str] | None = None,
              cwd: Path | None = None) -> Timed:
    """Run a command with a hard time limit (its process group is killed), wall
    time and the command's own peak RSS (tests/support/rusage.py says why that
    needs a launcher)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        m = rusage.run_measured(argv, limit, stdout=out, stderr=err, env=full_env, cwd=cwd)
        out.seek(0)
        err.seek(0)
        return Timed(list(argv), m.code, m.seconds, m.maxrss_kb,
                     out.read().decode(errors="replace"), err.read().decode(errors="replace"))


ENTRYPOINT = REPO / "entrypoint.py"


def entrypoint_argv(*args: str) -> list[str]:
    return [sys.executable, str(ENTRYPOINT), *args]


def run_main(main: Any, name: str) -> None:
    """A bench prints what it could measure and always exits 0: it never fails a pipeline."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
    except Exception as exc:
        print(f"{name}: stopped early: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(0)


def compile_imap_gate() -> None:
    """Byte-compile imap-gate as ``pip install`` and the Docker image do, so that start-up
    is measured as users see it even where PYTHONDONTWRITEBYTECODE is set (as on the
    development machines) and every run would otherwise compile its modules again; the
    peers are measured from their installed, compiled copies."""
    import compileall

    for part in ("imap_gate", "checks"):
        compileall.compile_dir(str(REPO / part), quiet=1)
    compileall.compile_file(str(ENTRYPOINT), quiet=1)


def peer_paths(venv: Path | None = None) -> dict[str, str | None]:
    """Where each peer is; None when it is not installed (run bench/setup.sh)."""
    venv = venv or Path(os.environ.get("PEERS_VENV", REPO / "bench" / ".venv-peers"))
    sslyze = venv / "bin" / "sslyze"
    return {"sslyze": str(sslyze) if sslyze.exists() else shutil.which("sslyze"),
            "testssl": shutil.which("testssl") or shutil.which("testssl.sh"),
            "nmap": shutil.which("nmap")}


def median(values: Sequence[float]) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def fit_exponent(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of log y over log x: 1.0 is linear growth."""
    import math

    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys, strict=True) if x > 0 and y > 0]
    if len(pts) < 2:
        return float("nan")
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    den = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / den if den else float("nan")


def self_maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table, columns padded to their widest cell."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()  # noqa: E731
    return "\n".join([fmt(cells[0]), fmt(["-" * w for w in widths])] + [fmt(r) for r in cells[1:]])
