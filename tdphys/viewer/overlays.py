"""Geometry of the optional overlays, in numpy: joint axes, contact points (on the ground and
on the world's fixed shapes) and force arrows, the centre-of-mass path and the target
marker. Everything is in the world frame [m]; body frames come as origin (N, 3) and rotation
(N, 3, 3) body to world, as Trajectory.body_frames gives them for one world.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model.schema import JOINT_CHILD_AXES, Robot
from ..rotations import quat_to_matrix

AXIS_COLORS = np.array([[0.9, 0.15, 0.15], [0.15, 0.7, 0.15], [0.15, 0.3, 0.95]])
CONTACT_TOLERANCE = 0.005  # [m] a shape point this close to a surface is drawn as a contact


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


def contact_points(robot: Robot, origin, rot, shift=None, tolerance: float = CONTACT_TOLERANCE):
    """(points [m] (P, 3), unit normals (P, 3)): where a ground-colliding shape point is
    within `tolerance` [m] of the ground z = 0 (when enabled) or of one of the world's fixed
    shapes (moved by `shift` [m] (3,), the world's display offset), the point of that surface
    under it and the surface's outward normal there. The shape points are the body's side of
    those the engine tests (engine/geometry.py): a sphere's centre, a capsule's two end
    centres (and against a solid the point of its axis nearest the solid's centre), with
    their radius; a box's corners; a cylinder's end rims' and side's points nearest the other
    shape and three fixed rim points per end."""
    shift = np.zeros(3) if shift is None else np.asarray(shift, float)
    surfaces = [("plane", None, np.zeros(3), np.eye(3))] if robot.ground.enabled else []
    surfaces += [
        (w.kind, w, np.asarray(w.pos, float) + shift, quat_to_matrix(w.quat))
        for w in robot.world_shapes
    ]
    out, normals = [], []
    for bi, body in enumerate(robot.bodies):
        for s in body.shapes:
            if not s.ground:
                continue
            r_shape = rot[bi] @ quat_to_matrix(s.quat)
            centre = origin[bi] + rot[bi] @ np.asarray(s.pos, float)
            for kind, other, c_other, r_other in surfaces:
                # towards the other shape: down its normal for a plane, else at its centre
                if kind == "plane":
                    pts, radius = _probes(s, centre, r_shape, -r_other[:, 2])
                else:
                    pts, radius = _probes(s, centre, r_shape, c_other - centre, c_other)
                dist, n = _signed_distance(kind, other, c_other, r_other, pts)
                near = dist - radius < tolerance
                out.append(pts[near] - dist[near, None] * n[near])
                normals.append(n[near])
    if not out:
        return np.zeros((0, 3)), np.zeros((0, 3))
    return np.concatenate(out).reshape(-1, 3), np.concatenate(normals).reshape(-1, 3)


def _probes(shape, centre, r_shape, toward, target=None):
    """(points [m] (K, 3), radius [m]) a body shape posed at centre, r_shape offers another
    shape that lies along the world direction `toward` around the world point `target` (None:
    a plane, whose nearest points are found along `toward` alone)."""
    axis = r_shape[:, 2]
    along = 0.0
    if target is not None:
        along = np.clip((target - centre) @ axis, -shape.half_length, shape.half_length)
    if shape.kind == "sphere":
        return centre[None], shape.radius
    if shape.kind == "capsule":
        ends = centre + np.outer([-shape.half_length, shape.half_length], axis)
        if target is None:  # against a plane an end is always the lowest point
            return ends, shape.radius
        return np.vstack([ends, centre + along * axis]), shape.radius
    if shape.kind == "box":
        signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)])
        return centre + (signs * np.asarray(shape.half_extents)) @ r_shape.T, 0.0
    # a cylinder: its end rims' points farthest along `toward`, its side's at the height
    # nearest the target, and three fixed rim points per end
    across = toward - (toward @ axis) * axis
    norm = np.linalg.norm(across)
    spoke = across / norm if norm > 1e-12 * max(np.linalg.norm(toward), 1e-300) else r_shape[:, 0]
    angles = 2.0 * np.pi / 3.0 * np.arange(3)
    fixed = np.outer(np.cos(angles), r_shape[:, 0]) + np.outer(np.sin(angles), r_shape[:, 1])
    pts = [centre + along * axis + shape.radius * spoke]
    for end in (-shape.half_length, shape.half_length):
        rim_centre = centre + end * axis
        pts += [rim_centre + shape.radius * spoke, *(rim_centre + shape.radius * fixed)]
    return np.array(pts), 0.0


def _signed_distance(kind, shape, centre, r, pts):
    """(signed distances [m] (K,), unit outward normals (K, 3)) of world points pts (K, 3)
    from a fixed shape of `kind` posed at centre [m], r (3, 3) shape to world: the normal at
    its nearest surface point (a plane's: its +z, everything below it being solid)."""
    if kind == "plane":
        n = r[:, 2]
        return (pts - centre) @ n, np.tile(n, (len(pts), 1))
    local = (pts - centre) @ r  # world -> shape frame
    if kind == "sphere":
        nearest = np.zeros_like(local)
        dist, n = _away(local, nearest)
        return dist - shape.radius, n @ r.T
    if kind == "capsule":
        nearest = np.zeros_like(local)
        nearest[:, 2] = np.clip(local[:, 2], -shape.half_length, shape.half_length)
        dist, n = _away(local, nearest)
        return dist - shape.radius, n @ r.T
    if kind == "box":
        half = np.asarray(shape.half_extents, float)
        gap = np.abs(local) - half
        inside_axis = np.argmax(gap, axis=1)
        inside_n = np.zeros_like(local)
        rows = np.arange(len(local))
        inside_n[rows, inside_axis] = np.where(local[rows, inside_axis] >= 0, 1.0, -1.0)
        nearest = np.clip(local, -half, half)
        inside_d = gap[rows, inside_axis]
    else:  # a cylinder along its local z
        rho = np.linalg.norm(local[:, :2], axis=1)
        gap = np.stack([rho - shape.radius, np.abs(local[:, 2]) - shape.half_length], axis=1)
        radial = np.zeros_like(local)
        radial[:, :2] = local[:, :2] / np.maximum(rho, 1e-300)[:, None]
        ends = np.zeros_like(local)
        ends[:, 2] = np.where(local[:, 2] >= 0, 1.0, -1.0)
        inside_n = np.where((gap[:, 0] > gap[:, 1])[:, None], radial, ends)
        nearest = radial * np.minimum(rho, shape.radius)[:, None]
        nearest[:, 2] = np.clip(local[:, 2], -shape.half_length, shape.half_length)
        inside_d = gap.max(axis=1)
    dist, n = _away(local, nearest)
    inside = (gap <= 0).all(axis=1)
    dist = np.where(inside, inside_d, dist)
    n = np.where(inside[:, None], inside_n, n)
    return dist, n @ r.T


def _away(points, nearest):
    """(distances (K,), unit directions (K, 3)) from `nearest` to `points` (+z where they
    meet)."""
    gap = points - nearest
    dist = np.linalg.norm(gap, axis=1)
    n = np.where(dist[:, None] > 1e-12, gap / np.maximum(dist, 1e-300)[:, None], [0.0, 0.0, 1.0])
    return dist, n


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
