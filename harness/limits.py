"""Bounds on the work any input can cause: file sizes, entry counts, key sizes, chain depth, deadlines.

Customers' stores, destination JSON pasted from tickets and scenario files are
read before anything judges them; a file that declares a billion entries or a
PBKDF2 count of 2^31-1 must be refused in microseconds, not run. Every limit is
listed in docs/limits.md. Those worth raising for a legitimate input can be
raised with an environment variable named in the refusal; the ones the JDK
itself enforces cannot (the platform would refuse the input anyway).

Input files are opened without following them into anything but a regular
file: a FIFO would block ``read()`` forever, ``/dev/zero`` never ends, a
directory is not a store.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

__all__ = [
    "BER_DEPTH",
    "CHAIN_DEPTH",
    "JAVA_OBJECT_DEPTH",
    "JDK_PBE_ITERATIONS",
    "JSON_BYTES",
    "PKCS12_WORK",
    "SCENARIO_BIG_KEYS",
    "SCENARIO_BYTES",
    "SCENARIO_CERTS",
    "STORE_BYTES",
    "STORE_ENTRIES",
    "TOML_DEPTH",
    "Limit",
    "NotARegularFile",
    "TooLarge",
    "read_bounded",
    "toml_depth",
]


@dataclass(frozen=True)
class Limit:
    """A bound, its unit and how to raise it (``env`` None: not raisable)."""

    what: str
    default: int
    unit: str
    env: str | None = None

    @property
    def value(self) -> int:
        if self.env is None:
            return self.default
        raw = os.environ.get(self.env, "")
        return int(raw) if raw.isdigit() and int(raw) > 0 else self.default

    def refusal(self, found: int | None = None) -> str:
        """``what: found above the limit of N unit (raise it with ENV=N)`` as one clause."""
        amount = f"{found:,} {self.unit}, " if found is not None else ""
        text = f"{self.what}: {amount}above the limit of {self.value:,} {self.unit}"
        if self.env is not None:
            text += f" (raise it with {self.env}=N if this input is genuine)"
        return text


# A store is kilobytes (the JDK's own cacerts: ~150 certificates, ~200 KB); 8 MiB is 40x that.
STORE_BYTES = Limit("store file size", 8 << 20, "bytes", "MTLS_MAX_STORE_BYTES")
# Entries per store (JKS/JCEKS entries, PKCS#12 bags, PEM blocks).
STORE_ENTRIES = Limit("entries in one store", 5_000, "entries", "MTLS_MAX_STORE_ENTRIES")
# The JDK's PKCS12KeyStore refuses a MAC or PBE iteration count above 5,000,000
# ("MAC iteration count too large", "key PBE iteration count too large"): above
# it the platform cannot open the store, so it is refused before any PBKDF2 runs.
JDK_PBE_ITERATIONS = Limit("PKCS#12 iteration count", 5_000_000, "iterations")
# All of a PKCS#12 file's counts together (MAC, certificate PBE, every key bag's PBKDF2, including those
# inside encrypted SafeContents): PBKDF2-HMAC-SHA1 runs ~2.5 M iterations a second here (SHA-256 ~6 M),
# so 10 M bounds a read to a few seconds; genuine files declare 3 counts of 2,048 to 600,000.
PKCS12_WORK = Limit("PKCS#12 iteration counts, summed", 10_000_000, "iterations", "MTLS_MAX_PKCS12_ITERATIONS")
# Nesting of BER elements in a PKCS#12 file, checked before any parser recurses: a PFX is about 10 deep.
BER_DEPTH = Limit("PKCS#12 BER nesting depth", 64, "levels")
# Nesting of arrays and inline tables in a scenario TOML, counted before tomllib (which recurses) runs;
# a scenario is 3 deep.
TOML_DEPTH = Limit("scenario TOML nesting depth", 32, "levels")
# Objects nested by value in a JCEKS secret-key entry's serialized Java object, which is skipped, never
# deserialized (the JDK writes one SealedObject 2 deep); also the class hierarchy depth.
JAVA_OBJECT_DEPTH = Limit("JCEKS serialized object nesting depth", 32, "levels")
# Every JSON file read: a destination export, a capture profile, a built folder's server.json.
JSON_BYTES = Limit("JSON file size", 1 << 20, "bytes", "MTLS_MAX_JSON_BYTES")
SCENARIO_BYTES = Limit("scenario file size", 1 << 20, "bytes", "MTLS_MAX_SCENARIO_BYTES")
# Certificates under a scenario's [pki]: each costs a key (pooled, but RSA-4096 still seconds).
SCENARIO_CERTS = Limit("certificates in one scenario", 200, "certificates", "MTLS_MAX_SCENARIO_CERTS")
# RSA-3072/4096 keys in one scenario: pooled keys are distinct within a scenario, and one RSA-4096 key
# takes ~0.5 s to make (2 cores); 20 of them bound a scenario's key making to ~10 s.
SCENARIO_BIG_KEYS = Limit("RSA-3072/4096 keys in one scenario", 20, "keys", "MTLS_MAX_SCENARIO_BIG_KEYS")
# Certificates from a leaf to its root. OpenSSL's default verify depth is 100;
# no real PKI comes near 16.
CHAIN_DEPTH = Limit("certificate chain depth", 16, "certificates", "MTLS_MAX_CHAIN_DEPTH")


class NotARegularFile(OSError):
    """The path is a FIFO, device, socket or directory: refused before any read."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"is {kind}, not a regular file")
        self.kind = kind


