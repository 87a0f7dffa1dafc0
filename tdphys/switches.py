"""What switches within a rollout: the on/off states of contacts, joint limits and clamps,
per step and world, so a finite difference that does not converge can be traced to its cause.

A rollout is a smooth function of its inputs except where one of these states changes: a
contact point's separation crossing zero or the speculative margin, its normal impulse
reaching zero, its friction reaching the cone (stick/slide), a joint limit engaging or being
crossed, a motor reaching its force or speed limit, a command clipped to its range. Each is
read after the step from the simulation's scratch fields of that step (c_sep, active, vt,
isc, lo, hi, mu; one set per substep, a state counting as on when it is on in any substep),
the impulses each substep ended with (lam) and the commands (ctrl); a state whose fields a
simulation does not have is left out, so a changed engine names fewer causes rather than
failing.
"""

from dataclasses import dataclass

import numpy as np
import taichi as ti

from .engine import layout as L

# Per-step scratch fields read after each step; the ones a simulation lacks are skipped.
SCRATCH = ("c_sep", "active", "vt", "isc", "lo", "hi", "mu")
_ON_BOUND = 1.0 - 1e-9  # an impulse projected onto its bound sits there to rounding


@dataclass(frozen=True)
class Flag:
    """One on/off state of one item: `label` names the item ("contact foot/ground"), `state`
    says what is on ("touching")."""

    label: str
    state: str

    def __str__(self) -> str:
        return f"{self.label}: {self.state}"


@ti.kernel
def _copy_step(f: ti.template(), t: ti.i32, out: ti.types.ndarray()):
    """out[w, r] = f[t, w, r] (one step of a per-step field)."""
    for w, r in ti.ndrange(out.shape[0], out.shape[1]):
        out[w, r] = f[t, w, r]


class Recorder:
    """Pass as `sim.rollout(policy=recorder)`: after every step it turns that step's scratch
    into on/off states, one bool per Flag and world; then

        flags, states = recorder.flags()    # [Flag], (T, B, len(flags)) bool
    """

    def __init__(self, sim):
        from .backend import FieldBlock

        self.sim = sim
        fields = {n: getattr(sim.scratch, n) for n in SCRATCH if hasattr(sim.scratch, n)}
        self._block = FieldBlock(fields) if fields else None
        self._lam = hasattr(sim.state, "warm")
        self._kinds = []
        for kind in (_ContactStates, _LimitStates, _MotorStates):
            try:
                states = kind(sim, set(fields) | ({"lam"} if self._lam else set()))
            except (AttributeError, KeyError, IndexError):
                continue  # an engine laid out otherwise: these causes go unnamed
            if states.flags:
                self._kinds.append(states)
        self._steps = []

    def __call__(self, t: int) -> None:
        """Before step t: record step t - 1 (the rollout's policy hook)."""
        if t == 0:
            self._steps = []
            for kind in self._kinds:
                kind.start(self.sim)
        else:
            self._record(t - 1)

    def _record(self, t: int):
        read = self._block.read() if self._block else {}
        substeps = getattr(self.sim, "n_substeps", None)
        if substeps is None:  # one solve per step: its scratch is (B, ...)
            if self._lam:
                read["lam"] = np.empty(self.sim.state.warm.shape[1:], np.float64)
                _copy_step(self.sim.state.warm, t + 1, read["lam"])
            self._steps.append(self._states(read, t))
            return
        # substeps: scratch (substeps, B, ...); a state is on if it is on in any substep,
        # each substep judged with its own final impulses
        lam = self.sim.scratch.lam.to_numpy()[:, self.sim.n_sweeps] if self._lam else None
        on = None
        for u in range(substeps):
            part = {name: value[u] for name, value in read.items()}
            if lam is not None:
                part["lam"] = lam[u]
            states = self._states(part, t)
            on = states if on is None else on | states
        self._steps.append(on)

    def _states(self, read, t):
        parts = [kind.states(read, t) for kind in self._kinds]
        return np.concatenate(parts, axis=1) if parts else np.zeros((self.sim.batch, 0), bool)

    def flags(self):
        """([Flag], states (T, B, F) bool) of the rollout just run."""
        self._record(self.sim.steps - 1)
        return [f for kind in self._kinds for f in kind.flags], np.stack(self._steps)


