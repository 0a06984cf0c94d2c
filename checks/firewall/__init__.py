"""firewall checks."""
