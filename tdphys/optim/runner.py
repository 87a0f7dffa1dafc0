"""The run: an experiment optimised with Adam on taped rollouts or with CMA-ES on batched
forward rollouts (adam_loop.py, cmaes_loop.py), then its best parameters rolled out once
more; and replays of learnt parameters beyond the horizon they were trained on.

    result = run(exp, budget=300)                 # a RunResult; outputs.write_run saves it
    metrics, sim = replay(exp, result.x_best, duration=20.0)
"""

from __future__ import annotations

import numpy as np

from .. import backend
from ..errors import TdphysError
from ..model.robot_file import load_robot_file as load_robot
from ..tasks.sampling import MOVABLE_KINDS, JointStart, RandomStarts
from .adam_loop import train_adam
from .builds import Builds
from .checkpoints import RESUMED, Checkpoint, check_resume
from .cmaes_loop import train_cmaes
from .experiment import Experiment, check_against_robot
from .result import RunResult
from .rollouts import forward, rollouts
from .warm_start import check_source


def run(
    exp: Experiment,
    optimizer: str | None = None,
    budget: int | None = None,
    arch: str = "cpu",
    progress: bool = True,
    verbose: bool = False,
    resume: dict | None = None,
    checkpoint=None,
    checkpoint_s: float = 300.0,
    builds: Builds | None = None,
) -> RunResult:
    """Optimise exp's trainable parameters; returns the result with the final rollout (the best
    parameters, world 0) left in result.sim. Ctrl-C stops cleanly with what was learned.
    `resume`: a previous run's result.state (checkpoints.load_state); the run goes on from
    there (same experiment and optimiser) until `budget` simulations in all (default: the
    resumed run's budget). `checkpoint(result)`, if given, is called after an optimiser step
    at most every `checkpoint_s` seconds (of wall time), to save what --resume needs
    (checkpoints.write_checkpoint). `builds`: where the simulations are built and kept
    (default: a new Builds for this run; share one to reuse them across runs)."""
    kind = optimizer or exp.optimizer.type
    budget = int(budget or (resume or {}).get("budget") or exp.optimizer.budget)
    backend.init(arch, exp.precision)
    if kind == "cmaes" and exp.task.targets is not None and exp.trainable:
        raise TdphysError(
            f"{exp.file}: trainable: CMA-ES on random reach targets trains the "
            "controller only (each candidate drives a block of worlds)\n  fix: "
            "drop the trainable Simulation parameters, or use --optimizer adam"
        )
    if kind == "adam":
        backend.current().require_gradients("gradients for --optimizer adam")
        if exp.controller is not None and exp.controller.type == "vision":
            backend.current().require_camera_gradients()
    robot = load_robot(exp.robot)
    check_against_robot(exp, robot)
    if resume is None:
        check_source(exp)
    builds = Builds() if builds is None else builds
    steps = int(round(exp.task.duration / robot.solver.dt))
    result = RunResult(exp, kind, budget=budget)
    if resume is not None:
        check_resume(exp, kind, resume)
        for key in RESUMED:
            setattr(result, key, resume[key])
        result.resumed_from = resume
    bar = _Bar(budget, progress, exp.name, kind)
    saver = Checkpoint(checkpoint, checkpoint_s)
    try:
        if kind == "adam":
            train_adam(exp, robot, steps, budget, result, bar, saver, builds, verbose)
        else:
            train_cmaes(exp, robot, steps, budget, result, bar, saver, builds)
    finally:
        bar.close()
    try:
        _final_rollout(result)
    except KeyboardInterrupt:  # Ctrl-C as the loop ended: the rollout is redone whole
        result.stop_reason, result.message = "interrupted", "stopped by Ctrl-C"
        _final_rollout(result)
    return result


def _final_rollout(result: RunResult) -> None:
    """The final behaviour: the best parameters, rolled out once more (not counted); sets
    result.metrics_best, params and controller_theta."""
    sim, task, params = result.sim, result.task, result.parameter_map
    params.set(sim, result.x_best)
    if task.random is not None:
        held_out = task.held_out_error(lambda: forward(sim, task, params))
        result.metrics_best = {**task.batch_metrics(), "error_m": held_out}
    else:
        confirmed = {k: v for k, v in result.metrics_best.items() if k.startswith("confirm")}
        forward(sim, task, params)
        result.metrics_best = {**task.metrics()[0], **confirmed}  # x_best's confirmation
    result.params = params.named(result.x_best)
    result.controller_theta = params.controller_theta(result.x_best)


def replay(
    exp: Experiment,
    x: np.ndarray | None,
    duration: float | None = None,
    arch: str = "cpu",
    builds: Builds | None = None,
):
    """Roll out optimiser coordinates `x` (a run's x_best) once from the robot file's start
    (no random starts or targets are drawn; a reach with random targets aims at the first
    held-out target), for `duration` [s] (default: the task's); returns (metrics of world 0,
    the Simulation); the metrics hold the task's verdict under "success", as a run's
    metrics.json does. No training and nothing counted: for checking a learnt controller
    beyond the horizon it was trained on. `x` None: the trained parameters of the folder
    `exp.init_from` names (its params.npz alone, e.g. a controller shipped in the repo)."""
    worlds, sim, task = rollouts(
        exp, _replay_robot(exp, arch), x, duration, None, Builds() if builds is None else builds
    )
    return {**worlds[0], "success": bool(task.success(worlds[0]))}, sim


def replay_nudged(
    exp: Experiment,
    x: np.ndarray | None,
    nudge: float,
    worlds: int = 8,
    duration: float | None = None,
    seed: int = 1,
    arch: str = "cpu",
    builds: Builds | None = None,
):
    """How robust is a learnt controller? Roll `x` out from the robot file's start (world 0)
    and from worlds - 1 starts where every one-axis joint (hinge, slider) is moved by a draw
    in +-`nudge` and set moving at a rate drawn in +-`nudge` ([rad] or [m], [rad/s] or
    [m/s]; draws from `seed`), for `duration` [s] (default: the task's); `x` as in replay.
    Returns (a list of (metrics, success) per world, the Simulation)."""
    robot = _replay_robot(exp, arch)
    spread = (-float(nudge), float(nudge))
    joints = tuple(
        JointStart(j.name, spread, spread) for j in robot.joints if j.kind in MOVABLE_KINDS
    )
    starts = RandomStarts(joints=joints, batch=int(worlds), seed=int(seed))
    metrics, sim, task = rollouts(
        exp, robot, x, duration, starts, Builds() if builds is None else builds
    )
    return [(m, bool(task.success(m))) for m in metrics], sim


def _replay_robot(exp: Experiment, arch: str):
    """Taichi started for `exp` on `arch`, and its robot, checked against the experiment."""
    backend.init(arch, exp.precision)
    robot = load_robot(exp.robot)
    check_against_robot(exp, robot)
    return robot


class _Bar:
    """A tqdm progress bar over simulations (silent when progress is False)."""

    def __init__(self, budget, on, name, kind):
        self.bar = None
        if on:
            from tqdm import tqdm

            self.bar = tqdm(total=budget, desc=f"{name} ({kind})", unit="sim")

    def update(self, result):
        if self.bar is None:
            return
        self.bar.n = result.evaluations
        h = result.history[-1]
        key, unit = result.task.headline
        self.bar.set_postfix(
            loss=f"{result.loss_best:.3g}", **{key: f"{h[key]:.3g} {unit}"}, refresh=False
        )
        self.bar.refresh()

    def close(self):
        if self.bar is not None:
            self.bar.close()
