"""What the viewer shows: a trajectory of body poses, from a file or simulated live.

Inputs (see docs/viewer.md):
  * ROBOT.yaml: simulated here, live, from zero controls or a controls .npy;
  * FILE.npz: written by `tdphys simulate` (keys t, body_names, pos, quat, ... plus robot_yaml,
    robot_path and com_offset, which let it replay without the robot file);
  * RUN_DIR: a results folder; the viewer reads RUN_DIR/trajectory.npz (the same keys as
    FILE.npz, optionally `target`).

Arrays (T+1 samples, B worlds, N bodies): `pos` [m] world COM positions (T+1, B, N, 3),
`quat` [w, x, y, z] body-to-world (T+1, B, N, 4), `com_offset` [m] COM in the body frame
(B, N, 3). The body frame origin, where shapes are placed, is pos - R(quat) com_offset.
"""

import json
import time
from pathlib import Path

import numpy as np

from ..errors import ControlsError, ModelError, ViewerError
from ..model import Robot, parse_robot
from ..model.mass import body_masses, com_offsets
from ..model.robot_file import load_robot_file
from ..rotations import quat_to_matrix

RUN_FILE = "trajectory.npz"  # what the viewer reads inside a run folder
ROBOT_SUFFIXES = (".yaml", ".yml", ".xml", ".urdf", ".mjcf")  # YAML, or MJCF / URDF
REQUIRED_KEYS = ("t", "body_names", "pos", "quat")


