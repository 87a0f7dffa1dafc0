"""Saving camera images and showing them in the viewer: PNG per step, mp4 and gif
from tdphys.vision.images.save_images; frames_from_trajectory re-renders a recording exactly
as the Renderer rendered the rollout; `tdphys view --camera NAME` draws the camera's image in
the top-right corner of the 3D view (ti.GUI fallback everywhere, GGUI where a Vulkan device
exists) and `--camera-out` saves it per step; bad camera options exit 2 with a fix.

The scene: the cart-pendulum (robots/cart_pendulum.yaml, camera `front`, 72 x 24 px) plus an
`onboard` camera mounted on the cart, two worlds pushed in opposite directions for 6 steps.
"""

import dataclasses
import math
import os

import imageio.v2 as imageio
import numpy as np
import pytest

from tdphys.cli import main
from tdphys.vision.images import auto_scale, output_kind, save_images, upscale
from tdphys.viewer.camera_feed import Inset, place
from tdphys.viewer.playback import Playback, ViewState, handle_key

from test_viewer import needs_vulkan, view, vulkan_device, write_fall  # noqa: F401

pytestmark = pytest.mark.taichi_per_module  # module-scoped fixtures hold fields

STEPS = 6
SIZE = (320, 240)


def _frames(n=5, h=24, w=72, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, h, w, 3))


# ---------------------------------------------------------------- files (numpy, imageio)
def test_png_per_step_is_upscaled_losslessly(tmp_path):
    frames = _frames()
    assert auto_scale(24, 72) == 4  # 288 x 96: visible
    assert save_images(frames, f"{tmp_path}/cam/") == 5
    files = sorted(os.listdir(tmp_path / "cam"))
    assert files == [f"frame_{i:05d}.png" for i in range(5)]
    expected = upscale((frames * 255 + 0.5).astype(np.uint8), 4)
    for i, name in enumerate(files):
        img = imageio.imread(tmp_path / "cam" / name)
        assert img.shape == (96, 288, 3)
        np.testing.assert_array_equal(img, expected[i])
        np.testing.assert_array_equal(img[::4, ::4], expected[i][::4, ::4])
    assert output_kind(tmp_path / "cam") == "dir"  # an existing folder
    assert save_images(frames[:2], tmp_path / "cam", scale=1) == 2
    assert imageio.imread(tmp_path / "cam" / "frame_00001.png").shape == (24, 72, 3)


def test_mp4_and_gif(tmp_path):
    frames = _frames(n=6)
    assert save_images(frames, tmp_path / "a" / "cam.mp4", fps=25, scale=3) == 6
    reader = imageio.get_reader(tmp_path / "a" / "cam.mp4")
    assert reader.count_frames() == 6
    assert reader.get_meta_data()["size"] == (216, 72)
    assert reader.get_meta_data()["fps"] == pytest.approx(25)
    save_images(_frames(n=2, h=5, w=7), tmp_path / "odd.mp4", scale=1)  # padded to even
    assert imageio.get_reader(tmp_path / "odd.mp4").get_meta_data()["size"] == (8, 6)
    save_images(frames, tmp_path / "cam.gif", fps=10, scale=2)
    gif = imageio.mimread(tmp_path / "cam.gif")
    assert len(gif) == 6 and gif[0].shape[:2] == (48, 144)


def test_bad_paths_and_shapes_say_how_to_fix_them(tmp_path):
    with pytest.raises(ValueError, match=r"(?s)'\.avi'.*fix: end it with /"):
        save_images(_frames(), tmp_path / "cam.avi")
    with pytest.raises(ValueError, match=r"images\(\)\[:, 0\]"):
        save_images(np.zeros((3, 2, 24, 72, 3)), f"{tmp_path}/cam/")
    with pytest.raises(ValueError, match="scale"):
        save_images(_frames(), f"{tmp_path}/cam/", scale=0)


