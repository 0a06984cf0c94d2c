# Shared by demo.sh and test.sh: system packages (through sudo when not root) and a venv.
# Sourced, not run. Usage: setup_system PKG...; setup_venv REQUIREMENTS_FILE
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

setup_system() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # Installing dovecot-imapd or mailutils-imap4d may start the packaged service on
  # 143/993; the tests run their own instances, so stop and mask them.
  local svc
  for svc in dovecot mailutils-imap4d; do
    if [ -e "/lib/systemd/system/$svc.service" ] || [ -e "/etc/init.d/$svc" ]; then
      $SUDO systemctl stop "$svc" >/dev/null 2>&1 || $SUDO service "$svc" stop >/dev/null 2>&1 || true
      $SUDO systemctl mask "$svc" >/dev/null 2>&1 || true
    fi
  done
}

setup_venv() {
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  .venv/bin/python -m pip install -q --disable-pip-version-check -r "$1"
}

# debootstrap_tmp NAME SUITE TMP INCLUDES: a minbase Debian SUITE built in TMP from the archive
# apt already uses on this machine (so it works wherever apt works). pybase.sh and rootfs24.sh
# both build this way, finish TMP, then move it into place in one step.
debootstrap_tmp() {
  local name="$1" suite="$2" tmp="$3" include="$4" mirror
  command -v debootstrap >/dev/null || setup_system debootstrap
  mirror="$(grep -hoE '^(URIs:|deb) +[a-z]+://[^ ]+' /etc/apt/sources.list.d/*.sources \
    /etc/apt/sources.list 2>/dev/null | grep -v security | awk '{print $2}' | head -1 || true)"
  if [ -z "$mirror" ]; then
    echo "$name: /etc/apt/sources.list* names no Debian archive for debootstrap; set one up for apt first" >&2
    return 1
  fi
  $SUDO rm -rf "$tmp"
  $SUDO mkdir -p "$(dirname "$tmp")"
  echo "$name: building Debian $suite in $tmp from $mirror" >&2
  $SUDO debootstrap --variant=minbase --include="$include" "$suite" "$tmp" "$mirror" \
    >"$tmp.log" 2>&1 || { tail -20 "$tmp.log" >&2; return 1; }
  $SUDO rm -f "$tmp.log"
}
