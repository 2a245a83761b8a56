"""pytest fixtures for your own tests, registered by the mtls-harness plugin (docs/fixtures.md).

``mtls_server`` is a factory, in the style of pytest-httpserver::

    def test_partner_accepts_our_client(mtls_server):
        srv = mtls_server("scenarios/partner.toml")
        assert my_client(srv.destination) == 200
        assert srv.records[-1].accepted

Each call builds the scenario (a path, relative to the current folder or to
pytest's rootdir, or a loaded Scenario) into a fresh temporary folder and
starts its server on 127.0.0.1; every server is stopped (bounded) and every
folder removed when the test ends. ``mtls_stores`` does the same without a
server. See :mod:`harness.testing` for the returned objects.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harness.testing import build_stores, serve_scenario

# Loaded with the plugin in every pytest run: the heavy modules (the server,
# the stores) are imported when a fixture is used, not at start-up.
if TYPE_CHECKING:
    from harness.scenario import Scenario
    from harness.testing import MtlsServer, Stores

__all__ = ["mtls_server", "mtls_stores"]

ServerFactory = Callable[["str | Path | Scenario"], "MtlsServer"]
StoresFactory = Callable[["str | Path | Scenario"], "Stores"]


@pytest.fixture
def mtls_server(request: pytest.FixtureRequest) -> Iterator[ServerFactory]:
    """``mtls_server(path_or_scenario)``: a running server with ``url``, ``destination``, ``pem``, ``records``."""

    base = request.config.rootpath
    with contextlib.ExitStack() as stack:

        def start(source: str | Path | Scenario) -> MtlsServer:
            return stack.enter_context(serve_scenario(source, base=base))

        yield start


@pytest.fixture
def mtls_stores(request: pytest.FixtureRequest) -> Iterator[StoresFactory]:
    """``mtls_stores(path_or_scenario)`` -> the built stores, ``destination`` and ``pem`` files, no server."""

    base = request.config.rootpath
    with contextlib.ExitStack() as stack:

        def build(source: str | Path | Scenario) -> Stores:
            return stack.enter_context(build_stores(source, base=base))

        yield build
