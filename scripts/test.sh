#!/usr/bin/env bash
# Set up everything the tests need (Debian packages, a venv) and run the whole suite.
# Needs root for apt-get, Dovecot on loopback and network namespaces (uses sudo otherwise).
cd "$(dirname "$0")/.."
. scripts/_setup.sh
setup_system python3 python3-venv dovecot-imapd mailutils-imap4d iptables nftables iproute2 openssl git \
  debootstrap docker.io
# The Dovecot plugin packages: the 2.3 oracle (doveconf) must know every setting Debian's
# Dovecot knows (managesieve_*, sieve protocol, sql/ldap/lua drivers, fts), as the linter does.
setup_system $(cat scripts/dovecot-plugins-2.3.txt)
# Dovecot 2.4 (Debian 13) in a root filesystem outside the tree, built once and reused.
IMAP_GATE_ROOTFS24="$(scripts/rootfs24.sh)"
export IMAP_GATE_ROOTFS24
setup_venv requirements-dev.txt
# The venv first on PATH: the tests run its tools (check-jsonschema, zizmor, hadolint, pre-commit).
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python -m pytest "$@"
