"""Hints from a text's words (harness.explainer.words): only when no fact names a cause, below handshake-failed.

Each hint names the words it rests on; a text without those words gets no such hint (its twin), and a text
with a known fact gets no hint at all.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.explainer.ranking import UNKNOWN, explain
from harness.explainer.words import WordModel, hints, tokens
from harness.explainer.words_build import WORDS, build


def test_words_split_camel_case_and_drop_words_every_tls_text_has() -> None:
    assert tokens("javax.net.ssl.SSLHandshakeException: the Keystore password") == {"handshake", "keystore", "password"}


def test_a_generic_text_gets_hints_below_handshake_failed_naming_their_words() -> None:
    text = "the gateway says invalid password when importing the exported PKCS 12 bundle"
    result = explain(text)
    codes = result.codes()
    assert codes[0] == UNKNOWN
    assert "keystore-password-wrong" in codes[1:3]
    hint = next(c for c in result.candidates if c.code == "keystore-password-wrong")
    assert hint.hint
    assert hint.score == 0
    assert "password" in hint.why[0]
    assert "keystore-password-wrong (hint from the words, no fact)" in result.render()
    assert json.loads(result.to_json())["candidates"][1]["hint"] is True
    twin = explain("the gateway handshake stops when importing the exported TLS bundle")
    assert "keystore-password-wrong" not in twin.codes()


def test_a_text_with_a_known_fact_gets_no_hint() -> None:
    result = explain("javax.net.ssl.SSLHandshakeException: Received fatal alert: certificate_expired password")
    assert result.codes()[0] == "client-cert-expired"
    assert not any(c.hint for c in result.candidates)


def test_a_text_without_tls_gets_neither_a_cause_nor_a_hint() -> None:
    assert explain("hello world, the password field is empty").codes() == []


def test_a_model_ranks_by_the_words_its_messages_share() -> None:
    messages = [
        ("server-cert-expired", "the server certificate expired yesterday"),
        ("keystore-password-wrong", "wrong keystore password"),
        ("cipher-mismatch", "no common cipher suite"),
        ("protocol-mismatch", "no common protocol version"),
    ]
    # A word seen in one message of a cause alone is an anecdote: no hint until a second message has it.
    assert hints("my keystore password is wrong", WordModel.learn(messages)) == []
    model = WordModel.learn([*messages, ("keystore-password-wrong", "keystore password was incorrect")])
    assert [h.code for h in hints("my keystore password is wrong", model)] == ["keystore-password-wrong"]
    assert hints("my keystore password is wrong", model, exclude=["keystore-password-wrong"]) == []
    # One shared word is not enough; a word most causes share ("common", in half of them) counts for none.
    assert hints("the keystore", model) == []
    assert hints("common suite", model) == []


def test_shipped_word_counts_are_built_from_the_tuned_texts() -> None:
    # The hints learn from harness/knowledge/words.json: the tuned texts' words, recounted by `make words`.
    assert WORDS.read_text("utf-8") == build(), "tests/data/explain_realworld.toml changed: run `make words`"


def test_word_counts_read_the_tuned_texts_only(tmp_path: Path) -> None:
    tuned = tmp_path / "tuned.toml"
    tuned.write_text(
        '[[text]]\nurl = "https://a.example/1"\nkind = "java"\nexpected = "server-cert-expired"\n'
        'also = ["server-cert-untrusted"]\ntext = "gateway expired yesterday"\n'
        '[[text]]\nurl = "https://a.example/2"\nkind = "none"\nexpected = "none"\ntext = "a read timeout"\n',
        "utf-8",
    )
    counts = json.loads(build(tuned))["counts"]
    assert counts == {
        "server-cert-expired": {"expired": 1, "gateway": 1, "yesterday": 1},
        "server-cert-untrusted": {"expired": 1, "gateway": 1, "yesterday": 1},
    }


def test_a_hint_never_names_a_password_from_the_paste() -> None:
    # "invalid" is a word the hints know; as a password's value it is never shown, in any spelling of one.
    words = "\nthe gateway says password when importing the exported PKCS 12 bundle"
    for secret in ('{"keystorePass": "invalid"}', "javax.net.ssl.keyStorePassword=invalid", "-storepass invalid"):
        shown = explain(secret + words)
        assert any(c.hint for c in shown.candidates), secret
        assert "invalid" not in " ".join(w for c in shown.candidates for w in c.why), secret
    # The twin: the same word in the text itself is one a hint may rest on.
    twin = explain("the gateway says invalid password when importing the exported PKCS 12 bundle")
    assert "invalid" in " ".join(w for c in twin.candidates if c.hint for w in c.why)
