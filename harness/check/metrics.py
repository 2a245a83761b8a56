"""``check --metrics FILE``: the Prometheus text format, for node_exporter's textfile collector.

One sample set per destination, labelled ``destination`` (its JSON's ``name``
attribute, else its file name) and ``file`` (the file name): ready (0/1),
whether it could be checked at all, seconds until the first certificate on
either side expires, findings by severity, and how long its check took; plus
when the check ran. The file is written atomically (a temporary in the same
folder, then a rename), as the collector requires. No password, key or URL
credential is ever a label: only names, severities and numbers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.check.report import Report
from harness.files import write_atomic

__all__ = ["Sample", "render_metrics", "sample_of", "write_metrics"]

_SEVERITIES = ("error", "warning", "info")
_LABEL_LIMIT = 200  # characters of a label value: a hostile name must not make the file huge

_HELP = {
    "mtls_destination_ready": "1 when the destination was verified ready for go-live (the platform's JSSE accepted "
    "the handshake), else 0",
    "mtls_destination_checked": "1 when the destination could be checked; 0 for a destination file that could not "
    "be read or a check past its deadline",
    "mtls_destination_cert_expiry_seconds": "seconds until the first certificate on either side (key entry, "
    "truststore, server chain) expires; negative once expired",
    "mtls_destination_findings": "findings of the check, by severity",
    "mtls_destination_check_duration_seconds": "how long the destination's check took",
}


@dataclass(frozen=True)
class Sample:
    """One destination's figures, as the metrics file shows them."""

    destination: str  # its name attribute, else its file name
    file: str
    ready: bool
    checked: bool
    expiry_seconds: float | None  # None: no certificate was read
    findings: dict[str, int]
    seconds: float


def sample_of(path: Path, report: Report | None, seconds: float, now: dt.datetime, name: str | None = None) -> Sample:
    """The figures of one destination's check (``report`` None: it could not be checked)."""
    expiry = None
    if report is not None and report.first_expiry_at is not None:
        expiry = (report.first_expiry_at - now).total_seconds()
    counts = {severity: 0 for severity in _SEVERITIES}
    if report is not None:
        for finding in report.findings:
            counts[finding.severity] = counts.get(finding.severity, 0) + 1
    return Sample(
        destination=name or path.name,
        file=path.name,
        ready=report is not None and report.ready,
        checked=report is not None,
        expiry_seconds=expiry,
        findings=counts,
        seconds=seconds,
    )


def _label(value: str) -> str:
    """A label value as the text format wants it: backslash, double quote and line feed escaped."""
    value = value.encode("utf-8", "replace").decode("utf-8")  # a lone surrogate from a JSON escape
    if len(value) > _LABEL_LIMIT:
        value = value[: _LABEL_LIMIT - 1] + "…"
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"


def render_metrics(samples: Sequence[Sample], now: dt.datetime) -> str:
    """The text exposition format: HELP and TYPE once per metric, then one line per destination."""
    lines: list[str] = []

    def metric(name: str, rows: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP {name} {_HELP[name]}")
        lines.append(f"# TYPE {name} gauge")
        lines.extend(f"{name}{{{labels}}} {_number(value)}" for labels, value in rows)

    def labels(sample: Sample, **more: str) -> str:
        pairs = {"destination": sample.destination, "file": sample.file, **more}
        return ",".join(f'{key}="{_label(value)}"' for key, value in pairs.items())

    metric("mtls_destination_ready", [(labels(s), float(s.ready)) for s in samples])
    metric("mtls_destination_checked", [(labels(s), float(s.checked)) for s in samples])
    metric(
        "mtls_destination_cert_expiry_seconds",
        [(labels(s), round(s.expiry_seconds)) for s in samples if s.expiry_seconds is not None],
    )
    metric(
        "mtls_destination_findings",
        [(labels(s, severity=severity), s.findings.get(severity, 0)) for s in samples for severity in _SEVERITIES],
    )
    metric("mtls_destination_check_duration_seconds", [(labels(s), round(s.seconds, 3)) for s in samples])
    lines.append("# HELP mtls_check_timestamp_seconds when the check ran (Unix time)")
    lines.append("# TYPE mtls_check_timestamp_seconds gauge")
    lines.append(f"mtls_check_timestamp_seconds {_number(round(now.timestamp()))}")
    return "\n".join(lines) + "\n"


def write_metrics(path: Path, samples: Sequence[Sample], now: dt.datetime) -> None:
    """The metrics file at ``path``, atomically (node_exporter never reads half of it), 0644."""
    write_atomic(path, render_metrics(samples, now).encode("utf-8"), private=False)
