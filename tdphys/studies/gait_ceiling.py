"""How fast can the robot of a gait experiment walk at all? (`demos/gait_ceiling.py`)

A gait experiment sets a target speed (the quadruped's: the paper's 1.17 m/s), and a learning
curve below it can mean a weak optimiser or a target the robot cannot reach. This estimates
the speed the robot can reach with periodic commands at the controller's clock frequency F:
every motor m follows the open-loop command

    u_m(t) = c_m0 + sum_{k=1..K} (a_mk sin(2 pi k F t) + b_mk cos(2 pi k F t))   [rad or m]

(the same commands the clock-driven MLP can produce, in a few numbers), and CMA-ES searches the
8 (2K + 1) coefficients of the quadruped with one batched forward rollout per generation (no
gradients). The best speed found is a lower bound on the robot's reachable speed: CMA-ES may
miss better gaits, and the MLP could in principle make sharper waveforms than K harmonics.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np


@dataclasses.dataclass
class Ceiling:
    """best_speed [m/s] along the task's direction over its duration, reached by `coeffs`
    (motors x (2K + 1): c_0, a_1, b_1, ..., a_K, b_K); `curve`: (rollouts so far, best speed)
    after each generation; controls: the best command table (T, motors)."""

    best_speed: float
    coeffs: np.ndarray
    controls: np.ndarray
    rollouts: int
    wall_s: float
    curve: list


def clock_hz(exp) -> float:
    """The frequency of the experiment controller's clock input [Hz]."""
    from ..control import MLPSpec

    inputs = exp.controller.inputs if isinstance(exp.controller, MLPSpec) else ()
    for inp in inputs:
        if inp.kind == "clock":
            return float(inp.hz)
    raise ValueError(f"{exp.file}: the controller has no clock input; give --hz")


def basis(steps: int, dt: float, hz: float, harmonics: int) -> np.ndarray:
    """(T, 2K + 1): 1, sin(2 pi k F t), cos(2 pi k F t) for k = 1..K at t = 0, dt, ..."""
    w = 2 * math.pi * hz * np.arange(steps) * dt
    cols = [np.ones(steps)]
    for k in range(1, harmonics + 1):
        cols += [np.sin(k * w), np.cos(k * w)]
    return np.stack(cols, axis=1)


def reachable_speed(
    exp,
    hz: float | None = None,
    harmonics: int = 2,
    generations: int = 300,
    popsize: int = 64,
    sigma: float = 0.3,
    seed: int = 1,
    max_force: float | None = None,
    report=None,
) -> Ceiling:
    """CMA-ES over periodic commands for the gait experiment `exp` (its robot, overrides,
    duration, body and direction; `max_force` [N m] replaces every motor's max_force). Needs
    tdphys.backend.init() first. report(generation, Ceiling so far) is called after each
    generation."""
    import cma

    from ..engine.simulation import Simulation
    from ..model.robot_file import load_robot_file as load_robot
    from ..optim.params import apply_overrides
    from ..tasks import make_task

    if exp.task.type != "gait":
        raise ValueError(f"{exp.file}: task.type is {exp.task.type}; the ceiling is for gait")
    hz = clock_hz(exp) if hz is None else float(hz)
    robot = load_robot(exp.robot)
    steps = int(round(exp.task.duration / robot.solver.dt))
    sim = Simulation(robot, batch=popsize, steps=steps)
    apply_overrides(exp, sim)
    if max_force is not None:
        sim.set_param(
            "motor_max_force", np.full(sim.get_param("motor_max_force").shape, float(max_force))
        )
    task = make_task(exp.task, sim)
    B = basis(steps, sim.dt, hz, harmonics)
    n_motors, n_coef = sim.n_motors, B.shape[1]

    def speeds(X: np.ndarray) -> np.ndarray:
        sim.set_controls(np.einsum("tk,bmk->tbm", B, X.reshape(len(X), n_motors, n_coef)))
        sim.rollout(check=False)
        v = np.array([m["speed_mps"] for m in task.metrics()])
        return np.where(np.isfinite(v), v, -np.inf)  # a diverged world ranks last

    es = cma.CMAEvolutionStrategy(
        np.zeros(n_motors * n_coef), sigma, {"popsize": popsize, "seed": seed, "verbose": -9}
    )
    best, best_x, curve, t0 = -np.inf, np.zeros(n_motors * n_coef), [], time.perf_counter()
    result = None
    for g in range(generations):
        X = np.asarray(es.ask())
        v = speeds(X)
        es.tell(list(X), list(np.where(np.isfinite(v), -v, 1e30)))
        if v.max() > best:
            best, best_x = float(v.max()), X[int(np.argmax(v))].copy()
        curve.append(((g + 1) * popsize, best))
        C = best_x.reshape(n_motors, n_coef)
        result = Ceiling(best, C, B @ C.T, (g + 1) * popsize, time.perf_counter() - t0, curve)
        if report is not None:
            report(g, result)
    return result
