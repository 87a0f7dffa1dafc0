"""tdphys: differentiable 3D rigid-body physics on Taichi.

    import tdphys
    tdphys.init(arch="cpu", precision="f64")
    robot = tdphys.load("robots/pendulum.yaml")
    sim = tdphys.Simulation(robot, batch=4, steps=200)
"""
from .backend import init
from .errors import BackendError, ControlsError, ModelError, SimulationDiverged, TdphysError


def load(path):
    """Load and validate a robot YAML file (see docs/robot-format.md)."""
    from .model.loader import load_robot
    return load_robot(path)


def __getattr__(name):
    # Simulation imports Taichi kernels; keep `import tdphys` cheap until it is needed.
    if name == "Simulation":
        from .engine.simulation import Simulation
        return Simulation
    raise AttributeError(name)


__all__ = ["init", "load", "Simulation", "TdphysError", "ModelError", "SimulationDiverged",
           "BackendError", "ControlsError"]
