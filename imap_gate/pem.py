"""Certificates in a PEM file, read the one way both the manifest check and the trust store use.

A ``ca_file`` that holds no certificate used to be accepted and then show up, far from its
cause, as CERT003 "not in the trust store"; the manifest now refuses it, by the same reading
the trust store does (``checks/tls/certificate.py``). Imported only when there is PEM to read.
"""

from __future__ import annotations

import warnings

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning

# Old roots carry serials that are not positive: cryptography parses them with a warning that
# is only noise on the run's stderr (see checks/tls/certificate.py for why a module filter).
warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning, module=__name__)

MARKER = b"-----BEGIN CERTIFICATE-----"
MAX_BYTES = 16 * 1024 * 1024


def certificates(data: bytes) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(data)   # old roots with odd serials still anchor
    except ValueError:
        # One bad block must not hide the others.
        out = []
        for block in data.split(MARKER)[1:]:
            try:
                out.append(x509.load_pem_x509_certificate(MARKER + block))
            except ValueError:
                continue
        return out
