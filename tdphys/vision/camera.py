"""Camera intrinsics and poses as plain numbers (numpy), shared by the renderer and tests.

Conventions (docs/camera.md): the camera looks along its local -z axis with x to the right
and y up in the image; pixel (row y, column x) has its centre at
    u = x + 1/2 - W/2 (right),  v = H/2 - (y + 1/2) (up),
and its ray points along the camera-frame direction (u, v, -f), f = (H/2) / tan(fov/2) the
focal length in pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..model.schema import Camera, Robot
from ..rotations import quat_to_matrix


@dataclass(frozen=True)
class CameraSpec:
    """A robot file's camera with its focal length in pixels (focal_px) worked out."""

    name: str
    body: str | None
    pos: tuple
    quat: tuple
    width: int
    height: int
    focal_px: float
    near: float
    far: float
    softness: float
    light: tuple
    ambient: float
    background: tuple


def camera_spec(robot: Robot, camera: str | Camera) -> CameraSpec:
    """The camera named `camera` in `robot` (or a Camera object), ready for rendering."""
    if not isinstance(camera, Camera):
        names = [c.name for c in robot.cameras]
        if camera not in names:
            raise KeyError(
                f"robot '{robot.name}' has no camera '{camera}'"
                + (
                    f"; it has {', '.join(names)}"
                    if names
                    else "; add one under `cameras:` (docs/robot-format.md)"
                )
            )
        camera = robot.cameras[names.index(camera)]
    focal = 0.5 * camera.height / math.tan(0.5 * camera.fov)
    return CameraSpec(
        name=camera.name,
        body=camera.body,
        pos=tuple(camera.pos),
        quat=tuple(camera.quat),
        width=camera.width,
        height=camera.height,
        focal_px=focal,
        near=camera.near,
        far=camera.far,
        softness=camera.softness,
        light=tuple(camera.light),
        ambient=camera.ambient,
        background=tuple(camera.background),
    )


def project(spec: CameraSpec, points, cam_pos=None, cam_rot=None) -> np.ndarray:
    """Pixel coordinates (x, y) [pixels, continuous; pixel centres at k + 1/2] of world points
    (..., 3) seen by a camera at world position cam_pos with rotation cam_rot (camera to
    world); both default to the spec's own pose (a camera fixed in the world)."""
    pos = np.asarray(spec.pos if cam_pos is None else cam_pos, float)
    rot = quat_to_matrix(spec.quat) if cam_rot is None else np.asarray(cam_rot, float)
    local = (np.asarray(points, float) - pos) @ rot  # world -> camera frame
    depth = -local[..., 2]
    u = spec.focal_px * local[..., 0] / depth
    v = spec.focal_px * local[..., 1] / depth
    return np.stack([u + 0.5 * spec.width, 0.5 * spec.height - v], axis=-1)
