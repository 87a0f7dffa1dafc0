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

from .experiment import Experiment
from .optimizers import Adam, cmaes
from .tasks import make_task


@dataclass
class RunResult:
    """history: one dict per simulation (evaluation, wall_s, loss, metrics...); x_best: the
    best parameters found (optimiser units); params: {name: value (per-world shape)};
    stop_reason: success | budget | interrupted | diverged; message: for a human."""

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


class _Params:
    """Map between the flat optimiser vector x and the Simulation's parameters."""

    def __init__(self, exp: Experiment, sim):
        self.items = []                      # (name, trailing shape, scale, offset, size)
        x0, offset = [], 0
        for tr in exp.trainable:
            base = sim.get_param(tr.name)[0]          # the robot's value, world 0
            if tr.init is not None:
                init = np.asarray(tr.init, float)
                try:
                    base = np.broadcast_to(init, base.shape).copy()
                except ValueError:
                    from ..errors import ModelError
                    raise ModelError(exp.file, f"trainable.{tr.name}.init",
                                     f"{init.size} numbers do not fit the parameter's shape "
                                     f"{base.shape}", f"give {int(np.prod(base.shape))} numbers "
                                     "or one per column") from None
            try:
                scale = np.broadcast_to(np.asarray(tr.scale, float), base.shape).ravel()
            except ValueError:
                from ..errors import ModelError
                raise ModelError(exp.file, f"trainable.{tr.name}.scale",
                                 f"{np.size(tr.scale)} scales do not fit the parameter's shape "
                                 f"{base.shape}", "give one number, or one per column") from None
            self.items.append((tr.name, base.shape, scale, offset, base.size))
            x0.append(base.ravel() / scale)
            offset += base.size
        self.x0 = np.concatenate(x0)

    def set(self, sim, X: np.ndarray) -> None:
        """X: (n,) for every world, or (B, n) one row per world."""
        X = np.atleast_2d(X)
        for name, shape, scale, off, size in self.items:
            value = (X[:, off:off + size] * scale).reshape((X.shape[0],) + shape)
            sim.set_param(name, value)

    def grad(self, sim) -> np.ndarray:
        """d loss / d x of world 0 (chain rule through the scale)."""
        return np.concatenate([sim.param_grad(name)[0].ravel() * scale
                               for name, _, scale, _, _ in self.items])

    def named(self, x: np.ndarray) -> dict:
        return {name: (x[off:off + size] * scale).reshape(shape).tolist()
                for name, shape, scale, off, size in self.items}


def run(exp: Experiment, optimizer: str | None = None, budget: int | None = None,
        arch: str = "cpu", progress: bool = True, verbose: bool = False) -> RunResult:
    """Optimise exp's trainable parameters; returns the result with the final rollout (the best
    parameters, world 0) left in result.sim. Ctrl-C stops cleanly with what was learned."""
    import tdphys
    from .. import backend
    kind = optimizer or exp.optimizer.type
    budget = int(budget or exp.optimizer.budget)
    tdphys.init(arch, exp.precision)
    if kind == "adam":
        backend.current().require_gradients("gradients for --optimizer adam")
    robot = tdphys.load(exp.robot)
    steps = int(round(exp.task.duration / robot.solver.dt))
    result = RunResult(exp, kind)
    bar = _Bar(budget, progress, exp.name, kind)
    try:
        if kind == "adam":
            _adam(exp, robot, steps, budget, result, bar, verbose)
        else:
            _cma(exp, robot, steps, budget, result, bar)
    finally:
        bar.close()
    # the final behaviour: the best parameters, rolled out once more (not counted)
    sim, task, params = result.sim, result.task, result._params
    params.set(sim, result.x_best)
    sim.loss[None] = 0.0
    sim.rollout(check=False)
    task.loss_kernel()
    result.metrics_best = task.metrics()[0]
    result.params = params.named(result.x_best)
    return result


