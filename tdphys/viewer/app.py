"""`tdphys view`: the interactive loop and the headless video loop.

Both turn a Trajectory (sources.py) into frames (scene.py) drawn by GGUI (render_ggui.py) or,
without a Vulkan device, by ti.GUI (render_fallback.py); the headless loop hands the frames
to tdphys/video.py, the interactive one reads keys and mouse drags (playback.py,
camera.py). With --camera NAME both draw the robot's camera image in a corner
(camera_feed.py); --camera-out saves that camera's own images, one per step
(save_camera_images).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass

import numpy as np

from .. import video
from ..errors import ViewerError
from .camera import OrbitCamera
from .camera_feed import CameraFeed, check_camera
from .playback import BINDINGS, MOUSE_HELP, Playback, ViewState, handle_key, headless_times
from .scene import SceneBuilder
from .sources import Trajectory, open_input, resolve_input

MAX_SIDE = 8192  # [pixels] the largest --size side
LIVE_BUDGET_S = 0.05  # [s] simulation time allowed per interactive frame


@dataclass
class ViewOptions:
    """Settings of `tdphys view` (see `tdphys view --help`). size: (width, height) [px];
    fps: frames per wall second of the video; speed: simulated seconds per wall second;
    world: index, or None for all worlds side by side; follow: body name or index."""

    size: tuple[int, int] = (960, 720)
    fps: float = 30.0
    speed: float = 1.0
    headless: bool = False
    out: str | None = None
    fallback: bool = False
    world: int | None = 0
    follow: str | None = None
    joints: bool = False
    contacts: bool = False
    path: bool = False
    panel: bool = True
    loop: bool = False
    robot: str | None = None
    controls: str | None = None
    batch: int = 1
    steps: int | None = None
    precision: str = "f32"
    vars: dict | None = None  # live robot: values replacing the file's `vars:`
    max_frames: int | None = None  # stop after this many frames (window or video)
    camera: str | None = None  # a camera of the robot's YAML, shown in a corner
    camera_out: str | None = None  # DIR/, FILE.mp4 or FILE.gif: that camera's images
    camera_scale: int | None = None  # enlargement of the saved camera images (None: auto)


def check_options(opt: ViewOptions, source: str) -> None:
    """Refuse a missing input and impossible option combinations before anything slow
    starts."""
    resolve_input(source)
    w, h = opt.size
    if w < 16 or h < 16:
        raise ViewerError(f"--size {w}x{h} is too small\n  fix: use at least 16x16, e.g. 640x480")
    if w > MAX_SIDE or h > MAX_SIDE:
        raise ViewerError(
            f"--size {w}x{h} is too large\n  fix: use at most {MAX_SIDE}x{MAX_SIDE}, e.g. 1920x1080"
        )
    if opt.fps <= 0 or opt.speed <= 0:
        raise ViewerError("--fps and --speed must be positive")
    if opt.camera_out is not None:
        if not opt.camera:
            raise ViewerError(
                "--camera-out needs --camera NAME\n  fix: add --camera and one "
                "of the robot's camera names (its YAML, `cameras:`)"
            )
        video.output_kind(opt.camera_out)
        _check_writable(opt.camera_out, "--camera-out")
    if opt.camera_scale is not None and opt.camera_scale < 1:
        raise ViewerError(
            f"--camera-scale {opt.camera_scale}: must be at least 1\n  fix: "
            "e.g. --camera-scale 4, or leave it out to choose automatically"
        )
    if opt.camera_out is not None and not opt.headless:
        if opt.out:
            raise ViewerError("--out only works with --headless\n  fix: add --headless")
        return  # saving the camera's images needs no window
    if opt.headless:
        if not opt.out:
            raise ViewerError(
                "--headless needs --out\n  fix: add --out run.mp4, run.gif or frames/"
            )
        video.check_size(video.output_kind(opt.out), w, h)
        _check_writable(opt.out, "--out")
    elif opt.out:
        raise ViewerError("--out only works with --headless\n  fix: add --headless")
    elif not _has_display():
        camera = (
            f"; or save the camera's images alone: --camera-out {opt.camera}/" if opt.camera else ""
        )
        raise ViewerError(
            "no display to open a window on (DISPLAY and WAYLAND_DISPLAY are "
            "unset)\n  fix: render a video instead: --headless --out run.mp4 "
            f"(or .gif, or a folder/ of PNGs), or run under X11/Wayland{camera}"
        )


def _check_writable(out: str, what: str) -> None:
    """The video file's folder, or the folder of PNG frames, is created and writable (before
    anything is simulated or rendered)."""
    from ..paths import output_file, output_folder

    if video.output_kind(out) == "dir":
        output_folder(out, what)
    else:
        output_file(out, what)


def _has_display() -> bool:
    if sys.platform.startswith(("win", "darwin")):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def make_renderer(opt: ViewOptions, title: str):
    """GGUI where a Vulkan device exists (and --fallback is not given), else ti.GUI, saying
    so on stderr."""
    from .. import backend

    w, h = opt.size
    if not opt.fallback:
        if backend.ggui_available():
            from .render_ggui import GGUIRenderer

            try:
                return GGUIRenderer(w, h, show_window=not opt.headless, title=title)
            except ViewerError as exc:
                reason = str(exc).splitlines()[0]
        else:
            reason = (
                "no Vulkan device found"
                if not os.environ.get("TDPHYS_NO_VULKAN")
                else "TDPHYS_NO_VULKAN is set"
            )
        print(
            f"tdphys view: {reason}; falling back to ti.GUI (flat shading, no depth buffer)."
            "\n  fix for GGUI: apt-get install mesa-vulkan-drivers libvulkan1",
            file=sys.stderr,
        )
    from .render_fallback import FallbackRenderer

    return FallbackRenderer(w, h, show_window=not opt.headless, title=title)


class _Follower:
    """Moves the camera with the followed body: jumps to it when following starts, then
    translates by the body's motion, so orbiting and panning still work while following."""

    def __init__(self):
        self.last = None  # (body index, worlds shown, point [m]) of the previous frame

    def update(self, camera: OrbitCamera, builder: SceneBuilder, view: ViewState, k: int):
        if view.follow is None:
            self.last = None
            return
        point = builder.follow_point(k, view)
        key = (view.follow, tuple(view.worlds()))
        if self.last is None or self.last[:2] != key:
            camera.follow(point)
        else:
            camera.follow(camera.target + point - self.last[2])
        self.last = key + (point,)


