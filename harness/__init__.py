"""mtls-harness: prove a Mutual-TLS destination works before go-live, and reproduce why one does not.

The public API (docs/api.md) is the names in ``__all__``; everything else is
the implementation and may change. ::

    from harness import load_destination, make_engines, run_check

    report = run_check(load_destination("destination.json"), engines=make_engines("all"))
    print(report.ready, [f.code for f in report.findings])

Each name loads its module on first use (PEP 562), so ``import harness.errors``
or the pytest plugin do not import the whole package.

Errors: every exception the harness raises for input it cannot use is a
:class:`HarnessError` (one line: where, what, the fix)::

    HarnessError
    ├── ScenarioError      a scenario file
    ├── StoreError         a keystore or truststore file, or its password
    ├── ServerError        the local server
    ├── EngineUnavailable  a client engine (no JDK, say)
    └── UsageError         a command-line value or an output path

A failed handshake is not an error: it is a :class:`Verdict` (scenarios) or a
:class:`Finding` (``check``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> the module it lives in.
_HOMES = {
    # scenarios: load one, build its stores, serve it, run it
    "load_scenario": "harness.scenario",
    "Scenario": "harness.scenario",
    "build_stores": "harness.testing",
    "serve_scenario": "harness.testing",
    "run_scenario": "harness.run",
    "ScenarioRun": "harness.run",
    "Verdict": "harness.diagnose",
    # a real destination: read it, choose the engines, check it
    "load_destination": "harness.destination",
    "Destination": "harness.destination",
    "make_engines": "harness.engines.factory",
    "run_check": "harness.check",
    "Report": "harness.check",
    "Finding": "harness.check",
    "Request": "harness.check",
    # a pasted error text
    "explain": "harness.explainer.ranking",
    "Explanation": "harness.explainer.ranking",
    # errors
    "HarnessError": "harness.errors",
    "ScenarioError": "harness.errors",
    "StoreError": "harness.errors",
    "ServerError": "harness.errors",
    "EngineUnavailable": "harness.errors",
    "UsageError": "harness.errors",
}

__all__ = [
    "Destination",
    "EngineUnavailable",
    "Explanation",
    "Finding",
    "HarnessError",
    "Report",
    "Request",
    "Scenario",
    "ScenarioError",
    "ScenarioRun",
    "ServerError",
    "StoreError",
    "UsageError",
    "Verdict",
    "__version__",
    "build_stores",
    "explain",
    "load_destination",
    "load_scenario",
    "make_engines",
    "run_check",
    "run_scenario",
    "serve_scenario",
]

if TYPE_CHECKING:
    from harness.check import Finding, Report, Request, run_check
    from harness.destination import Destination, load_destination
    from harness.diagnose import Verdict
    from harness.engines.factory import make_engines
    from harness.errors import EngineUnavailable, HarnessError, ScenarioError, ServerError, StoreError, UsageError
    from harness.explainer.ranking import Explanation, explain
    from harness.run import ScenarioRun, run_scenario
    from harness.scenario import Scenario, load_scenario
    from harness.testing import build_stores, serve_scenario


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # the next look-up is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
