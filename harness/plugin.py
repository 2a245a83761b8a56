"""pytest plugin: every scenario file is a test, once per client engine.

It collects only what it is told to: scenario files under the paths of the
``mtls_scenarios`` ini option (``pytest.ini`` / ``[tool.pytest.ini_options]``,
relative to that file) or of ``--mtls-scenarios PATH`` (replaces the ini
option; relative to the current folder), and scenario files named on the
command line. A file is a scenario by its content (``harness.discovery``: a
top-level ``[expect]`` table), so a ``settings.toml`` is never a test. When
pytest runs without paths of its own (``testpaths`` or the current folder),
the scenario paths are added to what it collects; ``pytest tests/x.py`` stays
just that file. Installed into any project, the plugin collects nothing until
told. Each :class:`ScenarioFile` holds
one :class:`ScenarioItem` per engine (``ok-rsa[python]``, ``ok-rsa[jsse]``).
The file's set-up builds the stores and starts the local server once; each
item runs its engine's probe against it and compares the diagnosed outcome
code with the scenario's ``[expect]``. A mismatch reads as expected vs actual
code, the diagnosis and the raw error: a few lines, no traceback.

Registered by the root ``conftest.py`` and by the ``pytest11`` entry point of
the same name. Nothing imports this module but ``mtls-harness run``, for
:func:`run_session`; it imports everything else.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.discovery import is_scenario_file
from harness.engines import ENGINE_NAMES, Engine
from harness.engines.factory import make_engines
from harness.errors import HarnessError

# The fixtures for users' own tests (docs/fixtures.md), registered with the plugin.
from harness.fixtures import mtls_server, mtls_stores
from harness.html.run_chains import chain_properties
from harness.java.runtimes import resolve_jdks
from harness.pki import KEY_CACHE_ENV, prefetch_keys
from harness.run import Ahead, ca_names_off, discard, prepare, probe_prepared
from harness.scenario import Scenario, load_scenario
from harness.scenario_report import report_lines, verdict_record, verdicts_per_jdk
from harness.server.ca_names import unavailable_reason
from harness.terminal import PROGRESS_AFTER, Bar

# pytest loads this plugin in every run, `pytest tests/...` and every xdist
# worker included: the heavy modules (harness.run with the builder, the server,
# the stores and the diagnosis: pyjks, hypercorn, trustme, the verifier; and
# harness.pki) are imported in the functions that set up and run a scenario,
# not at start-up (they cost ~0.5 s).
if TYPE_CHECKING:
    from harness.run import Ahead, Prepared

__all__ = [
    "EngineRegistry",
    "ScenarioFile",
    "ScenarioItem",
    "ScenarioMismatch",
    "mtls_server",
    "mtls_stores",
    "run_session",
]

_engines_key = pytest.StashKey["EngineRegistry"]()
_ahead_key: pytest.StashKey[Ahead] = pytest.StashKey()
_roots_key = pytest.StashKey[tuple[Path, ...]]()


# -- engines, one registry per process (controller or xdist worker) ---------------


class EngineRegistry:
    """Engines by name, started lazily and closed at the end of the session."""

    def __init__(self, jdks: Any = ()) -> None:
        self._engines: dict[str, Engine] = {}
        # "jsse-11.0.10" -> that Runtime (from --mtls-jdk); plain "jsse" is the default JDK.
        self.jdks: dict[str, Any] = {f"jsse-{r.version}": r for r in jdks}

    def get(self, name: str) -> Engine:
        if name not in self._engines:
            runtime = self.jdks.get(name)
            [engine] = make_engines("python" if name == "python" else "jsse", None if runtime is None else [runtime])
            self._engines[name] = engine
        return self._engines[name]

    def item_engines(self, engines: tuple[str, ...]) -> list[str]:
        """One item per engine, and for jsse one per --mtls-jdk runtime ("jsse-21.0.8")."""
        out: list[str] = []
        for engine in engines:
            out += list(self.jdks) if engine == "jsse" and self.jdks else [engine]
        return out

    def close(self) -> None:
        for engine in self._engines.values():
            engine.close()
        self._engines.clear()


def run_session(args: list[str]) -> int:
    """pytest in this process with ``args`` (``mtls-harness run``'s, this plugin among them): its exit code."""
    return int(pytest.main(args))


def selected_engines(config: pytest.Config) -> tuple[str, ...]:
    choice = config.getoption("mtls_engine") or "all"
    return ENGINE_NAMES if choice == "all" else (choice,)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


# -- hooks ----------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "mtls_scenarios",
        type="paths",
        default=[],
        help="mtls-harness: files or folders whose scenario files (.toml with an [expect] table) are tests",
    )
    group = parser.getgroup("mtls-harness", "mtls-harness scenarios")
    group.addoption(
        "--mtls-scenarios",
        action="append",
        metavar="PATH",
        default=None,
        help="collect the scenario files under PATH (repeatable; replaces the mtls_scenarios ini option)",
    )
    group.addoption(
        "--mtls-engine",
        choices=("python", "jsse", "all"),
        default=None,
        help="client engine(s) to run each scenario with (default: all; jsse needs a JDK)",
    )
    group.addoption(
        "--mtls-jdk",
        action="append",
        metavar="VERSION|JAVA_HOME",
        default=None,
        help="run the jsse engine on this JDK (a version like 11, 11.0.10, 21 or a JDK folder); repeatable: "
        "one item per JDK (default: one jsse item on JAVA_HOME / PATH)",
    )
    group.addoption(
        "--mtls-key-cache",
        metavar="DIR",
        default=None,
        help="cache generated RSA-3072/4096 keys in DIR across runs (test keys; files 0600)",
    )
    group.addoption(
        "--mtls-scenario-dirs",
        action="store_true",
        default=False,
        help="collect every .toml file directly inside the folders given (what `mtls-harness run DIR` passes)",
    )
    group.addoption(
        "--mtls-validated",
        action="store_true",
        default=False,
        help="the scenario files were validated already (what `mtls-harness run -n` passes): each xdist worker "
        "reads a file only when it runs it, not all of them to collect",
    )
    group.addoption(
        "--mtls-chains",
        action="store_true",
        default=False,
        help="attach each scenario's client and server chains (certificates only) to its JUnit testcase, for "
        "the HTML report (what `mtls-harness run --html` passes)",
    )
    group.addoption(
        "--mtls-progress",
        action="store_true",
        default=False,
        help="a progress bar on stderr once the run takes more than 2 s (what `mtls-harness run` passes when "
        "stderr is a terminal and stdout is not)",
    )
    group.addoption(
        "--mtls-keep",
        metavar="DIR",
        default=None,
        help="keep each scenario's built stores, destination.json and server files under DIR/<scenario>",
    )


