"""Compare the tape's gradient with finite differences, and tell a kink from a bug.

The loss differentiated is LOSS_FORMULA: a random linear function of every world's final
state, motor coordinates and sensor values (every one contributes), fixed by a seed so runs
are comparable.

`classify` checks entries of the controls, the initial state and the physical parameters
(a random subset of each) against finite differences at a ladder of steps
h = r max(1, |x|), r = 1e-3 .. 1e-7 (REL_STEPS), central and one-sided (forward, backward),
and gives each entry one verdict:

    match        two consecutive central differences agree within the tolerance (they have
                 converged), the forward and backward ones agree or their difference shrinks
                 with h (h f'' for a smooth loss), and the tape agrees with them;
    non-smooth   no step size satisfies that: the loss has a kink or a jump within the step (a
                 contact, a joint limit or a clamp switches there); the switches that differ
                 between the worlds at x - h, x and x + h are named (module switches);
    mismatch     the differences converge and are one-sided consistent, but the tape
                 disagrees beyond the tolerance: a wrong gradient.

The perturbed rollouts run together, one world per perturbed value (world 0 holds the point
checked), so a check costs a few batched forward rollouts and one taped rollout.
`check` is the single-step central-difference comparison the engine's gradient tests use
(states chosen away from switches). Both need an f64 backend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import taichi as ti

from . import switches
from .engine import layout as L
from .engine.fields import PARAM_DOCS

GROUPS = {
    "controls": ["ctrl"],
    "initial": ["init_pos", "init_vel", "init_omega"],
    "params": [
        "shape_mass",
        "shape_radius",
        "shape_half_extents",
        "shape_half_length",
        "shape_pos",
        "shape_friction",
        "shape_restitution",
        "shape_torsional_friction",
        "shape_contact_hz",
        "shape_contact_damping",
        "ground_friction",
        "ground_contact_hz",
        "ground_contact_damping",
        "anchor_p",
        "anchor_c",
        "motor_gain",
        "motor_kp",
        "motor_kv",
        "motor_max_force",
        "motor_max_velocity",
        "motor_gear",
        "body_com",
        "body_inertia",
        "body_inertia_products",
        "passive_damping",
        "passive_armature",
        "passive_stiffness",
        "passive_spring_ref",
        "passive_friction_loss",
    ],
}
LOSS_FORMULA = """\
    L = sum_n [ a_n . pos[T, n] + b_n . vel[T, n] + 0.05 |omega[T, n]|^2 ]
        + sum_m c_m joint_pos[T, m] + sum_i d_i sensordata[T, i]
    per world, at the last step T; pos, vel [m, m/s] the centre of mass of body n, omega
    [rad/s], joint_pos [rad or m] of motor m; a_n, b_n (3-vectors), c_m, d_i drawn once from
    a standard normal distribution seeded by the seed"""
MATCH, NON_SMOOTH, MISMATCH = "match", "non-smooth", "mismatch"
# Finite-difference steps relative to max(1, |x|), largest first (a factor 10 apart).
REL_STEPS = (1e-3, 1e-4, 1e-5, 1e-6, 1e-7)
# Rounding noise of one loss evaluation, relative to the loss's magnitude: a difference of
# two losses is known to about NOISE * |L| (a rollout's rounding, well above 1 ulp).
NOISE = 1e-12
# A smooth loss's forward and backward differences differ by h f'' + O(h^3): over a factor
# 10 in h that difference shrinks about 10 times; at a kink it stays.
SHRINK = 3.0
MAX_WORLDS = 128  # worlds of one rollout (the taped one runs at this batch too)

# Size parameters and the shape kinds that use them.
_SIZE_USERS = {
    "shape_radius": (L.S_SPHERE, L.S_CAPSULE, L.S_CYLINDER),
    "shape_half_extents": (L.S_BOX,),
    "shape_half_length": (L.S_CAPSULE, L.S_CYLINDER),
}


# --------------------------------------------------------------------------------- loss
@ti.data_oriented
class FinalStateLoss:
    """The loss documented above, as Taichi kernels bound to one simulation: `kernel` adds
    every world's L to sim.loss (for the tape), `k_values` writes each world's L to
    `values` (B,)."""

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
        c[sim.n_motors :] = 0
        self.c.from_numpy(c)
        self.d = ti.field(sim.real, max(sim.n_sensordata, 1))
        d = rng.normal(size=self.d.shape[0])
        d[sim.n_sensordata :] = 0
        self.d.from_numpy(d)
        self.values = ti.field(sim.real, sim.batch)

    @ti.func
    def body_term(self, w, n):
        s, T = self.sim, self.sim.steps
        om = s.state.omega[T, w, n]
        return (
            self.a[n].dot(s.state.pos[T, w, n])
            + self.b[n].dot(s.state.vel[T, w, n])
            + 0.05 * om.dot(om)
        )

    @ti.func
    def motor_term(self, w, m):
        return self.c[m] * self.sim.state.joint_pos[self.sim.steps, w, m]

    @ti.func
    def sensor_term(self, w, i):
        return self.d[i] * self.sim.state.sensordata[self.sim.steps, w, i]

    @ti.kernel
    def kernel(self):
        # on CPU serial loops: the sums into loss take a fixed order (docs/determinism.md)
        ti.loop_config(serialize=self.sim.backend.ordered_sums)
        for w, n in ti.ndrange(self.sim.batch, self.sim.n_bodies):
            self.sim.loss[None] += self.body_term(w, n)
        ti.loop_config(serialize=self.sim.backend.ordered_sums)
        for w, m in ti.ndrange(self.sim.batch, self.sim.n_motors):
            self.sim.loss[None] += self.motor_term(w, m)
        ti.loop_config(serialize=self.sim.backend.ordered_sums)
        for w, i in ti.ndrange(self.sim.batch, self.sim.n_sensordata):
            self.sim.loss[None] += self.sensor_term(w, i)

    @ti.kernel
    def k_values(self):
        for w in range(self.sim.batch):
            self.values[w] = 0.0
        for w, n in ti.ndrange(self.sim.batch, self.sim.n_bodies):
            self.values[w] += self.body_term(w, n)
        for w, m in ti.ndrange(self.sim.batch, self.sim.n_motors):
            self.values[w] += self.motor_term(w, m)
        for w, i in ti.ndrange(self.sim.batch, self.sim.n_sensordata):
            self.values[w] += self.sensor_term(w, i)

    def value(self) -> float:
        """Roll out (untaped) and return the loss summed over the worlds."""
        self.sim.loss[None] = 0.0
        self.sim.rollout()
        self.kernel()
        return float(self.sim.loss[None])

    def per_world(self) -> np.ndarray:
        """Each world's L (B,) of the rollout just run."""
        self.k_values()
        return self.values.to_numpy()

    def gradient(self) -> float:
        """A taped rollout: the gradients of the summed loss land in the simulation."""
        with self.sim.tape():
            self.sim.rollout(check=False)
            self.kernel()
        return float(self.sim.loss[None])


