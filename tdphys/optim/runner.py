"""The optimisation loop: Adam on taped rollouts, or CMA-ES on batched forward rollouts.

Both count simulations the same way: one world rolled out once is one simulation (a taped
rollout with its backward pass counts as one, as in Degrave et al.). Wall time runs from the
first simulation (Taichi's kernel compilation included; `first_eval_s` says how much that was).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import ModelError
from .experiment import Experiment, check_against_robot
from .optimizers import Adam, cma_resume, cma_state, cmaes
from .warm_start import check_source, initial_x
from .tasks import make_task


@dataclass
class RunResult:
    """history: one dict per simulation (evaluation, wall_s, loss, metrics...); x_best: the
    best parameters found (optimiser units); params: {name: value (per-world shape)};
    stop_reason: success | budget | interrupted | diverged | stalled (Adam: the gradient was
    exactly 0 for STALL_UPDATES updates); message: for a human."""

    experiment: Experiment
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
    _params: object = None
    controller_theta: np.ndarray | None = None
    state: dict = field(default_factory=dict)   # where the optimiser stands (for --resume)
    resumed_from: dict = field(default_factory=dict)
    budget: int = 0                             # simulations at most (saved for --resume)


def _value(x: np.ndarray, scale: np.ndarray, log: bool) -> np.ndarray:
    """A trained parameter's value from its optimiser coordinates x."""
    return np.exp(x * scale) if log else x * scale


def coordinates(value: np.ndarray, scale, log: bool) -> np.ndarray:
    """The optimiser coordinates of a trained parameter's value (the inverse of _value)."""
    return (np.log(value) if log else value) / scale


