"""Judging the server certificate with ``cryptography`` (X.509 is never hand-parsed).

Each check answers one question so each rule fires alone: the chain check
looks only at signatures and trust anchors (not at dates, names or algorithm
strength), the name check only at RFC 6125 identifiers, and so on. A server
with an expired, self-signed certificate gets CERT001 and CERT003, not a
cascade of everything.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID

from imap_gate import pem

# Servers and old roots of the system bundle carry what cryptography parses with a deprecation
# warning (a serial that is not positive); judging them is this module's job, so the warning is
# only noise on the run's stderr. One filter for the module at import, not catch_warnings around
# each parse: catch_warnings swaps the process-wide filter list on entry and exit, so with probe
# threads parsing at once one thread's exit let another's warning through.
warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning, module=__name__)

MAX_PATH = 10

_SIG_HASH = {
    SignatureAlgorithmOID.RSA_WITH_MD5: "md5",
    SignatureAlgorithmOID.RSA_WITH_SHA1: "sha1",
    SignatureAlgorithmOID._RSA_WITH_SHA1: "sha1",
    SignatureAlgorithmOID.ECDSA_WITH_SHA1: "sha1",
    SignatureAlgorithmOID.DSA_WITH_SHA1: "sha1",
    SignatureAlgorithmOID.RSA_WITH_SHA224: "sha224",
    SignatureAlgorithmOID.RSA_WITH_SHA256: "sha256",
    SignatureAlgorithmOID.RSA_WITH_SHA384: "sha384",
    SignatureAlgorithmOID.RSA_WITH_SHA512: "sha512",
    SignatureAlgorithmOID.ECDSA_WITH_SHA224: "sha224",
    SignatureAlgorithmOID.ECDSA_WITH_SHA256: "sha256",
    SignatureAlgorithmOID.ECDSA_WITH_SHA384: "sha384",
    SignatureAlgorithmOID.ECDSA_WITH_SHA512: "sha512",
    SignatureAlgorithmOID.DSA_WITH_SHA224: "sha224",
    SignatureAlgorithmOID.DSA_WITH_SHA256: "sha256",
    SignatureAlgorithmOID.ED25519: "ed25519",
    SignatureAlgorithmOID.ED448: "ed448",
}
_MD2 = "1.2.840.113549.1.1.2"
_MD4 = "1.2.840.113549.1.1.3"
WEAK_HASHES = {"md2": "critical", "md4": "critical", "md5": "critical", "sha1": "medium"}


class BadCertificate(ValueError):
    """The server sent bytes that are not a certificate."""


def load_chain(ders: list[bytes]) -> list[x509.Certificate]:
    out = []
    for i, der in enumerate(ders):
        try:
            out.append(x509.load_der_x509_certificate(der))
        except ValueError as exc:
            raise BadCertificate(f"certificate #{i} does not parse: {exc}") from None
    if not out:
        raise BadCertificate("the server sent no certificate")
    return out


def signature_hash(cert: x509.Certificate) -> str:
    oid = cert.signature_algorithm_oid
    if oid.dotted_string == _MD2:
        return "md2"
    if oid.dotted_string == _MD4:
        return "md4"
    if oid == SignatureAlgorithmOID.RSASSA_PSS:
        try:
            algo = cert.signature_hash_algorithm
            return algo.name if algo else "pss"
        except UnsupportedAlgorithm:
            return "pss"
    return _SIG_HASH.get(oid, oid.dotted_string)


def key_info(cert: x509.Certificate) -> tuple[str, int]:
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return "unknown", 0
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC-{key.curve.name}", key.curve.key_size
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    return type(key).__name__, 0


def weak_key_severity(kind: str, bits: int) -> str | None:
    """None when strong enough; otherwise how bad (smaller keys are worse)."""
    if kind in ("RSA", "DSA"):
        if bits < 1024:
            return "critical"
        if bits < 1536:
            return "high"
        if bits < 2048:
            return "medium"
    elif kind.startswith("EC-"):
        if bits < 160:
            return "high"
        if bits < 224:
            return "medium"
    return None


def _sans(cert: x509.Certificate) -> x509.SubjectAlternativeName | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    except ValueError:  # a malformed extension: treat as absent, the name check then fails
        return None


def presented_names(cert: x509.Certificate) -> list[str]:
    san = _sans(cert)
    if san is None:
        return [f"CN={v}" for v in _common_names(cert)]
    out: list[str] = []
    for gn in san:
        if isinstance(gn, x509.DNSName):
            out.append(f"DNS:{gn.value}")
        elif isinstance(gn, x509.IPAddress):
            out.append(f"IP:{gn.value}")
    return out


def _common_names(cert: x509.Certificate) -> list[str]:
    try:
        return [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    except ValueError:
        return []


def _norm(name: str) -> str:
    name = name.strip().rstrip(".").lower()
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            pass
    return name


def _dns_match(pattern: str, reference: str) -> bool:
    """RFC 6125 6.4.3: exact, or one ``*`` as the whole left-most label
    (never partial, never across dots, never directly under a public suffix-like single label)."""
    pattern = _norm(pattern)
    if not pattern or not reference:
        return False
    if "*" not in pattern:
        return pattern == reference
    plabels, rlabels = pattern.split("."), reference.split(".")
    if plabels[0] != "*" or "*" in ".".join(plabels[1:]) or len(plabels) < 3:
        return False
    if len(plabels) != len(rlabels) or not rlabels[0]:
        return False
    return plabels[1:] == rlabels[1:]


def name_matches(cert: x509.Certificate, reference: str) -> bool:
    """Does the certificate identify ``reference`` (a DNS name or an IP literal)?"""
    ref = _norm(reference)
    try:
        ip = ipaddress.ip_address(ref)
    except ValueError:
        ip = None
    san = _sans(cert)
    if ip is not None:
        return san is not None and _has_ip(san, ip)
    dns = _dns_ids(san) if san is not None else []
    if dns:
        return any(_dns_match(d, ref) for d in dns if isinstance(d, str))
    # RFC 6125 6.4.4: the CN only when no DNS-ID is presented at all.
    return any(_dns_match(cn, ref) for cn in _common_names(cert))


def _has_ip(san: Any, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """An IP literal matches an iPAddress SAN only (RFC 6125), never a DNS name or the CN."""
    return any(isinstance(g, x509.IPAddress) and g.value == ip for g in san)


def _dns_ids(san: Any) -> list[Any]:
    """The DNS-IDs presented: DNS names and URIs of the SAN."""
    return [g.value for g in san if isinstance(g, x509.DNSName | x509.UniformResourceIdentifier)]


@dataclass
class TrustStore:
    by_subject: dict[x509.Name, list[x509.Certificate]] = field(default_factory=dict)
    ders: set[bytes] = field(default_factory=set)
    sources: list[str] = field(default_factory=list)

    def add(self, certs: list[x509.Certificate]) -> None:
        for c in certs:
            der = c.public_bytes(serialization.Encoding.DER)
            if der in self.ders:
                continue
            self.ders.add(der)
            self.by_subject.setdefault(c.subject, []).append(c)

    def is_anchor(self, cert: x509.Certificate) -> bool:
        return cert.public_bytes(serialization.Encoding.DER) in self.ders


def _read_pem_file(path: str) -> list[x509.Certificate]:
    try:
        data = Path(path).read_bytes()
    except OSError:
        return []
    return pem.certificates(data)   # the same reading the manifest's ca_file check does


def system_bundle_path() -> str | None:
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile, "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


_STORE_LOCK = threading.Lock()


def trust_store(ca_file: str | None) -> TrustStore:
    """Built once per CA file. Locked because every probe thread asks for it at the same moment
    and lru_cache does not lock: each of twenty threads used to parse the system bundle itself
    (about 13 ms of CPU each)."""
    with _STORE_LOCK:
        return _trust_store(ca_file)


@lru_cache(maxsize=8)
def _trust_store(ca_file: str | None) -> TrustStore:
    store = TrustStore()
    system = system_bundle_path()
    if system:
        store.add(_read_pem_file(system))
        store.sources.append(system)
    if ca_file:
        extra = _read_pem_file(ca_file)
        store.add(extra)
        # Said in the facts, so "untrusted" next to an unreadable ca_file explains itself.
        store.sources.append(ca_file if extra else f"{ca_file} (unreadable or no certificate)")
    return store


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except (x509.ExtensionNotFound, ValueError):
        return False


_LEGACY_VERIFY: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1, "md5": hashes.MD5, "sha224": hashes.SHA224}


def _signed_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(issuer)
    except (InvalidSignature, TypeError):
        return False
    except (ValueError, UnsupportedAlgorithm):
        # cryptography no longer verifies SHA-1/MD5 certificate signatures, yet a SHA-1
        # chain is still a chain: CERT006 judges the hash, the trust check only the issuer.
        return _legacy_signed_by(child, issuer)
    return True


def _legacy_signed_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    hash_cls = _LEGACY_VERIFY.get(signature_hash(child))
    if hash_cls is None or child.issuer != issuer.subject:
        return False
    try:
        key = issuer.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(child.signature, child.tbs_certificate_bytes, padding.PKCS1v15(), hash_cls())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(child.signature, child.tbs_certificate_bytes, ec.ECDSA(hash_cls()))
        elif isinstance(key, dsa.DSAPublicKey):
            key.verify(child.signature, child.tbs_certificate_bytes, hash_cls())
        else:
            return False
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def verify_chain(chain: list[x509.Certificate],
                 store: TrustStore) -> tuple[bool, str, list[x509.Certificate]]:
    """Build a path from the leaf to a trust anchor using the presented
    intermediates; signatures only. Returns (trusted, why not, path)."""
    leaf = chain[0]
    presented = chain[1:]
    path = [leaf]
    current = leaf
    for _ in range(MAX_PATH):
        if store.is_anchor(current):
            return True, "", path
        anchored, nxt = _issuer_of(current, presented, path, store)
        if nxt is None:
            return False, _dead_end(current, leaf), path
        if anchored:
            return True, "", [*path, nxt]
        path.append(nxt)
        current = nxt
    return False, f"no trust anchor within {MAX_PATH} certificates", path


def _issuer_of(current: x509.Certificate, presented: list[x509.Certificate],
               path: list[x509.Certificate],
               store: TrustStore) -> tuple[bool, x509.Certificate | None]:
    """The certificate that signed ``current``, from the store or the presented chain (not
    one already on the path): (True, it) if it is a trust anchor, (False, it) if it is a CA
    to go on from, (False, None) if none."""
    candidates = list(store.by_subject.get(current.issuer, []))
    candidates += [c for c in presented if c.subject == current.issuer and c not in path]
    for cand in candidates:
        if not _signed_by(current, cand):
            continue
        if store.is_anchor(cand):
            return True, cand
        if _is_ca(cand):
            return False, cand
    return False, None


def _dead_end(current: x509.Certificate, leaf: x509.Certificate) -> str:
    """Why the path stops at ``current``: a self-signed certificate the store does not hold,
    or an issuer nobody presented."""
    if current.issuer == current.subject and _signed_by(current, current):
        who = "the leaf is self-signed" if current is leaf else \
            f"the chain ends in the unknown root {current.subject.rfc4514_string()}"
        return f"{who} and is not in the trust store"
    return (f"no trusted issuer found for {current.subject.rfc4514_string()} "
            f"(issuer {current.issuer.rfc4514_string()}: unknown CA or missing "
            "intermediate)")


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def describe(cert: x509.Certificate, now: dt.datetime) -> dict[str, Any]:
    kind, bits = key_info(cert)
    not_after = cert.not_valid_after_utc
    left = (not_after - _utc(now)).total_seconds() / 86400
    return {
        "subject": _rfc4514(cert.subject),
        "issuer": _rfc4514(cert.issuer),
        "san": presented_names(cert),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": not_after.isoformat(),
        "days_left": int(left // 1),
        "key_type": kind,
        "key_bits": bits,
        "signature_hash": signature_hash(cert),
        "serial": format(cert.serial_number, "x"),
        "sha256": cert.fingerprint(hashes.SHA256()).hex(),
    }


def _rfc4514(name: x509.Name) -> str:
    try:
        return name.rfc4514_string()
    except ValueError:
        return "<unprintable name>"
