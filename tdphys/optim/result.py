"""What a run has found so far (RunResult) and how each simulation is recorded into it."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np


@dataclass
class RunResult:
    """history: one dict per simulation (evaluation, wall_s, loss, metrics...); x_best: the
    best parameters found (optimiser units); params: {name: value (per-world shape)};
    stop_reason: success | budget | interrupted | diverged | stalled (Adam: the gradient was
    exactly 0 for adam_loop.STALL_UPDATES updates) | invalid_design; message: for a human.
    Wall time runs from the first simulation (Taichi's kernel compilation included;
    `first_eval_s` says how much that was)."""

    experiment: object  # the Experiment
    optimizer: str
    history: list = field(default_factory=list)
    x_best: np.ndarray | None = None
    loss_best: float = math.inf
    metrics_best: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    stop_reason: str = "budget"
    message: str = ""
    iterations: int = 0
    evaluations: int = 0
    wall_s: float = 0.0
    first_eval_s: float = 0.0
    success_at: int | None = None
    sim: object = None
    task: object = None
    parameter_map: object = None  # the ParameterMap of the run
    controller_theta: np.ndarray | None = None
    state: dict = field(default_factory=dict)  # where the optimiser stands (for --resume)
    resumed_from: dict = field(default_factory=dict)
    budget: int = 0  # simulations at most (saved for --resume)


def record(
    result: RunResult,
    t0: float,
    loss: float,
    metrics: dict,
    x: np.ndarray,
    task,
    confirm,
    simulations: int = 1,
    **extra,
) -> None:
    """Add one evaluation of x (`simulations` worlds) to result: its history entry (wall
    time since t0), and x as the best when it is. `confirm(task, metrics, x)` says whether it
    meets the task's criterion (and may add the confirmation's metrics)."""
    metrics = dict(metrics)
    ok = confirm(task, metrics, x)  # first: it may add the confirmation's metrics
    result.evaluations += simulations
    wall = time.perf_counter() - t0
    if not result.history:  # the first update (its batch may be many worlds)
        result.first_eval_s = wall
    result.wall_s = wall
    entry = {
        "evaluation": result.evaluations,
        "wall_s": wall,
        "loss": loss,
        "best_loss": min(loss, result.loss_best),
        **metrics,
        **extra,
    }
    result.history.append(entry)
    # best: the lowest loss; once a simulation meets the task's criterion, only those that meet
    # it (the loss and the criterion need not agree on which of two candidates is better)
    if result.success_at is None and ok:
        result.success_at = result.evaluations
        result.loss_best, result.x_best, result.metrics_best = loss, x.copy(), metrics
    elif math.isfinite(loss) and loss < result.loss_best and (ok or result.success_at is None):
        result.loss_best, result.x_best, result.metrics_best = loss, x.copy(), metrics


def stopped_by_design(result: RunResult, exc) -> None:
    """The optimiser moved a design var to a value the robot file refuses (outside its
    min/max, a body below the ground): stop, keeping the best parameters so far."""
    result.stop_reason = "invalid_design"
    result.message = (
        f"iteration {result.iterations}: the optimiser's next design does not "
        f"load ({exc}); stopped, keeping the best parameters so far. fix: "
        "declare the var's `min`/`max` in the robot file (the design is kept "
        "inside them), or lower optimizer.lr or the design var's scale"
    )