class _Params:
    """Map between the flat optimiser vector x and what it trains: the controller's weights
    (first, divided by controller.lr_scale and, where the controller has them, its per-weight
    step scales), then the Simulation parameters (value / scale)."""

    def __init__(self, exp: Experiment, sim, controller=None):
        self.items = []   # (name, entries index, entry shape, scale, offset, size, log)
        self.controller = controller
        x0, offset = [], 0
        if controller is not None:
            self.ctrl_scale = float(exp.controller.lr_scale)
            if hasattr(controller, "step_scales"):
                self.ctrl_scale = self.ctrl_scale * controller.step_scales()
            x0.append(controller.theta0 / self.ctrl_scale)
            offset = controller.n_params
        self.n_ctrl = offset
        for tr in exp.trainable:
            full = sim.get_param(tr.name)[0]          # the robot's value, world 0
            index = slice(None) if tr.index is None else list(tr.index)
            if tr.index is not None and (full.ndim == 0 or max(tr.index) >= full.shape[0]):
                n = 1 if full.ndim == 0 else full.shape[0]
                raise ModelError(exp.file, f"trainable.{tr.name}.index",
                                 f"entry {max(tr.index)} does not exist ('{tr.name}' has "
                                 f"{n} entr{'y' if n == 1 else 'ies'})",
                                 f"use indices from 0 to {n - 1}")
            base = full[index] if full.ndim else full
            if tr.init is not None:
                init = np.asarray(tr.init, float)
                try:
                    base = np.broadcast_to(init, base.shape).copy()
                except ValueError:
                    raise ModelError(exp.file, f"trainable.{tr.name}.init",
                                     f"{init.size} numbers do not fit the parameter's shape "
                                     f"{base.shape}", f"give {int(np.prod(base.shape))} numbers "
                                     "or one per column") from None
            try:
                scale = np.broadcast_to(np.asarray(tr.scale, float), base.shape).ravel()
            except ValueError:
                raise ModelError(exp.file, f"trainable.{tr.name}.scale",
                                 f"{np.size(tr.scale)} scales do not fit the parameter's shape "
                                 f"{base.shape}", "give one number, or one per column") from None
            if tr.log and np.any(base <= 0):
                raise ModelError(exp.file, f"trainable.{tr.name}.log", "log needs positive "
                                 f"values, and '{tr.name}' starts at {base.min():g}",
                                 "drop `log: true`, or give a positive `init`")
            self.items.append((tr.name, index, base.shape, scale, offset, base.size, tr.log))
            x0.append(coordinates(base.ravel(), scale, tr.log))
            offset += base.size
        self.design, self.n_before_design = None, offset
        if exp.design:
            from .design import DesignMap
            self.design = DesignMap(exp, dict(sim.robot.vars))
            d0 = np.array([self.design.base[d.name] if d.init is None else d.init
                           for d in exp.design])
            self.d_scale = np.array([d.scale for d in exp.design])
            self.d_log = np.array([d.log for d in exp.design])
            ranges = {n: (lo, hi) for n, lo, hi in sim.robot.var_ranges}
            self.d_range = np.array([ranges.get(d.name, (-np.inf, np.inf))
                                     for d in exp.design]).T      # (2, n): min, max
            x0.append(np.where(self.d_log, np.log(np.abs(d0)), d0) / self.d_scale)
        self.x0 = np.concatenate(x0)

    def design_values(self, X: np.ndarray) -> np.ndarray:
        """The design vars' values from optimiser coordinates (rows of X or one x), kept
        inside each var's min/max in the robot file (its gradient passes unchanged)."""
        z = X[..., self.n_before_design:] * self.d_scale
        return np.clip(np.where(self.d_log, np.exp(z), z), *self.d_range)

    def set(self, sim, X: np.ndarray) -> None:
        """X: (n,) for every world, or (B, n) one row per world."""
        X = np.atleast_2d(X)
        self._x_last = X[0].copy()   # world 0's, for the chain rule in grad()
        if self.controller is not None:
            self.controller.set(X[:, :self.n_ctrl] * self.ctrl_scale)
        for name, index, shape, scale, off, size, log in self.items:
            value = _value(X[:, off:off + size], scale, log).reshape((X.shape[0],) + shape)
            if index == slice(None):
                sim.set_param(name, value)
            else:
                full = np.broadcast_to(sim.get_param(name)[:1], (sim.batch,)
                                       + sim.get_param(name).shape[1:]).copy()
                full[:, index] = value
                sim.set_param(name, full)
        if self.design is not None:
            self.design.set(sim, self.design_values(X))

    def grad(self, sim) -> np.ndarray:
        """d loss / d x for x set on every world (chain rule through the scales): the worlds
        share x, so each parameter's gradient is the sum over the worlds."""
        parts = []
        if self.controller is not None:
            parts.append(self.controller.grad() * self.ctrl_scale)
        grads = sim.param_grads() if self.items or self.design is not None else {}
        for name, index, _, scale, off, size, log in self.items:
            g = grads[name].sum(axis=0)
            g = (g[index] if g.ndim else g).ravel() * scale
            if log:   # d value / d x = value * scale
                g = g * _value(self._x_last[off:off + size], scale, True)
            parts.append(g)
        if self.design is not None:
            d = self.design_values(self._x_last)
            g = self.design.grad(grads, d) * self.d_scale
            parts.append(np.where(self.d_log, g * d, g))
        return np.concatenate(parts)

    def named(self, x: np.ndarray) -> dict:
        out = {name: _value(x[off:off + size], scale, log).reshape(shape).tolist()
               for name, _, shape, scale, off, size, log in self.items}
        if self.design is not None:
            out.update({f"design.{n}": v for n, v in zip(self.design.vars,
                                                          self.design_values(x).tolist())})
        return out

    def statistics_mask(self) -> np.ndarray:
        """(n,) True for the coordinates that are a controller's statistics (normalize), which
        the optimisers do not move: Adam gets a zero gradient for them, CMA-ES fixes them."""
        mask = np.zeros(self.x0.size, bool)
        if self.controller is not None and hasattr(self.controller, "statistics_mask"):
            mask[:self.n_ctrl] = self.controller.statistics_mask()
        return mask

    def refreshed(self, x: np.ndarray) -> np.ndarray:
        """x with the controller's statistics moved towards the last rollout's
        (controller.normalize_rate; see ConvRecurrent.refreshed); x itself otherwise."""
        ctl = self.controller
        if ctl is None or not getattr(ctl, "normalize", False) or not ctl.spec.normalize_rate:
            return x
        x = np.array(x, float)
        n = self.n_ctrl
        x[:n] = ctl.refreshed(x[:n] * self.ctrl_scale, ctl.spec.normalize_rate) / self.ctrl_scale
        return x

    def controller_theta(self, x: np.ndarray) -> np.ndarray | None:
        return None if self.controller is None else x[:self.n_ctrl] * self.ctrl_scale


