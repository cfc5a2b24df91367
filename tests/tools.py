"""Tools the suite needs from `./run setup` (Chromium, node and the npm packages, ffprobe,
promtool). Setup installs all of them, so a missing one is a broken setup: the test fails
and says which tool and how to get it, it never skips (only Docker tests may skip)."""

from __future__ import annotations

import shutil

import pytest


def require(problem: str | None) -> None:
    """Fail the test when `problem` (what is missing) is set."""
    if problem:
        pytest.fail(f"{problem}; ./run setup installs it (a missing tool is a broken setup, "
                    "not a reason to skip)", pytrace=False)


def tool(name: str, package: str) -> str:
    """The path of executable `name` (from Debian package `package`), or a failed test."""
    found = shutil.which(name)
    require(None if found else f"{name} is not installed (Debian package `{package}`)")
    assert found is not None
    return found
