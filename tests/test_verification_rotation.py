"""Free rotation against its closed forms (CPU, f64, dt 0.01, default solver settings).

Two bodies float in zero gravity in every world, turning freely: a box 0.1 x 0.4 x 0.8 m spun
near its intermediate axis, which flips over and back (Dzhanibekov), and a symmetric disc
(radius 0.5 m, height 0.1 m) spun about its axis with a wobble, whose rate vector precedes
at a constant rate and angle (Landau & Lifshitz, Mechanics, sections 36-37). Without a torque
the kinetic energy, |L| and the world angular momentum L stay constant, and the wobble keeps
its size. One simulation of 10 s gives every test its trajectory; the worlds differ in their
start (rates, one turned start orientation).
"""

import math

import numpy as np
import pytest
from closed_forms import intermediate_axis_flips

from tdphys import invariants
from tdphys.model.schema import Body, Robot, Shape, Solver

DT, SECONDS = 0.01, 10.0
DISC_RADIUS, DISC_HEIGHT = 0.5, 0.1
DISC_SIDE = (3 * DISC_RADIUS**2 + DISC_HEIGHT**2) / 12  # [kg m^2] per kg, about a diameter
DISC_AXIS = DISC_RADIUS**2 / 2  # [kg m^2] per kg, about its axis
BOX, DISC = 0, 1
# world rates [rad/s] at t = 0 (world frame), box then disc; world 2 starts turned (START_QUAT)
STARTS = [
    ((0.1, 4.0, 0.1), (1.0, 0.0, 10.0)),
    ((0.05, -5.0, 0.02), (0.5, 0.0, 10.0)),
    ((0.02, 3.0, -0.05), (0.3, 0.4, -6.0)),
]
START_QUAT = (math.cos(0.3), math.sin(0.3) * 0.6, 0.0, math.sin(0.3) * 0.8)
# a world spun far too fast for the step (dt |w| about 3; the Newton steps do not converge)
FAST = ((90.0, 300.0, 150.0), (30.0, 0.0, 300.0))


def floating_bodies() -> Robot:
    box = Shape("box", half_extents=(0.05, 0.2, 0.4), mass=1.0, ground=False)
    disc = Shape(
        "box", half_extents=(DISC_RADIUS, DISC_RADIUS, DISC_HEIGHT / 2), mass=1.0, ground=False
    )  # collision only: the disc's inertia is given
    return Robot(
        name="floating",
        source="<test>",
        solver=Solver(dt=DT, gravity=(0, 0, 0)),
        bodies=(
            Body("box", (box,), pos=(0, 0, 5)),
            Body("disc", (disc,), pos=(3, 0, 5), inertia=(DISC_SIDE, DISC_SIDE, DISC_AXIS)),
        ),
    )


@pytest.fixture(scope="module")
def spin(backend64):
    """The rollout as numpy arrays: t (T+1,), body-frame rates, world angular momentum and
    rotational energy per body ((T+1, B, N, 3), (T+1, B, N, 3), (T+1, B, N)), symmetry
    axis of the disc in the world (T+1, B, 3), principal moments (B, N, 3)."""
    from tdphys.engine.simulation import Simulation

    worlds = STARTS + [FAST]
    sim = Simulation(floating_bodies(), batch=len(worlds), steps=round(SECONDS / DT))
    quat = np.tile([1.0, 0.0, 0.0, 0.0], (len(worlds), 2, 1))
    quat[2] = START_QUAT
    sim.set_params({"init_omega": np.array(worlds), "init_quat": quat})
    sim.rollout()
    traj = sim.trajectory()
    inertia = sim.model.inertia.to_numpy()
    rates = invariants.angular_velocity_body(traj)
    return {
        "t": traj["t"],
        "rates": rates,
        "L": invariants.angular_momentum_world(sim, traj),
        "energy": 0.5 * np.einsum("tbni,bnij,tbnj->tbn", rates, inertia, rates),
        "disc_axis": invariants.rotation_matrices(traj["quat"])[:, :, DISC, :, 2],
        "moments": np.diagonal(inertia, axis1=-2, axis2=-1),
    }


def drift(x, axis=0):
    """Largest relative change of x from its start along `axis` (time)."""
    start = np.take(x, [0], axis)
    return np.abs(x / start - 1).max(axis)


def rate_of(t, angle):
    """Mean rate [rad/s] of an angle sampled at times t (least squares on the unwrapped angle)."""
    return np.polyfit(t, np.unwrap(angle), 1)[0]


