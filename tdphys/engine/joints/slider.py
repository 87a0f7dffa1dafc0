"""Slider (prismatic) joint: the child keeps its orientation relative to the parent and
moves along one axis of the parent through the anchor.

Rows: the angular lock rows (common.py), and two linear rows keeping the anchors' offset d
perpendicular to u_0, u_1, the parent's pair spanning the plane normal to its axis:
C = u_k . d [m]; J = (-u_k, -(r_p + d) x u_k | u_k, r_c x u_k) (u_k turns with the parent,
about its centre of mass). The coordinate is the offset along the axis [m], 0 at the initial
pose.
"""

import taichi as ti

from ..frames import six
from ..tmath import quat_rotate
from . import common

NAME = "slider"
N_AXES = 1
CHILD_AXES = ()
references = common.perpendicular_references


@ti.func
def linear_row(s, w, j, k, qp, qc, rp, rc, d):
    """(ja, jb, C) of linear row k (0, 1); module docstring."""
    _ap, perp = common.normal_pair(s, w, j, k, qp)
    return six(-perp, -(rp + d).cross(perp)), six(perp, rc.cross(perp)), perp.dot(d)


LINEAR = common.RowKind("slider linear", linear_row)
ROWS = ((common.ANGULAR_LOCK, 3), (LINEAR, 2))


@ti.func
def coordinate(s, w, j, axis, qp, qc, rp, rc, d):
    """(q [m], ja, jb): q = a . d along the parent's axis a (world);
    J = (-a, -(r_p + d) x a | a, r_c x a)."""
    ax = quat_rotate(qp, s.model.axis_p[w, j, axis])
    return ax.dot(d), six(-ax, -(rp + d).cross(ax)), six(ax, rc.cross(ax))
