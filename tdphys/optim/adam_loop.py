"""The Adam loop: one taped rollout of the update's worlds per step, the exact gradient of
the loss (with the experiment's grad_decay) through the physics and the controller."""

from __future__ import annotations

import math
import time

import numpy as np

from ..errors import GradientDiverged, ModelError, SimulationDiverged
from .checkpoints import adam_state, check_resumed_size, damaged, save_state
from .confirm import Confirm
from .optimizers import Adam
from .result import record, stopped_by_design
from .rollouts import forward, next_batch, standardized_start, start_sampler, taped, update_batch
from .warm_start import initial_x

STALL_UPDATES = 5  # Adam stops after this many updates in a row with an all-zero gradient


def train_adam(
    exp, robot, steps: int, budget: int, result, bar, saver, builds, verbose: bool = False
) -> None:
    """Adam on exp until `budget` simulations, the success criterion (optimizer.
    stop_at_success), a NaN, a gradient stuck at 0, Ctrl-C or a design the robot file
    refuses; into `result` (a RunResult, resumed when result.resumed_from holds a state).
    bar.update(result) after each update, saver(result) after each step."""
    o = exp.optimizer
    targets = exp.task.targets  # random reach targets: a batch of worlds per update
    sim, task, params = builds.get(exp, robot, steps, batch=update_batch(exp))
    sampler = start_sampler(exp, robot, sim)
    confirm = Confirm(exp, robot, builds)
    result.sim, result.task, result.parameter_map = sim, task, params
    adam = Adam(o.lr, o.beta1, o.beta2, o.clip, o.lr_decay, clip_relative=o.clip_relative)
    t0 = time.perf_counter()
    if result.resumed_from:
        check_resumed_size(result, params, ("x", "x_best"))
        x = np.array(result.resumed_from["x"], float)
        try:
            adam.restore(adam_state(result.resumed_from["adam"], x.size))
        except (TypeError, ValueError, IndexError) as exc:
            raise damaged(exp, f"its Adam state ({exc})") from None
        t0 -= result.wall_s
    else:
        x = initial_x(exp, params)
        if exp.init_from is None:  # a warm start keeps its statistics and scaling
            x = standardized_start(exp, sim, task, params, sampler, x, sim.batch, 1, result)
        result.x_best = x.copy()
    try:
        save_state(result, x=x.copy(), adam=adam.state())
        held_out, zero_updates = None, 0
        while result.evaluations < budget:
            params.set(sim, x)
            next_batch(exp, sim, task, sampler, sim.batch)
            taped(sim, task, params, o.grad_decay)
            loss, g = float(sim.loss[None]), params.grad(sim)
            metrics = task.batch_metrics()
            if sim.n_motors:
                metrics["clipped_share"] = _clipped_share(sim)
            if targets:
                last = result.evaluations + sim.batch >= budget
                if held_out is None or result.iterations % targets.eval_every == 0 or last:
                    held_out = task.held_out_error(lambda: forward(sim, task, params))
                metrics["error_m"] = held_out  # the last held-out measurement
            record(
                result,
                t0,
                loss,
                metrics,
                x,
                task,
                confirm,
                simulations=sim.batch,
                grad_norm=float(np.linalg.norm(g)),
            )
            if verbose:
                print(result.evaluations, round(result.wall_s, 1), loss, metrics, flush=True)
            result.iterations += 1
            bar.update(result)
            if not (math.isfinite(loss) and np.all(np.isfinite(g))):
                result.stop_reason = "diverged"
                result.message = (
                    f"iteration {result.iterations}: the "
                    f"{'loss' if not math.isfinite(loss) else 'gradient'} became "
                    f"NaN/inf{_where_diverged(sim)}; stopped, keeping the best "
                    "parameters so far. fix: lower optimizer.lr, set "
                    "optimizer.clip" + (", or use precision f64" if exp.precision == "f32" else "")
                )
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
                    "gradient reaches clipped commands)"
                )
                return
            x = params.refreshed(adam.step(x, g))  # normalize: the last rollout's stats
            save_state(result, x=x.copy(), adam=adam.state())
            saver(result)
    except KeyboardInterrupt:
        result.stop_reason, result.message = "interrupted", "stopped by Ctrl-C"
    except ModelError as exc:  # a design the robot file refuses (co-design)
        stopped_by_design(result, exc)


def _clipped_share(sim) -> float:
    """The share of the last rollout's motor commands (every step, world and motor) outside
    their motor's `range`, which the motor clips: they get no gradient from the physics."""
    u = sim.control.ctrl.to_numpy()[:, :, : sim.n_motors]
    lo, hi = sim.get_param("motor_ctrl_lo"), sim.get_param("motor_ctrl_hi")
    return float(np.mean((u < lo[None]) | (u > hi[None])))


def _where_diverged(sim) -> str:
    """' (first at step S, body B)' from the engine's NaN diagnostics, or ''."""
    try:
        sim.check_finite()
        sim.check_gradients()
    except (SimulationDiverged, GradientDiverged) as exc:
        return f" ({str(exc).splitlines()[0]})"
    return ""
