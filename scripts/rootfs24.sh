#!/usr/bin/env bash
# Prepare the Debian 13 (trixie) root filesystem that carries Dovecot 2.4 for the tests,
# the benches and rehearsals: `chroot DIR doveconf ...` is the 2.4 oracle and
# `chroot DIR dovecot -F -c ...` a real 2.4 server (the chroot shares the network).
#
# Kept outside the git tree and reused while it exists (about 300 MB, a minute to build).
# Prints the directory on stdout. Needs root (debootstrap, chroot).
#   IMAP_GATE_ROOTFS24  where it lives (default /var/cache/imap-gate/trixie-dovecot24)
set -euo pipefail
DIR="${IMAP_GATE_ROOTFS24:-/var/cache/imap-gate/trixie-dovecot24}"
. "$(dirname "$0")/_setup.sh"
PLUGINS="$(cat "$(dirname "$0")/dovecot-plugins-2.4.txt")"
# The Dovecot plugin packages, so that the 2.4 oracle knows every setting Debian's 2.4 knows.
add_plugins() {
  if [ "$(cat "$1/.imap-gate-plugins" 2>/dev/null)" != "$PLUGINS" ]; then
    $SUDO chroot "$1" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends $PLUGINS >"$1.plugins.log" 2>&1 || { tail -20 "$1.plugins.log" >&2; exit 1; }
    echo "$PLUGINS" | $SUDO tee "$1/.imap-gate-plugins" >/dev/null
    $SUDO rm -f "$1.plugins.log"
  fi
}
if [ -x "$DIR/usr/sbin/dovecot" ] && [ -f "$DIR/.imap-gate-ready" ]; then
  add_plugins "$DIR"
  echo "$DIR"
  exit 0
fi
TMP="$DIR.tmp.$$"
# policy-rc.d inside the target (below) keeps the package scripts from starting a service.
debootstrap_tmp rootfs24 trixie "$TMP" dovecot-core,dovecot-imapd,openssl,ca-certificates
printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$TMP/usr/sbin/policy-rc.d" >/dev/null
$SUDO chmod +x "$TMP/usr/sbin/policy-rc.d"
add_plugins "$TMP"
$SUDO chroot "$TMP" dovecot --version | $SUDO tee "$TMP/.imap-gate-ready" >/dev/null
$SUDO rm -rf "$DIR"
$SUDO mv "$TMP" "$DIR"
echo "$DIR"
