"""`tdphys view`: meshes, camera, playback and error messages in-process (numpy only); the
rendering itself in subprocesses, because GGUI wants its own Taichi runtime while the suite
holds a CPU f64 one. GGUI tests skip, saying why, where no Vulkan device exists; the ti.GUI
fallback is tested everywhere (it needs no Vulkan).

The known scene: a red sphere (radius 0.25 m) dropped from z = 1 m, written as an npz the way
`tdphys simulate` writes it, with the robot's YAML text inside and a robot_path that no longer
exists (so it must replay from the stored text).
"""

import os
import subprocess
import sys
from pathlib import Path
from functools import lru_cache

import imageio.v2 as imageio
import numpy as np
import pytest

from tdphys.cli import main
from tdphys.model import parse_robot
from tdphys.viewer import meshes
from tdphys.viewer.camera import OrbitCamera
from tdphys.viewer.playback import Playback, ViewState, handle_key, headless_times
from tdphys.viewer.scene import SceneBuilder
from tdphys.model.mass import com_offsets
from tdphys.viewer.sources import Trajectory, load_recording

RED_BALL = """name: redball
bodies:
  - name: ball
    pos: [0, 0, 1.0]
    shapes:
      - {type: sphere, radius: 0.25, color: [1, 0, 0]}
"""
DT, STEPS = 0.02, 60
W, H = 160, 120


def write_fall(path, robot_path="/moved/away/redball.yaml"):
    """The red ball falling freely from z = 1 m onto the ground (rests at z = 0.25 m)."""
    t = np.arange(STEPS + 1) * DT
    pos = np.zeros((STEPS + 1, 1, 1, 3))
    pos[..., 2] = np.maximum(1.0 - 0.5 * 9.81 * t**2, 0.25)[:, None, None]
    quat = np.zeros((STEPS + 1, 1, 1, 4))
    quat[..., 0] = 1.0
    zeros = np.zeros((STEPS + 1, 1, 0))
    np.savez(
        path,
        t=t,
        body_names=np.array(["ball"]),
        motor_names=np.array([], str),
        pos=pos,
        quat=quat,
        vel=np.zeros_like(pos),
        omega=np.zeros_like(pos),
        joint_pos=zeros,
        joint_vel=zeros,
        robot_path=robot_path,
        robot_yaml=RED_BALL,
    )
    return path


def view(*args, env=None, cwd=None, timeout=240):
    """Run `tdphys view ARGS` in a fresh process; returns the CompletedProcess."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "tdphys.cli", "view", *map(str, args)],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
    )


@lru_cache(maxsize=1)
def vulkan_device() -> bool:
    code = (
        "import sys, taichi as ti\nsys.exit(0 if ti.lang.misc.is_arch_supported(ti.vulkan) else 1)"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


needs_vulkan = pytest.mark.skipif(
    "not vulkan_device()",
    reason="no Vulkan device here, so GGUI cannot render (install "
    "mesa-vulkan-drivers and libvulkan1 for the software one); the ti.GUI fallback is still tested",
)


def red_mask(img):
    """Red pixels, lit or in the sphere's own shade (where even red is dark)."""
    img = img.astype(int)
    return (img[..., 0] > 40) & (img[..., 0] > 2 * np.maximum(img[..., 1], img[..., 2]) + 20)


def expected_pixels(npz, times):
    """Where the camera the viewer picks for `npz` puts the ball's centre at each time [s]:
    (pixels (n, 2) x right / y down, sample indices)."""
    traj = load_recording(npz)
    builder, camera = SceneBuilder(traj), OrbitCamera()
    builder.frame_camera(camera, ViewState(1, 1), traj.ready - 1)
    k = np.array([traj.frame_at(t) for t in times])
    px, _ = camera.project(traj.pos[k, 0, 0], W, H)
    return px, k


def check_ball_frames(folder, npz, fps, tol_px):
    """The PNG frames show the red ball where the projection puts it, moving as it falls."""
    times = headless_times(STEPS * DT, fps)
    files = sorted(os.listdir(folder))
    assert len(files) == len(times)
    px, k = expected_pixels(npz, times)
    centroids = []
    for name in files:
        img = imageio.imread(folder / name)
        assert img.shape == (H, W, 3)
        ys, xs = np.nonzero(red_mask(img))
        assert len(xs) > 30, f"{name}: no red sphere"
        centroids.append((xs.mean(), ys.mean()))
    centroids = np.array(centroids)
    np.testing.assert_allclose(centroids, px, atol=tol_px)
    first, last = imageio.imread(folder / files[0]), imageio.imread(folder / files[-1])
    x, y = np.round(px[0]).astype(int)
    assert red_mask(first)[y, x] and not red_mask(last)[y, x]  # it left where it was
    assert centroids[-1, 1] > centroids[0, 1] + 10  # and went down the image
    assert not red_mask(first)[:5].any() and not red_mask(first)[:, :5].any()


