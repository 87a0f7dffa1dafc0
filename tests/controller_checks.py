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
        fd = (rollout_loss(sim, task, ctl, np.stack([up, other]))
              - rollout_loss(sim, task, ctl, np.stack([down, other]))) / (2 * eps)
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