def _record(result: RunResult, t0: float, loss: float, metrics: dict, x: np.ndarray,
            task, **extra) -> None:
    result.evaluations += 1
    wall = time.perf_counter() - t0
    if result.evaluations == 1:
        result.first_eval_s = wall
    result.wall_s = wall
    entry = {"evaluation": result.evaluations, "wall_s": wall, "loss": loss,
             "best_loss": min(loss, result.loss_best), **metrics, **extra}
    result.history.append(entry)
    # best: the lowest loss; once a simulation meets the task's criterion, only those that meet
    # it (the loss and the criterion need not agree on which of two candidates is better)
    ok = task.success(metrics)
    if result.success_at is None and ok:
        result.success_at = result.evaluations
        result.loss_best, result.x_best, result.metrics_best = loss, x.copy(), metrics
    elif math.isfinite(loss) and loss < result.loss_best and (ok or result.success_at is None):
        result.loss_best, result.x_best, result.metrics_best = loss, x.copy(), metrics


def _adam(exp, robot, steps, budget, result, bar, verbose=False):
    import taichi as ti
    import tdphys
    o = exp.optimizer
    sim = tdphys.Simulation(robot, batch=1, steps=steps)
    task = make_task(exp.task, sim)
    params = _Params(exp, sim)
    result.sim, result.task, result._params = sim, task, params
    adam = Adam(o.lr, o.beta1, o.beta2, o.clip, o.lr_decay)
    x, t0 = params.x0.copy(), time.perf_counter()
    result.x_best = x.copy()
    try:
        while result.evaluations < budget:
            params.set(sim, x)
            with ti.ad.Tape(sim.loss):
                sim.rollout(check=False)          # NaN is checked outside the tape
                task.loss_kernel()
            loss, g = float(sim.loss[None]), params.grad(sim)
            metrics = task.metrics()[0]
            _record(result, t0, loss, metrics, x, task, grad_norm=float(np.linalg.norm(g)))
            if verbose:
                print(result.evaluations, round(result.wall_s, 1), loss, metrics["error_m"],
                      metrics["speed_mps"], np.round(params.named(x)["init_vel"], 2).tolist()
                      if "init_vel" in params.named(x) else "", flush=True)
            result.iterations += 1
            bar.update(result)
            if not (math.isfinite(loss) and np.all(np.isfinite(g))):
                result.stop_reason = "diverged"
                result.message = (f"iteration {result.iterations}: the "
                                  f"{'loss' if not math.isfinite(loss) else 'gradient'} became "
                                  "NaN/inf; stopped, keeping the best parameters so far. fix: "
                                  "lower optimizer.lr, set optimizer.clip, or use precision f64")
                return
            if o.stop_at_success and result.success_at is not None:
                result.stop_reason = "success"
                return
            x = adam.step(x, g)
    except KeyboardInterrupt:
        result.stop_reason, result.message = "interrupted", "stopped by Ctrl-C"


def _cma(exp, robot, steps, budget, result, bar):
    """CMA-ES: each generation is one batched forward rollout, one world per candidate."""
    import tdphys
    o = exp.optimizer
    try:
        import cma  # noqa: F401
    except ImportError as exc:
        raise ImportError("--optimizer cmaes needs the `cma` package: pip install cma") from exc
    params = _Params(exp, tdphys.Simulation(robot, batch=1, steps=steps))   # x0 from world 0
    es = cmaes(params.x0, o.sigma, o.popsize, o.seed)
    sim = tdphys.Simulation(robot, batch=es.popsize, steps=steps)
    task = make_task(exp.task, sim)
    result.sim, result.task, result._params = sim, task, params
    result.x_best = params.x0.copy()
    t0 = time.perf_counter()
    try:
        while result.evaluations < budget:
            X = np.array(es.ask())
            params.set(sim, X)
            sim.loss[None] = 0.0
            sim.rollout(check=False)
            task.loss_kernel()
            losses = task.losses()
            losses = np.where(np.isfinite(losses), losses, 1e30)   # a diverged world ranks last
            for xi, li, mi in zip(X, losses, task.metrics()):
                if result.evaluations >= budget:
                    break
                _record(result, t0, float(li), mi, xi, task)
            result.iterations += 1
            bar.update(result)
            es.tell(list(X), list(losses))
            if o.stop_at_success and result.success_at is not None:
                result.stop_reason = "success"
                return
    except KeyboardInterrupt:
        result.stop_reason, result.message = "interrupted", "stopped by Ctrl-C"


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
        self.bar.set_postfix(loss=f"{result.loss_best:.3g}", err=f"{h['error_m']:.3g} m",
                             speed=f"{h['speed_mps']:.2g} m/s", refresh=False)
        self.bar.refresh()

    def close(self):
        if self.bar is not None:
            self.bar.close()
