"""Where a catalogue scenario is installed, if it is: explain points only at files that exist.

A candidate names its code's catalogue scenario (the codes registry's ``scenario``)
only when that scenario's file is there to open: inside the installed package
(``harness/scenarios/``: the wheel ships the catalogue there; in a source checkout
it is a link to the project's ``scenarios/`` folder) or the checkout's ``scenarios/``. Anything else
(a wheel without the catalogue, a registry entry that says one is pending) gets
no pointer at all.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

__all__ = ["catalogue_folders", "shipped_scenario"]

_PACKAGE = Path(str(resources.files("harness")))


@functools.cache
def catalogue_folders() -> tuple[Path, ...]:
    """The folders the installed catalogue is in, most specific first (none: the package ships none)."""
    folders = []
    inside = _PACKAGE / "scenarios"
    if inside.is_dir():
        folders.append(inside)
    checkout = _PACKAGE.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "scenarios").is_dir():
        folders.append(checkout / "scenarios")
    return tuple(folders)


def shipped_scenario(name: str) -> Path | None:
    """The absolute path of catalogue scenario ``name``, or None when no installed catalogue holds it."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    for folder in catalogue_folders():
        path = folder / f"{name}.toml"
        if path.is_file():
            return path.resolve()
    return None