def _selected_jdks(config: pytest.Config) -> list[Any]:
    try:
        found, _ = resolve_jdks(config.getoption("mtls_jdk", None))
    except HarnessError as exc:
        raise pytest.UsageError(str(exc)) from None
    runtimes: list[Any] = []
    for runtime in found:
        if runtime.version not in {r.version for r in runtimes}:
            runtimes.append(runtime)
    return runtimes


def scenario_roots(config: pytest.Config) -> tuple[Path, ...]:
    """The files and folders whose scenario files are tests, absolute."""
    given = config.getoption("mtls_scenarios", None)
    if given:
        base = config.invocation_params.dir
        return tuple((base / path).resolve() for path in given)
    return tuple(Path(path).resolve() for path in config.getini("mtls_scenarios"))


def _collect_roots_too(config: pytest.Config, roots: tuple[Path, ...]) -> None:
    """Have pytest walk the scenario paths when it was given no paths of its own (or --mtls-scenarios)."""
    told = bool(config.getoption("mtls_scenarios", None))
    if config.args_source == pytest.Config.ArgsSource.ARGS and not told:
        return
    base = config.invocation_params.dir
    walked = [(base / arg.split("::")[0]).resolve() for arg in config.args]
    for root in roots:
        if root.exists() and not any(root.is_relative_to(path) for path in walked):
            config.args.append(str(root))


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_engines_key] = EngineRegistry(_selected_jdks(config))
    roots = scenario_roots(config)
    config.stash[_roots_key] = roots
    _collect_roots_too(config, roots)
    cache = config.getoption("mtls_key_cache", None)
    if cache:
        # Through the environment, so pytest-xdist workers inherit it.
        os.environ[KEY_CACHE_ENV] = str(Path(cache).resolve())
    config.addinivalue_line("markers", "scenario: an mtls-harness scenario file")
    if config.getoption("mtls_progress", False) and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_RunProgress(), "mtls-progress")


