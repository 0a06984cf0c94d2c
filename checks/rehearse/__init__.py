"""Rehearsal: start the committed Dovecot configuration in a sandbox and probe it live.

The linter predicts what Dovecot will do with a file; a rehearsal asks Dovecot itself.
``sandbox`` copies and rewrites the tree (only what cannot work in a sandbox, each rewrite
recorded), ``server`` runs the real Dovecot of the file's version on loopback and stops it
by PID, ``report`` turns what the existing probe saw into findings at the configuration
lines that cause them.
"""