def _body_index(traj: Trajectory, follow: str | None) -> int | None:
    if follow is None:
        return None
    names = [b.name for b in traj.robot.bodies]
    if follow in names:
        return names.index(follow)
    if follow.isdigit() and int(follow) < len(names):
        return int(follow)
    raise ViewerError(
        f"--follow {follow}: no such body\n  fix: use one of {', '.join(names)} (or an index)"
    )


def _open(opt: ViewOptions, source: str):
    """(trajectory, camera feed or None) for `source`, its --world and --camera checked."""
    from .. import backend

    traj = open_input(
        source, opt.robot, opt.controls, opt.batch, opt.steps, opt.precision, opt.vars
    )
    if opt.camera:
        check_camera(traj, opt.camera)  # before Taichi starts for a recording
    backend.init("cpu", opt.precision)  # no-op when a live simulation already did
    if opt.world is not None and not 0 <= opt.world < traj.batch:
        raise ViewerError(
            f"--world {opt.world}: the input has {traj.batch} world(s)\n  fix: "
            f"use 0..{traj.batch - 1}, or --world all"
        )
    feed = CameraFeed(traj, opt.camera) if opt.camera else None
    return traj, feed


def _start(opt: ViewOptions, source: str):
    """(trajectory, scene builder, playback, view state, camera, camera feed or None) for
    `source`."""
    traj, feed = _open(opt, source)
    view = ViewState(
        traj.batch,
        traj.n_bodies,
        world=opt.world,
        follow=_body_index(traj, opt.follow),
        joints=opt.joints,
        contacts=opt.contacts,
        path=opt.path,
        panel=opt.panel,
    )
    builder = SceneBuilder(traj)
    camera = OrbitCamera()
    builder.frame_camera(camera, view, traj.ready - 1)
    playback = Playback(traj.t, speed=opt.speed, loop=opt.loop)
    return traj, builder, playback, view, camera, feed