# ------------------------------------------------------------------------ numpy, in process
def test_meshes_are_closed_outward_and_sized():
    for v, n, f, extent in (
        meshes.sphere(0.3) + ([0.3, 0.3, 0.3],),
        meshes.capsule(0.1, 0.4) + ([0.1, 0.1, 0.5],),
        meshes.box([0.1, 0.2, 0.3]) + ([0.1, 0.2, 0.3],),
        meshes.cylinder(0.2, 0.4) + ([0.2, 0.2, 0.4],),
    ):
        np.testing.assert_allclose(np.abs(v).max(0), extent, atol=1e-9)
        np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0, atol=1e-9)
        a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
        area = np.cross(b - a, c - a)
        big = np.linalg.norm(area, axis=1) > 1e-12  # the poles have empty triangles
        assert (np.einsum("ij,ij->i", area[big], (a + b + c)[big]) > 0).all()
    robot = parse_robot(
        "bodies:\n - name: b\n   shapes:\n    - {type: capsule, radius: 0.1, "
        "fromto: [0, 0, 0, 1, 0, 0], color: [0, 1, 0]}\n",
        "inline.yaml",
    )
    m = meshes.robot_mesh(robot).mesh
    np.testing.assert_allclose(m.verts.min(0), [-0.1, -0.1, -0.1], atol=1e-6)
    np.testing.assert_allclose(m.verts.max(0), [1.1, 0.1, 0.1], atol=1e-6)
    assert (m.colors == [0, 1, 0]).all()


def test_a_cylinder_mesh_has_flat_ends_and_its_volume():
    """The side's normals are radial, each end is a flat disc facing out along the axis, and
    the closed mesh holds about pi r^2 2 h (the inscribed 24-gon's share of the circle)."""
    v, n, f = meshes.cylinder(0.2, 0.4)
    ends = np.abs(n[:, 2]) > 0.5
    np.testing.assert_allclose(np.abs(v[ends, 2]), 0.4)
    np.testing.assert_allclose(n[ends, 2], np.sign(v[ends, 2]))
    np.testing.assert_allclose(n[~ends, :2], v[~ends, :2] / 0.2, atol=1e-12)
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    volume = np.einsum("ij,ij->i", np.cross(b - a, c - a), a).sum() / 6.0
    polygon = 0.5 * 24 * np.sin(2 * np.pi / 24) / np.pi  # area of the 24-gon over the circle's
    assert volume == pytest.approx(np.pi * 0.2**2 * 0.8 * polygon, rel=1e-9)


def test_camera_projection_centres_the_target_and_keeps_orientation():
    cam = OrbitCamera(target=np.array([1.0, 2.0, 0.5]), distance=5.0, yaw=0.3, pitch=0.4)
    px, depth = cam.project(cam.target, 200, 100)
    np.testing.assert_allclose(px, [100, 50], atol=1e-9)
    assert depth == pytest.approx(5.0)
    right, up, _ = cam.basis()
    assert cam.project(cam.target + 0.1 * right, 200, 100)[0][0] > 100
    assert cam.project(cam.target + 0.1 * up, 200, 100)[0][1] < 50
    cam.orbit(0.1, 0.0)
    assert np.linalg.norm(cam.eye() - cam.target) == pytest.approx(5.0)


def test_keys_drive_playback_and_view():
    pb = Playback(np.arange(11) * 0.1)
    view = ViewState(n_worlds=3, n_bodies=2)
    pb.advance(0.35)
    assert pb.index() == 3
    handle_key(" ", pb, view)
    pb.advance(1.0)
    assert pb.paused and pb.index() == 3
    handle_key("Right", pb, view)
    handle_key("Right", pb, view)
    handle_key("Left", pb, view)
    assert pb.index() == 4
    handle_key("Up", pb, view)
    assert pb.speed == 2.0
    handle_key("Down", pb, view)
    handle_key("Down", pb, view)
    assert pb.speed == 0.5
    handle_key("r", pb, view)
    assert pb.time == 0.0
    handle_key("a", pb, view)
    assert view.worlds() == [0, 1, 2]
    handle_key("a", pb, view)
    handle_key("n", pb, view)
    assert view.worlds() == [1]
    for expected in (0, 1, None):
        handle_key("f", pb, view)
        assert view.follow == expected
    handle_key("j", pb, view)
    handle_key("Escape", pb, view)
    assert view.joints and view.quit
    handle_key(" ", pb, view)
    pb.advance(100.0)  # holds at the end unless looping
    assert pb.index() == 10
    assert len(headless_times(1.0, 30)) == 31 and len(headless_times(1.0, 30, speed=2)) == 16


