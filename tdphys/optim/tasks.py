"""Tasks: what a rollout is scored on. Each task builds its loss as a Taichi kernel that adds
into sim.loss[None] (so ti.ad.Tape differentiates it) and keeps each world's loss in a
gradient-free field for population methods, and reports task metrics in physical units.
"""
from __future__ import annotations

import numpy as np
import taichi as ti

from .experiment import Task


@ti.data_oriented
class BallThrow:
    """Degrave et al.'s ball throw: choose the initial linear and angular velocity of a ball
    so that after `duration` seconds it rests at `target` (x, y) [m] on the ground.

    Loss (per world, from the final state at T only):
        |p_xy(T) - target|^2 + w (|v(T)|^2 + r^2 |omega(T)|^2)        [m^2]
    with p the ball's COM [m], v [m/s], omega [rad/s], r the ball radius [m] (r omega is the
    rim speed) and w = velocity_weight [s^2]. A ball that still rolls at T also misses the
    position, so the position term dominates far from the optimum.

    Metrics: error_m = |p_xy(T) - target| [m]; speed_mps = |v(T)| [m/s]; rim_speed_mps =
    r |omega(T)| [m/s]. Success: error_m <= tolerance and speed_mps <= speed_tolerance.
    """

    def __init__(self, task: Task, sim):
        if sim.n_bodies != 1 or sim.robot.bodies[0].shapes[0].kind != "sphere":
            raise ValueError("ball_throw needs a robot with one body whose first shape is a "
                             "sphere (robots/ball.yaml)")
        self.task, self.sim = task, sim
        self.radius = float(sim.get_param("shape_radius")[0, 0])
        self.world_loss = ti.field(sim.real, shape=sim.batch)
        self.tx, self.ty = (float(c) for c in task.target)
        self.w = float(task.velocity_weight)

    @ti.kernel
    def loss_kernel(self):
        for b in range(self.sim.batch):  # every statement inside the loop (engine-notes 6)
            T = self.sim.steps
            p, v, om = self.sim.pos[T, b, 0], self.sim.vel[T, b, 0], self.sim.omega[T, b, 0]
            dx, dy = p[0] - self.tx, p[1] - self.ty
            r2 = self.radius * self.radius
            lw = dx * dx + dy * dy + self.w * (v.dot(v) + r2 * om.dot(om))
            self.world_loss[b] = lw
            self.sim.loss[None] += lw

    def losses(self) -> np.ndarray:
        """Loss of each world [m^2] after loss_kernel ran."""
        return self.world_loss.to_numpy().astype(float)

    def metrics(self) -> list[dict]:
        """Task metrics of each world from the last rollout (see the class docstring)."""
        T = self.sim.steps
        p = self.sim.pos.to_numpy()[T, :, 0].astype(float)
        v = self.sim.vel.to_numpy()[T, :, 0].astype(float)
        om = self.sim.omega.to_numpy()[T, :, 0].astype(float)
        err = np.hypot(p[:, 0] - self.tx, p[:, 1] - self.ty)
        speed = np.linalg.norm(v, axis=1)
        rim = self.radius * np.linalg.norm(om, axis=1)
        return [{"error_m": float(e), "speed_mps": float(s), "rim_speed_mps": float(r),
                 "final_pos_m": [float(c) for c in pp]}
                for e, s, r, pp in zip(err, speed, rim, p)]

    def success(self, m: dict) -> bool:
        return m["error_m"] <= self.task.tolerance and m["speed_mps"] <= self.task.speed_tolerance

    def target_point(self) -> np.ndarray:
        """[m] world point drawn by the viewer: the target on the ground."""
        return np.array([self.tx, self.ty, 0.0])


TASK_CLASSES = {"ball_throw": BallThrow}


def make_task(task: Task, sim):
    return TASK_CLASSES[task.type](task, sim)
