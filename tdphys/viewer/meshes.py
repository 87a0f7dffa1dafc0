"""Triangle meshes of the robot's shapes, of the world's fixed shapes and of the ground, in
numpy (no Taichi).

Every mesh is a `Mesh`: vertices [m] (V, 3), unit vertex normals (V, 3), triangles (F, 3) as
counter-clockwise vertex indices seen from outside, and RGB vertex colours in [0, 1] (V, 3).
Shape meshes are built in the shape frame (a capsule's segment and a cylinder's axis along
local z, as in docs/robot-format.md) and moved into the body frame by the shape's `pos` and
`quat` (a world shape's pos and quat are in the world frame: its mesh is in the world).
`robot_mesh` concatenates every shape of every body and the world's solids (not its planes)
and remembers which body owns each vertex (-1: the world), so one vectorised transform per
frame places the whole robot in the world. Planes are drawn as tiles (`plane_tiles`), like the
ground, because an unbounded one follows the camera.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model.schema import Robot, Shape
from ..rotations import quat_to_matrix


@dataclass(frozen=True)
class Mesh:
    """verts [m] (V, 3); normals (V, 3) unit; faces (F, 3) int32; colors (V, 3) RGB in [0, 1]."""

    verts: np.ndarray
    normals: np.ndarray
    faces: np.ndarray
    colors: np.ndarray

    @property
    def n_verts(self) -> int:
        return len(self.verts)


def _rings(radius: float, z_top: float, z_bottom: float, n_lat: int, n_lon: int):
    """A sphere of `radius` split at its equator, the upper half raised to z_top and the lower
    lowered to z_bottom (a sphere when both are 0, a capsule otherwise).

    Vertices are a (rings x n_lon+1) grid (the seam column is duplicated so normals stay
    smooth); returns (verts, normals, faces)."""
    half = n_lat // 2
    polar = np.concatenate(
        [np.linspace(0.0, np.pi / 2, half + 1), np.linspace(np.pi / 2, np.pi, half + 1)]
    )
    shift = np.concatenate([np.full(half + 1, z_top), np.full(half + 1, z_bottom)])
    lon = np.linspace(0.0, 2 * np.pi, n_lon + 1)
    sin_p, cos_p = np.sin(polar)[:, None], np.cos(polar)[:, None]
    normals = np.stack(
        [sin_p * np.cos(lon), sin_p * np.sin(lon), np.broadcast_to(cos_p, (len(polar), len(lon)))],
        axis=-1,
    )
    verts = radius * normals
    verts[..., 2] += shift[:, None]
    rows, cols = len(polar), len(lon)
    faces = []
    for i in range(rows - 1):
        for j in range(cols - 1):
            a, b = i * cols + j, i * cols + j + 1
            c, d = (i + 1) * cols + j, (i + 1) * cols + j + 1
            faces += [(a, c, b), (b, c, d)]
    return verts.reshape(-1, 3), normals.reshape(-1, 3), np.array(faces, np.int32)


def sphere(radius: float, detail: int = 12) -> tuple:
    """(verts, normals, faces) of a sphere of `radius` [m] centred on the origin."""
    return _rings(radius, 0.0, 0.0, 2 * detail, 2 * detail)


def capsule(radius: float, half_length: float, detail: int = 12) -> tuple:
    """(verts, normals, faces) of a capsule: the segment z in [-half_length, half_length] [m]
    swept by a ball of `radius` [m]."""
    return _rings(radius, half_length, -half_length, 2 * detail, 2 * detail)


def cylinder(radius: float, half_length: float, detail: int = 12) -> tuple:
    """(verts, normals, faces) of a solid cylinder of `radius` [m] around the local z axis,
    z in [-half_length, half_length] [m]: a smooth side and two flat end caps (their own
    vertices, so that the rim stays a sharp edge)."""
    n = 2 * detail
    lon = np.linspace(0.0, 2 * np.pi, n + 1)  # the seam column is duplicated, as in _rings
    ring = np.stack([np.cos(lon), np.sin(lon), np.zeros_like(lon)], axis=-1)  # (n+1, 3)
    lift = np.array([0.0, 0.0, half_length])
    side_v = np.concatenate([radius * ring - lift, radius * ring + lift])
    side_n = np.concatenate([ring, ring])
    j = np.arange(n)
    a, b, c, d = j, j + 1, j + n + 1, j + n + 2  # bottom j, bottom j+1, top j, top j+1
    faces = [np.stack([a, b, d], 1), np.stack([a, d, c], 1)]
    verts, normals = [side_v], [side_n]
    base = len(side_v)
    for sign in (1.0, -1.0):
        centre = np.array([[0.0, 0.0, sign * half_length]])
        rim = radius * ring[:n] + centre
        verts.append(np.concatenate([centre, rim]))
        normals.append(np.tile([0.0, 0.0, sign], (n + 1, 1)))
        k1, k2 = base + 1 + j, base + 1 + (j + 1) % n
        fan = np.stack([np.full(n, base), k1, k2], 1)
        faces.append(fan if sign > 0 else fan[:, ::-1])  # counter-clockwise from outside
        base += n + 1
    return np.concatenate(verts), np.concatenate(normals), np.concatenate(faces).astype(np.int32)


def box(half_extents) -> tuple:
    """(verts, normals, faces) of a box with half sizes (hx, hy, hz) [m]; four vertices per
    face so the faces stay flat-shaded."""
    h = np.asarray(half_extents, float)
    verts, normals, faces = [], [], []
    for axis in range(3):
        for sign in (1.0, -1.0):
            n = np.zeros(3)
            n[axis] = sign
            u, v = np.zeros(3), np.zeros(3)
            u[(axis + 1) % 3], v[(axis + 2) % 3] = 1.0, 1.0
            if sign < 0:
                u, v = v, u  # keep the winding counter-clockwise outside
            base = len(verts)
            for a, b in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
                verts.append((n + a * u + b * v) * h)
                normals.append(n)
            faces += [(base, base + 1, base + 2), (base, base + 2, base + 3)]
    return np.array(verts), np.array(normals), np.array(faces, np.int32)


def shape_mesh(shape: Shape, detail: int = 12) -> Mesh:
    """The mesh of one solid shape in its body's frame [m] (a world shape's: in the world),
    coloured with `shape.color`."""
    if shape.kind == "sphere":
        v, n, f = sphere(shape.radius, detail)
    elif shape.kind == "capsule":
        v, n, f = capsule(shape.radius, shape.half_length, detail)
    elif shape.kind == "box":
        v, n, f = box(shape.half_extents)
    elif shape.kind == "cylinder":
        v, n, f = cylinder(shape.radius, shape.half_length, detail)
    else:  # pragma: no cover - planes are drawn by plane_tiles; the loader refuses the rest
        raise ValueError(f"no mesh for shape kind {shape.kind!r}")
    rot = quat_to_matrix(shape.quat)
    verts = v @ rot.T + np.asarray(shape.pos, float)
    colors = np.tile(np.asarray(shape.color, float), (len(v), 1))
    return Mesh(
        verts.astype(np.float32), (n @ rot.T).astype(np.float32), f, colors.astype(np.float32)
    )


def concat(meshes: list[Mesh]) -> Mesh:
    """One mesh holding all of `meshes` (face indices shifted)."""
    offsets = np.cumsum([0] + [m.n_verts for m in meshes[:-1]])
    return Mesh(
        np.concatenate([m.verts for m in meshes]),
        np.concatenate([m.normals for m in meshes]),
        np.concatenate([m.faces + o for m, o in zip(meshes, offsets)]).astype(np.int32),
        np.concatenate([m.colors for m in meshes]),
    )


@dataclass(frozen=True)
class RobotMesh:
    """All solid shapes of a robot: `mesh` (body shapes in their body frames, the world's
    solids in the world frame) plus `vertex_body` (V,), the body index of each vertex, -1 for
    a shape fixed in the world."""

    mesh: Mesh
    vertex_body: np.ndarray

    @property
    def on_bodies(self) -> np.ndarray:
        """(V,) bool: the vertices that move with a body."""
        return self.vertex_body >= 0

    def place(
        self, origin: np.ndarray, rot: np.ndarray, shift: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """World vertices and normals for body frames at `origin` [m] (..., N, 3) with
        rotations `rot` (..., N, 3, 3) body to world, the world's shapes moved by `shift` [m]
        (..., 3) (default 0: where they are); returns (..., V, 3) each."""
        lead = origin.shape[:-2]
        shift = np.zeros(lead + (3,)) if shift is None else np.broadcast_to(shift, lead + (3,))
        # the world is one more frame, after the N bodies: identity rotation, origin `shift`
        origin = np.concatenate([origin, shift[..., None, :]], axis=-2)
        rot = np.concatenate([rot, np.broadcast_to(np.eye(3), lead + (1, 3, 3))], axis=-3)
        frame = np.where(self.vertex_body >= 0, self.vertex_body, origin.shape[-2] - 1)
        r = rot[..., frame, :, :]
        verts = np.einsum("...vij,vj->...vi", r, self.mesh.verts) + origin[..., frame, :]
        normals = np.einsum("...vij,vj->...vi", r, self.mesh.normals)
        return verts, normals


def robot_mesh(robot: Robot, detail: int = 12) -> RobotMesh:
    """Meshes of every shape of `robot` and of the world's solids (see RobotMesh)."""
    meshes, owner = [], []
    owned = [(bi, shape) for bi, body in enumerate(robot.bodies) for shape in body.shapes]
    owned += [(-1, shape) for shape in robot.world_shapes if shape.kind != "plane"]
    for bi, shape in owned:
        m = shape_mesh(shape, detail)
        meshes.append(m)
        owner.append(np.full(m.n_verts, bi, np.int32))
    return RobotMesh(concat(meshes), np.concatenate(owner))