def test_com_offsets_match_the_engine(backend64, robots_dir):
    import tdphys

    robot = tdphys.load(robots_dir / "arm.yaml")  # shapes off their body frames' origins
    sim = tdphys.Simulation(robot, batch=1, steps=1)
    sim.start()
    assert np.abs(com_offsets(robot)).max() > 0.1
    np.testing.assert_allclose(com_offsets(robot), sim.model.com.to_numpy()[0], atol=1e-12)


def test_bad_input_gets_a_message_and_a_hint(tmp_path, capsys, monkeypatch):
    def run(*args):
        code = main(["view", *map(str, args)])
        return code, capsys.readouterr().err

    code, err = run(tmp_path / "nothing.yaml", "--headless", "--out", tmp_path / "a.mp4")
    assert code == 2 and "no such file" in err and "fix:" in err
    code, err = run(tmp_path, "--headless", "--out", tmp_path / "a.mp4")
    assert code == 2 and "trajectory.npz" in err and "fix:" in err
    npz = write_fall(tmp_path / "fall.npz")
    data = dict(np.load(npz))
    del data["robot_yaml"]
    np.savez(tmp_path / "bare.npz", **data)
    code, err = run(tmp_path / "bare.npz", "--headless", "--out", tmp_path / "a.gif")
    assert code == 2 and "--robot" in err and "/moved/away/redball.yaml" in err
    code, err = run(npz, "--headless")
    assert code == 2 and "--headless needs --out" in err
    code, err = run(npz, "--headless", "--out", tmp_path / "a.avi")
    assert code == 2 and ".mp4 or .gif" in err
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code, err = run(npz)
    assert code == 2 and "no display" in err and "--headless --out" in err
    code, err = run(tmp_path / "missing.npz")  # the input is checked first
    assert code == 2 and "no such file" in err


# A cylinder standing on a plane of the world tilted by 10 degrees about y (its drawn half
# sizes {size}: 0 unbounded), a ball resting on a world box; no ground, no gravity.
TILT = np.radians(10.0)
UP = np.array([np.sin(TILT), 0.0, np.cos(TILT)])  # the plane's normal
CAN = 0.15 * UP  # the cylinder's centre: its lower end on the plane
FIXED_SHAPES = """name: fixed
world:
  shapes:
    - {{type: plane, size: [{size[0]}, {size[1]}], euler: [0, 10, 0], color: [0.25, 0.45, 0.95]}}
    - {{type: box, size: [0.2, 0.2, 0.2], pos: [1.2, 0.8, 0.2], color: [0.1, 0.8, 0.2]}}
ground: {{enabled: false}}
solver: {{gravity: [0, 0, 0]}}
bodies:
  - name: can
    pos: [{can[0]:.12f}, 0, {can[2]:.12f}]
    euler: [0, 10, 0]
    shapes: [{{type: cylinder, radius: 0.25, half_length: 0.15, color: [0.95, 0.75, 0.1]}}]
  - name: ball
    pos: [1.2, 0.8, 0.5]
    shapes: [{{type: sphere, radius: 0.1, color: [0.9, 0.1, 0.1]}}]
"""


def fixed_shapes(size=(0.0, 0.0)) -> str:
    return FIXED_SHAPES.format(size=size, can=CAN)


def still(robot, worlds=1, samples=2):
    """A Trajectory of `robot` holding its initial poses (each body's shapes centred on its
    frame origin, so its COM is there)."""
    pos = np.array([b.pos for b in robot.bodies], float)
    quat = np.array([b.quat for b in robot.bodies], float)
    return Trajectory(
        robot,
        np.arange(samples) * DT,
        np.broadcast_to(pos, (samples, worlds) + pos.shape),
        np.broadcast_to(quat, (samples, worlds) + quat.shape),
    )


