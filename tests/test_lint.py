"""The code passes ruff's lint rules and is laid out as `ruff format` lays it out, both as
configured in pyproject.toml ([tool.ruff]), so CI's one test command checks style too."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "command, fix",
    [
        (["check", "--no-cache", "."], "ruff check --fix ."),
        (["format", "--check", "--no-cache", "."], "ruff format ."),
    ],
)
def test_ruff_finds_nothing(command, fix):
    p = subprocess.run(
        [sys.executable, "-m", "ruff", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, f"run `{fix}`:\n" + p.stdout[-4000:] + p.stderr[-2000:]
