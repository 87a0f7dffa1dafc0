"""What the joint kinds share: the structural row kind, the joint's frames at a pose, the
point-to-point and angular-lock rows, and the pieces of rows and coordinates several kinds
build on.

A joint holds parent a and child b (a = -1: the world). At a pose (sim.scratch.sub at a
substep, sim.state at a step, sim.scratch.drift before stabilisation) its frames are
qp, qc (parent and child orientation, body to world), rp, rc [m] (world lever arms from each
centre of mass to its anchor point) and d = (c - p) [m] (child anchor minus parent anchor,
world). A structural row is (ja, jb, C): the 6-vector Jacobians (linear then angular, world)
of its relative velocity J v = ja . v_a + jb . v_b and its position error C [m or rad]; the
solver drives J v to -bias C (rows.row).
"""

from dataclasses import dataclass

import numpy as np
import taichi as ti

from ..frames import body_frame, body_frame_ahead, six
from ..tmath import quat_conj, quat_mul, quat_rotate, rotation_vector, unit


@dataclass(frozen=True)
class RowKind:
    """A kind of structural joint row. `function(s, w, j, k, qp, qc, rp, rc, d)` is a
    ti.func giving (ja, jb, C) of row k (0, 1, ...) of joint j in world w from the joint's
    frames (module docstring); the registry (joints/__init__.py) numbers the kinds."""

    name: str
    function: object


@ti.func
def joint_frames(s, st: ti.template(), i, w, j):
    """(qp, qc, rp, rc, d) of joint j in the poses st at index i (module docstring)."""
    xp, qp, comp = body_frame(s, st, i, w, s.model.joint_parent[j])
    xc, qc, comc = body_frame(s, st, i, w, s.model.joint_child[j])
    rp = quat_rotate(qp, s.model.anchor_p[w, j] - comp)
    rc = quat_rotate(qc, s.model.anchor_c[w, j] - comc)
    return qp, qc, rp, rc, (xc + rc) - (xp + rp)


@ti.func
def joint_frames_ahead(s, st: ti.template(), i, w, j, h):
    """joint_frames a time h [s] later, each body moved along its velocity (first order)."""
    xp, qp, comp = body_frame_ahead(s, st, i, w, s.model.joint_parent[j], h)
    xc, qc, comc = body_frame_ahead(s, st, i, w, s.model.joint_child[j], h)
    rp = quat_rotate(qp, s.model.anchor_p[w, j] - comp)
    rc = quat_rotate(qc, s.model.anchor_c[w, j] - comc)
    return qp, qc, rp, rc, (xc + rc) - (xp + rp)


@ti.func
def point_row(s, w, j, k, qp, qc, rp, rc, d):
    """The anchors coincide along world axis e_k: C = e_k . d [m];
    J = (-e_k, -r_p x e_k | e_k, r_c x e_k)."""
    e = unit(k)
    return six(-e, -rp.cross(e)), six(e, rc.cross(e)), e.dot(d)


@ti.func
def angular_lock_row(s, w, j, k, qp, qc, rp, rc, d):
    """The child keeps its orientation relative to the parent about world axis e_k:
    C = e_k . theta [rad], theta the rotation vector of qc (qp rel_quat)^-1;
    J = (0, -e_k | 0, e_k)."""
    zero = ti.Vector([0.0, 0.0, 0.0])
    e = unit(k)
    err = quat_mul(qc, quat_conj(quat_mul(qp, s.model.rel_quat[w, j])))
    return six(zero, -e), six(zero, e), rotation_vector(err).dot(e)


POINT = RowKind("point", point_row)
ANGULAR_LOCK = RowKind("angular lock", angular_lock_row)


@ti.func
def normal_pair(s, w, j, k, qp):
    """(parent's axis 0, u_k) in the world: u_0 the parent's reference vector for axis 0,
    u_1 = axis 0 x u_0; together they span the plane perpendicular to the axis."""
    ap = quat_rotate(qp, s.model.axis_p[w, j, 0])
    u0 = quat_rotate(qp, s.model.perp_p[w, j, 0])
    perp = u0 if k == 0 else ap.cross(u0)
    return ap, perp


@ti.func
def angle_about(s, w, j, axis, qp, qc, ax):
    """(q, ja, jb) of a turn about world axis `ax`: q [rad] is the angle between the
    parent's and the child's reference vectors for `axis`, measured about ax (0 at the
    initial pose); its rate is J v with J = (0, -ax | 0, ax)."""
    zero = ti.Vector([0.0, 0.0, 0.0])
    pp = quat_rotate(qp, s.model.perp_p[w, j, axis])
    pc = quat_rotate(qc, s.model.perp_c[w, j, axis])
    return ti.atan2(pp.cross(pc).dot(ax), pp.dot(pc)), six(zero, -ax), six(zero, ax)


def perpendicular(axis) -> np.ndarray:
    """A unit vector perpendicular to `axis`, chosen deterministically."""
    axis = np.asarray(axis, float)
    helper = np.eye(3)[int(np.argmin(np.abs(axis)))]
    p = np.cross(axis, helper)
    return p / np.linalg.norm(p)


def perpendicular_references(axes: list) -> list:
    """A reference vector for each axis: a unit vector perpendicular to it (world, initial
    pose); a coordinate measures the turn of the child's copy from the parent's."""
    return [perpendicular(a) for a in axes]
