"""``check``'s first look: the destination's keystore and truststore as Python reads them.

``harness.stores`` (over pyjks and cryptography) opens each file with its
password; what it gives, or the StoreError it raises, is the evidence. The JDK's
own reading follows (``harness.check.jdk``); the judge weighs both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.destination import Destination
from harness.errors import StoreError
from harness.secret import Secret
from harness.stores import Role, StoreContents, read_store

__all__ = ["PythonReading", "read_stores"]


@dataclass(frozen=True)
class PythonReading:
    """One store as Python read it: its contents, or why not."""

    role: Role
    path: Path
    password: Secret
    contents: StoreContents | None = None
    error: StoreError | None = None
    folder: bool = False  # the path names a folder: nothing was read

    @property
    def label(self) -> str:
        return self.path.name


def read_stores(destination: Destination) -> tuple[PythonReading, PythonReading]:
    """The keystore's and the truststore's reading, in that order."""
    return (
        _read(destination.keystore, destination.keystore_password, "keystore"),
        _read(destination.truststore, destination.truststore_password, "truststore"),
    )


def _read(path: Path, password: Secret, role: Role) -> PythonReading:
    if path.is_dir():
        return PythonReading(role, path, password, folder=True)
    try:
        return PythonReading(role, path, password, contents=read_store(path, password, role))
    except StoreError as exc:
        return PythonReading(role, path, password, error=exc)
