"""Gimbal joint: three hinges through one point about mutually perpendicular axes a_0, a_1,
a_2, applied in order, as MuJoCo applies several hinges of one body: the child's orientation
relative to the parent, from the initial pose, is Rot(a_0, q_0) Rot(a_1, q_1) Rot(a_2, q_2)
with the axes in the parent's frame at the initial pose. So a_0 turns with the parent, a_2
with the child, a_1 with the frame between them (docs/conventions.md).

Rows: the point rows only (the three angles are free, up to limits, motors and passive rows).

Coordinates: with the basis b = (a_0, a_1, n = a_0 x a_1) (a_2 = s n, s = +-1) and M the
relative rotation D in that basis, M = Rx(q_0) Ry(q_1) Rz(s q_2) is a Tait-Bryan product:
q_1 = asin(M_02) in [-pi/2, pi/2], q_0 = atan2(-M_12, M_22), q_2 = s atan2(-M_01, M_00).
The relative angular velocity (world) is sum_i dq_i A_i with the world axes A_0 (parent),
A_1 = Rot(a_0, q_0) a_1 (between), A_2 (child); so dq_i = g_i . (w_child - w_parent) with
g_i the reciprocal basis of the A_i (g_i . A_k = delta_ik), and J = (0, -g_i | 0, g_i). At
q_1 = +-pi/2 the gimbal locks (the A_i fall in a plane): the loader keeps q_1 within limits
well inside +-90 deg.
"""

import taichi as ti

from ..frames import six
from ..tmath import quat_conj, quat_mul, quat_rotate, quat_to_matrix
from . import common

NAME = "gimbal"
N_AXES = 3
ROWS = ((common.POINT, 3),)
CHILD_AXES = (2,)  # axis 2 turns with the child, axis 0 with the parent, axis 1 between
references = common.perpendicular_references


@ti.func
def coordinate(s, w, j, axis, qp, qc, rp, rc, d):
    """(q [rad], ja, jb) of hinge `axis` (0, 1, 2): the module docstring."""
    a0, a1, a2 = s.model.axis_p[w, j, 0], s.model.axis_p[w, j, 1], s.model.axis_p[w, j, 2]
    n = a0.cross(a1)
    sign = 1.0 if n.dot(a2) >= 0.0 else -1.0
    rel = quat_mul(quat_mul(quat_conj(qp), qc), quat_conj(s.model.rel_quat[w, j]))
    turn = quat_to_matrix(rel)  # D, parent frame
    m00, m01, m02 = a0.dot(turn @ a0), a0.dot(turn @ a1), a0.dot(turn @ n)
    m12, m22 = a1.dot(turn @ n), n.dot(turn @ n)
    q0 = ti.atan2(-m12, m22)
    q1 = ti.asin(ti.min(1.0, ti.max(-1.0, m02)))
    q2 = sign * ti.atan2(-m01, m00)
    w0 = quat_rotate(qp, a0)
    w1 = quat_rotate(qp, ti.cos(q0) * a1 + ti.sin(q0) * n)
    w2 = quat_rotate(qp, turn @ a2)
    det = w0.dot(w1.cross(w2))
    q = ti.select(axis == 0, q0, ti.select(axis == 1, q1, q2))
    g = ti.select(axis == 0, w1.cross(w2), ti.select(axis == 1, w2.cross(w0), w0.cross(w1))) / det
    zero = ti.Vector([0.0, 0.0, 0.0])
    return q, six(zero, -g), six(zero, g)
