"""Every command and option of ``mtls-harness`` explains itself; ``--version`` names the installed version."""

from __future__ import annotations

import argparse
import importlib.metadata
from pathlib import Path

from harness.cli.main import _parser
from tests.conftest import assert_one_line_error, cli

REPO = Path(__file__).resolve().parent.parent


def undocumented(parser: argparse.ArgumentParser, path: str = "mtls-harness") -> list[str]:
    """Commands and options of ``parser`` (recursively) without a help text."""
    missing: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                if not (helps.get(name) or "").strip():
                    missing.append(f"{path} {name}")
                missing += undocumented(sub, f"{path} {name}")
        elif isinstance(action, argparse._HelpAction | argparse._VersionAction):
            continue
        elif not (action.help or "").strip() or action.help == argparse.SUPPRESS:
            missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    return missing


def test_every_command_and_option_has_a_help_text() -> None:
    parser = _parser()
    assert undocumented(parser) == []
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert {"run", "build", "serve", "check", "keystore", "truststore"} <= set(commands.choices)


def test_the_walker_finds_an_undocumented_option_and_command() -> None:
    parser = argparse.ArgumentParser(prog="x")
    commands = parser.add_subparsers()
    sub = commands.add_parser("quiet")  # no help
    sub.add_argument("--thing")  # no help
    sub.add_argument("--other", help="documented")
    assert undocumented(parser, "x") == ["x quiet", "x quiet --thing"]


def test_version_prints_the_installed_version(tmp_path: Path) -> None:
    done = cli("--version", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"mtls-harness {importlib.metadata.version('mtls-harness')}\n"
    assert done.stderr == ""


def test_an_unknown_option_is_still_a_one_line_usage_error(tmp_path: Path) -> None:
    assert_one_line_error(cli("run", "--verzion", cwd=tmp_path), "--verzion")


def test_every_command_help_exits_0(tmp_path: Path) -> None:
    for command in ("run", "build", "serve", "check", "keystore", "truststore"):
        done = cli(command, "--help", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert f"usage: mtls-harness {command}" in done.stdout