class TooLarge(ValueError):
    """The input is larger than its limit; ``str()`` names the limit and how to raise it."""

    def __init__(self, limit: Limit, found: int | None = None) -> None:
        super().__init__(limit.refusal(found))
        self.limit = limit
        self.found = found


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_bounded(path: Path, limit: Limit) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit.value`` of them.

    OSError as ``open`` raises it (FileNotFoundError, PermissionError);
    NotARegularFile before reading a FIFO, device, socket or directory;
    TooLarge when the file is (or grows while read) above the limit.
    """
    # O_NONBLOCK: opening a FIFO for reading blocks until a writer appears; with it, open returns at once
    # and fstat tells what it is. A regular file ignores the flag.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        for test, kind in _KINDS:
            if test(info.st_mode):
                raise NotARegularFile(kind)
        if not stat.S_ISREG(info.st_mode):
            raise NotARegularFile("not a regular file")
        cap = limit.value
        if info.st_size > cap:
            raise TooLarge(limit, info.st_size)
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, cap + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > cap:  # grew since fstat (a file still being written)
                raise TooLarge(limit)
        return b"".join(chunks)
    finally:
        os.close(fd)


# What hides brackets in TOML: comments and strings, removed in one regex pass. Every alternative matches
# whatever follows its opening (a string left open runs to its line's or the text's end), so the engine never
# backtracks: linear. Then the remaining brackets are summed at C speed.
_TOML_HIDING = re.compile(
    r"""#[^\n]*|\"\"\"[\s\S]*?(?:\"\"\"|\Z)|'''[\s\S]*?(?:'''|\Z)|"(?:[^"\\\n]|\\.?)*(?:"|$)|'[^'\n]*(?:'|$)""",
    re.MULTILINE,
)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def toml_depth(text: str) -> int:
    """How deeply arrays, inline tables (and table headers) nest in TOML ``text``: linear, no parsing.

    tomllib parses nested arrays and inline tables recursively; this count lets a
    reader refuse TOML_DEPTH before tomllib runs. Brackets inside comments and
    strings do not count. Approximate only on malformed TOML, which tomllib then
    refuses anyway (at the first stray bracket, before anything deeper).
    """
    brackets = _NOT_BRACKETS.sub("", _TOML_HIDING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets), initial=0))


# An error text or log given to ``explain`` (TEXT, ``--file``, stdin; ``reproduce --error @FILE``): a
# javax.net.debug log of one handshake is ~100 KB. Every phrase runs in time linear in the text
# (tests/test_attacks_explain.py): about a second per MiB on a busy 2-core machine.
EXPLAIN_BYTES = Limit("explain text size", 4 << 20, "bytes", "MTLS_MAX_EXPLAIN_BYTES")
# A password file (``--keystore-password-file`` and the others): its first line is the password.
PASSWORD_FILE_BYTES = Limit("password file size", 64 << 10, "bytes")
