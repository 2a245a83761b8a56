"""``explain`` normalises first: every stack's spelling of an alert, an exception, a log line or an answer is one fact.

Each spelling in harness/knowledge/spellings.toml gives its fact on its example and not
on the example without the matched phrase (its negative twin). The alerts of the issue,
in each tool's spelling, give the fact and the cause that "Received fatal alert: NAME" gives.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.explainer.facts import read_facts
from harness.explainer.normalise import (
    HEX_CA_NAMES,
    Spelling,
    hex_ca_names,
    load_spellings,
    required_literal,
    spelling_facts,
    spellings,
)
from harness.explainer.ranking import explain
from harness.knowledge.alerts import ALERTS, GO_ALERT_TEXTS

SPELLINGS = spellings()


@pytest.mark.parametrize("spelling", SPELLINGS, ids=[s.name for s in SPELLINGS])
def test_spelling_gives_its_fact_on_its_example_and_not_on_its_twin(spelling: Spelling) -> None:
    assert spelling.source
    names = {name for name, _ in spelling_facts(spelling.example)}
    assert spelling.name in names, f"{spelling.name}: not given by its own example"
    twin = spelling.example
    for pattern in spelling.phrases:
        twin = pattern.sub(" ", twin)
    assert spelling.name not in {name for name, _ in spelling_facts(twin)}, twin


@pytest.mark.parametrize("spelling", SPELLINGS, ids=[s.name for s in SPELLINGS])
def test_required_literal_is_in_every_match(spelling: Spelling) -> None:
    # The prefilter skips a regex when its required literal is absent: it must be in what the regex matches.
    for pattern, needs in zip(spelling.phrases, spelling.needs, strict=True):
        match = pattern.search(spelling.example)
        if match is not None and needs is not None:
            assert needs in match.group(0).lower(), (pattern.pattern, needs)


def test_required_literal_leaves_out_what_is_optional() -> None:
    assert required_literal(r"key ?store") == "store"
    assert required_literal(r"No key entries? (?:found|in)") == "no key entrie"
    assert required_literal(r'"certificate_list"\s{0,40}:') == '"certificate_list"'
    assert required_literal(r"[^\]]*hello") == "hello"
    assert required_literal(r"OCSP|CRL") is None  # either one: neither is required
    assert required_literal(r"(?:abc)") is None


ISSUE_ALERTS = [
    # (a spelling, the IANA alert it names) - the issue's list, one per tool.
    ("unknown_ca", "unknown_ca"),
    ("UNKNOWN_CA", "unknown_ca"),
    ("ssl.SSLError: [SSL: SSLV3_ALERT_BAD_CERTIFICATE] sslv3 alert bad certificate", "bad_certificate"),
    ("error:14094438:SSL routines:ssl3_read_bytes:tlsv1 alert internal error", "internal_error"),
    ("error:14094416:SSL routines:ssl3_read_bytes:sslv3 alert certificate unknown", "certificate_unknown"),
    ("Alert (Level: Fatal, Description: Certificate Unknown (46))", "certificate_unknown"),
    ("the handshake ends with alert 48", "unknown_ca"),
    ("SSL alert number 42", "bad_certificate"),
    ("alert number 42", "bad_certificate"),
    ('Get "https://partner.example/": remote error: tls: bad certificate', "bad_certificate"),
    ("remote error: tls: unknown certificate authority", "unknown_ca"),
    ("remote error: tls: certificate required", "certificate_required"),
    ("main, RECV TLSv1.2 ALERT:  fatal, bad_certificate", "bad_certificate"),
    ("TLSv1.3 (IN), TLS alert, unknown CA (560):", "unknown_ca"),
    ("* SSL read: errno -12195 (SSL_ERROR_UNKNOWN_CA_ALERT)", "unknown_ca"),  # NSS
    ('HandshakeFailed (Error_Packet_unexpected "Alert [(AlertLevel_Fatal,DecryptError)]")', "decrypt_error"),
    ("received fatal alert: CertificateRequired", "certificate_required"),  # rustls
    ("TLS client: In state hello received SERVER ALERT: Fatal - Handshake Failure", "handshake_failure"),  # OTP
]


@pytest.mark.parametrize(("text", "alert"), ISSUE_ALERTS, ids=[t for t, _ in ISSUE_ALERTS])
def test_every_spelling_of_an_alert_is_one_fact_and_one_cause(text: str, alert: str) -> None:
    assert f"alert_received:{alert}" in read_facts(text)
    # The same cause as JSSE's own sentence, first and in the same order.
    assert explain(text).codes() == explain(f"Received fatal alert: {alert}").codes()


def test_alert_name_inside_a_longer_word_or_sent_by_the_jdk_is_not_received() -> None:
    # Negative twins: a longer identifier, a number that is no alert, the JDK's own alert, a local Go error.
    assert not any(n.startswith("alert_") for n in read_facts("my_unknown_ca_counter=3").seen)
    assert not any(n.startswith("alert_") for n in read_facts("alert 999 raised by the monitoring").seen)
    assert not any(n.startswith("alert_") for n in read_facts("Certificate Unknown (48)").seen)  # 48 is unknown_ca
    own = read_facts("Fatal (BAD_CERTIFICATE): Empty client certificate chain")
    assert "alert_sent:bad_certificate" in own
    assert "alert_received:bad_certificate" not in own
    local = read_facts("local error: tls: bad certificate")
    assert "alert_sent:bad_certificate" in local
    assert "alert_received:bad_certificate" not in local


def test_camel_case_names_only_stand_alone_and_only_certificate_alerts() -> None:
    assert not any(n.startswith("alert_") for n in read_facts("java.security.cert.CertificateExpiredException").seen)
    assert not any(n.startswith("alert_") for n in read_facts("java.lang.InternalError: boom").seen)
    assert "alert_received:bad_certificate" in read_facts("AlertReceived(BadCertificate)")


def test_a_handshake_that_worked_is_no_failure() -> None:
    curl = (
        "* TLSv1.3 (IN), TLS handshake, Finished (20):\n* TLSv1.3 (OUT), TLS handshake, Finished (20):\n"
        "* SSL connection using TLSv1.3 / TLS_AES_256_GCM_SHA384\n* ALPN, server accepted to use h2\n"
    )
    assert not explain(curl).found
    # Negative twin: the same log with the alert that ended it is explained.
    failed = curl + "* TLSv1.3 (IN), TLS alert, unknown CA (560):\n"
    assert explain(failed).codes()[0] == "client-cert-untrusted"


def test_go_alert_texts_name_known_alerts() -> None:
    names = {a.name for a in ALERTS}
    assert set(GO_ALERT_TEXTS.values()) <= names


@pytest.mark.parametrize(
    ("text", "code"),
    [
        # Exceptions with or without their packages, and other stacks' verifier messages.
        (
            "SunCertPathBuilderException: unable to find valid certification path to requested target",
            "server-cert-untrusted",
        ),
        ("x509: certificate signed by unknown authority", "server-cert-untrusted"),
        ("The remote certificate is invalid according to the validation procedure.", "server-cert-untrusted"),
        (
            "Error: unable to verify the first certificate code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'",
            "server-chain-incomplete",
        ),
        ("x509: certificate is valid for api.internal, not partner.example", "server-name-mismatch"),
        (
            "Error [ERR_TLS_CERT_ALTNAME_INVALID]: Hostname/IP does not match certificate's altnames",
            "server-name-mismatch",
        ),
        # Other Java clients and application servers, .NET's chain status.
        (
            "javax.net.ssl.SSLPeerUnverifiedException: Hostname api.partner.example not verified:",
            "server-name-mismatch",
        ),
        (
            "SSLPeerUnverifiedException: Certificate for <10.0.0.5> doesn't match any of the subject alternative names",
            "server-name-mismatch",
        ),
        (
            "CWPKI0022E: SSL HANDSHAKE FAILURE: The signer might need to be added to local trust store.",
            "server-cert-untrusted",
        ),
        (
            "The remote certificate is invalid because of errors in the certificate chain: PartialChain",
            "server-chain-incomplete",
        ),
        ("sun.security.validator.ValidatorException: No trusted certificate found", "server-cert-untrusted"),
        ("java.security.KeyStoreException: Key protection algorithm not found", "keystore-format-unsupported"),
        # Server-side verdicts about the client certificate.
        (
            "http: TLS handshake error from 10.0.0.7:5123: tls: failed to verify client certificate: "
            "x509: certificate signed by unknown authority",
            "client-cert-untrusted",
        ),
        (
            "http: TLS handshake error from 10.0.0.7:5123: tls: client didn't provide a certificate",
            "client-cert-missing",
        ),
        # JDK debug-log lines, JDK 8 and 11+, pasted without their record headers.
        (
            '"Certificate": {\n  "certificate_request_context": "",\n  "certificate_list": [\n]\n}',
            "client-cert-missing",
        ),
        ("Warning: no suitable certificate found - continuing without client authentication", "client-cert-missing"),
        ("X509KeyManagerImpl: aliases for keyType EC are null", "client-cert-missing"),
        ("*** Certificate chain\n<Empty>\n***", "client-cert-missing"),
        # HTTP answers with their reason texts.
        ("<title>400 No required SSL certificate was sent</title>", "client-cert-missing"),
        ("<title>400 The SSL certificate error</title>", "client-cert-rejected"),
        ("HTTP Error 403.7 - Forbidden: Client certificate required", "client-cert-missing"),
        (
            "HTTP Error 403.16 - Forbidden: Your client certificate is either not trusted or is invalid.",
            "client-cert-rejected",
        ),
        ("HTTP Error 403.13 - Forbidden: Client certificate revoked", "revocation-check-failed"),
        ("AH02229: access to /api failed, reason: SSL requirement expression not fulfilled", "client-cert-rejected"),
        (
            "upstream connect error or disconnect/reset before headers. reset reason: connection failure, "
            "transport failure reason: TLS error: 268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED",
            "server-cert-untrusted",
        ),
        # Causes that had no entry.
        (
            "java.security.cert.CertPathValidatorException: Could not determine revocation status",
            "revocation-check-failed",
        ),
        ("the handshake fails as soon as OCSP checking is on", "revocation-check-failed"),
        ("java.security.cert.CertPathValidatorException: revocation check failed", "revocation-check-failed"),
        (
            "java.security.cert.CertificateException: No subject alternative names present\n"
            "\tat sun.security.ssl.X509TrustManagerImpl.checkClientTrusted(X509TrustManagerImpl.java:84)",
            "client-cert-name-mismatch",
        ),
        ("SSL routines:tls_process_cert_verify:bad signature", "key-cert-mismatch"),
        ("javax.net.ssl.SSLHandshakeException: Received fatal alert: decrypt_error", "key-cert-mismatch"),
        # People's words, store formats.
        ("the JVM doesn't send the client cert even though the keystore is set", "client-cert-missing"),
        ("keytool -list says: Your truststore contains 0 entries", "truststore-empty"),
        ("the truststore is empty after I converted it with openssl", "truststore-empty"),
        (
            "keytool error: java.io.IOException: Error extracting keyentry aliases from PFX",
            "keystore-format-unsupported",
        ),
        ("ERROR - The extended key usage extension is missing from the client certificate.", "client-cert-wrong-usage"),
        ("java.security.InvalidAlgorithmParameterException: the trustAnchors parameter must be", "truststore-empty"),
        ("I was able to connect with curl using the same keystore", "client-cert-missing"),
        (
            "java.security.NoSuchAlgorithmException: Algorithm HmacPBESHA256 not available",
            "keystore-format-unsupported",
        ),
        (
            "java.security.InvalidAlgorithmParameterException: the trustAnchors parameter must be non-empty",
            "truststore-empty",
        ),
    ],
)
def test_normalised_facts_rank_their_cause_first(text: str, code: str) -> None:
    assert explain(text).codes()[0] == code


def test_works_elsewhere_lists_the_java_only_causes() -> None:
    codes = explain("it works with curl but not with Java").codes()
    assert set(codes[:3]) == {"client-cert-missing", "server-cert-untrusted", "client-chain-incomplete"}
    # Negative twin: the other way round says nothing about Java.
    assert not explain("it works with Java but the request is slow").found


def test_the_same_words_on_the_server_side_name_the_client_certificate() -> None:
    client = "x509: certificate signed by unknown authority"
    server = "http: TLS handshake error from 10.0.0.7:5123: tls: failed to verify client certificate: " + client
    assert explain(client).codes()[0] == "server-cert-untrusted"
    assert explain(server).codes()[0] == "client-cert-untrusted"
    assert "server-cert-untrusted" not in explain(server).codes()


def test_loader_refuses_bad_tables() -> None:
    good = '[[fact]]\nname = "n"\nsays = "s"\nphrases = ["x"]\nexample = "x"\nsource = "y"\n'
    assert len(load_spellings(good)) == 1
    with pytest.raises(ValueError, match="keys must be"):
        load_spellings(good + 'colour = "red"\n')
    with pytest.raises(ValueError, match="duplicate"):
        load_spellings(good + good)
    with pytest.raises(ValueError, match="non-empty list"):
        load_spellings(good.replace('phrases = ["x"]', "phrases = []"))
    with pytest.raises(ValueError, match="only"):
        load_spellings("[other]\nx = 1\n" + good)


def test_every_fact_an_entry_names_is_given_somewhere() -> None:
    """explain.toml names facts; each comes from facts.py, jdk_log.py or normalise.py, or from spellings.toml."""
    from harness.explainer.ranking import knowledge

    table = {s.name for s in SPELLINGS}
    here = Path(__file__).resolve().parent.parent / "harness" / "explainer"
    source = "".join((here / name).read_text("utf-8") for name in ("facts.py", "jdk_log.py", "normalise.py"))
    for entry in knowledge().entries:
        for name in entry.facts + entry.unless:
            if name in table:
                continue
            prefix = name.split(":", 1)[0]
            assert re.search(rf'"{re.escape(name)}"|f"{re.escape(prefix)}:', source), f"{entry.id}: fact {name}"


SERVER_SIDE = [
    # (a server's log line about the certificate it verified, the code it means) - the client's certificate.
    (
        "[ssl:info] [client 127.0.0.1:56656] AH02276: Certificate Verification: Error (10): certificate has expired "
        "[subject: CN=acme-integration,O=Acme Corp / issuer: CN=Acme Client Issuing CA,O=Acme Corp]",
        "client-cert-expired",
    ),
    (
        "2026/12/07 19:02:22 [info] 812#812: *3 client SSL certificate verify error: (10:certificate has expired) "
        "while reading client request headers, client: 127.0.0.1",
        "client-cert-expired",
    ),
    ("fe_mtls/1: SSL client certificate not trusted", "client-cert-untrusted"),
    (
        "[ssl:info] [client 10.0.0.7:61295] AH02039: Certificate Verification: Error (19): self signed certificate "
        "in certificate chain",
        "client-cert-untrusted",
    ),
]
# The negative twins: the same words from a client about the server's certificate.
CLIENT_SIDE = [
    ("curl: (60) SSL certificate problem: certificate has expired", "server-cert-expired"),
    ("Verify return code: 10 (certificate has expired)", "server-cert-expired"),
    ("curl: (60) SSL certificate problem: self signed certificate in certificate chain", "server-cert-untrusted"),
]


@pytest.mark.parametrize(("text", "code"), SERVER_SIDE)
def test_a_server_log_line_is_about_the_clients_certificate(text: str, code: str) -> None:
    assert "side:server_log" in read_facts(text)
    assert explain(text).codes()[0] == code


@pytest.mark.parametrize(("text", "code"), CLIENT_SIDE)
def test_the_same_words_from_a_client_are_about_the_servers_certificate(text: str, code: str) -> None:
    assert "side:server_log" not in read_facts(text)
    assert explain(text).codes()[0] == code


def test_a_reset_in_nginx_log_is_the_clients_not_a_refusal() -> None:
    # nginx logs a client's own reset at info level; in a client's text the same words mean the server closed.
    log = (
        "2026/12/07 20:07:06 [info] 16764#16764: *3 recv() failed (104: Connection reset by peer), client: 127.0.0.1, "
        'server: , request: "POST /inbound/orders HTTP/1.1", host: "127.0.0.1:33037"'
    )
    assert "side:server_log" in read_facts(log)
    assert "client-cert-rejected" not in explain(log).codes()
    client = "javax.net.ssl.SSLException: Connection reset"
    assert explain(client).codes()[0] == "client-cert-rejected"



def named(text: str) -> list[str]:
    """The codes a fact in ``text`` names (a hint from its words alone is not one)."""
    return [c.code for c in explain(text).candidates if not c.hint]


OTHER_CLIENTS = [
    # (a text as people paste it from another client or gateway, its code, its negative twin: similar words, no fact)
    (
        "didn't accept your login certificate, or one may not have been provided. ERR_BAD_SSL_CLIENT_AUTH_CERT",
        "client-cert-rejected",
        "ERR_CONNECTION_CLOSED",
    ),
    (
        "curl: (58) could not load PEM client certificate from client.pem, OpenSSL error error:0480006C:PEM routines",
        "store-unreadable",
        "curl: (58) problem with the local SSL certificate",
    ),
    ("<title>www.example.org | 526: Invalid SSL certificate</title>", "server-cert-untrusted", "<title>526</title>"),
    ("verify error:num=18:self-signed certificate", "server-cert-untrusted", "verify return:1"),
    ("verify error:num=19:self-signed certificate in certificate chain", "server-cert-untrusted", "verify return:1"),
    (
        "System.Security.Authentication.AuthenticationException: The remote certificate was rejected by the "
        "provided RemoteCertificateValidationCallback.",
        "server-cert-untrusted",
        "System.Security.Authentication.AuthenticationException: Authentication failed, see inner exception.",
    ),
    (
        "remote error: tls: handshake failure; tls: no cipher suite supported by both client and server",
        "cipher-mismatch",
        "tls: no application protocol",
    ),
    (
        "curl: (56) BoringSSL SSL_read: error:1000045c:SSL routines:OPENSSL_internal:TLSV1_CERTIFICATE_REQUIRED",
        "client-cert-missing",
        "curl: (56) BoringSSL SSL_read: error:1000045c:SSL routines:OPENSSL_internal, errno 0",
    ),
    (
        "open client.crt: tls: private key does not match public key",
        "key-cert-mismatch",
        "open client.crt: tls: failed to find any PEM data in key input",
    ),
    (
        "TLS error: 268435612:SSL routines:OPENSSL_internal:PEER_DID_NOT_RETURN_A_CERTIFICATE",
        "client-cert-missing",
        "TLS error: 268435612:SSL routines:OPENSSL_internal",
    ),
    # Kong's mtls-auth plugin: no client certificate came with the request.
    (
        'HTTP/1.1 401 Unauthorized\n{"message":"No required TLS certificate was sent"}',
        "client-cert-missing",
        'HTTP/1.1 401 Unauthorized\n{"message":"Unauthorized: TLS"}',
    ),
    # AWS ALB connection logs: tls_verify_status.
    (
        '2024-04-05T18:31:29.268987Z TLSv1.3 ECDHE-RSA-AES256-SHA "CN=client.example" 02 "Failed:ClientCertExpired"',
        "client-cert-expired",
        '2024-04-05T18:31:29.268987Z TLSv1.3 ECDHE-RSA-AES256-SHA "CN=client.example" 02 "Success"',
    ),
    (
        '2024-04-05T18:31:29.268987Z TLSv1.3 ECDHE-RSA-AES256-SHA "CN=client.example" 02 "Failed:ClientCertUntrusted"',
        "client-cert-untrusted",
        '2024-04-05T18:31:29.268987Z TLSv1.3 ECDHE-RSA-AES256-SHA "CN=client.example" 02 "Success"',
    ),
    # Erlang/OTP ssl: the reason after the alert.
    (
        '{tls_alert,{handshake_failure,"TLS client: In state wait_cert_cr at ssl_handshake.erl:2017 generated CLIENT '
        'ALERT: Fatal - Handshake Failure\\n {bad_cert,hostname_check_failed}"}}',
        "server-name-mismatch",
        '{tls_alert,{handshake_failure,"TLS client: In state wait_cert_cr at ssl_handshake.erl:2017 generated CLIENT '
        'ALERT: Fatal - Handshake Failure"}}',
    ),
    (
        "TLS client: In state certify at ssl_handshake.erl:2109 generated CLIENT ALERT: Fatal - Certificate Expired\n"
        " {bad_cert,cert_expired}",
        "server-cert-expired",
        "TLS server: In state certify at ssl_handshake.erl:2109 generated SERVER ALERT: Fatal - Certificate Expired\n"
        " {bad_cert,cert_expired}",
    ),
    # Go: a certificate that names its host only in the CN.
    (
        'Get "https://api.example": x509: certificate relies on legacy Common Name field, use SANs instead',
        "server-name-mismatch",
        'Get "https://api.example": x509: certificate signed by unknown authority',
    ),
    # Go: a client file without PEM data; SChannel: a client certificate whose key it cannot use.
    (
        "open client.crt: tls: failed to find any PEM data in certificate input",
        "store-unreadable",
        "open client.crt: tls: private key does not match public key",
    ),
    (
        "System.Net.Http.HttpRequestException: The SSL connection could not be established, see inner exception.\n"
        " ---> System.ComponentModel.Win32Exception (0x8009030D): The credentials supplied to the package were not "
        "recognized",
        "keystore-no-key-entry",
        "System.Net.Http.HttpRequestException: The SSL connection could not be established, see inner exception.",
    ),
    (
        "ssl.SSLError: [SSL] PEM lib (_ssl.c:3900)",
        "store-unreadable",
        "ssl.SSLError: [SSL] unknown error (_ssl.c:3900)",
    ),
    # A server that closed during the handshake; a Go server refusing a certificate without clientAuth.
    (
        "System.Security.Authentication.AuthenticationException: Authentication failed because the remote party "
        "has closed the transport stream.",
        "client-cert-rejected",
        "System.Security.Authentication.AuthenticationException: Authentication failed, see inner exception.",
    ),
    (
        "http: TLS handshake error from 10.0.0.7:5123: tls: failed to verify client certificate: x509: certificate "
        "specifies an incompatible key usage",
        "client-cert-wrong-usage",
        "http: TLS handshake error from 10.0.0.7:5123: tls: failed to verify client certificate: x509: certificate "
        "signed by unknown authority",
    ),
    # A peer that does not speak TLS.
    (
        "javax.net.ssl.SSLException: Unsupported or unrecognized SSL message",
        "protocol-mismatch",
        "javax.net.ssl.SSLException: Unsupported record version Unknown-0.0",
    ),
    (
        'Get "https://api.example:8080/": http: server gave HTTP response to HTTPS client',
        "protocol-mismatch",
        'Get "https://api.example:8080/": tls: handshake did not complete',
    ),
    # Verifiers: a self-signed certificate, a path to no anchor.
    (
        "curl: (60) SSL certificate problem: self-signed certificate",
        "server-cert-untrusted",
        "curl: (60) SSL certificate problem: certificate is not yet valid",
    ),
    (
        "sun.security.validator.ValidatorException: PKIX path validation failed: "
        "java.security.cert.CertPathValidatorException: Path does not chain with any of the trust anchors",
        "server-cert-untrusted",
        "sun.security.validator.ValidatorException: PKIX path validation failed",
    ),
    # Windows SChannel / CryptoAPI (curl built with schannel, .NET, PowerShell), NSS, Chromium.
    (
        "curl: (35) schannel: next InitializeSecurityContext failed: SEC_E_UNTRUSTED_ROOT (0x80090325) - "
        "The certificate chain was issued by an authority that is not trusted.",
        "server-cert-untrusted",
        "curl: (35) schannel: next InitializeSecurityContext failed: Unknown error (0x80092012)",
    ),
    (
        "Invoke-WebRequest : The underlying connection was closed: Could not establish trust relationship for the "
        "SSL/TLS secure channel. ---> A certificate chain could not be built to a trusted root authority.",
        "server-cert-untrusted",
        "Invoke-WebRequest : The underlying connection was closed: An unexpected error occurred on a send.",
    ),
    (
        "curl: (35) schannel: SEC_E_CERT_EXPIRED (0x80090328) - The received certificate has expired.",
        "server-cert-expired",
        "curl: (35) schannel: SEC_E_INTERNAL_ERROR (0x80090304) - The Local Security Authority cannot be contacted",
    ),
    (
        "System.Net.Http.HttpRequestException: The SSL connection could not be established ---> "
        "System.ComponentModel.Win32Exception (0x80090322): The target principal name is incorrect.",
        "server-name-mismatch",
        "System.Net.Http.HttpRequestException: The SSL connection could not be established ---> "
        "System.ComponentModel.Win32Exception (0x80090304): The Local Security Authority cannot be contacted",
    ),
    (
        "curl: (60) Peer's Certificate issuer is not recognized. (SEC_ERROR_UNKNOWN_ISSUER)",
        "server-cert-untrusted",
        "curl: (35) NSS: error -5961 (PR_CONNECT_RESET_ERROR)",
    ),
    (
        "curl: (51) Unable to communicate securely with peer: requested domain name does not match the "
        "server's certificate. (SSL_ERROR_BAD_CERT_DOMAIN)",
        "server-name-mismatch",
        "curl: (51) Unable to communicate securely with peer",
    ),
    # A verifier's "not yet valid" is the server's certificate; a server's own words about yours are not.
    (
        "curl: (60) SSL certificate problem: certificate is not yet valid",
        "server-cert-expired",
        "403 Forbidden: Client certificate is not yet valid",
    ),
    ("net::ERR_CERT_DATE_INVALID", "server-cert-expired", "net::ERR_CONNECTION_CLOSED"),
    ("net::ERR_BAD_SSL_CLIENT_AUTH_CERT", "client-cert-rejected", "net::ERR_SSL_PROTOCOL_ERROR"),
    # curl's CA file (its truststore) and OpenSSL's verify error 66 on the server's key.
    (
        "curl: (77) error setting certificate verify locations:  CAfile: /etc/pki/partner-ca.pem CApath: none",
        "store-unreadable",
        "curl: (77) CAfile: /etc/pki/partner-ca.pem CApath: none",
    ),
    (
        "curl: (60) SSL certificate problem: EE certificate key too weak",
        "weak-key",
        "curl: (60) SSL certificate problem: EE certificate",
    ),
    # OpenSSL 1.0's server function for the client's Certificate: the server's log, about your certificate.
    (
        "error:14089086:SSL routines:ssl3_get_client_certificate:certificate verify failed",
        "client-cert-untrusted",
        "error:14090086:SSL routines:ssl3_get_server_certificate:certificate verify failed",
    ),
    # PEM files other stacks cannot read; a PKCS#12 whose MAC does not verify; OpenSSL 3 on a legacy PKCS#12.
    (
        "unable to load certificate\n140:error:0909006C:PEM routines:get_name:no start line:pem_lib.c:745:",
        "store-unreadable",
        "unable to load the configuration\n140:error:02001002:system library:fopen",
    ),
    ("Could not read private key from client.key", "store-unreadable", "Could not find client.key"),
    (
        "Error: error:23076071:PKCS12 routines:PKCS12_parse:mac verify failure",
        "keystore-password-wrong",
        "Error: error:23076071:PKCS12 routines:PKCS12_parse",
    ),
    ("Mac verify error: invalid password?", "keystore-password-wrong", "Mac verify: OK"),
    (
        "System.Security.Cryptography.CryptographicException: The specified network password is not correct.",
        "keystore-password-wrong",
        "System.Security.Cryptography.CryptographicException: Keyset does not exist",
    ),
    (
        "Error outputting keys and certificates\n40E7:error:0308010C:digital envelope routines:"
        "inner_evp_generic_fetch:unsupported:crypto/evp/evp_fetch.c:349:Global default library context, "
        "Algorithm (RC2-40-CBC : 0), Properties ()",
        "keystore-format-unsupported",
        "Error outputting keys and certificates\n40E7:error:0308010C:digital envelope routines",
    ),
    ("Error: error:1E08010C:DECODER routines::unsupported", "store-unreadable", "Error: error:1E08010C"),
    # Gateways' and integration products' own words about the client certificate.
    (
        "Application Gateway: The client certificate presented was not issued by a trusted CA",
        "client-cert-untrusted",
        "Application Gateway: The client certificate presented was issued by Acme CA",
    ),
    (
        "mutual TLS authentication failed: the client certificate chain is not trusted",
        "client-cert-untrusted",
        "mutual TLS authentication failed: the client certificate chain is trusted but the path is /admin",
    ),
    ('{"message":"Invalid client certificate"}', "client-cert-rejected", '{"message":"Invalid API key"}'),
    ("Client certificate is revoked", "revocation-check-failed", "Client certificate is valid"),
    # Java: a store path that names no file (not a network failure: ENOTFOUND is Node's DNS code, not a
    # part of "FileNotFoundException"), a certificate file keytool cannot parse, a key and certificate of
    # two key types, Netty's plain-HTTP answer, JDK 8's EOF under a closed handshake.
    (
        "java.io.FileNotFoundException: /opt/certs/keystore.jks (No such file or directory)",
        "store-unreadable",
        "java.io.FileNotFoundException: /opt/app/config/application.yml (No such file or directory)",
    ),
    (
        "keytool error: java.lang.Exception: Input not an X.509 certificate",
        "store-unreadable",
        "keytool error: java.lang.Exception: Alias <client> does not exist",
    ),
    (
        "java.lang.IllegalArgumentException: private key algorithm does not match algorithm of public key in "
        "end entity certificate (at index 0)",
        "key-cert-mismatch",
        "java.lang.IllegalArgumentException: the private key algorithm is not supported",
    ),
    (
        "io.netty.handler.ssl.NotSslRecordException: not an SSL/TLS record: 485454502f312e31",
        "protocol-mismatch",
        "io.netty.handler.ssl.SslHandshakeTimeoutException: handshake timed out after 10000ms",
    ),
    (
        "javax.net.ssl.SSLHandshakeException: Remote host closed connection during handshake\n"
        "Caused by: java.io.EOFException: SSL peer shut down incorrectly",
        "client-cert-rejected",
        "javax.net.ssl.SSLHandshakeException: General SSLEngine problem",
    ),
    # Go: a server's log about the client's key usage, an IP with no IP SAN, key files, versions, SHA-1.
    (
        "http: TLS handshake error from 10.0.0.7:51234: tls: failed to verify client's certificate: "
        "x509: certificate specifies an incompatible key usage",
        "client-cert-wrong-usage",
        "http: TLS handshake error from 10.0.0.7:51234: EOF",
    ),
    (
        'Get "https://10.0.0.5/": x509: cannot validate certificate for 10.0.0.5 '
        "because it doesn't contain any IP SANs",
        "server-name-mismatch",
        'Get "https://10.0.0.5/": x509: cannot validate certificate for 10.0.0.5',
    ),
    ("tls: failed to parse private key", "store-unreadable", "tls: failed to load key pair"),
    (
        "tls: failed to load key pair: x509: decryption password incorrect",
        "keystore-password-wrong",
        "tls: failed to load key pair: x509: unsupported elliptic curve",
    ),
    (
        "tls: no supported versions satisfy MinVersion and MaxVersion",
        "protocol-mismatch",
        "tls: MinVersion and MaxVersion are set",
    ),
    (
        "x509: cannot verify signature: insecure algorithm SHA1-RSA (temporarily override with GODEBUG=x509sha1=1)",
        "weak-signature",
        "x509: cannot verify signature: verification error",
    ),
    # Windows SChannel's System events: 36887 an alert received, 36888 one it sent; its algorithm mismatch.
    (
        "A fatal alert was received from the remote endpoint. The TLS protocol defined fatal alert code is 48.",
        "client-cert-untrusted",
        "A fatal alert was received from the remote endpoint.",
    ),
    (
        "A fatal alert was generated and sent to the remote endpoint. This may result in termination of the "
        "connection. The TLS protocol defined fatal error code is 46. The Windows SChannel error state is 552.",
        "server-cert-untrusted",
        "A fatal alert was generated and sent to the remote endpoint. The Windows SChannel error state is 552.",
    ),
    (
        "The client and server cannot communicate, because they do not possess a common algorithm.",
        "cipher-mismatch",
        "The client and server cannot communicate.",
    ),
    # rustls and Node.js verifiers.
    (
        "error trying to connect: invalid peer certificate: UnknownIssuer",
        "server-cert-untrusted",
        "error trying to connect: invalid peer certificate: BadEncoding",
    ),
    (
        "rustls::Error: InvalidCertificate(Expired)",
        "server-cert-expired",
        "rustls::Error: InvalidCertificate(BadEncoding)",
    ),
    ("invalid peer certificate: NotValidForName", "server-name-mismatch", "invalid peer certificate: BadSignature"),
    (
        "Error: self signed certificate\n    at TLSSocket.onConnectSecure (node:_tls_wrap:1530:34)",
        "server-cert-untrusted",
        "Error: socket hang up\n    at TLSSocket.onConnectSecure (node:_tls_wrap:1530:34)",
    ),
    (
        "Error: certificate has expired\n    at TLSSocket.onConnectSecure (node:_tls_wrap:1530:34)",
        "server-cert-expired",
        "Error: read ECONNRESET\n    at TLSSocket.onConnectSecure (node:_tls_wrap:1530:34)",
    ),
    # curl -v: an alert curl sent "(OUT)" is about the server's certificate; one it received "(IN)" about yours.
    (
        "* TLSv1.3 (OUT), TLS alert, unknown CA (560):\n"
        "* SSL certificate problem: unable to get local issuer certificate",
        "server-cert-untrusted",
        "* TLSv1.3 (IN), TLS alert, unknown CA (560):\n"
        "* OpenSSL SSL_read: error:0A000418:SSL routines::tlsv1 alert unknown ca",
    ),
    # curl's client files: NSS's text for bad_certificate, a PKCS#12 it cannot open, a key's wrong password.
    ("curl: (35) SSL peer cannot verify your certificate.", "client-cert-rejected", "curl: (35) SSL connect error"),
    ("curl: (58) could not open PKCS12 file 'client.p12'", "store-unreadable", "curl: (58) could not load PKCS12"),
    (
        "curl: (58) Unable to load client key: Incorrect password",
        "keystore-password-wrong",
        "curl: (58) Unable to load client key: -8178 (SEC_ERROR_BAD_KEY)",
    ),
    # People's words.
    (
        "the client certificate has expired, so nginx answers 400 The SSL certificate error",
        "client-cert-expired",
        "the server certificate has expired, so the client gives up the TLS handshake",
    ),
    # Server logs naming OpenSSL's verify error by its number: the client's certificate, not the server's.
    (
        "2026/12/08 10:11:12 [info] 812#812: *31 client SSL certificate verify error: (18:self-signed certificate) "
        "while reading client request headers, client: 10.0.0.7",
        "client-cert-untrusted",
        "2026/12/08 10:11:12 [info] 812#812: *31 client closed connection while reading client request headers",
    ),
    (
        "[ssl:error] [pid 4242] AH02039: Certificate Verification: Error (21): unable to verify the first certificate",
        "client-chain-incomplete",
        "[ssl:info] [pid 4242] AH01964: Connection to child 3 established (server api.example:443)",
    ),
    (
        "AH02039: Certificate Verification: Error (9): certificate is not yet valid",
        "client-cert-not-yet-valid",
        "AH02039: Certificate Verification: Error (0): ok",
    ),
    # A proxy as the client of its upstream: the upstream's name, as nginx and HAProxy log it.
    (
        '2026/12/08 10:00:00 [error] 7#7: *1 upstream SSL certificate does not match "backend.internal" while SSL '
        "handshaking to upstream, client: 10.0.0.2",
        "server-name-mismatch",
        "2026/12/08 10:00:00 [error] 7#7: *1 upstream timed out while SSL handshaking to upstream, client: 10.0.0.2",
    ),
    (
        "be_api/srv1 is DOWN, reason: Layer6 invalid response, info: \"Server presented an SSL certificate "
        'different from the configured one"',
        "server-name-mismatch",
        'be_api/srv1 is DOWN, reason: Layer6 invalid response, info: "SSL handshake failure"',
    ),
    # A JSSE server's stack: PKIX failed while it checked the client's certificate.
    (
        "javax.net.ssl.SSLHandshakeException: PKIX path building failed: "
        "sun.security.provider.certpath.SunCertPathBuilderException: unable to find valid certification path to "
        "requested target\n\tat sun.security.ssl.CertificateMessage$T13CertificateConsumer.checkClientCerts"
        "(CertificateMessage.java:1267)",
        "client-cert-untrusted",
        "javax.net.ssl.SSLHandshakeException: Remote host terminated the handshake\n\tat "
        "sun.security.ssl.CertificateMessage$T13CertificateConsumer.checkClientCerts(CertificateMessage.java:1267)",
    ),
    ("Error: Unsupported PKCS12 PFX data", "keystore-format-unsupported", "Error: Unsupported protocol"),
    (
        "javax.net.ssl.SSLPeerUnverifiedException: peer not authenticated",
        "server-cert-untrusted",
        "javax.net.ssl.SSLPeerUnverifiedException: Hostname api.example not verified",
    ),
    # curl's other TLS backends: NSS's own sentences, GnuTLS, Secure Transport, SChannel.
    (
        "curl: (35) Peer does not recognize and trust the CA that issued your certificate.",
        "client-cert-untrusted",
        "curl: (35) Peer reports it experienced an internal error.",
    ),
    (
        "curl: (35) SSL peer rejected your certificate as expired.",
        "client-cert-expired",
        "curl: (35) SSL peer has closed this connection.",
    ),
    ("curl: (60) Peer's Certificate issuer is not recognized.", "server-cert-untrusted", "curl: (60) Peer's reply"),
    ("curl: (60) Peer's Certificate has expired.", "server-cert-expired", "curl: (60) Peer's Certificate."),
    (
        "curl: (60) server certificate verification failed. CAfile: /etc/ssl/certs/ca-certificates.crt CRLfile: none",
        "server-cert-untrusted",
        "curl: (60) CAfile: /etc/ssl/certs/ca-certificates.crt CRLfile: none",
    ),
    (
        "curl: (58) NSS: client certificate not found (nickname not specified)",
        "client-cert-missing",
        "curl: (58) NSS: nickname not specified",
    ),
    (
        "curl: (58) schannel: Failed to import cert file client.p12, last error is 0x80092002",
        "store-unreadable",
        "curl: (58) schannel: last error is 0x80092002",
    ),

    # AWS API Gateway's mutual TLS 403 body: a server's verdict on the client's certificate.
    (
        "Access denied. Reason: self signed certificate",
        "client-cert-untrusted",
        "Access denied. Reason: missing authentication token",
    ),
    (
        "Access denied. Reason: Client cert using an insecure Signature Algorithm",
        "weak-signature",
        "Access denied. Reason: Client cert using an algorithm",
    ),
    # Stores: keytool, Bouncy Castle, JDK 8 and Go on newer PKCS#12 files, OpenSSL's ASN.1 errors.
    (
        "keytool error: java.io.IOException: parseAlgParameters failed: ObjectIdentifier() -- data isn't an object "
        "ID (tag = 48)",
        "keystore-format-unsupported",
        "keytool error: java.io.IOException: ObjectIdentifier() -- data isn't an object",
    ),
    ("pkcs12: unknown digest algorithm: 2.16.840.1.101.3.4.2.1", "keystore-format-unsupported", "pkcs12: digest"),
    (
        "java.io.IOException: stream does not represent a PKCS12 key store",
        "store-unreadable",
        "java.io.IOException: stream closed",
    ),
    (
        "java.io.IOException: PKCS12 key store mac invalid - wrong password or corrupted file.",
        "keystore-password-wrong",
        "java.io.IOException: PKCS12 key store",
    ),
    ("keytool error: java.lang.Exception: Alias <client> has no key", "keystore-no-key-entry", "keytool error: Alias"),
    (
        "keytool error: java.lang.Exception: Public keys in reply and keystore don't match",
        "key-cert-mismatch",
        "keytool error: java.lang.Exception: Certificate reply was installed in keystore",
    ),
    (
        "keytool error: java.lang.Exception: Failed to establish chain from reply",
        "client-chain-incomplete",
        "keytool error: java.lang.Exception: Certificate was added to keystore",
    ),
    (
        "keytool error: java.lang.Exception: Keystore file does not exist: /opt/app/client.jks",
        "store-unreadable",
        "keytool error: java.lang.Exception: Keystore file exists, but is empty: /opt/app/client.jks",
    ),
    (
        "unable to load PKCS12\nerror:0D0680A8:asn1 encoding routines:asn1_check_tlen:wrong tag",
        "store-unreadable",
        "unable to load PKCS12",
    ),
    # A server's own logs: the alert it received is about its own certificate; the PKIX failure about the client's.
    (
        "1564252609: OpenSSL Error: error:14094415:SSL routines:ssl3_read_bytes:sslv3 alert certificate expired\n"
        "1564252609: Socket error on client <unknown>, disconnecting.",
        "server-cert-expired",
        "1564252609: Socket error on client <unknown>, disconnecting.",
    ),
    (
        "javax.net.ssl|DEBUG|C6|https-jsse-nio-9443-exec-4|2026-12-08 10:14:46.153 UTC|CertificateMessage.java:1178|"
        "Consuming client Certificate handshake message (\n"
        "javax.net.ssl|ERROR|C6|https-jsse-nio-9443-exec-4|2026-12-08 10:14:46.159 UTC|TransportContext.java:363|"
        "Fatal (CERTIFICATE_UNKNOWN): PKIX path building failed: sun.security.provider.certpath."
        "SunCertPathBuilderException: unable to find valid certification path to requested target",
        "client-cert-untrusted",
        "javax.net.ssl|DEBUG|C6|https-jsse-nio-9443-exec-4|2026-12-08 10:14:46.153 UTC|CertificateMessage.java:1178|"
        "Consuming client Certificate handshake message (",
    ),
    (
        "IOException: Alias name [keycert] does not identify a key entry",
        "keystore-no-key-entry",
        "IOException: Alias name [keycert]",
    ),
    # Servers' own logs: ghostunnel and etcd (Go); the alert they received is about their own certificate.
    (
        "error on TLS handshake from 10.0.0.7:44326: remote error: tls: unknown certificate authority",
        "server-cert-untrusted",
        "error on TLS handshake from 10.0.0.7:44326: EOF",
    ),
    (
        '{"level":"warn","msg":"rejected connection","remote-addr":"[::1]:35480","error":"tls: failed to verify '
        'certificate: x509: certificate specifies an incompatible key usage"}',
        "client-cert-wrong-usage",
        '{"level":"warn","msg":"rejected connection","remote-addr":"[::1]:35480","error":"EOF"}',
    ),
    # curl's "Failed to connect to HOST port N" is no TCP connection; a library's "failed to connect" after a TLS
    # error is not.
    (
        "ERROR: error:140AB18F:SSL routines:SSL_CTX_use_certificate:ee key too small\n"
        "ERROR: failed to connect to a secure socket",
        "weak-key",
        "ERROR: failed to connect to a secure socket",
    ),
]


# nginx as a client of its upstream: its own log, but the certificate it checked is the upstream server's.
UPSTREAM = [
    "2026/12/07 10:00:00 [error] 12#12: *1 upstream SSL certificate verify error: (2:unable to get issuer "
    'certificate) while SSL handshaking to upstream, client: 10.0.0.7, server: api.example, request: "GET / HTTP/1.1"',
    "2026/12/07 10:00:00 [error] 12#12: *1 recv() failed (104: Connection reset by peer) while reading response "
    "header from upstream, client: 10.0.0.7, server: api.example",
]


@pytest.mark.parametrize("text", UPSTREAM)
def test_nginx_lines_about_its_upstream_are_not_about_the_client(text: str) -> None:
    assert "side:server_log" not in read_facts(text)
    assert not explain(text).codes() or explain(text).codes()[0] not in {"client-cert-untrusted", "client-cert-missing"}


@pytest.mark.parametrize(("text", "code", "twin"), OTHER_CLIENTS)
def test_other_clients_words_name_their_cause(text: str, code: str, twin: str) -> None:
    assert explain(text).codes()[0] == code
    assert code not in named(twin)


_HEX_EXTENSION = """\
javax.net.ssl|DEBUG|01|main|2026-12-07 20:06:53.330 UTC|null:-1|Ignore unknown or unsupported extension (
"certificate_authorities (47)": {
  0000: 00 36 00 34 30 32 31 12   30 10 06 03 55 04 0A 0C  .6.4021.0...U...
  0010: 09 41 63 6D 65 20 43 6F   72 70 31 1C 30 1A 06 03  .Acme Corp1.0...
  0020: 55 04 03 0C 13 41 63 6D   65 20 43 6C 69 65 6E 74  U....Acme Client
  0030: 20 52 6F 6F 74 20 43 41                             Root CA
}
)
javax.net.ssl|DEBUG|01|main|2026-12-07 20:06:53.330 UTC|null:-1|Consuming CertificateRequest handshake message (
"CertificateRequest": {
  "certificate_request_context": "",
  "extensions": [
  ]
}
)
"""


def test_jdk_11_0_10_hex_ca_names_are_read() -> None:
    # JDK 11.0.10 does not know certificate_authorities (47): it logs the CA names as a hex dump.
    assert hex_ca_names(_HEX_EXTENSION.split(HEX_CA_NAMES, 1)[1]) == ("CN=Acme Client Root CA, O=Acme Corp",)
    facts = read_facts(_HEX_EXTENSION)
    assert "ca_names:listed" in facts
    assert "ca_names:none" not in facts
    assert "Acme Client Root CA" in facts.seen["ca_names:listed"]


def test_without_the_hex_extension_the_request_names_no_ca() -> None:
    without = _HEX_EXTENSION.split('"certificate_authorities', 1)[0] + _HEX_EXTENSION.split("}\n)\n", 1)[1]
    facts = read_facts(without)
    assert "ca_names:none" in facts
    assert "ca_names:listed" not in facts
    broken = _HEX_EXTENSION.replace("00 36 00 34 30 32", "00 36 00 34 30 7F")  # not a DER Name any more
    assert hex_ca_names(broken.split(HEX_CA_NAMES, 1)[1]) is None


# Erlang/OTP names the side that sent an alert: the client's is its verdict on the server's certificate.
OTP_CLIENT_ALERT = (
    'Error: {tls_alert,  {unknown_ca,  "TLS client: In state certify at ssl_handshake.erl:2125 generated CLIENT '
    'ALERT: Fatal - Unknown CA\\n"}}'
)


def test_an_alert_the_client_sent_is_about_the_servers_certificate() -> None:
    facts = read_facts(OTP_CLIENT_ALERT)
    assert "client_alert:unknown_ca" in facts
    assert "alert_received:unknown_ca" not in facts  # not read again as the bare name
    assert explain(OTP_CLIENT_ALERT).codes()[0] == "server-cert-untrusted"
    # Negative twin: the server sent it (the client's log says so): your certificate is not trusted.
    received = OTP_CLIENT_ALERT.replace("generated CLIENT", "received SERVER")
    assert "alert_received:unknown_ca" in read_facts(received)
    assert explain(received).codes()[0] == "client-cert-untrusted"


RECEIVED_ON_THE_SERVER = [
    # (a server's own log line with the alert the client sent, the cause, the same alert in the client's own words)
    (
        "http: TLS handshake error from 10.0.0.7:51234: remote error: tls: unknown certificate authority",
        "server-cert-untrusted",
        "Get https://api.example/: remote error: tls: unknown certificate authority",
    ),
    (
        "2020/11/10 11:56:03 http: TLS handshake error from 127.0.0.1:54433: remote error: tls: bad certificate",
        "server-cert-untrusted",
        'Post "https://api.example/": remote error: tls: bad certificate',
    ),
    (
        "2026/12/07 10:00:00 [crit] 12#12: *1 SSL_do_handshake() failed (SSL: error:0A000416:SSL routines::sslv3 "
        "alert certificate unknown:ssl/record/rec_layer_s3.c:1584:SSL alert number 46) while SSL handshaking, "
        "client: 127.0.0.1, server: 0.0.0.0:8443",
        "server-cert-untrusted",
        "javax.net.ssl.SSLHandshakeException: Received fatal alert: certificate_unknown",
    ),
    (
        'File "server.py", line 35, in server\n    ssl_sock = context.wrap_socket(raw_sock, server_side=True)\n'
        "ssl.SSLError: [SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca (_ssl.c:749)",
        "server-cert-untrusted",
        "ssl.SSLError: [SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca (_ssl.c:749)",
    ),
    (
        "http: TLS handshake error from 10.0.0.7:51234: remote error: tls: expired certificate",
        "server-cert-expired",
        "Get https://api.example/: remote error: tls: expired certificate",
    ),
]


@pytest.mark.parametrize(("text", "code", "twin"), RECEIVED_ON_THE_SERVER)
def test_an_alert_in_a_servers_own_log_came_from_the_client(text: str, code: str, twin: str) -> None:
    assert explain(text).codes()[0] == code
    assert explain(twin).codes()[0] != code  # the client received it: the server's verdict on yours


def test_cacerts_is_the_truststore() -> None:
    text = (
        "Loading KeyStore C:\\Program Files\\Java\\jre1.8.0_101\\lib\\security\\cacerts...\n"
        "java.io.IOException: Keystore was tampered with, or password was incorrect"
    )
    assert "mentions:truststore" in read_facts(text)
    assert explain(text).codes()[0] == "truststore-password-wrong"
    # Negative twin: the same words for a keystore named otherwise are the keystore's password.
    twin = text.replace("lib\\security\\cacerts", "conf\\client.jks")
    assert "mentions:truststore" not in read_facts(twin)
    assert explain(twin).codes()[0] == "keystore-password-wrong"


def test_jdk_8_alert_lines_over_sslv3_say_who_sent_the_alert() -> None:
    sent = read_facts("WTP(0), SEND SSLv3 ALERT: fatal, description = certificate_unknown")
    assert "alert_sent:certificate_unknown" in sent
    assert "alert_received:certificate_unknown" not in sent  # not read again as the bare name
    received = read_facts("main, RECV SSLv3 ALERT:  fatal, handshake_failure")
    assert "alert_received:handshake_failure" in received
    # Negative twin: no protocol name before ALERT is no JDK 8 alert line.
    assert "alert_sent:certificate_unknown" not in read_facts("SEND ALERT: fatal, description = certificate_unknown")


def test_a_missing_file_is_not_an_unreachable_host() -> None:
    """Node's DNS code ENOTFOUND names a host not found; the same letters inside FileNotFoundException do not."""
    assert "unreachable" in read_facts("Error: getaddrinfo ENOTFOUND api.example.com")
    assert "unreachable" not in read_facts("java.io.FileNotFoundException: /opt/certs/keystore.jks")