def run(exp: Experiment, optimizer: str | None = None, budget: int | None = None,
        arch: str = "cpu", progress: bool = True, verbose: bool = False,
        resume: dict | None = None, checkpoint=None, checkpoint_s: float = 300.0) -> RunResult:
    """Optimise exp's trainable parameters; returns the result with the final rollout (the best
    parameters, world 0) left in result.sim. Ctrl-C stops cleanly with what was learned.
    `resume`: a previous run's result.state (outputs.load_state); the run goes on from there
    (same experiment and optimiser) until `budget` simulations in all (default: the resumed
    run's budget). `checkpoint(result)`,
    if given, is called after an optimiser step at most every `checkpoint_s` seconds (of wall
    time), to save what --resume needs (outputs.write_checkpoint)."""
    import tdphys
    from .. import backend
    kind = optimizer or exp.optimizer.type
    budget = int(budget or (resume or {}).get("budget") or exp.optimizer.budget)
    tdphys.init(arch, exp.precision)
    if kind == "cmaes" and exp.task.targets is not None and exp.trainable:
        from ..errors import TdphysError
        raise TdphysError(f"{exp.file}: trainable: CMA-ES on random reach targets trains the "
                          "controller only (each candidate drives a block of worlds)\n  fix: "
                          "drop the trainable Simulation parameters, or use --optimizer adam")
    if kind == "adam":
        backend.current().require_gradients("gradients for --optimizer adam")
        if exp.controller is not None and exp.controller.type == "vision":
            backend.current().require_camera_gradients()
    robot = tdphys.load(exp.robot)
    check_against_robot(exp, robot)
    if resume is None:
        check_source(exp)
    steps = int(round(exp.task.duration / robot.solver.dt))
    result = RunResult(exp, kind, budget=budget)
    if resume is not None:
        _check_resume(exp, kind, resume)
        for key in _RESUMED:
            setattr(result, key, resume[key])
        result.resumed_from = resume
    bar = _Bar(budget, progress, exp.name, kind)
    saver = _Checkpoint(checkpoint, checkpoint_s)
    try:
        if kind == "adam":
            _adam(exp, robot, steps, budget, result, bar, saver, verbose)
        else:
            _cma(exp, robot, steps, budget, result, bar, saver)
    finally:
        bar.close()
    try:
        _final_rollout(result)
    except KeyboardInterrupt:        # Ctrl-C as the loop ended: the rollout is redone whole
        result.stop_reason, result.message = "interrupted", "stopped by Ctrl-C"
        _final_rollout(result)
    return result


def _final_rollout(result: RunResult) -> None:
    """The final behaviour: the best parameters, rolled out once more (not counted); sets
    result.metrics_best, params and controller_theta."""
    sim, task, params = result.sim, result.task, result._params
    params.set(sim, result.x_best)
    if task.random is not None:
        held_out = task.held_out_error(lambda: _forward(sim, task, params))
        result.metrics_best = {**task.batch_metrics(), "error_m": held_out}
    else:
        confirmed = {k: v for k, v in result.metrics_best.items() if k.startswith("confirm")}
        _forward(sim, task, params)
        result.metrics_best = {**task.metrics()[0], **confirmed}   # x_best's confirmation
    result.params = params.named(result.x_best)
    result.controller_theta = params.controller_theta(result.x_best)


def replay(exp: Experiment, x: np.ndarray | None, duration: float | None = None,
           arch: str = "cpu"):
    """Roll out optimiser coordinates `x` (a run's x_best) once from the robot file's start
    (no random starts or targets are drawn; a reach with random targets aims at the first
    held-out target), for `duration` [s] (default: the task's); returns (metrics of world 0,
    the Simulation). No training and nothing counted: for checking a learnt controller
    beyond the horizon it was trained on. `x` None: the trained parameters of the folder
    `exp.init_from` names (its params.npz alone, e.g. a controller shipped in the repo)."""
    return _once(exp, _replay_robot(exp, arch), x, duration)


def replay_nudged(exp: Experiment, x: np.ndarray | None, nudge: float, worlds: int = 8,
                  duration: float | None = None, seed: int = 1, arch: str = "cpu"):
    """How robust is a learnt controller? Roll `x` out from the robot file's start (world 0)
    and from worlds - 1 starts where every hinge and slider joint is moved by a uniform draw
    in +-`nudge` and set moving at a rate drawn in +-`nudge` ([rad] or [m], [rad/s] or
    [m/s]; draws from `seed`), for `duration` [s] (default: the task's); `x` as in replay.
    Returns (a list of (metrics, success) per world, the Simulation)."""
    from .experiment import JointStart, RandomStarts
    robot = _replay_robot(exp, arch)
    spread = (-float(nudge), float(nudge))
    joints = tuple(JointStart(j.name, spread, spread) for j in robot.joints
                   if j.kind in ("hinge", "slider"))
    starts = RandomStarts(joints=joints, batch=int(worlds), seed=int(seed))
    metrics, sim, task = _rollouts(exp, robot, x, duration, starts)
    return [(m, bool(task.success(m))) for m in metrics], sim


