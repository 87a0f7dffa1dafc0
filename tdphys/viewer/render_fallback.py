"""Draw `scene.Frame`s with the old 2D `ti.GUI` when no Vulkan device exists.

A painter's algorithm: triangles are projected with the same OrbitCamera projection as GGUI,
flat-shaded with a fixed light, and drawn back to front (the ground and the world's planes
first, then shadows, then the robots and the world's solids). No depth buffer, so
intersecting shapes may show the wrong one in front; good enough to see the motion. Images
come back as (H, W, 3) uint8, top row first.
"""

from __future__ import annotations

import numpy as np
import taichi as ti

from .camera import Z_NEAR, OrbitCamera
from .camera_feed import Inset
from .scene import BACKGROUND, SHADOW_COLOR, Frame

LIGHT = np.array([-0.4, -0.3, 0.87]) / np.linalg.norm([-0.4, -0.3, 0.87])  # towards the light


def _hex(rgb: np.ndarray) -> np.ndarray:
    c = (np.clip(rgb, 0.0, 1.0) * 255 + 0.5).astype(np.uint32)
    return (c[..., 0] << 16) | (c[..., 1] << 8) | c[..., 2]


class FallbackRenderer:
    """A ti.GUI canvas of `width` x `height` pixels (a window only when `show_window`)."""

    name = "gui"

    def __init__(self, width: int, height: int, show_window: bool, title: str = "tdphys"):
        self.gui = ti.GUI(
            title,
            (width, height),
            background_color=int(_hex(np.array(BACKGROUND))),
            show_gui=show_window,
        )
        self.width, self.height = width, height
        self._image = None
        self._last_cursor = (0.5, 0.5)

    @property
    def running(self) -> bool:
        return self.gui.running

    def _triangles(self, verts, faces, colors, camera: OrbitCamera, shade: bool) -> None:
        """Project and draw triangles (faces into verts) back to front; colors (F, 3)."""
        px, depth = camera.project(verts, self.width, self.height)
        tri_depth = depth[faces]
        # No clipping here: drop triangles reaching behind or very near the camera, or far
        # off-screen (ti.GUI rasterises their whole bounding box, which can take seconds).
        size = np.array([self.width, self.height], float)
        on_canvas = ((px > -3 * size) & (px < 4 * size)).all(axis=-1)
        keep = (tri_depth > max(Z_NEAR, 0.02 * camera.distance)).all(axis=1) & on_canvas[faces].all(
            axis=1
        )
        faces, colors = faces[keep], colors[keep]
        if not len(faces):
            return
        if shade:
            a, b, c = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
            n = np.cross(b - a, c - a)
            n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
            colors = colors * (0.5 + 0.5 * np.clip(n @ LIGHT, 0.0, 1.0))[:, None]
        order = np.argsort(-tri_depth[keep].mean(axis=1))
        uv = px / [self.width, self.height]
        uv[:, 1] = 1.0 - uv[:, 1]  # ti.GUI has y up
        f = faces[order]
        self.gui.triangles(uv[f[:, 0]], uv[f[:, 1]], uv[f[:, 2]], color=_hex(colors[order]))

    def draw(
        self,
        frame: Frame,
        camera: OrbitCamera,
        panel: list[str] | None = None,
        inset: Inset | None = None,
    ) -> None:
        g, r = frame.ground, frame.robot
        self.gui.clear()
        self._triangles(g.verts, g.faces, g.colors[g.faces[:, 0]], camera, shade=False)
        if len(frame.shadow_verts):
            self._triangles(
                frame.shadow_verts,
                r.faces,
                np.tile(SHADOW_COLOR, (len(r.faces), 1)),
                camera,
                shade=False,
            )
        self._triangles(r.verts, r.faces, r.colors[r.faces].mean(axis=1), camera, shade=True)
        self._overlays(frame, camera)
        if inset is not None:
            self._inset(inset)
        if panel:
            for i, line in enumerate(panel):
                self.gui.text(line, (0.01, 0.99 - 0.035 * i), font_size=14, color=0x202020)
        self._image = self.gui.get_image().copy()

    def _overlays(self, frame: Frame, camera: OrbitCamera) -> None:
        size = np.array([self.width, self.height], float)
        if len(frame.lines):
            px, depth = camera.project(frame.lines, self.width, self.height)  # (K, 2, 2)
            ok = (depth > Z_NEAR).all(axis=1)
            uv = px[ok] / size
            uv[..., 1] = 1.0 - uv[..., 1]
            self.gui.lines(uv[:, 0], uv[:, 1], radius=1.5, color=_hex(frame.line_colors[ok]))
        if len(frame.points):
            px, depth = camera.project(frame.points, self.width, self.height)
            ok = depth > Z_NEAR
            uv = px[ok] / size
            uv[:, 1] = 1.0 - uv[:, 1]
            f = self.height / (2 * np.tan(np.radians(camera.fov) / 2))
            radius = np.maximum(2.0, f * frame.point_radius / depth[ok])
            self.gui.circles(uv, radius=radius, color=_hex(frame.point_colors[ok]))

    def _inset(self, inset: Inset) -> None:
        """Paint the inset into the canvas's pixels (ti.GUI's own triangles leave gaps
        between squares a few pixels wide)."""
        img = self.gui.get_image()  # (W, H, 4) floats, y up
        rgb = np.transpose(img[:, ::-1, :3], (1, 0, 2))
        rgb = inset.paste(np.ascontiguousarray(rgb, np.float32))
        self.gui.set_image(np.ascontiguousarray(np.transpose(rgb, (1, 0, 2))[:, ::-1]))

    def image(self) -> np.ndarray:
        """The last drawn frame, (H, W, 3) uint8, top row first."""
        img = self._image  # (W, H, 4), y up
        rgb = np.transpose(img[:, ::-1, :3], (1, 0, 2))
        return (np.clip(rgb, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)

    def show(self) -> None:
        self.gui.show()

    # ----------------------------------------------------------------------------- input
    def events(self) -> list[str]:
        keys = []
        for e in self.gui.get_events(ti.GUI.PRESS):
            keys.append({ti.GUI.ESCAPE: "Escape", ti.GUI.SPACE: " "}.get(e.key, e.key))
        return keys

    def mouse(self) -> tuple[tuple[float, float], set]:
        held = {
            name
            for name, key in (("LMB", ti.GUI.LMB), ("MMB", ti.GUI.MMB), ("RMB", ti.GUI.RMB))
            if self.gui.is_pressed(key)
        }
        return tuple(self.gui.get_cursor_pos()), held

    def close(self) -> None:
        self.gui.close()
