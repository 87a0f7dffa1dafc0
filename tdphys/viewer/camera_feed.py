"""`--camera NAME`: the robot's own camera (a `cameras:` entry of its YAML, docs/camera.md)
shown in the top-right corner of the 3D view, and saved per step with `--camera-out`.

The images are rendered from the trajectory's poses by tdphys.vision's Renderer (through
vision.images.PoseRenderer), so a recording shows exactly what the camera saw during the
rollout. Each image is drawn enlarged by a whole factor (pixels stay square and sharp) with a
thin dark border; images larger than the corner allows are shown every k-th pixel.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..errors import ViewerError
from .sources import Trajectory

MARGIN = 10  # [px] from the window's top and right edges to the border
BORDER = 2  # [px] dark frame around the image
BORDER_COLOR = (0.12, 0.12, 0.14)
MAX_WIDTH_SHARE = 0.45  # the image takes at most this share of the window's width
MAX_HEIGHT_SHARE = 0.4  # and of its height
CACHE_SIZE = 4096  # images kept (72 x 24 x 3 bytes each for the cart-pendulum)


def check_camera(traj: Trajectory, name: str) -> None:
    """ViewerError listing the robot's cameras when it has none called `name`."""
    names = [c.name for c in traj.robot.cameras]
    if name in names:
        return
    if names:
        raise ViewerError(
            f"--camera {name}: robot '{traj.robot.name}' has no such camera\n"
            f"  fix: use one of {', '.join(names)}"
        )
    raise ViewerError(
        f"--camera {name}: robot '{traj.robot.name}' has no cameras\n  fix: add "
        "one under `cameras:` in its YAML (docs/robot-format.md), then simulate "
        "again or pass it with --robot"
    )


def fit(cam_w: int, cam_h: int, view_w: int, view_h: int) -> tuple[int, int]:
    """(scale, stride): show every stride-th camera pixel as a scale x scale square so the
    image fits MAX_WIDTH_SHARE x MAX_HEIGHT_SHARE of a view_w x view_h window; scale is as
    large as fits (at least 1), stride 1 unless even scale 1 is too large."""
    room_w, room_h = MAX_WIDTH_SHARE * view_w, MAX_HEIGHT_SHARE * view_h
    scale = int(min(room_w // cam_w, room_h // cam_h))
    if scale >= 1:
        return scale, 1
    return 1, int(np.ceil(max(cam_w / room_w, cam_h / room_h)))


def place(cam_w: int, cam_h: int, view_w: int, view_h: int) -> tuple[int, int, int, int]:
    """(x0, y0, scale, stride): the top-left pixel of the shown image (inside its border),
    counted from the window's top-left corner, and fit()'s scale and stride."""
    scale, stride = fit(cam_w, cam_h, view_w, view_h)
    shown_w = -(-cam_w // stride) * scale
    x0 = view_w - MARGIN - BORDER - shown_w
    return max(x0, BORDER), MARGIN + BORDER, scale, stride


class Inset:
    """An image to draw over the view: `image` (h, w, 3) uint8, top row first, each pixel a
    `scale` x `scale` square whose top-left corner is pixel (x0, y0) of the window (from its
    top-left), framed by `border` pixels of border_color. Both renderers draw it."""

    def __init__(
        self,
        image: np.ndarray,
        x0: int,
        y0: int,
        scale: int,
        border: int = BORDER,
        border_color=BORDER_COLOR,
    ):
        self.image, self.x0, self.y0, self.scale = image, x0, y0, scale
        self.border, self.border_color = border, border_color

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) [px] of the enlarged image, border excluded."""
        return self.image.shape[1] * self.scale, self.image.shape[0] * self.scale

    def quads(self) -> tuple[np.ndarray, np.ndarray]:
        """(corners (Q, 2) top-left, (Q, 2) bottom-right) [px, y down] and colours (Q, 3) in
        [0, 1] of the squares to fill: the image's pixels, then the four sides of the border
        (none overlaps another, so draw order does not matter)."""
        h, w = self.image.shape[:2]
        s, b = self.scale, self.border
        ys, xs = np.mgrid[0:h, 0:w]
        tl = np.stack([self.x0 + xs * s, self.y0 + ys * s], axis=-1).reshape(-1, 2)
        colours = self.image.reshape(-1, 3) / 255.0
        quads = [(tl, tl + s)]
        if b > 0:
            W, H = w * s, h * s
            x0, y0 = self.x0, self.y0
            sides = np.array(
                [
                    [x0 - b, y0 - b, x0 + W + b, y0],  # top
                    [x0 - b, y0 + H, x0 + W + b, y0 + H + b],  # bottom
                    [x0 - b, y0, x0, y0 + H],  # left
                    [x0 + W, y0, x0 + W + b, y0 + H],
                ],
                float,
            )  # right
            quads.append((sides[:, :2], sides[:, 2:]))
            colours = np.concatenate([colours, np.tile(self.border_color, (4, 1))])
        top_left = np.concatenate([q[0] for q in quads]).astype(float)
        bottom_right = np.concatenate([q[1] for q in quads]).astype(float)
        return top_left, bottom_right, colours

    def paste(self, frame: np.ndarray) -> np.ndarray:
        """The inset painted into a copy of `frame` (H, W, 3), top row first: uint8, or floats
        in [0, 1]. The ti.GUI fallback draws it this way; tests compare GGUI's frames with it."""
        out = frame.copy()
        tl, br, colours = self.quads()
        if out.dtype == np.uint8:
            colours = (np.clip(colours, 0, 1) * 255 + 0.5).astype(np.uint8)
        H, W = out.shape[:2]
        for (x0, y0), (x1, y1), c in zip(tl.astype(int), br.astype(int), colours):
            out[max(y0, 0) : min(y1, H), max(x0, 0) : min(x1, W)] = c
        return out


class CameraFeed:
    """The images camera `name` of the trajectory's robot takes, rendered on demand (and
    cached) from the recorded or live poses: image(k, world) for one sample, frames(world)
    for all of them, inset(k, world, width, height) to draw in a window of that size."""

    def __init__(self, traj: Trajectory, name: str, chunk: int = 32):
        from ..vision.images import PoseRenderer

        check_camera(traj, name)
        self.traj, self.name = traj, name
        self.renderer = PoseRenderer(traj.robot, name, chunk=chunk, com_offset=traj.com_offset[0])
        self.width, self.height = self.renderer.width, self.renderer.height
        self._cache: OrderedDict = OrderedDict()

    def image(self, k: int, world: int) -> np.ndarray:
        """(H, W, 3) uint8 camera image of sample k of `world`."""
        from ..vision.images import to_uint8

        key = (int(k), int(world))
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        t = self.traj
        self.renderer.set_com_offset(t.com_offset[world])
        img = to_uint8(self.renderer.render(t.pos[k : k + 1, world], t.quat[k : k + 1, world])[0])
        self._cache[key] = img
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return img

    def frames(self, world: int) -> np.ndarray:
        """(T+1, H, W, 3) floats in [0, 1]: every sample of `world` (all must be ready)."""
        t = self.traj
        self.renderer.set_com_offset(t.com_offset[world])
        return self.renderer.render(t.pos[:, world], t.quat[:, world])

    def inset(self, k: int, world: int, view_w: int, view_h: int) -> Inset:
        x0, y0, scale, stride = place(self.width, self.height, view_w, view_h)
        return Inset(self.image(k, world)[::stride, ::stride], x0, y0, scale)
