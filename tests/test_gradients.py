"""Gradients are the product: the tape against finite differences in float64.

Three small "zoos" cover every joint type, motor mode, limit, contact pair type, sensor kind
(with and without a reference body; the gradcheck loss weighs every sensor value at T) and
free rotation. Each check perturbs random entries of the controls, the initial state and every
physical parameter and judges them with tdphys.gradcheck (several step sizes, so rounding
noise on a near-zero entry is not read as an error). Tolerances: relative error <= 1e-4
without contact, <= 1e-3 with contact (states chosen away from contact switches).
"""

import math

import numpy as np
import pytest

from tdphys.model.schema import (
    Body,
    ContactPair,
    Ground,
    Joint,
    Motor,
    Robot,
    Sensor,
    Shape,
    Solver,
)

H = math.sqrt(0.5)


def joint_zoo():
    """A chain hanging from the world through every joint kind, all motorised. The hinge and
    the slider start just past their upper limits and their motors push into them (see
    LIMITED_MOTORS), so both limits stay engaged for the whole rollout; the universal joint's
    weak first motor wanders into its 0.03 rad bound through the limit margin."""

    def cap(x):
        return Shape(
            "capsule",
            radius=0.05,
            half_length=0.2,
            pos=(x, 0, 0),
            quat=(H, 0, H, 0),
            mass=1.0,
            ground=False,
        )

    box = Shape("box", half_extents=(0.1, 0.08, 0.06), mass=0.7, ground=False)
    bodies = (
        Body("a", (cap(0.2),), pos=(0, 0, 2), omega=(0.3, 0.2, -0.1)),
        Body("b", (cap(0.2),), pos=(0.4, 0, 2), vel=(0.1, 0, 0.2)),
        Body("c", (box,), pos=(0.9, 0, 2)),
        Body("d", (cap(0.2),), pos=(1.0, 0, 2), omega=(0, 0.4, 0.2)),
        Body("e", (Shape("sphere", radius=0.1, mass=0.5, ground=False),), pos=(1.5, 0, 2)),
    )
    pos = Motor("pos", mode="position", gain=8.0, max_force=50.0, max_velocity=4.0)
    vel = Motor("vel", mode="velocity", max_force=50.0, max_velocity=4.0)
    joints = (
        Joint("hinge", "hinge", None, "a", (0, 0, 2), ((0, 1, 0),), ((-2.0, -0.01),), (pos,)),
        Joint(
            "ball",
            "ball",
            "a",
            "b",
            (0.4, 0, 2),
            ((1, 0, 0), (0, 1, 0), (0, 0, 1)),
            (None, None, None),
            (
                Motor("b0", axis=0, gain=5, max_force=40, max_velocity=3),
                Motor("b1", axis=1, mode="velocity", max_force=40, max_velocity=3),
                Motor("b2", axis=2, gain=5, max_force=40, max_velocity=3),
            ),
        ),
        Joint("slider", "slider", "b", "c", (0.9, 0, 2), ((1, 0, 0),), ((-0.3, -0.01),), (vel,)),
        Joint(
            "univ",
            "universal",
            "c",
            "d",
            (1.0, 0, 2),
            ((0, 0, 1), (0, 1, 0)),
            ((-1.0, 0.03), None),  # reached through the limit margin
            (
                Motor("u0", axis=0, gain=6, max_force=3, max_velocity=3),
                Motor("u1", axis=1, mode="force", max_force=0.4),
            ),
        ),  # clips +-0.5
        Joint("fixed", "fixed", "d", "e", (1.5, 0, 2)),
    )
    sensors = (
        Sensor("b_pos", "body_pos", body="b", reference="a"),
        Sensor("c_vel", "body_vel", body="c", reference="b"),
        Sensor("d_quat", "body_quat", body="d", reference="c"),
        Sensor("e_omega", "body_omega", body="e", reference="a"),
        Sensor("a_vel", "body_vel", body="a"),
        Sensor("ball_2", "joint_pos", joint="ball", axis=2),
        Sensor("univ_1", "joint_vel", joint="univ", axis=1),
    )
    return Robot(
        name="joint_zoo",
        source="<test>",
        bodies=bodies,
        joints=joints,
        sensors=sensors,
        solver=Solver(dt=0.01, iterations=8, limit_margin=0.1),
    )


LIMITED_MOTORS = (0, 4)  # the hinge's and the slider's motors, in control order


