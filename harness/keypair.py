"""``keystore``'s key pair: read as Java reads it, and what to warn about before the platform finds out live.

``read_key_pairs`` reads the PKCS#12 with cryptography and asks the JDK too
(``JsseEngine.convert_pkcs12``, ``keytool -importkeystore``'s semantics): the
JDK reads what cryptography cannot (BER exports of browsers and OS tools,
encodings a library lacks) and every key entry of a multi-key file
(cryptography reads one). ``choose_key_pair`` takes the one to write:
``--alias`` names it when the file holds several.

Each warning is one line, with the outcome code the platform would meet
(``client-cert-expired``, ``client-cert-wrong-usage``, ...), so ``check`` and
``keystore`` speak the same terms. None stops the keystore from being written:
the user may be preparing a store for a renewal, or for a server that accepts
more; they only must not find out on go-live day.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization

from harness.diagnose import name_of, usage_problem, weak_key, weak_signature
from harness.diagnose.certificates import is_self_signed
from harness.engines.jsse import JsseEngine
from harness.errors import EngineUnavailable, StoreError, UsageError
from harness.limits import STORE_BYTES, STORE_ENTRIES, NotARegularFile, TooLarge, read_bounded
from harness.pki import PrivateKey
from harness.secret import Secret
from harness.stores import KeyEntry, read_store
from harness.stores.detect import detect_type
from harness.stores.entries import usable_key
from harness.stores.jks import read_jks

__all__ = [
    "KeyPairs",
    "choose_key_pair",
    "key_pair_warnings",
    "read_key_pairs",
    "read_pem_key_pair",
    "refuse_misnamed_output",
]

_NAMES = {"jks": (".jks", ".keystore", ".ks"), "pkcs12": (".p12", ".pfx", ".pkcs12")}


def refuse_misnamed_output(out: Path, fmt: str, force: bool) -> None:
    """A PKCS#12 file named .jks (or JKS named .p12): other tools open by name. Refused unless --force."""
    suffix = out.suffix.lower()
    other = "jks" if fmt == "pkcs12" else "pkcs12"
    if suffix in _NAMES[other] and not force:
        raise UsageError(
            str(out),
            f"a {fmt.upper()} store would be written under a {suffix} name (tools that go by the name would "
            f"read it as {other.upper()})",
            f"name it {out.with_suffix(_NAMES[fmt][0]).name}, use --format {other}, or pass --force",
        )


def key_pair_warnings(
    entry: KeyEntry,
    alias: str,
    written_alias: str,
    now: dt.datetime,
    source: str = "the PKCS#12 file holds no CA certificate",
) -> list[str]:
    leaf = entry.chain[0]
    who = name_of(leaf)
    warnings: list[str] = []
    if leaf.not_valid_after_utc < now:
        warnings.append(f"client-cert-expired: {who} expired on {leaf.not_valid_after_utc:%Y-%m-%d}")
    elif leaf.not_valid_before_utc > now:
        warnings.append(
            f"client-cert-not-yet-valid: {who} is valid only from {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
        )
    if usage := usage_problem(leaf):
        warnings.append(f"client-cert-wrong-usage: {who} {usage}: servers refuse it as a client certificate")
    for cert in entry.chain:
        if cert is not leaf and cert.subject == cert.issuer:
            continue
        if weak := weak_key(cert):
            warnings.append(
                f"weak-key: {name_of(cert)} has a {weak} key; current servers refuse under RSA-2048 / EC P-256"
            )
        if weak := weak_signature(cert):
            warnings.append(f"weak-signature: {name_of(cert)} is signed with {weak}; current servers refuse it")
    if len(entry.chain) == 1 and leaf.subject != leaf.issuer:
        warnings.append(
            f"client-chain-incomplete: {source}: the chain is {who} only, without its issuer {name_of(leaf.issuer)}"
        )
    if written_alias != alias:
        warnings.append(f"alias: JKS keeps aliases in lower case: {alias!r} is written as {written_alias!r}")
    return warnings


