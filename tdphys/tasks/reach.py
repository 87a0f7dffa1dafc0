"""Reaching (`task: {type: reach}`): bring a point of a body to a target, fixed or drawn at
random for every update."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import taichi as ti

from ..model.yamlread import Map, numbers
from .base import (
    CONTROL_COST,
    ControlCost,
    EffectorPoint,
    Task,
    TaskConfig,
    check_body,
    check_confirm,
    np_real,
    read_duration,
    read_effector,
    read_fields,
    read_starts,
    read_tolerance,
)
from .sampling import parse_targets

KEYS = {
    "type",
    "duration",
    "target",
    "targets",
    "tolerance",
    "effector",
    "starts",
    "confirm",
    "confirm_starts",
    "control_cost",
}


@dataclass(frozen=True)
class ReachConfig(TaskConfig):
    """target [m] (world; or random `targets`); tolerance [m]: success; effector_body and
    effector_point [m] in that body's frame: the point brought there; control_cost: weight
    of the commands' squares (tasks/base.py ControlCost)."""

    type = "reach"
    target: tuple[float, float, float] = (0.0, 0.0, 0.0)
    tolerance: float = 0.01
    effector_body: str = ""
    effector_point: tuple[float, float, float] = (0.0, 0.0, 0.0)
    control_cost: float = 0.0

    def check_robot(self, robot, file: str, robot_path: str) -> None:
        check_body(self.effector_body, "task.effector.body", robot, file, robot_path)


def parse(m: Map) -> ReachConfig:
    values = read_fields(
        m,
        {
            "duration": read_duration,
            "target": lambda a: numbers(a, 3),
            "tolerance": read_tolerance,
            "confirm": read_duration,
            **CONTROL_COST,
        },
    )
    check_confirm(m, values, ReachConfig.duration)
    if "target" in m and "targets" in m:
        raise m.key_at("targets").error(
            "both target and targets are given", "give one fixed `target` or random `targets`"
        )
    if "targets" in m:
        values["targets"] = parse_targets(m.get("targets"))
    elif "target" not in m:
        m.require(
            "target",
            "add `target: [x, y, z]` [m], or random `targets: {low: [x, y, z], high: [x, y, z]}`",
        )
    read_starts(m, values)
    read_effector(m, values)
    return ReachConfig(**values)


@ti.data_oriented
class Reach(EffectorPoint, ControlCost, Task):
    """Bring the effector point (`effector.point` [m] in the frame of body `effector.body`)
    to `target` [m] (world).

    Loss (per world): (1/T) sum_{t=1..T} |e(t) - target|     [m]
    the distance averaged over the whole rollout, as in Degrave et al. (it rewards getting
    there fast and staying there).

    Metrics: error_m = |e(T) - target| the final distance; mean_error_m = the loss.
    Success: error_m <= tolerance.
    """

    headline = ("error_m", "m")
    better = "lower"

    def __init__(self, config: ReachConfig, sim):
        super().__init__(config, sim)
        self._set_effector()
        self.target_field = ti.Vector.field(3, sim.real, shape=sim.batch, needs_grad=True)
        self._init_control_cost()
        self.random = config.targets
        if self.random is None:
            self.set_targets(np.asarray(config.target, float))
        else:
            r = self.random
            held_rng = np.random.default_rng(r.seed)
            self.held_out = held_rng.uniform(r.low, r.high, (r.held_out, 3))
            self.rng = np.random.default_rng(r.seed + 1)
            self.next_batch()

    def set_targets(self, targets) -> None:
        """Targets [m] (3,) for every world or (n <= B, 3), the rest repeating the last."""
        t = np.atleast_2d(np.asarray(targets, float))
        full = np.concatenate([t, np.repeat(t[-1:], self.sim.batch - len(t), axis=0)])
        self.target_field.from_numpy(full[: self.sim.batch].astype(np_real(self.sim)))

    def next_batch(self, repeat: int = 1) -> None:
        """Random targets: a fresh uniform draw in [low, high] for every world, or for B /
        repeat worlds tiled `repeat` times (world b gets target b mod B / repeat: the same
        targets for every block of worlds, one block per CMA-ES candidate)."""
        r = self.random
        draw = self.rng.uniform(r.low, r.high, (self.sim.batch // repeat, 3))
        self.set_targets(np.tile(draw, (repeat, 1)))

    def block_metrics(self, k: int) -> list[dict]:
        """batch_metrics of each block of k consecutive worlds (one per CMA-ES candidate)."""
        per_world = self.metrics()
        return [
            {
                "train_error_m": float(np.mean([m["error_m"] for m in block])),
                "mean_error_m": float(np.mean([m["mean_error_m"] for m in block])),
            }
            for block in (per_world[i : i + k] for i in range(0, len(per_world), k))
        ]

    def final_errors(self) -> np.ndarray:
        """|e(T) - target| [m] of every world after a rollout."""
        e = self.effector_path()[-1]
        return np.linalg.norm(e - self.target_field.to_numpy().astype(float), axis=1)

    def clear_gradients(self):
        self.target_field.grad.fill(0)

    @ti.kernel
    def loss_kernel(self):
        ti.loop_config(serialize=self.sim.backend.ordered_sums)  # tasks/base.py docstring
        for b, t in ti.ndrange(self.sim.batch, self.sim.steps):
            d = self.effector_at(t + 1, b) - self.target_field[b]
            lw = ti.sqrt(d.dot(d) + 1e-12) / self.sim.steps
            self.world_loss[b] += lw
            self.sim.loss[None] += lw * ti.static(self.share())

    def metrics(self) -> list[dict]:
        e = self.effector_path()
        d = np.linalg.norm(e - self.target_field.to_numpy()[None].astype(float), axis=2)
        return [
            {"error_m": float(d[-1, b]), "mean_error_m": float(d[1:, b].mean())}
            for b in range(self.sim.batch)
        ]

    def batch_metrics(self) -> dict:
        """The metrics of one update: world 0's, or with random targets the batch's means
        (train_error_m: mean final distance to this update's targets)."""
        if self.random is None:
            return self.metrics()[0]
        return self.block_metrics(self.sim.batch)[0]

    def held_out_error(self, rollout) -> float:
        """Mean final distance [m] over the held-out targets, `rollout()` running one
        forward rollout of every world (chunks of B targets)."""
        errors = []
        for i in range(0, len(self.held_out), self.sim.batch):
            chunk = self.held_out[i : i + self.sim.batch]
            self.set_targets(chunk)
            rollout()
            errors += list(self.final_errors()[: len(chunk)])
        return float(np.mean(errors))

    def success(self, m: dict) -> bool:
        return m["error_m"] <= self.config.tolerance

    def target_point(self) -> np.ndarray:
        """[m] world 0's target (the last one it was given, with random targets)."""
        if self.random is not None:
            return self.target_field.to_numpy()[0].astype(float)
        return np.asarray(self.config.target, float)
