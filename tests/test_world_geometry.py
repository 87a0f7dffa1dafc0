"""Cylinders and shapes fixed in the world, against closed forms (CPU, f64).

A solid cylinder rolls without slipping down an incline at (2/3) g sin(theta); a box slides
down it at g (sin(theta) - mu cos(theta)) where mu < tan(theta) and stays where mu > tan(theta);
every kind of shape comes to rest on every kind of fixed shape at the height its geometry
gives (within the sink of the soft contact); a cylinder's mass properties are a solid
cylinder's.
"""

import math

import numpy as np
import pytest

G = 9.81
THETA = math.radians(10.0)  # the incline
S, C = math.sin(THETA), math.cos(THETA)
MU = 0.09  # below tan(10 deg) = 0.176: boxes of this friction slide

INCLINE = f"""
name: incline
solver: {{dt: 0.005, iterations: 10}}
ground: {{enabled: false}}
world:
  shapes:
    - {{type: plane, euler: [0, 10, 0], friction: {MU}}}   # downhill towards +x
bodies:
  - name: wheel
    pos: [{0.2 * S}, 0, {0.2 * C}]
    euler: [90, 0, 0]
    shapes: [{{type: cylinder, radius: 0.2, half_length: 0.1, friction: {MU}}}]
  - name: slider
    pos: [{0.1 * S}, 2, {0.1 * C}]
    euler: [0, 10, 0]
    shapes: [{{type: box, size: [0.2, 0.2, 0.1], friction: {MU}}}]
  - name: sticker
    pos: [{0.1 * S}, 4, {0.1 * C}]
    euler: [0, 10, 0]
    shapes: [{{type: box, size: [0.2, 0.2, 0.1], friction: 1.0}}]
"""


def run(text: str, steps: int):
    from tdphys.engine.simulation import Simulation
    from tdphys.model import parse_robot

    sim = Simulation(parse_robot(text, "<test>"), batch=1, steps=steps)
    sim.rollout()
    return sim, sim.state.pos.to_numpy()[:, 0], sim.state.vel.to_numpy()[:, 0]


@pytest.mark.slow
def test_on_an_incline_a_cylinder_rolls_and_boxes_slide_or_stick(backend64):
    steps, dt = 200, 0.005
    _, pos, _ = run(INCLINE, steps)
    t = steps * dt
    downhill = np.array([C, 0.0, -S])
    travelled = (pos[-1] - pos[0]) @ downhill
    # rolling: the friction it needs, tan(theta) / 3 = 0.059, is below MU
    assert travelled[0] == pytest.approx(0.5 * (2.0 / 3.0) * G * S * t * t, rel=0.01)
    # sliding: the geometric mean of two equal frictions is MU
    assert travelled[1] == pytest.approx(0.5 * G * (S - MU * C) * t * t, rel=0.01)
    assert abs(travelled[2]) < 1e-3  # sqrt(MU * 1) = 0.3 > tan(theta)


# (body pose and shape, world shape, the body's rest height [m] of its centre)
RESTING = [
    # a cylinder on its end and on its side on the ground
    ("pos: [0, 0, 0.31]", "{type: cylinder, radius: 0.1, half_length: 0.3}", None, 0.3),
    (
        "pos: [2, 0, 0.11], euler: [90, 0, 0]",
        "{type: cylinder, radius: 0.1, half_length: 0.3}",
        None,
        0.1,
    ),
    # a sphere on a box (a step), a box on a sphere (a boulder), a capsule across a cylinder
    # (a log), a box across a capsule (a rail), a cylinder on a cylinder (a pedestal), a
    # cylinder lying on a box, a box on a box
    (
        "pos: [4, 0, 0.61]",
        "{type: sphere, radius: 0.1}",
        "{type: box, size: [0.5, 0.5, 0.25], pos: [4, 0, 0.25]}",
        0.6,
    ),
    (
        "pos: [6, 0, 1.06]",
        "{type: box, size: [0.2, 0.2, 0.05]}",
        "{type: sphere, radius: 0.5, pos: [6, 0, 0.5]}",
        1.05,
    ),
    (
        "pos: [8, 0, 0.86], euler: [0, 90, 0]",
        "{type: capsule, radius: 0.05, half_length: 0.3}",
        "{type: cylinder, radius: 0.2, half_length: 1, pos: [8, 0, 0.6], euler: [90, 0, 0]}",
        0.85,
    ),
    (
        "pos: [10, 0, 0.58]",
        "{type: box, size: [0.05, 0.3, 0.02]}",
        "{type: capsule, radius: 0.05, half_length: 0.5, pos: [10, 0, 0.5], euler: [0, 90, 0]}",
        0.57,
    ),
    (
        "pos: [12, 0, 0.61]",
        "{type: cylinder, radius: 0.1, half_length: 0.1}",
        "{type: cylinder, radius: 0.3, half_length: 0.25, pos: [12, 0, 0.25]}",
        0.6,
    ),
    (
        "pos: [14, 0, 0.61], euler: [90, 0, 0]",
        "{type: cylinder, radius: 0.1, half_length: 0.2}",
        "{type: box, size: [0.5, 0.5, 0.25], pos: [14, 0, 0.25]}",
        0.6,
    ),
    (
        "pos: [16, 0, 0.56], euler: [0, 0, 30]",
        "{type: box, size: [0.1, 0.15, 0.05]}",
        "{type: box, size: [0.5, 0.5, 0.25], pos: [16, 0, 0.25]}",
        0.55,
    ),
]


