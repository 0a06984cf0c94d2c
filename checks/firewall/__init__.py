"""firewall checks: is IMAP (143) or IMAPS (993) reachable from the internet, and which line says so?

Modules: ``detect`` (format), one reader per format (``iptables_save``, ``iptables_script``,
``nftables``, ``ufw``, ``firewalld``) into the shared ``model``, ``evaluate`` (walks a ruleset
for one new TCP connection), ``judge`` (FW001..FW006), ``verdict`` (``FirewallVerdict``, what
``ctx.artefacts.get(artefact.VERDICTS)`` holds for the DRIFT rules) and ``check`` (the ``CHECK``).
"""