def first_differences(flags, states, worlds, limit: int = 3):
    """(step, [Flag]) of the earliest step at which any flag differs between the given
    worlds (the first world is compared with each other one), at most `limit` flags; None
    when none differs. Later differences may be consequences of the first one."""
    base = states[:, worlds[0]]
    differ = np.zeros(base.shape, bool)
    for w in worlds[1:]:
        differ |= states[:, w] != base
    steps = np.nonzero(differ.any(axis=1))[0]
    if len(steps) == 0:
        return None
    t = int(steps[0])
    return t, [flags[i] for i in np.nonzero(differ[t])[0][:limit]]


def point_label(lay, i: int) -> str:
    """'contact A/B' (B 'ground', or 'world #k' for the world's shape k), with the probe's
    number where a shape pair has several contact points."""
    a = lay.body_names[lay.point_body_a[i]]
    b = lay.body_names[lay.point_body_b[i]] if lay.point_body_b[i] >= 0 else "ground"
    if lay.point_body_b[i] < 0 and lay.point_shape_b[i] >= 0:
        b = f"world #{int(lay.point_shape_b[i]) - lay.n_body_shapes}"
    same = (lay.point_shape_a == lay.point_shape_a[i]) & (lay.point_shape_b == lay.point_shape_b[i])
    many = int(np.count_nonzero(same)) > 1
    return f"contact {a}/{b}" + (f" point {int(lay.point_sub[i])}" if many else "")


# ------------------------------------------------------------------------------ the states
class _States:
    """A family of states over a set of items: `flags` (state-major: every item's first
    state, then every item's second, ...) and `states(read, t)` -> (B, len(flags)) bool from
    step t's fields `read` ({name: (B, rows or points)}, "lam" the impulses)."""

    def start(self, sim):
        """Before a rollout (reads what it needs of its inputs)."""

    def _rows(self, read, name, rows):
        return read[name][:, rows]


class _ContactStates(_States):
    def __init__(self, sim, have):
        lay = sim.layout
        self.normal = np.asarray(lay.point_row, int)
        labels = [point_label(lay, i) for i in range(lay.n_points)]
        kinds = lay.row_kind
        self.friction = np.array(
            [r + 1 < len(kinds) and kinds[r + 1] == L.ROW_FRICTION for r in self.normal], bool
        )
        self.torsion = np.array(
            [r + 3 < len(kinds) and kinds[r + 3] == L.ROW_TORSION for r in self.normal], bool
        )
        self.have = have
        self.flags = []
        for state, needs, mask in (
            ("touching (separation <= 0)", {"c_sep"}, None),
            ("within the contact margin", {"active"}, None),
            ("bouncing (restitution)", {"active", "isc"}, None),
            ("pushing (normal impulse > 0)", {"active", "lam"}, None),
            ("sliding (friction on the cone)", {"lam", "mu"}, self.friction),
            ("spinning (torsion at its bound)", {"lam", "mu"}, self.torsion),
        ):
            if needs <= have:
                self.flags += [
                    Flag(labels[i], state) for i in range(len(labels)) if mask is None or mask[i]
                ]

    def states(self, read, t):
        n, out = self.normal, []
        if "c_sep" in self.have:
            out.append(read["c_sep"][:, : len(n)] <= 0)
        # a row outside the margin keeps stale impulses and bounds (the forward rollout does
        # not build it), so every state but the separation needs it active
        active = None
        if "active" in self.have:
            active = self._rows(read, "active", n) > 0
            out.append(active)
            if "isc" in self.have:  # the restitution branch has no softness
                out.append(active & (self._rows(read, "isc", n) == 0))
            if "lam" in self.have:
                out.append(active & (self._rows(read, "lam", n) > 0))
        if {"lam", "mu"} <= self.have:
            lam_n = self._rows(read, "lam", n)
            f = n[self.friction]
            limit = self._rows(read, "mu", f + 1) * lam_n[:, self.friction]
            norm = np.hypot(self._rows(read, "lam", f + 1), self._rows(read, "lam", f + 2))
            sliding = (limit > 0) & (norm >= _ON_BOUND * limit)
            s = n[self.torsion]
            limit = self._rows(read, "mu", s + 3) * lam_n[:, self.torsion]
            spinning = (limit > 0) & (np.abs(self._rows(read, "lam", s + 3)) >= _ON_BOUND * limit)
            if active is not None:
                sliding &= active[:, self.friction]
                spinning &= active[:, self.torsion]
            out += [sliding, spinning]
        return np.concatenate(out, axis=1)


