"""Geometry of the optional overlays, in numpy: joint axes, contact points and force arrows,
the centre-of-mass path and the target marker. Everything is in the world frame [m]; body frames
come as origin (N, 3) and rotation (N, 3, 3) body to world, as Trajectory.body_frames gives
them for one world.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model.schema import JOINT_CHILD_AXES, Robot
from ..rotations import quat_to_matrix

AXIS_COLORS = np.array([[0.9, 0.15, 0.15], [0.15, 0.7, 0.15], [0.15, 0.3, 0.95]])
CONTACT_TOLERANCE = 0.005  # [m] a shape point this close to the ground is drawn as a contact


@dataclass(frozen=True)
class JointMarks:
    """Joint anchors and axes fixed in their bodies.

    anchor_body (J,) child body index; anchor_local [m] (J, 3) anchor in the child frame;
    axis_body (A,) index of the body (-1 = world) each drawn axis is fixed in; axis_local (A, 3)
    unit axis in that frame; axis_joint (A,) its joint; axis_slot (A,) axis number 0..2."""

    anchor_body: np.ndarray
    anchor_local: np.ndarray
    axis_body: np.ndarray
    axis_local: np.ndarray
    axis_joint: np.ndarray
    axis_slot: np.ndarray


def joint_marks(robot: Robot) -> JointMarks:
    """Anchors and axes of every joint at the initial pose, moved into the frames that carry
    them (schema.JOINT_CHILD_AXES: the axes that turn with the child, e.g. a universal
    joint's second; every other axis is fixed in the parent)."""
    index = {b.name: i for i, b in enumerate(robot.bodies)}
    rot0 = [quat_to_matrix(b.quat) for b in robot.bodies]
    anchor_body, anchor_local, axis_body, axis_local, axis_joint, axis_slot = [], [], [], [], [], []
    for j, joint in enumerate(robot.joints):
        c = index[joint.child]
        p = index[joint.parent] if joint.parent is not None else -1
        anchor_body.append(c)
        anchor_local.append(
            rot0[c].T @ (np.asarray(joint.anchor) - np.asarray(robot.bodies[c].pos))
        )
        for k, axis in enumerate(joint.axes):
            owner = c if k in JOINT_CHILD_AXES.get(joint.kind, ()) else p
            r = rot0[owner] if owner >= 0 else np.eye(3)
            axis_body.append(owner)
            axis_local.append(r.T @ np.asarray(axis, float))
            axis_joint.append(j)
            axis_slot.append(k)
    as_arr = lambda xs, shape: np.array(xs, float).reshape(shape)  # noqa: E731
    return JointMarks(
        np.array(anchor_body, int),
        as_arr(anchor_local, (-1, 3)),
        np.array(axis_body, int),
        as_arr(axis_local, (-1, 3)),
        np.array(axis_joint, int),
        np.array(axis_slot, int),
    )


def joint_axis_segments(marks: JointMarks, origin, rot, length: float):
    """(segments [m] (A, 2, 3), colors (A, 3)): each joint axis drawn from its anchor over
    `length` [m], coloured by axis number (red, green, blue)."""
    anchors = origin[marks.anchor_body] + np.einsum(
        "jab,jb->ja", rot[marks.anchor_body], marks.anchor_local
    )
    r = np.where(marks.axis_body[:, None, None] >= 0, rot[marks.axis_body], np.eye(3))
    axes = np.einsum("aij,aj->ai", r, marks.axis_local)
    start = anchors[marks.axis_joint]
    return np.stack([start, start + length * axes], axis=1), AXIS_COLORS[marks.axis_slot % 3]


def joint_anchor_points(marks: JointMarks, origin, rot) -> np.ndarray:
    """[m] (J, 3) world anchors of the joints."""
    return origin[marks.anchor_body] + np.einsum(
        "jab,jb->ja", rot[marks.anchor_body], marks.anchor_local
    )


def contact_points(robot: Robot, origin, rot, tolerance: float = CONTACT_TOLERANCE):
    """[m] (P, 3) points on the ground z = 0 under each ground-colliding shape point that is
    within `tolerance` of it: a sphere's lowest point, a capsule's two end caps, a box's
    corners (the candidates the engine tests)."""
    if not robot.ground.enabled:
        return np.zeros((0, 3))
    out = []
    for bi, body in enumerate(robot.bodies):
        for s in body.shapes:
            if not s.ground:
                continue
            r_shape = rot[bi] @ quat_to_matrix(s.quat)
            centre = origin[bi] + rot[bi] @ np.asarray(s.pos)
            if s.kind == "sphere":
                pts, radius = centre[None], s.radius
            elif s.kind == "capsule":
                ends = np.array([[0, 0, s.half_length], [0, 0, -s.half_length]])
                pts, radius = centre + ends @ r_shape.T, s.radius
            else:
                signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)])
                pts, radius = centre + (signs * np.asarray(s.half_extents)) @ r_shape.T, 0.0
            low = pts[:, 2] - radius
            for p in pts[low < tolerance]:
                out.append([p[0], p[1], 0.0])
    return np.array(out, float).reshape(-1, 3)


def force_arrows(points, forces, scale: float, threshold: float = 1e-6):
    """Contact points [m] (P, 3) carrying a force [N] (P, 3) above `threshold` x the largest,
    and their arrows (P', 2, 3): from the point along the force, `scale` [m per N] long per
    newton. Inactive contacts (zero force) are left out."""
    points, forces = np.asarray(points, float), np.asarray(forces, float)
    size = np.linalg.norm(forces, axis=1)
    keep = size > threshold * max(float(size.max(initial=0.0)), 1e-12)
    keep &= size > 0
    p, f = points[keep], forces[keep]
    return p, np.stack([p, p + scale * f], axis=1).reshape(-1, 2, 3)


def path_segments(points) -> np.ndarray:
    """[m] (K-1, 2, 3) line segments joining consecutive points (K, 3)."""
    points = np.asarray(points, float)
    if len(points) < 2:
        return np.zeros((0, 2, 3))
    return np.stack([points[:-1], points[1:]], axis=1)


def drop_line(point) -> np.ndarray:
    """[m] (1, 2, 3) the vertical segment from `point` down to the ground."""
    p = np.asarray(point, float)
    return np.array([[p, [p[0], p[1], 0.0]]])
