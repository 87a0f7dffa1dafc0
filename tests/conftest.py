"""Shared fixtures: one Taichi backend per test session (f64 on CPU unless TDPHYS_ARCH says
otherwise), and small robots built in code."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def backend64():
    from tdphys import backend
    return backend.init(backend.env_arch("cpu"), "f64")


@pytest.fixture(scope="session")
def robots_dir():
    return ROOT / "robots"
