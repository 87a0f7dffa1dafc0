"""Shared fixtures: the Taichi backend (f64 on CPU unless TDPHYS_ARCH says otherwise), reset
after every test module, and the robots folder."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# pytest's captured sys.stdout makes Taichi wrap every kernel launch to flush kernel print()
# output (taichi/lang/shell.py): about 10 us a launch, and a gradient test launches 10^5 times.
os.environ.setdefault("TI_ENABLE_PYBUF", "0")


@pytest.fixture(scope="module")
def backend64():
    from tdphys import backend

    return backend.init(backend.env_arch("cpu"), "f64")  # a no-op when already running


@pytest.fixture
def builds():
    """The simulations a test's runs build (tdphys.optim.builds.Builds), shared among the runs
    of one test (a run and its resume, a run and its replay). Per test, since Taichi restarts
    before each one (fresh_taichi_per_test) and takes the fields of every simulation with it;
    a rebuilt one loads its kernels from the offline cache."""
    from tdphys.optim.builds import Builds

    return Builds()


@pytest.fixture(autouse=True)
def fresh_taichi_per_test(request):
    """Restart Taichi before each test, except in modules marked
    `pytestmark = pytest.mark.taichi_per_module` (their module-scoped fixtures hold fields).
    Every test thus builds what it needs, whatever ran before it; and a fresh Taichi gives a
    test's fields the same SNode ids as an earlier test that built the same robot the same
    way, so its kernels load from the offline cache that test filled, even on a cold CI
    machine; several simulations alive would also slow every compile (see
    fresh_taichi_per_module)."""
    from tdphys import backend

    if not request.node.get_closest_marker("taichi_per_module"):
        if backend.running():
            backend.reset()
        if "backend64" in request.fixturenames:  # module-scoped: initialise it again
            backend.init(backend.env_arch("cpu"), "f64")
    yield


@pytest.fixture(autouse=True, scope="module")
def fresh_taichi_per_module():
    """Reset Taichi after each test module: a kernel compiles against every SNode tree alive
    in the process (one per Simulation), so without it compiles slow down through the
    session."""
    yield
    from tdphys import backend

    backend.reset()


# ------------------------------------------------------------------ file order for xdist
# `-n 2 --dist loadfile` hands each worker whole files in collection order as it frees up, so
# the suite ends when the last long file does. The longest files first, the rest in their
# usual order after them: the two workers then finish within a short file of each other.
# test_backends.py goes first because its tests wait on two subprocesses (Vulkan and the CPU
# f64 reference) that then overlap the other worker's files; test_adjoint_access_rule.py
# last, its subprocess started with the session (below) is done by then.
LONGEST_FIRST = (
    "test_backends.py",
    "test_optimize.py",
    "test_experiments.py",
    "test_pixels.py",
    "test_starts.py",
    "test_gradients.py",
    "test_physics.py",
    "test_camera.py",
    "test_vision_controller.py",
)
LAST = ("test_adjoint_access_rule.py",)


def pytest_collection_modifyitems(config, items):
    first = {name: i for i, name in enumerate(LONGEST_FIRST)}

    def rank(item):
        name = item.path.name
        return (0, first[name]) if name in first else (2, 0) if name in LAST else (1, 0)

    items.sort(key=rank)  # stable: tests keep their order within a file


@pytest.fixture(scope="session")
def robots_dir():
    return ROOT / "robots"


# ------------------------------------------------------------------ early background worker
# tests/test_adjoint_access_rule.py needs a subprocess of minutes (Taichi's debug mode is
# process-wide). Started when the session begins (in the xdist controller, whose environment
# the workers inherit) it overlaps the other tests instead of running alone at the end.
_ACCESS_TEST = "test_adjoint_access_rule.py"
_ACCESS_ENV = "TDPHYS_ADJOINT_ACCESS_OUT"


def _start_adjoint_access_worker(out_file: Path):
    import subprocess
    import sys

    # the child writes the exit status next to its output once it ends, crash or not
    code = (
        "import subprocess, sys; "
        "r = subprocess.run([sys.argv[1], sys.argv[2], sys.argv[3]], "
        "stdout=open(sys.argv[4], 'w'), stderr=subprocess.STDOUT); "
        "open(sys.argv[4] + '.rc~', 'w').write(str(r.returncode)); "
        "import os; os.replace(sys.argv[4] + '.rc~', sys.argv[4] + '.rc')"
    )
    here = Path(__file__).resolve().parent
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            sys.executable,
            str(here / "adjoint_access_worker.py"),
            str(here),
            str(out_file),
        ]
    )


def _selects_access_test(config) -> bool:
    """True when this run will surely run the access-rule test: no -k/-m filter, and the
    arguments name the tests folder, the file or nothing (testpaths)."""
    if config.option.keyword or config.option.markexpr:
        return False
    args = [a for a in config.args if not a.startswith("-")]
    here = Path(__file__).resolve().parent
    for a in args or [str(here)]:
        p = Path(a.split("::")[0]).resolve()
        if p == here or p == ROOT or p.name == _ACCESS_TEST:
            return True
    return False


def pytest_configure(config):
    if getattr(config.option, "loadscopereorder", None):
        config.option.loadscopereorder = False  # xdist would sort files by test count
    if hasattr(config, "workerinput") or os.environ.get(_ACCESS_ENV):
        return  # an xdist worker: the controller started it (or the test will)
    if _selects_access_test(config):
        import tempfile

        out = Path(tempfile.mkdtemp(prefix="tdphys-access-")) / "worker.log"
        os.environ[_ACCESS_ENV] = str(out)
        config._adjoint_access_worker = _start_adjoint_access_worker(out)


def pytest_unconfigure(config):
    proc = getattr(config, "_adjoint_access_worker", None)
    if proc is not None and proc.poll() is None:
        proc.kill()  # the run was cut short


def adjoint_access_output(timeout: float = 900.0) -> tuple[int, str]:
    """(exit status, output) of the access-rule worker: the one started with the session,
    or a fresh one when none was."""
    import tempfile
    import time

    out = os.environ.get(_ACCESS_ENV)
    if not out:
        out = str(Path(tempfile.mkdtemp(prefix="tdphys-access-")) / "worker.log")
        _start_adjoint_access_worker(Path(out))
    rc_file, t0 = Path(out + ".rc"), time.monotonic()
    while not rc_file.exists():
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"the access-rule worker wrote no result in {timeout:.0f} s")
        time.sleep(1.0)
    return int(rc_file.read_text()), Path(out).read_text()