def contact_zoo():
    """Every contact pair type, in states away from contact switches: a ball sliding and
    spinning on the ground, a box resting, a capsule rolling, overlapping body pairs, and a
    ball falling through the speculative contact margin onto the ground; the sliding ball, one
    of a sphere pair and the ground have their own contact softness."""

    def free(name, shape, pos, **kw):
        return Body(name, (shape,), pos=pos, **kw)

    bodies = (
        free(
            "slide",
            Shape(
                "sphere",
                radius=0.3,
                mass=1.0,
                friction=0.4,
                restitution=0.2,
                torsional_friction=0.05,
                contact_hz=15.0,  # its own softness, mixed with the ground's
                contact_damping=3.0,
            ),
            (0, 0, 0.295),
            vel=(2.0, 0.5, 0),
            omega=(0, 1.0, 3.0),
        ),
        free(
            "box",
            Shape("box", half_extents=(0.2, 0.15, 0.1), mass=2.0, friction=0.8),
            (2, 0, 0.099),
        ),
        free(
            "cap",
            Shape(
                "capsule", radius=0.1, half_length=0.3, quat=(H, H, 0, 0), mass=1.0, friction=0.9
            ),
            (4, 0, 0.099),
            vel=(0.5, 0, 0),
        ),
        free("s1", Shape("sphere", radius=0.2, mass=1.0, ground=False), (0, 3, 2)),
        free(
            "s2",
            Shape("sphere", radius=0.2, mass=1.5, ground=False, contact_hz=12.0),
            (0.1, 3.05, 2.37),
        ),
        free(
            "k1", Shape("capsule", radius=0.1, half_length=0.3, mass=1.0, ground=False), (2, 3, 2)
        ),
        free(
            "k2",
            Shape(
                "capsule", radius=0.1, half_length=0.3, quat=(H, H, 0, 0), mass=1.0, ground=False
            ),
            (2.19, 3.02, 2.1),
        ),
        free("bx", Shape("box", half_extents=(0.3, 0.3, 0.3), mass=3.0, ground=False), (4, 3, 2)),
        free("sb", Shape("sphere", radius=0.2, mass=1.0, ground=False), (4.1, 3.0, 2.48)),
        # inside the contact margin, landing at step 5: speculative rows, then touching
        free(
            "drop",
            Shape("sphere", radius=0.2, mass=0.8, friction=0.6),
            (6, 0, 0.27),
            vel=(0.4, 0.1, -1.2),
            omega=(0.5, 0, 0),
        ),
    )
    pairs = (
        ContactPair(3, 0, 4, 0),
        ContactPair(3, 0, 5, 0),
        ContactPair(5, 0, 6, 0),
        ContactPair(7, 0, 8, 0),
    )
    sensors = tuple(
        Sensor(f"{b}_force", "contact_force", body=b)
        for b in ("slide", "box", "cap", "s2", "k2", "sb", "drop")
    )
    return Robot(
        name="contact_zoo",
        source="<test>",
        bodies=bodies,
        contact_pairs=pairs,
        sensors=sensors,
        ground=Ground(friction=1.0, torsional_friction=0.02, contact_hz=20.0),
        solver=Solver(dt=0.01, iterations=10, gravity=(0, 0, -9.81), contact_margin=0.1),
    )


