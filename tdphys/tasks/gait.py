"""Locomotion (`task: {type: gait}`): move a body as fast as possible along a ground
direction."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import taichi as ti

from ..model.yamlread import At, Map, number, numbers, string
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
    "starts",
    "confirm",
    "confirm_starts",
    "control_cost",
}


@dataclass(frozen=True)
class GaitConfig(TaskConfig):
    """body: the body whose speed counts ("": the first, the torso); direction (x, y) on the
    ground; target_speed [m/s]: success; control_cost: weight of the commands' squares
    (tasks/base.py ControlCost)."""

    type = "gait"
    body: str = ""
    direction: tuple[float, float] = (1.0, 0.0)
    target_speed: float = 1.17
    control_cost: float = 0.0

    def check_robot(self, robot, file: str, robot_path: str) -> None:
        if self.body:
            check_body(self.body, "task.body", robot, file, robot_path)


def _direction(at: At) -> tuple[float, float]:
    d = numbers(at, 2)
    if d[0] == 0 and d[1] == 0:
        raise at.error("the direction has length zero", "e.g. [1, 0] for +x")
    return d


def parse(m: Map) -> GaitConfig:
    values = read_fields(
        m,
        {
            "duration": read_duration,
            "body": string,
            "direction": _direction,
            "target_speed": number,
            "confirm": read_duration,
            **CONTROL_COST,
        },
    )
    check_confirm(m, values, GaitConfig.duration)
    read_starts(m, values)
    return GaitConfig(**values)


@ti.data_oriented
class Gait(ControlCost, Task):
    """Loss (per world): -(1/T) sum_{t=1..T} v(t) . d          [m/s]
    the forward COM speed averaged over every step (Degrave et al.'s "loss averaged over all
    steps": every step gives the controller a gradient, not only the last).

    Metrics: speed_mps = (p(T) - p(0)) . d / duration [m/s], the mean forward speed;
    lateral_m = |(p(T) - p(0)) x d| [m] drift sideways; min_height_m = the lowest height of the
    body's COM [m] (a robot that falls shows it). Success: speed_mps >= target_speed.
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
            v = self.sim.vel[t + 1, b, self.body]
            lw = -(v[0] * self.dx + v[1] * self.dy) / self.sim.steps
            self.world_loss[b] += lw
            self.sim.loss[None] += lw * ti.static(self.share())

    def metrics(self) -> list[dict]:
        p = self.sim.poses()["pos"][:, :, self.body].astype(float)  # (T+1, B, 3)
        move = p[-1] - p[0]
        fwd = move[:, 0] * self.dx + move[:, 1] * self.dy
        side = np.abs(move[:, 0] * self.dy - move[:, 1] * self.dx)
        duration = self.sim.steps * self.sim.dt
        return [
            {"speed_mps": float(f / duration), "lateral_m": float(s), "min_height_m": float(h)}
            for f, s, h in zip(fwd, side, p[:, :, 2].min(axis=0))
        ]

    def success(self, m: dict) -> bool:
        return m["speed_mps"] >= self.config.target_speed
