"""The throwaway certificate a rehearsal gives Dovecot when the repository holds none.

Made once per process (an RSA key, so RSA-only cipher suites such as 3DES can still be
negotiated and judged), valid for a day, for no name anyone trusts. The DH group is the
public RFC 7919 ffdhe2048 one, so a 2.3 ``ssl_dh`` never needs a slow ``openssl dhparam``.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

CERT_NAME = "throwaway.crt"
KEY_NAME = "throwaway.key"
DH_NAME = "ffdhe2048.pem"

FFDHE2048 = b"""-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
"""


@lru_cache(maxsize=1)
def _pem() -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "imap-gate rehearsal (throwaway)")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM,
                              serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption()))


def write(directory: Path) -> None:
    cert, key = _pem()
    (directory / CERT_NAME).write_bytes(cert)
    key_path = directory / KEY_NAME
    key_path.write_bytes(key)
    key_path.chmod(0o600)
    (directory / DH_NAME).write_bytes(FFDHE2048)
