"""A PKCS#12 file's encrypted SafeContents, decrypted to read the iteration counts hidden inside them.

The DER walk (``harness.stores.detect``) sees every count outside encryption:
the MAC's, and the PBE of each encrypted SafeContents. A key bag put inside an
encrypted SafeContents hides its own PBKDF2 count until that SafeContents is
decrypted, and ``cryptography`` would then run it, whatever it is (2^31-1:
about 270 s). So each encrypted SafeContents is decrypted here first, with a
count already checked, and the counts inside are returned before
``cryptography`` reads the file. The algorithms are those real files use:
PBES2 (PBKDF2 with AES-CBC or 3DES-CBC; OpenSSL 3, Java 12+, cryptography),
and the PKCS#12 PBEs with 3DES (Windows, old Java), RC2 (OpenSSL 1.x,
Java 8) and RC4 (OpenSSL 1.x's -certpbe/-keypbe options). This costs one more
key derivation per encrypted SafeContents, at a count already checked: about 1 ms for the harness's own stores.
"""

from __future__ import annotations

import hashlib
from typing import Any

from Cryptodome.Cipher import ARC2  # purejks's own dependency: the only RC2 with 40-bit keys here
from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4, TripleDES
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from harness.limits import TooLarge
from harness.stores.detect import ber_elements, ber_iteration_counts, octets

__all__ = ["NotDecrypted", "UnknownEncryption", "hidden_iteration_counts"]


class NotDecrypted(ValueError):
    """An encrypted SafeContents does not decrypt with the password (or is damaged): ``cryptography`` fails alike."""


class UnknownEncryption(ValueError):
    """Encrypted with an algorithm this reader (and ``cryptography``) does not know; ``str()`` names it."""


def _oid(dotted: str) -> bytes:
    """The DER contents of an OBJECT IDENTIFIER (what ``ber_elements`` returns for one)."""
    parts = [int(p) for p in dotted.split(".")]
    out = bytearray([parts[0] * 40 + parts[1]])
    for part in parts[2:]:
        chunk = [part & 0x7F]
        part >>= 7
        while part:
            chunk.append(0x80 | (part & 0x7F))
            part >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


_ENCRYPTED_DATA = _oid("1.2.840.113549.1.7.6")
_PBES2 = _oid("1.2.840.113549.1.5.13")
_PBKDF2 = _oid("1.2.840.113549.1.5.12")
# PKCS#12 PBE (RFC 7292 appendix C): key length, cipher.
_PKCS12_PBE = {
    _oid("1.2.840.113549.1.12.1.3"): (24, "3des"),
    _oid("1.2.840.113549.1.12.1.4"): (16, "3des"),
    _oid("1.2.840.113549.1.12.1.5"): (16, "rc2"),
    _oid("1.2.840.113549.1.12.1.6"): (5, "rc2"),
    _oid("1.2.840.113549.1.12.1.1"): (16, "rc4"),  # OpenSSL 1.x -certpbe/-keypbe PBE-SHA1-RC4-128
    _oid("1.2.840.113549.1.12.1.2"): (5, "rc4"),
}
_PRF = {
    _oid("1.2.840.113549.2.7"): hashes.SHA1(),  # noqa: S303 - PBKDF2-HMAC-SHA1 is what old files declare
    _oid("1.2.840.113549.2.8"): hashes.SHA224(),
    _oid("1.2.840.113549.2.9"): hashes.SHA256(),
    _oid("1.2.840.113549.2.10"): hashes.SHA384(),
    _oid("1.2.840.113549.2.11"): hashes.SHA512(),
}
_PBES2_CIPHERS = {
    _oid("2.16.840.1.101.3.4.1.2"): (16, "aes"),
    _oid("2.16.840.1.101.3.4.1.22"): (24, "aes"),
    _oid("2.16.840.1.101.3.4.1.42"): (32, "aes"),
    _oid("1.2.840.113549.3.7"): (24, "3des"),
}
_OID, _SEQUENCE, _OCTETS, _INTEGER = 0x06, 0x30, 0x04, 0x02


