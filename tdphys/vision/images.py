"""Camera images to files, and camera images of a recorded trajectory.

    save_images(frames, "cam/")          # cam/frame_00000.png, ... one PNG per step
    save_images(frames, "cam.mp4", fps=50)   # or cam.gif
    frames = frames_from_trajectory(robot, np.load("traj.npz"), "front")   # (T+1, H, W, 3)

`frames` are floats in [0, 1] (T, H, W, 3), top row first, as `Renderer.images()[:, world]`
gives them (uint8 frames are taken as they are). Camera images are small (the cart-pendulum's
is 72 x 24 pixels), so they are enlarged by an integer factor, nearest neighbour, before they
are written: `scale=None` picks the smallest factor that makes the longer side at least
AUTO_SIDE pixels; `scale=1` writes them as rendered.

frames_from_trajectory renders a trajectory that was recorded (an npz from `tdphys simulate`,
`Simulation.trajectory()`, a run's trajectory.npz) rather than rolled out here: the recorded
COM positions and orientations are written into the state fields of a small one-world
Simulation of the same robot, whose Renderer then draws them. The image of a state depends on
nothing else (besides the robot's shapes and its centre-of-mass offsets), so these are exactly
the images the Renderer made of the original rollout.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import taichi as ti

from ..model.mass import com_offsets

AUTO_SIDE = 256  # [px] scale=None enlarges until the longer side is at least this
MAX_AUTO_SCALE = 16
SUFFIXES = (".mp4", ".gif")


def output_kind(path) -> str:
    """'dir' (a path ending in a separator, or an existing folder), 'mp4' or 'gif';
    ValueError with a fix for anything else."""
    path = str(path)
    if path.endswith(("/", os.sep)) or Path(path).is_dir():
        return "dir"
    suffix = Path(path).suffix.lower()
    if suffix in SUFFIXES:
        return suffix[1:]
    raise ValueError(
        f"{path}: cannot tell how to save images to a '{suffix or 'no suffix'}' "
        "path\n  fix: end it with / for a folder of PNGs (frame_00000.png, ...), "
        "or with .mp4 or .gif for a video"
    )


def auto_scale(height: int, width: int) -> int:
    """The smallest integer factor that makes the longer side at least AUTO_SIDE pixels."""
    return int(np.clip(-(-AUTO_SIDE // max(height, width, 1)), 1, MAX_AUTO_SCALE))


def to_uint8(frames) -> np.ndarray:
    """uint8 copy of floats in [0, 1] (clipped, rounded); uint8 input is returned as is."""
    frames = np.asarray(frames)
    if frames.dtype == np.uint8:
        return frames
    return (np.clip(frames, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def upscale(frames, scale: int) -> np.ndarray:
    """Enlarge (..., H, W, C) images `scale` times, nearest neighbour."""
    frames = np.asarray(frames)
    if scale == 1:
        return frames
    return np.repeat(np.repeat(frames, scale, axis=-3), scale, axis=-2)


def save_images(frames, path, fps: float = 30.0, scale: int | None = None) -> int:
    """Write frames (T, H, W, 3), floats in [0, 1] or uint8, to `path`: a folder (a path ending
    in '/', or an existing folder) receives one PNG per frame, frame_00000.png, ...; FILE.mp4
    (H.264 through imageio-ffmpeg) or FILE.gif (imageio/Pillow) a video at `fps` frames per
    second. Each frame is enlarged `scale` times (None: see auto_scale). An mp4 needs an even
    width and height: an odd one gets one more column or row, a copy of the last. Missing
    parent folders are created. Returns the number of frames written."""
    from ..video import FrameWriter

    kind = output_kind(path)
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        hint = (
            "pick one world, e.g. renderer.images()[:, 0]"
            if frames.ndim == 5
            else "add a time axis, e.g. frames[None]"
            if frames.ndim == 3
            else "pass (T, H, W, 3) RGB images"
        )
        raise ValueError(
            f"save_images: frames must be (T, H, W, 3), got {frames.shape}\n  fix: {hint}"
        )
    if len(frames) == 0:
        raise ValueError("save_images: no frames\n  fix: render at least one step")
    if not fps > 0:
        raise ValueError(f"save_images: fps must be positive, got {fps}")
    if scale is None:
        scale = auto_scale(*frames.shape[1:3])
    if int(scale) != scale or scale < 1:
        raise ValueError(f"save_images: scale must be a whole number >= 1, got {scale}")
    images = upscale(to_uint8(frames), int(scale))
    if kind == "mp4" and (images.shape[1] % 2 or images.shape[2] % 2):
        pad = ((0, 0), (0, images.shape[1] % 2), (0, images.shape[2] % 2), (0, 0))
        images = np.pad(images, pad, mode="edge")
    target = Path(path)
    (target if kind == "dir" else target.parent).mkdir(parents=True, exist_ok=True)
    with FrameWriter(str(path), fps) as writer:
        for image in images:
            writer.write(image)
    return writer.count


# ----------------------------------------------------------------------- recorded states
class PoseRenderer:
    """A camera of `robot` that renders given body poses instead of a rollout.

    render(pos, quat) takes n states of one world, pos [m] (n, N, 3) COM world positions and
    quat [w, x, y, z] (n, N, 4), and returns their images (n, H, W, 3) floats in [0, 1].
    `chunk` states are rendered per batch of kernel launches. com_offset [m] (N, 3): each
    body's COM in its own frame, as the recording used it (default: computed from the robot's
    shape masses, as the engine does). Needs a Taichi backend (tdphys.init); uses the current
    one, cpu f32 if none was started.

    The Renderer draws from a small stand-in for a Simulation (_PoseState): the state, centre
    of mass and shape fields the Renderer reads, filled from the robot. A real Simulation
    would do as well but takes ~15 s to build on one CPU thread (it compiles a copy kernel
    for each of its ~100 fields); this takes a fraction of that.
    """

    def __init__(self, robot, camera: str, chunk: int = 64, com_offset=None):
        from .camera import camera_spec
        from .renderer import Renderer

        robot = _robot(robot)
        self.spec = camera_spec(robot, camera)  # KeyError naming the cameras it has
        self.robot = robot
        self.state = _PoseState(robot, max(int(chunk), 2))
        self.renderer = Renderer(self.state, camera)
        self.state.upload()
        self.height, self.width = self.spec.height, self.spec.width
        self.n_bodies = self.state.n_bodies
        self._com = None
        self.set_com_offset(com_offsets(robot) if com_offset is None else com_offset)

    @property
    def capacity(self) -> int:
        """States rendered per batch of launches."""
        return self.state.steps + 1

    def set_com_offset(self, com_offset) -> None:
        """[m] (N, 3) centres of mass in the body frames used to place the shapes."""
        com = np.asarray(com_offset, float).reshape(self.n_bodies, 3)
        if self._com is not None and np.array_equal(com, self._com):
            return
        self._com = com
        self.state.com.from_numpy(com[None].astype(self.state.np_real))

    def render(self, pos, quat) -> np.ndarray:
        pos, quat = np.asarray(pos), np.asarray(quat)
        N = self.n_bodies
        if pos.ndim != 3 or pos.shape[1:] != (N, 3) or quat.shape != pos.shape[:2] + (4,):
            raise ValueError(
                f"pos {pos.shape} / quat {quat.shape} should be (n, {N}, 3) / (n, {N}, 4)"
            )
        n, cap, out = len(pos), self.capacity, []
        real = self.state.np_real
        for start in range(0, n, cap):
            m = min(cap, n - start)
            p = np.zeros((cap, 1, N, 3), real)
            q = np.zeros((cap, 1, N, 4), real)
            q[..., 0] = 1.0
            p[:m, 0], q[:m, 0] = pos[start : start + m], quat[start : start + m]
            self.state.pos.from_numpy(p)
            self.state.quat.from_numpy(q)
            for t in range(m):
                self.renderer.render(t)
            out.append(self.renderer.image.to_numpy()[:m, 0].astype(float))
        return np.concatenate(out) if out else np.zeros((0, self.height, self.width, 3))


@ti.data_oriented
class _PoseState:
    """What the Renderer reads of a Simulation, for one world and `capacity` states: pos,
    quat [t, 0, n]; com [0, n]; the shape tables and per-world shape parameters (the robot's
    values, as Simulation.__init__ sets them)."""

    PARAMS = {
        "shape_pos": 3,
        "shape_quat": 4,
        "shape_radius": 0,
        "shape_half_length": 0,
        "shape_half_extents": 3,
    }
    SOLVER_FRAME = False  # the state's poses: every body at its own centre of mass

    def __init__(self, robot, capacity: int):
        from .. import backend
        from ..engine import layout as L

        self.backend = backend.current()
        self.robot, self.layout = robot, L.build_layout(robot)
        self.batch, self.steps = 1, capacity - 1
        self.real = self.backend.real
        self.np_real = np.float64 if self.backend.precision == "f64" else np.float32
        self.n_bodies, self.n_shapes = self.layout.n_bodies, self.layout.n_shapes
        N, S = self.n_bodies, max(self.n_shapes, 1)
        self.pos = backend.vector(3, (capacity, 1, N), grad=False)
        self.quat = backend.vector(4, (capacity, 1, N), grad=False)
        # where a Simulation keeps them: the poses per step, the shapes and their parameters
        self.state = self.model = self
        self.com = backend.vector(3, (1, N), grad=False)
        self.shape_kind, self.shape_body = backend.int_field(S), backend.int_field(S)
        for name, n in self.PARAMS.items():
            setattr(
                self,
                name,
                backend.vector(n, (1, S), grad=False)
                if n
                else backend.field(None, (1, S), grad=False),
            )

    def upload(self) -> None:
        """Fill the tables (after every field, the Renderer's too, is declared: Taichi puts
        the fields declared between two launches into one SNode tree)."""
        S = max(self.n_shapes, 1)
        for name in ("shape_kind", "shape_body"):
            table = np.zeros(S, np.int32)
            table[: self.n_shapes] = getattr(self.layout, name)
            getattr(self, name).from_numpy(table)
        for name, n in self.PARAMS.items():
            value = np.asarray(self.layout.params[name], float)[:1]
            full = np.zeros((1, S) + ((n,) if n else ()))
            full[:, : value.shape[1]] = value
            getattr(self, name).from_numpy(full.astype(self.np_real))


def _robot(robot):
    """A Robot from a Robot or a robot file's path (YAML, MJCF or URDF)."""
    from ..model import Robot
    from ..model.robot_file import load_robot_file

    if isinstance(robot, Robot):
        return robot
    if isinstance(robot, (str, os.PathLike)):
        return load_robot_file(robot)
    raise TypeError(
        f"robot must be a tdphys Robot or a robot file's path, got {type(robot).__name__}"
    )


