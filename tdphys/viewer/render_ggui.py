"""Draw `scene.Frame`s with Taichi's GGUI (Vulkan): a window, or offscreen for videos.

Shaded meshes with per-vertex colours lit by one point light and ambient light, a flat
shadow mesh on the ground, a checkerboard ground, lines and particles for the overlays, and an
ImGui panel. Images come back as (H, W, 3) uint8, top row first.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings

import numpy as np
import taichi as ti

from ..errors import ViewerError
from .camera import OrbitCamera
from .camera_feed import Inset
from .scene import BACKGROUND, SHADOW_COLOR, Frame

LINE_WIDTH = 3.0  # [px] (Vulkan may draw 1 px where wide lines are missing)


class _Buffers:
    """Taichi fields reused frame after frame, grown when a frame needs more room."""

    def __init__(self):
        self.fields = {}
        self.keys = {}

    def get(self, name: str, n: int, dim: int, dtype=ti.f32):
        have = self.fields.get(name)
        if have is None or have.shape[0] < n:
            size = max(n, 2 * (have.shape[0] if have is not None else 0), 8)
            have = ti.Vector.field(dim, dtype, size) if dim else ti.field(dtype, size)
            self.fields[name] = have
        return have

    def put(self, name: str, data: np.ndarray, dtype=ti.f32, key=None):
        """A field holding `data` (n, dim) or (n,) in its first n entries; when `key` is given
        and equals the previous call's, the data is taken as unchanged and not copied."""
        dim = data.shape[1] if data.ndim == 2 else 0
        f = self.get(name, len(data), dim, dtype)
        if key is not None and self.keys.get(name) == (key, id(f)):
            return f
        self.keys[name] = (key, id(f)) if key is not None else None
        np_dtype = np.float32 if dtype == ti.f32 else np.int32
        full = np.zeros(f.shape + ((dim,) if dim else ()), np_dtype)
        full[: len(data)] = data
        f.from_numpy(full)
        return f