class _LimitStates(_States):
    def __init__(self, sim, have):
        lay = sim.layout
        self.rows = np.nonzero(lay.row_kind == L.ROW_LIMIT)[0]
        labels = []
        for r in self.rows:
            joint = lay.robot.joints[int(lay.row_idx[r])]
            axis = f" axis {int(lay.row_sub[r])}" if len(joint.limits) > 1 else ""
            labels.append(f"limit {joint.name}{axis}")
        self.have = have & {"active", "vt", "lam"}
        self.flags = []
        if "active" in have:
            self.flags += [Flag(x, "engaged (within the limit margin)") for x in labels]
            if "vt" in have:
                self.flags += [Flag(x, "crossed") for x in labels]
            if "lam" in have:
                self.flags += [Flag(x, "pushing (impulse > 0)") for x in labels]

    def states(self, read, t):
        engaged = self._rows(read, "active", self.rows) > 0
        out = [engaged]
        if "vt" in self.have:  # a target rate pushing out: only past the bound
            out.append(engaged & (self._rows(read, "vt", self.rows) > 0))
        if "lam" in self.have:
            out.append(engaged & (self._rows(read, "lam", self.rows) > 0))
        return np.concatenate(out, axis=1)


class _MotorStates(_States):
    def __init__(self, sim, have):
        lay = sim.layout
        self.rows = np.nonzero(lay.row_kind == L.ROW_MOTOR)[0]
        self.motor = lay.row_idx[self.rows]
        labels = [f"motor {lay.motor_names[m]}" for m in self.motor]
        self.have = have
        self.flags = [Flag(x, "command clipped to its range") for x in labels]
        if "vt" in have:
            self.flags += [Flag(x, "at its speed limit") for x in labels]
        if {"lam", "lo", "hi"} <= have:
            self.flags += [Flag(x, "at its force limit") for x in labels]

    def start(self, sim):
        self.ctrl = sim.control.ctrl.to_numpy()[:, :, self.motor]  # (T, B, motors)
        self.lo_cmd = sim.get_param("motor_ctrl_lo")[:, self.motor]
        self.hi_cmd = sim.get_param("motor_ctrl_hi")[:, self.motor]
        self.vmax = sim.get_param("motor_max_velocity")[:, self.motor]

    def states(self, read, t):
        cmd = self.ctrl[t]
        out = [(cmd < self.lo_cmd) | (cmd > self.hi_cmd)]
        if "vt" in self.have:
            out.append(np.abs(self._rows(read, "vt", self.rows)) >= _ON_BOUND * self.vmax)
        if {"lam", "lo", "hi"} <= self.have:
            lam, lo, hi = (self._rows(read, n, self.rows) for n in ("lam", "lo", "hi"))
            out.append((lo < hi) & ((lam <= lo) | (lam >= hi)))
        return np.concatenate(out, axis=1)
