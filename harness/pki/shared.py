"""Issue once per run: scenarios whose ``[pki]`` tables are identical share the certificates issued for the first.

The key is a canonical form of the parsed ``[pki]`` table (its certificates by
name, in name order, every field as parsed: kind, issuer, key type, subject,
SAN, usages, validity, signature, path length). Any difference in it, one
second of validity or another key type, is another key and so another PKI.
Validity is computed from the run's start: every material of a run (the shared
``[pki]`` and each scenario's own server identity) is issued at that moment,
and diagnosed against it. The server's identity is issued per scenario, as
before. A run is this process (a pytest-xdist worker is one); one that goes on
longer than ``RUN_SPAN`` starts a new run, so relative validities ("+1d",
"-1d") never drift far from the clock.

``harness.run`` builds the catalogue's scenarios with :func:`shared_material`;
``mtls-harness build`` and direct ``build_material`` calls always issue afresh.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping

from harness.pki.certificates import Issued, Material, build_material, issue_client_pki
from harness.scenario import CertSpec, Scenario

__all__ = ["RUN_SPAN", "pki_key", "reset_run", "shared_material"]

RUN_SPAN = dt.timedelta(hours=1)

PkiKey = tuple[tuple[str, CertSpec], ...]

_lock = threading.Lock()
_start: dt.datetime | None = None
_issued: dict[PkiKey, Mapping[str, Issued]] = {}


def pki_key(scenario: Scenario) -> PkiKey:
    """The canonical form of the scenario's parsed ``[pki]`` table: equal keys, identical tables."""
    return tuple(sorted(scenario.pki.items()))


def reset_run() -> None:
    """Start a new run: the next scenario issues its ``[pki]`` afresh, at a new start time."""
    global _start
    with _lock:
        _start = None
        _issued.clear()


def _run_start() -> dt.datetime:
    global _start
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with _lock:
        if _start is None or now - _start > RUN_SPAN:
            _start = now
            _issued.clear()
        return _start


def shared_material(scenario: Scenario) -> Material:
    """The scenario's material, its ``[pki]`` certificates shared with every scenario of the run with the same table."""
    start = _run_start()
    key = pki_key(scenario)
    with _lock:
        client = _issued.get(key)
    if client is None:
        fresh = issue_client_pki(scenario, start)
        with _lock:
            # Another thread (the scenario prepared ahead) may have issued it meanwhile: the first one stays.
            client = _issued.setdefault(key, fresh) if _start == start else fresh
    return build_material(scenario, start, client_pki=client)
