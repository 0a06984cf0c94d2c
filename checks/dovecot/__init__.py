"""dovecot checks: lint committed Dovecot 2.3/2.4 configuration (DOV001..DOV015).

Public API for other families (the drift rules): after ``check.run(ctx)``,
``ctx.results["dovecot"]`` maps each listed file (relative to the root) to an
``effective.EffectiveConfig``, whose methods return ``(value, Location | None)`` with
value None when unknown or templated:

- ``ssl_mode()`` -> "no" | "yes" | "required"
- ``cleartext_auth_allowed(port=143)`` -> bool, for an internet client, protocol imap
- ``min_tls()`` -> "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3" | ...
- ``listener_ports()`` -> {"imap": int | None, "imaps": int | None} (0 = disabled)
- ``version()`` -> "2.3" | "2.4" (located at dovecot_config_version or a version-only name)

Modules: parser (syntax tree), loader (files, includes, ``<file``), version, template,
effective (defaults and filters), judge (the rules), check (the entry point).
"""