# ------------------------------------------------------------------------------ entries
@dataclass(frozen=True)
class Target:
    """One checked entry: `name` is a parameter (PARAM_DOCS) or "ctrl"; `index` its position
    after the world axis ((t, m) for ctrl)."""

    group: str
    name: str
    index: tuple


def valid_entries(layout, name: str, steps: int) -> np.ndarray:
    """Boolean mask (per world, without the world axis) of the entries of parameter `name`
    (or "ctrl", shape (steps, M)) that the rollout uses."""
    if name == "ctrl":
        return np.ones((steps, layout.n_motors), bool)
    valid = np.ones(layout.params[name].shape[1:], bool)
    if name in _SIZE_USERS:  # sizes only where the shape kind uses them
        kinds = np.isin(layout.shape_kind, _SIZE_USERS[name])
        valid &= kinds.reshape((-1,) + (1,) * (valid.ndim - 1))
    users = _users(layout, name)
    if users is not None:  # given mass properties, gears, passive joints: where they act
        users = np.asarray(users, bool)
        valid &= users.reshape(users.shape + (1,) * (valid.ndim - users.ndim))
    return valid


def _users(layout, name: str):
    """Per entry of the leading axis, whether parameter `name` acts (None: everywhere)."""
    robot = layout.robot
    if name == "shape_mass":  # the world's shapes weigh nothing
        return layout.shape_body >= 0
    if name == "body_com":
        return layout.body_has_com
    if name in ("body_inertia", "body_inertia_products"):
        return layout.body_has_inertia
    if name == "motor_gear":
        return layout.motor_mode == L.M_FORCE
    if name in ("motor_kp", "motor_kv"):  # PD servos only: at 0 the servo is another kind
        gains = layout.params[name][0]
        modes = (L.M_POSITION,) if name == "motor_kp" else (L.M_POSITION, L.M_VELOCITY)
        return (np.asarray(gains) > 0) & np.isin(layout.motor_mode, modes)
    joints = robot.joints
    if name == "passive_friction_loss":  # per joint and axis
        return [
            [k < len(j.axes) and j.friction_loss[k] > 0 for k in range(3)] for j in robot.joints
        ]
    if name.startswith("passive_"):
        return [[k in L.passive_axes(j) for k in range(3)] for j in joints]
    return None