def _replay_robot(exp: Experiment, arch: str):
    """Taichi started for `exp` on `arch`, and its robot, checked against the experiment."""
    import tdphys
    tdphys.init(arch, exp.precision)
    robot = tdphys.load(exp.robot)
    check_against_robot(exp, robot)
    return robot


def _once(exp: Experiment, robot, x: np.ndarray, duration: float | None):
    """One forward rollout of `x` from the file's start for `duration` [s] (in the running
    Taichi session; a Simulation of that length is built once and kept in _BUILT)."""
    worlds, sim, _ = _rollouts(exp, robot, x, duration, None)
    return worlds[0], sim


def _rollouts(exp: Experiment, robot, x: np.ndarray | None, duration: float | None, starts):
    """Forward rollouts of `x` (None: exp.init_from's params.npz) for `duration` [s]
    (default: the task's), no training: world 0 from the file's start and, with `starts` (a
    RandomStarts, e.g. task.confirm_starts), starts.batch - 1 more from its draws (the same
    every call: its seed). Returns (the metrics of every world, the Simulation, the task)."""
    import dataclasses
    task = exp.task if duration is None else dataclasses.replace(exp.task,
                                                                  duration=float(duration))
    exp = dataclasses.replace(exp, task=dataclasses.replace(task, starts=starts))
    steps = int(round(exp.task.duration / robot.solver.dt))
    batch = 1 if starts is None else starts.batch
    sim, task_obj, params = _build(exp, robot, steps, batch=batch)
    if exp.task.targets is not None:
        task_obj.set_targets(task_obj.held_out[:1])
    if x is None:
        if exp.init_from is None:
            raise ValueError("x None replays the folder exp.init_from names; it is not set")
        x = initial_x(exp, params)
    params.set(sim, np.asarray(x, float))
    if starts is not None:
        _next_starts(sim, _starts(exp, robot, sim), batch)
    _forward(sim, task_obj, params)
    sim.check_finite()
    return task_obj.metrics(), sim, task_obj


class _Confirm:
    """task.confirm: a candidate that meets the task's criterion is rolled out again from the
    file's start for `confirm` seconds, and succeeds only if that rollout meets the criterion
    too (a swing-up must still hold at the end of the longer rollout). With
    task.confirm_starts the confirmation also starts batch - 1 worlds from small nudges of
    that start, and every world must meet the criterion (a pass that only the exact start
    gives, in a chaotic rollout, is luck). These rollouts are checks, not training: they are
    not counted as simulations. World 0's metrics join the candidate's, prefixed `confirm_`,
    with `confirmed` (true or false) and `confirm_s`; with nudges also `confirm_passed` and
    `confirm_worlds` (how many worlds met the criterion, of how many)."""

    def __init__(self, exp: Experiment, robot):
        self.exp, self.robot = exp, robot

    def __call__(self, task, metrics: dict, x: np.ndarray) -> bool:
        """Whether the candidate x with training metrics `metrics` succeeds; adds the
        confirmation's metrics to `metrics` when one ran."""
        if not task.success(metrics):
            return False
        if self.exp.task.confirm is None:
            return True
        from ..errors import SimulationDiverged
        duration = self.exp.task.confirm
        try:
            worlds, _, _ = _rollouts(self.exp, self.robot, x, duration,
                                     self.exp.task.confirm_starts)
        except SimulationDiverged:
            metrics.update(confirmed=False, confirm_s=float(duration))
            return False
        passed = sum(bool(task.success(m)) for m in worlds)
        ok = passed == len(worlds)
        metrics.update({f"confirm_{k}": v for k, v in worlds[0].items()}, confirmed=ok,
                       confirm_s=float(duration))
        if self.exp.task.confirm_starts is not None:
            metrics.update(confirm_passed=passed, confirm_worlds=len(worlds))
        return ok


_RESUMED = ("history", "x_best", "loss_best", "metrics_best", "iterations", "evaluations",
            "wall_s", "first_eval_s", "success_at")


def _check_resume(exp: Experiment, kind: str, state: dict) -> None:
    from ..errors import TdphysError
    if state.get("experiment") != exp.name or state.get("optimizer") != kind:
        raise TdphysError(f"cannot resume: the run folder holds experiment "
                          f"'{state.get('experiment')}' with {state.get('optimizer')}, not "
                          f"'{exp.name}' with {kind}\n  fix: pass the same experiment file "
                          "and --optimizer, or start a new --out folder")