def _inset(feed: CameraFeed | None, view: ViewState, k: int, width: int, height: int):
    """The camera image to draw over frame k (None without --camera or when hidden): the
    shown world's, world 0's when all are shown."""
    if feed is None or not view.camera:
        return None
    return feed.inset(k, view.world or 0, width, height)


def panel_lines(
    traj: Trajectory,
    playback: Playback,
    view: ViewState,
    live: bool,
    keys: bool = True,
    camera: str | None = None,
) -> list[str]:
    """Text of the on-screen panel: time, speed, world, followed body, the --camera shown and
    the key bindings (the camera's key only with a camera)."""
    k = playback.index()
    state = "paused" if playback.paused else ("end" if k == traj.n_frames - 1 else "playing")
    lines = [
        f"t = {traj.t[k]:.2f} / {traj.duration:.2f} s",
        f"speed x{playback.speed:g}  {state}" + ("  loop" if playback.loop else ""),
    ]
    if live:
        lines.append(f"simulated {traj.ready - 1} of {traj.n_frames - 1} steps")
    if traj.batch > 1 or keys:
        world = "all" if view.world is None else f"{view.world} of {traj.batch}"
        lines.append(f"world {world}")
    if view.follow is not None or keys:
        follow = "-" if view.follow is None else traj.robot.bodies[view.follow].name
        lines.append(f"follow {follow}")
    if camera is not None and view.camera:
        lines.append(f"camera {camera}" + (f" (world {view.world or 0})" if traj.batch > 1 else ""))
    if keys:
        lines += [
            f"{_key_name(key):>6}  {text}"
            for key, (action, text) in BINDINGS.items()
            if camera is not None or action != "camera"
        ]
        lines += list(MOUSE_HELP)
    return lines


def _key_name(key: str) -> str:
    return {" ": "space", "Escape": "esc"}.get(key, key)


# ------------------------------------------------------------------------------ headless
def render_video(source: str, opt: ViewOptions) -> int:
    """Render `source` offscreen into opt.out (and the --camera's images into
    opt.camera_out); returns the number of frames written to opt.out."""
    check_options(opt, source)
    traj, builder, playback, view, camera, feed = _start(opt, source)
    if traj.ready < traj.n_frames:  # a live robot: simulate it all first
        traj.extend(traj.n_frames - 1)
        builder.frame_camera(camera, view, traj.ready - 1)
    if opt.camera_out:
        _write_camera(traj, feed, opt)
    writer = video.FrameWriter(opt.out, opt.fps)  # resolves opt.out before any chdir
    renderer = make_renderer(opt, traj.label)
    times = headless_times(traj.duration, opt.fps, opt.speed)
    if opt.max_frames is not None:
        times = times[: opt.max_frames]
    follower = _Follower()
    with writer, _closing(renderer):
        for i, time_s in enumerate(times):
            playback.time = float(time_s)
            k = playback.index()
            follower.update(camera, builder, view, k)
            lines = (
                panel_lines(traj, playback, view, False, keys=False, camera=opt.camera)
                if opt.panel
                else None
            )
            frame = builder.build(k, view, camera)
            inset = _inset(feed, view, k, *opt.size)
            if i == 0 and lines:  # ImGui shows a panel from its second frame on
                renderer.draw(frame, camera, lines, inset)
                renderer.image()
            renderer.draw(frame, camera, lines, inset)
            writer.write(renderer.image())
    w, h = opt.size
    print(f"wrote {opt.out}: {writer.count} frames, {w}x{h} px, {opt.fps:g} fps ({renderer.name})")
    return writer.count


