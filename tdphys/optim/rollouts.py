"""Rollouts as the optimisers use them: one rollout of every world and its loss, with or
without the tape, the random worlds of an update, and rollouts of given parameters for
checks (confirmation, replay).

One world rolled out once is one simulation (a taped rollout with its backward pass counts
as one, as in Degrave et al.).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..tasks.sampling import Starts
from .warm_start import initial_x


def evaluate(sim, task, params, grad_decay: float = 1.0) -> None:
    """One rollout of every world and its loss (differentiable under the tape; grad_decay:
    the controller's backward factor per step)."""
    if params.controller is not None:
        params.controller.rollout(check=False, grad_decay=grad_decay)
    else:
        sim.rollout(check=False)
    task.loss_kernel()
    task.extra_loss()


def forward(sim, task, params) -> None:
    """One forward rollout of every world (no tape), its loss recomputed."""
    sim.loss[None] = 0.0
    task.reset()
    evaluate(sim, task, params)


def taped(sim, task, params, grad_decay: float = 1.0) -> None:
    """evaluate under the simulation's tape (and the controller's), so that gradients
    follow; grad_decay: the backward's factor on the adjoints per step back in time (1: the
    exact gradient)."""
    task.reset()
    others = () if params.controller is None else (params.controller,)
    with sim.tape(*others, grad_decay=grad_decay):
        evaluate(sim, task, params, grad_decay)  # NaN is checked outside the tape


def update_batch(exp) -> int:
    """Worlds an Adam update rolls out: a batch of random targets or starts, else 1."""
    targets, starts = exp.task.targets, exp.task.starts
    return targets.batch if targets else starts.batch if starts else 1


def start_sampler(exp, robot, sim) -> Starts | None:
    """The random-start sampler of exp (None without task.starts)."""
    if exp.task.starts is None:
        return None
    sim.start()  # the centres of mass
    return Starts(robot, exp.task.starts, sim.model.com.to_numpy()[0])


def next_starts(sim, starts: Starts, k: int, repeat: int = 1) -> None:
    """Fresh random starts for blocks of k worlds (the same k for each of `repeat` blocks, one
    block per CMA-ES candidate); the first world of each block keeps the robot file's start,
    the one the metrics and the success criterion are measured on."""
    offsets = starts.draw(k)
    offsets[0] = 0.0
    for name, value in starts.states(np.tile(offsets, (repeat, 1, 1))).items():
        sim.set_param(name, value)


def next_batch(exp, sim, task, sampler, k: int, repeat: int = 1) -> None:
    """Fresh random targets or starts (whichever the task has) for `repeat` blocks of k
    worlds, the same k in every block (one block per CMA-ES candidate)."""
    if exp.task.targets:
        task.next_batch(repeat=repeat)
    if sampler is not None:
        next_starts(sim, sampler, k, repeat=repeat)


def rollouts(exp, robot, x: np.ndarray | None, duration: float | None, starts, builds):
    """Forward rollouts of `x` (None: exp.init_from's params.npz) for `duration` [s]
    (default: the task's), no training: world 0 from the file's start and, with `starts` (a
    RandomStarts, e.g. task.confirm_starts), starts.batch - 1 more from its draws (the same
    every call: its seed). Returns (the metrics of every world, the Simulation, the task)."""
    task = exp.task if duration is None else dataclasses.replace(exp.task, duration=float(duration))
    exp = dataclasses.replace(exp, task=dataclasses.replace(task, starts=starts))
    steps = int(round(exp.task.duration / robot.solver.dt))
    batch = 1 if starts is None else starts.batch
    sim, task_obj, params = builds.get(exp, robot, steps, batch=batch)
    if exp.task.targets is not None:
        task_obj.set_targets(task_obj.held_out[:1])
    if x is None:
        if exp.init_from is None:
            raise ValueError("x None replays the folder exp.init_from names; it is not set")
        x = initial_x(exp, params)
    params.set(sim, np.asarray(x, float))
    if starts is not None:
        next_starts(sim, start_sampler(exp, robot, sim), batch)
    forward(sim, task_obj, params)
    sim.check_finite()
    return task_obj.metrics(), sim, task_obj


def standardized_start(exp, sim, task, params, sampler, x, k: int, repeat: int, result):
    """x with a vision controller's input statistics set (`controller.normalize`;
    ConvRecurrent.refreshed) and then its dense layers standardised (`controller.standardize`;
    ConvRecurrent.standardized), each from one forward rollout of the optimiser's batch:
    fresh random starts or targets (k per block, `repeat` blocks), every world on x. Those
    rollouts count as simulations. Without the options, x unchanged."""
    ctl = params.controller
    x, n = np.array(x, float), params.n_ctrl
    if ctl is not None and ctl.normalize:  # the statistics of the initial weights
        params.set(sim, x)
        next_batch(exp, sim, task, sampler, k, repeat)
        forward(sim, task, params)
        x[:n] = ctl.refreshed(x[:n] * params.ctrl_scale, 1.0) / params.ctrl_scale
        result.evaluations += sim.batch
    if ctl is None:
        return x
    for layer in range(ctl.standardized_layers):
        params.set(sim, x)
        next_batch(exp, sim, task, sampler, k, repeat)
        forward(sim, task, params)
        x[:n] = ctl.standardized(x[:n] * params.ctrl_scale, layer) / params.ctrl_scale
        result.evaluations += sim.batch
    return x
