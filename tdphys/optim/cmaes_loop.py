"""The CMA-ES loop: each generation is one batched forward rollout, one world (or one block
of worlds, with random targets or starts) per candidate; no gradients."""

from __future__ import annotations

import math
import time

import numpy as np

from ..errors import ModelError
from .checkpoints import check_resumed_size, damaged, save_state
from .confirm import Confirm
from .optimizers import cma_resume, cma_state, cmaes
from .result import record, stopped_by_design
from .rollouts import forward, next_batch, standardized_start, start_sampler
from .warm_start import initial_x


def default_popsize(n: int) -> int:
    """cma's default population for n numbers: 4 + floor(3 ln n)."""
    return 4 + int(3 * math.log(n))


def train_cmaes(exp, robot, steps: int, budget: int, result, bar, saver, builds) -> None:
    """CMA-ES on exp until `budget` simulations, the success criterion (optimizer.
    stop_at_success), Ctrl-C or a design the robot file refuses; into `result` (a RunResult,
    resumed when result.resumed_from holds a state). bar.update(result) and saver(result)
    after each generation."""
    o = exp.optimizer
    try:
        import cma  # noqa: F401
    except ImportError as exc:
        raise ImportError("--optimizer cmaes needs the `cma` package: pip install cma") from exc
    if o.popsize:
        popsize = o.popsize
    else:  # how many numbers the optimiser moves, from a one-step build
        popsize = default_popsize(builds.get(exp, robot, steps=1, batch=1)[2].x0.size)
    targets = exp.task.targets  # random reach targets: a block of worlds per candidate
    starts = exp.task.starts  # or random initial states: likewise
    k = targets.batch if targets else starts.batch if starts else 1
    sim, task, params = builds.get(exp, robot, steps, batch=popsize * k, param_sets=popsize)
    sampler = start_sampler(exp, robot, sim)
    confirm = Confirm(exp, robot, builds)
    result.sim, result.task, result.parameter_map = sim, task, params
    t0 = time.perf_counter()
    if result.resumed_from:
        check_resumed_size(result, params, ("x_best",))
        try:
            es = cma_resume(
                result.resumed_from["cma"], o.sigma, popsize, o.seed, fixed=params.statistics_mask()
            )
        except (TypeError, ValueError, KeyError) as exc:
            raise damaged(exp, f"its CMA-ES state ({exc})") from None
        t0 -= result.wall_s
    else:
        x0 = initial_x(exp, params)
        if exp.init_from is None:  # a warm start keeps its statistics and scaling
            x0 = standardized_start(exp, sim, task, params, sampler, x0, k, popsize, result)
        es = cmaes(x0, o.sigma, popsize, o.seed, fixed=params.statistics_mask())
        result.x_best = x0.copy()
    try:
        held_out = None
        while result.evaluations < budget:
            X = np.array(es.ask())
            next_batch(exp, sim, task, sampler, k, repeat=popsize)  # the same k per candidate
            params.set(sim, X)
            forward(sim, task, params)
            losses = task.losses().reshape(popsize, k).mean(axis=1)
            losses = np.where(np.isfinite(losses), losses, 1e30)  # a diverged world ranks last
            metrics = task.metrics()[::k]  # each candidate's file start
            if targets:
                metrics = task.block_metrics(k)
                if held_out is None or result.iterations % targets.eval_every == 0:
                    params.set(sim, X[int(np.argmin(losses))])  # this generation's best
                    held_out = task.held_out_error(lambda: forward(sim, task, params))
                for m in metrics:
                    m["error_m"] = held_out
            for xi, li, mi in zip(X, losses, metrics):
                if result.evaluations >= budget:
                    break
                record(result, t0, float(li), mi, xi, task, confirm, simulations=k)
            result.iterations += 1
            bar.update(result)
            es.tell(list(X), list(losses))
            save_state(result, cma=cma_state(es))
            saver(result)
            if o.stop_at_success and result.success_at is not None:
                result.stop_reason = "success"
                return
    except KeyboardInterrupt:
        result.stop_reason, result.message = "interrupted", "stopped by Ctrl-C"
    except ModelError as exc:  # a design the robot file refuses (co-design)
        stopped_by_design(result, exc)