@dataclass(frozen=True)
class KeyPairs:
    """The key entries of a PKCS#12 key pair file, and who could read them."""

    entries: tuple[KeyEntry, ...]
    read_by: str  # "cryptography", or "Java 17.0.15" when only the JDK read the file (or all of its key entries)
    note: str = ""  # why the JDK's reading was used


def read_key_pairs(path: Path, password: Secret, jdk: JsseEngine | None) -> KeyPairs:
    """Every key entry of the PKCS#12 at ``path``, as Java reads them; StoreError (one line) when nothing reads it.

    cryptography reads first; the JDK (``jdk``, when one is here) converts the file as ``keytool
    -importkeystore`` does, and its reading wins when cryptography failed or saw fewer key entries. A wrong
    password stays a wrong password: only when the JDK says so too (or there is no JDK).
    """
    where = str(path)
    try:
        data = read_bounded(path, STORE_BYTES)
    except FileNotFoundError:
        raise StoreError(where, "no such file", "give the PKCS#12 key pair your CA issued") from None
    except (NotARegularFile, TooLarge, OSError) as exc:
        raise StoreError(where, f"not read: {exc}", "give the PKCS#12 key pair your CA issued", bounded=True) from None
    kind = detect_type(data)
    if kind in ("jks", "jceks", "pem"):
        # Named before any password is tried: "wrong password" would mislead.
        what, fix = f"is a {kind.upper()} file, not PKCS#12", "give the KeyPair.p12 your CA issued"
        raise StoreError(where, what, fix, code="store-type-mismatch")
    python: tuple[KeyEntry, ...] | None = None
    failure: StoreError | None = None
    try:
        python = read_store(path, password, "keystore").key_entries
    except StoreError as exc:
        if exc.over_bounds:
            raise  # beyond a bound: the JVM is not given it either
        failure = exc
    java, version, said = _read_with_jdk(path, data, password, jdk)
    if java is not None:
        # The platform's JDK decides: its key entries, and its aliases (a friendly name it reads from another
        # bag than cryptography does, e.g. a Windows export's key container name); the case of an alias is
        # Python's where the two agree but for it (JKS keeps aliases in lower case).
        spelled = {e.alias.lower(): e.alias for e in python or ()}
        java = tuple(replace(e, alias=spelled.get(e.alias, e.alias)) for e in java)
        if python is None or len(java) > len(python):
            why = (
                f"Python's reader (cryptography) could not ({failure.what})"
                if failure is not None
                else f"Python's reader (cryptography) sees {len(python or ())} of its {len(java)} key entries"
            )
            return KeyPairs(
                java, f"Java {version}", f"read by Java {version}, converted as keytool -importkeystore does: {why}"
            )
        return KeyPairs(java, f"Java {version}")
    if python is not None:
        return KeyPairs(python, "cryptography")
    assert failure is not None
    if said.startswith("password") or (failure.code == "keystore-password-wrong" and not version):
        raise StoreError(
            where,
            "the password does not open this PKCS#12 file" + (f" (Java {version} says so too)" if version else ""),
            "give the password it was exported with",
            code="keystore-password-wrong",
        ) from None
    detail = f"; Java {version} cannot read it either: {said.partition(': ')[2][:200]}" if version else ""
    raise StoreError(where, f"{failure.what}{detail}", failure.fix, code=failure.code) from None


def _read_with_jdk(
    path: Path, data: bytes, password: Secret, jdk: JsseEngine | None
) -> tuple[tuple[KeyEntry, ...] | None, str, str]:
    """(the key entries as the JDK read them or None, its version, why not: "password: ..." / "unreadable: ...")."""
    if jdk is None or jdk.unavailable_reason() is not None:
        return None, "", ""
    try:
        converted, said, version = jdk.convert_pkcs12(data, password)
    except EngineUnavailable:
        return None, "", ""
    if converted is None:
        return None, version, said
    try:
        contents = read_jks(path, converted.jks, "jks", password, "keystore", str(path))
    except StoreError as exc:
        return None, version, f"unreadable: {exc.what}"
    return contents.key_entries, version, ""