def choose(layout, steps: int, groups, per_param: int, seed: int = 0) -> list[Target]:
    """Up to `per_param` random entries of every parameter of `groups` the robot has."""
    rng = np.random.default_rng(seed + 1)
    out = []
    for group in groups:
        for name in GROUPS[group]:
            if name != "ctrl" and name not in layout.params:
                continue
            flat = np.argwhere(valid_entries(layout, name, steps))
            if len(flat) == 0:
                continue
            picks = flat[rng.choice(len(flat), min(per_param, len(flat)), replace=False)]
            out += [Target(group, name, tuple(int(i) for i in idx)) for idx in picks]
    return out


def label(layout, target: Target) -> str:
    """The entry in words: 'shape_radius[ball]', 'init_vel[torso].z', 'ctrl[t=4, hip]',
    'passive_damping[hip].axis1'."""
    name, idx = target.name, target.index
    if name == "ctrl":
        return f"ctrl[t={idx[0]}, {layout.motor_names[idx[1]]}]"
    key = PARAM_DOCS[name][0]
    owner = {
        "S": lambda i: (
            layout.body_names[layout.shape_body[i]] if layout.shape_body[i] >= 0 else "world"
        ),
        "N": lambda i: layout.body_names[i],
        "J": lambda i: layout.robot.joints[i].name,
        "M": lambda i: layout.motor_names[i],
    }.get(key[:1])
    text = name
    if owner is not None:
        text += f"[{owner(idx[0])}" + (f" #{idx[0]}" if key[:1] == "S" else "") + "]"
        idx = idx[1:]
    if len(idx) == 1 and key == "Jx3":  # per joint axis
        text += f".axis{idx[0]}"
    elif len(idx) == 1 and key.endswith("3"):
        text += "." + "xyz"[idx[0]]
    elif idx:
        text += str(list(idx))
    return text


# ------------------------------------------------------------------------ classification
@dataclass
class Verdict:
    """One entry's tape gradient, its finite differences (per step h) and the verdict."""

    target: Target
    label: str
    x: float
    tape: float
    h: np.ndarray
    central: np.ndarray
    forward: np.ndarray
    backward: np.ndarray
    noise: np.ndarray
    verdict: str = ""
    estimate: float = math.nan  # the converged difference (match, mismatch)
    resolution: float = 0.0  # the smallest gradient that difference resolves to tol
    reason: str = ""  # why non-smooth
    switched: list = field(default_factory=list)  # (step, [switches.Flag]) or []

    @property
    def group(self) -> str:
        return self.target.group

    @property
    def rel_error(self) -> float:
        """|tape - estimate| relative to the larger of the two, or to the resolution where
        both are below it (nan if non-smooth); at most tol for a match."""
        if math.isnan(self.estimate):
            return math.nan
        scale = max(abs(self.estimate), abs(self.tape), self.resolution, 1e-300)
        return abs(self.tape - self.estimate) / scale


def differences(target: Target, name: str, x: float, tape: float, h, f0: float, fp, fm) -> Verdict:
    """An unjudged Verdict from the losses at x (f0) and at x + h, x - h (fp, fm) for each
    step h (arrays, largest step first)."""
    h, fp, fm = (np.asarray(a, float) for a in (h, fp, fm))
    magnitude = np.maximum(np.maximum(abs(fp), abs(fm)), abs(f0))
    return Verdict(
        target,
        name,
        x,
        tape,
        h,
        (fp - fm) / (2 * h),
        (fp - f0) / h,
        (f0 - fm) / h,
        NOISE * magnitude / h,
    )


