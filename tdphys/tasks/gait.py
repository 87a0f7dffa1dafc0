"""Locomotion (`task: {type: gait}`): move a body as fast as possible along a ground
direction."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import taichi as ti

from ..engine.tmath import quat_rotate, quat_rotate_inv
from ..model.yamlread import At, Map, non_negative, number, numbers, string
from ..rotations import quat_conj, rotate
from .base import (
    CONTROL_COST,
    ControlCost,
    Task,
    TaskConfig,
    body_index,
    check_body,
    check_confirm,
    read_duration,
    read_fields,
    read_starts,
)

KEYS = {
    "type",
    "duration",
    "body",
    "direction",
    "target_speed",
    "max_tilt",
    "min_upright",
    "starts",
    "confirm",
    "confirm_starts",
    "control_cost",
    "upright_cost",
}


@dataclass(frozen=True)
class GaitConfig(TaskConfig):
    """body: the body whose speed counts ("": the first, the torso); direction (x, y) on the
    ground; target_speed [m/s]: success; max_tilt [deg]: the body counts as upright while the
    axis that points up at the start leans at most this far from vertical; min_upright: the
    fraction of steps it must be upright for success (0: any); control_cost: weight of the
    commands' squares (tasks/base.py ControlCost); upright_cost [m/s]: weight of the mean
    tilt term of the loss (Gait)."""

    type = "gait"
    body: str = ""
    direction: tuple[float, float] = (1.0, 0.0)
    target_speed: float = 1.17
    max_tilt: float = 60.0
    min_upright: float = 0.9
    control_cost: float = 0.0
    upright_cost: float = 0.0

    def check_robot(self, robot, file: str, robot_path: str) -> None:
        if self.body:
            check_body(self.body, "task.body", robot, file, robot_path)


def _direction(at: At) -> tuple[float, float]:
    d = numbers(at, 2)
    if d[0] == 0 and d[1] == 0:
        raise at.error("the direction has length zero", "e.g. [1, 0] for +x")
    return d


def _tilt(at: At) -> float:
    value = number(at)
    if not 0.0 < value <= 180.0:
        raise at.error(f"{value:g} deg is not an angle in (0, 180]", "e.g. 60")
    return value


def _fraction(at: At) -> float:
    value = number(at)
    if not 0.0 <= value <= 1.0:
        raise at.error(f"{value:g} is not a fraction in [0, 1]", "e.g. 0.9; 0 turns the check off")
    return value


def parse(m: Map) -> GaitConfig:
    values = read_fields(
        m,
        {
            "duration": read_duration,
            "body": string,
            "direction": _direction,
            "target_speed": number,
            "max_tilt": _tilt,
            "min_upright": _fraction,
            "upright_cost": non_negative,
            "confirm": read_duration,
            **CONTROL_COST,
        },
    )
    check_confirm(m, values, GaitConfig.duration)
    read_starts(m, values)
    return GaitConfig(**values)


@ti.data_oriented
class Gait(ControlCost, Task):
    """Loss (per world): -(1/T) sum_{t=1..T} [v(t) . d - upright_cost (1 - up_z(t))]   [m/s]
    the forward COM speed averaged over every step (Degrave et al.'s "loss averaged over all
    steps": every step gives the controller a gradient, not only the last), less a smooth
    price on tilt: up_z(t) is the cosine of the angle between world +z and the body's start-up
    axis, so lying on its side costs upright_cost m/s and leaning 10 deg 1.5 % of it (0: off).

    Metrics: speed_mps = (p(T) - p(0)) . d / duration [m/s], the mean forward speed;
    lateral_m = |(p(T) - p(0)) x d| [m] drift sideways; min_height_m = the lowest height of the
    body's COM [m] (a robot that falls shows it); upright = the fraction of steps 1..T in which
    the body's start-up axis (the body-frame axis that points along world +z at t = 0) leans at
    most max_tilt from vertical. Success: speed_mps >= target_speed and upright >=
    min_upright (a robot that tumbles or rolls along does not walk).
    """

    headline = ("speed_mps", "m/s")
    better = "higher"

    def __init__(self, config: GaitConfig, sim):
        super().__init__(config, sim)
        self.body = body_index(sim, config.body, "task.body") if config.body else 0
        d = np.asarray(config.direction, float)
        self.dx, self.dy = (float(c) for c in d / np.linalg.norm(d))
        self._init_control_cost()

    @ti.kernel
    def loss_kernel(self):
        ti.loop_config(serialize=self.sim.backend.ordered_sums)  # tasks/base.py docstring
        for b, t in ti.ndrange(self.sim.batch, self.sim.steps):
            v = self.sim.state.vel[t + 1, b, self.body]
            lw = -(v[0] * self.dx + v[1] * self.dy) / self.sim.steps
            if ti.static(self.config.upright_cost > 0.0):
                z = ti.Vector([0.0, 0.0, 1.0])
                up = quat_rotate_inv(self.sim.state.quat[0, b, self.body], z)  # body frame
                up_z = quat_rotate(self.sim.state.quat[t + 1, b, self.body], up)[2]
                lw += ti.static(self.config.upright_cost) * (1.0 - up_z) / self.sim.steps
            self.world_loss[b] += lw
            self.sim.loss[None] += lw * ti.static(self.share())

    def metrics(self) -> list[dict]:
        poses = self.sim.poses()
        p = poses["pos"][:, :, self.body].astype(float)  # (T+1, B, 3)
        q = poses["quat"][:, :, self.body].astype(float)  # (T+1, B, 4)
        up_body = rotate(quat_conj(q[0]), np.array([0.0, 0.0, 1.0]))  # (B, 3) body frame
        up_z = rotate(q[1:], up_body[None])[..., 2]  # (T, B) cosine of the tilt
        upright = (up_z >= np.cos(np.radians(self.config.max_tilt)) - 1e-12).mean(axis=0)
        move = p[-1] - p[0]
        fwd = move[:, 0] * self.dx + move[:, 1] * self.dy
        side = np.abs(move[:, 0] * self.dy - move[:, 1] * self.dx)
        duration = self.sim.steps * self.sim.dt
        return [
            {
                "speed_mps": float(f / duration),
                "lateral_m": float(s),
                "min_height_m": float(h),
                "upright": float(u),
            }
            for f, s, h, u in zip(fwd, side, p[:, :, 2].min(axis=0), upright)
        ]

    def success(self, m: dict) -> bool:
        return (
            m["speed_mps"] >= self.config.target_speed
            and m.get("upright", 1.0) >= self.config.min_upright
        )
