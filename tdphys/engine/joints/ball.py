"""Ball joint: the anchors coincide, the child turns freely about the anchor.

Three axes fixed in the parent (motors and sensors; no limits). The coordinate along axis i
is the component along it of the rotation vector [rad] of the child's turn from its initial
orientation relative to the parent.
"""

import taichi as ti

from ..frames import six
from ..tmath import quat_conj, quat_mul, quat_rotate, rotation_vector
from . import common

NAME = "ball"
N_AXES = 3
ROWS = ((common.POINT, 3),)
CHILD_AXES = ()  # every axis is carried by the parent
references = common.perpendicular_references


@ti.func
def coordinate(s, w, j, axis, qp, qc, rp, rc, d):
    """(q [rad], ja, jb) along axis `axis` (common.py for the frames): q the rotation
    vector of qp^-1 qc rel_quat^-1 along the parent's axis; J = (0, -a | 0, a), a the axis
    in the world."""
    zero = ti.Vector([0.0, 0.0, 0.0])
    ax = quat_rotate(qp, s.model.axis_p[w, j, axis])
    rel = quat_mul(quat_mul(quat_conj(qp), qc), quat_conj(s.model.rel_quat[w, j]))
    return rotation_vector(rel).dot(s.model.axis_p[w, j, axis]), six(zero, -ax), six(zero, ax)