def _check_resumed_size(result: RunResult, params, keys: tuple) -> None:
    """The resumed state's parameter vectors (`keys`) have as many numbers as this
    experiment trains; TdphysError naming both counts otherwise."""
    from ..errors import TdphysError
    for key in keys:
        x = np.asarray(result.resumed_from[key])
        if x.shape != params.x0.shape:
            raise TdphysError(
                f"cannot resume: the run folder's '{key}' has {x.size} numbers, and "
                f"{result.experiment.file} trains {params.x0.size} (another controller, "
                "trainable parameters or design)\n  fix: resume with the experiment file that "
                "started the run, or start a new --out folder (init_from warm-starts from a "
                "run's params.npz where they fit)")


def _damaged(exp: Experiment, what: str):
    from ..errors import TdphysError
    return TdphysError(f"cannot resume: the run folder's {what} does not fit "
                       f"{exp.file}\n  fix: resume with the experiment file that started the "
                       "run, or start a new --out folder")


def _adam_state(saved, n: int) -> tuple:
    """Adam's (m, v, t, norms) from a run folder, checked: m and v None or n numbers."""
    m, v, t, *norms = saved
    for moment in (m, v):
        if moment is not None and np.shape(moment) != (n,):
            raise ValueError(f"moments of {np.size(moment)} numbers for {n} parameters")
    return (None if m is None else np.array(m, float), None if v is None else
            np.array(v, float), int(t), *[list(map(float, x)) for x in norms])


def _save_state(result: RunResult, **optimizer_state) -> None:
    """Keep where the optimiser stands: the next parameters to evaluate and its own state."""
    result.state = optimizer_state


def resume_state(result: RunResult) -> dict:
    """What `run(resume=...)` needs to go on from `result` (data only: outputs saves it as
    state.npz)."""
    return {"experiment": result.experiment.name, "file": result.experiment.file,
            "optimizer": result.optimizer, "budget": result.budget,
            **{key: getattr(result, key) for key in _RESUMED}, **result.state}


# Built (sim, task, params) per experiment and shape, for this Taichi epoch: a new Simulation
# compiles every kernel again (Taichi keys its caches on the fields' SNode trees), about 20-45 s
# per taped robot, so runs of the same experiment in one process (resume, Adam then CMA-ES,
# the tests) reuse them. Every run sets all trained values before its first rollout.
_BUILT: dict = {}


def _build(exp: Experiment, robot, steps: int, batch: int, param_sets: int = 1):
    """Simulation, task, controller and parameter map for one optimiser (reused when the
    same experiment and shape was built before in this Taichi epoch)."""
    from .. import backend
    import dataclasses
    key = (dataclasses.replace(exp, init_from=None), steps, batch, param_sets, backend.epoch())
    if key not in _BUILT:
        if len(_BUILT) >= 8:
            _BUILT.pop(next(iter(_BUILT)))
        _BUILT[key] = _build_new(exp, robot, steps, batch, param_sets)
    sim, task, params = _BUILT[key]
    sim.grad_decay = 1.0
    return sim, task, params


def _build_new(exp: Experiment, robot, steps: int, batch: int, param_sets: int = 1):
    import tdphys
    from .controllers import make_controller
    sim = tdphys.Simulation(robot, batch=batch, steps=steps)
    apply_overrides(exp, sim)
    task = make_task(exp.task, sim, exp.trainable)
    controller = None
    if exp.controller is not None:
        controller = make_controller(exp.controller, sim, task, param_sets)
    return sim, task, _Params(exp, sim, controller)


def apply_overrides(exp: Experiment, sim) -> None:
    """Set the experiment's `overrides:` on every world of sim."""
    for name, values in exp.overrides:
        shape = sim.get_param(name).shape
        flat = np.asarray(values, float).reshape(-1)
        if flat.size == 1:
            value = flat[0]
        elif flat.size == np.prod(shape[1:]):     # every entry's numbers in order
            value = flat.reshape(shape[1:])
        else:                                     # one per column
            value = flat
        try:
            value = np.broadcast_to(value, shape)
        except ValueError:
            raise ModelError(exp.file, f"overrides.{name}", f"{len(values)} numbers do not "
                             f"fit the parameter's shape {shape[1:]}",
                             "give one number, one per column, or all of the "
                             "entries' numbers in order") from None
        sim.set_param(name, value)


def _update_batch(exp: Experiment) -> int:
    """Worlds an Adam update rolls out: a batch of random targets or starts, else 1."""
    targets, starts = exp.task.targets, exp.task.starts
    return targets.batch if targets else starts.batch if starts else 1


def _taped(sim, task, params) -> None:
    """_evaluate under the simulation's tape (and the controller's): gradients follow."""
    task.reset()
    others = () if params.controller is None else (params.controller,)
    with sim.tape(*others):
        _evaluate(sim, task, params)      # NaN is checked outside the tape