def judge(v: Verdict, tol: float) -> Verdict:
    """Set v.verdict, v.estimate and v.reason from its differences (see the module doc).

    A pair of consecutive steps (h_k, h_k+1) is usable when the central differences at the two
    agree within tol (relative to the larger of them and the tape, or to the rounding noise at
    h_k+1 over tol, the smallest gradient resolved there) and the forward and backward
    differences at h_k+1 agree to that tolerance or differ SHRINK times less than at h_k.
    Match: the tape agrees with a usable pair's central difference; mismatch: usable pairs
    exist and the tape agrees with none."""
    c, p, m, noise = v.central, v.forward, v.backward, v.noise
    if not math.isfinite(v.tape):
        v.verdict, v.reason = MISMATCH, "the tape's gradient is not finite"
        return v
    usable = []
    settles = False
    for k in range(len(c) - 1):
        floor = noise[k + 1] / tol  # smaller gradients are rounding noise at this step
        allowed = tol * max(abs(c[k + 1]), abs(v.tape), floor)
        if abs(c[k] - c[k + 1]) > allowed:
            continue
        settles = True
        gap_now, gap_before = abs(p[k + 1] - m[k + 1]), abs(p[k] - m[k])
        if gap_now <= allowed or gap_now * SHRINK <= gap_before:
            usable.append((abs(c[k] - c[k + 1]) + noise[k + 1], k + 1, allowed, floor))
    if not usable:
        v.verdict = NON_SMOOTH
        k = len(c) - 1
        v.reason = (
            f"forward {p[k]:.4g} and backward {m[k]:.4g} differ at h {v.h[k]:.0e}"
            if settles
            else "central differences " + " ".join(f"{x:.4g}" for x in c) + " do not settle"
        )
        jumps = 2 * v.h[-2:] * c[-2:]  # the loss's change across x, if it jumps there
        if not settles and abs(jumps[1]) > 0 and abs(jumps[0] / jumps[1] - 1) < 0.5:
            v.reason += f" (they grow as 1/h: the loss jumps by about {jumps[1]:.3g} at x)"
        v.reason += "; " + _tape_side(v, tol)
        return v
    matching = [u for u in usable if abs(v.tape - c[u[1]]) <= u[2]]
    best = min(matching or usable)
    v.estimate, v.resolution = float(c[best[1]]), float(best[3])
    v.verdict = MATCH if matching else MISMATCH
    return v


def _tape_side(v: Verdict, tol: float) -> str:
    """Where the tape lies against the one-sided differences at the smallest step."""
    p, m = v.forward[-1], v.backward[-1]
    near = lambda a: abs(v.tape - a) <= tol * max(abs(a), abs(v.tape)) + v.noise[-1]  # noqa
    if near(p) and near(m):
        return "tape agrees with both sides"
    if near(p):
        return "tape = forward (right-sided) derivative"
    if near(m):
        return "tape = backward (left-sided) derivative"
    if min(p, m) <= v.tape <= max(p, m):
        return "tape between the one-sided ones"
    return "tape outside the one-sided ones"


def classify(
    sim, targets: list[Target], tol: float = 1e-3, seed: int = 0, rel_steps=REL_STEPS, corrupt=None
) -> list[Verdict]:
    """Verdicts for `targets` at world 0's parameters and controls (see the module doc).

    `sim` needs an f64 backend and batch >= 1 + 2 len(rel_steps) (one world per perturbed
    value; worlds_for(len(targets)) is the most a check uses); the other worlds' parameters
    and controls are overwritten while checking and restored after. `corrupt`, if given, is
    called as corrupt(target, tape_value) -> value and replaces the tape's gradient (tests
    use it to plant a wrong gradient)."""
    if sim.real != ti.f64:
        raise ValueError("gradcheck needs an f64 backend: tdphys.init(arch, 'f64')")
    per_target = 2 * len(rel_steps)
    chunk = (sim.batch - 1) // per_target
    if chunk < 1:
        raise ValueError(f"gradcheck needs a simulation of at least {1 + per_target} worlds")
    loss = FinalStateLoss(sim, seed)
    saved = {n: sim.get_param(n) for n in PARAM_DOCS}  # every world as world 0 but one value
    saved_ctrl = sim.control.ctrl.to_numpy()[:, :, : sim.n_motors].copy()
    base = {n: np.broadcast_to(a[:1], a.shape).copy() for n, a in saved.items()}
    base_ctrl = np.broadcast_to(saved_ctrl[:, :1], saved_ctrl.shape).copy()
    try:
        _set(sim, base, base_ctrl)
        tape = _tape_values(sim, loss, targets)
        if corrupt is not None:
            tape = [corrupt(t, g) for t, g in zip(targets, tape)]
        recorder = switches.Recorder(sim)
        out = []
        for start in range(0, len(targets), chunk):
            part = targets[start : start + chunk]
            out += _check_chunk(
                sim,
                loss,
                recorder,
                part,
                tape[start : start + chunk],
                base,
                base_ctrl,
                tol,
                rel_steps,
            )
    finally:
        _set(sim, saved, saved_ctrl)
    return out


