"""Mass properties of a Robot in numpy (no Taichi), as the engine computes them.

com_offsets(robot)     # [m] (N, 3) each body's centre of mass in its own frame
body_masses(robot)     # [kg] (N,) each body's total mass
"""

from __future__ import annotations

import numpy as np

from .schema import Robot


def com_offsets(robot: Robot) -> np.ndarray:
    """[m] (N, 3) each body's centre of mass in its own frame: the shape centres weighted by
    the shapes' resolved masses (as the engine computes it)."""
    out = []
    for body in robot.bodies:
        m = np.array([s.mass for s in body.shapes])
        p = np.array([s.pos for s in body.shapes], float)
        out.append((m[:, None] * p).sum(0) / m.sum())
    return np.array(out)


def body_masses(robot: Robot) -> np.ndarray:
    """[kg] (N,) total mass of each body."""
    return np.array([sum(s.mass for s in b.shapes) for b in robot.bodies])
