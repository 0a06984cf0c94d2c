"""drift checks."""
