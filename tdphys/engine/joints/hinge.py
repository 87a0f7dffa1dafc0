"""Hinge joint: the anchors coincide and the child turns about one axis of the parent.

Rows: the point rows, and two angular rows keeping the child's copy of the axis a_c
perpendicular to u_0, u_1, the parent's pair spanning the plane normal to its axis:
C = a_c . u_k [rad, small-angle]; J = (0, u_k x a_c | 0, a_c x u_k). The coordinate is the
angle [rad] about the parent's axis between the reference vectors (common.angle_about).
"""

import taichi as ti

from ..frames import six
from ..tmath import quat_rotate
from . import common

NAME = "hinge"
N_AXES = 1
CHILD_AXES = ()
references = common.perpendicular_references


@ti.func
def angle_row(s, w, j, k, qp, qc, rp, rc, d):
    """(ja, jb, C) of angular row k (0, 1); module docstring."""
    zero = ti.Vector([0.0, 0.0, 0.0])
    _ap, perp = common.normal_pair(s, w, j, k, qp)
    ac = quat_rotate(qc, s.model.axis_c[w, j, 0])
    return six(zero, perp.cross(ac)), six(zero, ac.cross(perp)), ac.dot(perp)


ANGLE = common.RowKind("hinge angle", angle_row)
ROWS = ((common.POINT, 3), (ANGLE, 2))


@ti.func
def coordinate(s, w, j, axis, qp, qc, rp, rc, d):
    """(q [rad], ja, jb): the angle about the parent's axis (common.angle_about)."""
    return common.angle_about(s, w, j, axis, qp, qc, quat_rotate(qp, s.model.axis_p[w, j, axis]))
