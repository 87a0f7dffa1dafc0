"""An orbit camera (z up) in numpy: mouse orbit / pan / zoom, following a body, and the exact
perspective projection GGUI uses, so tests and the fallback renderer know where a world point
lands on the image.

The camera looks at `target` [m, world] from `distance` [m]; `yaw` [rad] is the azimuth of the
eye about world z measured from +x, `pitch` [rad] its elevation above the target (positive =
looking down). `fov` [deg] is the vertical field of view. Pixel coordinates are (x right,
y down) from the top-left corner of a width x height image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Z_NEAR = 0.01  # [m] near clipping distance used by `project`
PITCH_LIMIT = np.radians(89.0)


@dataclass
class OrbitCamera:
    target: np.ndarray = field(default_factory=lambda: np.zeros(3))
    distance: float = 4.0
    yaw: float = np.radians(-60.0)
    pitch: float = np.radians(20.0)
    fov: float = 45.0

    # --------------------------------------------------------------------------- pose
    def eye(self) -> np.ndarray:
        """World position of the camera [m]."""
        cp = np.cos(self.pitch)
        offset = np.array([cp * np.cos(self.yaw), cp * np.sin(self.yaw), np.sin(self.pitch)])
        return np.asarray(self.target, float) + self.distance * offset

    def basis(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(right, up, forward) unit vectors of the camera in the world frame."""
        forward = np.asarray(self.target, float) - self.eye()
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        return right, np.cross(right, forward), forward

    # ---------------------------------------------------------------------- user input
    def orbit(self, dx: float, dy: float) -> None:
        """Turn about the target by a mouse drag of (dx, dy) window fractions."""
        self.yaw -= 2.0 * np.pi * dx
        self.pitch = float(np.clip(self.pitch + np.pi * dy, -PITCH_LIMIT, PITCH_LIMIT))

    def pan(self, dx: float, dy: float) -> None:
        """Slide the target in the view plane by a drag of (dx, dy) window fractions (the
        point under the cursor follows the cursor)."""
        right, up, _ = self.basis()
        span = 2.0 * self.distance * np.tan(np.radians(self.fov) / 2.0)
        self.target = np.asarray(self.target, float) - span * (dx * right + dy * up)

    def zoom(self, factor: float) -> None:
        """Multiply the distance to the target by `factor` (< 1 moves closer)."""
        self.distance = float(np.clip(self.distance * factor, 0.05, 1e4))

    def follow(self, point) -> None:
        """Keep looking at `point` [m, world] from the same direction and distance."""
        self.target = np.asarray(point, float).copy()

    def fit(self, lo, hi) -> None:
        """Aim at the centre of the box [lo, hi] [m] from far enough to see all of it."""
        lo, hi = np.asarray(lo, float), np.asarray(hi, float)
        self.target = (lo + hi) / 2.0
        radius = max(0.5 * float(np.linalg.norm(hi - lo)), 0.05)
        self.distance = 1.15 * radius / np.sin(np.radians(self.fov) / 2.0)

    # ---------------------------------------------------------------------- projection
    def view_matrix(self) -> np.ndarray:
        """4x4 world-to-camera matrix (camera looks along its -z, y up), column vectors."""
        right, up, forward = self.basis()
        m = np.eye(4)
        m[0, :3], m[1, :3], m[2, :3] = right, up, -forward
        m[:3, 3] = -m[:3, :3] @ self.eye()
        return m

    def project(self, points, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates (..., 2) (x right, y down, top-left origin, pixel centres at
        +0.5) and camera depth [m] (...,) of world points (..., 3). Points behind the camera
        get depth <= Z_NEAR."""
        p = np.asarray(points, float)
        cam = p @ self.view_matrix()[:3, :3].T + self.view_matrix()[:3, 3]
        depth = -cam[..., 2]
        f = 1.0 / np.tan(np.radians(self.fov) / 2.0)
        safe = np.where(depth > Z_NEAR, depth, Z_NEAR)
        x_ndc = f * (height / width) * cam[..., 0] / safe
        y_ndc = f * cam[..., 1] / safe
        px = np.stack([(x_ndc + 1.0) * 0.5 * width, (1.0 - y_ndc) * 0.5 * height], axis=-1)
        return px, depth

    def copy(self) -> OrbitCamera:
        return OrbitCamera(
            np.asarray(self.target, float).copy(), self.distance, self.yaw, self.pitch, self.fov
        )