def test_torque_free_box_keeps_energy_and_angular_momentum(spin):
    """Over 10 s, through its flips: |L| within 0.1 %, kinetic energy within 0.5 %."""
    worlds = slice(0, len(STARTS))
    size = np.linalg.norm(spin["L"][:, worlds, BOX], axis=-1)
    assert drift(size).max() < 1e-3, drift(size)
    assert drift(spin["energy"][:, worlds, BOX]).max() < 5e-3, drift(spin["energy"][:, worlds, BOX])


def test_world_angular_momentum_is_constant(spin):
    """The world angular momentum vector of both bodies stays within 0.1 % of |L| of its start
    (the orientation turns with the rate that keeps it, also from a turned start)."""
    worlds = slice(0, len(STARTS))
    moved = np.linalg.norm(spin["L"][:, worlds] - spin["L"][:1, worlds], axis=-1)
    assert (moved / np.linalg.norm(spin["L"][0, worlds], axis=-1)).max() < 1e-3


def test_intermediate_axis_flips_on_time(spin):
    """The rate about the intermediate axis (body y) changes sign when the elliptic-integral
    solution says: every flip within 10 s, each within 0.01 s."""
    t = spin["t"]
    for w in range(len(STARTS)):
        rate = spin["rates"][:, w, BOX, 1]
        i = np.nonzero(np.sign(rate[:-1]) != np.sign(rate[1:]))[0]
        flips = t[i] - rate[i] * DT / (rate[i + 1] - rate[i])  # linear between the steps
        exact = intermediate_axis_flips(spin["moments"][w, BOX], spin["rates"][0, w, BOX], SECONDS)
        assert len(exact) >= 2 and len(flips) == len(exact), (w, flips, exact)
        assert np.abs(flips - exact).max() < 0.01, (w, flips, exact)


def test_symmetric_disc_keeps_its_wobble(spin):
    """Over 5 s, the rate across the axis (the wobble) and the angle between the axis and L
    (nutation) stay within 2 % of their starts; the rate along the axis stays too."""
    five = spin["t"] <= 5.0
    rates = spin["rates"][five, : len(STARTS), DISC]
    L = np.linalg.norm(spin["L"][five, : len(STARTS), DISC], axis=-1)
    nutation = np.arccos(DISC_AXIS * np.abs(rates[..., 2]) / L)  # axis line to L
    assert drift(np.hypot(rates[..., 0], rates[..., 1])).max() < 0.02
    assert drift(nutation).max() < 0.02
    assert drift(rates[..., 2]).max() < 0.02


def test_symmetric_disc_precesses_at_the_closed_form_rates(spin):
    """In the body frame the wobble turns about the axis at (I3 - I1) / I1 w3; in the world the
    axis turns about L at |L| / I1. Both within 2 % over the first and over the fifth second."""
    t = spin["t"]
    for w in range(len(STARTS)):
        rates, L = spin["rates"][:, w, DISC], spin["L"][0, w, DISC]
        body_rate = (DISC_AXIS - DISC_SIDE) / DISC_SIDE * rates[0, 2]
        space_rate = np.linalg.norm(L) / DISC_SIDE
        along = L / np.linalg.norm(L)
        across = np.cross(along, [1.0, 0.0, 0.0] if abs(along[0]) < 0.9 else [0.0, 1.0, 0.0])
        across /= np.linalg.norm(across)
        axis = spin["disc_axis"][:, w]
        for second in ((t <= 1.0), (t >= 4.0) & (t <= 5.0)):
            wobble = np.arctan2(rates[second, 1], rates[second, 0])
            turn = np.arctan2(axis[second] @ np.cross(along, across), axis[second] @ across)
            assert abs(rate_of(t[second], wobble) / body_rate - 1) < 0.02, w
            assert abs(rate_of(t[second], turn) / space_rate - 1) < 0.02, w


def test_spin_too_fast_for_the_step_keeps_abs_L(spin):
    """At dt |w| about 3 the rotation is inaccurate but stays bounded: |L| is kept to rounding
    (each step turns L in the body frame), so the energy stays between |L|^2 / (2 I_max) and
    |L|^2 / (2 I_min) and nothing blows up."""
    fast = len(STARTS)
    size = np.linalg.norm(spin["L"][:, fast], axis=-1)
    assert np.isfinite(spin["rates"][:, fast]).all()
    assert drift(size).max() < 1e-9
