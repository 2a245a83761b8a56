"""One finding per cause, in one line each; ``check`` and the live engines agree on chain order.

Real stores, a real local MTLS server (``live``), the real JDK: the checks
count findings in ``check --json`` as a user gets it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.check import condense_error
from harness.engines import Probe
from harness.engines.jsse import JsseEngine
from harness.secret import Secret
from harness.stores import jks_bytes, read_store
from tests.conftest import Live, cli

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def _check(target: Live, *extra: str, keystore: Path | None = None, cwd: Path) -> dict[str, Any]:
    destination = target.built.destination
    if keystore is not None:
        doc = json.loads(destination.read_text("utf-8"))
        destination = target.built.folder / "reordered.json"
        destination.write_text(json.dumps({**doc, "keystoreFile": str(keystore)}), "utf-8")
    done = cli("check", str(destination), "--url", target.url, "--json", *extra, cwd=cwd)
    assert done.returncode in (0, 1), done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    doc["exit"] = done.returncode
    return doc


def test_a_wrong_keystore_password_is_one_finding_that_names_the_engines_that_agreed(
    live: Callable[[Path], Live], java: str, tmp_path: Path
) -> None:
    target = live(SCENARIOS / "keystore-password-wrong.toml")
    doc = _check(target, cwd=tmp_path)
    [finding] = [f for f in doc["findings"] if f["code"] == "keystore-password-wrong"]
    assert finding["engines"] == ["jsse", "python"]
    assert "live, the jsse and python engine(s) found the same" in finding["message"]
    assert finding["check"] == "keystore"  # the static finding, confirmed live
    text = cli("check", str(target.built.destination), "--url", target.url, cwd=tmp_path).stdout
    assert text.count("ERROR   keystore-password-wrong:") == 1  # one finding line (the facts name each engine)
    # the negative twin: a check with one engine names only that one
    doc = _check(target, "--engine", "python", cwd=tmp_path)
    [finding] = [f for f in doc["findings"] if f["code"] == "keystore-password-wrong"]
    assert finding["engines"] == ["python"]


def test_engines_that_agree_share_one_finding_and_engines_that_differ_do_not(
    live: Callable[[Path], Live], java: str, tmp_path: Path
) -> None:
    agreed = _check(live(SCENARIOS / "client-cert-untrusted.toml"), cwd=tmp_path)
    [finding] = [f for f in agreed["findings"] if f["check"] == "handshake"]
    assert (finding["code"], finding["engines"]) == ("client-cert-untrusted", ["jsse", "python"])
    assert finding["message"].endswith("(jsse and python agreed)")
    # the JDK and OpenSSL disagree on this one (the JDK picks the key entry by the server's CA names)
    target = live(SCENARIOS / "keystore-ambiguous-ca-names.toml")
    expect = target.scenario.expect
    differ = _check(target, cwd=tmp_path)
    by_engine = {e: f["code"] for f in differ["findings"] for e in f["engines"]}
    assert by_engine == {"python": expect.for_engine("python"), "jsse": expect.for_engine("jsse")}
    assert by_engine["python"] != by_engine["jsse"]


def test_every_message_is_one_line_without_raw_java_text(
    live: Callable[[Path], Live], java: str, tmp_path: Path
) -> None:
    for scenario in ("client-cert-untrusted", "server-cert-untrusted", "client-cert-missing", "protocol-mismatch"):
        doc = _check(live(SCENARIOS / f"{scenario}.toml"), "--engine", "jsse", cwd=tmp_path)
        for finding in doc["findings"]:
            assert "\n" not in finding["message"], finding
            # class names without their packages; no nested "sun.security....Exception: " inside a message
            assert not re.search(r"\b(?:java|javax|sun|jdk)\.[a-z]+\.", finding["message"]), finding


def test_the_jdks_own_error_text_condenses_to_its_first_meaningful_line(
    live: Callable[[Path], Live], java: str
) -> None:
    target = live(SCENARIOS / "server-cert-untrusted.toml")
    material = target.built
    with JsseEngine() as engine:
        outcome = engine.probe(
            Probe(
                target.url,
                material.keystore,
                Secret(target.scenario.keystore.password.reveal()),
                material.truststore,
                Secret(target.scenario.truststore.password.reveal()),
                method="HEAD",
            )
        )
    assert outcome.error is not None
    assert "\n" in outcome.error  # the JDK's chain of exceptions, one per line
    short = condense_error(outcome.error)
    assert "\n" not in short
    assert short.startswith(f"{outcome.error_type}: ")
    assert "unable to find valid certification path" in short
    assert "sun.security" not in short


def _reordered_keystore(target: Live, order: Callable[[list[Any]], list[Any]], folder: Path) -> Path:
    password = target.scenario.keystore.password
    [entry] = read_store(target.built.keystore, password, "keystore").key_entries
    leaf, issuing = entry.chain
    root = target.built.material.cert("client-root")
    assert entry.key is not None
    path = folder / "reordered.jks"
    path.write_bytes(jks_bytes([(entry.alias, entry.key, order([leaf, issuing, root]))], [], password))
    return path


def test_an_out_of_order_chain_is_a_warning_and_works_live_as_the_jdk_sends_it(
    live: Callable[[Path], Live], java: str, tmp_path: Path, keytool: str
) -> None:
    target = live(SCENARIOS / "ok-rsa.toml")
    # leaf, root, issuing CA: keytool reads it, the JDK sends it as stored, the OpenSSL server links it
    reordered = _reordered_keystore(target, lambda c: [c[0], c[2], c[1]], tmp_path)
    doc = _check(target, keystore=reordered, cwd=tmp_path)
    [warning] = [f for f in doc["findings"] if f["code"] == "client-chain-incomplete"]
    assert warning["severity"] == "warning"
    assert "is out of order" in warning["message"]
    assert {e: f["code"] for f in doc["findings"] for e in f["engines"]} == {"jsse": "ok", "python": "ok"}
    assert doc["ready"] is True
    assert doc["exit"] == 0
    # the negative twin: the same certificates in order are no finding at all
    ordered = _reordered_keystore(target, lambda c: c, tmp_path)
    doc = _check(target, keystore=ordered, cwd=tmp_path)
    assert [f for f in doc["findings"] if f["severity"] != "info"] == []
