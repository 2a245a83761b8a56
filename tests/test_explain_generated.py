"""``explain`` on the texts the harness makes itself (issue 23, point 2), made now over real loopback TLS.

Every catalogue scenario runs against its own local server through the
python engine and, with ``-Djavax.net.debug=ssl:handshake:keymanager``,
through one warm probe JVM per JDK of the matrix (``--mtls-jdk``; by default
the Makefile's 11.0.10, 17 and 21). Every persona scenario also runs against
the real nginx, Apache httpd or HAProxy it imitates, through the same clients
plus ``curl -v`` and ``openssl s_client`` (tests/explain_corpus.py). Nothing
is stored, so nothing goes stale; the texts are written into the test's
temporary folder for inspection.

Each text must explain to its scenario's expected code as top-1. A text whose
client read a success (HTTP below 400) shows no failure: explain must then say
``ok`` (or its own code, when a debug log shows more). The exceptions are
listed in MISSES, each with the top-1 it gives instead and why the text cannot
tell more (the same words as another scenario's text, or a format only the
normaliser reads); the test asserts that top-1, so a new miss fails. A listed
miss must still hold its expected code among the first three, unless BEYOND_TOP3
lists it (a word more causes share than three places hold).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.explainer.ranking import UNKNOWN, explain
from tests.conftest import REPO, SHIPPED, require_tool, unavailable
from tests.explain_corpus import Corpus, Generated, local_sources, real_pairs
from tests.realservers import SETUPS, missing

pytestmark = pytest.mark.jdk

MATRIX = ("11.0.10", "17", "21")  # the Makefile's JDKS, when no --mtls-jdk is given

_BAD_CERTIFICATE = (
    "the server's only word is bad_certificate, the same for not-yet-valid, weak key, weak signature and no certificate"
)
_NGINX_PAGE = (
    "nginx answers every verify failure with the same page ('400 The SSL certificate error'); "
    "the reason is only in its error log"
)
_UNKNOWN_CA = "unknown_ca alone, word for word client-cert-untrusted's text"
_REQUIRED = "certificate_required (or an empty Certificate in the log), word for word client-cert-missing's text"
# (scenario, client) -> (the top-1 the text gives instead, why). client: "python", "curl", "openssl", "jsse"
# (every JDK, log or exception), "jsse-exception" (the exception alone, every JDK), "jsse-<spec>" (one JDK,
# its log) or "*" (every client). The most specific key wins.
MISSES: dict[tuple[str, str], tuple[frozenset[str], str]] = {
    ("client-cert-not-yet-valid", "python"): (frozenset({"client-cert-rejected"}), _BAD_CERTIFICATE),
    ("client-cert-not-yet-valid", "jsse-exception"): (frozenset({"client-cert-rejected"}), _BAD_CERTIFICATE),
    ("weak-key", "python"): (frozenset({"client-cert-rejected"}), _BAD_CERTIFICATE),
    ("weak-key", "jsse-exception"): (frozenset({"client-cert-rejected"}), _BAD_CERTIFICATE),
    ("weak-signature", "python"): (frozenset({"client-cert-rejected"}), _BAD_CERTIFICATE),
    ("weak-signature", "jsse-exception"): (frozenset({"client-cert-rejected"}), _BAD_CERTIFICATE),
    ("persona-java-missing", "python"): (frozenset({"client-cert-rejected"}), _BAD_CERTIFICATE),
    ("persona-java-missing", "jsse-exception"): (frozenset({"client-cert-rejected"}), _BAD_CERTIFICATE),
    ("cipher-mismatch", "jsse-exception"): (
        frozenset({"client-cert-missing"}),
        "handshake_failure alone: OpenSSL servers send it for a missing client certificate too",
    ),
    ("keystore-ambiguous", "jsse-exception"): (frozenset({"client-cert-untrusted"}), _UNKNOWN_CA),
    ("keystore-ambiguous-ca-names", "jsse-exception"): (frozenset({"client-cert-untrusted"}), _UNKNOWN_CA),
    ("client-chain-incomplete", "python"): (frozenset({"client-cert-untrusted"}), _UNKNOWN_CA),
    ("client-chain-incomplete", "jsse"): (
        frozenset({"client-cert-missing", "client-cert-untrusted"}),
        "the JDK never logs a key entry's chain length: the facts of client-cert-missing-ca-names",
    ),
    ("keystore-no-key-entry", "python"): (frozenset({"client-cert-missing"}), _REQUIRED),
    ("keystore-no-key-entry", "jsse"): (
        frozenset({"client-cert-missing"}),
        "the key manager lists no key entry, as for an empty keystore: " + _REQUIRED,
    ),
    ("persona-java-name-mismatch", "python"): (
        frozenset({"client-cert-rejected"}),
        "certificate_unknown: a Java server sends it for any check of the client certificate that fails",
    ),
    ("persona-java-name-mismatch", "jsse-exception"): (
        frozenset({"client-cert-rejected"}),
        "when the alert wins the race with the close, the exception alone is the bare certificate_unknown "
        "python reads: a Java server sends it for any check of the client certificate that fails",
    ),
    ("persona-java-name-mismatch", "jsse"): (
        frozenset({"client-cert-rejected", "client-cert-untrusted"}),
        "the certificate_unknown is often lost to the close behind it (Broken pipe), as Apache's depth refusal shows",
    ),
    ("persona-nginx-expired", "*"): (frozenset({"client-cert-rejected"}), _NGINX_PAGE),
    ("server-cert-untrusted-leaf-only", "jsse"): (
        frozenset({"server-chain-incomplete"}),
        "superseded: server-chain-incomplete names this cause exactly; "
        "the scenario still expects server-cert-untrusted",
    ),
    ("truststore-password-wrong", "jsse"): (
        frozenset({"keystore-password-wrong"}),
        "'Keystore was tampered with, or password was incorrect' names neither store; keystore-password-wrong's text",
    ),
    ("persona-nginx-depth", "server-log"): (
        frozenset({"client-cert-untrusted"}),
        "with ssl_verify_depth 0 nginx logs '(20:unable to get local issuer certificate)', an untrusted issuer's words",
    ),
}
# The listed misses whose expected code is not even among the first three: a word shared by more causes
# than three places hold (bad_certificate, nginx's one page), or one candidate only. Every other listed
# miss must keep its expected code in the top 3.
BEYOND_TOP3: frozenset[tuple[str, str]] = frozenset(
    {
        ("client-cert-not-yet-valid", "python"),
        ("client-cert-not-yet-valid", "jsse-exception"),
        ("weak-key", "python"),
        ("weak-key", "jsse-exception"),
        ("weak-signature", "python"),
        ("weak-signature", "jsse-exception"),
        ("persona-java-name-mismatch", "python"),
        ("persona-java-name-mismatch", "jsse-exception"),
        ("persona-nginx-expired", "*"),
        ("persona-nginx-depth", "server-log"),
    }
)
# A server that closes right after its alert races the JDK's writes (tests/test_realservers.py): the
# exception alone is then a closed connection, which names no cause but "the server refused".
_CLOSED_WHILE_WRITING = re.compile(r"Broken pipe|Connection reset( by peer)?|Error writing to server")
# The server's alert, as the JDK's exception and its debug log (JDK 8 and 11+) show it when it arrived.
_ALERT_ARRIVED = re.compile(r"fatal alert|Received alert|RECV TLSv[\d.]+ ALERT", re.IGNORECASE)
CLOSED = (frozenset({"client-cert-rejected"}), "the alert was lost to the close: only 'the server refused' is left")


def _matrix(config: pytest.Config) -> tuple[str, ...]:
    return tuple(config.getoption("mtls_jdk", None) or MATRIX)


def _cases(config: pytest.Config) -> list[tuple[str, str]]:
    specs = _matrix(config)
    return [(p.stem, s) for p in SHIPPED for s in local_sources(specs)] + real_pairs(specs)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" in metafunc.fixturenames:
        cases = _cases(metafunc.config)
        metafunc.parametrize("case", cases, ids=[f"{name}:{source}" for name, source in cases])


@pytest.fixture(scope="module")
def corpus(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    made = Corpus(REPO, _matrix(request.config), keep=tmp_path_factory.mktemp("explain-generated"))
    yield made
    made.close()


def listed_key(item: Generated) -> tuple[str, str] | None:
    """The MISSES key of this text (the most specific one), if any."""
    client = item.source.rpartition("/")[2]
    families = [client, *(["jsse-exception"] if client.endswith("-exception") else []), client.partition("-")[0], "*"]
    return next(((item.scenario, f) for f in families if (item.scenario, f) in MISSES), None)


def allowed_misses(item: Generated) -> tuple[frozenset[str], str] | None:
    """The listed miss for this text: a JDK exception that is only a closed connection, or by scenario and client."""
    # A JDK's exception or debug log (the race is the same in both) with no alert in it, only the close.
    jdk = item.source.rpartition("/")[2].startswith("jsse")
    if jdk and _CLOSED_WHILE_WRITING.search(item.text) and not _ALERT_ARRIVED.search(item.text):
        return CLOSED
    key = listed_key(item)
    return None if key is None else MISSES[key]


def must_keep_top3(item: Generated) -> bool:
    """A listed miss (not a closed connection) outside BEYOND_TOP3 keeps its expected code among the first three."""
    key = listed_key(item)
    return key is not None and key not in BEYOND_TOP3 and allowed_misses(item) is not CLOSED


def test_generated_text_explains_to_its_scenario(case: tuple[str, str], corpus: Corpus) -> None:
    name, source = case
    if "/" in source and (reason := missing(SETUPS[source.partition("/")[0]].kind)):
        unavailable(reason)
    if source.endswith(("/curl", "/openssl")):
        require_tool(source.rpartition("/")[2])
    try:
        item = corpus.get(name, source)
    except HarnessError as exc:  # a JDK of the matrix not found
        unavailable(f"{source}: {exc}")
    if not item.text.strip():  # a server that logged nothing: nothing to explain
        assert item.expected == "ok" or item.succeeded, f"{name} via {source}: the log is empty"
        return
    explained = explain(item.text)
    codes = explained.codes()
    # Nothing to explain (no entry fired; hints from the words aside): what a successful client's text, or a
    # quiet server log, gives.
    named = [c for c in explained.candidates if not c.hint]
    nothing = not named or (named[0].code == UNKNOWN and not named[0].entries)
    top = "ok" if nothing else codes[0]
    where = f"{name} via {source}: expected {item.expected}, got {codes[:3]}"
    if top == item.expected:
        return
    allowed = allowed_misses(item)
    if item.succeeded and (top == "ok" or allowed is None):
        assert top == "ok", f"{where}; the client read a success, so its text must not name a failure"
        return
    assert allowed is not None, f"{where}\n--- text (tail) ---\n{item.text[-1500:]}"
    assert top in allowed[0], f"{where}; a listed miss ({allowed[1]}) gives {sorted(allowed[0])}"
    if must_keep_top3(item):
        assert item.expected in codes[:3], f"{where}; a listed miss ({allowed[1]}) keeps its code in the top 3"


def test_failure_and_success_texts_are_told_apart(corpus: Corpus) -> None:
    """Negative twin of the ok cases: a failing handshake is never called ok, a good one never a failure."""
    item = corpus.get("client-cert-untrusted", "python")
    assert not item.succeeded
    assert explain(item.text).codes()[0] == "client-cert-untrusted", item.text
    good = corpus.get("ok-rsa", "python")
    assert good.succeeded
    assert explain(good.text).codes()[:1] in ([], ["ok"]), good.text


def test_misses_name_real_scenarios() -> None:
    names = {p.stem for p in SHIPPED}
    assert {name for name, _ in MISSES} <= names
    assert set(BEYOND_TOP3) <= set(MISSES)
    assert all(Path(REPO, "scenarios", f"{name}.toml").is_file() for name, _ in MISSES)
