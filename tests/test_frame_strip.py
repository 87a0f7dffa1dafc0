"""demos/frame_strip.py: frames a headless `tdphys view` rendered, side by side, one row per
folder."""

import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "demos"))
import frame_strip  # noqa: E402


def _frames(folder: Path, values: list[int], size=(4, 6)) -> None:
    folder.mkdir()
    for k, v in enumerate(values):
        iio.imwrite(folder / f"frame_{k:05d}.png", np.full((*size, 3), v, np.uint8))


def test_rows_are_folders_and_columns_the_frames_taken(tmp_path):
    _frames(tmp_path / "a", [0, 10, 20, 30])
    _frames(tmp_path / "b", [100, 110, 120, 130])
    out = tmp_path / "strip.png"
    assert (
        frame_strip.main(
            [
                str(tmp_path / "a"),
                str(tmp_path / "b"),
                "--take",
                "1,3",
                "--scale",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    picture = iio.imread(out)
    assert picture.shape == (2 * 2, 2 * 3, 3)  # 4 x 6 frames halved, 2 x 2 of them
    assert picture[0, 0, 0] == 10 and picture[0, 3, 0] == 30
    assert picture[2, 0, 0] == 110 and picture[2, 3, 0] == 130


def test_a_frame_past_the_end_is_named(tmp_path):
    _frames(tmp_path / "a", [0, 10])
    with pytest.raises(SystemExit, match="no frame 5 \\(it holds 2\\)"):
        frame_strip.main([str(tmp_path / "a"), "--take", "0,5", "--out", str(tmp_path / "s.png")])
