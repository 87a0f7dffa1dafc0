"""Is the gradient a descent direction at the step sizes the optimiser takes?

Through contact-rich rollouts the loss can be rough: exact gradients describe it only within a
tiny neighbourhood, and a step of useful size lands somewhere the gradient did not predict
(the gait: docs/gradient-quality.md). `probe(exp, x)` measures this at parameters x (optimiser
units): it computes the taped gradient g (with the experiment's grad_decay, and exact), then
rolls out x + s d along d = -g / |g| for step lengths s and reports the secant slope
(L(x + s d) - L(x)) / s next to the predicted directional derivative g_exact . d. Where they
agree the gradient is trustworthy at that step; where the slope is positive a step that long
makes things worse.

The same batch of random targets or starts is used for every rollout of one probe.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STEPS = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 3e-2, 1e-1)


@dataclass
class Direction:
    """One gradient's probe: its grad_decay, norm and exact directional derivative (the
    exact gradient dotted with this direction), and secant slopes {step: slope}."""

    decay: float
    norm: float
    predicted: float
    slopes: dict

    def trusted_up_to(self, rel: float = 0.2) -> float:
        """The longest probed step up to which every secant slope is within `rel` of the
        predicted one (0 when even the shortest is not)."""
        ok = 0.0
        for step, slope in sorted(self.slopes.items()):
            if abs(slope - self.predicted) > rel * abs(self.predicted):
                break
            ok = step
        return ok


def probe(
    exp, x: np.ndarray | None = None, steps=STEPS, decays=None, builds=None
) -> list[Direction]:
    """Directions -g/|g| for the experiment's grad_decay and for the exact gradient (one if
    they are the same; `decays` chooses others), probed at x (default: the starting
    parameters, `init_from`'s where the file has one). Needs tdphys.backend.init() first;
    `builds`: where the simulation is built (optim.builds.Builds; default a new one)."""
    from ..model.robot_file import load_robot_file as load_robot
    from ..optim.builds import Builds
    from ..optim.experiment import check_against_robot
    from ..optim.rollouts import forward, next_starts, start_sampler, taped, update_batch
    from ..optim.warm_start import initial_x

    robot = load_robot(exp.robot)
    check_against_robot(exp, robot)
    n_steps = int(round(exp.task.duration / robot.solver.dt))
    sim, task, params = (builds or Builds()).get(exp, robot, n_steps, update_batch(exp))
    x = initial_x(exp, params) if x is None else np.asarray(x, float)
    if exp.task.targets:
        task.next_batch()
    sampler = start_sampler(exp, robot, sim)
    if sampler is not None:  # the file's starts.seed: the same batch every time
        next_starts(sim, sampler, sim.batch)

    def loss(z):
        params.set(sim, z)
        forward(sim, task, params)
        return float(sim.loss[None])

    def gradient(z, decay):
        params.set(sim, z)
        taped(sim, task, params, decay)
        return params.grad(sim)

    base = loss(x)
    exact = gradient(x, 1.0)
    if decays is None:
        decays = sorted({exp.optimizer.grad_decay, 1.0})
    out = []
    for decay in decays:
        g = exact if decay == 1.0 else gradient(x, decay)
        norm = float(np.linalg.norm(g))
        if norm == 0.0:
            out.append(Direction(decay, 0.0, 0.0, {}))
            continue
        d = -g / norm
        slopes = {s: (loss(x + s * d) - base) / s for s in steps}
        out.append(Direction(decay, norm, float(exact @ d), slopes))
    return out


def report(directions: list[Direction]) -> str:
    """A table of the probe for a human."""
    lines = []
    for dr in directions:
        kind = "exact" if dr.decay == 1.0 else f"grad_decay {dr.decay:g}"
        lines.append(
            f"-gradient ({kind}): |g| = {dr.norm:.3g}, predicted slope "
            f"g_exact . d = {dr.predicted:.4g}; trusted up to step "
            f"{dr.trusted_up_to():g}"
        )
        for step, slope in dr.slopes.items():
            verdict = "descends" if slope < 0 else "ASCENDS"
            lines.append(f"  step {step:8.0e}: secant slope {slope:11.4g}  {verdict}")
    return "\n".join(lines)
