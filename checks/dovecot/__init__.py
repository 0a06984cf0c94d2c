"""dovecot checks: lint committed Dovecot 2.3/2.4 configuration (DOV001..DOV015).

Public API for other families (the drift rules): after ``check.run(ctx)``,
``ctx.artefacts.get(artefact.CONFIGS)`` maps each listed file (relative to the root) to an
``effective.EffectiveConfig``, whose methods return ``(value, Location | None)`` with
value None when unknown or templated:

- ``ssl_mode()`` -> "no" | "yes" | "required"
- ``cleartext_auth_allowed(port=143)`` -> bool, for an internet client, protocol imap
- ``min_tls()`` -> "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3" | ...
- ``listener_ports()`` -> {"imap": int | None, "imaps": int | None} (0 = disabled)
- ``version()`` -> "2.3" | "2.4" (located at dovecot_config_version or a version-only name)

- ``partial`` -> True when an absolute ``!include`` was not read (a default is then no proof)
- ``imap_enabled()`` -> bool | None (None: 2.4 with no ``protocols`` and an unread include)

Modules: parser (syntax tree), loader (files, includes, ``<file``), version, template,
names (the generated 2.3/2.4 setting lists, ``known_settings.json``), effective (defaults and
filters), judge (the rules), v24 (what 2.4 refuses), remedy (fixes per version), check (the
entry point).
"""
