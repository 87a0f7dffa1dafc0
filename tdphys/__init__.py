"""tdphys: differentiable 3D rigid-body physics on Taichi.

import tdphys
tdphys.init(arch="cpu", precision="f64")
robot = tdphys.load("robots/pendulum.yaml")
sim = tdphys.Simulation(robot, batch=4, steps=200)
"""

from .errors import (
    BackendError,
    ControlsError,
    GradientDiverged,
    ModelError,
    SimulationDiverged,
    TdphysError,
)


def init(
    arch: str = "cpu", precision: str = "f32", debug: bool = False, cpu_threads: int | None = None
):
    """Start Taichi (see tdphys.backend.init); imported lazily so the model loader and the
    command line's help work without Taichi."""
    from .backend import init as _init

    return _init(arch, precision, debug, cpu_threads)


def load(path, vars=None, approximate=False, report=None):
    """Load and validate a robot file: YAML, or MJCF / URDF through MuJoCo's compiler (see
    tdphys.model.robot_file.load_robot_file)."""
    from .model.robot_file import load_robot_file

    return load_robot_file(path, vars, approximate, report)


def __getattr__(name):
    # Simulation imports Taichi kernels; keep `import tdphys` cheap until it is needed.
    if name == "Simulation":
        from .engine.simulation import Simulation

        return Simulation
    if name in ("backend", "gradcheck"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(name)


__all__ = [
    "init",
    "load",
    "Simulation",
    "TdphysError",
    "ModelError",
    "SimulationDiverged",
    "GradientDiverged",
    "BackendError",
    "ControlsError",
]