# ------------------------------------------------------------- rendering (Taichi, in process)
@pytest.fixture(scope="module")
def rollout(backend64, robots_dir, tmp_path_factory):
    """(robot, sim, {camera: images (T+1, B, H, W, 3)}, npz path) of the cart-pendulum."""
    import tdphys
    from tdphys.model.schema import Camera
    from tdphys.vision import Renderer

    robot = tdphys.load(robots_dir / "cart_pendulum.yaml")
    c, s = math.cos(math.pi / 4), math.sin(math.pi / 4)  # looking along the body's +y
    onboard = Camera(
        name="onboard",
        body="cart",
        pos=(0.3, -1.5, 0.1),
        quat=(c, s, 0.0, 0.0),
        fov=math.radians(60),
        width=32,
        height=20,
        softness=0.5,
    )
    robot = dataclasses.replace(robot, cameras=tuple(robot.cameras) + (onboard,))
    sim = tdphys.Simulation(robot, batch=2, steps=STEPS)
    sim.set_controls(np.stack([np.full((STEPS, 1), 3.0), np.full((STEPS, 1), -2.0)], axis=1))
    cams = {name: Renderer(sim, name) for name in ("front", "onboard")}
    sim.rollout()
    images = {}
    for name, cam in cams.items():
        cam.render_all()
        images[name] = cam.images()
    npz = tmp_path_factory.mktemp("camera") / "traj.npz"
    np.savez(
        npz,
        **sim.trajectory(),
        robot_path=str(robots_dir / "cart_pendulum.yaml"),
        robot_yaml=(robots_dir / "cart_pendulum.yaml").read_text(),
        com_offset=sim.model.com.to_numpy(),
    )
    return robot, sim, images, npz


@pytest.mark.slow
def test_frames_from_trajectory_equal_the_rollouts_images(rollout):
    """Writing the recorded poses back and rendering gives the very same images, for a
    camera fixed in the world and one riding on the cart, in either world."""
    from tdphys.vision.images import frames_from_trajectory

    robot, sim, images, npz = rollout
    traj = dict(sim.trajectory(), com_offset=sim.model.com.to_numpy())
    front = images["front"]
    assert np.abs(front[-1, 0] - front[-1, 1]).max() > 0.1  # the worlds differ
    assert np.abs(front[0, 0] - front[-1, 0]).max() > 0.1  # and move
    for name, world in (("front", 1), ("onboard", 0)):
        got = frames_from_trajectory(robot, traj, name, world=world, chunk=4)  # 2 chunks
        assert got.shape == images[name][:, world].shape
        # bitwise on CPU; on CUDA 0.65% of the values differ by 1 ulp (1.1e-16, measured
        # on an H200 in f64): its parallel sums need not add in the same order twice
        np.testing.assert_allclose(got, images[name][:, world], rtol=0, atol=1e-14)
    # without com_offset the offsets come from the robot's shapes: equal up to rounding
    del traj["com_offset"]
    got = frames_from_trajectory(robot, traj, "front", world=0)
    np.testing.assert_allclose(got, front[:, 0], atol=1e-12)
    with pytest.raises(KeyError, match="front, onboard"):
        frames_from_trajectory(robot, traj, "back")
    with pytest.raises(ValueError, match="2 world"):
        frames_from_trajectory(robot, traj, "front", world=2)


