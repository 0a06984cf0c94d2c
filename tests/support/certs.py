"""Test certificates, made fresh by the tests: a CA and leaves of every kind the
TLS checks judge (valid, expired, not yet valid, self-signed, wrong host, small
key, SHA-1). Written with ``cryptography`` so no openssl CLI quirks leak in."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

NOW = dt.datetime.now(dt.UTC)


@dataclass
class Issued:
    cert: x509.Certificate
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.TraditionalOpenSSL,
                                      serialization.NoEncryption())

    def write(self, directory: Path, stem: str, chain: list[Issued] | None = None) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
        cert_path.write_bytes(self.cert_pem() + b"".join(c.cert_pem() for c in chain or []))
        key_path.write_bytes(self.key_pem())
        key_path.chmod(0o600)
        return cert_path, key_path


def _key(kind: str = "rsa", bits: int = 2048) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def make_ca(name: str = "imap-gate test CA") -> Issued:
    key = _key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return Issued(cert, key)


def make_leaf(ca: Issued | None, names: list[str], *, days_before: int = 1, days_after: int = 90,
              bits: int = 2048, key_kind: str = "rsa", hash_name: str = "sha256",
              cn: str | None = None) -> Issued:
    """``ca=None`` gives a self-signed leaf; negative ``days_after`` an expired one;
    negative ``days_before`` one that is not yet valid."""
    key = _key(key_kind, bits)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn or (names[0] if names else "x"))])
    sans: list[x509.GeneralName] = []
    for n in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            sans.append(x509.DNSName(n))
    issuer_name = ca.cert.subject if ca else subject
    signer = ca.key if ca else key
    legacy = hash_name in _LEGACY_SIG_OIDS
    algo = hashes.SHA256() if legacy else {"sha256": hashes.SHA256(),
                                           "sha384": hashes.SHA384()}[hash_name]
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW - dt.timedelta(days=days_before))
               .not_valid_after(NOW + dt.timedelta(days=days_after))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if ca:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
    cert = builder.sign(signer, algo)
    if legacy:
        cert = _resign_legacy(cert, signer, hash_name)
    return Issued(cert, key)


# cryptography >= 47 refuses to *create* SHA-1/MD5 signatures, but the TLS checks must see
# such certificates. Sign with SHA-256, then swap the algorithm OID (same length) in the TBS
# and outer AlgorithmIdentifier and re-sign the TBS with the legacy hash (RSA signers only).
_SHA256_RSA_OID = bytes.fromhex("06092a864886f70d01010b")
_LEGACY_SIG_OIDS = {"sha1": (bytes.fromhex("06092a864886f70d010105"), hashes.SHA1),
                    "md5": (bytes.fromhex("06092a864886f70d010104"), hashes.MD5)}


def _resign_legacy(cert: x509.Certificate, signer: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
                   hash_name: str) -> x509.Certificate:
    if not isinstance(signer, rsa.RSAPrivateKey):
        raise ValueError(f"{hash_name} test certificates need an RSA signer")
    oid, hash_cls = _LEGACY_SIG_OIDS[hash_name]
    der = cert.public_bytes(serialization.Encoding.DER)
    tbs = cert.tbs_certificate_bytes
    new_tbs = tbs.replace(_SHA256_RSA_OID, oid)
    signature = signer.sign(new_tbs, padding.PKCS1v15(), hash_cls())
    assert len(signature) == len(cert.signature)
    der = der.replace(tbs, new_tbs).replace(_SHA256_RSA_OID, oid).replace(cert.signature, signature)
    return x509.load_der_x509_certificate(der)
