"""Gradients are the product: the tape against central finite differences in float64.

Two small "zoos" cover every joint type, motor mode, limit, contact pair type and sensor kind
(with and without a reference body; the gradcheck loss weighs every sensor value at T). Each check
perturbs random entries of the controls, the initial state and every physical parameter.
Tolerances: relative error <= 1e-4 without contact, <= 1e-3 with contact (states chosen away
from contact switches).
"""
import math

import numpy as np
import pytest

from tdphys.model.schema import (Body, ContactPair, Ground, Joint, Motor, Robot, Sensor, Shape,
                                  Solver)

H = math.sqrt(0.5)


def joint_zoo():
    """A chain hanging from the world through every joint kind, all motorised. The hinge and
    the slider start just past their upper limits and their motors push into them (see
    LIMITED_MOTORS), so both limits stay engaged for the whole rollout; the universal joint's
    weak first motor wanders into its 0.03 rad bound through the limit margin."""
    cap = lambda x: Shape("capsule", radius=0.05, half_length=0.2, pos=(x, 0, 0),  # noqa: E731
                          quat=(H, 0, H, 0), mass=1.0, ground=False)
    box = Shape("box", half_extents=(0.1, 0.08, 0.06), mass=0.7, ground=False)
    bodies = (Body("a", (cap(0.2),), pos=(0, 0, 2), omega=(0.3, 0.2, -0.1)),
              Body("b", (cap(0.2),), pos=(0.4, 0, 2), vel=(0.1, 0, 0.2)),
              Body("c", (box,), pos=(0.9, 0, 2)),
              Body("d", (cap(0.2),), pos=(1.0, 0, 2), omega=(0, 0.4, 0.2)),
              Body("e", (Shape("sphere", radius=0.1, mass=0.5, ground=False),), pos=(1.5, 0, 2)))
    pos = Motor("pos", mode="position", gain=8.0, max_force=50.0, max_velocity=4.0)
    vel = Motor("vel", mode="velocity", max_force=50.0, max_velocity=4.0)
    joints = (
        Joint("hinge", "hinge", None, "a", (0, 0, 2), ((0, 1, 0),), ((-2.0, -0.01),), (pos,)),
        Joint("ball", "ball", "a", "b", (0.4, 0, 2), ((1, 0, 0), (0, 1, 0), (0, 0, 1)),
              (None, None, None),
              (Motor("b0", axis=0, gain=5, max_force=40, max_velocity=3),
               Motor("b1", axis=1, mode="velocity", max_force=40, max_velocity=3),
               Motor("b2", axis=2, gain=5, max_force=40, max_velocity=3))),
        Joint("slider", "slider", "b", "c", (0.9, 0, 2), ((1, 0, 0),), ((-0.3, -0.01),), (vel,)),
        Joint("univ", "universal", "c", "d", (1.0, 0, 2), ((0, 0, 1), (0, 1, 0)),
              ((-1.0, 0.03), None),                  # reached through the limit margin
              (Motor("u0", axis=0, gain=6, max_force=3, max_velocity=3),
               Motor("u1", axis=1, mode="force", max_force=0.4))),   # clips +-0.5
        Joint("fixed", "fixed", "d", "e", (1.5, 0, 2)),
    )
    sensors = (Sensor("b_pos", "body_pos", body="b", reference="a"),
               Sensor("c_vel", "body_vel", body="c", reference="b"),
               Sensor("d_quat", "body_quat", body="d", reference="c"),
               Sensor("e_omega", "body_omega", body="e", reference="a"),
               Sensor("a_vel", "body_vel", body="a"),
               Sensor("ball_2", "joint_pos", joint="ball", axis=2),
               Sensor("univ_1", "joint_vel", joint="univ", axis=1))
    return Robot(name="joint_zoo", source="<test>", bodies=bodies, joints=joints,
                 sensors=sensors, solver=Solver(dt=0.01, iterations=8, limit_margin=0.1))


LIMITED_MOTORS = (0, 4)  # the hinge's and the slider's motors, in control order


