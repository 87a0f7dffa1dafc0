"""Shared fixtures: the Taichi backend (f64 on CPU unless TDPHYS_ARCH says otherwise), reset
after every test module, and the robots folder."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def backend64():
    from tdphys import backend
    return backend.init(backend.env_arch("cpu"), "f64")   # a no-op when already running


@pytest.fixture(autouse=True, scope="module")
def fresh_taichi_per_module():
    """Reset Taichi after each test module: a kernel compiles against every SNode tree alive
    in the process (one per Simulation), so without it compiles slow down through the
    session (measured: the same test 45 s alone, 126 s late in the suite)."""
    yield
    from tdphys import backend
    backend.reset()


@pytest.fixture(scope="session")
def robots_dir():
    return ROOT / "robots"
