#!/usr/bin/env bash
# Set up imap-gate in .venv and gate the two bundled examples.
# The secure layout passes (exit 0); the insecure one fails (exit 1) and says why.
cd "$(dirname "$0")/.."
. scripts/_setup.sh
setup_system python3 python3-venv
setup_venv requirements.txt
set +e
echo "== examples/secure =="
.venv/bin/python entrypoint.py --root examples/secure
echo "exit code: $?"
echo
echo "== examples/insecure =="
.venv/bin/python entrypoint.py --root examples/insecure --sarif imap-gate.sarif
code=$?
echo "exit code: $code (SARIF written to imap-gate.sarif)"
exit $code