def test_schannel_alert_events_say_who_sent_the_alert() -> None:
    """Event 36887 ("fatal alert code is N"): received from the other side; 36888 ("fatal error code is N"): sent."""
    received = read_facts("The TLS protocol defined fatal alert code is 46.")
    sent = read_facts("The TLS protocol defined fatal error code is 46.")
    assert "alert_received:certificate_unknown" in received
    assert "alert_sent:certificate_unknown" not in received
    assert "alert_sent:certificate_unknown" in sent
    assert "alert_received:certificate_unknown" not in sent


def test_curl_verbose_alert_lines_say_who_sent_the_alert() -> None:
    """curl -v prints "(OUT)" for an alert it sent and "(IN)" for one it received."""
    sent = read_facts("* TLSv1.3 (OUT), TLS alert, unknown CA (560):")
    received = read_facts("* TLSv1.3 (IN), TLS alert, unknown CA (560):")
    assert "alert_sent:unknown_ca" in sent
    assert "alert_received:unknown_ca" not in sent
    assert "alert_received:unknown_ca" in received
    assert "alert_sent:unknown_ca" not in received


def test_an_alert_from_an_unknown_side_also_names_the_servers_certificate() -> None:
    """A bare alert line (a proxy's or an app server's log) may be the server's: its client refused the server.
    A client's own text (curl, OpenSSL's SSL_connect) received the alert from the server: not that reading."""
    bare = explain("[ERROR] SSL handshake failed: sslv3 alert certificate unknown").codes()
    assert bare[0] == "client-cert-rejected"
    assert "server-cert-untrusted" in bare
    client = explain(
        "curl: (56) OpenSSL SSL_read: error:14094416:SSL routines:ssl3_read_bytes:sslv3 alert certificate unknown"
    )
    assert client.codes()[0] == "client-cert-rejected"
    assert "server-cert-untrusted" not in client.codes()


