"""Helpers shared by the controller tests: a controller's loss with and without the tape, and
the finite-difference check of its weight gradient."""

import numpy as np
import pytest


def rollout_loss(sim, task, ctl, theta) -> float:
    """The task's loss after one rollout with weights theta (no tape)."""
    ctl.set(theta)
    sim.loss[None] = 0.0
    task.reset()
    ctl.rollout()
    task.loss_kernel()
    return float(sim.loss[None])


def taped_loss(sim, task, ctl, theta):
    """(loss, d loss / d theta of parameter set 0) from one taped rollout."""
    ctl.set(theta)
    task.reset()
    with sim.tape(ctl):
        ctl.rollout()
        task.loss_kernel()
    return float(sim.loss[None]), ctl.grad()


def check_weight_gradient(sim, task, ctl, both, picks, eps=1e-6):
    """Two worlds with their own weights `both` (2, n): the taped gradient of world 0's
    weights equals central differences (world 1's weights held) at every index in `picks`.
    Returns the taped gradient."""
    theta, other = both[0], both[1]
    _, grad = taped_loss(sim, task, ctl, both)
    for i in sorted(picks):
        up, down = theta.copy(), theta.copy()
        up[i] += eps
        down[i] -= eps
        fd = (
            rollout_loss(sim, task, ctl, np.stack([up, other]))
            - rollout_loss(sim, task, ctl, np.stack([down, other]))
        ) / (2 * eps)
        assert grad[i] == pytest.approx(fd, rel=1e-4, abs=1e-9), (i, grad[i], fd)
    return grad


def initial_theta_for(ctl, spec):
    """The initial weights `ctl` would draw under another spec (e.g. zero_output)."""
    saved = ctl.spec
    ctl.spec = spec
    try:
        return ctl.initial_theta()
    finally:
        ctl.spec = saved


def check_run_gradient(exp, picks, eps=1e-6, rel=1e-5, builds=None):
    """The taped gradient the optimiser gets for experiment `exp` (its Simulation, task and
    controller as a run builds them; reused from `builds` when a test built `exp` before)
    against central differences of the loss, at the optimiser coordinates in `picks`."""
    import tdphys
    from tdphys.optim.builds import Builds
    from tdphys.optim.rollouts import next_starts, start_sampler

    assert exp.precision == "f64", "finite differences need f64"
    tdphys.init("cpu", "f64")  # as run() would (a no-op when already running)
    robot = tdphys.load(exp.robot)
    steps = int(round(exp.task.duration / robot.solver.dt))
    t = exp.task
    batch = t.targets.batch if t.targets else t.starts.batch if t.starts else 1
    sim, task, params = (builds or Builds()).get(exp, robot, steps, batch)
    x = params.x0 + np.random.default_rng(0).normal(0.0, 0.05, params.x0.size)
    if t.targets:
        task.next_batch()
    if t.starts:
        next_starts(sim, start_sampler(exp, robot, sim), batch)
    check_params_gradient(sim, task, params, x, picks, eps, rel)


def check_params_gradient(sim, task, params, x, picks, eps=1e-6, rel=1e-5):
    """params.grad (the optimiser's gradient at coordinates x, from one taped rollout)
    against central differences of the loss at the coordinates in `picks`, to a relative
    `rel` of max(|fd|, 1e-3 of the largest gradient entry). Returns the gradient."""
    from tdphys.optim.rollouts import forward, taped

    params.set(sim, x)
    taped(sim, task, params)
    grad = params.grad(sim)

    def loss(xi):
        params.set(sim, xi)
        forward(sim, task, params)
        return float(sim.loss[None])

    for i in picks:
        h = np.zeros_like(x)
        h[i] = eps
        fd = (loss(x + h) - loss(x - h)) / (2 * eps)
        assert abs(grad[i] - fd) <= rel * max(abs(fd), 1e-3 * np.abs(grad).max()), (i, grad[i], fd)
    return grad


def check_grad_decay(sim, rollout, param, g, steps, others=()):
    """A final-state loss (gradcheck.FinalStateLoss) after `rollout(grad_decay)` under
    sim.tape(*others): with the backward's decay g its gradient w.r.t. `param` must be
    exactly g^steps times the exact one (grad_decay 1)."""
    from tdphys.gradcheck import FinalStateLoss

    loss = FinalStateLoss(sim)
    grads = {}
    for decay in (1.0, g):
        with sim.tape(*others, grad_decay=decay):
            rollout(decay)
            loss.kernel()
        grads[decay] = sim.param_grad(param).copy()
    assert np.abs(grads[1.0]).max() > 0
    np.testing.assert_allclose(grads[g], g**steps * grads[1.0], rtol=1e-9, atol=1e-14)