def frames_from_trajectory(robot, traj, camera: str, world: int = 0, chunk: int = 64) -> np.ndarray:
    """Images (T+1, H, W, 3), floats in [0, 1], that `camera` of `robot` (a Robot or a YAML
    path) takes of world `world` of a recorded trajectory `traj`: a dict (or npz, or npz path)
    with pos [m] (T+1, B, N, 3) COM world positions and quat (T+1, B, N, 4), as
    `Simulation.trajectory()` and `tdphys simulate --out` give it. A `com_offset` (B, N, 3)
    in it (`tdphys simulate` stores one) places the shapes; without it the offsets are computed
    from the robot. Equal to the Renderer's images of the rollout that was recorded."""
    robot = _robot(robot)
    if isinstance(traj, (str, os.PathLike)):
        traj = np.load(traj, allow_pickle=False)
    missing = [k for k in ("pos", "quat") if k not in traj]
    if missing:
        raise ValueError(
            f"trajectory has no {' or '.join(missing)}\n  fix: pass "
            "Simulation.trajectory() or an npz written by `tdphys simulate --out`"
        )
    pos, quat = np.asarray(traj["pos"]), np.asarray(traj["quat"])
    n_bodies = len(robot.bodies)
    if pos.ndim != 4 or pos.shape[2:] != (n_bodies, 3) or quat.shape != pos.shape[:3] + (4,):
        raise ValueError(
            f"trajectory pos {pos.shape} / quat {quat.shape} should be "
            f"(T+1, B, {n_bodies}, 3) / (T+1, B, {n_bodies}, 4) for robot "
            f"'{robot.name}'\n  fix: pass the robot the trajectory was "
            "simulated with"
        )
    B = pos.shape[1]
    if not 0 <= world < B:
        raise ValueError(f"world {world}: the trajectory has {B} world(s)\n  fix: use 0..{B - 1}")
    com = traj["com_offset"][world] if "com_offset" in traj else None
    cam = PoseRenderer(robot, camera, chunk=min(chunk, len(pos)), com_offset=com)
    return cam.render(pos[:, world], quat[:, world])
