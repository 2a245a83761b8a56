"""What a store holds once read: key entries, trusted-certificate entries, and how they are made from parsed DER/PEM."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from harness.pki import PrivateKey

__all__ = [
    "SKIP_RSA_CHECK",
    "CertEntry",
    "KeyEntry",
    "Role",
    "StoreContents",
    "StoreType",
    "chain_from",
    "parsed",
    "usable_key",
]

StoreType = Literal["jks", "jceks", "pkcs12", "pem", "unknown"]
Role = Literal["keystore", "truststore"]

# cryptography's RSA key consistency check costs ~30 ms a key (measured: 1.5 s
# of a 3.6 s catalogue run). A store's key is only handed on to OpenSSL, which
# checks it against its certificate (SSL_CTX_check_private_key) before any
# handshake; nothing here computes with it. So the check is skipped.
SKIP_RSA_CHECK = True


@dataclass(frozen=True)
class KeyEntry:
    """A private-key entry. ``key`` is None when the store password does not open it."""

    alias: str
    chain: tuple[x509.Certificate, ...]
    key: PrivateKey | None = field(default=None, repr=False)

    @property
    def locked(self) -> bool:
        return self.key is None


@dataclass(frozen=True)
class CertEntry:
    alias: str
    cert: x509.Certificate


@dataclass(frozen=True)
class StoreContents:
    path: Path
    type: StoreType
    key_entries: tuple[KeyEntry, ...] = ()
    cert_entries: tuple[CertEntry, ...] = ()

    @property
    def certificates(self) -> tuple[x509.Certificate, ...]:
        """Trusted certificates, as a truststore: every trusted-certificate entry."""
        return tuple(e.cert for e in self.cert_entries)


def parsed(cert: x509.Certificate) -> x509.Certificate:
    """``cert``, once what every reader of a store looks at parses: cryptography parses names, validity and
    extensions lazily (ValueError on first use); the JDK refuses such a certificate when it loads the store."""
    try:
        _ = (cert.subject, cert.issuer, cert.not_valid_before_utc, cert.not_valid_after_utc, cert.extensions)
    except TypeError as exc:  # a name attribute of type BIT STRING: x509.NameAttribute refuses it with TypeError
        raise ValueError(str(exc)) from None
    return cert


def usable_key(key: object) -> PrivateKey | None:

    return key if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) else None


def chain_from(leaf: x509.Certificate, pool: Iterable[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    """``leaf`` then its issuers found in ``pool``, by subject/issuer name, until none is found.

    Linear in the pool (an index by subject): a bundle of thousands of certificates costs no quadratic scan.
    """
    by_subject: dict[x509.Name, list[x509.Certificate]] = {}
    for cert in pool:
        by_subject.setdefault(cert.subject, []).append(cert)
    chain = [leaf]
    while chain[-1].issuer != chain[-1].subject:
        candidates = by_subject.get(chain[-1].issuer)
        if not candidates:
            break
        chain.append(candidates.pop(0))
    return tuple(chain)
