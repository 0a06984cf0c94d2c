#!/usr/bin/env bash
# A long fuzzing run of every parser: the same hypothesis tests CI runs, with
# IMAP_GATE_FUZZ_SCALE times their examples (default 50x) and random draws
# (CI derandomizes). Usage: bash bench/fuzz.sh [SCALE] [pytest args...]
# Needs the test venv: ./scripts/test.sh --co -q sets it up.
set -u
cd "$(dirname "$0")/.."
scale="${1:-50}"
shift || true
PY=".venv/bin/python"
[ -x "$PY" ] || PY="python3"
env -u CI IMAP_GATE_FUZZ_SCALE="$scale" IMAP_GATE_MUTATION_SEED="${IMAP_GATE_MUTATION_SEED:-$RANDOM}" "$PY" -m pytest -q -p no:cacheprovider \
  tests/gate/test_manifest_fuzz.py tests/imap/test_probe_wire.py tests/tls/test_tls_parsers.py \
  tests/dovecot/test_dovecot_fuzz.py tests/dovecot/test_dovecot_mutation.py tests/dovecot/test_dovecot_names.py \
  tests/firewall/test_firewall_fuzz.py tests/tls/test_tls_rules.py \
  tests/imap/test_probe_engine.py tests/firewall/test_firewall_mutation_nft.py \
  tests/firewall/test_firewall_mutation_iptables.py "$@"
echo "fuzz: scale ${scale}x done"
