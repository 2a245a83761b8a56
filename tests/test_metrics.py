"""``check --metrics FILE``: the Prometheus text format, read back by the official parser.

Real loopback MTLS servers and real stores (``live``); the file is parsed with
``prometheus_client.parser`` (not our own reader), so a format mistake fails
here as it would in node_exporter's textfile collector.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path

import jks
import pytest
import yaml
from cryptography import x509
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Live, cli

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def _samples(path: Path) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """metric name -> (sorted labels) -> value, as the official parser reads the file."""
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(path.read_text("utf-8")):
        assert family.type == "gauge", family
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def _by_destination(metric: dict[tuple[tuple[str, str], ...], float]) -> dict[str, float]:
    return {dict(labels)["destination"]: value for labels, value in metric.items() if "severity" not in dict(labels)}


def _first_expiry(target: Live) -> dt.datetime:
    """The earliest notAfter among the keystore's chains, the truststore's certificates and the server's chain,
    read with pyjks (not the harness's store reader)."""
    certs = list(target.chain())
    doc = json.loads(target.built.destination.read_text("utf-8"))
    for store, password in (
        (target.built.keystore, doc["keystorePass"]),
        (target.built.truststore, doc["truststorePass"]),
    ):
        loaded = jks.KeyStore.load(str(store), password)
        ders = [der for entry in loaded.private_keys.values() for _, der in entry.cert_chain]
        ders += [entry.cert for entry in loaded.certs.values()]
        certs += [x509.load_der_x509_certificate(der) for der in ders]
    return min(c.not_valid_after_utc for c in certs)


@pytest.fixture
def fleet(live: Callable[[Path], Live], tmp_path: Path) -> tuple[Path, Live]:
    ok = live(SCENARIOS / "ok-rsa.toml")
    untrusted = live(SCENARIOS / "client-cert-untrusted.toml")
    folder = tmp_path / "fleet"
    folder.mkdir()
    ok.destination(folder, "a-ok", name="ACME prod")
    ok.destination(folder, "b-wrong-password", keystorePass="not-the-password")
    untrusted.destination(folder, "c-untrusted", name='evil "name"\nwith \\ and a line break')
    (folder / "d-broken.json").write_text("{not json", "utf-8")
    return folder, ok


def test_a_fleet_writes_one_sample_set_per_destination(fleet: tuple[Path, Live], tmp_path: Path) -> None:
    folder, _ = fleet
    out = tmp_path / "textfile" / "mtls.prom"
    out.parent.mkdir()
    done = cli("check", str(folder), "--engine", "python", "--metrics", str(out), cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr  # the broken file is bad input; every report written
    metrics = _samples(out)
    ready = _by_destination(metrics["mtls_destination_ready"])
    # Labelled by the export's name when it has one, else by the file; a hostile name parses back exactly.
    evil = 'evil "name"\nwith \\ and a line break'
    assert ready == {"ACME prod": 1.0, "b-wrong-password.json": 0.0, evil: 0.0, "d-broken.json": 0.0}
    checked = _by_destination(metrics["mtls_destination_checked"])
    assert checked == {"ACME prod": 1.0, "b-wrong-password.json": 1.0, evil: 1.0, "d-broken.json": 0.0}
    errors = {dict(k)["destination"]: v for k, v in metrics["mtls_destination_findings"].items()
              if dict(k)["severity"] == "error"}  # fmt: skip
    assert errors["ACME prod"] == 0
    assert errors["b-wrong-password.json"] >= 1
    assert errors[evil] >= 1
    durations = _by_destination(metrics["mtls_destination_check_duration_seconds"])
    assert durations["ACME prod"] > 0
    assert metrics["mtls_check_timestamp_seconds"][()] == pytest.approx(dt.datetime.now(dt.UTC).timestamp(), abs=600)
    assert oct(out.stat().st_mode & 0o777) == "0o644"
    assert not [p for p in out.parent.iterdir() if p != out]  # no temporary left beside it
    assert "not-the-password" not in out.read_text("utf-8")


def test_one_destination_has_its_expiry_in_seconds_from_now(live: Callable[[Path], Live], tmp_path: Path) -> None:
    target = live(SCENARIOS / "ok-rsa.toml")
    path = target.destination(tmp_path, "one")
    out = tmp_path / "one.prom"
    done = cli("check", str(path), "--metrics", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    metrics = _samples(out)
    [seconds] = metrics["mtls_destination_cert_expiry_seconds"].values()
    expected = (_first_expiry(target) - dt.datetime.now(dt.UTC)).total_seconds()
    assert seconds == pytest.approx(expected, abs=600)
    assert _by_destination(metrics["mtls_destination_ready"]) == {"one.json": 1.0}


def test_an_expired_certificate_is_a_negative_expiry(tmp_path: Path, live: Callable[[Path], Live]) -> None:
    target = live(SCENARIOS / "client-cert-expired.toml")
    path = target.destination(tmp_path, "expired")
    out = tmp_path / "expired.prom"
    done = cli("check", str(path), "--engine", "python", "--metrics", str(out), cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    metrics = _samples(out)
    [seconds] = metrics["mtls_destination_cert_expiry_seconds"].values()
    assert seconds < 0
    assert _by_destination(metrics["mtls_destination_ready"]) == {"expired.json": 0.0}


def test_an_unwritable_metrics_path_is_bad_input_and_the_junit_is_still_written(
    live: Callable[[Path], Live], tmp_path: Path
) -> None:
    target = live(SCENARIOS / "ok-rsa.toml")
    path = target.destination(tmp_path, "one")
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    junit = tmp_path / "junit.xml"
    done = cli("check", str(path), "--metrics", str(blocker / "m.prom"), "--junit", str(junit), cwd=tmp_path)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "m.prom" in line
    assert "--metrics" in line
    assert "Traceback" not in done.stderr
    assert junit.exists()
    assert "m.prom" in junit.read_text("utf-8")
    assert not (blocker.parent / "m.prom").exists()


def test_the_documented_alerting_rule_uses_only_metrics_the_file_has(fleet: tuple[Path, Live], tmp_path: Path) -> None:
    folder, _ = fleet
    out = tmp_path / "m.prom"
    cli("check", str(folder), "--engine", "python", "--metrics", str(out), cwd=tmp_path)
    written = set(_samples(out))
    doc = (Path(__file__).resolve().parent.parent / "docs" / "metrics.md").read_text("utf-8")
    block = doc.split("<!-- alert-rules -->\n```yaml\n", 1)[1].split("```", 1)[0]
    rules = yaml.safe_load(block)["groups"][0]["rules"]
    used = {name for rule in rules for name in re.findall(r"\bmtls_\w+", rule["expr"])}
    assert used, rules
    assert used <= written, used - written
