"""Image textures for the camera (docs/camera.md#textures): reading and packing (numpy only).

    rgb = read_texture("robots/textures/crate.png")   # (H, W, 3) float64 in [0, 1]
    data, info = pack_textures([rgb_a, rgb_b])        # one flat texel array for the renderer

Images are read with imageio's Pillow plugin (PNG, JPEG, BMP, GIF, TIFF, ...); the first frame
of a multi-frame file. Integer images are divided by their type's
largest value (255 for 8-bit, 65535 for 16-bit), float images are clipped to [0, 1]; an alpha
channel is dropped and a grey image becomes three equal channels.

Texel layout: row 0 is the image's top row. The renderer samples with texture coordinates
(u, v) in [0, 1]^2, u from the left edge to the right edge and v from the bottom edge to the
top edge (so that a texture on the ground seen from above, x right and y up, looks as it does
in an image viewer); texel (row r, column c) of an H x W image has its centre at
u = (c + 1/2) / W, v = 1 - (r + 1/2) / H.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def read_texture(path: str | Path) -> np.ndarray:
    """The image at `path` as float64 RGB (H, W, 3) in [0, 1]. OSError when the file is
    missing or unreadable, ValueError when it is not an image or has an unusable layout."""
    import imageio.v3 as iio

    path = Path(path)
    if not path.is_file():
        raise OSError(f"no such file: {path}")
    try:
        image = np.asarray(iio.imread(path, index=0, plugin="pillow"))
    except Exception as exc:  # OSError from Pillow's "cannot identify", plugin errors, ...
        raise ValueError("not an image Pillow can read (PNG, JPEG, BMP, GIF, TIFF, ...)") from exc
    return to_rgb(image)


def to_rgb(image) -> np.ndarray:
    """float64 RGB (H, W, 3) in [0, 1] from an image array (H, W) grey, (H, W, 1) grey,
    (H, W, 2) grey + alpha, (H, W, 3) RGB or (H, W, 4) RGBA, of any integer or float type."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if (
        image.ndim != 3
        or image.shape[2] not in (1, 2, 3, 4)
        or image.shape[0] < 1
        or image.shape[1] < 1
    ):
        raise ValueError(
            f"an image of shape {image.shape} is not a grey, grey + alpha, RGB or RGBA picture"
        )
    if image.dtype == bool:
        values = image.astype(np.float64)
    elif np.issubdtype(image.dtype, np.integer):
        values = image.astype(np.float64) / float(np.iinfo(image.dtype).max)
    elif np.issubdtype(image.dtype, np.floating):
        values = image.astype(np.float64)
    else:
        raise ValueError(f"an image of type {image.dtype} has no colours")
    if not np.all(np.isfinite(values)):
        raise ValueError("the image has NaN or infinite values")
    values = np.clip(values, 0.0, 1.0)
    if values.shape[2] in (1, 2):  # grey (+ alpha)
        values = np.repeat(values[..., :1], 3, axis=2)
    return np.ascontiguousarray(values[..., :3])


def pack_textures(images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """All textures in one flat texel array for the renderer.

    data (N, 3): the texels of every image, row by row (top row first), image after image
    (N >= 1: one black texel when there are no images). info (n_images, 3) int32: per image
    its first row in data, its height and its width; texel (r, c) of image i is
    data[info[i, 0] + r * info[i, 2] + c].
    """
    if not images:
        return np.zeros((1, 3)), np.zeros((1, 3), np.int32)
    info, offset = [], 0
    for image in images:
        h, w = image.shape[:2]
        info.append((offset, h, w))
        offset += h * w
    data = np.concatenate([np.asarray(img, np.float64).reshape(-1, 3) for img in images])
    return data, np.array(info, np.int32)


def bilinear(image: np.ndarray, u, v, clamp_u: bool = False, clamp_v: bool = False):
    """The renderer's texture lookup in numpy (for tests and tools): colour (..., 3) of
    `image` (H, W, 3) at texture coordinates (u, v) (arrays of the same shape), bilinear
    between the four nearest texel centres, repeating (default) or clamped to the edge texels
    along each direction."""
    h, w = image.shape[:2]
    x = np.asarray(u, float) * w - 0.5
    y = (1.0 - np.asarray(v, float)) * h - 0.5
    if clamp_u:
        x = np.clip(x, 0.0, w - 1.0)
    if clamp_v:
        y = np.clip(y, 0.0, h - 1.0)
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    c0, r0 = x0.astype(int) % w, y0.astype(int) % h
    c1, r1 = (c0 + 1) % w, (r0 + 1) % h
    return (1 - fy) * ((1 - fx) * image[r0, c0] + fx * image[r0, c1]) + fy * (
        (1 - fx) * image[r1, c0] + fx * image[r1, c1]
    )
