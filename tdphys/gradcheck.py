"""Compare the tape's gradient with central finite differences.

The loss used (documented, fixed so runs are comparable):

    L = sum_w sum_n [ a_n . pos[T, w, n] + b_n . vel[T, w, n] + 0.05 |omega[T, w, n]|^2 ]
        + sum_w sum_m c_m * joint_pos[T, w, m] + sum_w sum_i d_i * sensordata[T, w, i]

with a_n, b_n, c_m, d_i drawn once from a normal distribution seeded by `seed`. Every
component of the final state, every motor coordinate and every sensor value therefore
contributes.

Checked entries are a random subset of each group (controls, initial state, physical
parameters), so a check costs 2 rollouts per entry plus one taped rollout.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import taichi as ti

from .engine import layout as L
from .engine.simulation import PARAM_DOCS

GROUPS = {
    "controls": ["ctrl"],
    "initial": ["init_pos", "init_vel", "init_omega"],
    "params": ["shape_mass", "shape_radius", "shape_half_extents", "shape_half_length",
               "shape_pos", "shape_friction", "shape_restitution", "shape_torsional_friction",
               "ground_friction", "anchor_p", "anchor_c", "motor_gain", "motor_max_force",
               "motor_max_velocity"],
}


# Size parameters and the shape kinds that use them.
_SIZE_USERS = {"shape_radius": (L.S_SPHERE, L.S_CAPSULE), "shape_half_extents": (L.S_BOX,),
               "shape_half_length": (L.S_CAPSULE,)}


@dataclass
class Entry:
    group: str
    name: str
    index: tuple
    tape: float
    fd: float

    @property
    def rel_error(self) -> float:
        scale = max(abs(self.fd), abs(self.tape), 1e-4)  # absolute below 1e-4
        return abs(self.tape - self.fd) / scale


@ti.data_oriented
class FinalStateLoss:
    """The loss documented above, as a Taichi kernel bound to one simulation."""

    def __init__(self, sim, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.sim = sim
        n, m = sim.n_bodies, max(sim.n_motors, 1)
        self.a = ti.Vector.field(3, sim.real, n)
        self.b = ti.Vector.field(3, sim.real, n)
        self.c = ti.field(sim.real, m)
        self.a.from_numpy(rng.normal(size=(n, 3)))
        self.b.from_numpy(rng.normal(size=(n, 3)))
        c = rng.normal(size=m)
        c[sim.n_motors:] = 0
        self.c.from_numpy(c)
        self.d = ti.field(sim.real, max(sim.n_sensordata, 1))
        d = rng.normal(size=self.d.shape[0])
        d[sim.n_sensordata:] = 0
        self.d.from_numpy(d)

    @ti.kernel
    def kernel(self):
        # on CPU serial loops: the sums into loss take a fixed order (docs/determinism.md)
        ti.loop_config(serialize=self.sim.backend.ordered_sums)
        for w, n in ti.ndrange(self.sim.batch, self.sim.n_bodies):
            s, T = self.sim, self.sim.steps
            om = s.omega[T, w, n]
            s.loss[None] += (self.a[n].dot(s.pos[T, w, n]) + self.b[n].dot(s.vel[T, w, n])
                             + 0.05 * om.dot(om))
        ti.loop_config(serialize=self.sim.backend.ordered_sums)
        for w, m in ti.ndrange(self.sim.batch, self.sim.n_motors):
            self.sim.loss[None] += self.c[m] * self.sim.joint_pos[self.sim.steps, w, m]
        ti.loop_config(serialize=self.sim.backend.ordered_sums)
        for w, i in ti.ndrange(self.sim.batch, self.sim.n_sensordata):
            self.sim.loss[None] += self.d[i] * self.sim.sensordata[self.sim.steps, w, i]

    def value(self) -> float:
        self.sim.loss[None] = 0.0
        self.sim.rollout()
        self.kernel()
        return float(self.sim.loss[None])

    def gradient(self) -> float:
        with self.sim.tape():
            self.sim.rollout(check=False)
            self.kernel()
        return float(self.sim.loss[None])


def _entries_of(sim, name: str):
    """(getter, setter, grad) for a parameter or the control field, as flat numpy views."""
    if name == "ctrl":
        get = lambda: sim.ctrl.to_numpy()  # noqa: E731
        put = lambda v: sim.ctrl.from_numpy(v)  # noqa: E731
        grad = lambda: sim.ctrl.grad.to_numpy()  # noqa: E731
        valid = np.zeros(sim.ctrl.shape, bool)
        valid[:, :, :sim.n_motors] = True
        return get, put, grad, valid
    f = sim.params[name]
    get, put, grad = f.to_numpy, f.from_numpy, lambda: f.grad.to_numpy()
    valid = np.ones(get().shape, bool)
    key = PARAM_DOCS[name][0]
    count = {"S": sim.n_shapes, "N": sim.n_bodies, "J": sim.n_joints, "M": sim.n_motors}
    if key and key[0] in count:
        valid[:, count[key[0]]:] = False
    if name in _SIZE_USERS:  # sizes only where the shape kind uses them
        kinds = np.isin(sim.layout.shape_kind, _SIZE_USERS[name])
        valid[:, :len(kinds)] &= kinds.reshape((1, -1) + (1,) * (valid.ndim - 2))
    return get, put, grad, valid


def check(sim, groups=("controls", "initial", "params"), per_param: int = 3, eps: float = 1e-6,
          seed: int = 0) -> list[Entry]:
    """Tape gradient vs central differences on up to `per_param` random entries of every
    parameter in `groups`. Needs an f64 backend to be meaningful."""
    loss = FinalStateLoss(sim, seed)
    loss.gradient()
    rng = np.random.default_rng(seed + 1)
    chosen = [(g, n) for g in groups for n in GROUPS[g]
              if (n == "ctrl" and sim.n_motors) or n in sim.params]
    gradients = {name: _entries_of(sim, name)[2]() for _, name in chosen}
    out = []
    for group, name in chosen:
        get, put, _, valid = _entries_of(sim, name)
        flat = np.argwhere(valid)
        if len(flat) == 0:
            continue
        picks = flat[rng.choice(len(flat), min(per_param, len(flat)), replace=False)]
        base = get()
        for idx in map(tuple, picks):
            step = eps * max(1.0, abs(base[idx]))
            values = []
            for sign in (1.0, -1.0):
                trial = base.copy()
                trial[idx] += sign * step
                put(trial)
                values.append(loss.value())
            put(base)
            fd = (values[0] - values[1]) / (2 * step)
            out.append(Entry(group, name, idx, float(gradients[name][idx]), fd))
    return out


def summary(entries: list[Entry]) -> dict:
    """Maximum relative error per group."""
    worst = {}
    for e in entries:
        worst[e.group] = max(worst.get(e.group, 0.0), e.rel_error)
    return worst
