"""harness/knowledge/alerts.py and tls.py: every spelling of an alert names the right one, and nothing else does.

Each positive case has a negative twin: the same shape with a word or number
that is no alert gives None; a version spelling that is none gives None.
"""

from __future__ import annotations

import ssl

import pytest

from harness.diagnose.raw_errors import ALERT_CODES, UNTRUSTED_VERIFY_CODES, VERIFY_CLIENT, VERIFY_SERVER
from harness.knowledge.alerts import ALERT_NAMES, ALERT_NUMBERS, ALERTS, alert_from_reason, alert_name
from harness.knowledge.tls import (
    REFUSAL_STATUSES,
    TLS_VERSION_NAMES,
    TLS_VERSIONS,
    jsse_phrases_in,
    no_version_in_common,
    not_tls,
    refusal_statuses,
    tls_version,
    verify_code,
    verify_number,
    version_refused,
)

# (text as a tool prints it, the alert it names, the same shape naming none)
SPELLINGS = [
    (48, "unknown_ca", 999),
    ("48", "unknown_ca", "480"),
    ("unknown_ca", "unknown_ca", "unknown_cat"),
    ("UNKNOWN_CA", "unknown_ca", "UNKNOWN_CAT"),
    ("Unknown CA", "unknown_ca", "Unknown CAT"),
    ("TLSV1_ALERT_UNKNOWN_CA", "unknown_ca", "TLSV1_ALERT_UNKNOWN_CAT"),
    ("SSLV3_ALERT_BAD_CERTIFICATE", "bad_certificate", "SSLV3_ALERT_BAD_CERTIFICATES"),
    ("TLSV13_ALERT_CERTIFICATE_REQUIRED", "certificate_required", "TLSV13_ALERT_CERTIFICATE_WANTED"),
    ("TLSV1_UNRECOGNIZED_NAME", "unrecognized_name", "TLSV1_UNRECOGNIZED_NAMES"),
    (
        "[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca (_ssl.c:2580)",
        "unknown_ca",
        "[SSL: TLSV1_ALERT_UNKNOWN_CAT] tlsv1 alert unknown cat (_ssl.c:2580)",
    ),
    ("tlsv1 alert unknown ca", "unknown_ca", "tlsv1 alert unknown cat"),
    ("error:0A000412:SSL routines::sslv3 alert bad certificate", "bad_certificate", "sslv3 alert good certificate"),
    ("tlsv13 alert certificate required", "certificate_required", "tlsv13 alert certificate wanted"),
    ("tlsv1 alert user cancelled", "user_canceled", "tlsv1 alert user cancellation"),
    ("Received fatal alert: unknown_ca", "unknown_ca", "Received fatal alert: unknown_cat"),
    ("Received fatal alert: certificate_unknown", "certificate_unknown", "Received fatal alert: certificate_known"),
    (
        "RECV TLSv1.2 ALERT:  fatal, description = handshake_failure",
        "handshake_failure",
        "RECV TLSv1.2 ALERT:  fatal, description = handshake_success",
    ),
    ("TlsFatalAlertReceived: bad_certificate(42)", "bad_certificate", "TlsFatalAlertReceived: good_certificate(2)"),
    ("Certificate Unknown (46)", "certificate_unknown", "Certificate Known (2)"),
    ("* TLSv1.3 (IN), TLS alert, unknown CA (560):", "unknown_ca", "* TLSv1.3 (IN), TLS alert, known CA (3):"),
    ("SSL alert number 48", "unknown_ca", "SSL alert number 49999"),
    ("alert 116", "certificate_required", "alert 117"),
]


@pytest.mark.parametrize(("text", "name", "twin"), SPELLINGS)
def test_every_spelling_names_its_alert_and_its_twin_names_none(text: str | int, name: str, twin: str | int) -> None:
    assert alert_name(text) == name
    assert alert_name(twin) is None


@pytest.mark.parametrize("text", ["Connection reset by peer", "", "handshake failed", "HTTP 400 (Bad Request)"])
def test_text_without_an_alert_names_none(text: str) -> None:
    assert alert_name(text) is None


def test_the_alert_table_is_the_iana_registry_as_the_stdlib_copies_it() -> None:
    stdlib = {a.value: a.name.lower() for a in ssl._TLSAlertType}  # type: ignore[attr-defined]
    assert stdlib == ALERT_NUMBERS
    assert len({a.number for a in ALERTS}) == len(ALERTS)
    assert set(ALERT_NUMBERS.values()) == ALERT_NAMES


