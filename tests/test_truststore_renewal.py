"""Truststores that survive the server's certificate renewal (issue 24, point 4).

``truststore URL`` trusts the top CA the server sends, never its leaf; a server
that sends only its leaf needs ``--ca-file`` (its issuing CA) or an explicit
``--pin-leaf``. ``check`` warns ``truststore-pins-leaf`` when the server's leaf
is the truststore's only trust for it. Real loopback servers built from the
catalogue, stores read back by the real ``keytool``, ``check`` run for real.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.conftest import Live, assert_one_line_error
from tests.test_golive import SCENARIOS, TS_PW, check_report, fingerprint, keytool_list, truststore_cmd

LEAF_ONLY = SCENARIOS / "server-cert-untrusted-leaf-only.toml"  # send_chain = false
RENEWAL = "breaks at the server's next certificate renewal"


def pem_bundle(path: Path, *certs: x509.Certificate) -> Path:
    path.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in certs))
    return path


@pytest.mark.jdk
def test_a_server_sending_its_chain_gives_a_truststore_of_its_ca_only(
    live: Callable[[Path], Live], tmp_path: Path, keytool: str
) -> None:
    target = live(SCENARIOS / "ok-rsa.toml")
    sent = target.chain()
    assert len(sent) == 2
    out = tmp_path / "truststore.jks"
    done = truststore_cmd(target.url, out, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    listing = keytool_list(keytool, out, TS_PW)
    assert [e.type for e in listing.entries] == ["trustedCertEntry"]
    assert listing.fingerprints() == {fingerprint(target.built.material.cert("server.intermediate"))}
    assert fingerprint(sent[0]) not in listing.fingerprints()
    assert "warning" not in done.stdout


@pytest.mark.jdk
def test_a_server_sending_only_its_leaf_is_refused_with_the_renewal_line(
    live: Callable[[Path], Live], tmp_path: Path
) -> None:
    target = live(LEAF_ONLY)
    assert len(target.chain()) == 1
    out = tmp_path / "truststore.jks"
    done = truststore_cmd(target.url, out, tmp_path)
    assert_one_line_error(done, target.url, RENEWAL, "--ca-file", "--pin-leaf")
    assert TS_PW not in done.stderr
    assert not out.exists()


@pytest.mark.jdk
def test_pin_leaf_trusts_the_leaf_and_warns(live: Callable[[Path], Live], tmp_path: Path, keytool: str) -> None:
    target = live(LEAF_ONLY)
    out = tmp_path / "truststore.jks"
    done = truststore_cmd(target.url, out, tmp_path, "--pin-leaf")
    assert done.returncode == 0, done.stdout + done.stderr
    assert keytool_list(keytool, out, TS_PW).fingerprints() == {fingerprint(target.chain()[0])}
    assert f"warning: the truststore trusts the server's own certificate, not its CA: it {RENEWAL}" in done.stdout


@pytest.mark.jdk
def test_ca_file_gives_the_issuing_ca_of_a_leaf_only_server(
    live: Callable[[Path], Live], tmp_path: Path, keytool: str
) -> None:
    target = live(LEAF_ONLY)
    material = target.built.material
    issuing = material.cert("server.intermediate")
    # the bundle also holds an unrelated CA (the client side's root) and the server's root: only the issuer is taken
    bundle = pem_bundle(tmp_path / "cas.pem", material.cert("client-root"), issuing, material.cert("server.root"))
    out = tmp_path / "truststore.jks"
    done = truststore_cmd(target.url, out, tmp_path, "--ca-file", str(bundle))
    assert done.returncode == 0, done.stdout + done.stderr
    assert keytool_list(keytool, out, TS_PW).fingerprints() == {fingerprint(issuing)}
    assert "warning" not in done.stdout


@pytest.mark.jdk
def test_ca_file_without_the_issuing_ca_is_refused(live: Callable[[Path], Live], tmp_path: Path) -> None:
    """The negative twin: a bundle of other CAs (one with the issuer's very name but another key) is no way out."""
    target = live(LEAF_ONLY)
    other = live(LEAF_ONLY)  # the same scenario built again: same names, other keys
    bundle = pem_bundle(tmp_path / "cas.pem", other.built.material.cert("server.intermediate"))
    out = tmp_path / "truststore.jks"
    done = truststore_cmd(target.url, out, tmp_path, "--ca-file", str(bundle))
    assert_one_line_error(done, "cas.pem", "holds no CA certificate that issued the server's certificate")
    assert not out.exists()

    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n", "utf-8")
    done = truststore_cmd(target.url, out, tmp_path, "--ca-file", str(garbage))
    assert_one_line_error(done, "garbage.pem", "not a PEM bundle")
    assert not out.exists()


def _check(target: Live, tmp_path: Path, truststore: Path) -> dict[str, Any]:
    report: dict[str, Any] = check_report(target, tmp_path, truststore)[1]
    return report


@pytest.mark.jdk
def test_check_warns_of_a_leaf_pinned_truststore_and_not_of_its_ca_twin(
    live: Callable[[Path], Live], tmp_path: Path, java: str
) -> None:
    target = live(LEAF_ONLY)
    pinned, by_ca = tmp_path / "pinned.jks", tmp_path / "by-ca.jks"
    assert truststore_cmd(target.url, pinned, tmp_path, "--pin-leaf").returncode == 0
    bundle = pem_bundle(tmp_path / "cas.pem", target.built.material.cert("server.intermediate"))
    assert truststore_cmd(target.url, by_ca, tmp_path, "--ca-file", str(bundle)).returncode == 0

    warned = [f for f in _check(target, tmp_path, pinned)["findings"] if f["code"] == "truststore-pins-leaf"]
    assert len(warned) == 1, warned
    [finding] = warned
    assert finding["severity"] == "warning"
    assert finding["subject"] == "pinned.jks"
    assert "breaks when the server renews its certificate" in finding["message"]
    assert target.chain()[0].subject.rfc4514_string() in finding["message"]
    assert "pinned.jks" in finding["fix"]
    assert "--ca-file" in finding["fix"]
    # The server sends only its leaf: `truststore` would stop and ask for --ca-file, so no command is printed.
    assert finding["command"] == ""

    twin = _check(target, tmp_path, by_ca)
    assert [f for f in twin["findings"] if f["code"] == "truststore-pins-leaf"] == []
