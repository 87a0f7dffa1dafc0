"""tdphys: differentiable 3D rigid-body physics on Taichi.

    import tdphys
    tdphys.init(arch="cpu", precision="f64")
    robot = tdphys.load("robots/pendulum.yaml")
    sim = tdphys.Simulation(robot, batch=4, steps=200)
"""
from .errors import (BackendError, ControlsError, GradientDiverged, ModelError,
                     SimulationDiverged, TdphysError)


def init(arch: str = "cpu", precision: str = "f32", debug: bool = False,
         cpu_threads: int | None = None):
    """Start Taichi (see tdphys.backend.init); imported lazily so the model loader and the
    command line's help work without Taichi."""
    from .backend import init as _init
    return _init(arch, precision, debug, cpu_threads)


def load(path, vars=None, approximate=False, report=None):
    """Load and validate a robot: a YAML file (docs/robot-format.md), whose `vars:` values
    `vars` ({name: value}) replaces, or an MJCF / URDF file (.xml, .urdf, .mjcf) through
    MuJoCo's compiler (docs/mjcf.md; needs the `mujoco` package), where `approximate` lets mesh
    geoms become fitted boxes or capsules, each one told to `report` (default: print)."""
    from pathlib import Path

    from .model.mjcf import MJCF_SUFFIXES, load_mjcf
    if Path(path).suffix.lower() in MJCF_SUFFIXES:
        if vars:
            raise ModelError(str(path), "vars", "an MJCF or URDF file has no `vars:` to replace",
                             "convert it to YAML (tdphys convert), declare `vars:` there and "
                             "give the values to that file")
        return load_mjcf(path, approximate, report)
    if approximate:
        raise ModelError(str(path), "", "--approximate applies to MJCF and URDF files (their "
                         "mesh geoms); a YAML robot has none", "leave --approximate out")
    from .model.loader import load_robot
    return load_robot(path, vars)


def __getattr__(name):
    # Simulation imports Taichi kernels; keep `import tdphys` cheap until it is needed.
    if name == "Simulation":
        from .engine.simulation import Simulation
        return Simulation
    if name in ("backend", "gradcheck"):
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(name)


__all__ = ["init", "load", "Simulation", "TdphysError", "ModelError", "SimulationDiverged",
           "GradientDiverged", "BackendError", "ControlsError"]
