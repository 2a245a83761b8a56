"""``make_engines``: the one place client engines are made, for ``run``, ``check``, ``reproduce`` and the plugin.

Apart from ``harness.engines`` itself so that naming an engine (``ENGINE_NAMES``,
``Outcome``) does not import the stacks: the python engine pulls in the store
readers, the jsse engine the JVM launcher.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.engines import Engine
from harness.engines.jsse import JsseEngine
from harness.engines.python import PythonEngine
from harness.java.launch import jdk_of
from harness.java.runtimes import Runtime

__all__ = ["make_engines"]


def make_engines(choice: str, jdks: Sequence[Runtime] | None = None) -> list[Engine]:
    """The engines ``choice`` names ("python", "jsse" or "all"), python first.

    jsse is one engine per runtime of ``jdks`` (``harness.java.runtimes.resolve_jdks``),
    or one on the default JDK (JAVA_HOME, else PATH) when ``jdks`` is None; an
    empty ``jdks`` makes none. Nothing starts until the first probe (or ``warm_up``).
    """
    engines: list[Engine] = []
    if choice in ("python", "all"):
        engines.append(PythonEngine())
    if choice in ("jsse", "all"):
        if jdks is None:
            engines.append(JsseEngine())
        else:
            engines += [JsseEngine(jdk=jdk_of(runtime)) for runtime in jdks]
    return engines