def test_an_alert_the_writer_sent_points_at_the_servers_certificate_only_without_a_reason() -> None:
    """SChannel's 36888 alone: the other side's certificate was refused, most likely as untrusted. With the
    verifier's own reason in the text (an expired certificate), that reason speaks, not the guess."""
    sent = (
        "A fatal alert was generated and sent to the remote endpoint. "
        "The TLS protocol defined fatal error code is 46."
    )
    assert explain(sent).codes()[0] == "server-cert-untrusted"
    with_reason = f"{sent}\njava.security.cert.CertificateExpiredException: NotAfter: Sun Jun 26 13:30:00 MEST 2005"
    assert explain(with_reason).codes()[0] == "server-cert-expired"
    assert "server-cert-untrusted" not in explain(with_reason).codes()


def test_curl_private_key_file_is_a_password_only_when_openssl_says_bad_decrypt() -> None:
    bare = "curl: (58) unable to set private key file: 'key.pem' type PEM"
    assert explain(bare).codes()[:2] == ["key-cert-mismatch", "keystore-password-wrong"]
    decrypt = bare + "\nerror:1C800064:Provider routines::bad decrypt"
    assert explain(decrypt).codes()[:2] == ["keystore-password-wrong", "key-cert-mismatch"]


PARAPHRASES = [
    # (people's own words, the cause they name, a twin: the same words without the fact)
    (
        "The server is not receiving the client certificate from our Java application.",
        "client-cert-missing",
        "The server is not receiving requests from our Java application.",
    ),
    (
        "Java seems to ignore my keystore, the javax.net.ssl.keyStore property is not picked up",
        "client-cert-missing",
        "Java seems to read my keystore, the javax.net.ssl.keyStore property is set",
    ),
    (
        "works in the browser but fails in my application with a handshake error",
        "client-cert-missing",
        "fails in the browser and in my application with a handshake error",
    ),
    ("our certificate is not trusted by the server", "client-cert-untrusted", "our certificate is on the server"),
    (
        "the server rejects my client certificate during the TLS handshake",
        "client-cert-rejected",
        "the server logs my client certificate during the TLS handshake",
    ),
    (
        "I had to import the server certificate into cacerts to make it work",
        "server-cert-untrusted",
        "I had to restart the server to make the certificate work",
    ),
    (
        "the server is not sending the intermediate certificate, so Java cannot build the chain",
        "server-chain-incomplete",
        "the server is sending the certificate, so Java can build the chain",
    ),
    (
        "our client certificate was sent without the intermediate CA, the server needs the full chain",
        "client-chain-incomplete",
        "our client certificate was sent, the server logged the CA",
    ),
    ("the keystore password is wrong", "keystore-password-wrong", "the keystore password is set"),
    (
        "the private key password is different from the keystore password",
        "key-password-mismatch",
        "the private key password is the keystore password",
    ),
    (
        "the keystore contains multiple private keys and Java picks the wrong one",
        "keystore-ambiguous",
        "the keystore contains one private key and Java picks it",
    ),
    (
        "the keystore only contains the certificate, not the private key",
        "keystore-no-key-entry",
        "the keystore contains the certificate and the private key",
    ),
    (
        "the hostname does not match the CN in the server certificate",
        "server-name-mismatch",
        "the hostname is the CN in the server certificate",
    ),
    (
        "the server only supports TLS 1.0 and Java 11 disabled it",
        "protocol-mismatch",
        "the server supports TLS 1.2 and 1.3 and the certificate is fine",
    ),
    (
        "there are no common cipher suites between the client and the server",
        "cipher-mismatch",
        "there are cipher suites in the client and the server certificate",
    ),
    ("our client certificate expired last week", "client-cert-expired", "our client certificate was renewed last week"),
    ("the server's certificate has expired", "server-cert-expired", "the server's certificate has been renewed"),
    (
        "the certificate is signed with SHA1 and the server rejects it",
        "weak-signature",
        "the certificate is signed with SHA256 and the server accepts it",
    ),
    (
        "the client certificate does not have the clientAuth extended key usage",
        "client-cert-wrong-usage",
        "the client certificate has the clientAuth extended key usage",
    ),
    (
        "the truststore I created with openssl has no trusted entries when Java reads it",
        "truststore-empty",
        "the truststore I created with keytool has two entries when Java reads it",
    ),
]


@pytest.mark.parametrize(("text", "code", "twin"), PARAPHRASES)
def test_peoples_own_words_name_their_cause(text: str, code: str, twin: str) -> None:
    assert explain(text).codes()[0] == code
    assert code not in named(twin)
