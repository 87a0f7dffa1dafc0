"""Every experiment file (experiments/*.yaml) loads, and the paper's tasks lower their loss
with a tiny budget on 1 s rollouts (CI's share of each experiment; full runs: RESULTS.md).
The swing-up files are in test_pixels.py, the ball throw and system identification in
test_optimize.py."""

import dataclasses

import numpy as np
import pytest
from controller_checks import check_run_gradient
from experiment_checks import short

from tdphys.optim import load_experiment, run


def test_every_experiment_file_loads(robots_dir):
    files = sorted((robots_dir.parent / "experiments").glob("*.yaml"))
    assert {f.stem for f in files} >= {
        "ball_throw",
        "quadruped_gait",
        "arm_reach",
        "system_identification",
        "cart_swing_up",
        "pendulum_pixels",
    }
    for f in files:
        exp = load_experiment(f)
        assert exp.name == f.stem


@pytest.mark.slow
def test_gait_tiny_budget_gains_speed(backend64, robots_dir, builds):
    """Adam from standstill (zero output weights): the first rollout stands still, and a few
    updates of the clock MLP move the torso forward (1 s rollouts here)."""
    exp = short(load_experiment(robots_dir.parent / "experiments" / "quadruped_gait.yaml"), 1.0)
    result = run(exp, budget=3, progress=False, builds=builds)
    first = result.history[0]
    assert abs(first["speed_mps"]) < 5e-3 and first["min_height_m"] > 0.29  # settles, stands
    assert result.loss_best < first["loss"] - 1e-3
    theta = result.controller_theta
    assert theta is not None and theta.size == 17944  # the paper counts 17,952


@pytest.mark.slow
def test_arm_reach_tiny_budget_gets_closer(backend64, robots_dir, builds):
    """Two Adam updates from the held pose bring the hand at least a fifth of the way closer
    (1 s rollouts, no contacts: a margin no CPU's rounding reaches)."""
    exp = short(load_experiment(robots_dir.parent / "experiments" / "arm_reach.yaml"), 1.0)
    result = run(exp, budget=3, progress=False, builds=builds)
    assert result.history[0]["error_m"] == pytest.approx(np.sqrt(0.5), abs=0.02)  # held pose
    assert result.loss_best < 0.8 * result.history[0]["loss"]


@pytest.mark.slow
def test_arm_reach_random_targets_tiny_budget(backend64, robots_dir, builds):
    """Random targets: every update rolls out a batch of worlds with fresh targets (counted as
    that many simulations); the held-out error is measured on the fixed set. Two updates
    lower the batch's loss by at least a fifth."""
    exp = short(load_experiment(robots_dir.parent / "experiments" / "arm_reach_random.yaml"), 0.5)
    r = exp.task.targets
    exp = dataclasses.replace(
        exp,
        task=dataclasses.replace(
            exp.task, targets=dataclasses.replace(r, batch=3, held_out=4, eval_every=1)
        ),
    )
    result = run(exp, budget=9, progress=False, builds=builds)
    assert result.evaluations == 9 and result.iterations == 3
    h = result.history
    assert {"error_m", "train_error_m", "mean_error_m"} <= set(h[0])
    assert h[-1]["loss"] < 0.8 * h[0]["loss"]
    assert 0.0 < h[0]["error_m"] < 1.0


@pytest.mark.slow
def test_random_targets_loss_gradient_matches_finite_differences(robots_dir, builds):
    """The batch-averaged reach loss (1/B per world) on the tape, f64, against central
    differences."""
    exp = short(load_experiment(robots_dir.parent / "experiments" / "arm_reach_random.yaml"), 0.5)
    r = exp.task.targets
    exp = dataclasses.replace(
        exp,
        task=dataclasses.replace(
            exp.task, targets=dataclasses.replace(r, batch=3, held_out=4, eval_every=1)
        ),
    )
    check_run_gradient(exp, picks=[0, 300, 5000, -1], builds=builds)


@pytest.mark.slow
def test_random_targets_with_cmaes(backend64, robots_dir, builds):
    """CMA-ES on random targets: each candidate drives a block of `batch` worlds that all
    candidates share the targets of; a candidate counts as `batch` simulations."""
    exp = short(load_experiment(robots_dir.parent / "experiments" / "arm_reach_random.yaml"), 0.5)
    r = exp.task.targets
    exp = dataclasses.replace(
        exp,
        task=dataclasses.replace(
            exp.task, targets=dataclasses.replace(r, batch=2, held_out=3, eval_every=1)
        ),
        optimizer=dataclasses.replace(exp.optimizer, popsize=3),
    )
    result = run(exp, optimizer="cmaes", budget=12, progress=False, builds=builds)
    assert result.evaluations == 12 and result.iterations == 2
    assert result.sim.batch == 6
    assert all(0.0 < h["error_m"] < 1.0 for h in result.history)


def test_random_targets_need_a_controller_that_sees_them(tmp_path, robots_dir):
    import tdphys
    from tdphys.errors import ModelError
    from tdphys.optim.experiment import check_against_robot

    text = (robots_dir.parent / "experiments" / "arm_reach_random.yaml").read_text()
    p = tmp_path / "exp.yaml"
    p.write_text(
        text.replace("    - target: {scale: 1.0}              # [m]\n", "")
        .replace("    - effector_to_target: {scale: 2.0}  # [m]\n", "    - clock: {hz: 1}\n")
        .replace("../robots/", str(robots_dir) + "/")
    )
    exp = load_experiment(p)
    with pytest.raises(ModelError, match="task.targets: random targets need a controller"):
        check_against_robot(exp, tdphys.load(exp.robot))


@pytest.mark.slow
def test_codesign_tiny_budget_moves_controller_masses_and_legs(backend64, robots_dir, builds):
    """Co-design: the gait controller, the legs' masses and the leg lengths (the robot file's
    vars `thigh` and `shin`, log space) share one tape; a few updates change all three, keep
    masses and lengths positive and gain speed (1 s rollouts here)."""
    exp = short(load_experiment(robots_dir.parent / "experiments" / "quadruped_codesign.yaml"), 1.0)
    result = run(exp, budget=3, progress=False, builds=builds)
    assert result.loss_best < result.history[0]["loss"] - 1e-3
    masses = np.array(result.params["shape_mass"])
    assert masses.shape == (12,) and np.all(masses > 0)
    assert not np.allclose(masses, [1.3, 0.7, 0.3] * 4)  # the robot file's leg masses
    legs = np.array([result.params["design.thigh"], result.params["design.shin"]])
    assert np.all(legs > 0) and not np.allclose(legs, 0.145, rtol=1e-6, atol=0)
    assert np.allclose(legs, 0.145, rtol=0.05)  # 3 steps of ~0.1 %
    assert result.sim.robot_vars.keys() == {"thigh", "shin"}
