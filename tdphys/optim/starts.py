"""Random initial states (an experiment's `task.starts`): worlds that start with some hinge and
slider joints moved away from the robot file's pose and already moving.

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

import math

import numpy as np

from ..engine.layout import quat_mul, quat_to_matrix
from .experiment import RandomStarts

STATE_PARAMS = ("init_pos", "init_quat", "init_vel", "init_omega")


def _axis_angle_quat(axis: np.ndarray, angle: float) -> np.ndarray:
    half = 0.5 * angle
    return np.concatenate([[math.cos(half)], math.sin(half) * axis])


class Starts:
    """Draws random initial states for a robot. `com` (N, 3) [m] is every body's centre of
    mass in its body frame (Simulation.com after start())."""

    def __init__(self, robot, starts: RandomStarts, com: np.ndarray):
        self.robot, self.spec = robot, starts
        self.com = np.asarray(com, float)
        self.rng = np.random.default_rng(starts.seed)
        names = [b.name for b in robot.bodies]
        joints = {j.name: j for j in robot.joints}
        children = {}            # body index -> the joint whose child it is
        for j in robot.joints:
            children[names.index(j.child)] = j
        self.parent_of = {i: (None if children.get(i) is None or children[i].parent is None
                              else names.index(children[i].parent)) for i in range(len(names))}

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
            turn = np.tile([1.0, 0.0, 0.0, 0.0], (N, 1))   # moves applied to each body so far
            shift = np.zeros((N, 3))
            anchors, axes = {}, {}
            for k in self.order:
                j, p = self.joints[k], self.parent[k]
                c, a = np.asarray(j.anchor, float), np.asarray(j.axes[0], float)
                a = a / np.linalg.norm(a)
                if p is not None:        # the joint frame moves with its parent body
                    r = quat_to_matrix(turn[p])
                    c, a = r @ c + shift[p], r @ a
                anchors[k], axes[k] = c, a
                q = offsets[w, k, 0]
                move = _axis_angle_quat(a, q if j.kind == "hinge" else 0.0)
                r = quat_to_matrix(move)
                move_shift = c - r @ c if j.kind == "hinge" else q * a
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
                    if self.joints[k].kind == "hinge":
                        omega[b] += rate * a
                        vel[b] += rate * np.cross(a, com_world[b] - c)
                    else:
                        vel[b] += rate * a
            out["init_pos"][w], out["init_quat"][w] = pos, quat
            out["init_vel"][w], out["init_omega"][w] = vel, omega
        return out

