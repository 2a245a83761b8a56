"""A small JUnit XML writer for commands that do not run through pytest (``check``).

The output follows the common JUnit schema (junit-10.xsd, as Jenkins and
GitLab read it): ``testsuites/testsuite/testcase`` with ``failure`` and
``system-out``; suite-level facts go in the suite's ``properties``.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.files import write_atomic

__all__ = ["Case", "junit_bytes", "write_junit", "xml_text"]

# Characters XML 1.0 allows (section 2.2): everything else (C0 controls but tab and line breaks, lone
# surrogates, U+FFFE/U+FFFF) makes the document unreadable to every CI server, or fails to encode.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """``text`` with every character XML cannot carry shown as its escape (``\\x01``, ``\\udc80``)."""
    return _NOT_XML.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


@dataclass(frozen=True)
class Case:
    name: str
    classname: str
    failure: str | None = None  # the failure text; None when the case passed
    output: str = ""
    skipped: str | None = None  # why the case did not run
    seconds: float = 0.0


def write_junit(path: Path, suite: str, cases: Sequence[Case], properties: Mapping[str, str] | None = None) -> None:
    """The JUnit file; names, messages and output that XML cannot carry are escaped (``xml_text``)."""
    data = junit_bytes(suite, cases, properties)
    write_atomic(path, data, private=False)


def junit_bytes(suite: str, cases: Sequence[Case], properties: Mapping[str, str] | None = None) -> bytes:
    suite = xml_text(suite)
    cases = [
        Case(
            xml_text(c.name),
            xml_text(c.classname),
            None if c.failure is None else xml_text(c.failure),
            xml_text(c.output),
            None if c.skipped is None else xml_text(c.skipped),
            c.seconds,
        )
        for c in cases
    ]
    properties = {xml_text(k): xml_text(v) for k, v in (properties or {}).items()}
    failures = sum(1 for c in cases if c.failure is not None)
    skipped = sum(1 for c in cases if c.skipped is not None)
    root = ET.Element("testsuites", name=suite, tests=str(len(cases)), failures=str(failures), errors="0")
    node = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=str(len(cases)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
        time=f"{sum(c.seconds for c in cases):.3f}",
        timestamp=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        hostname=socket.gethostname(),
    )
    if properties:
        props = ET.SubElement(node, "properties")
        for key, value in properties.items():
            ET.SubElement(props, "property", name=key, value=value)
    for case in cases:
        element = ET.SubElement(node, "testcase", name=case.name, classname=case.classname, time=f"{case.seconds:.3f}")
        if case.skipped is not None:
            ET.SubElement(element, "skipped", message=case.skipped, type="skipped")
        if case.failure is not None:
            first = case.failure.splitlines()[0][:300] if case.failure.strip() else "failure"
            failure = ET.SubElement(element, "failure", message=first, type="failure")
            failure.text = case.failure
        if case.output:
            ET.SubElement(element, "system-out").text = case.output
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data
