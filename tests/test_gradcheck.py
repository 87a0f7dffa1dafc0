"""`tdphys gradcheck` tells a kink from a bug.

Each checked entry gets one verdict: *match* (the finite differences converge as the step
shrinks, forward and backward ones agree, and the tape agrees with them), *non-smooth* (they do
not converge, or the one-sided ones disagree: something switches within the step; named where
it can be) or *mismatch* (they converge, the tape does not agree). The command exits 1 only on
a mismatch and 2 on bad input.

The verdict rule is checked on functions with known derivatives (no simulation); the command
on robots/ball.yaml, which starts exactly touching the ground (a contact switches within any
step of its radius), with one simulation a test.
"""

import functools
import math

import numpy as np
import pytest

from tdphys import gradcheck
from tdphys.cli import main
from tdphys.gradcheck import MATCH, MISMATCH, NON_SMOOTH, REL_STEPS, Target


def verdict_of(f, x, tape, tol=1e-3):
    """The verdict on `tape` as the derivative of the Python function f at x."""
    h = np.array([r * max(1.0, abs(x)) for r in REL_STEPS])
    v = gradcheck.differences(
        Target("params", "p", (0,)),
        "p",
        x,
        tape,
        h,
        f(x),
        [f(x + s) for s in h],
        [f(x - s) for s in h],
    )
    return gradcheck.judge(v, tol)


def smooth(x):
    return math.exp(2 * x) * math.sin(3 * x) + 40 * x**3


def smooth_slope(x):
    return math.exp(2 * x) * (2 * math.sin(3 * x) + 3 * math.cos(3 * x)) + 120 * x**2


# ------------------------------------------------------------------ the verdict rule
def test_a_right_gradient_of_a_smooth_loss_matches():
    v = verdict_of(smooth, 0.3, smooth_slope(0.3))
    assert v.verdict == MATCH
    assert v.estimate == pytest.approx(smooth_slope(0.3), rel=1e-6)
    assert v.rel_error < 1e-6


def test_a_gradient_off_by_more_than_the_tolerance_is_a_mismatch():
    assert verdict_of(smooth, 0.3, 1.01 * smooth_slope(0.3)).verdict == MISMATCH
    assert verdict_of(smooth, 0.3, 1.01 * smooth_slope(0.3), tol=0.05).verdict == MATCH
    assert verdict_of(smooth, 0.3, 0.0).verdict == MISMATCH


def test_a_gradient_that_is_not_finite_is_a_mismatch():
    for tape in (math.nan, math.inf):
        v = verdict_of(smooth, 0.3, tape)
        assert v.verdict == MISMATCH and "not finite" in v.reason


def test_a_zero_gradient_matches_a_constant_loss_despite_rounding():
    assert verdict_of(lambda x: 2.5, 0.3, 0.0).verdict == MATCH
    assert verdict_of(lambda x: 2.5, 0.3, 1e-16).verdict == MATCH


def test_a_kink_at_the_point_is_non_smooth_whatever_the_tape_says():
    """|x - 0.3| at 0.3: forward and backward differences differ at every step (+1, -1)."""

    def kink(x):
        return abs(x - 0.3) + 2 * x

    for tape in (3.0, 1.0, 2.0, 17.0):
        v = verdict_of(kink, 0.3, tape)
        assert v.verdict == NON_SMOOTH
        assert "forward" in v.reason and "backward" in v.reason
    assert "forward (right-sided)" in verdict_of(kink, 0.3, 3.0).reason
    assert "backward (left-sided)" in verdict_of(kink, 0.3, 1.0).reason


def test_a_jump_within_every_step_is_non_smooth():
    """A step of 1 just right of x: the central differences grow as 1/h and never settle."""

    def jump(x):
        return x + (1.0 if x > 0.3 + 1e-9 else 0.0)

    v = verdict_of(jump, 0.3, 1.0)
    assert v.verdict == NON_SMOOTH
    assert "do not settle" in v.reason and "jumps by about 1 at x" in v.reason


def test_a_switch_farther_than_the_small_steps_leaves_the_local_derivative_checked():
    """A jump 3e-5 away disturbs the differences at h 1e-3 and 1e-4 only: at 1e-5 .. 1e-7 they
    converge, so the tape is still judged (right or wrong)."""

    def far_jump(x):
        return smooth(x) + (1.0 if x > 0.3 + 3e-5 else 0.0)

    assert verdict_of(far_jump, 0.3, smooth_slope(0.3)).verdict == MATCH
    assert verdict_of(far_jump, 0.3, 1.1 * smooth_slope(0.3)).verdict == MISMATCH


def test_a_stiff_smooth_loss_is_not_mistaken_for_a_kink():
    """Forward and backward differences differ by h f''; with f''/f' = 2e4 that is twice the
    tolerance even at h 1e-7, but it shrinks with h, as a kink's does not."""

    def stiff(x):
        return math.exp(4e4 * (x - 0.3)) / 4e4 + x

    v = verdict_of(stiff, 0.3, 2.0)
    assert abs(v.forward[-1] - v.backward[-1]) > 2 * 1e-3 * 2.0
    assert v.verdict == MATCH


