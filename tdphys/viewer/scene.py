"""What one frame shows, as plain numpy arrays both renderers draw (GGUI and the ti.GUI
fallback): the robots of the shown worlds, their shadows, the ground, overlay lines and points.

Worlds drawn side by side are shifted by `world_offsets` [m] so they do not overlap; every
position here is in the world frame plus that display shift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import overlays
from .camera import OrbitCamera
from .meshes import Mesh, ground_tiles, nice_tile, robot_mesh
from .playback import ViewState
from .sources import Trajectory

LIGHT_DIR = np.array([0.35, 0.25, -1.0]) / np.linalg.norm([0.35, 0.25, -1.0])  # light travel
SHADOW_COLOR = (0.42, 0.43, 0.46)
BACKGROUND = (0.93, 0.95, 0.98)  # sky colour behind the ground
GROUND_TILES = 48  # tiles per side of the drawn ground
MAX_PATH_POINTS = 1000  # per world, for the centre-of-mass path
PATH_COLOR = (0.95, 0.6, 0.1)
CONTACT_COLOR = (0.95, 0.1, 0.1)
FORCE_COLOR = (0.85, 0.15, 0.6)
TARGET_COLOR = (0.1, 0.75, 0.2)
ANCHOR_COLOR = (0.2, 0.2, 0.2)


@dataclass
class Frame:
    """One frame's geometry [m]. robot: world-placed triangles of the shown worlds (verts,
    normals, faces, colors); shadow: the same triangles flattened onto the ground along
    LIGHT_DIR; ground: checkerboard; lines (K, 2, 3) with colors (K, 3); points (P, 3) with
    colors (P, 3) and radius [m]."""

    robot: Mesh
    shadow_verts: np.ndarray
    ground: Mesh
    lines: np.ndarray
    line_colors: np.ndarray
    points: np.ndarray
    point_colors: np.ndarray
    point_radius: float


class SceneBuilder:
    """Builds `Frame`s of a Trajectory; keeps the meshes, sizes and world offsets."""

    def __init__(self, traj: Trajectory, detail: int = 12):
        self.traj = traj
        self.mesh = robot_mesh(traj.robot, detail)
        self.marks = overlays.joint_marks(traj.robot)
        origin, rot = traj.body_frames(0)
        verts, _ = self.mesh.place(origin, rot)  # (B, V, 3)
        lo, hi = verts.min(axis=(0, 1)), verts.max(axis=(0, 1))
        self.size = float(np.max(hi - lo))  # [m] robot extent
        self.tile = nice_tile(self.size)
        self.world_offsets = _side_by_side(traj.batch, hi - lo, self.size)
        weight = float(traj.masses.sum()) * 9.81  # [N]
        self.force_scale = 0.5 * self.size / max(weight, 1e-9)  # [m per N]

    # ------------------------------------------------------------------------ framing
    def bounds(self, view: ViewState, upto: int) -> tuple[np.ndarray, np.ndarray]:
        """[m] (lo, hi) box holding the shown robots at sample 0 and their COM paths up to
        sample `upto` (what the initial camera should see)."""
        worlds = view.worlds()
        origin, rot = self.traj.body_frames(0)
        verts, _ = self.mesh.place(origin[worlds], rot[worlds])
        verts = verts + self._offsets(worlds)[:, None, :]
        path = self.traj.robot_com(upto)[worlds] + self._offsets(worlds)[:, None, :]
        pts = np.concatenate([verts.reshape(-1, 3), path.reshape(-1, 3)])
        lo, hi = pts.min(0), pts.max(0)
        lo[2] = min(lo[2], 0.0)
        return lo, hi

    def frame_camera(self, camera: OrbitCamera, view: ViewState, upto: int) -> None:
        camera.fit(*self.bounds(view, upto))

    def follow_point(self, k: int, view: ViewState) -> np.ndarray:
        """[m] the followed body's COM at sample k (averaged over the shown worlds)."""
        worlds = view.worlds()
        pts = self.traj.pos[k, worlds, view.follow] + self._offsets(worlds)
        return pts.mean(0)

    def _offsets(self, worlds) -> np.ndarray:
        return self.world_offsets[worlds] if len(worlds) > 1 else np.zeros((1, 3))

    # -------------------------------------------------------------------------- frames
    def build(self, k: int, view: ViewState, camera: OrbitCamera) -> Frame:
        """The geometry of sample k for the worlds `view` shows."""
        traj, worlds = self.traj, view.worlds()
        offsets = self._offsets(worlds)
        origin, rot = traj.body_frames(k)
        origin = origin[worlds] + offsets[:, None, :]
        rot = rot[worlds]
        verts, normals = self.mesh.place(origin, rot)  # (W, V, 3)
        nv = self.mesh.mesh.n_verts
        faces = self.mesh.mesh.faces[None] + nv * np.arange(len(worlds))[:, None, None]
        robot = Mesh(
            verts.reshape(-1, 3).astype(np.float32),
            normals.reshape(-1, 3).astype(np.float32),
            faces.reshape(-1, 3).astype(np.int32),
            np.tile(self.mesh.mesh.colors, (len(worlds), 1)),
        )
        lines, line_colors, points, point_colors = [], [], [], []
        com_path = traj.robot_com(k) if view.path else None  # (B, k+1, 3)
        for i, w in enumerate(worlds):
            if view.joints and len(self.marks.axis_body):
                seg, col = overlays.joint_axis_segments(
                    self.marks, origin[i], rot[i], 0.3 * self.size
                )
                lines.append(seg)
                line_colors.append(col)
                pts = overlays.joint_anchor_points(self.marks, origin[i], rot[i])
                points.append(pts)
                point_colors.append(np.tile(ANCHOR_COLOR, (len(pts), 1)))
            if view.contacts and traj.contact_force is not None and k < len(traj.contact_force):
                # the engine's contact points with their force arrows (the robot's weight is
                # drawn half the robot's size long)
                pts, seg = overlays.force_arrows(
                    traj.contact_pos[k, w], traj.contact_force[k, w], self.force_scale
                )
                points.append(pts + offsets[i])
                point_colors.append(np.tile(CONTACT_COLOR, (len(pts), 1)))
                lines.append(seg + offsets[i])
                line_colors.append(np.tile(FORCE_COLOR, (len(seg), 1)))
            elif view.contacts:
                # a dot on the ground and the contact normal (+z), which sticks out beside
                # the body resting on the dot
                pts = overlays.contact_points(traj.robot, origin[i], rot[i])
                points.append(pts)
                point_colors.append(np.tile(CONTACT_COLOR, (len(pts), 1)))
                lines.append(np.stack([pts, pts + [0.0, 0.0, 0.25 * self.size]], axis=1))
                line_colors.append(np.tile(CONTACT_COLOR, (len(pts), 1)))
            if view.path:
                com = com_path[w] + offsets[i]
                stride = max(1, len(com) // MAX_PATH_POINTS)
                seg = overlays.path_segments(np.concatenate([com[::stride], com[-1:]]))
                lines.append(seg)
                line_colors.append(np.tile(PATH_COLOR, (len(seg), 1)))
            if traj.target is not None:
                target = traj.target[w] + offsets[i]
                points.append(target[None])
                point_colors.append(np.array([TARGET_COLOR]))
                lines.append(overlays.drop_line(target))
                line_colors.append(np.array([TARGET_COLOR]))
        ground = ground_tiles(camera.target, self.tile, GROUND_TILES)
        return Frame(
            robot,
            _flatten(robot.verts, 1e-3 * max(camera.distance, 1.0)),
            ground,
            _stack(lines, (0, 2, 3)),
            _stack(line_colors, (0, 3)),
            _stack(points, (0, 3)),
            _stack(point_colors, (0, 3)),
            0.025 * self.size,
        )


def _flatten(verts: np.ndarray, lift: float) -> np.ndarray:
    """Vertices projected along LIGHT_DIR onto the plane z = lift [m] (a planar shadow)."""
    s = np.maximum(verts[:, 2], 0.0) / LIGHT_DIR[2]
    out = verts - s[:, None] * LIGHT_DIR
    out[:, 2] = lift
    return out.astype(np.float32)


def _stack(parts: list, empty_shape) -> np.ndarray:
    parts = [np.asarray(p, float) for p in parts if len(p)]
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(empty_shape, np.float32)


def _side_by_side(batch: int, extent: np.ndarray, size: float) -> np.ndarray:
    """[m] (B, 3) display shifts placing B worlds in a grid of spacing about 1.5 robot sizes,
    one row along y up to 8 worlds, then ceil(sqrt(B)) columns."""
    cols = 1 if batch <= 8 else int(np.ceil(np.sqrt(batch)))
    rows = int(np.ceil(batch / cols))
    sx = float(extent[0]) + 0.5 * size
    sy = float(extent[1]) + 0.5 * size
    w = np.arange(batch)
    col, row = w // rows, w % rows
    out = np.zeros((batch, 3))
    out[:, 0] = (col - (cols - 1) / 2.0) * sx
    out[:, 1] = (row - (rows - 1) / 2.0) * sy
    return out
