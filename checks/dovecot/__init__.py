"""dovecot checks."""
