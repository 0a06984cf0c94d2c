"""imap checks."""