def contact_zoo():
    """Every contact pair type, in states away from contact switches: a ball sliding and
    spinning on the ground, a box resting, a capsule rolling, overlapping body pairs, and a
    ball falling through the speculative contact margin onto the ground."""
    def free(name, shape, pos, **kw):
        return Body(name, (shape,), pos=pos, **kw)
    bodies = (
        free("slide", Shape("sphere", radius=0.3, mass=1.0, friction=0.4, restitution=0.2,
                            torsional_friction=0.05), (0, 0, 0.295), vel=(2.0, 0.5, 0),
             omega=(0, 1.0, 3.0)),
        free("box", Shape("box", half_extents=(0.2, 0.15, 0.1), mass=2.0, friction=0.8),
             (2, 0, 0.099)),
        free("cap", Shape("capsule", radius=0.1, half_length=0.3, quat=(H, H, 0, 0), mass=1.0,
                          friction=0.9), (4, 0, 0.099), vel=(0.5, 0, 0)),
        free("s1", Shape("sphere", radius=0.2, mass=1.0, ground=False), (0, 3, 2)),
        free("s2", Shape("sphere", radius=0.2, mass=1.5, ground=False), (0.1, 3.05, 2.37)),
        free("k1", Shape("capsule", radius=0.1, half_length=0.3, mass=1.0, ground=False),
             (2, 3, 2)),
        free("k2", Shape("capsule", radius=0.1, half_length=0.3, quat=(H, H, 0, 0), mass=1.0,
                         ground=False), (2.19, 3.02, 2.1)),
        free("bx", Shape("box", half_extents=(0.3, 0.3, 0.3), mass=3.0, ground=False),
             (4, 3, 2)),
        free("sb", Shape("sphere", radius=0.2, mass=1.0, ground=False), (4.1, 3.0, 2.48)),
        # inside the contact margin, landing at step 5: speculative rows, then touching
        free("drop", Shape("sphere", radius=0.2, mass=0.8, friction=0.6), (6, 0, 0.27),
             vel=(0.4, 0.1, -1.2), omega=(0.5, 0, 0)),
    )
    pairs = (ContactPair(3, 0, 4, 0), ContactPair(3, 0, 5, 0), ContactPair(5, 0, 6, 0),
             ContactPair(7, 0, 8, 0))
    sensors = tuple(Sensor(f"{b}_force", "contact_force", body=b)
                    for b in ("slide", "box", "cap", "s2", "k2", "sb", "drop"))
    return Robot(name="contact_zoo", source="<test>", bodies=bodies, contact_pairs=pairs,
                 sensors=sensors,
                 ground=Ground(friction=1.0, torsional_friction=0.02),
                 solver=Solver(dt=0.01, iterations=10, gravity=(0, 0, -9.81),
                               contact_margin=0.1))


def _check(robot, steps, tol, controls=None, per_param=2, serial_stages=True):
    from tdphys import gradcheck
    from tdphys.engine.simulation import Simulation
    sim = Simulation(robot, batch=2, steps=steps)
    sim.serial_stages = serial_stages  # read when the kernels compile (the first taped run)
    if controls is not None:
        sim.set_controls(controls(sim))
    entries = gradcheck.check(sim, per_param=per_param)
    bad = [e for e in entries if e.rel_error > tol]
    assert not bad, "\n".join(f"{e.name}{e.index}: tape {e.tape:.6e} fd {e.fd:.6e}"
                              for e in bad)
    assert any(e.group == "params" and abs(e.tape) > 0 for e in entries)
    return entries


@pytest.mark.parametrize("serial_stages", [True, False], ids=["serial-stages", "parallel-stages"])
def test_joint_zoo_gradients_match_finite_differences(backend64, serial_stages):
    """Both forms of the stage adjoints: serial loops (what small batches get on CPU) and
    parallel loops (larger batches, GPUs); see Simulation.serial_stages."""
    rng = np.random.default_rng(3)

    def controls(sim):
        u = rng.uniform(-0.5, 0.5, (sim.steps, sim.n_motors))
        u[:, LIMITED_MOTORS] = 0.5  # push into the upper limits
        return u
    entries = _check(joint_zoo(), steps=25, tol=1e-4, controls=controls,
                     serial_stages=serial_stages)
    assert {e.group for e in entries} == {"controls", "initial", "params"}


@pytest.mark.parametrize("serial_stages", [True, False], ids=["serial-stages", "parallel-stages"])
def test_contact_zoo_gradients_match_finite_differences(backend64, serial_stages):
    _check(contact_zoo(), steps=15, tol=1e-3, serial_stages=serial_stages)