class Trajectory:
    """Poses of B worlds of one robot at times t [s] (T+1,). `ready` samples are available
    (all of them for a recording; a live simulation fills them in as it runs).

    robot: the model (its shapes are drawn); pos, quat: see the module docstring;
    com_offset [m] (B, N, 3) body frame; target [m] (B, 3) world point to mark, or None;
    contact_pos [m] and contact_force [N] (T+1, B, P, 3): the engine's contact points (world)
    and the force on each point's first body, or None (then the overlay finds the ground
    contacts from the geometry); label: a short name of the input for the window title.
    """

    def __init__(
        self,
        robot: Robot,
        t,
        pos,
        quat,
        com_offset=None,
        target=None,
        label="",
        contact_pos=None,
        contact_force=None,
    ):
        self.robot, self.label = robot, label
        self.contact_pos = None if contact_pos is None else np.asarray(contact_pos, float)
        self.contact_force = None if contact_force is None else np.asarray(contact_force, float)
        if self.contact_pos is not None and (
            self.contact_force is None or self.contact_pos.shape != self.contact_force.shape
        ):
            self.contact_pos = self.contact_force = None
        self.t = np.asarray(t, float)
        self.pos, self.quat = np.asarray(pos, float), np.asarray(quat, float)
        self.n_frames, self.batch, self.n_bodies = self.pos.shape[:3]
        if com_offset is None:
            com_offset = com_offsets(robot)
        self.com_offset = np.broadcast_to(
            np.asarray(com_offset, float), (self.batch, self.n_bodies, 3)
        ).copy()
        self.target = (
            None
            if target is None
            else np.broadcast_to(np.asarray(target, float).reshape(-1, 3), (self.batch, 3)).copy()
        )
        self.masses = body_masses(robot)
        self.ready = self.n_frames

    @property
    def duration(self) -> float:
        """[s] time of the last sample."""
        return float(self.t[-1])

    def extend(self, upto: int, budget_s: float | None = None) -> int:
        """Make samples up to index `upto` available if possible; returns `ready`."""
        return self.ready

    def frame_at(self, time_s: float) -> int:
        """Index of the last available sample at or before `time_s` [s]."""
        k = int(np.searchsorted(self.t, time_s + 1e-9, side="right")) - 1
        return int(np.clip(k, 0, self.ready - 1))

    def body_frames(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(origin [m] (B, N, 3), rotation (B, N, 3, 3)) of every body frame at sample k."""
        rot = quat_to_matrix(self.quat[k])
        origin = self.pos[k] - np.einsum("bnij,bnj->bni", rot, self.com_offset)
        return origin, rot

    def robot_com(self, upto: int) -> np.ndarray:
        """[m] (B, upto+1, 3) whole-robot centre of mass of each world for samples 0..upto."""
        m = self.masses / self.masses.sum()
        return np.einsum("tbni,n->bti", self.pos[: upto + 1], m)


class LiveTrajectory(Trajectory):
    """A Trajectory computed by tdphys.Simulation as it is watched: `extend` steps the
    simulation (within a time budget) and copies each new state into the arrays."""

    def __init__(self, sim, label=""):
        self.sim = sim
        T, B, N = sim.steps, sim.batch, sim.n_bodies
        super().__init__(
            sim.robot,
            np.arange(T + 1) * sim.dt,
            np.zeros((T + 1, B, N, 3)),
            np.tile([1.0, 0, 0, 0], (T + 1, B, N, 1)),
            label=label,
        )
        sim.start()
        self.com_offset = sim.model.com.to_numpy().astype(float)
        if sim.n_points:
            self.contact_pos = np.zeros((T + 1, B, sim.n_points, 3))
            self.contact_force = np.zeros((T + 1, B, sim.n_points, 3))
        self._copy = _slice_copier()
        self.ready = 0
        self._store(0)

    def _store(self, k: int) -> None:
        self.pos[k] = self._copy(self.sim.state.pos, k)
        self.quat[k] = self._copy(self.sim.state.quat, k)
        if self.contact_pos is not None:
            self.contact_pos[k] = self._copy(self.sim.state.point_pos, k)
            self.contact_force[k] = self._copy(self.sim.state.point_force, k)
        self.ready = k + 1

    def extend(self, upto: int, budget_s: float | None = None) -> int:
        start = time.perf_counter()
        upto = min(upto, self.n_frames - 1)
        while self.ready <= upto:
            k = self.ready
            self.sim.step(k - 1)
            self._store(k)
            if budget_s is not None and time.perf_counter() - start > budget_s:
                break
        if self.ready == self.n_frames:
            self.sim.check_finite()
        return self.ready


def _slice_copier():
    """A function (field[T+1, B, N] of n-vectors, t) -> numpy (B, N, n) of slice t; one small
    kernel instead of copying the whole history every frame. (This module does not use
    `from __future__ import annotations`: Taichi must see the kernel's annotations as objects.)"""
    import taichi as ti

    cache = {}

    def copy(src, t):
        n = src.n
        key = (id(src), n)
        if key not in cache:
            dst = ti.Vector.field(n, src.dtype, shape=src.shape[1:])

            @ti.kernel
            def kernel(s: ti.template(), d: ti.template(), k: ti.i32):
                for w, b in d:
                    d[w, b] = s[k, w, b]

            cache[key] = (dst, kernel)
        dst, kernel = cache[key]
        kernel(src, dst, t)
        return dst.to_numpy()

    return copy


# --------------------------------------------------------------------------------- inputs
def open_input(
    path,
    robot_file=None,
    controls=None,
    batch: int = 1,
    steps: int | None = None,
    precision: str = "f32",
    vars: dict | None = None,
) -> Trajectory:
    """The Trajectory behind `path` (robot YAML, .npz or run folder); see the module docstring.

    robot_file overrides the robot a recording names; controls (.npy path), batch, steps,
    precision and vars (the robot file's `vars:` replaced) apply to a live robot (a recording
    brings its own vars). Raises ViewerError with a fix for unusable input."""
    kind, p = resolve_input(path)
    if kind == "npz":
        if vars:
            raise ViewerError(
                f"{path}: --var applies to a live robot (.yaml); a recording "
                "replays the vars it was made with\n  fix: drop --var, or "
                "simulate again with `tdphys simulate --var`"
            )
        return load_recording(p, robot_file)
    return live(p, controls, batch, steps, precision, vars)


def resolve_input(path) -> tuple[str, Path]:
    """("npz", file) or ("robot", file) for a viewer input, without reading it; ViewerError
    with a fix for a missing path, a run folder without results or an unknown file type."""
    p = Path(path)
    if not p.exists():
        raise ViewerError(
            f"{path}: no such file or folder\n  fix: give a robot .yaml, a .npz "
            "written by `tdphys simulate --out`, or a run folder holding "
            f"{RUN_FILE}"
        )
    if p.is_dir():
        run = p / RUN_FILE
        if not run.is_file():
            raise ViewerError(
                f"{path}: this run folder has no {RUN_FILE} (the viewer reads "
                f"RUN_DIR/{RUN_FILE}, written by demos/optimize.py)\n  fix: "
                "wait for the run to finish, or view a .npz from `tdphys "
                "simulate` or a robot .yaml directly"
            )
        return "npz", run
    if p.suffix == ".npz":
        return "npz", p
    if p.suffix in ROBOT_SUFFIXES:
        return "robot", p
    raise ViewerError(
        f"{path}: cannot view a '{p.suffix}' file\n  fix: give a robot .yaml, a "
        "trajectory .npz or a run folder"
    )


def load_recording(path, robot_file=None) -> Trajectory:
    """A Trajectory from an npz written by `tdphys simulate` (or a run's trajectory.npz)."""
    path = Path(path)
    try:
        data = dict(np.load(path, allow_pickle=False))
    except (OSError, ValueError) as exc:
        raise ViewerError(
            f"{path}: cannot read it as a .npz ({exc})\n  fix: give the file "
            "`tdphys simulate --out` wrote"
        ) from None
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise ViewerError(
            f"{path}: missing arrays {missing} (has {sorted(data)})\n  fix: "
            "write it with `tdphys simulate ROBOT.yaml --out FILE.npz`"
        )
    robot = _recorded_robot(path, data, robot_file)
    names = [str(n) for n in data["body_names"]]
    if names != [b.name for b in robot.bodies]:
        raise ViewerError(
            f"{path}: its bodies {names} are not those of robot "
            f"'{robot.name}' ({[b.name for b in robot.bodies]})\n  fix: pass the "
            "robot file it was simulated with, --robot FILE.yaml"
        )
    pos, quat = data["pos"], data["quat"]
    T1 = len(data["t"])
    if (
        pos.ndim != 4
        or pos.shape[0] != T1
        or pos.shape[2] != len(names)
        or quat.shape != pos.shape[:3] + (4,)
    ):
        raise ViewerError(
            f"{path}: pos {pos.shape} / quat {quat.shape} should be (T+1, B, N, 3)"
            f" / (T+1, B, N, 4) with T+1 = {T1}, N = {len(names)}\n  fix: "
            "write it with `tdphys simulate`"
        )
    return Trajectory(
        robot,
        data["t"],
        pos,
        quat,
        data.get("com_offset"),
        data.get("target"),
        label=path.name,
        contact_pos=data.get("contact_pos"),
        contact_force=data.get("contact_force"),
    )


def _recorded_robot(path: Path, data: dict, robot_file) -> Robot:
    """The robot of a recording: --robot if given, else the YAML text stored in it, else the
    file it names; the latter two with the file's vars as recorded (`robot_vars`, co-design)."""
    try:
        if robot_file is not None:
            return load_robot_file(robot_file)
        given = _recorded_vars(path, data)
        if "robot_yaml" in data:
            source = str(data["robot_path"]) if "robot_path" in data else f"{path}:robot_yaml"
            return parse_robot(str(data["robot_yaml"]), source, given)
        if "robot_path" in data and Path(str(data["robot_path"])).is_file():
            return load_robot_file(str(data["robot_path"]), given)
    except ModelError as exc:
        raise ViewerError(f"{path}: its robot does not load:\n{exc}") from None
    except OSError as exc:
        raise ViewerError(
            f"{robot_file}: cannot read the robot file ({exc})\n  fix: check the path"
        ) from None
    named = f" (it names {data['robot_path']}, which is missing)" if "robot_path" in data else ""
    raise ViewerError(
        f"{path}: no robot stored in it{named}, so its shapes are unknown\n  fix: "
        "pass the robot file, `tdphys view FILE.npz --robot ROBOT.yaml`, or "
        "simulate again with this version of `tdphys simulate`"
    )


def _recorded_vars(path: Path, data: dict) -> dict | None:
    """The recording's `robot_vars` ({name: number}), None when it has none."""
    if "robot_vars" not in data:
        return None
    try:
        given = json.loads(str(data["robot_vars"]))
    except (ValueError, RecursionError):
        given = None
    if not (
        isinstance(given, dict)
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in given.values())
    ):
        raise ViewerError(
            f"{path}: its robot_vars is not a mapping of var names to numbers\n"
            "  fix: simulate again with `tdphys simulate`"
        )
    return given


def live(
    path: Path,
    controls=None,
    batch: int = 1,
    steps: int | None = None,
    precision: str = "f32",
    vars: dict | None = None,
) -> LiveTrajectory:
    """A LiveTrajectory of the robot file `path` (its `vars:` replaced by `vars`): zero
    controls, or the .npy `controls` ((T, M) or (T, B, M), SI units) whose length sets the
    number of steps when `steps` is None; otherwise `steps` (default 1000)."""
    robot = load_robot_file(path, vars)
    u = None
    if controls is not None:
        from ..datafiles import read_array

        u = read_array(controls, "controls")
        if u.ndim in (2, 3) and steps is None:
            steps = u.shape[0]
        if u.ndim == 3 and batch == 1:
            batch = u.shape[1]
    from .. import backend
    from ..engine.simulation import Simulation

    backend.init("cpu", precision)
    sim = Simulation(robot, batch=batch, steps=steps or 1000)
    if u is not None:
        try:
            sim.set_controls(u)
        except ControlsError as exc:
            raise ControlsError(f"{controls}: {exc}") from None
    return LiveTrajectory(sim, label=Path(path).name)