TERRAIN_ZOO = """
name: terrain_zoo
solver: {dt: 0.01, iterations: 10, contact_margin: 0.05}
ground: {enabled: false}
defaults: {shape: {friction: 0.5}}
world:
  shapes:
    - {type: plane, euler: [0, 5, 0], friction: 0.3, contact_hz: 20}
    - {type: box, size: [0.6, 0.6, 0.2], pos: [0, 3, 0.5], friction: 0.2}   # a step
    - {type: cylinder, radius: 0.2, half_length: 0.8, pos: [3, 3, 0.8], euler: [90, 0, 0],
       friction: 0.1}  # a log
    - {type: box, size: [0.5, 0.5, 0.1], pos: [6, 3, 0.4], friction: 0.3}   # a table
    - {type: sphere, radius: 0.5, pos: [9, 3, 0.3], friction: 0.3}         # a boulder
    - {type: capsule, radius: 0.05, half_length: 0.5, pos: [12, 3, 0.5], euler: [0, 90, 0],
       friction: 0.05}  # a rail
    - {type: cylinder, radius: 0.3, half_length: 0.2, pos: [15, 3, 0.5], friction: 0.2}
bodies:
  - {name: wheel, pos: [0.01743, 0, 0.19825], euler: [90, 0, 0], vel: [0.3, 0, -0.026],
     omega: [0, 85.944, 0], shapes: [{type: cylinder, radius: 0.2, half_length: 0.1}]}
  - {name: puck, pos: [2.0, -2, -0.1251], euler: [0, 5, 0], vel: [1.0, 0.3, -0.087],
     shapes: [{type: cylinder, radius: 0.15, half_length: 0.05, friction: 0.3}]}
  - {name: block, pos: [0, 3, 0.749], vel: [1.0, 0.2, 0],
     shapes: [{type: box, size: [0.15, 0.1, 0.05]}]}
  - {name: shin, pos: [3, 3.1, 1.049], euler: [0, 90, 0], vel: [0, 0.5, 0],
     shapes: [{type: capsule, radius: 0.05, half_length: 0.3}]}
  - {name: ball, pos: [3, 2.5, 1.099], vel: [0, 0.2, 0], omega: [-114.592, 0, 0],
     shapes: [{type: sphere, radius: 0.1}]}
  - {name: drum, pos: [6, 3, 0.599], euler: [90, 0, 0], vel: [0.3, 0, 0], omega: [0, 171.887, 0],
     shapes: [{type: cylinder, radius: 0.1, half_length: 0.15}]}
  - {name: crate, pos: [9, 3, 0.849], vel: [0.6, 0, 0],
     shapes: [{type: box, size: [0.2, 0.2, 0.05]}]}
  - {name: plank, pos: [12, 3, 0.569], vel: [0, 0.2, 0],
     shapes: [{type: box, size: [0.05, 0.3, 0.02]}]}
  - {name: can, pos: [15.1, 3, 0.799], vel: [0.05, 0.5, 0],
     shapes: [{type: cylinder, radius: 0.1, half_length: 0.1}]}
  # body-body pairs of the probed kinds, overlapping in free fall
  - {name: c1, pos: [0, 8, 3], shapes: [{type: cylinder, radius: 0.2, half_length: 0.3,
     ground: false, group: 1}]}
  - {name: c2, pos: [0.05, 8.02, 3.49], euler: [10, 0, 0], omega: [0, 0.5, 0],
     shapes: [{type: box, size: [0.3, 0.2, 0.2], ground: false, group: 1}]}
  - {name: c3, pos: [3, 8, 3], shapes: [{type: box, size: [0.3, 0.3, 0.1], ground: false,
     group: 2}]}
  - {name: c4, pos: [3.05, 8.1, 3.19], euler: [0, 0, 20], vel: [0.1, 0, 0],
     shapes: [{type: box, size: [0.1, 0.1, 0.1], ground: false, group: 2}]}
  - {name: c5, pos: [6, 8, 3], shapes: [{type: box, size: [0.3, 0.3, 0.1], ground: false,
     group: 3}]}
  - {name: c6, pos: [6.05, 8, 3.148], euler: [0, 90, 0], vel: [0, 0.2, 0],
     shapes: [{type: capsule, radius: 0.05, half_length: 0.15, ground: false, group: 3}]}
  - {name: c7, pos: [9, 8, 3], euler: [90, 0, 0],
     shapes: [{type: cylinder, radius: 0.2, half_length: 0.3, ground: false, group: 4}]}
  - {name: c8, pos: [9.05, 8.1, 3.29], shapes: [{type: sphere, radius: 0.1, ground: false,
     group: 4}]}
  - {name: c9, pos: [12, 8, 3], shapes: [{type: cylinder, radius: 0.2, half_length: 0.1,
     ground: false, group: 5}]}
  - {name: c10, pos: [12, 8, 3.148], euler: [90, 0, 0],
     shapes: [{type: cylinder, radius: 0.05, half_length: 0.15, ground: false, group: 5}]}
sensors:
  - {name: wheel_force, type: contact_force, body: wheel}
  - {name: block_force, type: contact_force, body: block}
  - {name: can_force, type: contact_force, body: can}
"""


def terrain_zoo():
    """Cylinders and shapes fixed in the world, in states away from contact switches: a wheel
    rolling and a puck sliding on a tilted plane, a box sliding on a step, a capsule across
    a log, a ball on the log, a cylinder rolling on a table, a box on a boulder, a plank on
    a rail, a can on a pedestal; and, in free fall, overlapping body pairs of every probed
    kind (cylinder-box, box-box, box-capsule, cylinder-sphere, cylinder-cylinder). Rolling
    bodies start rolling (omega in deg/s, the file's angle unit)."""
    from tdphys.model import parse_robot

    return parse_robot(TERRAIN_ZOO, "<terrain_zoo>")


