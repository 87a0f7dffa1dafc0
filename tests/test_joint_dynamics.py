"""The format features MJCF models need, in the engine: joint damping, armature and springs
(one implicit row in the joint's exact block), friction loss, force motors with a gear, a given
centre of mass and full inertia tensor, friction combined as the larger coefficient, and the
actuator force sensor. Each against closed forms where one exists, and its gradient against
finite differences in float64 (tdphys.gradcheck, as tests/test_gradients.py)."""

import math
from dataclasses import replace

import numpy as np
import pytest
from test_gradients import _check

from tdphys.model.schema import Body, Ground, Joint, Motor, Robot, Sensor, Shape, Solver

BOB = 1.0  # [kg] a point-like bob 0.5 m from a vertical hinge, no gravity
ARM = 0.5  # [m]


def pendulum(**passive) -> Robot:
    bob = Shape("sphere", radius=0.05, pos=(ARM, 0, 0), mass=BOB, ground=False)
    body = Body("bob", (bob,), pos=(0, 0, 1), omega=(0, 0, 2.0), vel=(0, 2.0 * ARM, 0))
    joint = Joint("h", "hinge", None, "bob", (0, 0, 1), ((0, 0, 1),), (None,), **passive)
    return Robot("pendulum", "<test>", (body,), (joint,), solver=Solver(dt=0.01, gravity=(0, 0, 0)))


def _angles(robot, steps):
    import tdphys

    sim = tdphys.Simulation(robot, steps=steps)
    sim.rollout()
    q = sim.trajectory()["quat"][:, 0, 0]
    return np.unwrap(2 * np.arctan2(q[:, 3], q[:, 0]))


def test_damping_armature_and_spring_follow_the_oscillator_equation(backend64):
    """(I + a) q'' + c q' + k q = 0 from q = 0, q' = 2 rad/s: the row is implicit (backward
    Euler), so at dt 0.01 / 4 substeps the angle stays within 2 % of the exact solution over
    2 s (the spring's numerical dissipation), and a damping of 1000 N m s stops the bob
    (1 rad in 0.5 s undamped) within 0.001 rad, stably."""
    inertia = BOB * ARM**2 + 0.4 * BOB * 0.05**2
    c, a, k = 0.2, 0.3, 5.0
    t = np.arange(201) * 0.01
    m = inertia + a
    zeta, w0 = c / (2 * math.sqrt(k * m)), math.sqrt(k / m)
    wd = w0 * math.sqrt(1 - zeta**2)
    exact = 2.0 / wd * np.exp(-zeta * w0 * t) * np.sin(wd * t)
    got = _angles(pendulum(damping=c, armature=a, stiffness=k), 200)
    assert np.max(np.abs(got - exact)) < 0.02 * np.max(np.abs(exact))
    stopped = _angles(pendulum(damping=1000.0), 50)
    # creeping down without overshoot; once still, the angle changes by rounding only
    assert np.all(np.abs(stopped) < 1e-3) and np.all(np.diff(stopped) >= -1e-12)


