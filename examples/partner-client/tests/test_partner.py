"""Our clients against the partner's MTLS endpoint, reproduced locally by mtls-harness."""

from __future__ import annotations

import os
import ssl
import subprocess
import urllib.error
from pathlib import Path

import pytest
from partner_client import post_order

CLIENT = Path(__file__).resolve().parent.parent / "client" / "PostClient.java"


def java_post(java: str, destination) -> str:
    """Run the JKS-consuming client with the destination's four attributes and URL."""
    env = {**os.environ, "KEYSTORE_PASS": destination.keystorePass, "TRUSTSTORE_PASS": destination.truststorePass}
    done = subprocess.run(
        [java, str(CLIENT), destination.url, destination.keystoreFile, destination.truststoreFile],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return (done.stdout + done.stderr).strip()


def test_java_client_posts_with_the_jks_stores(mtls_server, java):
    srv = mtls_server("scenarios/partner-ok.toml")
    assert java_post(java, srv.destination) == "HTTP 200"
    assert srv.wait_for_records(1)[-1].accepted


def test_java_client_is_refused_by_a_partner_who_does_not_trust_us(mtls_server, java):
    srv = mtls_server("scenarios/partner-untrusted.toml")
    said = java_post(java, srv.destination)
    assert said.startswith("FAILED javax.net.ssl.SSLHandshakeException"), said
    assert "unknown_ca" in said
    # HttpsURLConnection may retry a failed POST once: every attempt was refused.
    records = srv.wait_for_records(1)
    assert records
    assert not any(record.accepted for record in records)


def test_python_client_posts_with_the_pem_files(mtls_server):
    srv = mtls_server("scenarios/partner-ok.toml")
    pem = srv.pem
    assert post_order(srv.url, client_chain=pem.client_chain, client_key=pem.client_key, server_ca=pem.server_ca) == 200
    assert srv.wait_for_records(1)[-1].accepted


def test_python_client_is_refused_without_our_ca_trusted(mtls_server):
    srv = mtls_server("scenarios/partner-untrusted.toml")
    pem = srv.pem
    with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
        post_order(srv.url, client_chain=pem.client_chain, client_key=pem.client_key, server_ca=pem.server_ca)
    assert not srv.wait_for_records(1)[-1].accepted


def test_our_stores_need_no_server(mtls_stores):
    stores = mtls_stores("scenarios/partner-ok.toml")
    assert Path(stores.destination.keystoreFile).is_file()
    assert Path(stores.destination.truststoreFile).is_file()
    assert stores.destination.keystorePass == "example-ks-pass"