def choose_key_pair(pairs: KeyPairs, alias: str | None, path: Path) -> KeyEntry:
    """The key entry to write: the only one, or the one ``--alias`` names (case as Java compares JKS aliases)."""
    entries = pairs.entries
    listed = ", ".join(repr(e.alias) for e in entries)
    if not entries:
        raise StoreError(
            str(path),
            "holds no key pair (no private key entry)",
            "export the key pair with its private key",
            code="keystore-no-key-entry",
        )
    if len(entries) > 1:
        chosen = [e for e in entries if alias is not None and e.alias.lower() == alias.lower()]
        if not chosen:
            what = f"holds {len(entries)} key pairs ({listed})" + (f", none named {alias!r}" if alias else "")
            raise UsageError(str(path), what, "name the one for this destination: --alias ALIAS")
        entry = chosen[0]
    else:
        entry = entries[0]
    if entry.locked:
        raise StoreError(
            str(path),
            f"the key of {entry.alias!r} does not open with the file's password, or is of a type the platform "
            "cannot use here",
            "export the key pair again with one password (RSA or EC key)",
            code="key-password-mismatch",
            entry=entry.alias,
        )
    return entry


# -- a key pair as PEM files: the CA's certificate, the key made with the CSR, and the chain ------------------

_PEM_MARKER = re.compile(rb"-----(BEGIN|END) ([A-Z0-9 ]{1,64})-----")
_PEM_FIX = "give the PEM file your CA (or your CSR tool) wrote"


def read_pem_key_pair(
    cert: Path, key: Path, chain: Path | None, key_password: Callable[[], Secret | None]
) -> tuple[KeyEntry, list[str]]:
    """The key entry of PEM files, leaf first and each certificate followed by its issuer, and warnings.

    ``cert`` may carry the chain itself; ``chain`` adds more. The leaf is the certificate of ``key``'s public
    key: none there is ``key-cert-mismatch``. ``key_password`` is asked only for an encrypted key. Bad input
    is one UsageError naming the file; certificates given that do not link into the chain are left out, with
    a warning.
    """
    private_key = _pem_private_key(key, key_password)
    certs = _pem_certificates(cert, "--cert")
    given = [*certs, *(_pem_certificates(chain, "--chain") if chain is not None else [])]
    public = private_key.public_key()
    leaves = [c for c in certs if c.public_key() == public]
    if not leaves:
        raise UsageError(
            str(cert),
            f"key-cert-mismatch: the private key in {key.name} is not the key of {name_of(certs[0])}",
            "give the certificate issued for this key (the one requested with its CSR), or the key it was issued for",
        )
    leaf = leaves[0]
    ordered = [leaf]
    seen = {leaf.fingerprint(hashes.SHA256())}
    rest = []
    for other in given:
        fingerprint = other.fingerprint(hashes.SHA256())
        if fingerprint not in seen:
            seen.add(fingerprint)
            rest.append(other)
    while not is_self_signed(ordered[-1]):
        issuer = next((c for c in rest if _issued_by(ordered[-1], c)), None)
        if issuer is None:
            break
        ordered.append(issuer)
        rest.remove(issuer)
    warnings = [
        f"client-chain-incomplete: the chain does not link: {name_of(c)} issued none of "
        f"{', '.join(name_of(x) for x in ordered)}; left out"
        for c in rest
    ]
    return KeyEntry("client", tuple(ordered), private_key), warnings


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _pem_bytes(path: Path, option: str) -> bytes:
    where = str(path)
    try:
        return read_bounded(path, STORE_BYTES)
    except FileNotFoundError:
        raise UsageError(where, "no such file", f"check the path given to {option}") from None
    except (NotARegularFile, TooLarge) as exc:
        raise UsageError(where, f"not read: {exc}", f"give {option} a PEM file") from None
    except OSError as exc:
        raise UsageError(where, f"cannot read it ({exc.strerror})", f"check the path given to {option}") from None


