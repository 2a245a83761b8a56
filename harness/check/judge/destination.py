"""The destination JSON's own findings: keys that most likely meant one of the five attributes.

A platform export carries more than ``url`` and the four store attributes; the
others are not ``check``'s business (``--verbose`` lists them). A near miss
(``URL``, ``keyStoreFile``, ``truststorepass``) is: the platform reads names as
written, so the attribute it meant is not set by it. A warning while the
attribute is there too; an error when it is missing, since the platform then has
no URL, store or password (``check`` judged the near miss's value in its place).
"""

from __future__ import annotations

from harness.check.report import Report
from harness.destination import Destination

__all__ = ["judge_destination"]

# The check each attribute belongs to (its JUnit testcase).
_CHECK = {
    "url": "handshake",
    "keystoreFile": "keystore",
    "keystorePass": "keystore",
    "truststoreFile": "truststore",
    "truststorePass": "truststore",
}
_WHAT = {
    "url": "URL to send to",
    "keystoreFile": "keystore",
    "keystorePass": "keystore password",
    "truststoreFile": "truststore",
    "truststorePass": "truststore password",
}


def judge_destination(report: Report, destination: Destination) -> None:
    """One ``destination-key-near-miss`` finding per near miss: an error when it stood in for a missing attribute."""
    name = destination.source.name if destination.source is not None else "the destination JSON"
    for miss in destination.near_misses:
        key = _shown(miss.key)
        if miss.stood_in:
            message = (
                f"the platform reads {miss.meant!r} (names are case-sensitive), which is missing: as it stands the "
                f"platform has no {_WHAT[miss.meant]}; this check judged the value of {key} in its place"
            )
        else:
            message = (
                f"the platform reads {miss.meant!r} (names are case-sensitive), not {key}: this key is ignored, "
                f"{miss.meant!r} is what counts"
            )
        report.add(
            "destination-key-near-miss",
            _CHECK[miss.meant],
            f"{name}: key {key} (meant {miss.meant!r}?)",
            message,
            severity="error" if miss.stood_in else "warning",
        )


def _shown(key: str) -> str:
    """A key as a finding shows it: quoted, control characters escaped, cut at 60 characters."""
    text = repr(key)
    return text if len(text) <= 60 else text[:59] + "…"
