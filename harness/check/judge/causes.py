"""One finding per cause, even when two stacks, or two JDKs, see it differently.

Run once every stage has judged. Three folds, in order:

- the same store verdict from several JDKs (``keystore.jks on Java 17.0.15``, ``… on Java 21.0.8``)
  becomes one finding naming the versions;
- a live engine's finding joins the static finding with its code (a finding of some Java versions
  only the live engines of those versions; a version's static rule, no runtime of it here, none);
- a cause two stacks see under two codes becomes the one finding that names it, saying what each
  engine saw: a key entry no CA name of the server reaches (the JDK sends no certificate,
  ``client-cert-missing``; OpenSSL, or a JDK before 11.0.12 on TLS 1.3, sends it anyway and the
  server rejects it, ``client-cert-untrusted``); a keystore with no key entry (every engine sends
  no certificate); a store an engine could not use, and the JDKs' verdict on that store.

Two causes stay two findings: a live finding joins only a finding of its own cause.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace

from harness.check.report import SEVERITY_ORDER, Finding, Report, Seen, Severity, is_jsse
from harness.knowledge.java import version_order

__all__ = ["fold_causes"]

# "keystore.jks (entry 'a') on Java 17.0.15": a JDK's own store verdict, per version.
_ON_JAVA = re.compile(r"^(?P<base>.*) on Java (?P<versions>[\w.+-]+(?:, [\w.+-]+)*)$")
# The JDKs' verdicts on a store (harness.check.judge.jdk_stores): a live engine that could not use that
# store saw the same cause, whatever code its own stack's words gave.
_STORE_CODES = frozenset(
    {
        "store-unreadable",
        "keystore-password-wrong",
        "truststore-password-wrong",
        "key-password-mismatch",
        "keystore-format-unsupported",
        "truststore-empty",
        "store-type-mismatch",
    }
)


def fold_causes(report: Report) -> None:
    """Fold the report's findings: one per cause (the module's docstring says which)."""
    _fold_versions(report)
    joins: dict[int, list[Finding]] = {}  # id of the finding naming the cause -> the live findings joining it
    for live in [f for f in report.findings if f.engines and f.check == "handshake" and f.code != "ok"]:
        target = _cause_of(report, live)
        if target is not None:
            joins.setdefault(id(target), []).append(live)
    joined = {id(live) for lives in joins.values() for live in lives}
    report.findings[:] = [
        _absorb(f, joins[id(f)]) if id(f) in joins else f for f in report.findings if id(f) not in joined
    ]
    _say_which_engine_was_ok(report)


def _fold_versions(report: Report) -> None:
    """The same store verdict from several JDKs: one finding naming the versions, what each JDK saw."""
    groups: dict[tuple[str, str, str], list[int]] = {}
    for index, finding in enumerate(report.findings):
        match = _ON_JAVA.match(finding.subject)
        if match is None or finding.engines or _static_rule(finding):
            continue
        groups.setdefault((finding.code, finding.check, match["base"]), []).append(index)
    drop: set[int] = set()
    for (_, _, base), indexes in groups.items():
        if len(indexes) < 2:
            continue
        # Oldest Java first ("Java 11.0.10, 17.0.15, 21.0.8"), whatever order the JDKs ran in.
        found = sorted((report.findings[i] for i in indexes), key=lambda f: version_order(_versions(f)[0]))
        versions = [_versions(f)[0] for f in found]
        first = found[0]
        seen = tuple(
            Seen(f"Java {version}", f.code, _without_version(f.message, version), version)
            for f, version in zip(found, versions, strict=True)
        )
        message = first.message.replace(f"Java {versions[0]}", f"Java {', '.join(versions)}")
        if len({s.saw for s in seen}) > 1:
            message += "; what each JDK read: " + _each_saw(seen)
        report.findings[indexes[0]] = replace(
            first,
            subject=f"{base} on Java {', '.join(versions)}",
            severity=_worst(found),
            message=message,
            seen=seen,
        )
        drop.update(indexes[1:])
    report.findings[:] = [f for i, f in enumerate(report.findings) if i not in drop]


def _cause_of(report: Report, live: Finding) -> Finding | None:
    """The finding that names the cause of the live engines' ``live`` finding, if another does."""
    statics = [
        f
        for f in report.findings
        if f is not live and not (f.engines and f.check == "handshake") and not _static_rule(f)
    ]
    same = [f for f in statics if f.code == live.code and _versions_fit(f, live.seen)]
    if same:
        return same[0]
    rules: Sequence[tuple[frozenset[str], Callable[[Finding], bool]]] = (
        # The JDK sends no certificate, OpenSSL sends it and the server rejects its issuer: the key
        # entry no CA name of the server reaches, found from the server's CertificateRequest.
        (
            frozenset({"client-cert-missing", "client-cert-untrusted"}),
            lambda f: f.code == "client-cert-missing" and f.check == "client-ca-names",
        ),
        # No key entry at all: every engine sends no certificate.
        (frozenset({"client-cert-missing"}), lambda f: f.code == "keystore-no-key-entry" and f.check == "keystore"),
    )
    for codes, is_cause in rules:
        if live.code in codes:
            found = next((f for f in statics if is_cause(f)), None)
            if found is not None:
                return found
    if live.code in _STORE_CODES:
        # A live engine's store failure, and a JDK's verdict on a store: the same store's cause. Which
        # store the engine meant is in its words; a JDK verdict of the other store is another cause.
        stores = [f for f in statics if f.code in _STORE_CODES and f.check in ("keystore", "truststore")]
        said = " ".join(x.saw for x in live.seen)
        role = next((s for s in ("truststore", "keystore") if f"could not use the {s}" in said), None)
        candidates = [f for f in stores if f.check == role]
        if candidates:
            return candidates[0]
    return None


