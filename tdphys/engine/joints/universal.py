"""Universal joint: the anchors coincide and the child turns about two perpendicular axes,
the first fixed in the parent, the second in the child (docs/conventions.md).

Rows: the point rows, and one angular row keeping the parent's first axis a_1 perpendicular
to the child's second axis a_2: C = a_1 . a_2 [rad, small-angle];
J = (0, a_1 x a_2 | 0, -(a_1 x a_2)). The coordinate along each axis is the angle [rad]
about it between reference vectors (common.angle_about); each axis's reference is the other
axis, so axis 0 turns the child's copy of axis 1 and axis 1 turns the parent's axis 0.
"""

import taichi as ti

from ..frames import six
from ..tmath import quat_rotate
from . import common

NAME = "universal"
N_AXES = 2
CHILD_AXIS = 1
CHILD_AXES = (CHILD_AXIS,)  # axis 1 is carried by the child


def references(axes: list) -> list:
    """Each axis's reference vector (world, initial pose): the other axis."""
    return [axes[1], axes[0]]


@ti.func
def angle_row(s, w, j, k, qp, qc, rp, rc, d):
    """(ja, jb, C) of the angular row; module docstring."""
    zero = ti.Vector([0.0, 0.0, 0.0])
    ap = quat_rotate(qp, s.model.axis_p[w, j, 0])
    a2 = quat_rotate(qc, s.model.axis_c[w, j, 1])
    n = ap.cross(a2)
    return six(zero, n), six(zero, -n), ap.dot(a2)


ANGLE = common.RowKind("universal angle", angle_row)
ROWS = ((common.POINT, 3), (ANGLE, 1))


@ti.func
def coordinate(s, w, j, axis, qp, qc, rp, rc, d):
    """(q [rad], ja, jb): the angle about the axis (common.angle_about), axis 1 in the
    child's frame."""
    ax = ti.select(
        axis == CHILD_AXIS,
        quat_rotate(qc, s.model.axis_c[w, j, axis]),
        quat_rotate(qp, s.model.axis_p[w, j, axis]),
    )
    return common.angle_about(s, w, j, axis, qp, qc, ax)
