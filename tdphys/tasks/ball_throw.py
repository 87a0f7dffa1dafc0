"""The ball throw (`task: {type: ball_throw}`), after Degrave et al.: choose the initial
linear and angular velocity of a ball so that after `duration` seconds it rests at `target`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import taichi as ti

from ..model.yamlread import Map, non_negative, numbers, positive
from .base import Task, TaskConfig, read_duration, read_fields, read_tolerance

KEYS = {"type", "duration", "target", "tolerance", "speed_tolerance", "velocity_weight"}


@dataclass(frozen=True)
class BallThrowConfig(TaskConfig):
    """target (x, y) [m] on the ground; tolerance [m] and speed_tolerance [m/s]: success;
    velocity_weight w [s^2] of the final speed in the loss."""

    type = "ball_throw"
    target: tuple[float, float] = (10.0, 0.0)
    tolerance: float = 0.01
    speed_tolerance: float = 0.01
    velocity_weight: float = 1.0


def parse(m: Map) -> BallThrowConfig:
    return BallThrowConfig(
        **read_fields(
            m,
            {
                "duration": read_duration,
                "target": lambda a: numbers(a, 2),
                "tolerance": read_tolerance,
                "speed_tolerance": lambda a: positive(a, "[m/s]"),
                "velocity_weight": non_negative,
            },
        )
    )


@ti.data_oriented
class BallThrow(Task):
    """Loss (per world, from the final state at T only):
        |p_xy(T) - target|^2 + w (|v(T)|^2 + r^2 |omega(T)|^2)        [m^2]
    with p the ball's COM [m], v [m/s], omega [rad/s], r the ball radius [m] (r omega is the
    rim speed) and w = velocity_weight [s^2]. A ball that still rolls at T also misses the
    position, so the position term dominates far from the optimum.

    Metrics: error_m = |p_xy(T) - target| [m]; speed_mps = |v(T)| [m/s]; rim_speed_mps =
    r |omega(T)| [m/s]. Success: error_m <= tolerance and speed_mps <= speed_tolerance.
    """

    headline = ("error_m", "m")
    better = "lower"

    def __init__(self, config: BallThrowConfig, sim):
        if sim.n_bodies != 1 or sim.robot.bodies[0].shapes[0].kind != "sphere":
            raise ValueError(
                "ball_throw needs a robot with one body whose first shape is a "
                "sphere (robots/ball.yaml)"
            )
        super().__init__(config, sim)
        self.radius = float(sim.get_param("shape_radius")[0, 0])
        self.tx, self.ty = (float(c) for c in config.target)
        self.w = float(config.velocity_weight)

    @ti.kernel
    def loss_kernel(self):
        ti.loop_config(serialize=self.sim.backend.ordered_sums)  # tasks/base.py docstring
        for b in range(self.sim.batch):  # every statement inside the loop (engine-notes 6)
            T = self.sim.steps
            p, v, om = (
                self.sim.state.pos[T, b, 0],
                self.sim.state.vel[T, b, 0],
                self.sim.state.omega[T, b, 0],
            )
            dx, dy = p[0] - self.tx, p[1] - self.ty
            r2 = self.radius * self.radius
            lw = dx * dx + dy * dy + self.w * (v.dot(v) + r2 * om.dot(om))
            self.world_loss[b] = lw
            self.sim.loss[None] += lw

    def reset(self):
        pass  # loss_kernel stores each world's loss

    def metrics(self) -> list[dict]:
        final = {k: a[-1, :, 0].astype(float) for k, a in self.sim.poses().items()}
        p, v, om = final["pos"], final["vel"], final["omega"]
        err = np.hypot(p[:, 0] - self.tx, p[:, 1] - self.ty)
        speed = np.linalg.norm(v, axis=1)
        rim = self.radius * np.linalg.norm(om, axis=1)
        return [
            {
                "error_m": float(e),
                "speed_mps": float(s),
                "rim_speed_mps": float(r),
                "final_pos_m": [float(c) for c in pp],
            }
            for e, s, r, pp in zip(err, speed, rim, p)
        ]

    def success(self, m: dict) -> bool:
        return (
            m["error_m"] <= self.config.tolerance and m["speed_mps"] <= self.config.speed_tolerance
        )

    def target_point(self) -> np.ndarray:
        """[m] world point drawn by the viewer: the target on the ground."""
        return np.array([self.tx, self.ty, 0.0])