@pytest.mark.slow
def test_every_shape_kind_rests_on_every_fixed_shape_at_its_height(backend64):
    bodies = "\n".join(
        f"  - {{name: b{i}, {pose}, shapes: [{shape}]}}"
        for i, (pose, shape, _, _) in enumerate(RESTING)
    )
    fixed = "\n".join(f"    - {w}" for _, _, w, _ in RESTING if w is not None)
    text = (
        "name: resting\nsolver: {dt: 0.005, contact_hz: 0}\n"
        f"world:\n  shapes:\n{fixed}\nbodies:\n{bodies}\n"
    )
    _, pos, vel = run(text, 300)
    heights = np.array([h for *_, h in RESTING])
    # rigid contacts (contact_hz 0) hold their depth within the solver's slop
    np.testing.assert_allclose(pos[-1, :, 2], heights, atol=2e-3)
    np.testing.assert_allclose(pos[-1, :, :2], pos[0, :, :2], atol=2e-3)  # nothing slid off
    assert np.abs(vel[-1]).max() < 0.01


def test_a_cylinder_weighs_and_turns_as_a_solid_cylinder(backend64):
    from tdphys.engine.simulation import Simulation
    from tdphys.model import parse_robot

    r, half, density = 0.1, 0.3, 700.0
    text = (
        "bodies:\n  - name: c\n    pos: [0, 0, 1]\n    shapes: [{type: cylinder, "
        f"radius: {r}, half_length: {half}, density: {density}}}]\n"
    )
    sim = Simulation(parse_robot(text, "<test>"), batch=1, steps=1)
    sim.k_mass()
    m = density * math.pi * r * r * 2 * half
    assert sim.model.mass.to_numpy()[0, 0] == pytest.approx(m, rel=1e-12)
    transverse = m * (3 * r * r + (2 * half) ** 2) / 12
    np.testing.assert_allclose(
        np.diag(sim.model.inertia.to_numpy()[0, 0]),
        [transverse, transverse, m * r * r / 2],
        rtol=1e-12,
    )


@pytest.mark.slow
def test_the_rover_drives_over_a_step_a_log_and_down_a_ramp(backend64):
    """robots/rover.yaml with every wheel servoed at 8 rad/s for 4 s: its wheels climb the
    0.04 m step and the 0.03 m log (their centres reach 0.1 + 0.04 + 2 x 0.03 m), it rolls
    down the ramp back to the ground and goes on at the wheels' rim speed."""
    from tdphys import load
    from tdphys.engine.simulation import Simulation

    steps, dt, speed = 800, 0.005, 8.0
    sim = Simulation(load("robots/rover.yaml"), batch=1, steps=steps)
    sim.set_controls(np.full((steps, 4), speed))
    sim.rollout()
    pos = sim.state.pos.to_numpy()[:, 0]
    wheels_z = pos[:, 1:, 2]
    assert wheels_z.max() == pytest.approx(0.2, abs=5e-3)  # on top of the log
    assert np.all(wheels_z > 0.1 - 2e-3)  # never sunk into the ground or the step
    assert pos[-1, 0, 2] == pytest.approx(0.16, abs=2e-3)  # back on the ground
    late = slice(steps - 100, steps)  # on flat ground, past the ramp
    x = pos[late, 0, 0]
    assert (x[-1] - x[0]) / (99 * dt) == pytest.approx(speed * 0.1, rel=0.02)
