"""Attacks on ``explain``: texts shaped to make its regexes quadratic, and inputs that never end.

Each attack runs the real command (``mtls-harness explain``) in a subprocess
bounded in time and memory (tests/bounded.py): before the fix each of the text
attacks ran for minutes, so a regex that turns superlinear again fails here at
the deadline rather than hanging. Each attack has a negative twin: the same
shape carrying a real phrase is still explained as before, and a normal text,
a regular file and a normal pipe are read as they always were.

``pytest tests/test_attacks_explain.py -s`` prints the table: attack | exit | time | peak memory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.explainer.ranking import explain
from harness.limits import EXPLAIN_BYTES
from tests.bounded import Bounded, run_bounded

# A JDK 17 javax.net.debug record header: the records that follow it are read as a log.
HEAD = (
    "javax.net.ssl|DEBUG|0F|main|2026-12-03 08:29:33.778 UTC|CertificateRequest.java:864|"
    "Consuming CertificateRequest handshake message (\n"
)
CLIENT_CERT = HEAD.replace("Consuming CertificateRequest handshake message", "Produced client Certificate message")
FATAL = "javax.net.ssl|ERROR|0F|main|2026-12-03 08:29:33.780 UTC|TransportContext.java:363|Fatal (HANDSHAKE_FAILURE): "
MB = 1 << 20

# name -> (text, the code explain must rank first; None: no TLS fact at all, nothing found, exit 1): the
# issue's three attacks, then one per pattern shape.
ATTACKS: dict[str, tuple[str, str | None]] = {
    "newlines-1MB": ("x" + "\n" * MB, None),
    "debug-header-then-blank-lines": (HEAD + "\n" * MB, "handshake-failed"),
    "phrase-40000-times-one-line": ("PKIX path validation failed " * 40_000, "handshake-failed"),
    "checkClientTrusted-40000-times": ("checkClientTrusted " * 40_000, None),
    "no-san-40000-times": ("No subject alternative names " * 40_000, None),
    "jdk8-cert-authorities-then-blank-lines": (
        "*** CertificateRequest\nCert Authorities:" + "\n" * MB,
        "handshake-failed",
    ),
    "jdk8-certificate-chain-then-blank-lines": ("*** Certificate chain" + "\n" * MB, "handshake-failed"),
    "fatal-record-then-spaces": (FATAL + " " * MB + "x\n", "handshake-failed"),
    "unterminated-eku-lists": (
        CLIENT_CERT + '"certificate" : {\n' + "ExtendedKeyUsages [" * 40_000,
        "handshake-failed",
    ),
    "unterminated-ca-name-lists": (HEAD + '"certificate authorities": [' * 40_000, "handshake-failed"),
    "tls-alert-then-400000-words": ("tls alert " + "a " * 400_000, "handshake-failed"),
    "spaces-1MB": (" " * MB + "x", None),
    # The normaliser's shapes (harness/explainer/normalise.py): a Go alert prefix, JSSE titles with numbers
    # that name no alert, a bare alert name inside longer words, "alert" without a number.
    "go-alert-prefix-40000-times": ("remote error: tls: " * 40_000, "handshake-failed"),
    "titles-with-numbers-40000-times": ("Certificate Unknown Thing (999) " * 40_000, "handshake-failed"),
    "bare-name-inside-words": ("xunknown_cax" * 80_000, None),
    "alert-without-number-200000-times": ("alert " * 200_000, "handshake-failed"),
}
# The same shapes ending in the phrase they imitate: the linear patterns still find it.
TWINS: dict[str, tuple[str, str]] = {
    "phrase-40000-times-one-line": (
        "PKIX path validation failed " * 40_000 + ": validity check failed",
        "server-cert-expired",
    ),
    "checkClientTrusted-40000-times": (
        "checkClientTrusted " * 40_000 + "\nNo subject alternative names matching IP address 10.1.2.3 found",
        "client-cert-name-mismatch",
    ),
    "newlines-1MB": ("\n" * MB + "java.io.EOFException\n" + "\n" * MB, "store-unreadable"),
    "tls-alert-then-400000-words": ("a " * 400_000 + "\ntlsv1 alert unknown ca", "client-cert-untrusted"),
}

TABLE: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def _table() -> Iterator[None]:
    yield
    if TABLE:
        print("\n| attack | exit | time | peak RSS |\n|---|---|---|---|\n" + "\n".join(TABLE))


def _explained(result: Bounded, *, found: bool = True) -> list[str]:
    TABLE.append(result.row())
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.returncode == (0 if found else 1), result.stderr[-2000:]
    doc = json.loads(result.stdout)
    assert doc["found"] is found
    return [c["code"] for c in doc["candidates"]]


def _refused(result: Bounded, *words: str) -> None:
    TABLE.append(result.row())
    assert result.returncode == 2, result.stdout[-500:] + result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("mtls-harness: error: "), result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_hostile_text_is_explained_in_bounded_time(name: str, tmp_path: Path) -> None:
    text, code = ATTACKS[name]
    path = tmp_path / "attack.log"
    path.write_text(text, "utf-8")
    result = run_bounded(f"explain --file ({name})", "explain", "--file", str(path), "--json", timeout=30)
    codes = _explained(result, found=code is not None)
    assert codes[:1] == ([code] if code else [])


@pytest.mark.parametrize("name", sorted(TWINS))
def test_same_shape_with_the_phrase_is_still_explained(name: str, tmp_path: Path) -> None:
    text, code = TWINS[name]
    path = tmp_path / "twin.log"
    path.write_text(text, "utf-8")
    codes = _explained(run_bounded(f"twin: {name} + phrase", "explain", "--file", str(path), "--json", timeout=30))
    assert codes[0] == code


def test_only_newlines_is_an_empty_text() -> None:
    _refused(run_bounded("explain - (1 MB of newlines)", "explain", "-", stdin=b"\n" * MB, timeout=30), "empty")


def test_fifo_is_refused_without_reading(tmp_path: Path) -> None:
    fifo = tmp_path / "log.fifo"
    os.mkfifo(fifo)  # no writer ever opens it: reading it would block for ever
    _refused(run_bounded("explain --file FIFO", "explain", "--file", str(fifo), timeout=30), "FIFO", str(fifo))


def test_device_is_refused_without_reading() -> None:
    _refused(run_bounded("explain --file /dev/zero", "explain", "--file", "/dev/zero", timeout=30), "device")


def test_reproduce_error_file_is_bounded_too(tmp_path: Path) -> None:
    fifo = tmp_path / "error.fifo"
    os.mkfifo(fifo)
    result = run_bounded(
        "reproduce --error @FIFO",
        "reproduce",
        str(tmp_path / "destination.json"),
        "--error",
        f"@{fifo}",
        "--out",
        str(tmp_path / "out"),
        timeout=30,
    )
    _refused(result, "FIFO")
    assert not (tmp_path / "out").exists()


def test_file_above_the_cap_is_refused_and_the_variable_raises_it(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    path.write_bytes(b"Received fatal alert: unknown_ca\n" + b"x" * EXPLAIN_BYTES.value)
    _refused(
        run_bounded("explain --file (4 MiB + 33 bytes)", "explain", "--file", str(path), timeout=60),
        "MTLS_MAX_EXPLAIN_BYTES",
    )
    raised = {"MTLS_MAX_EXPLAIN_BYTES": str(EXPLAIN_BYTES.value * 2)}
    result = run_bounded("twin: same, cap raised", "explain", "--file", str(path), "--json", env=raised, timeout=60)
    assert _explained(result)[0] == "client-cert-untrusted"


def test_stdin_above_the_cap_is_refused() -> None:
    flood = b"a" * (EXPLAIN_BYTES.value + 1)
    _refused(run_bounded("explain - (4 MiB + 1 byte)", "explain", "-", stdin=flood, timeout=60), "explain text size")


def test_normal_text_is_explained_the_same_from_every_source(tmp_path: Path) -> None:
    """The negative twin of every refusal: a real error text, given as TEXT, --file and stdin."""
    text = "javax.net.ssl.SSLHandshakeException: Received fatal alert: unknown_ca"
    expected = explain(text).codes()
    assert expected[0] == "client-cert-untrusted"
    path = tmp_path / "error.txt"
    path.write_text(text + "\n", "utf-8")
    for result in (
        run_bounded("twin: TEXT", "explain", text, "--json"),
        run_bounded("twin: --file regular file", "explain", "--file", str(path), "--json"),
        run_bounded("twin: stdin", "explain", "-", "--json", stdin=text.encode()),
    ):
        assert _explained(result) == expected


def test_evidence_quotes_the_phrase_not_the_text_before_it() -> None:
    """The linear form of ``A.*B`` quotes from A to B, as the plain pattern did, not the text before A."""
    text = "some earlier line\njava.security.cert.CertificateException: No subject alternative names matching IP "
    text += "address 10.1.2.3 found\n\tat sun.security.ssl.X509TrustManagerImpl.checkClientTrusted(X.java:84)"
    [why] = [
        w
        for c in explain(text).candidates
        for e, w in zip(c.entries, c.why, strict=True)
        if e == "san-check-client-trusted"
    ]
    assert "'No subject alternative names matching IP address 10.1.2.3 found at sun" in why
    assert "some earlier line" not in why
