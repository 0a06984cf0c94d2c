"""The live IMAP probe (issue 3), in layers that can be tested apart:

- ``wire``: read and parse IMAP responses byte-exactly (literals, tags, capabilities, ID);
- ``dialog``: one endpoint's conversation, recorded as ``facts.EndpointFacts`` (network only);
- ``judge``: facts to issues (pure: no sockets, no clock);
- ``engine``: many endpoints concurrently under step, endpoint and run deadlines, plus the
  hand-over to the TLS family (``checks.tls.api.assess`` with an opener);
- ``check``: the ``CHECK`` wiring manifest -> engine -> judge -> findings and facts.
"""