def worlds_for(n_targets: int, rel_steps=REL_STEPS, max_worlds: int = MAX_WORLDS) -> int:
    """The batch classify needs for n_targets entries in as few rollouts as max_worlds lets
    (the entries spread evenly over them)."""
    per_target = 2 * len(rel_steps)
    if n_targets == 0:
        return 1 + per_target
    rollouts = math.ceil(n_targets / max(1, (max_worlds - 1) // per_target))
    return 1 + per_target * math.ceil(n_targets / rollouts)


def _set(sim, params: dict, ctrl: np.ndarray):
    if params:
        sim.set_params(params)
    if sim.n_motors:
        sim.set_controls(ctrl)


def _tape_values(sim, loss, targets) -> list[float]:
    """World 0's tape gradient of every target (all worlds at the checked point)."""
    loss.gradient()
    grads = {n: sim.param_grad(n) for n in {t.name for t in targets if t.name != "ctrl"}}
    if any(t.name == "ctrl" for t in targets):
        grads["ctrl"] = np.moveaxis(sim.controls_grad(), 1, 0)  # (B, T, M)
    return [float(grads[t.name][(0,) + t.index]) for t in targets]


def _check_chunk(sim, loss, recorder, targets, tape, base, base_ctrl, tol, rel_steps):
    """One forward rollout: world 0 at the checked point, then per target and step size the
    worlds at x + h and x - h."""
    params = {n: a.copy() for n, a in base.items()}
    ctrl = base_ctrl.copy()
    steps = []
    for e, t in enumerate(targets):
        x = float(
            ctrl[(t.index[0], 0, t.index[1])] if t.name == "ctrl" else base[t.name][(0,) + t.index]
        )
        hs = np.array([r * max(1.0, abs(x)) for r in rel_steps])
        for k, h in enumerate(hs):
            for side, sign in enumerate((1.0, -1.0)):
                w = 1 + len(rel_steps) * 2 * e + 2 * k + side
                if t.name == "ctrl":
                    ctrl[t.index[0], w, t.index[1]] = x + sign * h
                else:
                    params[t.name][(w,) + t.index] = x + sign * h
        steps.append((x, hs))
    _set(sim, params, ctrl)
    sim.rollout(policy=recorder, check=False)  # a perturbed world may diverge: no verdict
    values = loss.per_world()
    if not np.isfinite(values[0]):
        sim.check_finite()  # the point checked diverges: SimulationDiverged names where
    flags, states = recorder.flags()
    out = []
    for e, (t, g, (x, hs)) in enumerate(zip(targets, tape, steps)):
        first = 1 + len(rel_steps) * 2 * e
        fp = values[first : first + 2 * len(hs) : 2]
        fm = values[first + 1 : first + 2 * len(hs) : 2]
        v = differences(t, label(sim.layout, t), x, g, hs, values[0], fp, fm)
        judge(v, tol)
        if v.verdict == NON_SMOOTH:
            v.switched = _what_switched(flags, states, first, len(hs))
        out.append(v)
    return out


def _what_switched(flags, states, first, rungs):
    """The earliest switch that differs between x, x + h and x - h, at the smallest step h at
    which one does: (step, [Flag]) or []."""
    for k in reversed(range(rungs)):
        found = switches.first_differences(flags, states, (0, first + 2 * k, first + 2 * k + 1))
        if found:
            return found
    return []


# ------------------------------------------------------------------------------- report
def summary_counts(verdicts: list[Verdict]) -> dict:
    """{group: {match: n, non-smooth: n, mismatch: n, "max relative error": float}}; the
    maximum relative error is over the matches and mismatches (nan if none)."""
    out = {}
    for v in verdicts:
        row = out.setdefault(
            v.group, {MATCH: 0, NON_SMOOTH: 0, MISMATCH: 0, "max relative error": math.nan}
        )
        row[v.verdict] += 1
        if not math.isnan(v.rel_error):
            prev = row["max relative error"]
            row["max relative error"] = v.rel_error if math.isnan(prev) else max(prev, v.rel_error)
    return out


def format_table(verdicts: list[Verdict], groups, verbose: bool = False) -> str:
    """A table per group (one line per entry), then the summary."""
    lines = []
    width = max([len(v.label) for v in verdicts] + [5])
    for group in groups:
        mine = [v for v in verdicts if v.group == group]
        count = f"{len(mine)} " + ("entry" if len(mine) == 1 else "entries")
        lines.append(f"\n{group}: {count}" + ("" if mine else " (none here)"))
        if not mine:
            continue
        lines.append(
            f"  {'entry':{width}s}  {'x':>10s}  {'tape':>12s}  {'differences':>12s}  "
            f"{'rel. error':>9s}  verdict"
        )
        for v in mine:
            diff = "" if math.isnan(v.estimate) else f"{v.estimate:12.5e}"
            err = "" if math.isnan(v.rel_error) else f"{v.rel_error:9.1e}"
            lines.append(
                f"  {v.label:{width}s}  {v.x:10.4g}  {v.tape:12.5e}  {diff:>12s}  "
                f"{err:>9s}  {v.verdict}"
            )
            if v.reason:
                lines.append(f"  {'':{width}s}    {v.reason}")
            if v.verdict == NON_SMOOTH:
                lines.append(f"  {'':{width}s}    " + _switch_text(v.switched))
            if verbose or v.verdict == MISMATCH:
                lines += [f"  {'':{width}s}    " + s for s in _ladder(v)]
    lines.append("\nsummary (max relative error over the entries whose differences converge)")
    lines.append(f"  {'group':9s} {MATCH:>6s} {NON_SMOOTH:>11s} {MISMATCH:>9s}  max relative error")
    counts = summary_counts(verdicts)
    for group in groups:
        row = counts.get(group)
        if row is None:
            lines.append(f"  {group:9s} no entries")
            continue
        err = row["max relative error"]
        lines.append(
            f"  {group:9s} {row[MATCH]:6d} {row[NON_SMOOTH]:11d} {row[MISMATCH]:9d}  "
            + ("-" if math.isnan(err) else f"{err:.2e}")
        )
    return "\n".join(lines)


def _switch_text(found) -> str:
    if not found:
        return (
            "no contact, limit or clamp state differs between x - h, x and x + h at any "
            "step size (a clamp inside the solver's iterations?)"
        )
    t, flags = found
    return f"switches within the step, first at step {t}: " + "; ".join(map(str, flags))


def _ladder(v: Verdict) -> list[str]:
    row = lambda name, xs: f"{name:9s}" + " ".join(f"{x:12.5e}" for x in xs)  # noqa: E731
    return [
        row("h", v.h),
        row("central", v.central),
        row("forward", v.forward),
        row("backward", v.backward),
    ]


# ------------------------------------------------------------------ single-step check
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


def check(
    sim,
    groups=("controls", "initial", "params"),
    per_param: int = 3,
    eps: float = 1e-6,
    seed: int = 0,
) -> list[Entry]:
    """Tape gradient vs central differences (one step eps max(1, |x|)) on up to `per_param`
    random entries (of any world) of every parameter in `groups`; the loss is summed over the
    worlds. For states away from switches (the engine's gradient tests); `classify` tells a
    kink from a bug."""
    loss = FinalStateLoss(sim, seed)
    loss.gradient()
    rng = np.random.default_rng(seed + 1)
    chosen = [
        (g, n)
        for g in groups
        for n in GROUPS[g]
        if (n == "ctrl" and sim.n_motors) or (n != "ctrl" and n in sim.model.params)
    ]
    grads = {n: sim.controls_grad() if n == "ctrl" else sim.param_grad(n) for _, n in chosen}
    out = []
    for group, name in chosen:
        base = (
            sim.control.ctrl.to_numpy()[:, :, : sim.n_motors]
            if name == "ctrl"
            else sim.get_param(name)
        )
        valid = valid_entries(sim.layout, name, sim.steps)
        valid = np.broadcast_to(valid[:, None] if name == "ctrl" else valid[None], base.shape)
        flat = np.argwhere(valid)
        if len(flat) == 0:
            continue
        picks = flat[rng.choice(len(flat), min(per_param, len(flat)), replace=False)]
        for idx in map(tuple, picks):
            step = eps * max(1.0, abs(base[idx]))
            values = []
            for sign in (1.0, -1.0):
                trial = base.copy()
                trial[idx] += sign * step
                _put(sim, name, trial)
                values.append(loss.value())
            _put(sim, name, base)
            fd = (values[0] - values[1]) / (2 * step)
            out.append(Entry(group, name, idx, float(grads[name][idx]), fd))
    return out


def _put(sim, name, value):
    if name == "ctrl":
        sim.set_controls(value)
    else:
        sim.set_param(name, value)


def summary(entries: list[Entry]) -> dict:
    """Maximum relative error per group."""
    worst = {}
    for e in entries:
        worst[e.group] = max(worst.get(e.group, 0.0), e.rel_error)
    return worst