def hidden_iteration_counts(pfx: bytes, password: str) -> tuple[list[int], int]:
    """(the counts inside the encrypted SafeContents, how many iterations decrypting them cost).

    Call only once every count the DER walk sees is checked: those are the
    ones run here. ValueError when the structure does not parse,
    UnknownEncryption for an algorithm no reader here knows, NotDecrypted when
    a SafeContents does not decrypt with ``password``.
    """
    counts: list[int] = []
    spent = 0
    for encrypted in _encrypted_safes(pfx):
        algorithm, content = encrypted
        plain, cost = _decrypt(algorithm, content, password)
        spent += cost
        try:
            counts.extend(ber_iteration_counts(plain))
        except TooLarge:
            raise
        except ValueError:
            # Padding that happens to be valid (1 in 256 for a wrong password) over bytes that are no BER.
            raise NotDecrypted("the decrypted contents do not parse") from None
    return counts, spent


def _encrypted_safes(pfx: bytes) -> list[tuple[memoryview, bytes]]:
    """(AlgorithmIdentifier contents, ciphertext) of each encryptedData ContentInfo in the AuthenticatedSafe."""
    (_, pfx_body), *_ = ber_elements(memoryview(pfx))
    members = ber_elements(pfx_body)
    auth_safe = ber_elements(members[1][1])  # ContentInfo: contentType, [0] EXPLICIT content
    if len(auth_safe) < 2:
        return []  # no content: nothing encrypted
    (tag, wrapped), *_ = ber_elements(auth_safe[1][1])
    (_, safes), *_ = ber_elements(memoryview(octets(tag, wrapped)))
    found = []
    for _, info in ber_elements(safes):
        parts = ber_elements(info)
        if bytes(parts[0][1]) != _ENCRYPTED_DATA or len(parts) < 2:
            continue
        (_, encrypted_data), *_ = ber_elements(parts[1][1])
        version_and_info = ber_elements(encrypted_data)
        info_parts = ber_elements(version_and_info[1][1])  # contentType, algorithm, [0] IMPLICIT content
        if len(info_parts) < 3:
            continue  # no encryptedContent: nothing to decrypt
        algorithm, (tag, content) = info_parts[1][1], info_parts[2]
        found.append((algorithm, octets(tag, content)))
    return found


def _decrypt(algorithm: memoryview, content: bytes, password: str) -> tuple[bytes, int]:
    parts = ber_elements(algorithm)
    oid = bytes(parts[0][1])
    if oid in _PKCS12_PBE:
        key_size, cipher = _PKCS12_PBE[oid]
        salt, count = (bytes(v) for _, v in ber_elements(parts[1][1])[:2])
        iterations = int.from_bytes(count, "big")
        secret = password.encode("utf-16-be") + b"\0\0"
        key = _pkcs12_kdf(secret, salt, 1, iterations, key_size)
        if cipher == "rc4":  # a stream cipher: no IV, no padding (a wrong password shows as contents that do not parse)
            decryptor = Cipher(ARC4(key), mode=None).decryptor()
            return decryptor.update(content) + decryptor.finalize(), iterations
        iv = _pkcs12_kdf(secret, salt, 2, iterations, 8)
        return _cbc(cipher, key, iv, content), 2 * iterations
    if oid == _PBES2:
        kdf, scheme = (v for _, v in ber_elements(parts[1][1])[:2])
        kdf_oid, kdf_params = (v for _, v in ber_elements(kdf)[:2])
        if bytes(kdf_oid) != _PBKDF2:
            raise UnknownEncryption("a PBES2 key derivation other than PBKDF2")
        params = ber_elements(kdf_params)
        salt, iterations = bytes(params[0][1]), int.from_bytes(params[1][1], "big")
        prf: hashes.HashAlgorithm = hashes.SHA1()  # noqa: S303 - PBKDF2's default PRF (RFC 8018)
        for tag, value in params[2:]:
            if tag == _SEQUENCE:
                prf_oid = bytes(ber_elements(value)[0][1])
                if prf_oid not in _PRF:
                    raise UnknownEncryption("a PBKDF2 PRF other than HMAC-SHA1/SHA-2")
                prf = _PRF[prf_oid]
        cipher_oid, iv = (bytes(v) for _, v in ber_elements(scheme)[:2])
        if cipher_oid not in _PBES2_CIPHERS:
            raise UnknownEncryption("a PBES2 cipher other than AES-CBC or 3DES-CBC")
        key_size, cipher = _PBES2_CIPHERS[cipher_oid]
        key = PBKDF2HMAC(prf, key_size, salt, iterations).derive(password.encode("utf-8"))
        return _cbc(cipher, key, iv, content), iterations
    raise UnknownEncryption("an encryption algorithm other than PBES2 or the PKCS#12 PBEs")


