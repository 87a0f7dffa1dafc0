"""What every task is: its file section (a TaskConfig) and the object that scores a rollout
(a Task), with the loss pieces several tasks share.

A Task builds its loss as a Taichi kernel that adds into sim.loss[None] (so ti.ad.Tape
differentiates it), keeps each world's loss in a field for population methods, and reports
task metrics in physical units. On CPU every loss kernel is one serial loop
(backend.ordered_sums): its sums into sim.loss and world_loss, and its adjoint's into the
state, take one order whatever the thread count (docs/determinism.md).
"""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import taichi as ti

from ..engine.tmath import quat_rotate
from ..model.yamlread import At, Map, non_negative, numbers, positive, robot_lacks, string
from ..rotations import rotate
from .sampling import RandomStarts, RandomTargets, parse_starts


@dataclass(frozen=True)
class TaskConfig:
    """A task's section of an experiment file. What the run reads of every task: duration [s]
    of a rollout; starts: random initial states of an update's worlds; targets: random reach
    targets; confirm [s]: a candidate that meets the criterion must meet it again in a rollout
    this long from the file's start; confirm_starts: random nudges of that start the
    confirmation must also pass from. None where the task has none (each task's section says
    which it takes). Each task adds its own fields (docs/experiment-format.md)."""

    type: ClassVar[str]
    duration: float = 5.0
    starts: RandomStarts | None = None
    targets: RandomTargets | None = None
    confirm: float | None = None
    confirm_starts: RandomStarts | None = None

    def check_robot(self, robot, file: str, robot_path: str) -> None:
        """The names this section takes from the robot (bodies); ModelError naming the key.
        Nothing to check by default."""


# readers of the keys several tasks share (their units in the fix)
def read_duration(at: At) -> float:
    return positive(at, "[s]")


def read_tolerance(at: At) -> float:
    return positive(at, "[m]")


def read_fields(m: Map, readers: dict) -> dict:
    """{key: reader(value)} of the keys of `readers` that mapping m holds, in readers' order."""
    return {key: read(m.get(key)) for key, read in readers.items() if key in m}


def check_confirm(m: Map, values: dict, default_duration: float) -> None:
    """`confirm` (read into values) is at least the duration and comes without random
    targets."""
    if "confirm" in m:
        if values["confirm"] < values.get("duration", default_duration):
            raise m.get("confirm").error(
                f"{values['confirm']:g} s is shorter than the task's duration",
                "give a confirmation rollout at least as long as `duration` (e.g. twice it)",
            )
        if "targets" in m:
            raise m.key_at("confirm").error(
                "random targets are judged on held-out targets, not on one longer rollout",
                "drop `confirm`, or give one fixed `target`",
            )


def read_starts(m: Map, values: dict) -> None:
    """`starts` and `confirm_starts` into values (random starts exclude random targets;
    nudged starts need a confirmation)."""
    if "starts" in m:
        if "targets" in m:
            raise m.key_at("starts").error(
                "random starts and random targets together", "give one of `starts` and `targets`"
            )
        values["starts"] = parse_starts(m.get("starts"))
    if "confirm_starts" in m:
        if "confirm" not in m:
            raise m.key_at("confirm_starts").error(
                "nudged starts belong to the confirmation rollout, and there is none",
                "add `confirm: T` [s], or drop `confirm_starts`",
            )
        values["confirm_starts"] = parse_starts(m.get("confirm_starts"), "task.confirm_starts")


def read_effector(m: Map, values: dict) -> None:
    """`effector: {body, point}` into values as effector_body and effector_point."""
    e = Map(
        m.require("effector", "add `effector: {body: NAME, point: [x, y, z]}`"), "task.effector"
    ).only({"body", "point"})
    values["effector_body"] = string(
        e.require("body", "name the body that carries the effector point")
    )
    if "point" in e:
        values["effector_point"] = numbers(e.get("point"), 3)


CONTROL_COST = {"control_cost": non_negative}


def check_body(name: str, key: str, robot, file: str, robot_path: str) -> None:
    """Body `name` (the value at `key`) exists in the robot."""
    bodies = [b.name for b in robot.bodies]
    if name not in bodies:
        raise robot_lacks(file, key, robot_path, "body", name, bodies)