def _check_view_frames(tmp_path, rollout, env):
    """`tdphys view NPZ --headless --camera front --camera-out`: the camera images are the
    rollout's (rendered in f32 here), and each video frame shows them, enlarged, in the
    top-right corner exactly as Inset.paste puts them; the rest of the frame is the 3D view."""
    _, _, images, npz = rollout
    r = view(
        npz,
        "--headless",
        "--out",
        f"{tmp_path}/frames/",
        "--size",
        "x".join(map(str, SIZE)),
        "--fps",
        "50",
        "--world",
        "1",
        "--camera",
        "front",
        "--camera-out",
        f"{tmp_path}/cam/",
        "--camera-scale",
        "1",
        "--no-panel",
        env=env,
    )
    assert r.returncode == 0, r.stderr
    assert "camera images (front, world 1), 72x24 px" in r.stdout
    frames, cams = (sorted(os.listdir(tmp_path / d)) for d in ("frames", "cam"))
    assert len(frames) == len(cams) == STEPS + 1  # fps 50 = one frame per step
    x0, y0, scale, stride = place(72, 24, *SIZE)
    assert (scale, stride) == (2, 1) and x0 + 144 + 2 + 10 == SIZE[0] and y0 == 12
    for k in range(STEPS + 1):
        cam = imageio.imread(tmp_path / "cam" / cams[k])
        assert cam.shape == (24, 72, 3)
        assert np.abs(cam / 255.0 - images["front"][k, 1]).mean() < 2e-3  # f32 vs f64
        frame = imageio.imread(tmp_path / "frames" / frames[k])
        expected = Inset(cam, x0, y0, scale).paste(frame)
        box = (slice(y0 - 2, y0 + 24 * scale + 2), slice(x0 - 2, x0 + 72 * scale + 2))
        assert np.abs(frame[box].astype(int) - expected[box]).max() <= 1
        assert (
            np.abs(
                frame[box].astype(int) - Inset(cam, x0, y0, scale).paste(np.zeros_like(frame))[box]
            ).max()
            <= 1
        )
        assert frame[SIZE[1] // 2 :].std() > 5  # the 3D scene below it
    return frames


def test_view_shows_the_camera_with_the_fallback(tmp_path, rollout):
    _check_view_frames(tmp_path, rollout, env={"TDPHYS_NO_VULKAN": "1"})


@needs_vulkan
def test_view_shows_the_camera_with_ggui(tmp_path, rollout):
    _check_view_frames(tmp_path, rollout, env=None)


# ------------------------------------------------------------------- options (no Taichi)
def test_bad_camera_options_exit_2_with_a_fix(tmp_path, capsys, rollout):
    _, _, _, npz = rollout

    def run(*args):
        code = main(["view", *map(str, args)])
        return code, capsys.readouterr().err

    out = ("--headless", "--out", tmp_path / "v.gif")
    code, err = run(npz, "--camera", "back", *out)
    assert code == 2 and "no such camera" in err and "fix: use one of front" in err
    ball = write_fall(tmp_path / "fall.npz")
    code, err = run(ball, "--camera", "front", *out)
    assert code == 2 and "has no cameras" in err and "cameras:" in err
    code, err = run(npz, "--camera-out", f"{tmp_path}/cam/")
    assert code == 2 and "--camera-out needs --camera" in err
    code, err = run(npz, "--camera", "front", "--camera-out", tmp_path / "cam.avi")
    assert code == 2 and ".mp4 or .gif" in err
    with pytest.raises(SystemExit) as exit_:  # refused where argparse reads it
        run(npz, "--camera", "front", "--camera-out", f"{tmp_path}/c/", "--camera-scale", "0")
    assert exit_.value.code == 2 and "whole number from 1" in capsys.readouterr().err


def test_camera_key_and_corner_layout():
    view_state, pb = ViewState(1, 2), Playback(np.arange(3) * 0.1)
    assert view_state.camera
    assert handle_key("v", pb, view_state) == "camera" and not view_state.camera
    # the enlargement fits the corner; a camera bigger than the corner is subsampled
    assert place(72, 24, 960, 720)[2:] == (6, 1)
    assert place(640, 480, 320, 240)[2:] == (1, 5)
    inset = Inset(np.full((2, 3, 3), 255, np.uint8), 10, 20, 4)  # 12 x 8 px at (10, 20)
    painted = inset.paste(np.zeros((60, 40, 3), np.uint8))
    assert (painted[20:28, 10:22] == 255).all()
    frame = np.ones((60, 40), bool)
    frame[18:30, 8:24], frame[20:28, 10:22] = False, True
    assert (painted[~frame] == [31, 31, 36]).all()  # the 2 px border
    assert not painted[frame & (painted.sum(-1) < 255 * 3)].any()  # nothing else touched
