"""Every experiment file (experiments/*.yaml) loads, and the issue #3 ones lower their loss
with a tiny budget on 1 s rollouts (CI's share of each experiment; the full runs and their
numbers: README). The swing-up files are in test_pixels.py, the ball throw and system
identification in test_optimize.py."""
import numpy as np
import pytest
from experiment_checks import short

from tdphys.optim import load_experiment, run


def test_every_experiment_file_loads(robots_dir):
    files = sorted((robots_dir.parent / "experiments").glob("*.yaml"))
    assert {f.stem for f in files} >= {"ball_throw", "quadruped_gait", "arm_reach",
                                       "system_identification", "cart_swing_up",
                                       "pendulum_pixels"}
    for f in files:
        exp = load_experiment(f)
        assert exp.name == f.stem


def test_gait_tiny_budget_gains_speed(backend64, robots_dir):
    """Adam from standstill (zero output weights): the first rollout stands still, and a few
    updates of the clock MLP move the torso forward (1 s rollouts here)."""
    exp = short(load_experiment(robots_dir.parent / "experiments" / "quadruped_gait.yaml"), 1.0)
    result = run(exp, budget=3, progress=False)
    first = result.history[0]
    assert abs(first["speed_mps"]) < 5e-3 and first["min_height_m"] > 0.29   # settles, stands
    assert result.loss_best < first["loss"] - 1e-3
    theta = result.controller_theta
    assert theta is not None and theta.size == 17944  # the paper counts 17,952


def test_arm_reach_tiny_budget_gets_closer(backend64, robots_dir):
    exp = short(load_experiment(robots_dir.parent / "experiments" / "arm_reach.yaml"), 1.0)
    result = run(exp, budget=3, progress=False)
    assert result.loss_best < result.history[0]["loss"]
    assert result.history[0]["error_m"] == pytest.approx(np.sqrt(0.5), abs=0.02)  # held pose
