"""The joints' passive dynamics, one Gauss-Seidel row per moving axis (layout.ROW_PASSIVE,
ROW_FRICTION_LOSS), both between the joint's parent and child along the axis the motors use
(joints.coordinate: q [rad or m], 0 at the initial pose, and its rate J v).

Damping c, armature a and spring stiffness k (with rest position q_ref) over a substep of
width h are one implicit row: the impulse lambda [N m s or N s] solves

    lambda = a (rate0 - J v) - c h J v - k h (q - q_ref + h J v)

with J v the rate at the end of the substep and rate0 the one at its start: a rotor of
inertia a keeps its rate unless pushed, the damper acts on the new rate (backward Euler, so
any c is stable at any h), the spring on the new position. Where the axis turns with the
motion (a universal joint's second axis, a gimbal's, a slider on a turning parent) the rate
at the end is J' v' with J' the Jacobian then, not J v': rate0 is taken as
J v - (J' - J) v (J' from the poses moved by h, joints.coordinate_ahead), so that the rotor
keeps J' v' to first order, as a rotor on the joint's coordinate does (MuJoCo's armature, a
constant added to the joint-space mass matrix). That is a soft row
lambda = m_row (vt - J v) with

    m_row = a + c h + k h^2,    vt = (a rate0 - k h (q - q_ref)) / m_row,

which the Gauss-Seidel update (solver.row_update) reaches as its fixed point when the row's
softness is meff / m_row (meff the row's effective mass; Simulation.row_scratch turns softness
into the update's mixing factors).

Friction loss f [N m or N] is a row driving the rate to zero with an impulse within +-f h, as a
velocity servo with target 0 and max_force f.
"""

import taichi as ti

from . import joints, welds
from . import layout as L
from .frames import body_velocity, six
from .rows import BIG

ROW_KINDS = (L.ROW_PASSIVE, L.ROW_FRICTION_LOSS)


@ti.func
def gyro_rate(s, u, w, n):
    """(0, dw/dt) [rad/s^2]: body n's torque-free rate of change of its world angular
    velocity at substep u, -I_w^-1 (w x I_w w) (0 for the world)."""
    k = ti.max(n, 0)
    om = s.scratch.sub.omega[u, w, k]
    spin = s.scratch.iw_inv[u, w, k] @ om.cross(s.scratch.iw[u, w, k] @ om)
    return ti.select(n >= 0, six(ti.Vector([0.0, 0.0, 0.0]), -spin), ti.Vector([0.0] * 6))


@ti.func
def row(s, t, u, w, r, kind: ti.template()):
    """(ja, jb, vt, softness, lo, hi, mu, active) of passive row r (of kind `kind`, compile
    time) in world w at substep u of step t; see the module docstring."""
    j, axis, h = s.model.row_idx[r], s.model.row_sub[r], s.h
    q, ja, jb = joints.coordinate(s, s.scratch.sub, u, w, j, axis)
    vt, softness, lo, hi = 0.0, 0.0, -BIG, BIG
    if ti.static(kind == L.ROW_PASSIVE):
        a, b = s.model.joint_parent[j], s.model.joint_child[j]
        ha, hb = s.model.joint_host_parent[j], s.model.joint_host_child[j]
        va, vb = body_velocity(s, s.scratch.sub, u, w, a), body_velocity(s, s.scratch.sub, u, w, b)
        _q, ja_ahead, jb_ahead = joints.coordinate_ahead(s, s.scratch.sub, u, w, j, axis, h)
        # the rotor keeps the rate the axis has at the substep's end, J_ahead (v' + h gyro):
        # its target on J v' takes off what the axis's turn and the bodies' gyroscopic drift
        # after the solve (bodies.advance) will add to it
        rate0 = (
            2.0 * (ja.dot(va) + jb.dot(vb))
            - (ja_ahead.dot(va) + jb_ahead.dot(vb))
            - h * (ja.dot(gyro_rate(s, u, w, ha)) + jb.dot(gyro_rate(s, u, w, hb)))
        )
        armature, stiffness = (
            s.model.passive_armature[w, j, axis],
            s.model.passive_stiffness[w, j, axis],
        )
        m_row = armature + s.model.passive_damping[w, j, axis] * h + stiffness * h * h
        vt = (
            armature * rate0 - stiffness * h * (q - s.model.passive_spring_ref[w, j, axis])
        ) / m_row
        # the effective mass of the bodies the solver moves (a welded body's host)
        ja_h, jb_h = ja, jb
        if ti.static(s.has_welds):
            ja_h, jb_h = welds.on_host(s, u, w, a, ja), welds.on_host(s, u, w, b, jb)
        inverse = ja_h.dot(s.inverse_mass_times(u, w, ha, ja_h)) + jb_h.dot(
            s.inverse_mass_times(u, w, hb, jb_h)
        )
        softness = 1.0 / (inverse * m_row + 1e-30)
    else:
        hi = s.model.passive_friction_loss[w, j, axis] * h
        lo = -hi
    return ja, jb, vt, softness, lo, hi, 0.0, 1.0
