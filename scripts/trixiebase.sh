#!/usr/bin/env bash
# A stand-in for debian:trixie-slim, the Debian 13 base that rehearse/Dockerfile installs
# Dovecot 2.4 on, where no container registry is reachable: Debian 13 minbase from the
# archive apt uses here, package lists and docs removed as in the official slim image. The
# rehearse image tier (tests/action/test_image_rehearse.py) `docker import`s the tarball under
# that tag when the real image is absent.
#
# Kept outside the git tree and reused (about 90 MB, under a minute to build the first time).
# Prints the tarball's path on stdout. Needs root (debootstrap).
#   IMAP_GATE_TRIXIEBASE  where it lives (default /var/cache/imap-gate/trixie-slim-standin)
set -euo pipefail
DIR="${IMAP_GATE_TRIXIEBASE:-/var/cache/imap-gate/trixie-slim-standin}"
TAR="$DIR.tar"
. "$(dirname "$0")/_setup.sh"
if ! [ -f "$TAR" ]; then
  TMP="$DIR.tmp.$$"
  debootstrap_tmp trixiebase trixie "$TMP" ca-certificates
  $SUDO rm -rf "$TMP"/var/lib/apt/lists/* "$TMP"/var/cache/apt/* "$TMP"/usr/share/doc/* \
    "$TMP"/usr/share/man/* "$TMP"/usr/share/locale/* "$TMP"/var/log/*.log
  $SUDO tar -C "$TMP" --numeric-owner -cf "$TAR.tmp.$$" .
  $SUDO mv "$TAR.tmp.$$" "$TAR"
  $SUDO rm -rf "$TMP"
fi
echo "$TAR"
