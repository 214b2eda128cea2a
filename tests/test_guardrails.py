"""The Python guardrails of `make test`: ruff's lint and format check on pybackend/, export/ and
tests/, and mypy on pybackend/ (their settings, and the lists of files their owners are still
editing, are in pyproject.toml). Each test prints the tool's findings on failure; `ruff format`,
`ruff check --fix` and `mypy` on the command line show and fix the same."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO_ROOT

#: Folders ruff checks; mypy's files are in pyproject.toml ([tool.mypy] files).
LINTED = ("pybackend", "export", "tests")
FORMATTED = ("pybackend", "export")


def _tool(name: str) -> str:
    """The tool of the interpreter's environment (the `dev` extra installs ruff and mypy)."""
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[dev]'")
    return found


def _run(*command: str) -> None:
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout[-6000:]}{result.stderr[-2000:]}"


def test_ruff_lint():
    _run(_tool("ruff"), "check", "--no-cache", *LINTED)


def test_ruff_format():
    _run(_tool("ruff"), "format", "--check", "--no-cache", *FORMATTED)


def test_mypy():
    _run(_tool("mypy"))
