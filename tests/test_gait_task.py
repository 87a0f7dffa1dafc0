"""The gait task's verdict: travel counts as walking only while the body stays upright.

A cube floats in zero gravity (no ground), one world per case, and the task's metrics are
read after a 1 s rollout of 100 steps. "Up" is the body axis that points along world +z at the
start, so a body that starts turned is upright in its own start pose.
"""

import math

import numpy as np
import pytest

from tdphys.model.schema import Body, Robot, Shape, Solver
from tdphys.tasks.gait import Gait, GaitConfig

STEPS = 100  # of 10 ms
TURN_Y = (math.cos(math.pi / 4), 0.0, math.sin(math.pi / 4), 0.0)  # 90 deg about y
# (start quaternion, world angular velocity [rad/s], world velocity [m/s]) per world
WORLDS = [
    ((1.0, 0.0, 0.0, 0.0), (2 * math.pi, 0.0, 0.0), (1.5, 0.0, 0.0)),  # tumbles once about x
    ((1.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0), (1.5, 0.0, 0.0)),  # glides upright
    (TURN_Y, (0.0, 0.0, 2 * math.pi), (1.5, 0.0, 0.0)),  # turned start, spins about its up
]


def three_worlds():
    """The cube in the three WORLDS, rolled out for 1 s."""
    from tdphys.engine.simulation import Simulation

    cube = Shape("box", half_extents=(0.1, 0.1, 0.1), mass=1.0, ground=False)
    robot = Robot(
        name="cube",
        source="<test>",
        solver=Solver(dt=0.01, gravity=(0, 0, 0)),
        bodies=(Body("cube", (cube,), pos=(0, 0, 1)),),
    )
    sim = Simulation(robot, batch=len(WORLDS), steps=STEPS)
    quat, omega, vel = (np.array([w[i] for w in WORLDS])[:, None] for i in range(3))
    sim.set_params({"init_quat": quat, "init_omega": omega, "init_vel": vel})
    sim.rollout()
    return sim


@pytest.fixture(scope="module")
def task(backend64):
    return Gait(GaitConfig(duration=1.0, target_speed=1.17), three_worlds())


@pytest.fixture(scope="module")
def metrics(task):
    return task.metrics()


def test_a_tumbling_body_is_upright_a_third_of_a_turn(metrics):
    """Turning at one revolution per second, its start-up axis is within 60 deg of vertical
    for t <= 1/6 s and t >= 5/6 s: steps 1-16 and 84-100, 33 of 100."""
    assert metrics[0]["upright"] == pytest.approx(0.33)
    assert metrics[0]["speed_mps"] == pytest.approx(1.5, rel=1e-9)


def test_an_upright_body_is_upright_throughout(metrics):
    assert metrics[1]["upright"] == 1.0 and metrics[2]["upright"] == 1.0


def test_speed_alone_does_not_meet_the_gait_criterion(task, metrics):
    """All three move at 1.5 m/s, above the target; the tumbling one fails by default
    (min_upright 0.9) and passes with the check off."""
    assert [task.success(m) for m in metrics] == [False, True, True]
    anyhow = Gait(GaitConfig(target_speed=1.17, min_upright=0.0), task.sim)
    assert [anyhow.success(m) for m in metrics] == [True, True, True]


def test_the_tilt_term_prices_lying_on_its_side_at_its_weight(backend64):
    """upright_cost 2 m/s: the tumbling cube's start-up axis has up_z = cos(2 pi t / 1 s),
    whose mean over a whole turn is 0, so its loss rises by 2 m/s (to the rotation's phase
    error per substep, (omega h)^2 / 12: 4e-5 m/s here); the two upright worlds' losses stay
    minus their speed."""
    tilted = Gait(GaitConfig(duration=1.0, upright_cost=2.0), three_worlds())
    tilted.reset()
    tilted.loss_kernel()
    assert tilted.losses() == pytest.approx([-1.5 + 2.0, -1.5, -1.5], abs=1e-4)


def test_the_tilt_term_has_the_gradient_of_finite_differences(backend64):
    """d loss / d initial angular velocity of a cube tipping over at 0.3-0.5 rad/s (two axes),
    the tilt term weighted 2 m/s: the tape against central differences in float64."""
    import tdphys

    cube = Shape("box", half_extents=(0.1, 0.1, 0.1), mass=1.0, ground=False)
    robot = Robot(
        name="cube",
        source="<test>",
        solver=Solver(dt=0.01, gravity=(0, 0, 0)),
        bodies=(Body("cube", (cube,), pos=(0, 0, 1), omega=(0.5, 0.3, 0.0)),),
    )
    sim = tdphys.Simulation(robot, batch=1, steps=50)
    gait = Gait(GaitConfig(duration=0.5, upright_cost=2.0), sim)

    def loss(omega) -> float:
        sim.set_param("init_omega", np.array(omega, float).reshape(1, 1, 3))
        gait.reset()
        sim.rollout()
        gait.loss_kernel()
        return float(gait.losses()[0])

    omega = np.array([0.5, 0.3, 0.0])
    sim.set_param("init_omega", omega.reshape(1, 1, 3))
    gait.reset()
    with sim.tape():
        sim.rollout(check=False)
        gait.loss_kernel()
    tape = sim.param_grad("init_omega")[0, 0]
    eps = 1e-6
    central = [(loss(omega + eps * e) - loss(omega - eps * e)) / (2 * eps) for e in np.eye(3)]
    assert np.all(np.abs(tape[:2]) > 1e-3)  # the tilt term moves with both tipping rates
    assert tape == pytest.approx(central, rel=1e-6, abs=1e-9)