def save_camera_images(source: str, opt: ViewOptions) -> int:
    """Only write the --camera's images of `source` to opt.camera_out (no window, no 3D
    video); returns the number written."""
    check_options(opt, source)
    traj, feed = _open(opt, source)
    if traj.ready < traj.n_frames:  # a live robot: simulate it all first
        traj.extend(traj.n_frames - 1)
    return _write_camera(traj, feed, opt)


def _write_camera(traj: Trajectory, feed: CameraFeed, opt: ViewOptions) -> int:
    """The camera's image of every sample of the shown world (world 0 for --world all) to
    opt.camera_out, enlarged opt.camera_scale times, played at opt.speed x real time."""
    from ..vision.images import auto_scale, save_images

    world = opt.world or 0
    dt = float(traj.t[1] - traj.t[0]) if traj.n_frames > 1 else 1.0 / opt.fps
    fps = opt.speed / dt
    scale = opt.camera_scale or auto_scale(feed.height, feed.width)
    try:
        count = save_images(feed.frames(world), opt.camera_out, fps=fps, scale=scale)
    except ValueError as exc:
        raise ViewerError(f"--camera-out {opt.camera_out}: {exc}") from None
    print(
        f"wrote {opt.camera_out}: {count} camera images ({opt.camera}, world {world}), "
        f"{feed.width * scale}x{feed.height * scale} px (x{scale}), {fps:g} fps"
    )
    return count


# --------------------------------------------------------------------------- interactive
def run_window(source: str, opt: ViewOptions) -> int:
    """Open a window on `source` and play it until the window closes or Escape."""
    check_options(opt, source)
    traj, builder, playback, view, camera, feed = _start(opt, source)
    renderer = make_renderer(opt, f"tdphys view {traj.label}")
    with _closing(renderer):
        _interact(renderer, traj, builder, playback, view, camera, opt, feed)
    return 0


def _interact(renderer, traj, builder, playback, view, camera, opt, feed=None) -> None:
    live = traj.ready < traj.n_frames
    last, drag = time.perf_counter(), None
    follower, frames = _Follower(), 0
    while renderer.running and not view.quit:
        now = time.perf_counter()
        wall_dt, last = now - last, now
        shown = view.worlds()
        for key in renderer.events():
            handle_key(key, playback, view, traj.ready)
        if view.worlds() != shown and view.follow is None:
            builder.frame_camera(camera, view, traj.ready - 1)  # one world <-> all worlds
        while view.zoom:
            camera.zoom(view.zoom.pop())
        drag = _mouse(renderer, camera, drag)
        if live:
            # simulate up to the sample after the one this frame shows (ready for a step key)
            ahead = playback.time + (0.0 if playback.paused else wall_dt * playback.speed)
            want = int(np.searchsorted(traj.t, ahead + 1e-9, side="right"))
            traj.extend(want, LIVE_BUDGET_S)
        playback.advance(wall_dt, traj.ready)
        k = playback.index()
        follower.update(camera, builder, view, k)
        lines = (
            panel_lines(traj, playback, view, live, keys=True, camera=opt.camera)
            if view.panel
            else None
        )
        renderer.draw(
            builder.build(k, view, camera),
            camera,
            lines,
            _inset(feed, view, k, renderer.width, renderer.height),
        )
        renderer.show()
        frames += 1
        if opt.max_frames is not None and frames >= opt.max_frames:
            break


@contextlib.contextmanager
def _closing(renderer):
    try:
        yield renderer
    finally:
        renderer.close()


def _mouse(renderer, camera: OrbitCamera, drag):
    """Orbit (left drag), pan (right drag or shift + left), zoom (middle drag)."""
    pos, held = renderer.mouse()
    if not held:
        return None
    if drag is not None:
        dx, dy = pos[0] - drag[0], pos[1] - drag[1]
        if "LMB" in held:
            camera.orbit(dx, -dy)
        elif "RMB" in held:
            camera.pan(dx, dy)
        elif "MMB" in held:
            camera.zoom(float(np.exp(-2.0 * dy)))
    return pos