class Task(ABC):
    """Scores the rollouts of one Simulation `sim` for a TaskConfig `config`.

    headline: (metric key, unit) a run reports; better: "lower" or "higher" for it.
    random: the RandomTargets the task draws (reach), else None; effector: (body index,
    point [m] in that body's frame) of the point the task scores, else None; target_field:
    the (B,) field of each world's target [m] that a controller may read, else None."""

    headline: ClassVar[tuple[str, str]]
    better: ClassVar[str]
    random: RandomTargets | None = None
    effector: tuple[int, tuple[float, float, float]] | None = None
    target_field = None

    def __init__(self, config: TaskConfig, sim):
        self.config, self.sim = config, sim
        self.world_loss = world_loss_field(sim)

    @abstractmethod
    def loss_kernel(self) -> None:
        """Adds each world's loss into sim.loss[None] and world_loss (a Taichi kernel)."""

    @abstractmethod
    def metrics(self) -> list[dict]:
        """The task metrics of each world from the last rollout."""

    @abstractmethod
    def success(self, m: dict) -> bool:
        """Whether one world's metrics meet the task's criterion."""

    def reset(self) -> None:
        """Before a rollout: zero what loss_kernel adds into."""
        self.world_loss.fill(0)

    def extra_loss(self) -> None:  # noqa: B027 - a hook: most tasks add nothing
        """After loss_kernel: terms added to the loss besides the task's own (none here)."""

    def losses(self) -> np.ndarray:
        """(B,) each world's loss after loss_kernel ran."""
        return self.world_loss.to_numpy().astype(float)

    def batch_metrics(self) -> dict:
        """The metrics an update reports: world 0's (with random starts: the file's start)."""
        return self.metrics()[0]

    def target_point(self) -> np.ndarray | None:
        """[m] the world point the viewer marks, or None."""
        return None

    def clear_gradients(self) -> None:  # noqa: B027 - a hook: most tasks have no such field
        """Zero the gradients of the task's own fields before a taped rollout (none here)."""

    def share(self) -> float:
        """Weight of one world in sim.loss: 1, or 1 / B averaging a batch of random targets
        or random starts (one update's worlds share the controller)."""
        averaged = self.random is not None or self.config.starts is not None
        return 1.0 / self.sim.batch if averaged else 1.0


class ControlCost:
    """For tasks whose config has `control_cost` c: after loss_kernel, extra_loss adds

        c (1/T) sum_{t=0..T-1} sum_m u_m(t)^2

    to each world's loss and to sim.loss, with u the raw commands the controller wrote (before
    the motors clamp them to their `range`), so its gradient still reaches a controller whose
    commands are clipped, where the physics passes none."""

    def _init_control_cost(self) -> None:
        # a field rather than a compiled constant: one compile for any weight
        self._control_weight = None
        if self.config.control_cost > 0 and self.sim.n_motors:
            self._control_weight = ti.field(self.sim.real, ())

    def extra_loss(self) -> None:
        if self._control_weight is not None:
            self._control_weight[None] = self.config.control_cost
            self._control_cost_kernel()

    @ti.kernel
    def _control_cost_kernel(self):
        ti.loop_config(serialize=self.sim.backend.ordered_sums)  # tasks/base.py docstring
        for b, t, m in ti.ndrange(self.sim.batch, self.sim.steps, self.sim.n_motors):
            u = self.sim.control.ctrl[t, b, m]
            lw = self._control_weight[None] * u * u / self.sim.steps
            self.world_loss[b] += lw
            self.sim.loss[None] += lw * ti.static(self.share())


class EffectorPoint:
    """For tasks scored on a point `effector_point` [m] fixed in the frame of body
    `effector_body` (config fields)."""

    def _set_effector(self) -> None:
        self.effector = (
            body_index(self.sim, self.config.effector_body, "task.effector.body"),
            tuple(float(c) for c in self.config.effector_point),
        )

    @ti.func
    def effector_at(self, t, b):
        n = ti.static(self.effector[0])
        p = ti.Vector(self.effector[1], dt=self.sim.real)
        return self.sim.state.pos[t, b, n] + quat_rotate(
            self.sim.state.quat[t, b, n], p - self.sim.model.com[b, n]
        )

    def effector_path(self) -> np.ndarray:
        """(T+1, B, 3) [m] world positions of the effector point."""
        n, point = self.effector
        poses = self.sim.poses()
        pos, quat = poses["pos"][:, :, n].astype(float), poses["quat"][:, :, n].astype(float)
        com = self.sim.model.com.to_numpy()[:, n].astype(float)
        return pos + rotate(quat, np.asarray(point) - com[None])


def world_loss_field(sim):
    """Each world's loss, (B,). Declared with a gradient that nothing uses: Taichi's reverse
    mode replays a kernel's stores into fields without gradients, so under ti.ad.Tape a loss
    kernel's `world_loss[b] += lw` would run twice and each world's loss read double."""
    return ti.field(sim.real, shape=sim.batch, needs_grad=True)


def body_index(sim, name: str, key: str) -> int:
    """The index of body `name` of sim's robot; ValueError naming `key` otherwise."""
    names = list(sim.layout.body_names)
    if name not in names:
        hint = difflib.get_close_matches(name, names, 1)
        raise ValueError(
            f"{key}: no body '{name}' in the robot"
            + (f"; did you mean '{hint[0]}'?" if hint else f" (bodies: {', '.join(names)})")
        )
    return names.index(name)


def np_real(sim):
    """The numpy float type of sim's precision."""
    return np.float64 if sim.real == ti.f64 else np.float32
