"""The CI recipes of docs/ci/, run: their shell commands, in order, with their environment.

Each recipe is parsed (YAML for GitHub Actions and GitLab CI, the Jenkinsfile's
``environment`` block and ``sh`` steps), its commands are run with ``bash`` in a
copy of examples/partner-client, with the wheel of this checkout as
``MTLS_HARNESS_PACKAGE`` and the venv it is installed in first on PATH, and the
JUnit reports it says it publishes must exist and be green. What this machine
cannot run (the CI's own ``uses:`` actions, uploads) is checked for being there.
The JDK installation line runs only where no JDK is present.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from junitparser import Error, Failure, JUnitXml

from tests.installed import REPO, Installed, no_compiler_env, shared_install

pytestmark = pytest.mark.install

CI_DIR = REPO / "docs" / "ci"
EXAMPLE = REPO / "examples" / "partner-client"
REPORTS = {"reports/mtls-scenarios.xml": 4, "reports/tests.xml": 5}


@dataclass(frozen=True)
class Recipe:
    env: dict[str, str]
    commands: list[str]
    junit: str  # the report glob it publishes
    caches: list[str]  # folders it caches, relative to the project (or absolute)


def _lines(script: str) -> list[str]:
    return [line.strip() for line in script.splitlines() if line.strip() and not line.strip().startswith("#")]


def github(project: Path) -> Recipe:
    doc = yaml.safe_load((CI_DIR / "github-actions.yml").read_text())
    job = doc["jobs"]["mtls"]
    env = {k: str(v).replace("${{ github.workspace }}", str(project)) for k, v in job["env"].items()}
    steps = job["steps"]
    uses = {step["uses"].split("@")[0]: step for step in steps if "uses" in step}
    assert uses["actions/setup-java"]["with"]["java-version"] == "17"
    uploads = [s for s in steps if s.get("uses", "").startswith(("actions/upload-artifact", "mikepenz/"))]
    assert uploads, "no JUnit upload"
    assert all(s.get("if") == "always()" for s in uploads), "JUnit must be uploaded when a step fails"
    junit = uses["actions/upload-artifact"]["with"]["path"]
    commands = [line for step in steps if "run" in step for line in _lines(step["run"])]
    return Recipe(env, commands, junit, [uses["actions/cache"]["with"]["path"]])


def gitlab(project: Path) -> Recipe:
    job = yaml.safe_load((CI_DIR / "gitlab-ci.yml").read_text())["mtls"]
    env = {k: str(v).replace("$CI_PROJECT_DIR", str(project)) for k, v in job["variables"].items()}
    assert job["artifacts"]["when"] == "always"
    commands = [line for part in ("before_script", "script") for entry in job[part] for line in _lines(entry)]
    return Recipe(env, commands, job["artifacts"]["reports"]["junit"], job["cache"]["paths"])


def jenkins(project: Path) -> Recipe:
    text = (CI_DIR / "Jenkinsfile").read_text()
    volume = re.search(r"-v [\w-]+:(/\S+)'", text)
    assert volume, "no cache volume in the docker agent"
    cache_root = volume.group(1)
    block = re.search(r"environment \{(.*?)\n    \}", text, re.S)
    assert block
    env = {
        m.group(1): m.group(2).replace(cache_root, str(project / ".cache"))
        for m in re.finditer(r"^\s*(\w+) = '([^']*)'", block.group(1), re.M)
    }
    commands = re.findall(r"^\s*sh '(.*)'$", text, re.M)
    post = text[text.index("post {") :]
    junit = re.search(r"junit '([^']+)'", post)
    assert junit
    assert "always" in post[: junit.start()]
    return Recipe(env, commands, junit.group(1), [str(project / ".cache")])


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    return shared_install(tmp_path_factory)


def _jdk_present() -> bool:
    home = os.environ.get("JAVA_HOME")
    return bool(shutil.which("java") or (home and (Path(home) / "bin" / "java").is_file()))


@pytest.mark.parametrize("parse", [github, gitlab, jenkins], ids=["github-actions", "gitlab-ci", "jenkins"])
def test_recipe_commands_run_and_publish_green_junit(installed: Installed, tmp_path: Path, parse: object) -> None:
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__"))
    recipe = parse(project)  # type: ignore[operator]
    env = no_compiler_env(**recipe.env)
    assert env["CI"] == "true"
    cache = Path(env["XDG_CACHE_HOME"])
    assert any(cache == (project / c.rstrip("/")).resolve() or cache == Path(c) for c in recipe.caches), (
        f"{cache} is not among the cached folders {recipe.caches}"
    )
    assert Path(env["MTLS_HARNESS_KEY_CACHE"]).is_relative_to(cache)
    assert Path(env["PIP_CACHE_DIR"]).is_relative_to(cache)
    # This checkout's wheel, never whatever PyPI has under that name.
    env["MTLS_HARNESS_PACKAGE"] = str(installed.wheel)
    env["PATH"] = f"{installed.bin('python').parent}{os.pathsep}{env['PATH']}"
    if "JAVA_HOME" in os.environ:
        env["PATH"] = f"{Path(os.environ['JAVA_HOME']) / 'bin'}{os.pathsep}{env['PATH']}"
    ran = []
    for command in recipe.commands:
        if command.startswith("apt-get") and _jdk_present():
            continue  # the JDK set-up: this machine has one
        done = subprocess.run(
            ["bash", "-eo", "pipefail", "-c", command],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert done.returncode == 0, (
            f"{command!r} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
        ran.append(command)
    assert any(c.startswith("mtls-harness run") for c in ran)
    assert any("pytest" in c for c in ran)
    published = sorted(str(p.relative_to(project)) for p in project.glob(recipe.junit))
    assert published == sorted(REPORTS)
    for report, count in REPORTS.items():
        cases = [case for suite in JUnitXml.fromfile(str(project / report)) for case in suite]
        assert len(cases) == count, report
        assert not [c.name for c in cases if any(isinstance(r, Failure | Error) for r in c.result)], report
    # What lands in the cache depends on the run (the JSSE probe ships compiled; JDK runtimes and pool keys go
    # there only when asked for): the recipe's environment pointing every cache into it is checked above.