def ground_tiles(
    center_xy, tile: float, count: int, colors=((0.86, 0.87, 0.89), (0.74, 0.76, 0.79))
) -> Mesh:
    """A checkerboard of count x count square tiles of side `tile` [m] on the plane z = 0,
    centred near `center_xy` (snapped to two tiles so the pattern does not slide)."""
    snap = 2.0 * tile
    cx, cy = np.round(np.asarray(center_xy, float)[:2] / snap) * snap
    start = -0.5 * count * tile
    i, j = np.meshgrid(np.arange(count), np.arange(count), indexing="ij")
    x0 = (cx + start + i * tile).ravel()
    y0 = (cy + start + j * tile).ravel()
    corners = np.array([(0, 0), (1, 0), (1, 1), (0, 1)], float) * tile
    verts = np.zeros((count * count, 4, 3))
    verts[..., 0] = x0[:, None] + corners[:, 0]
    verts[..., 1] = y0[:, None] + corners[:, 1]
    parity = ((np.round((x0 - cx) / tile) + np.round((y0 - cy) / tile)) % 2).astype(int)
    palette = np.asarray(colors, float)
    vcolors = np.repeat(palette[parity][:, None, :], 4, axis=1)
    base = 4 * np.arange(count * count)[:, None]
    faces = np.concatenate([base + [0, 1, 2], base + [0, 2, 3]])
    normals = np.tile([0.0, 0.0, 1.0], (4 * count * count, 1))
    return Mesh(
        verts.reshape(-1, 3).astype(np.float32),
        normals.astype(np.float32),
        faces.astype(np.int32),
        vcolors.reshape(-1, 3).astype(np.float32),
    )