def test_every_alert_is_found_by_its_number_name_reason_and_openssl_text() -> None:
    for alert in ALERTS:
        assert alert_name(alert.number) == alert.name
        assert alert_name(alert.name) == alert.name
        assert alert_name(f"Received fatal alert: {alert.name}") == alert.name
        assert alert_name(f"SSL alert number {alert.number}") == alert.name
        if alert.openssl_reason is not None:
            assert alert_name(alert.openssl_reason) == alert.name
            assert alert_name(f"error:0A000{alert.number}:SSL routines::{alert.openssl_text}") == alert.name


def test_in_a_longer_text_the_openssl_reason_wins_over_a_number() -> None:
    text = "[SSL: SSLV3_ALERT_BAD_CERTIFICATE] sslv3 alert bad certificate: SSL alert number 42"
    assert alert_name(text) == "bad_certificate"
    assert alert_name("SSL alert number 42 and alert 48") == "bad_certificate"  # the first number, not a mix


@pytest.mark.parametrize(
    ("reason", "alert"),
    [
        ("TLSV1_ALERT_UNKNOWN_CA", "unknown_ca"),
        ("SSLV3_ALERT_BAD_CERTIFICATE", "bad_certificate"),
        ("TLSV13_ALERT_CERTIFICATE_REQUIRED", "certificate_required"),
        ("TLSV1_ALERT_USER_CANCELLED", "user_canceled"),
        ("TLSV1_UNRECOGNIZED_NAME", "unrecognized_name"),
        ("CERTIFICATE_VERIFY_FAILED", None),
        ("TLSV1_ALERT_UNKNOWN_CAT", None),
        (None, None),
    ],
)
def test_alert_from_reason(reason: str | None, alert: str | None) -> None:
    assert alert_from_reason(reason) == alert


@pytest.mark.parametrize("reason", ["UNEXPECTED_MESSAGE", "INAPPROPRIATE_FALLBACK", "NO_RENEGOTIATION"])
def test_local_openssl_reasons_spelled_as_alerts_are_no_received_alert(reason: str) -> None:
    # OpenSSL's own findings (ssl_err.c): the loose alert_name reads the words, the reason code look-up does not.
    assert alert_name(reason) is not None
    assert alert_from_reason(reason) is None


def test_verify_codes_name_their_openssl_constant_and_unknown_numbers_none() -> None:
    expired = verify_code(10)
    assert expired is not None
    assert expired.name == "CERT_HAS_EXPIRED"
    assert verify_code(20) is not None
    assert verify_code(1000) is None
    assert verify_number("CERT_HAS_EXPIRED") == 10
    assert verify_number("X509_V_ERR_HOSTNAME_MISMATCH") == 62
    with pytest.raises(KeyError):
        verify_number("CERT_HAS_EXPIRED_TWICE")


def test_jsse_phrases_are_found_in_a_jdk_exception_chain_and_not_elsewhere() -> None:
    chain = (
        "javax.net.ssl.SSLHandshakeException: PKIX path building failed: "
        "sun.security.provider.certpath.SunCertPathBuilderException: unable to find valid certification path "
        "to requested target"
    )
    found = [p.phrase for p in jsse_phrases_in(chain)]
    assert found == ["PKIX path building failed", "unable to find valid certification path to requested target"]
    assert jsse_phrases_in("java.io.IOException: keystore password was incorrect")[0].phrase == (
        "keystore password was incorrect"
    )
    assert jsse_phrases_in("the handshake went fine") == ()
    assert jsse_phrases_in("pkix path building failed") == ()  # the JDK's own case only


def test_refusal_statuses_per_server_and_their_union() -> None:
    assert refusal_statuses("nginx") == {400, 495, 496}
    assert refusal_statuses("apache") == {403, 421}
    # The union, for code that does not know the product: check's set since issue 12.
    assert refusal_statuses() == {400, 401, 403, 421, 495, 496}
    assert 404 not in refusal_statuses()
    assert 200 not in refusal_statuses()
    with pytest.raises(KeyError):
        refusal_statuses("iis")
    assert all(REFUSAL_STATUSES.values())