def _absorb(target: Finding, lives: Sequence[Finding]) -> Finding:
    """``lives`` join ``target``: one finding, the engines of all, what each saw."""
    engines = tuple(sorted({*target.engines, *(e for live in lives for e in live.engines)}))
    seen = (*target.seen, *sorted((s for live in lives for s in live.seen), key=_platform_first))
    if all(s.code == target.code for s in seen):
        names = " and ".join(sorted(e for live in lives for e in live.engines))
        note = f"; live, the {names} engine(s) found the same"
    else:  # the JDKs' readings of the stores are the target's own message: what each engine saw live
        note = "; live, what each engine saw: " + _each_saw([s for s in seen if not s.engine.startswith("Java ")])
    return replace(target, severity=_worst((target, *lives)), engines=engines, seen=seen, message=target.message + note)


def _platform_first(item: Seen) -> tuple[bool, str]:
    return (not is_jsse(item.engine), item.engine)


def _each_saw(seen: Sequence[Seen]) -> str:
    """``JDK 17.0.15, JDK 21.0.8: sent no certificate …; python/OpenSSL: sent CN=…``."""
    said: dict[str, list[str]] = {}
    for item in seen:
        said.setdefault(item.saw, []).append(_stack(item))
    return "; ".join(f"{', '.join(who)}: {what}" for what, who in said.items())


def _stack(item: Seen) -> str:
    if item.engine.startswith("Java "):
        return item.engine
    if is_jsse(item.engine):
        return f"JDK {item.java}" if item.java else item.engine
    return "python/OpenSSL" if item.engine == "python" else item.engine


def _say_which_engine_was_ok(report: Report) -> None:
    """An ``ok`` beside a failed handshake names its engines and says the others failed."""
    failed = sorted({e for f in report.findings if f.code != "ok" and f.severity == "error" for e in f.engines})
    if not failed:
        return
    others = " and ".join(failed)
    report.findings[:] = [
        replace(f, message=f"{f.message}; not on {others}, which failed (see the errors)")
        if f.code == "ok" and f.engines
        else f
        for f in report.findings
    ]


def _versions(finding: Finding) -> list[str]:
    match = _ON_JAVA.match(finding.subject)
    return match["versions"].split(", ") if match else []


def _versions_fit(finding: Finding, seen: Sequence[Seen]) -> bool:
    """A finding of named Java versions takes only live JDKs of those versions; any other, every engine."""
    versions = _versions(finding)
    return not versions or all(is_jsse(s.engine) and s.java in versions for s in seen)


def _without_version(message: str, version: str) -> str:
    return message.removeprefix(f"Java {version} ").replace(f"Java {version}", "Java")


def _static_rule(finding: Finding) -> bool:
    """A version's static rule (no runtime of it here): no engine saw it, none joins it."""
    return finding.subject.startswith("Java ") or "static rule, no runtime run" in finding.message


def _worst(found: Sequence[Finding]) -> Severity:
    return min((f.severity for f in found), key=SEVERITY_ORDER.index)
