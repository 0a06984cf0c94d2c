"""imap-gate: gate deployments on IMAP security (ports 143 and 993)."""

__version__ = "0.1.0"
TOOL_NAME = "imap-gate"
INFORMATION_URI = "https://github.com/imap-gate/imap-gate"
