"""A picture of a rollout: frames that `tdphys view --headless --out DIR/` rendered, side by
side, one row per folder (the README's picture, docs/media/README.md):

    tdphys view runs/quadruped_gait --headless --out frames/gait/ --fps 10 --no-panel
    python demos/frame_strip.py frames/gait/ --take 0,5,10,15,20 --out strip.png

--take picks frames by index (with --fps 10, frame k shows t = k / 10 s); rows need the same
frame size and count. --scale shrinks every frame (nearest pixel, to keep the file small).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np


def strip(folders: list[Path], take: list[int], scale: int = 1) -> np.ndarray:
    """(rows * H, len(take) * W, 3) uint8: row r holds frames `take` of folders[r]."""
    rows = []
    for folder in folders:
        frames = sorted(Path(folder).glob("frame_*.png"))
        missing = [k for k in take if k >= len(frames)]
        if missing:
            raise SystemExit(f"{folder}: no frame {missing[0]} (it holds {len(frames)})")
        rows.append(
            np.concatenate([iio.imread(frames[k])[::scale, ::scale, :3] for k in take], axis=1)
        )
    if len({r.shape for r in rows}) > 1:
        raise SystemExit("the folders' frames differ in size: render them with the same --size")
    return np.concatenate(rows, axis=0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="+", help="frame folders, one row each")
    p.add_argument("--take", required=True, help="frame indices, e.g. 0,5,10,15,20")
    p.add_argument("--scale", type=int, default=1, help="keep every SCALE-th pixel")
    p.add_argument("--out", required=True, help="the picture (.png)")
    args = p.parse_args(argv)
    take = [int(k) for k in args.take.split(",")]
    iio.imwrite(args.out, strip([Path(f) for f in args.folders], take, max(1, args.scale)))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