def plane_tiles(shape: Shape, center, tile: float, count: int, shade: float = 0.85) -> Mesh:
    """World-frame tiles [m] of the world plane `shape` (its surface z = 0 of its frame, normal
    +z): along a local axis (x, y) with a drawn half size > 0, at most `count` cells of side
    about `tile` [m] covering [-half, half]; along an unbounded axis (half size 0), `count`
    tiles of side `tile` around the projection of the world point `center` (snapped to two
    tiles so the pattern does not slide). A checkerboard of shape.color and `shade` x it."""
    rot = quat_to_matrix(shape.quat)
    origin = np.asarray(shape.pos, float)
    local = rot.T @ (np.asarray(center, float) - origin)
    edges = []
    for axis in range(2):
        half = float(shape.half_extents[axis])
        if half > 0.0:
            cells = int(np.clip(np.ceil(2.0 * half / tile), 1, count))
            edges.append(np.linspace(-half, half, cells + 1))
        else:
            mid = np.round(local[axis] / (2.0 * tile)) * 2.0 * tile
            edges.append(mid + (np.arange(count + 1) - 0.5 * count) * tile)
    ex, ey = edges
    i, j = np.meshgrid(np.arange(len(ex) - 1), np.arange(len(ey) - 1), indexing="ij")
    i, j = i.ravel(), j.ravel()
    corners = np.stack(
        [
            np.stack([ex[i], ey[j]], -1),
            np.stack([ex[i + 1], ey[j]], -1),
            np.stack([ex[i + 1], ey[j + 1]], -1),
            np.stack([ex[i], ey[j + 1]], -1),
        ],
        axis=1,
    )  # (cells, 4, 2)
    n_cells = len(i)
    flat = np.concatenate([corners, np.zeros((n_cells, 4, 1))], axis=-1).reshape(-1, 3)
    verts = flat @ rot.T + origin
    colour = np.asarray(shape.color, float)
    palette = np.stack([colour, shade * colour])
    vcolors = np.repeat(palette[(i + j) % 2][:, None, :], 4, axis=1).reshape(-1, 3)
    base = 4 * np.arange(n_cells)[:, None]
    faces = np.concatenate([base + [0, 1, 2], base + [0, 2, 3]])
    normals = np.tile(rot[:, 2], (len(verts), 1))
    return Mesh(
        verts.astype(np.float32),
        normals.astype(np.float32),
        faces.astype(np.int32),
        vcolors.astype(np.float32),
    )


def nice_tile(size: float) -> float:
    """A round ground-tile side [m] close to half a robot of extent `size` [m]."""
    target = max(size, 1e-3) / 2.0
    candidates = np.array([0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0])
    return float(candidates[np.argmin(np.abs(np.log(candidates / target)))])
