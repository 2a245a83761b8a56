"""Where the JDK is: the Java client needs `java` (a JDK, for the single-file source launcher)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


@pytest.fixture
def java() -> str:
    home = os.environ.get("JAVA_HOME")
    found = (
        str(Path(home) / "bin" / "java") if home and (Path(home) / "bin" / "java").is_file() else shutil.which("java")
    )
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true and no JDK: install one or set JAVA_HOME", pytrace=False)
        pytest.skip("no JDK: install one or set JAVA_HOME")
    return found