class GGUIRenderer:
    """A GGUI window of `width` x `height` pixels; `show_window=False` renders offscreen."""

    name = "ggui"

    def __init__(self, width: int, height: int, show_window: bool, title: str = "tdphys"):
        # GGUI's ImGui writes imgui.ini into the working directory when the window closes;
        # keep the user's folder clean by working in a private one while the window lives.
        self._home, self._tmp = os.getcwd(), tempfile.mkdtemp(prefix="tdphys-view-")
        os.chdir(self._tmp)
        try:
            self.window = ti.ui.Window(
                title, (width, height), vsync=show_window, show_window=show_window
            )
        except RuntimeError as exc:
            self._leave()
            raise ViewerError(
                f"cannot open a GGUI window: {exc}\n  fix: install a Vulkan "
                "driver (apt-get install mesa-vulkan-drivers libvulkan1), or add "
                "--fallback to draw with ti.GUI"
            ) from None
        self.width, self.height = width, height
        self.canvas = self.window.get_canvas()
        # The deprecated Scene, not window.get_scene(): in Taichi 1.7.4 the SceneV2 hands the
        # renderer pointers to temporary numpy buffers that are freed before the frame is
        # drawn (meshes drawn after another one come out garbled). Scene keeps one buffer per
        # field alive, so every drawn field below is distinct.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.scene = ti.ui.Scene()
        self.camera = ti.ui.Camera()
        self.buffers = _Buffers()

    @property
    def running(self) -> bool:
        return self.window.running

    def draw(
        self,
        frame: Frame,
        camera: OrbitCamera,
        panel: list[str] | None = None,
        inset: Inset | None = None,
    ) -> None:
        """Render `frame` seen by `camera`, with the text lines of `panel` in a corner and
        the image `inset` (a robot camera's, camera_feed.py) over the scene."""
        eye, tgt = camera.eye(), camera.target
        self.camera.position(*eye)
        self.camera.lookat(*tgt)
        self.camera.up(0.0, 0.0, 1.0)
        self.camera.fov(camera.fov)
        self.camera.z_near(max(0.01, 0.01 * camera.distance))
        self.camera.z_far(1000.0 * max(camera.distance, 1.0))
        s, b = self.scene, self.buffers
        s.set_camera(self.camera)
        s.ambient_light((0.45, 0.45, 0.45))
        light = tgt + camera.distance * np.array([-1.0, -0.7, 2.5])
        s.point_light(tuple(light), (0.75, 0.75, 0.75))
        g, r = frame.ground, frame.robot
        # The ground and the planes change only when the camera target moves a tile or the
        # worlds shown change (a hash of their vertices tells); faces, colours and the shadow
        # normals of the robots only when the number of worlds shown changes.
        gk, rk = (hash(g.verts.tobytes()), len(g.verts)), len(r.verts)
        s.mesh(
            b.put("ground_v", g.verts, key=gk),
            indices=b.put("ground_i", g.faces.ravel(), ti.i32, key=gk),
            normals=b.put("ground_n", g.normals, key=gk),
            per_vertex_color=b.put("ground_c", g.colors, key=gk),
            index_count=g.faces.size,
        )
        if len(frame.shadow_verts):
            s.mesh(
                b.put("shadow_v", frame.shadow_verts),
                indices=b.put("shadow_i", r.faces.ravel(), ti.i32, key=rk),
                normals=b.put("shadow_n", np.tile([0.0, 0.0, 1.0], (rk, 1)), key=rk),
                color=SHADOW_COLOR,
                two_sided=True,
                index_count=r.faces.size,
            )
        s.mesh(
            b.put("robot_v", r.verts),
            indices=b.put("robot_i", r.faces.ravel(), ti.i32, key=rk),
            normals=b.put("robot_n", r.normals),
            per_vertex_color=b.put("robot_c", r.colors, key=rk),
            index_count=r.faces.size,
        )
        if len(frame.lines):
            s.lines(
                b.put("lines_v", frame.lines.reshape(-1, 3)),
                LINE_WIDTH,
                per_vertex_color=b.put("lines_c", np.repeat(frame.line_colors, 2, axis=0)),
                vertex_count=2 * len(frame.lines),
            )
        if len(frame.points):
            s.particles(
                b.put("points_v", frame.points),
                frame.point_radius,
                per_vertex_color=b.put("points_c", frame.point_colors),
                index_count=len(frame.points),
            )
        self.canvas.set_background_color(BACKGROUND)
        self.canvas.scene(s)
        if inset is not None:
            self._inset(inset)
        if panel:
            self._panel(panel)

    def _inset(self, inset: Inset) -> None:
        """The inset's squares as 2D canvas triangles (coordinates in [0, 1], y up), four
        vertices of one colour per square so that colours are not blended between pixels."""
        tl, br, colours = inset.quads()
        x0, x1 = tl[:, 0] / self.width, br[:, 0] / self.width
        y0, y1 = 1.0 - tl[:, 1] / self.height, 1.0 - br[:, 1] / self.height
        verts = np.stack(
            [
                np.stack([x0, y0], -1),
                np.stack([x1, y0], -1),
                np.stack([x1, y1], -1),
                np.stack([x0, y1], -1),
            ],
            axis=1,
        )
        n = len(tl)
        faces = (4 * np.arange(n)[:, None] + np.array([0, 1, 2, 0, 2, 3])).ravel()
        key = (n, inset.x0, inset.y0, inset.scale, self.width, self.height)
        b = self.buffers
        self.canvas.triangles(
            b.put("inset_v", verts.reshape(-1, 2), key=key),
            indices=b.put("inset_i", faces, ti.i32, key=key),
            per_vertex_color=b.put("inset_c", np.repeat(colours, 4, axis=0)),
        )

    def _panel(self, lines: list[str]) -> None:
        gui = self.window.get_gui()
        h = min(0.95, (34 + 17 * len(lines)) / self.height)
        w = min(0.9, (8.0 * max(len(line) for line in lines) + 24) / self.width)
        with gui.sub_window("tdphys", 0.01, 0.01, w, h):
            for line in lines:
                gui.text(line)

    def image(self) -> np.ndarray:
        """The last drawn frame, (H, W, 3) uint8, top row first."""
        img = self.window.get_image_buffer_as_numpy()  # (W, H, 4) floats, y up
        rgb = np.transpose(img[:, ::-1, :3], (1, 0, 2))
        return (np.clip(rgb, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)

    def show(self) -> None:
        self.window.show()

    # ----------------------------------------------------------------------------- input
    def events(self) -> list[str]:
        """Names of the keys pressed since the last call."""
        keys = []
        while self.window.get_event(ti.ui.PRESS):
            keys.append(self.window.event.key)
        return keys

    def mouse(self) -> tuple[tuple[float, float], set]:
        """Cursor position (x, y in [0, 1], y up) and the mouse buttons held ("LMB", ...)."""
        held = {k for k in (ti.ui.LMB, ti.ui.MMB, ti.ui.RMB) if self.window.is_pressed(k)}
        if self.window.is_pressed(ti.ui.SHIFT) and ti.ui.LMB in held:
            held = {ti.ui.RMB}
        return tuple(self.window.get_cursor_pos()), held

    def close(self) -> None:
        try:
            self.window.destroy()
        finally:
            self._leave()

    def _leave(self) -> None:
        os.chdir(self._home)
        shutil.rmtree(self._tmp, ignore_errors=True)