def _evaluate(sim, task, params) -> None:
    """One rollout of every world and its loss (differentiable under ti.ad.Tape)."""
    if params.controller is not None:
        params.controller.rollout(check=False)
    else:
        sim.rollout(check=False)
    task.loss_kernel()
    task.extra_loss()


def _forward(sim, task, params) -> None:
    """One forward rollout of every world (no tape), its loss recomputed."""
    sim.loss[None] = 0.0
    task.reset()
    _evaluate(sim, task, params)


def _starts(exp: Experiment, robot, sim):
    """The random-start sampler of exp (None without task.starts)."""
    if exp.task.starts is None:
        return None
    from .starts import Starts
    sim.start()      # the centres of mass
    return Starts(robot, exp.task.starts, sim.com.to_numpy()[0])


def _next_starts(sim, starts, k: int, repeat: int = 1) -> None:
    """Fresh random starts for blocks of k worlds (the same k for each of `repeat` blocks, one
    block per CMA-ES candidate); the first world of each block keeps the robot file's start,
    the one the metrics and the success criterion are measured on."""
    offsets = starts.draw(k)
    offsets[0] = 0.0
    for name, value in starts.states(np.tile(offsets, (repeat, 1, 1))).items():
        sim.set_param(name, value)


def _next_batch(exp: Experiment, sim, task, sampler, k: int, repeat: int = 1) -> None:
    """Fresh random targets or starts (whichever the task has) for `repeat` blocks of k
    worlds, the same k in every block (one block per CMA-ES candidate)."""
    if exp.task.targets:
        task.next_batch(repeat=repeat)
    if sampler is not None:
        _next_starts(sim, sampler, k, repeat=repeat)


def _n_params(exp: Experiment, robot) -> int:
    """How many numbers the optimiser moves (for CMA-ES's default population)."""
    _, _, params = _build(exp, robot, steps=1, batch=1)
    return params.x0.size


def cma_default_popsize(n: int) -> int:
    """cma's default population 4 + floor(3 ln n)."""
    return 4 + int(3 * math.log(n))


def _record(result: RunResult, t0: float, loss: float, metrics: dict, x: np.ndarray,
            task, confirm: _Confirm, simulations: int = 1, **extra) -> None:
    metrics = dict(metrics)
    ok = confirm(task, metrics, x)     # first: it may add the confirmation's metrics
    result.evaluations += simulations
    wall = time.perf_counter() - t0
    if not result.history:             # the first update (its batch may be many worlds)
        result.first_eval_s = wall
    result.wall_s = wall
    entry = {"evaluation": result.evaluations, "wall_s": wall, "loss": loss,
             "best_loss": min(loss, result.loss_best), **metrics, **extra}
    result.history.append(entry)
    # best: the lowest loss; once a simulation meets the task's criterion, only those that meet
    # it (the loss and the criterion need not agree on which of two candidates is better)
    if result.success_at is None and ok:
        result.success_at = result.evaluations
        result.loss_best, result.x_best, result.metrics_best = loss, x.copy(), metrics
    elif math.isfinite(loss) and loss < result.loss_best and (ok or result.success_at is None):
        result.loss_best, result.x_best, result.metrics_best = loss, x.copy(), metrics


