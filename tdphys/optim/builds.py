"""The simulations an optimisation builds, kept for reuse in one Taichi session.

A new Simulation compiles every kernel again (Taichi keys its caches on the fields' SNode
trees), so the runs of one experiment in a process (a resumed run, Adam then CMA-ES, the
confirmation rollouts, tests) share a Builds object; every run sets all trained values before
its first rollout, so what an earlier run left in a simulation never leaks into the next.
"""

from __future__ import annotations

import dataclasses

from .. import backend
from ..control import make_controller
from ..engine.simulation import Simulation
from ..tasks import make_task
from .params import ParameterMap, apply_overrides


class Builds:
    """(Simulation, Task, ParameterMap) per experiment and shape, for the current Taichi
    session (a restarted Taichi builds again); the oldest is dropped beyond `keep`."""

    def __init__(self, keep: int = 8):
        self.keep = keep
        self._built: dict = {}

    def get(self, exp, robot, steps: int, batch: int, param_sets: int = 1):
        """Simulation, task and parameter map of `exp` for `steps` steps of `batch` worlds
        (`param_sets` controller parameter sets sharing them), built on first use."""
        key = (dataclasses.replace(exp, init_from=None), steps, batch, param_sets, backend.epoch())
        if key not in self._built:
            if len(self._built) >= self.keep:
                self._built.pop(next(iter(self._built)))
            self._built[key] = build(exp, robot, steps, batch, param_sets)
        return self._built[key]


def build(exp, robot, steps: int, batch: int, param_sets: int = 1):
    """A new (Simulation, Task, ParameterMap) of `exp` (its overrides set)."""
    sim = Simulation(robot, batch=batch, steps=steps)
    apply_overrides(exp, sim)
    task = make_task(exp.task, sim, exp.trainable)
    controller = None
    if exp.controller is not None:
        controller = make_controller(exp.controller, sim, task, param_sets)
    return sim, task, ParameterMap(exp, sim, controller)