def feature_zoo() -> Robot:
    """A hinge with damping, armature and a spring driven by a geared force motor; a slider
    whose friction loss a stronger motor overcomes; a ball joint with damping; a gimbal with
    different damping, armature and springs on its three axes, read by joint sensors; a body with a
    given centre of mass and full inertia tensor; a ball sliding on the ground where friction
    combines as the larger coefficient; an actuator force sensor on each motor."""
    cap = Shape(
        "capsule",
        radius=0.05,
        half_length=0.2,
        pos=(0.2, 0, 0),
        quat=(math.sqrt(0.5), 0, math.sqrt(0.5), 0),
        mass=1.0,
        ground=False,
    )
    box = Shape("box", half_extents=(0.1, 0.08, 0.06), mass=0.7, ground=False)
    bodies = (
        Body("arm", (cap,), pos=(0, 0, 2), omega=(0, 0.5, 0)),
        Body(
            "cart",
            (box,),
            pos=(0.5, 0, 2),
            com=(0.02, -0.01, 0.015),
            inertia=(0.004, 0.005, 0.006),
            inertia_products=(0.0005, -0.0003, 0.0002),
        ),
        Body(
            "tip",
            (Shape("sphere", radius=0.06, mass=0.4, ground=False),),
            pos=(0.8, 0, 2),
            omega=(0.3, -0.2, 0.4),
        ),
        Body("foot", (replace(cap, pos=(0.0, 0, 0)),), pos=(1.06, 0, 2), omega=(0.5, 0.8, -0.6)),
        Body(
            "ball",
            (Shape("sphere", radius=0.2, mass=1.0, friction=0.3),),
            pos=(3, 0, 0.2),
            vel=(1.5, 0.3, 0),
            omega=(0, 2.0, 0),
        ),
    )
    joints = (
        Joint(
            "hinge",
            "hinge",
            None,
            "arm",
            (0, 0, 2),
            ((0, 1, 0),),
            (None,),
            (Motor("hm", mode="force", gear=3.0, max_force=5.0, ctrl_range=(-1.0, 1.0)),),
            damping=0.4,
            armature=0.05,
            stiffness=3.0,
            spring_ref=0.1,
        ),
        Joint(
            "slide",
            "slider",
            "arm",
            "cart",
            (0.5, 0, 2),
            ((1, 0, 0),),
            (None,),
            (Motor("sm", mode="force", gear=2.0, max_force=20.0),),
            friction_loss=0.5,
        ),
        Joint(
            "ball",
            "ball",
            "cart",
            "tip",
            (0.8, 0, 2),
            ((1, 0, 0), (0, 1, 0), (0, 0, 1)),
            (None, None, None),
            damping=0.05,
            armature=0.01,
        ),
        Joint(
            "gimbal",
            "gimbal",
            "tip",
            "foot",
            (0.86, 0, 2),
            ((1, 0, 0), (0, 0, 1), (0, 1, 0)),
            (None, (-1.2, 1.2), None),
            damping=(0.02, 0.05, 0.01),
            armature=(0.01, 0.0, 0.02),
            stiffness=(0.5, 0.0, 1.0),
            spring_ref=(0.1, 0.0, -0.1),
        ),
    )
    sensors = (
        Sensor("hm_force", "actuator_force", motor="hm"),
        Sensor("sm_force", "actuator_force", motor="sm"),
        Sensor("cart_vel", "body_vel", body="cart"),
        Sensor("gimbal_0", "joint_pos", joint="gimbal", axis=0),
        Sensor("gimbal_2", "joint_vel", joint="gimbal", axis=2),
    )
    return Robot(
        "feature_zoo",
        "<test>",
        bodies,
        joints,
        sensors,
        solver=Solver(dt=0.01, iterations=8),
        ground=Ground(friction=0.8),
        friction_combine="max",
    )


def _zoo_controls(sim):
    u = np.random.default_rng(5).uniform(-0.6, 0.6, (sim.steps, sim.n_motors))
    u[:, 1] = 1.0 + 0.1 * u[:, 1]  # the slider's motor beats its friction loss throughout
    return u


@pytest.mark.slow
def test_feature_zoo_gradients_match_finite_differences(backend64):
    verdicts = _check(feature_zoo(), steps=20, tol=1e-4, controls=_zoo_controls, per_param=2)
    checked = {v.target.name for v in verdicts}
    assert {
        "motor_gear",
        "body_com",
        "body_inertia_products",
        "passive_damping",
        "passive_armature",
        "passive_stiffness",
        "passive_spring_ref",
        "passive_friction_loss",
    } <= checked


def test_force_motor_applies_gear_times_command_and_the_sensor_reads_it(backend64):
    """The hinge motor's torque is gear * clip(command) (here 3 * 0.4 = 1.2 N m, within
    max_force), and actuator_force reads exactly that; the slider's 2 * 1 = 2 N likewise."""
    import tdphys

    sim = tdphys.Simulation(feature_zoo(), steps=5)
    u = np.zeros((5, 2))
    u[:, 0], u[:, 1] = 0.4, 1.0
    sim.set_controls(u)
    sim.rollout()
    assert np.allclose(sim.sensor("hm_force")[1:, 0, 0], 1.2, rtol=1e-12)
    assert np.allclose(sim.sensor("sm_force")[1:, 0, 0], 2.0, rtol=1e-12)
    assert sim.sensor("hm_force")[0, 0, 0] == 0.0


def test_given_centre_of_mass_and_inertia_tensor_are_used(backend64):
    import tdphys

    sim = tdphys.Simulation(feature_zoo(), steps=1)
    sim.start()
    com, inertia = sim.model.com.to_numpy()[0, 1], sim.model.inertia.to_numpy()[0, 1]
    assert np.allclose(com, (0.02, -0.01, 0.015))
    assert np.allclose(
        inertia, [[0.004, 0.0005, -0.0003], [0.0005, 0.005, 0.0002], [-0.0003, 0.0002, 0.006]]
    )