def _adam(exp, robot, steps, budget, result, bar, saver, verbose=False):
    o = exp.optimizer
    targets = exp.task.targets          # random reach targets: a batch of worlds per update
    sim, task, params = _build(exp, robot, steps, batch=_update_batch(exp))
    sampler = _starts(exp, robot, sim)
    confirm = _Confirm(exp, robot)
    sim.grad_decay = o.grad_decay
    result.sim, result.task, result._params = sim, task, params
    adam = Adam(o.lr, o.beta1, o.beta2, o.clip, o.lr_decay, clip_relative=o.clip_relative)
    t0 = time.perf_counter()
    if result.resumed_from:
        _check_resumed_size(result, params, ("x", "x_best"))
        x = np.array(result.resumed_from["x"], float)
        try:
            adam.restore(_adam_state(result.resumed_from["adam"], x.size))
        except (TypeError, ValueError, IndexError) as exc:
            raise _damaged(exp, f"its Adam state ({exc})") from None
        t0 -= result.wall_s
    else:
        x = initial_x(exp, params)
        if exp.init_from is None:       # a warm start keeps its statistics and scaling
            x = _standardized_start(exp, sim, task, params, sampler, x, sim.batch, 1, result)
        result.x_best = x.copy()
    try:
        _save_state(result, x=x.copy(), adam=adam.state())
        held_out, zero_updates = None, 0
        while result.evaluations < budget:
            params.set(sim, x)
            _next_batch(exp, sim, task, sampler, sim.batch)
            _taped(sim, task, params)
            loss, g = float(sim.loss[None]), params.grad(sim)
            metrics = task.batch_metrics()
            if sim.n_motors:
                metrics["clipped_share"] = _clipped_share(sim)
            if targets:
                last = result.evaluations + sim.batch >= budget
                if held_out is None or result.iterations % targets.eval_every == 0 or last:
                    held_out = task.held_out_error(lambda: _forward(sim, task, params))
                metrics["error_m"] = held_out    # the last held-out measurement
            _record(result, t0, loss, metrics, x, task, confirm, simulations=sim.batch,
                    grad_norm=float(np.linalg.norm(g)))
            if verbose:
                print(result.evaluations, round(result.wall_s, 1), loss, metrics, flush=True)
            result.iterations += 1
            bar.update(result)
            if not (math.isfinite(loss) and np.all(np.isfinite(g))):
                result.stop_reason = "diverged"
                result.message = (f"iteration {result.iterations}: the "
                                  f"{'loss' if not math.isfinite(loss) else 'gradient'} became "
                                  f"NaN/inf{_where_diverged(sim)}; stopped, keeping the best "
                                  "parameters so far. fix: lower optimizer.lr, set "
                                  "optimizer.clip" + (", or use precision f64"
                                                      if exp.precision == "f32" else ""))
                return
            if o.stop_at_success and result.success_at is not None:
                result.stop_reason = "success"
                return
            zero_updates = zero_updates + 1 if not np.any(g) else 0
            if zero_updates >= STALL_UPDATES:
                result.stop_reason = "stalled"
                result.message = (
                    f"iteration {result.iterations}: the gradient has been exactly 0 for "
                    f"{STALL_UPDATES} updates in a row, so nothing the optimiser moves changes "
                    "the loss any more: typically every motor command is clipped (a motor's "
                    "`range`, a servo pushing at max_force, a joint at its limit) or a relu "
                    "layer is dead; stopped, keeping the best parameters so far. fix: lower "
                    "optimizer.lr or controller.output_scale, or add task.control_cost (its "
                    "gradient reaches clipped commands)")
                return
            x = params.refreshed(adam.step(x, g))    # normalize: the last rollout's stats
            _save_state(result, x=x.copy(), adam=adam.state())
            saver(result)
    except KeyboardInterrupt:
        result.stop_reason, result.message = "interrupted", "stopped by Ctrl-C"
    except ModelError as exc:           # a design the robot file refuses (co-design)
        _stopped_by_design(result, exc)


def _stopped_by_design(result: RunResult, exc) -> None:
    """The optimiser moved a design var to a value the robot file refuses (outside its
    min/max, a body below the ground): stop, keeping the best parameters so far."""
    result.stop_reason = "invalid_design"
    result.message = (f"iteration {result.iterations}: the optimiser's next design does not "
                      f"load ({exc}); stopped, keeping the best parameters so far. fix: "
                      "declare the var's `min`/`max` in the robot file (the design is kept "
                      "inside them), or lower optimizer.lr or the design var's scale")


def _standardized_start(exp, sim, task, params, sampler, x, k: int, repeat: int, result):
    """x with a vision controller's input statistics set (`controller.normalize`;
    ConvRecurrent.refreshed) and then its dense layers standardised (`controller.standardize`;
    ConvRecurrent.standardized), each from one forward rollout of the optimiser's batch:
    fresh random starts or targets (k per block, `repeat` blocks), every world on x. Those
    rollouts count as simulations. Without the options, x unchanged."""
    ctl = params.controller
    x, n = np.array(x, float), params.n_ctrl
    if getattr(ctl, "normalize", False):          # the statistics of the initial weights
        params.set(sim, x)
        _next_batch(exp, sim, task, sampler, k, repeat)
        _forward(sim, task, params)
        x[:n] = ctl.refreshed(x[:n] * params.ctrl_scale, 1.0) / params.ctrl_scale
        result.evaluations += sim.batch
    if ctl is None or not exp.controller.standardize:
        return x
    for layer in range(len(ctl.dense)):
        params.set(sim, x)
        _next_batch(exp, sim, task, sampler, k, repeat)
        _forward(sim, task, params)
        x[:n] = ctl.standardized(x[:n] * params.ctrl_scale, layer) / params.ctrl_scale
        result.evaluations += sim.batch
    return x


