"""System identification (`task: {type: system_identification}`): recover physical
parameters from a recorded trajectory."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import taichi as ti

from ..model.yamlread import Map, is_list, number, numbers
from .base import Task, TaskConfig, read_duration, read_fields, read_tolerance

KEYS = {"type", "duration", "tolerance", "truth"}


@dataclass(frozen=True)
class SystemIdentificationConfig(TaskConfig):
    """truth: (Simulation parameter name, values) pairs, the hidden values that make the
    recording; tolerance: success, the largest relative error of a trained number."""

    type = "system_identification"
    tolerance: float = 0.01
    truth: tuple = ()


def parse(m: Map) -> SystemIdentificationConfig:
    values = read_fields(m, {"duration": read_duration, "tolerance": read_tolerance})
    t = Map(m.require("truth", "add `truth: {PARAMETER: value}` (the hidden values)"), "task.truth")
    values["truth"] = tuple(
        (name, numbers(t.get(name)) if is_list(t.get(name)) else (number(t.get(name)),))
        for name in t.names()
    )
    return SystemIdentificationConfig(**values)


@ti.data_oriented
class SystemIdentification(Task):
    """At set-up the robot is rolled out once with the hidden `truth` values (the recording:
    every body's COM path); the optimiser starts from the trainable parameters' `init` and
    never sees the truth.

    Loss (per world): (1/T) sum_{t=1..T} sum_n |p_n(t) - p_n^rec(t)|^2      [m^2]

    Metrics: error_m = the RMS position error over steps and bodies [m]; param_error = the
    largest relative error |value / truth - 1| over every trained number (it is a metric
    only: the loss never uses the truth). Success: param_error <= tolerance.
    """

    headline = ("param_error", "-")
    better = "lower"

    def __init__(self, config: SystemIdentificationConfig, sim, trainable=()):
        T, B, N = sim.steps + 1, sim.batch, sim.n_bodies
        self.recorded = ti.Vector.field(3, sim.real, shape=(T, B, N))
        super().__init__(config, sim)
        self.index = {
            tr.name: (slice(None) if tr.index is None else list(tr.index)) for tr in trainable
        }
        self.truth = {}
        saved = {name: sim.get_param(name) for name, _ in config.truth}
        for name, value in config.truth:
            full = sim.get_param(name).copy()
            index = (
                (slice(None), self.index.get(name, slice(None)))
                if full.ndim > 1
                else (slice(None),)
            )
            v = np.asarray(value, float)
            target_shape = full[index].shape[1:]
            try:
                full[index] = (
                    v.reshape(()) if target_shape == () else np.broadcast_to(v, target_shape)
                )
            except ValueError:
                raise ValueError(
                    f"task.truth.{name}: {len(value)} numbers do not fit the "
                    f"{full[index].shape[1:]} trained entries"
                ) from None
            self.truth[name] = full[0][index[1:]] if full.ndim > 1 else full[0]
            sim.set_param(name, full)
        sim.rollout(check=True)
        self.recorded.copy_from(sim.state.pos)
        for name, value in saved.items():
            sim.set_param(name, value)

    @ti.kernel
    def loss_kernel(self):
        ti.loop_config(serialize=self.sim.backend.ordered_sums)  # tasks/base.py docstring
        for b, t, n in ti.ndrange(self.sim.batch, self.sim.steps, self.sim.n_bodies):
            d = self.sim.state.pos[t + 1, b, n] - self.recorded[t + 1, b, n]
            lw = d.dot(d) / self.sim.steps
            self.world_loss[b] += lw
            self.sim.loss[None] += lw

    def metrics(self) -> list[dict]:
        out = []
        for b, lw in enumerate(self.losses()):
            errs = []
            for name, truth in self.truth.items():
                value = self.sim.get_param(name)[b]
                if value.ndim:
                    value = value[self.index.get(name, slice(None))]
                scale = np.where(truth != 0, np.abs(truth), 1.0)  # absolute where truth is 0
                errs.append(np.max(np.abs(value - truth) / scale))
            out.append(
                {
                    "error_m": float(np.sqrt(max(lw, 0.0) / self.sim.n_bodies)),
                    "param_error": float(max(errs)),
                }
            )
        return out

    def success(self, m: dict) -> bool:
        return m["param_error"] <= self.config.tolerance
