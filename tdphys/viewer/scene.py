"""What one frame shows, as plain numpy arrays both renderers draw (GGUI and the ti.GUI
fallback): the robots of the shown worlds with the world's fixed solids, their shadows, the
ground and the world's planes, overlay lines and points.

Worlds drawn side by side are shifted by `world_offsets` [m] so they do not overlap (each
world's fixed shapes with it); every position here is in the world frame plus that display
shift. The checkerboard ground z = 0 is drawn unless the robot turns the ground off and has a
plane of its own; shadows fall on the ground, or without it on the world's first unbounded
plane that faces the light, else nowhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..rotations import quat_to_matrix
from . import overlays
from .camera import OrbitCamera
from .meshes import Mesh, concat, ground_tiles, nice_tile, plane_tiles, robot_mesh
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
    """One frame's geometry [m]. robot: world-placed triangles of the shown worlds' bodies and
    fixed solids (verts, normals, faces, colors); shadow_verts: the same vertices flattened
    along LIGHT_DIR onto the surface that takes the shadows (robot.faces index them), or
    (0, 3) when nothing takes them; ground: the checkerboard and the world's planes; lines
    (K, 2, 3) with colors (K, 3); points (P, 3) with colors (P, 3) and radius [m]."""

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
        self.planes = [s for s in traj.robot.world_shapes if s.kind == "plane"]
        self.ground_drawn = traj.robot.ground.enabled or not self.planes
        self.shadow_plane = _shadow_plane(self.ground_drawn, self.planes)
        origin, rot = traj.body_frames(0)
        # sizes, framing and spacing follow the bodies: the world's shapes are scenery, which
        # may be far larger than the robot (a floor, a ramp)
        verts, _ = self.mesh.place(origin, rot)  # (B, V, 3)
        verts = verts[:, self.mesh.on_bodies]
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
        verts = verts[:, self.mesh.on_bodies] + self._offsets(worlds)[:, None, :]
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
        verts, normals = self.mesh.place(origin, rot, offsets)  # (W, V, 3)
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
                # a dot on the touched surface and the contact normal, which sticks out
                # beside the body resting on the dot
                pts, up = overlays.contact_points(traj.robot, origin[i], rot[i], offsets[i])
                points.append(pts)
                point_colors.append(np.tile(CONTACT_COLOR, (len(pts), 1)))
                lines.append(np.stack([pts, pts + 0.25 * self.size * up], axis=1))
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
        ground = self._ground(camera, offsets)
        shadow = np.zeros((0, 3), np.float32)
        if self.shadow_plane is not None:
            point, normal = self.shadow_plane
            shadow = _flatten(verts, point + offsets, normal, 1e-3 * max(camera.distance, 1.0))
        return Frame(
            robot,
            shadow.reshape(-1, 3),
            ground,
            _stack(lines, (0, 2, 3)),
            _stack(line_colors, (0, 3)),
            _stack(points, (0, 3)),
            _stack(point_colors, (0, 3)),
            0.025 * self.size,
        )

    def _ground(self, camera: OrbitCamera, offsets: np.ndarray) -> Mesh:
        """The checkerboard (when drawn) and every shown world's planes, their unbounded
        sides tiled around the camera target."""
        parts = [ground_tiles(camera.target, self.tile, GROUND_TILES)] if self.ground_drawn else []
        for shift in offsets:
            for plane in self.planes:
                m = plane_tiles(plane, camera.target - shift, self.tile, GROUND_TILES)
                parts.append(Mesh(m.verts + shift.astype(np.float32), m.normals, m.faces, m.colors))
        return concat(parts)


def _shadow_plane(ground: bool, planes: list) -> tuple[np.ndarray, np.ndarray] | None:
    """(point [m], unit normal) of the plane that takes the shadows: the ground z = 0 when it
    is drawn, else the first unbounded world plane that faces the light, else None."""
    if ground:
        return np.zeros(3), np.array([0.0, 0.0, 1.0])
    for plane in planes:
        normal = quat_to_matrix(plane.quat)[:, 2]
        # a plane the light grazes would stretch the shadows without bound
        if not any(plane.half_extents[:2]) and normal @ LIGHT_DIR < -0.2:
            return np.asarray(plane.pos, float), normal
    return None


def _flatten(verts: np.ndarray, point: np.ndarray, normal: np.ndarray, lift: float) -> np.ndarray:
    """Vertices [m] (W, V, 3) projected along LIGHT_DIR onto the plane through point[w] [m]
    (W, 3) with unit normal `normal`, raised by `lift` [m] (a planar shadow); those below the
    plane are moved straight onto it."""
    height = np.einsum("wvi,i->wv", verts - point[:, None, :], normal)
    along = np.maximum(height, 0.0) / (normal @ LIGHT_DIR)  # <= 0: back against the light
    out = verts - along[..., None] * LIGHT_DIR
    snap = np.einsum("wvi,i->wv", out - point[:, None, :], normal) - lift
    out = out - snap[..., None] * normal
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
