"""What switches within a rollout: the on/off states of contacts, joint limits and clamps,
per step and world, so a finite difference that does not converge can be traced to its cause.

A rollout is a smooth function of its inputs except where one of these states changes: a
contact point's separation crossing zero or the speculative margin, its normal impulse
reaching zero, its friction reaching the cone (stick/slide), a joint limit engaging or being
crossed, a motor reaching its force or speed limit, a command clipped to its range. Each is
read from the simulation's per-step scratch fields after the step (c_sep, active, vt, isc,
lo, hi, mu) and from the impulses it keeps (warm); a state whose fields a simulation does not
have is left out, so a changed engine degrades to fewer named causes rather than an error.

Flags are boolean arrays (T, B, X): step t's state in world w for item x.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .engine import layout as L

# Per-step scratch fields read after each step; the ones a simulation lacks are skipped.
SCRATCH = ("c_sep", "active", "vt", "isc", "lo", "hi", "mu")
_CONE = 1.0 - 1e-9    # an impulse projected onto its bound sits there to rounding


@dataclass
class Flag:
    """One on/off state of one item: `label` names the item ("contact foot/ground"), `state`
    says what is on ("touching")."""
    label: str
    state: str

    def __str__(self) -> str:
        return f"{self.label}: {self.state}"


class Recorder:
    """Reads the scratch fields after every step of `sim.rollout(policy=recorder)`; then
    `flags()` gives every switchable state of the rollout.

        rec = Recorder(sim)
        sim.rollout(policy=rec)
        flags, states = rec.flags()     # [Flag] and (T, B, len(flags)) bool
    """

    def __init__(self, sim):
        from .backend import FieldBlock
        self.sim = sim
        fields = {n: getattr(sim, n) for n in SCRATCH if hasattr(sim, n)}
        self._block = FieldBlock(fields) if fields else None
        self._steps = []

    def __call__(self, t: int) -> None:
        """Before step t: record step t - 1's scratch (rollout's policy hook)."""
        if t == 0:
            self._steps = []
        else:
            self._record()

    def _record(self):
        self._steps.append(self._block.read() if self._block else {})

    def flags(self):
        """([Flag], states (T, B, F) bool) of the rollout just run."""
        self._record()   # the last step
        sim = self.sim
        rec = {n: np.stack([s[n] for s in self._steps]) for n in self._steps[0]}
        if hasattr(sim, "warm"):  # the impulse each row ended its step with
            rec["lam"] = sim.warm.to_numpy()[1:sim.steps + 1]
        out = []
        for kind in (_contact_flags, _limit_flags, _motor_flags):
            try:
                out += kind(sim, sim.layout, rec)
            except (AttributeError, KeyError, IndexError):
                pass   # an engine laid out otherwise: these causes go unnamed, the check stands
        if not out:
            return [], np.zeros((sim.steps, sim.batch, 0), bool)
        names, arrays = zip(*out)
        return list(names), np.stack(arrays, axis=-1)


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


# ---------------------------------------------------------------------------- item labels
def point_label(lay, i: int) -> str:
    """'contact A/B' (B 'ground'), with the point's number on a box or capsule."""
    a = lay.body_names[lay.point_body_a[i]]
    b = "ground" if lay.point_body_b[i] < 0 else lay.body_names[lay.point_body_b[i]]
    many = int(lay.point_geom[i]) in (L.G_BOX_GROUND, L.G_CAPSULE_GROUND)
    return f"contact {a}/{b}" + (f" point {int(lay.point_sub[i])}" if many else "")


def _joint_label(lay, j: int, axis: int) -> str:
    joint = lay.robot.joints[j]
    return f"limit {joint.name}" + (f" axis {axis}" if len(joint.limits) > 1 else "")


# ------------------------------------------------------------------------------ the flags
def _contact_flags(sim, lay, rec):
    out = []
    rows = lay.row_kind
    for i in range(lay.n_points):
        label, r = point_label(lay, i), int(lay.point_row[i])
        if "c_sep" in rec:
            out.append((Flag(label, "touching (separation <= 0)"), rec["c_sep"][:, :, i] <= 0))
        if "active" not in rec:
            continue
        active = rec["active"][:, :, r] > 0
        out.append((Flag(label, "within the contact margin"), active))
        if "isc" in rec:
            bouncing = active & (rec["isc"][:, :, r] == 0)   # the restitution branch: no softness
            out.append((Flag(label, "bouncing (restitution)"), bouncing))
        if "lam" not in rec:
            continue
        lam_n = rec["lam"][:, :, r]
        out.append((Flag(label, "pushing (normal impulse > 0)"), active & (lam_n > 0)))
        if "mu" in rec and r + 2 < len(rows) and rows[r + 1] == L.ROW_FRICTION:
            limit = rec["mu"][:, :, r + 1] * lam_n
            norm = np.hypot(rec["lam"][:, :, r + 1], rec["lam"][:, :, r + 2])
            out.append((Flag(label, "sliding (friction on the cone)"),
                        (lam_n > 0) & (norm >= _CONE * limit)))
            if r + 3 < len(rows) and rows[r + 3] == L.ROW_TORSION:
                spin = np.abs(rec["lam"][:, :, r + 3]) >= _CONE * rec["mu"][:, :, r + 3] * lam_n
                out.append((Flag(label, "spinning (torsion at its bound)"), (lam_n > 0) & spin))
    return out


def _limit_flags(sim, lay, rec):
    out = []
    for r in np.nonzero(lay.row_kind == L.ROW_LIMIT)[0]:
        label = _joint_label(lay, int(lay.row_idx[r]), int(lay.row_sub[r]))
        if "active" not in rec:
            break
        engaged = rec["active"][:, :, r] > 0
        out.append((Flag(label, "engaged (within the limit margin)"), engaged))
        if "vt" in rec:  # pushed out (target rate > 0) only past the bound
            out.append((Flag(label, "crossed"), engaged & (rec["vt"][:, :, r] > 0)))
        if "lam" in rec:
            out.append((Flag(label, "pushing (impulse > 0)"), engaged & (rec["lam"][:, :, r] > 0)))
    return out


def _motor_flags(sim, lay, rec):
    out = []
    names = lay.motor_names
    ctrl = sim.ctrl.to_numpy()[:, :, :sim.n_motors]
    lo_cmd, hi_cmd = sim.get_param("motor_ctrl_lo"), sim.get_param("motor_ctrl_hi")
    vmax = sim.get_param("motor_max_velocity")
    for r in np.nonzero(lay.row_kind == L.ROW_MOTOR)[0]:
        m = int(lay.row_idx[r])
        label = f"motor {names[m]}"
        out.append((Flag(label, "command clipped to its range"),
                    (ctrl[:, :, m] < lo_cmd[None, :, m]) | (ctrl[:, :, m] > hi_cmd[None, :, m])))
        if "vt" in rec:
            out.append((Flag(label, "at its speed limit"),
                        np.abs(rec["vt"][:, :, r]) >= _CONE * vmax[None, :, m]))
        if "lam" in rec and "lo" in rec and "hi" in rec:
            lam, lo, hi = rec["lam"][:, :, r], rec["lo"][:, :, r], rec["hi"][:, :, r]
            saturated = (lo < hi) & ((lam <= lo) | (lam >= hi))
            out.append((Flag(label, "at its force limit"), saturated))
    return out
