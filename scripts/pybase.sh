#!/usr/bin/env bash
# A stand-in for the Dockerfile's base image (python:3.11-slim-bookworm) where no container
# registry is reachable: Debian 12 minbase with its python3 (3.11), and `python3 -m venv
# /usr/local` so that /usr/local/bin/python has pip, as in the official image. The image tier
# (tests/action/test_image.py) `docker import`s the tarball under that tag when the real image is absent.
#
# pip inside `docker build` must reach the package index the way this machine does: the CA
# bundle pip uses here (PIP_CERT, else pip's global.cert, else Debian's bundle) goes into the
# stand-in's certificate store, and its /etc/pip.conf names it together with this machine's
# http(s) index-url / extra-index-url / trusted-host if any; never into the Dockerfile. Local
# wheel directories and constraints files do not exist inside the build and are left out.
#
# Kept outside the git tree and reused (about 130 MB, a minute or two to build the first time;
# the tarball is remade only when the CA bundle changed). Prints the tarball's path on stdout.
# Needs root (debootstrap, chroot).
#   IMAP_GATE_PYBASE  where it lives (default /var/cache/imap-gate/python311-bookworm-standin)
set -euo pipefail
DIR="${IMAP_GATE_PYBASE:-/var/cache/imap-gate/python311-bookworm-standin}"
TAR="$DIR.tar"
. "$(dirname "$0")/_setup.sh"

# This machine's pip configuration as far as it concerns reaching an index: PIP_* first, then
# pip's own configuration files (read with a python that has pip: $PYTHON, else python3).
PY="${PYTHON:-python3}"
pipconf() { "$PY" -m pip config get "global.$1" 2>/dev/null || true; }
CERT="${PIP_CERT:-$(pipconf cert)}"
CERT="${CERT:-/etc/ssl/certs/ca-certificates.crt}"
INDEX="${PIP_INDEX_URL:-$(pipconf index-url)}"
# local directories (file://, find-links, constraints) do not exist inside the build: left out
EXTRA="$(printf '%s\n' ${PIP_EXTRA_INDEX_URL:-$(pipconf extra-index-url)} | grep -E '^https?://' | tr '\n' ' ' || true)"
TRUSTED="${PIP_TRUSTED_HOST:-$(pipconf trusted-host)}"
PIPCONF="$(printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n'
  case "$INDEX" in http*) printf 'index-url = %s\n' "$INDEX";; esac
  [ -n "${EXTRA// /}" ] && printf 'extra-index-url = %s\n' "$EXTRA"
  [ -n "$TRUSTED" ] && printf 'trusted-host = %s\n' "$TRUSTED"
  true)"

if ! [ -x "$DIR/usr/local/bin/python" ] || ! [ -f "$DIR/.imap-gate-ready" ]; then
  TMP="$DIR.tmp.$$"
  debootstrap_tmp pybase bookworm "$TMP" python3,python3-venv,ca-certificates
  $SUDO chroot "$TMP" python3 -m venv /usr/local
  $SUDO chroot "$TMP" /usr/local/bin/python -m pip --version >/dev/null
  # What the official slim image leaves out as well: package lists, docs, caches.
  $SUDO rm -rf "$TMP"/var/lib/apt/lists/* "$TMP"/var/cache/apt/* "$TMP"/usr/share/doc/* \
    "$TMP"/usr/share/man/* "$TMP"/usr/share/locale/* "$TMP"/var/log/*.log
  $SUDO chroot "$TMP" /usr/local/bin/python --version | $SUDO tee "$TMP/.imap-gate-ready" >/dev/null
  $SUDO rm -rf "$DIR" "$TAR"
  $SUDO mv "$TMP" "$DIR"
fi

# The CA bundle and a pip.conf that points at it (the stand-in's own store, not the Dockerfile's).
if ! [ -f "$TAR" ] || ! cmp -s "$CERT" "$DIR/etc/ssl/certs/ca-certificates.crt" \
    || [ "$PIPCONF" != "$(cat "$DIR/etc/pip.conf" 2>/dev/null)" ]; then
  $SUDO cp "$CERT" "$DIR/etc/ssl/certs/ca-certificates.crt"
  printf '%s\n' "$PIPCONF" | $SUDO tee "$DIR/etc/pip.conf" >/dev/null
  $SUDO tar -C "$DIR" --numeric-owner --exclude=./.imap-gate-ready -cf "$TAR.tmp.$$" .
  $SUDO mv "$TAR.tmp.$$" "$TAR"
fi
echo "$TAR"
