"""Where a robot's bodies start, and how its joints connect them (numpy, no Taichi).

lowest_point(body, shape)        # [m] world z of the shape's lowest point at t = 0
sunk_shapes(robot, reference)    # shapes that `robot` starts below the ground and
                                 # `reference` (the same file with its own vars) does not
parent_loop(joints)              # the body names of a kinematic loop, or None
"""

from __future__ import annotations

import math

from ..rotations import quat_mul, rotate
from .schema import Body, Joint, Robot, Shape

SUNK_TOLERANCE = 1e-3  # [m] how far below z = 0 a shape's lowest point may start


def lowest_point(body: Body, shape: Shape) -> float:
    """[m] the world z of the lowest point of `shape` on `body` in the robot file's pose."""
    centre = [p + d for p, d in zip(body.pos, rotate(body.quat, shape.pos))]
    q = quat_mul(body.quat, shape.quat)
    if shape.kind == "sphere":
        return float(centre[2] - shape.radius)
    if shape.kind == "capsule":
        return float(
            centre[2] - shape.half_length * abs(rotate(q, (0.0, 0.0, 1.0))[2]) - shape.radius
        )
    if shape.kind == "cylinder":  # the lowest point of an end rim
        up = abs(rotate(q, (0.0, 0.0, 1.0))[2])
        return float(
            centre[2] - shape.half_length * up - shape.radius * math.sqrt(max(0.0, 1 - up * up))
        )
    axes = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    return float(
        centre[2] - sum(h * abs(rotate(q, e)[2]) for h, e in zip(shape.half_extents, axes))
    )


def sunk_shapes(robot: Robot, reference: Robot) -> list[tuple[int, int, float, float]]:
    """(body index, shape index, lowest z in `robot`, lowest z in `reference`) [m] of every
    ground-touching shape that starts more than SUNK_TOLERANCE below the ground in `robot`
    but not in `reference` (the same file read with its own vars: a file that starts a
    body in the ground means to); none without a ground."""
    if not robot.ground.enabled:
        return []
    sunk = []
    for i, (body, ref_body) in enumerate(zip(robot.bodies, reference.bodies)):
        for j, (shape, ref_shape) in enumerate(zip(body.shapes, ref_body.shapes)):
            if not shape.ground:
                continue
            z, z_ref = lowest_point(body, shape), lowest_point(ref_body, ref_shape)
            if z < -SUNK_TOLERANCE <= z_ref:
                sunk.append((i, j, z, z_ref))
    return sunk


def parent_loop(joints: list[Joint] | tuple[Joint, ...]) -> list[str] | None:
    """The bodies of a loop of parent links (a -> b -> ... -> a, each joint's child linked to
    its parent), in order, or None. Each body must have at most one parent joint."""
    parent = {j.child: j.parent for j in joints}
    state: dict[str, int] = {}  # 1: on the current path, 2: leads to the world
    for start in parent:
        path, body = [], start
        while body is not None and state.get(body) is None:
            state[body] = 1
            path.append(body)
            body = parent.get(body)
        if body is not None and state[body] == 1:
            return path[path.index(body) :] + [body]
        for b in path:
            state[b] = 2
    return None