class _RunProgress:
    """``mtls-harness run``'s bar on stderr: one tick per test item, in the process that reports (xdist's too).

    Its clock starts with the session: a run over within ``PROGRESS_AFTER`` s draws nothing.
    """

    def __init__(self) -> None:
        self.bar = Bar(0, "run", "failed", enabled=True, after=PROGRESS_AFTER)

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self.bar.total = len(items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.bar.total = max(self.bar.total, len(ids))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.bar.tick(report.passed or report.skipped)

    @pytest.hookimpl(tryfirst=True)
    def pytest_terminal_summary(self) -> None:
        self.bar.clear()


def pytest_unconfigure(config: pytest.Config) -> None:
    ahead = config.stash.get(_ahead_key, None)
    if ahead is not None:
        ahead.close()  # scenarios prepared and never run (-x, Ctrl-C): servers stopped, folders removed
    registry = config.stash.get(_engines_key, None)
    if registry is not None:
        registry.close()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    # Which scenario comes next, so it can be prepared while this one is probed (harness.run).
    if isinstance(item, ScenarioItem):
        item.next_item = nextitem


def _ahead(config: pytest.Config) -> Ahead:
    """The scenarios prepared ahead (harness.run), made on first use: not in a run without scenarios."""
    ahead = config.stash.get(_ahead_key, None)
    if ahead is None:
        ahead = config.stash[_ahead_key] = Ahead()
    return ahead


def pytest_report_header(config: pytest.Config) -> list[str]:
    registry = config.stash[_engines_key]
    jdks = "".join(f"\n  jdk {r.version}: {r.home} ({r.origin})" for r in registry.jdks.values())
    lines = [f"mtls-harness engines: {', '.join(selected_engines(config))}{jdks}"]
    if (off := unavailable_reason()) is not None:
        lines.append(f"mtls-harness: {off}")
    return lines


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    verdict = getattr(item, "mtls_verdict", None)
    if verdict is not None and call.when == "call":
        # A plain attribute: pytest-xdist carries it to the controller with the report.
        report.mtls_verdict = verdict
    return report


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """With several JDKs: which JDK gave which verdict, one line per scenario."""
    if len(config.stash[_engines_key].jdks) < 2:
        return

    reports = [report for reports in terminalreporter.stats.values() for report in reports]
    lines = verdicts_per_jdk(getattr(report, "mtls_verdict", None) for report in reports)
    if not lines:
        return
    terminalreporter.section("mtls-harness: verdict per JDK")
    for line in lines:
        terminalreporter.write_line(line)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> ScenarioFile | None:
    if file_path.suffix != ".toml":
        return None
    session = parent.session
    roots = parent.config.stash.get(_roots_key, ())
    path = file_path.resolve()
    # A folder named on the command line, not its files one by one: pytest re-collects a folder for each file
    # argument in it (quadratic: 2,500 scenario files cost 6 million collector calls).
    in_given_dir = session.config.getoption("mtls_scenario_dirs") and session.isinitpath(file_path.parent)
    told = session.isinitpath(file_path) or in_given_dir or any(path == r or path.is_relative_to(r) for r in roots)
    if told and is_scenario_file(file_path):
        file: ScenarioFile = ScenarioFile.from_parent(parent, path=file_path)
        return file
    return None


# -- collection --------------------------------------------------------------------------


class ScenarioFile(pytest.File):
    running: Prepared | None = None
    _scenario: Scenario | None = None

    @property
    def scenario(self) -> Scenario:
        """The file's scenario, read on first use (its keys made in the background from then on)."""
        if self._scenario is None:
            self._scenario = load_scenario(self.path)
            prefetch_keys(self._scenario)
        return self._scenario

    def collect(self) -> Iterator[ScenarioItem]:
        # Every xdist worker collects every file; where `mtls-harness run` has validated them all already, a worker
        # reads only the files it is given to run (a scenario is named after its file: harness.scenario).
        lazy = self.config.getoption("mtls_validated") and hasattr(self.config, "workerinput")
        name = self.path.stem if lazy else self.scenario.name
        registry = self.config.stash[_engines_key]
        for engine in registry.item_engines(selected_engines(self.config)):
            # Start what is slow to start (the JVM, ~0.5 s) while the rest is
            # collected and the first scenario is built.
            registry.get(engine).warm_up()
            yield ScenarioItem.from_parent(self, name=f"{name}[{engine}]", engine=engine)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> str:  # type: ignore[override]
        if isinstance(excinfo.value, HarnessError):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def setup(self) -> None:
        """Build the stores and start the server once for all of this scenario's engines."""

        keep = self.config.getoption("mtls_keep")
        # Prepared in the background while the scenario before was probed, if it was (harness.run).
        prepared = _ahead(self.config).take(self.path) or prepare(self.scenario, keep)
        self.running = prepared

    def teardown(self) -> None:

        running, self.running = self.running, None
        if running is not None:
            discard(running)  # stops the server; the folder holds key material: never left behind


class ScenarioMismatch(Exception):
    """The scenario did not behave as its [expect] says."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class ScenarioItem(pytest.Item):
    def __init__(self, *, engine: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.engine = engine
        self.next_item: pytest.Item | None = None
        self.add_marker("scenario")

    def _prepare_next(self) -> None:
        if self.engine == "python":
            # Preparing is Python work: beside a python probe, whose server and client need the GIL too, it only
            # contends (measured: 250 scenarios 4.5 s without, 5.4 s with). Beside a JVM probe it overlaps.
            return
        following = self.next_item
        if isinstance(following, ScenarioItem) and following.parent is not self.parent:
            file = following.scenario_file
            if file.running is None:
                _ahead(self.config).start(file.path, file.scenario, self.config.getoption("mtls_keep"))

    @property
    def scenario_file(self) -> ScenarioFile:
        assert isinstance(self.parent, ScenarioFile)
        return self.parent

    def runtest(self) -> None:

        scenario = self.scenario_file.scenario
        running = self.scenario_file.running
        assert running is not None
        engine = self.config.stash[_engines_key].get(self.engine)
        reason = engine.unavailable_reason()
        if reason is not None:
            if in_ci():
                pytest.fail(f"{self.engine} engine unavailable in CI (CI=true): {reason}", pytrace=False)
            pytest.skip(f"{self.engine} engine unavailable: {reason}")
        off = ca_names_off(scenario, running, self.engine)
        if off is not None:
            if in_ci():
                pytest.fail(f"{self.name}: {off} (CI=true), and this scenario's outcome depends on them", pytrace=False)
            pytest.skip(f"{self.name}: {off}; this scenario's outcome depends on them")
        self._prepare_next()
        run = probe_prepared(scenario, running, engine)
        self.mtls_verdict = verdict_record(run, self.engine)
        report = report_lines(run, self.engine)
        if self.config.getoption("mtls_chains", False):
            entries = running.keystore.key_entries if running.keystore is not None else ()
            client = [(entry.alias, entry.chain) for entry in entries]
            self.user_properties.extend(chain_properties(client, running.built.material.server_chain))
        if run.verdict.code != run.expected:
            raise ScenarioMismatch("\n".join(report))
        # Captured: lands in the JUnit testcase's <system-out> and in -rA output.
        print("\n".join(report))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioMismatch):
            return excinfo.value.text
        if isinstance(excinfo.value, HarnessError):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo, style))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"scenario {self.name}"