def _clipped_share(sim) -> float:
    """The share of the last rollout's motor commands (every step, world and motor) outside
    their motor's `range`, which the motor clips: they get no gradient from the physics."""
    u = sim.ctrl.to_numpy()[:, :, :sim.n_motors]
    lo, hi = sim.get_param("motor_ctrl_lo"), sim.get_param("motor_ctrl_hi")
    return float(np.mean((u < lo[None]) | (u > hi[None])))


STALL_UPDATES = 5   # Adam stops after this many updates in a row with an all-zero gradient


def _where_diverged(sim) -> str:
    """' (first at step S, body B)' from the engine's NaN diagnostics, or ''."""
    from ..errors import GradientDiverged, SimulationDiverged
    try:
        sim.check_finite()
        sim.check_gradients()
    except (SimulationDiverged, GradientDiverged) as exc:
        return f" ({str(exc).splitlines()[0]})"
    return ""


def _cma(exp, robot, steps, budget, result, bar, saver):
    """CMA-ES: each generation is one batched forward rollout, one world per candidate."""
    o = exp.optimizer
    try:
        import cma  # noqa: F401
    except ImportError as exc:
        raise ImportError("--optimizer cmaes needs the `cma` package: pip install cma") from exc
    popsize = o.popsize or cma_default_popsize(_n_params(exp, robot))
    targets = exp.task.targets       # random reach targets: a block of worlds per candidate
    starts = exp.task.starts         # or random initial states: likewise
    k = targets.batch if targets else starts.batch if starts else 1
    sim, task, params = _build(exp, robot, steps, batch=popsize * k, param_sets=popsize)
    sampler = _starts(exp, robot, sim)
    confirm = _Confirm(exp, robot)
    result.sim, result.task, result._params = sim, task, params
    t0 = time.perf_counter()
    if result.resumed_from:
        _check_resumed_size(result, params, ("x_best",))
        try:
            es = cma_resume(result.resumed_from["cma"], o.sigma, popsize, o.seed,
                            fixed=params.statistics_mask())
        except (TypeError, ValueError, KeyError) as exc:
            raise _damaged(exp, f"its CMA-ES state ({exc})") from None
        t0 -= result.wall_s
    else:
        x0 = initial_x(exp, params)
        if exp.init_from is None:       # a warm start keeps its statistics and scaling
            x0 = _standardized_start(exp, sim, task, params, sampler, x0, k, popsize, result)
        es = cmaes(x0, o.sigma, popsize, o.seed, fixed=params.statistics_mask())
        result.x_best = x0.copy()
    try:
        held_out = None
        while result.evaluations < budget:
            X = np.array(es.ask())
            _next_batch(exp, sim, task, sampler, k, repeat=popsize)   # the same k per candidate
            params.set(sim, X)
            _forward(sim, task, params)
            losses = task.losses().reshape(popsize, k).mean(axis=1)
            losses = np.where(np.isfinite(losses), losses, 1e30)   # a diverged world ranks last
            metrics = task.metrics()[::k]               # each candidate's file start
            if targets:
                metrics = task.block_metrics(k)
                if held_out is None or result.iterations % targets.eval_every == 0:
                    params.set(sim, X[int(np.argmin(losses))])   # this generation's best
                    held_out = task.held_out_error(lambda: _forward(sim, task, params))
                for m in metrics:
                    m["error_m"] = held_out
            for xi, li, mi in zip(X, losses, metrics):
                if result.evaluations >= budget:
                    break
                _record(result, t0, float(li), mi, xi, task, confirm, simulations=k)
            result.iterations += 1
            bar.update(result)
            es.tell(list(X), list(losses))
            _save_state(result, cma=cma_state(es))
            saver(result)
            if o.stop_at_success and result.success_at is not None:
                result.stop_reason = "success"
                return
    except KeyboardInterrupt:
        result.stop_reason, result.message = "interrupted", "stopped by Ctrl-C"
    except ModelError as exc:           # a design the robot file refuses (co-design)
        _stopped_by_design(result, exc)


class _Checkpoint:
    """Calls save(result) after an optimiser step when `every_s` seconds have passed since the
    last call (or the start); does nothing without `save`."""

    def __init__(self, save, every_s: float):
        self.save, self.every_s, self.last = save, float(every_s), time.perf_counter()

    def __call__(self, result: RunResult) -> None:
        if self.save is not None and time.perf_counter() - self.last >= self.every_s:
            self.save(result)
            self.last = time.perf_counter()


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
        self.bar.set_postfix(loss=f"{result.loss_best:.3g}", **{key: f"{h[key]:.3g} {unit}"},
                             refresh=False)
        self.bar.refresh()

    def close(self):
        if self.bar is not None:
            self.bar.close()