# ----------------------------------------------------------------------- the command
@pytest.fixture
def ball(robots_dir):
    return str(robots_dir / "ball.yaml")


CHECK_BALL = ["--steps", "5", "--per-param", "1", "--wrt", "initial,params"]


@pytest.mark.slow  # compiles the ball's kernels (20-30 s on a cold cache)
def test_the_ball_radius_is_non_smooth_and_the_contact_is_named(ball, capsys, backend64):
    """The ball starts exactly touching the ground: a change of its radius by +-h makes the
    contact overlap or separate at step 0. The command names that, passes (exit 0) and
    prints the loss it differentiates and a summary per group."""
    code = main(["gradcheck", ball] + CHECK_BALL)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "L = sum_n [ a_n . pos[T, n]" in out
    radius = next(line for line in out.splitlines() if line.strip().startswith("shape_radius"))
    assert radius.split()[-1] == NON_SMOOTH
    after = out[out.index(radius) :].splitlines()[2]
    assert "step 0" in after and "contact ball/ground: touching" in after
    summary = out.split("summary")[1].splitlines()
    assert [line.split()[0] for line in summary[2:]] == ["initial", "params"]
    assert all(line.split()[3] == "0" for line in summary[2:])  # no mismatch


@pytest.mark.slow
def test_a_planted_wrong_gradient_is_a_mismatch_and_exits_1(ball, capsys, backend64, monkeypatch):
    """The same check with the tape's gradient of every initial-state entry replaced by
    2 g + 1 (the ball rolls on the ground, smoothly in these entries): each is a mismatch,
    the parameters still pass, the command exits 1 and names them."""

    def corrupt(target, g):
        return 2 * g + 1 if target.group == "initial" else g

    monkeypatch.setattr(
        gradcheck, "classify", functools.partial(gradcheck.classify, corrupt=corrupt)
    )
    code = main(["gradcheck", ball] + CHECK_BALL)
    out = capsys.readouterr().out
    assert code == 1, out
    table = out.split("summary")[0].splitlines()
    initial = [line.split()[-1] for line in table if line.strip().startswith("init_")]
    params = [line.split()[-1] for line in table if line.strip().startswith(("shape", "ground"))]
    assert initial and set(initial) == {MISMATCH}
    assert params and MISMATCH not in params
    assert "mismatch(es)" in out and "init_" in out.splitlines()[-1]


@pytest.mark.slow
def test_classify_checks_world_0_and_restores_the_other_worlds(ball, backend64):
    """From Python: the point checked is world 0's; worlds that differ from it (here in
    initial velocity and in contact margin, which is not checked but would smooth the ball's
    landing) are set to it for the check and given back after."""
    import tdphys
    from tdphys.engine.layout import build_layout

    robot = tdphys.load(ball)
    targets = gradcheck.choose(build_layout(robot), 5, ["initial", "params"], per_param=1)
    sim = tdphys.Simulation(robot, batch=gradcheck.worlds_for(len(targets)), steps=5)
    margin = np.linspace(0, 0.05, sim.batch)
    vel = sim.get_param("init_vel") + np.linspace(0, 1, sim.batch)[:, None, None]
    sim.set_params({"contact_margin": margin, "init_vel": vel})
    verdicts = {v.label: v.verdict for v in gradcheck.classify(sim, targets)}
    assert MISMATCH not in verdicts.values()
    assert verdicts["init_vel[ball].y"] == MATCH
    assert verdicts["shape_radius[ball #0]"] == NON_SMOOTH
    np.testing.assert_array_equal(sim.get_param("contact_margin"), margin)
    np.testing.assert_array_equal(sim.get_param("init_vel"), vel)


@pytest.mark.parametrize(
    "args, says",
    [
        (["--tol", "0"], "--tol 0: must be a relative error > 0 and < 1"),
        (["--tol", "1"], "> 0 and < 1"),
        (["--tol", "nan"], "> 0 and < 1"),
        (["--tol", "big"], "> 0 and < 1"),
        (["--steps", "0"], "--steps 0: must be a whole number from 1 to 2000"),
        (["--steps", "5000"], "from 1 to 2000"),
        (["--steps", "2.5"], "whole number"),
        (["--per-param", "0"], "--per-param 0: must be a whole number >= 1"),
        (
            ["--wrt", "controls,gains"],
            "unknown group(s) gains; the groups are controls, initial, params",
        ),
        (["--wrt", ","], "(none given)"),
    ],
)
def test_bad_options_exit_2_with_the_allowed_range(ball, capsys, args, says):
    code = main(["gradcheck", ball] + args)
    err = capsys.readouterr().err
    assert code == 2
    assert says in err and "fix: e.g." in err


def test_a_missing_robot_file_exits_2(tmp_path, capsys):
    code = main(["gradcheck", str(tmp_path / "nope.yaml")])
    assert code == 2
    assert "nope.yaml" in capsys.readouterr().err
