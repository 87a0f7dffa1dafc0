"""Random worlds of an update: random initial states (`task.starts`, `task.confirm_starts`)
and random reach targets (`task.targets`), their file sections and the start sampler.

A joint's displacement moves the whole subtree below it as a rigid piece: a hinge turns its
child and every descendant by the angle q about the joint axis through the anchor, a slider
shifts them by q along the axis, so every joint keeps its anchor and the joint's coordinate
reads q at t = 0. Joints are applied parent before child, each about its axis and anchor as
already moved by the joints above it. Rates add the joint's twist to every body below it:

    hinge, rate qd about unit axis a through anchor c:  omega += qd a,  v_com += qd a x (x_com - c)
    slider, rate qd along unit axis a:                  v_com += qd a

(world frame; [rad], [m], [rad/s], [m/s]), which is the velocity the joint rates give the
chain, on top of the file's own initial velocities.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ModelError
from ..model.schema import JOINT_AXES, JOINT_KINDS, LINEAR_JOINTS
from ..model.yamlread import At, Map, integer, numbers, robot_lacks, seed, size
from ..rotations import axis_angle_quat, quat_mul, quat_to_matrix

MAX_WORLDS = 100_000  # random targets or starts per update, held-out targets, popsize
STATE_PARAMS = ("init_pos", "init_quat", "init_vel", "init_omega")


@dataclass(frozen=True)
class JointStart:
    """How far one joint's starting state is spread: its coordinate is moved from the robot
    file's pose by a uniform draw in `pos` [rad, or m for a slider] and its rate set to one in
    `vel` [rad/s or m/s]."""

    joint: str
    pos: tuple[float, float] = (0.0, 0.0)
    vel: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class RandomStarts:
    """Random initial states: every update simulates `batch` worlds; world 0 starts from the
    robot file's state (the one the task's metrics and success are measured on), the others
    from fresh random displacements of `joints` (JointStart each), drawn from `seed`."""

    joints: tuple[JointStart, ...]
    batch: int = 16
    seed: int = 0


@dataclass(frozen=True)
class RandomTargets:
    """Reach targets drawn uniformly in the box [low, high] [m] (world): `batch` fresh ones
    per update (one world each), and a fixed held-out set of `held_out` targets (from `seed`)
    on which the final distance is measured every `eval_every` updates."""

    low: tuple[float, float, float]
    high: tuple[float, float, float]
    batch: int = 16
    held_out: int = 32
    seed: int = 0
    eval_every: int = 10


def parse_starts(at: At, key: str = "task.starts") -> RandomStarts:
    """The section `key` (task.starts or task.confirm_starts)."""
    m = Map(at, key).only({"joints", "batch", "seed"})
    values = {}
    if "batch" in m:
        values["batch"] = integer(m.get("batch"))
        if values["batch"] < 2:
            raise m.get("batch").error(
                f"must be at least 2, got {values['batch']}",
                "world 0 keeps the file's start: give 2 or more",
            )
        size(m.get("batch"), MAX_WORLDS)
    if "seed" in m:
        values["seed"] = seed(m.get("seed"))
    j = Map(
        m.require("joints", "add `joints: {JOINT: {pos: [lo, hi], vel: [lo, hi]}}`"),
        f"{key}.joints",
    )
    joints = []
    for name in j.names():
        e = Map(j.get(name), f"{key}.joints.{name}").only({"pos", "vel"})
        spread = {}
        for what, unit in (("pos", "[rad or m]"), ("vel", "[rad/s or m/s]")):
            if what in e:
                lo, hi = numbers(e.get(what), 2)
                if hi < lo:
                    raise e.get(what).error(
                        f"[lo, hi] with hi < lo: {[lo, hi]}", f"give lo <= hi {unit}"
                    )
                spread[what] = (lo, hi)
        if not spread:
            raise j.get(name).error(
                "neither `pos` nor `vel` is given",
                "add `pos: [lo, hi]` [rad or m] and/or `vel: [lo, hi]`",
            )
        joints.append(JointStart(joint=name, **spread))
    if not joints:
        raise m.get("joints").error("no joint is named", "add at least one joint")
    return RandomStarts(joints=tuple(joints), **values)


def parse_targets(at: At) -> RandomTargets:
    """The section task.targets."""
    m = Map(at, "task.targets").only({"low", "high", "batch", "held_out", "seed", "eval_every"})
    low = numbers(m.require("low", "add `low: [x, y, z]` [m], the box's lower corner"), 3)
    high = numbers(m.require("high", "add `high: [x, y, z]` [m], the box's upper corner"), 3)
    if any(h < lo for lo, h in zip(low, high)):
        raise m.get("high").error(
            "high is below low on some axis", "give the box's corners as low <= high on every axis"
        )
    counts = {}
    for key in ("batch", "held_out", "eval_every"):
        if key in m:
            counts[key] = integer(m.get(key))
            if counts[key] < 1:
                raise m.get(key).error(
                    f"must be at least 1, got {counts[key]}", "give a positive whole number"
                )
            size(m.get(key), MAX_WORLDS)
    if "seed" in m:
        counts["seed"] = seed(m.get("seed"))
    return RandomTargets(low=low, high=high, **counts)


# the joint kinds a random start can move: those with one axis, turned about it or slid along
MOVABLE_KINDS = tuple(kind for kind in JOINT_KINDS if JOINT_AXES[kind] == 1)


def check_starts(starts: RandomStarts, robot, file: str, robot_path: str, key: str) -> None:
    """The joints random starts (`key`: task.starts or task.confirm_starts) move are
    one-axis joints of the robot (MOVABLE_KINDS); ModelError naming the key otherwise."""
    joints = {j.name: j for j in robot.joints}
    for js in starts.joints:
        where = f"{key}.joints.{js.joint}"
        if js.joint not in joints:
            raise robot_lacks(file, where, robot_path, "joint", js.joint, list(joints))
        if joints[js.joint].kind not in MOVABLE_KINDS:
            kinds = " or ".join(MOVABLE_KINDS)
            raise ModelError(
                file,
                where,
                f"joint '{js.joint}' is a {joints[js.joint].kind} joint; random starts move "
                f"one-axis joints only ({kinds})",
                f"name a {kinds} joint",
            )


class Starts:
    """Draws random initial states for a robot. `com` (N, 3) [m] is every body's centre of
    mass in its body frame (Simulation.model.com after start())."""

    def __init__(self, robot, starts: RandomStarts, com: np.ndarray):
        self.robot, self.spec = robot, starts
        self.com = np.asarray(com, float)
        self.rng = np.random.default_rng(starts.seed)
        names = [b.name for b in robot.bodies]
        joints = {j.name: j for j in robot.joints}
        children = {}  # body index -> the joint whose child it is
        for j in robot.joints:
            children[names.index(j.child)] = j
        self.parent_of = {
            i: (
                None
                if children.get(i) is None or children[i].parent is None
                else names.index(children[i].parent)
            )
            for i in range(len(names))
        }

        def depth(i):
            d = 0
            while self.parent_of[i] is not None:
                i, d = self.parent_of[i], d + 1
            return d

        # (joint, child index, subtree bodies) parent before child
        chosen = [joints[js.joint] for js in starts.joints]
        self.order = sorted(range(len(chosen)), key=lambda k: depth(names.index(chosen[k].child)))
        self.joints = chosen
        self.child = [names.index(j.child) for j in chosen]
        self.parent = [None if j.parent is None else names.index(j.parent) for j in chosen]
        self.subtree = [self._below(c) for c in self.child]
        self.base_pos = np.array([b.pos for b in robot.bodies], float)
        self.base_quat = np.array([b.quat for b in robot.bodies], float)
        self.base_quat /= np.linalg.norm(self.base_quat, axis=1, keepdims=True)
        self.base_vel = np.array([b.vel for b in robot.bodies], float)
        self.base_omega = np.array([b.omega for b in robot.bodies], float)

    def _below(self, i: int) -> list[int]:
        """Body i and every body whose parent chain reaches it."""
        out = []
        for n in self.parent_of:
            k = n
            while k is not None and k != i:
                k = self.parent_of[k]
            if k == i:
                out.append(n)
        return sorted(out)

    def draw(self, n: int) -> np.ndarray:
        """(n, J, 2) uniform random (coordinate, rate) per world and chosen joint."""
        out = np.zeros((n, len(self.joints), 2))
        for k, js in enumerate(self.spec.joints):
            out[:, k, 0] = self.rng.uniform(js.pos[0], js.pos[1], n)
            out[:, k, 1] = self.rng.uniform(js.vel[0], js.vel[1], n)
        return out

    def states(self, offsets: np.ndarray) -> dict:
        """{init_pos, init_quat, init_vel, init_omega}: (n, N, 3 or 4) per world, for the
        (n, J, 2) joint coordinates and rates `offsets` (0, 0 gives the file's state)."""
        offsets = np.asarray(offsets, float)
        n, N = len(offsets), len(self.base_pos)
        out = {k: np.zeros((n, N, 4 if k == "init_quat" else 3)) for k in STATE_PARAMS}
        for w in range(n):
            turn = np.tile([1.0, 0.0, 0.0, 0.0], (N, 1))  # moves applied to each body so far
            shift = np.zeros((N, 3))
            anchors, axes = {}, {}
            for k in self.order:
                j, p = self.joints[k], self.parent[k]
                c, a = np.asarray(j.anchor, float), np.asarray(j.axes[0], float)
                a = a / np.linalg.norm(a)
                if p is not None:  # the joint frame moves with its parent body
                    r = quat_to_matrix(turn[p])
                    c, a = r @ c + shift[p], r @ a
                anchors[k], axes[k] = c, a
                q, turns = offsets[w, k, 0], j.kind not in LINEAR_JOINTS
                move = axis_angle_quat(a, q if turns else 0.0)
                r = quat_to_matrix(move)
                move_shift = c - r @ c if turns else q * a
                for b in self.subtree[k]:
                    turn[b] = quat_mul(move, turn[b])
                    shift[b] = r @ shift[b] + move_shift
            rots = [quat_to_matrix(t) for t in turn]
            pos = np.array([r @ x for r, x in zip(rots, self.base_pos)]) + shift
            quat = np.array([quat_mul(t, q) for t, q in zip(turn, self.base_quat)])
            com_world = pos + np.array([quat_to_matrix(q) @ c for q, c in zip(quat, self.com)])
            vel, omega = self.base_vel.copy(), self.base_omega.copy()
            for k in self.order:
                rate, a, c = offsets[w, k, 1], axes[k], anchors[k]
                for b in self.subtree[k]:
                    if self.joints[k].kind not in LINEAR_JOINTS:
                        omega[b] += rate * a
                        vel[b] += rate * np.cross(a, com_world[b] - c)
                    else:
                        vel[b] += rate * a
            out["init_pos"][w], out["init_quat"][w] = pos, quat
            out["init_vel"][w], out["init_omega"][w] = vel, omega
        return out