@pytest.mark.parametrize(
    ("spelling", "name"),
    [
        ("TLSv1", "TLSv1"),
        ("TLSv1.0", "TLSv1"),
        ("1", "TLSv1"),
        ("1.0", "TLSv1"),
        ("1.1", "TLSv1.1"),
        ("TLSv1.2", "TLSv1.2"),
        ("1.2", "TLSv1.2"),
        ("TLSv1.3", "TLSv1.3"),
        (" 1.3 ", "TLSv1.3"),
    ],
)
def test_version_spellings_name_their_version(spelling: str, name: str) -> None:
    found = tls_version(spelling)
    assert found is not None
    assert found.name == name


@pytest.mark.parametrize("spelling", ["TLSv1.4", "1.4", "SSLv3", "tls1.2", "", "TLSv12"])
def test_what_is_no_version_names_none(spelling: str) -> None:
    assert tls_version(spelling) is None


def test_the_version_maps_agree_both_ways() -> None:
    for version in TLS_VERSIONS:
        assert tls_version(version.name) is version
        assert tls_version(version.short) is version
        assert tls_version(version.version) is version
    # ssl.TLSVersion's own names (capture.py printed them): TLSv1_2 is TLSv1.2, TLSv1 is TLSv1.
    for version in TLS_VERSIONS:
        assert version.version.name.replace("_", ".") == version.name
    assert tls_version(ssl.TLSVersion.SSLv3) is None
    assert [v.name for v in TLS_VERSIONS] == sorted(v.name for v in TLS_VERSIONS)  # oldest first
    assert [v.name for v in TLS_VERSIONS] == list(TLS_VERSION_NAMES)


@pytest.mark.parametrize(
    "text",
    [
        "[SSL: UNSUPPORTED_PROTOCOL] unsupported protocol (_ssl.c:1000)",
        "[SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert protocol version",
        "[SSL: NO_PROTOCOLS_AVAILABLE] no protocols available",
        "[SSL: VERSION_TOO_LOW] version too low",
        "wrong ssl version",
    ],
)
def test_openssl_words_for_a_refused_version(text: str) -> None:
    assert version_refused(text)


@pytest.mark.parametrize(
    "text", ["[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca", "certificate verify failed", "Connection reset"]
)
def test_other_failures_are_no_refused_version(text: str) -> None:
    assert not version_refused(text)


def test_openssl_words_for_an_answer_that_is_not_tls_and_their_twins() -> None:
    assert not_tls("[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1000)")
    assert not_tls("[SSL: RECORD_LAYER_FAILURE] record layer failure")
    assert not_tls("http request")
    assert not not_tls("[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca")
    assert not not_tls("[SSL: UNSUPPORTED_PROTOCOL] unsupported protocol")


# The diagnosis's "no TLS version in common" (raw_errors' PROTOCOL_REASONS until issue 20): exact codes.
NO_VERSION_IN_COMMON = [
    "UNSUPPORTED_PROTOCOL",
    "NO_PROTOCOLS_AVAILABLE",
    "WRONG_SSL_VERSION",
    "TLSV1_ALERT_PROTOCOL_VERSION",
    "VERSION_TOO_LOW",
    "VERSION_TOO_HIGH",
]


@pytest.mark.parametrize("reason", NO_VERSION_IN_COMMON)
def test_reason_codes_of_no_version_in_common(reason: str) -> None:
    assert no_version_in_common(reason)
    assert version_refused(reason)


@pytest.mark.parametrize(
    "reason",
    [
        "WRONG_VERSION_NUMBER",  # not TLS at all (a plain-HTTP port)
        "NO_SUITABLE_SIGNATURE_ALGORITHM",  # capture's per-version finding, after the server took the version
        "BAD_PROTOCOL_VERSION_NUMBER",
        "unsupported protocol",  # a text, not a code
        "TLSV1_ALERT_UNKNOWN_CA",
        None,
    ],
)
def test_other_reasons_are_no_version_in_common(reason: str | None) -> None:
    assert not no_version_in_common(reason)


def test_the_alerts_and_verify_codes_the_diagnosis_reads_are_in_the_tables() -> None:
    assert set(ALERT_CODES) <= ALERT_NAMES
    for number in {*UNTRUSTED_VERIFY_CODES, *VERIFY_CLIENT, *VERIFY_SERVER}:
        assert verify_code(number) is not None