def spin_zoo():
    """Bodies turning in zero gravity, where the gyroscopic term does the work: a box spun
    near its intermediate axis (a small weight on it makes its masses matter), a body of a
    box and an offset sphere (products of inertia) tumbling from a turned start, a disc with
    given inertia wobbling, and a spinning top held by a ball joint off its centre of mass."""

    def spun(name, shapes, pos, omega, **kw):
        return Body(name, shapes, pos=pos, omega=omega, **kw)

    box = (
        Shape("box", half_extents=(0.05, 0.2, 0.4), mass=1.0, ground=False),
        Shape("sphere", radius=0.04, pos=(0.0, 0.1, 0.3), mass=0.1, ground=False),
    )
    lump = (
        Shape("box", half_extents=(0.2, 0.1, 0.05), mass=1.0, ground=False),
        Shape("sphere", radius=0.08, pos=(0.15, 0.1, 0.05), mass=0.6, ground=False),
    )
    disc = Shape("box", half_extents=(0.5, 0.5, 0.05), mass=1.0, ground=False)
    top = Shape("capsule", radius=0.15, half_length=0.05, mass=1.0, ground=False)
    bodies = (
        spun("box", box, (0, 0, 2), (0.6, 9.0, 1.2)),
        spun("lump", lump, (1, 0, 2), (3.0, -2.0, 5.0), quat=(0.8, 0.0, 0.6, 0.0)),
        spun("disc", (disc,), (2, 0, 2), (1.0, 0.3, 10.0), inertia=(0.0633, 0.0633, 0.125)),
        spun("top", (top,), (3, 0, 2.2), (0.5, 0.3, 15.0), vel=(0.06, -0.1, 0)),
    )
    joints = (
        Joint(
            "pivot",
            "ball",
            None,
            "top",
            (3, 0, 2),
            ((1, 0, 0), (0, 1, 0), (0, 0, 1)),
            (None, None, None),
        ),
    )
    sensors = tuple(
        Sensor(f"{b}_{k}", f"body_{k}", body=b)
        for b in ("box", "lump", "disc", "top")
        for k in ("quat", "omega")
    )
    return Robot(
        name="spin_zoo",
        source="<test>",
        bodies=bodies,
        joints=joints,
        sensors=sensors,
        solver=Solver(dt=0.01, gravity=(0, 0, 0)),
    )


def _check(robot, steps, tol, controls=None, per_param=2):
    """Random entries of the controls, initial state and every parameter, judged by the
    project's checker (tdphys.gradcheck.classify: differences at several step sizes, central
    and one-sided): no mismatch, and all but a few entries a match (the zoos keep away from
    contact and limit switches, so few are non-smooth)."""
    from tdphys import gradcheck
    from tdphys.engine.simulation import Simulation

    targets = gradcheck.choose(
        build_layout(robot), steps, ("controls", "initial", "params"), per_param
    )
    sim = Simulation(robot, batch=gradcheck.worlds_for(len(targets)), steps=steps)
    if controls is not None:
        sim.set_controls(controls(sim))
    verdicts = gradcheck.classify(sim, targets, tol=tol)
    table = gradcheck.format_table(verdicts, ("controls", "initial", "params"))
    assert not [v for v in verdicts if v.verdict == gradcheck.MISMATCH], table
    matches = [v for v in verdicts if v.verdict == gradcheck.MATCH]
    assert len(matches) >= 0.9 * len(verdicts), table
    assert any(v.group == "params" and abs(v.tape) > 0 for v in matches), table
    return verdicts


def build_layout(robot):
    from tdphys.engine.layout import build_layout as build

    return build(robot)


@pytest.mark.slow
def test_joint_zoo_gradients_match_finite_differences(backend64):
    rng = np.random.default_rng(3)

    def controls(sim):
        u = rng.uniform(-0.5, 0.5, (sim.steps, sim.n_motors))
        u[:, LIMITED_MOTORS] = 0.5  # push into the upper limits
        return u

    verdicts = _check(joint_zoo(), steps=25, tol=1e-4, controls=controls)
    assert {v.group for v in verdicts} == {"controls", "initial", "params"}


@pytest.mark.slow
def test_contact_zoo_gradients_match_finite_differences(backend64):
    _check(contact_zoo(), steps=15, tol=1e-3)


@pytest.mark.slow
def test_terrain_zoo_gradients_match_finite_differences(backend64):
    _check(terrain_zoo(), steps=12, tol=1e-3)


@pytest.mark.slow
def test_spin_zoo_gradients_match_finite_differences(backend64):
    """The torque-free rotation (implicit midpoint, Newton steps, Cayley turn) differentiates
    exactly, free and held by a joint."""
    _check(spin_zoo(), steps=30, tol=1e-4, per_param=6)
