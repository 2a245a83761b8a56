"""What a store file really is, from its content; and the PKCS#12 DER walked before any password is tried."""

from __future__ import annotations

from harness.limits import BER_DEPTH, TooLarge
from harness.stores.entries import StoreType

__all__ = ["ber_elements", "ber_iteration_counts", "detect_type", "octets", "pfx_length", "pkcs12_iteration_counts"]

_JKS_MAGIC = b"\xfe\xed\xfe\xed"
_JCEKS_MAGIC = b"\xce\xce\xce\xce"


def detect_type(data: bytes) -> StoreType:
    """What a store file really is, from its first bytes."""
    if data.startswith(_JKS_MAGIC):
        return "jks"
    if data.startswith(_JCEKS_MAGIC):
        return "jceks"
    # PEM, possibly after text: `openssl pkcs12 -nodes` writes "Bag Attributes"
    # lines before each block, and customers convert their .p12 that way.
    head = data[:4096]
    if b"-----BEGIN " in head and head.isascii():
        return "pem"
    if pfx_length(data) is not None:
        return "pkcs12"
    return "unknown"


def pfx_length(data: bytes) -> int | None:
    """The length a PKCS#12 file declares for itself, if it starts like one.

    A PFX (RFC 7292) is a DER SEQUENCE whose first member is INTEGER 3.
    Comparing the declared length with the file's size tells a truncated file
    (unreadable) from a wrong password, which ``cryptography`` reports alike.
    """
    if len(data) < 8 or data[0] != 0x30:
        return None
    first = data[1]
    if first < 0x80:
        length, header = first, 2
    else:
        count = first & 0x7F
        if count == 0 or count > 4:
            return None
        length, header = int.from_bytes(data[2 : 2 + count], "big"), 2 + count
    if data[header : header + 3] != b"\x02\x01\x03":
        return None
    return header + length


_OCTET_STRING, _INTEGER, _SEQUENCE = 0x04, 0x02, 0x30


def pkcs12_iteration_counts(data: bytes) -> list[int]:
    """Every PBKDF2 / PKCS#12 PBE / MAC iteration count a PFX declares, read from its DER before any is run.

    Each of those parameter blocks (PBKDF2-params, pkcs-12PbeParams, MacData;
    RFC 8018 A.2, RFC 7292 4 and C) is a SEQUENCE in which the count is the
    INTEGER right after the salt OCTET STRING. Encapsulated content (the
    authSafe, its SafeContents, bag values) sits in OCTET STRINGs and is walked
    too when it parses as BER. ValueError when the outer structure does not parse; TooLarge (a ValueError)
    when elements nest deeper than BER_DEPTH, checked before each level is entered.
    """
    counts: list[int] = []
    _walk(memoryview(data), counts, 0, strict=True)
    return counts


def ber_iteration_counts(data: bytes) -> list[int]:
    """The iteration counts declared in ``data``, a run of BER elements (a decrypted SafeContents)."""
    counts: list[int] = []
    _walk(memoryview(data), counts, 0, strict=True)
    return counts


def ber_elements(data: memoryview) -> list[tuple[int, memoryview]]:
    """(tag, contents) of each element filling ``data``; ValueError when it does not parse."""
    elements = []
    pos = 0
    while pos < len(data):
        tag, start, end, pos = _tlv(data, pos)
        elements.append((tag, data[start:end]))
    if not elements:
        raise ValueError("no element")
    return elements


def octets(tag: int, content: memoryview) -> bytes:
    """The bytes of an OCTET STRING (or an [n] IMPLICIT one): primitive, or BER constructed from segments."""
    if not tag & 0x20:
        return bytes(content)
    return b"".join(octets(t, c) for t, c in ber_elements(content)) if len(content) else b""


def _tlv(data: memoryview, pos: int, depth: int = 0) -> tuple[int, int, int, int]:
    """(tag, start of contents, end of contents, end of the element) at ``pos``; BER indefinite lengths allowed.

    An indefinite length is found by walking the elements inside it (``depth`` levels down already).
    """
    if depth > BER_DEPTH.value:
        raise TooLarge(BER_DEPTH)
    if pos + 2 > len(data):
        raise ValueError("truncated")
    tag, first = data[pos], data[pos + 1]
    if tag & 0x1F == 0x1F:
        raise ValueError("high tag numbers do not occur in PKCS#12")
    start = pos + 2
    if first == 0x80:  # indefinite: constructed contents up to an end-of-contents 00 00
        if not tag & 0x20:
            raise ValueError("indefinite length on a primitive")
        cursor = start
        while True:
            if cursor + 2 > len(data):
                raise ValueError("no end-of-contents")
            if data[cursor] == 0 and data[cursor + 1] == 0:
                return tag, start, cursor, cursor + 2
            cursor = _tlv(data, cursor, depth + 1)[3]
    if first & 0x80:
        count = first & 0x7F
        if count > 4 or start + count > len(data):
            raise ValueError("bad length")
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    else:
        length = first
    if start + length > len(data):
        raise ValueError("overruns")
    return tag, start, start + length, start + length


def _walk(data: memoryview, counts: list[int], depth: int, *, strict: bool) -> bool:
    """Collect counts from the elements filling ``data``; False (nothing collected) if it is not BER, unless strict."""
    if depth > BER_DEPTH.value:
        raise TooLarge(BER_DEPTH)
    found: list[int] = []
    elements: list[tuple[int, int, int]] = []
    pos = 0
    try:
        while pos < len(data):
            tag, start, end, pos = _tlv(data, pos, depth)
            elements.append((tag, start, end))
    except TooLarge:
        raise
    except ValueError:
        if strict:
            raise
        return False
    previous = -1
    for tag, start, end in elements:
        content = data[start:end]
        if tag == _INTEGER and previous == _OCTET_STRING:
            # A count wider than 8 bytes is past any limit; its exact value does not matter.
            found.append(int.from_bytes(content, "big") if len(content) <= 8 else 1 << 64)
        if tag & 0x20:  # constructed: SEQUENCE, SET, [n] EXPLICIT, BER constructed OCTET STRING
            _walk(content, found, depth + 1, strict=strict and tag in (_SEQUENCE, 0x31, 0xA0))
        elif tag == _OCTET_STRING and len(content) >= 2 and content[0] == _SEQUENCE:
            _walk(content, found, depth + 1, strict=False)  # encapsulated BER, or opaque bytes
        previous = tag if tag != 0x24 else _OCTET_STRING
    counts.extend(found)
    return True
