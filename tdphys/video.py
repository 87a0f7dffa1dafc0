"""Write rendered frames ((H, W, 3) uint8, top row first) to a video or a folder of PNGs.

FILE.mp4 goes through imageio's ffmpeg plugin (H.264, yuv420p, so width and height must be
even), FILE.gif through imageio's GIF writer (Pillow), and DIR/ (a path ending in a separator,
or an existing folder) receives frame_00000.png, frame_00001.png, ...
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import ViewerError

KINDS = ("mp4", "gif", "dir")


def output_kind(out: str) -> str:
    """'mp4', 'gif' or 'dir' for an --out path; ViewerError for anything else."""
    if out.endswith(("/", os.sep)) or Path(out).is_dir():
        return "dir"
    suffix = Path(out).suffix.lower()
    if suffix in (".mp4", ".gif"):
        return suffix[1:]
    raise ViewerError(
        f"{out}: unknown video type '{suffix or 'none'}'\n  fix: end --out with "
        ".mp4 or .gif, or with / for a folder of PNG frames"
    )


def check_size(kind: str, width: int, height: int) -> None:
    if kind == "mp4" and (width % 2 or height % 2):
        raise ViewerError(
            f"an mp4 needs an even width and height, got {width}x{height}\n"
            "  fix: choose an even --size such as 640x480"
        )


class FrameWriter:
    """Context manager: `write(frame)` each (H, W, 3) uint8 frame at `fps` frames/s."""

    def __init__(self, out: str, fps: float):
        # absolute, so a later change of working directory (render_ggui does one) is harmless
        self.kind, self.out, self.fps = output_kind(out), os.path.abspath(out), float(fps)
        self.count = 0
        self._writer = None
        self._gif_frames: list = []

    def __enter__(self):
        import imageio.v2 as imageio

        self._imageio = imageio
        if self.kind == "dir":
            Path(self.out).mkdir(parents=True, exist_ok=True)
        else:
            parent = Path(self.out).resolve().parent
            if not parent.is_dir():
                raise ViewerError(
                    f"{self.out}: folder {parent} does not exist\n  fix: create "
                    "it or write somewhere else"
                )
        if self.kind == "mp4":
            try:
                self._writer = imageio.get_writer(
                    self.out,
                    format="FFMPEG",
                    mode="I",
                    fps=self.fps,
                    codec="libx264",
                    pixelformat="yuv420p",
                    macro_block_size=1,
                    quality=7,
                )
            except (ImportError, RuntimeError) as exc:
                raise ViewerError(
                    f"{self.out}: cannot start the mp4 writer ({exc})\n  fix: pip "
                    "install imageio-ffmpeg, or write a .gif or a folder"
                ) from None
        return self

    def write(self, frame: np.ndarray) -> None:
        frame = np.ascontiguousarray(frame, np.uint8)
        if self.kind == "mp4":
            self._writer.append_data(frame)
        elif self.kind == "gif":
            self._gif_frames.append(frame)
        else:
            self._imageio.imwrite(Path(self.out) / f"frame_{self.count:05d}.png", frame)
        self.count += 1

    def __exit__(self, *exc_info):
        if self.kind == "mp4" and self._writer is not None:
            self._writer.close()
        elif self.kind == "gif" and self._gif_frames and exc_info[0] is None:
            # duration per frame in ms; loop=0 repeats forever
            self._imageio.mimsave(
                self.out, self._gif_frames, format="GIF", duration=1000.0 / self.fps, loop=0
            )
        return False