def _pkcs12_kdf(secret: bytes, salt: bytes, purpose: int, iterations: int, size: int) -> bytes:
    """RFC 7292 appendix B.2 with SHA-1 (the PKCS#12 PBEs' hash)."""
    u, v = 20, 64
    block = bytearray(_fill(salt, v) + _fill(secret, v))
    out = b""
    while len(out) < size:
        digest = hashlib.sha1(bytes([purpose]) * v + bytes(block)).digest()  # noqa: S324 - the PKCS#12 KDF is SHA-1
        for _ in range(iterations - 1):
            digest = hashlib.sha1(digest).digest()  # noqa: S324
        out += digest
        b = int.from_bytes((digest * (v // u + 1))[:v], "big")
        for j in range(0, len(block), v):
            value = (int.from_bytes(block[j : j + v], "big") + b + 1) % (1 << (8 * v))
            block[j : j + v] = value.to_bytes(v, "big")
    return out[:size]


def _fill(data: bytes, v: int) -> bytes:
    """``data`` repeated to the next multiple of ``v`` bytes (RFC 7292 B.2 steps 2 and 3)."""
    if not data:
        return b""
    size = v * ((len(data) + v - 1) // v)
    return (data * (size // len(data) + 1))[:size]


def _cbc(cipher: str, key: bytes, iv: bytes, content: bytes) -> bytes:
    """``content`` decrypted and unpadded; NotDecrypted when the padding is wrong (wrong password, damage)."""
    if len(content) % 8 or not content:
        raise NotDecrypted("not a whole number of blocks")
    if cipher == "rc2":
        if len(iv) != 8:
            raise NotDecrypted("IV of the wrong size")
        options: dict[str, Any] = {"iv": iv, "effective_keylen": len(key) * 8}  # not in the stubs
        plain = bytes(ARC2.new(key, ARC2.MODE_CBC, **options).decrypt(content))  # noqa: S304  # noqa: S304
        return _unpad(plain, 64)
    if cipher == "3des":
        if len(key) == 16:
            key += key[:8]
        algorithm: algorithms.AES | TripleDES = TripleDES(key)
    else:
        algorithm = algorithms.AES(key)
    if len(iv) * 8 != algorithm.block_size:
        raise NotDecrypted("IV of the wrong size")
    if len(content) * 8 % algorithm.block_size:
        raise NotDecrypted("not a whole number of blocks")
    decryptor = Cipher(algorithm, modes.CBC(iv)).decryptor()
    return _unpad(decryptor.update(content) + decryptor.finalize(), algorithm.block_size)


def _unpad(plain: bytes, block_bits: int) -> bytes:
    try:
        unpadder = padding.PKCS7(block_bits).unpadder()
        return unpadder.update(plain) + unpadder.finalize()
    except ValueError:
        raise NotDecrypted("bad padding: the password does not open it") from None
