#!/usr/bin/env bash
# Installs the peer scanners the benchmarks compare imap-gate with.
#   testssl.sh and nmap: Debian packages (apt-get).
#   sslyze: from PyPI into its own virtualenv, so its pins (it brings its own
#   cryptography and pydantic) can never disturb the project's.
# A peer that cannot be installed is skipped with a message; the benches then
# report it as "not installed". Always exits 0.
#
# Usage: bash bench/setup.sh            (venv at $PEERS_VENV, default bench/.venv-peers)
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV="${PEERS_VENV:-$HERE/.venv-peers}"
SSLYZE_VERSION="${SSLYZE_VERSION:-6.3.1}"

say() { printf 'bench/setup: %s\n' "$*"; }

apt_peer() {
    local pkg="$1" bin="$2"
    if command -v "$bin" >/dev/null 2>&1; then
        say "$pkg already installed ($(command -v "$bin"))"
        return
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        say "SKIP $pkg: no apt-get on this machine"
        return
    fi
    if [ "$(id -u)" != 0 ]; then
        say "SKIP $pkg: apt-get needs root"
        return
    fi
    if DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$pkg" \
            >/tmp/bench-setup-"$pkg".log 2>&1; then
        say "installed $pkg"
    else
        say "SKIP $pkg: apt-get install failed (see /tmp/bench-setup-$pkg.log)"
    fi
}

apt_peer testssl.sh testssl
apt_peer nmap nmap

if [ -x "$VENV/bin/sslyze" ]; then
    say "sslyze already installed ($VENV/bin/sslyze)"
else
    if python3 -m venv "$VENV" >/tmp/bench-setup-sslyze.log 2>&1 \
        && "$VENV/bin/pip" install -q "sslyze==$SSLYZE_VERSION" >>/tmp/bench-setup-sslyze.log 2>&1; then
        say "installed sslyze $SSLYZE_VERSION in $VENV"
    else
        say "SKIP sslyze: install failed (see /tmp/bench-setup-sslyze.log)"
    fi
fi
exit 0