def _pem_blocks(data: bytes, path: Path) -> list[tuple[bytes, bytes]]:
    """(label, block) of each ``-----BEGIN X-----`` ... ``-----END X-----``, in one linear pass."""
    blocks: list[tuple[bytes, bytes]] = []
    opened: tuple[int, bytes] | None = None
    for marker in _PEM_MARKER.finditer(data):
        kind, label = marker.group(1), marker.group(2)
        if kind == b"BEGIN" and opened is None:
            opened = (marker.start(), label)
        elif kind == b"END" and opened is not None and label == opened[1]:
            blocks.append((label, data[opened[0] : marker.end()]))
            opened = None
        elif opened is not None:
            break
    if opened is not None:
        line = data.count(b"\n", 0, opened[0]) + 1
        what = f"damaged PEM (line {line}: BEGIN {opened[1].decode('ascii')} without its END line)"
        raise UsageError(str(path), what, _PEM_FIX)
    return blocks


def _pem_certificates(path: Path, option: str) -> list[x509.Certificate]:
    blocks = [b for label, b in _pem_blocks(_pem_bytes(path, option), path) if label == b"CERTIFICATE"]
    if not blocks:
        raise UsageError(str(path), "holds no PEM certificate (-----BEGIN CERTIFICATE-----)", _PEM_FIX)
    if len(blocks) > STORE_ENTRIES.value:
        raise UsageError(str(path), f"holds {len(blocks)} certificates", f"at most {STORE_ENTRIES.value}")
    certs = []
    for number, block in enumerate(blocks, 1):
        try:
            certs.append(x509.load_pem_x509_certificate(block))
        except ValueError:
            raise UsageError(
                str(path), f"certificate {number} is damaged (not readable DER inside)", _PEM_FIX
            ) from None
    return certs


def _pem_private_key(path: Path, password: Callable[[], Secret | None]) -> PrivateKey:
    keys = [(label, b) for label, b in _pem_blocks(_pem_bytes(path, "--key"), path) if label.endswith(b"PRIVATE KEY")]
    if not keys:
        raise UsageError(str(path), "holds no PEM private key (-----BEGIN ... PRIVATE KEY-----)", _PEM_FIX)
    if len(keys) > 1:
        raise UsageError(
            str(path),
            f"holds {len(keys)} private keys: which one is this certificate's is not guessed",
            "give --key a file with the one key issued with the certificate",
        )
    label, block = keys[0]
    encrypted = label == b"ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in block
    secret = password() if encrypted else None
    if encrypted and secret is None:
        raise UsageError(
            str(path), "the private key is encrypted", "pass --key-password-env VAR or --key-password-file FILE"
        )
    try:
        loaded = serialization.load_pem_private_key(
            block, password=secret.reveal().encode() if secret is not None else None
        )
    except ValueError as exc:
        if encrypted and "password" in str(exc).lower():
            raise UsageError(
                str(path), "the password does not open the private key", "give the password the key was written with"
            ) from None
        raise UsageError(str(path), "the private key is damaged (not readable)", _PEM_FIX) from None
    except (TypeError, UnsupportedAlgorithm):
        raise UsageError(str(path), "the private key is of a type or encryption not readable", _PEM_FIX) from None
    key = usable_key(loaded)
    if key is None:
        raise UsageError(
            str(path),
            f"holds an {type(loaded).__name__.removesuffix('PrivateKey')} key",
            "the platform needs an RSA or EC key (one from a new CSR)",
        )
    return key
