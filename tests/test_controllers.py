"""Differentiable controllers (tdphys/control/mlp.py): the MLP's weights get exact
gradients through the physics, its start is a standstill, and the per-step and whole-horizon
evaluations agree. The arm (4 motors) reaching a point is the test bed."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from controller_checks import (
    check_grad_decay,
    check_weight_gradient,
    initial_theta_for,
    rollout_loss,
)

pytestmark = pytest.mark.taichi_per_module  # module-scoped fixtures hold fields

ROOT = Path(__file__).resolve().parents[1]
STEPS = 8


def _setup(
    inputs,
    hidden=(5,),
    zero_output=False,
    skip=True,
    activation="tanh",
    squash="none",
    batch=1,
    param_sets=1,
    steps=STEPS,
    action_repeat=1,
):
    import tdphys
    from tdphys.control.mlp import MLP, ControllerInput, MLPSpec
    from tdphys.tasks.reach import Reach, ReachConfig

    sim = tdphys.Simulation(tdphys.load(ROOT / "robots" / "arm.yaml"), batch=batch, steps=steps)
    task = Reach(
        ReachConfig(
            target=(0.5, 0.5, 0.5), effector_body="forearm", effector_point=(0.5, 0.0, 0.0)
        ),
        sim,
    )
    spec = MLPSpec(
        inputs=tuple(ControllerInput(*i) for i in inputs),
        hidden=hidden,
        activation=activation,
        skip=skip,
        zero_output=zero_output,
        output_scale=0.8,
        output_offset=0.1,
        squash=squash,
        seed=3,
        init_gain=1.5,
        action_repeat=action_repeat,
    )
    return sim, task, MLP(spec, sim, task, param_sets)


FEATURES = [
    ("clock", 2.0),
    ("sensor", 1.0, "hand_pos", 2.0),
    ("effector_distance",),
    ("effector_to_target", 1.0, "", 3.0),
    ("target",),
]


@pytest.fixture(scope="module")
def arm(backend64):
    """Two worlds, each with its own weights (param_sets 2, as CMA-ES uses them), every
    feature kind, a skip connection and a tanh squash; the kernels compile once."""
    sim, task, ctl = _setup(FEATURES, hidden=(5, 4), squash="tanh", batch=2, param_sets=2)
    assert ctl.per_step  # the sensor and effector features read the state
    return sim, task, ctl


@pytest.mark.slow
def test_weight_gradients_match_finite_differences(arm):
    """d loss / d theta from the tape equals central differences (f64) for hidden weights,
    biases, output weights and skip weights, through every feature kind."""
    sim, task, ctl = arm
    both = ctl.theta0 + np.random.default_rng(0).normal(0.0, 0.3, (2, ctl.n_params))
    rng = np.random.default_rng(1)
    picks = set(rng.choice(ctl.n_params, 10, replace=False).tolist())
    picks |= {0, ctl.offsets[-1][0], ctl.offsets[-1][1], ctl.skip_offset, ctl.n_params - 1}
    check_weight_gradient(sim, task, ctl, both, picks)


@pytest.mark.slow
def test_zero_output_starts_from_standstill(arm):
    """With zero output weights (zero_output's start) every command equals output_offset,
    whatever the inputs; the hidden layers start random."""
    sim, task, ctl = arm
    theta = ctl.theta0.copy()
    theta[ctl.offsets[-1][0] :] = 0.0
    theta[: ctl.offsets[-1][0]] += 0.5
    rollout_loss(sim, task, ctl, theta)
    assert np.all(sim.control.ctrl.to_numpy()[:, :, :4] == pytest.approx(0.1))
    spec = dataclasses.replace(ctl.spec, zero_output=True)
    assert not np.any(initial_theta_for(ctl, spec)[ctl.offsets[-1][0] :])


@pytest.mark.slow
def test_per_step_and_one_launch_agree(arm):
    """Evaluated step by step between the engine's steps or for all steps at once from the
    recorded states, the controller writes the same commands, to the last few bits: the
    layers accumulate with atomic adds, whose order across CPU threads is not fixed (bit
    equality held on one thread and failed once in a 2-worker suite run)."""
    sim, task, ctl = arm
    rollout_loss(sim, task, ctl, ctl.theta0 + 0.2)  # per step, inside the rollout
    stepped = sim.control.ctrl.to_numpy().copy()
    ctl.compute(0, STEPS)  # all at once, from the stored states
    np.testing.assert_allclose(stepped, sim.control.ctrl.to_numpy(), rtol=1e-13, atol=1e-15)


def test_each_world_runs_its_own_weights(arm):
    """World b uses row b of theta: swapping the rows swaps the worlds' losses."""
    sim, task, ctl = arm
    rng = np.random.default_rng(5)
    thetas = ctl.theta0 + rng.normal(0.0, 0.3, (2, ctl.n_params))
    rollout_loss(sim, task, ctl, thetas)
    both = task.losses()
    rollout_loss(sim, task, ctl, thetas[::-1].copy())
    assert both[0] != both[1]
    assert task.losses() == pytest.approx(both[::-1], rel=1e-12)


@pytest.mark.slow
def test_grad_decay_scales_the_adjoint_per_step(arm):
    """With grad_decay g, a loss on the final state gives g^T times the exact gradient with
    respect to the initial state (each of the T steps back multiplies the adjoint by g)."""
    sim, _, _ = arm
    # the commands of the last controller rollout, replayed
    check_grad_decay(sim, lambda decay: sim.rollout(check=False), "init_omega", 0.9, STEPS)


@pytest.fixture(scope="module")
def held_arm(backend64):
    """An MLP evaluated every third step only (action_repeat 3): the steps between hold its
    command, as the cart-pendulum's 12.5 Hz pixels controller does (two worlds, own weights)."""
    return _setup(FEATURES, hidden=(5,), batch=2, param_sets=2, action_repeat=3)


@pytest.mark.slow
def test_action_repeat_holds_each_command_until_the_next_evaluation(held_arm):
    """With action_repeat 3 the commands of steps 1, 2 repeat step 0's, those of 4, 5 step
    3's, ...; the network evaluated at step 3 sees the state the held command led to."""
    sim, task, ctl = held_arm
    rollout_loss(sim, task, ctl, ctl.theta0 + 0.2)
    ctrl = sim.control.ctrl.to_numpy()[:STEPS]
    for t in range(STEPS):
        np.testing.assert_array_equal(ctrl[t], ctrl[t - t % 3])
    assert np.abs(ctrl[3] - ctrl[0]).max() > 1e-6  # the state moved between evaluations


@pytest.mark.slow
def test_action_repeat_weight_gradients_match_finite_differences(held_arm):
    """Through the held commands too: d loss / d theta equals central differences (f64)."""
    sim, task, ctl = held_arm
    both = ctl.theta0 + np.random.default_rng(2).normal(0.0, 0.3, (2, ctl.n_params))
    picks = {0, 7, ctl.offsets[-1][0] + 1, ctl.offsets[-1][1], ctl.n_params - 1}
    check_weight_gradient(sim, task, ctl, both, picks)


@pytest.mark.slow
def test_action_repeat_decays_the_held_command_per_step(held_arm):
    """With grad_decay g a loss on the final state still gives g^T times the exact gradient
    with respect to the initial state: a held command's adjoint is scaled once per step."""
    sim, task, ctl = held_arm
    ctl.set(ctl.theta0 + np.random.default_rng(3).normal(0.0, 0.3, (2, ctl.n_params)))
    check_grad_decay(
        sim, lambda decay: ctl.rollout(grad_decay=decay), "init_omega", 0.9, STEPS, others=(ctl,)
    )