def test_the_worlds_shapes_stay_put_and_take_planes_shadows_and_contacts():
    """Two worlds side by side: the world box is drawn at its fixed pose plus each world's
    display shift, whatever the bodies do (shape_body -1 read as a body index would move it
    with the last body); the unbounded tilted plane stands in for the ground (no
    checkerboard), tiled in its own plane, and takes the shadows; the contact overlay puts
    the cylinder's rim points on the plane along its normal and the ball's point on the box's
    top, pointing up."""
    robot = parse_robot(fixed_shapes(), "fixed.yaml")
    traj = still(robot, worlds=2)
    builder = SceneBuilder(traj)
    assert (builder.mesh.vertex_body == -1).sum() == 24  # the box: 4 vertices a face
    view = ViewState(2, 2)
    view.contacts = True
    handle_key("a", Playback(traj.t), view)  # all worlds
    camera = OrbitCamera()
    builder.frame_camera(camera, view, 1)
    frame = builder.build(0, view, camera)
    offsets = builder.world_offsets
    assert np.abs(offsets[1] - offsets[0]).max() > 0.1
    verts = frame.robot.verts.reshape(2, -1, 3)
    box = builder.mesh.vertex_body == -1
    for w in range(2):
        lo, hi = verts[w, box].min(0), verts[w, box].max(0)
        np.testing.assert_allclose(lo, np.array([1.0, 0.6, 0.0]) + offsets[w], atol=1e-6)
        np.testing.assert_allclose(hi, np.array([1.4, 1.0, 0.4]) + offsets[w], atol=1e-6)
    # the last body spun round: the box stays
    origin, rot = traj.body_frames(0)
    rot = rot.copy()
    rot[:, -1] = [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    moved, _ = builder.mesh.place(origin, rot)
    still_box, _ = builder.mesh.place(*traj.body_frames(0))
    np.testing.assert_array_equal(moved[:, box], still_box[:, box])
    # the ground is the plane's tiles, one set per world, in the tilted plane
    ground = frame.ground.verts.reshape(2, -1, 3).astype(float)
    for w in range(2):
        np.testing.assert_allclose((ground[w] - offsets[w]) @ UP, 0.0, atol=1e-5)
    np.testing.assert_allclose(
        frame.ground.normals, np.tile(UP, (len(frame.ground.verts), 1)), atol=1e-6
    )
    assert np.ptp(ground[0] @ [1.0, 0.0, 0.0]) > 5 * builder.size  # drawn large
    # the shadows lie on the plane, just above it
    shadow = frame.shadow_verts.reshape(2, -1, 3).astype(float)
    for w in range(2):
        height = (shadow[w] - offsets[w]) @ UP
        assert np.all((height > 0) & (height < 0.01))
    # contacts from the geometry (the trajectory has no engine contacts), world after world
    tips = frame.lines[:, 1] - frame.lines[:, 0]
    normals = (tips / np.linalg.norm(tips, axis=1, keepdims=True)).reshape(2, -1, 3)
    points = frame.points.astype(float).reshape(2, -1, 3)
    for w in range(2):
        mine, up = points[w] - offsets[w], normals[w]
        flat = np.abs(mine @ UP) < 1e-6
        assert flat.sum() >= 3  # the lower end's rim rests on the plane
        np.testing.assert_allclose(up[flat], np.tile(UP, (flat.sum(), 1)), atol=1e-6)
        np.testing.assert_allclose(mine[~flat], [[1.2, 0.8, 0.4]], atol=1e-9)
        np.testing.assert_allclose(up[~flat], [[0.0, 0.0, 1.0]], atol=1e-9)


# --------------------------------------------------------------------- rendering, processes
@needs_vulkan
def test_ggui_draws_the_red_ball_where_the_camera_projects_it(tmp_path):
    npz = write_fall(tmp_path / "fall.npz")
    r = view(
        "fall.npz",
        "--headless",
        "--out",
        "frames/",
        "--size",
        f"{W}x{H}",
        "--fps",
        "10",
        "--no-panel",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert "(ggui)" in r.stdout
    check_ball_frames(tmp_path / "frames", npz, fps=10, tol_px=2.0)
    assert sorted(os.listdir(tmp_path)) == ["fall.npz", "frames"]  # no imgui.ini left


@needs_vulkan
def test_video_has_the_expected_frames_and_size(tmp_path):
    npz = write_fall(tmp_path / "fall.npz")
    r = view(
        npz,
        "--headless",
        "--out",
        tmp_path / "fall.mp4",
        "--size",
        f"{W}x{H}",
        "--fps",
        "20",
        "--speed",
        "0.5",
        "--contacts",
        "--path",
    )
    assert r.returncode == 0, r.stderr
    reader = imageio.get_reader(tmp_path / "fall.mp4")
    assert reader.count_frames() == len(headless_times(STEPS * DT, 20, 0.5)) == 49
    assert reader.get_meta_data()["size"] == (W, H)
    assert reader.get_meta_data()["fps"] == pytest.approx(20)


def test_fallback_without_vulkan_draws_the_same_scene(tmp_path):
    """No Vulkan device at all (the loader finds no driver): ti.GUI draws, and says so."""
    npz = write_fall(tmp_path / "fall.npz")
    out = tmp_path / "frames"
    r = view(
        npz,
        "--headless",
        "--out",
        f"{out}/",
        "--size",
        f"{W}x{H}",
        "--fps",
        "10",
        "--no-panel",
        env={"VK_ICD_FILENAMES": str(tmp_path / "no_driver.json")},
    )
    assert r.returncode == 0, r.stderr
    assert "no Vulkan device found; falling back to ti.GUI" in r.stderr
    assert "(gui)" in r.stdout
    check_ball_frames(out, npz, fps=10, tol_px=2.0)


def test_forced_fallback_renders_a_run_folder_to_gif(tmp_path):
    write_fall(tmp_path / "trajectory.npz")
    r = view(
        tmp_path,
        "--headless",
        "--out",
        tmp_path / "run.gif",
        "--size",
        "96x72",
        "--fps",
        "5",
        env={"TDPHYS_NO_VULKAN": "1"},
    )
    assert r.returncode == 0, r.stderr
    assert "TDPHYS_NO_VULKAN is set; falling back" in r.stderr
    frames = imageio.mimread(tmp_path / "run.gif")
    assert len(frames) == len(headless_times(STEPS * DT, 5)) and frames[0].shape[:2] == (72, 96)


COLOURS = {  # (r, g, b) -> whether a pixel shows the shape, lit or in its shade
    "can": lambda r, g, b: (r > b + 80) & (g > b + 50),
    "ball": lambda r, g, b: (r > g + 80) & (r > b + 80),
    "box": lambda r, g, b: (g > r + 60) & (g > b + 60),
    "plane": lambda r, g, b: (b > r + 60) & (b > g + 30),
}


@pytest.mark.parametrize(
    "renderer",
    [pytest.param(["--fallback"], id="gui"), pytest.param([], marks=needs_vulkan, id="ggui")],
)
def test_a_cylinder_and_the_worlds_shapes_are_drawn_where_they_project(tmp_path, renderer):
    """`tdphys view` of a live robot with a cylinder standing on a bounded plane tilted by 10
    degrees and a ball on a world box: each shape's colour shows where the viewer's camera
    projects its centre, the plane's colour inside its four corners and not beyond them
    (the ground is off, so only the sky is there)."""
    size = (0.7, 0.5)
    robot_file = tmp_path / "fixed.yaml"
    robot_file.write_text(fixed_shapes(size))
    r = view(
        robot_file,
        "--headless",
        *renderer,
        "--no-panel",
        "--steps",
        "2",
        "--out",
        f"{tmp_path}/frames/",
        "--size",
        f"{W}x{H}",
        "--fps",
        "10",
    )
    assert r.returncode == 0, r.stderr
    img = imageio.imread(tmp_path / "frames" / "frame_00000.png").astype(int)
    robot = parse_robot(fixed_shapes(size), "fixed.yaml")
    traj = still(robot)
    builder, camera = SceneBuilder(traj), OrbitCamera()
    builder.frame_camera(camera, ViewState(1, 2), traj.ready - 1)
    corners = np.array([[x, y, 0.0] for x in (-1, 1) for y in (-1, 1)]) * [*size, 0.0]
    tilt = np.array([[np.cos(TILT), 0, np.sin(TILT)], [0, 1, 0], [-np.sin(TILT), 0, np.cos(TILT)]])
    places = {
        "can": [CAN],
        "ball": [[1.2, 0.8, 0.5]],
        "box": [[1.2, 0.8, 0.2]],
        "plane": 0.75 * corners[[0, 2, 3]] @ tilt.T,  # the cylinder hides the (-x, +y) one
        "beyond": 1.3 * corners @ tilt.T,
    }
    for name, points in places.items():
        px, _ = camera.project(np.asarray(points, float), W, H)
        x, y = np.round(px).astype(int).T
        shown = (x >= 0) & (x < W) & (y >= 0) & (y < H)
        if name == "beyond":  # off the canvas is fine there
            x, y = x[shown], y[shown]
            assert len(x) >= 3 and not COLOURS["plane"](*img[y, x].T).any(), img[y, x]
            continue
        assert shown.all(), name
        assert COLOURS[name](*img[y, x].T).all(), (name, img[y, x])


@pytest.mark.slow
@needs_vulkan
def test_live_robot_simulates_and_renders(tmp_path, robots_dir):
    out = tmp_path / "frames"
    r = view(
        robots_dir / "pendulum.yaml",
        "--headless",
        "--steps",
        "30",
        "--out",
        f"{out}/",
        "--size",
        "96x72",
        "--fps",
        "10",
        "--joints",
        "--path",
    )
    assert r.returncode == 0, r.stderr
    files = sorted(os.listdir(out))
    assert len(files) == len(headless_times(0.3, 10)) == 4
    first, last = (imageio.imread(out / files[i]).astype(int) for i in (0, -1))
    assert np.abs(first - last).sum(axis=-1).max() > 100  # the pendulum swung


@pytest.mark.slow
def test_contact_overlay_draws_the_engine_forces(backend64, robots_dir):
    """A resting ball: the recording carries the engine's contact point (under the ball, on
    the ground) and force (m g up, on the ball), and the contact overlay draws one dot there
    with an arrow pointing up, half the robot's size long for its weight."""
    import tdphys

    sim = tdphys.Simulation(tdphys.load(robots_dir / "ball.yaml"), batch=1, steps=30)
    sim.rollout()
    data = sim.trajectory()
    m = float(sim.model.mass.to_numpy()[0, 0])
    traj = Trajectory(
        sim.robot,
        data["t"],
        data["pos"],
        data["quat"],
        contact_pos=data["contact_pos"],
        contact_force=data["contact_force"],
    )
    f = data["contact_force"][-1, 0]
    np.testing.assert_allclose(f.sum(axis=0), [0.0, 0.0, m * 9.81], rtol=1e-3, atol=1e-6)
    builder = SceneBuilder(traj)
    view = ViewState(1, 1)
    view.contacts = True
    frame = builder.build(30, view, OrbitCamera())
    np.testing.assert_allclose(frame.points, [[0.0, 0.0, 0.0]], atol=1e-3)
    ((start, end),) = frame.lines
    np.testing.assert_allclose(end - start, [0.0, 0.0, 0.5 * builder.size], rtol=1e-3, atol=1e-6)


def test_a_live_robot_takes_vars_and_a_recording_refuses_them(tmp_path, backend64):
    """`tdphys view ROBOT.yaml --var r=0.3` reads the file with that value; a recording
    replays the vars it was made with, so --var there is an error with a fix."""
    from tdphys.errors import ViewerError
    from tdphys.viewer.sources import open_input

    robot = tmp_path / "ball.yaml"
    robot.write_text(
        "vars: {r: 0.5}\nbodies:\n  - name: ball\n    pos: [0, 0, r]\n"
        "    shapes: [{type: sphere, radius: r, ground: true}]\n"
    )
    traj = open_input(robot, steps=5, precision="f64", vars={"r": 0.3})
    assert dict(traj.robot.vars) == {"r": 0.3}
    assert traj.robot.bodies[0].shapes[0].radius == 0.3
    recording = tmp_path / "t.npz"
    np.savez(recording, t=np.zeros(1))
    with pytest.raises(ViewerError, match="--var applies to a live robot"):
        open_input(recording, vars={"r": 1.0})


@pytest.mark.slow
def test_an_mjcf_or_urdf_robot_is_simulated_and_rendered_live(tmp_path):
    """`tdphys view` reads MJCF and URDF robots as `tdphys.load` does (docs/mjcf.md): the
    project's two-link URDF swings under gravity in the rendered frames."""
    pytest.importorskip("mujoco")
    out = tmp_path / "frames"
    urdf = Path(__file__).parent / "data" / "two_link.urdf"
    r = view(urdf, "--headless", "--fallback", "--steps", "30", "--out", f"{out}/")
    assert r.returncode == 0, r.stderr
    files = sorted(os.listdir(out))
    first, last = (imageio.imread(out / files[i]).astype(int) for i in (0, -1))
    assert len(files) > 1 and np.abs(first - last).sum(axis=-1).max() > 100
