"""The sanitization check: no customer string, password or certificate byte in a reproduced scenario."""

from __future__ import annotations

from collections.abc import Iterator

from cryptography import x509

from harness.errors import HarnessError

__all__ = ["assert_sanitized", "strings_of"]


def strings_of(cert: x509.Certificate) -> Iterator[str]:
    for name in (cert.subject, cert.issuer):
        for attr in name:
            value = attr.value if isinstance(attr.value, str) else ""
            if len(value) >= 3:
                yield value
    try:
        for general in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value:
            value = str(general.value)
            if len(value) >= 3:
                yield value
    except x509.ExtensionNotFound:
        pass


# Words the neutral scenario itself is made of: a customer value that is one of
# them (CN=client, O=Example) is a coincidence, not a leak.
_VOCABULARY = (
    "reproduced from a support case with `mtls-harness reproduce` (fresh keys, neutral names). support reproduced "
    "client-1 client_auth issuing-ca root-ca example-client example root ca example issuing ca example org "
    "unrelated-ca partner-ca partner root ca example partner /inbound server.root server.intermediate server.leaf "
    "reproduce-keystore-pw reproduce-truststore-pw reproduce-key-pw not-the-keystore-password "
    "not-the-truststore-password required optional none pkcs12 legacy garbage serveraut clientauth "
    "digitalsignature keyencipherment keycertsign crlsign sha256 rsa-2048 ec-p256 handshake-failed"
)


def assert_sanitized(text: str, strings: set[str], secrets: set[str], blobs: list[bytes]) -> None:
    lowered = text.lower()
    suspicious = {s for s in strings if len(s) >= 4 and s.lower() not in _VOCABULARY}
    for value in sorted(suspicious | {s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        if value.lower() in lowered:
            label = "a password" if value in secrets else repr(value)
            raise HarnessError(
                "reproduce",
                f"the scenario would contain {label} from the customer's material",
                "report this: nothing was written",
            )
    data = text.encode("utf-8")
    for blob in blobs:
        for start in range(0, max(1, len(blob) - 32), 256):
            if blob[start : start + 32] in data:
                raise HarnessError("reproduce", "the scenario would contain certificate bytes", "report this")
