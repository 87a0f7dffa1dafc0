"""Tasks: what a rollout is scored on. Each task builds its loss as a Taichi kernel that adds
into sim.loss[None] (so ti.ad.Tape differentiates it) and keeps each world's loss in a
gradient-free field for population methods, and reports task metrics in physical units.

On CPU every loss kernel is one serial loop (backend.ordered_sums): its sums into sim.loss and
world_loss, and its adjoint's into the state, take one order whatever the thread count
(docs/determinism.md).
"""
from __future__ import annotations

import numpy as np
import taichi as ti

from ..engine.tmath import quat_rotate
from .experiment import Task


@ti.data_oriented
class BallThrow:
    """Degrave et al.'s ball throw: choose the initial linear and angular velocity of a ball
    so that after `duration` seconds it rests at `target` (x, y) [m] on the ground.

    Loss (per world, from the final state at T only):
        |p_xy(T) - target|^2 + w (|v(T)|^2 + r^2 |omega(T)|^2)        [m^2]
    with p the ball's COM [m], v [m/s], omega [rad/s], r the ball radius [m] (r omega is the
    rim speed) and w = velocity_weight [s^2]. A ball that still rolls at T also misses the
    position, so the position term dominates far from the optimum.

    Metrics: error_m = |p_xy(T) - target| [m]; speed_mps = |v(T)| [m/s]; rim_speed_mps =
    r |omega(T)| [m/s]. Success: error_m <= tolerance and speed_mps <= speed_tolerance.
    """

    headline = ("error_m", "m")
    better = "lower"    # the headline metric is better lower (gait: higher)
    random = None   # no random targets

    def __init__(self, task: Task, sim):
        if sim.n_bodies != 1 or sim.robot.bodies[0].shapes[0].kind != "sphere":
            raise ValueError("ball_throw needs a robot with one body whose first shape is a "
                             "sphere (robots/ball.yaml)")
        self.task, self.sim = task, sim
        self.radius = float(sim.get_param("shape_radius")[0, 0])
        self.world_loss = _world_loss_field(sim)
        self.tx, self.ty = (float(c) for c in task.target)
        self.w = float(task.velocity_weight)

    @ti.kernel
    def loss_kernel(self):
        ti.loop_config(serialize=self.sim.backend.ordered_sums)   # module docstring
        for b in range(self.sim.batch):  # every statement inside the loop (engine-notes 6)
            T = self.sim.steps
            p, v, om = self.sim.pos[T, b, 0], self.sim.vel[T, b, 0], self.sim.omega[T, b, 0]
            dx, dy = p[0] - self.tx, p[1] - self.ty
            r2 = self.radius * self.radius
            lw = dx * dx + dy * dy + self.w * (v.dot(v) + r2 * om.dot(om))
            self.world_loss[b] = lw
            self.sim.loss[None] += lw

    def reset(self):
        pass  # loss_kernel stores each world's loss

    def extra_loss(self):
        pass  # no control cost: the ball has no motors

    def losses(self) -> np.ndarray:
        """Loss of each world [m^2] after loss_kernel ran."""
        return self.world_loss.to_numpy().astype(float)

    def metrics(self) -> list[dict]:
        """Task metrics of each world from the last rollout (see the class docstring)."""
        final = {k: a[-1, :, 0].astype(float) for k, a in self.sim.poses().items()}
        p, v, om = final["pos"], final["vel"], final["omega"]
        err = np.hypot(p[:, 0] - self.tx, p[:, 1] - self.ty)
        speed = np.linalg.norm(v, axis=1)
        rim = self.radius * np.linalg.norm(om, axis=1)
        return [{"error_m": float(e), "speed_mps": float(s), "rim_speed_mps": float(r),
                 "final_pos_m": [float(c) for c in pp]}
                for e, s, r, pp in zip(err, speed, rim, p)]

    def success(self, m: dict) -> bool:
        return m["error_m"] <= self.task.tolerance and m["speed_mps"] <= self.task.speed_tolerance

    def batch_metrics(self) -> dict:
        return self.metrics()[0]

    def target_point(self) -> np.ndarray:
        """[m] world point drawn by the viewer: the target on the ground."""
        return np.array([self.tx, self.ty, 0.0])


class _SummedLoss:
    """For tasks whose loss_kernel adds each world's loss into `world_loss` over many steps:
    reset() zeroes it before a rollout, losses() reads it."""

    random = None   # no random targets

    def batch_metrics(self) -> dict:
        """The metrics an update reports: world 0's (with random starts: the file's start)."""
        return self.metrics()[0]

    def _share(self) -> float:
        """Weight of one world in sim.loss: 1, or 1 / B averaging a batch of random targets
        or random starts (one update's worlds share the controller)."""
        averaged = self.random is not None or self.task.starts is not None
        return 1.0 / self.sim.batch if averaged else 1.0

    def reset(self):
        self.world_loss.fill(0)

    def losses(self) -> np.ndarray:
        return self.world_loss.to_numpy().astype(float)

    def extra_loss(self):
        """After loss_kernel: the control cost, when task.control_cost > 0 (gait, reach,
        swing_up), added to each world's loss and to sim.loss:

            c (1/T) sum_{t=0..T-1} sum_m u_m(t)^2

        with u the raw commands the controller wrote (before the motors clamp them to their
        `range`), so its gradient still reaches a controller whose commands are clipped,
        where the physics passes none."""
        if self.task.control_cost > 0 and self.sim.n_motors:
            if not hasattr(self, "_control_weight"):   # a field: one compile for any weight
                self._control_weight = ti.field(self.sim.real, ())
            self._control_weight[None] = self.task.control_cost
            self._control_cost_kernel()
        if self.task.home_cost > 0:
            self._home_cost_kernel()

    def _set_home(self, task: Task, sim):
        """For task.home: (body index, its centre of mass x, y [m] in the robot file's start,
        the cost's weight c [1/m^2]), read from the t = 0 state that sim.start() just set
        (before any random start moves it); None without task.home. Compiled into the
        kernel: each experiment builds its own task."""
        self.home = None
        if task.home_body:
            n = _body_index(sim, task.home_body, "task.home.body")
            hx, hy = (float(c) for c in sim.pos.to_numpy()[0, 0, n, :2])
            self.home = (n, hx, hy, float(task.home_cost))

    @ti.kernel
    def _home_cost_kernel(self):
        """task.home: c (1/T) sum_{t=1..T} |p_xy(t) - home_xy|^2 added to each world's loss
        (keeps a cart off its rail's ends: a 5 s swing-up loss never sees them)."""
        ti.loop_config(serialize=self.sim.backend.ordered_sums)   # module docstring
        for b, t in ti.ndrange(self.sim.batch, self.sim.steps):
            n, hx, hy, c = ti.static(self.home)
            p = self.sim.pos[t + 1, b, n]
            dx, dy = p[0] - hx, p[1] - hy
            lw = c * (dx * dx + dy * dy) / self.sim.steps
            self.world_loss[b] += lw
            self.sim.loss[None] += lw * ti.static(self._share())

    def home_drift(self) -> np.ndarray:
        """(B,) [m] the largest horizontal distance of the home body from home in the last
        rollout (task.home)."""
        n, hx, hy, _ = self.home
        p = self.sim.poses()["pos"][:, :, n].astype(float)
        return np.hypot(p[:, :, 0] - hx, p[:, :, 1] - hy).max(axis=0)

    @ti.kernel
    def _control_cost_kernel(self):
        ti.loop_config(serialize=self.sim.backend.ordered_sums)   # module docstring
        for b, t, m in ti.ndrange(self.sim.batch, self.sim.steps, self.sim.n_motors):
            u = self.sim.ctrl[t, b, m]
            lw = self._control_weight[None] * u * u / self.sim.steps
            self.world_loss[b] += lw
            self.sim.loss[None] += lw * ti.static(self._share())


@ti.data_oriented
class Gait(_SummedLoss):
    """Locomotion: move `body` (default the first, the torso) as fast as possible along the
    ground direction `direction` (unit (x, y)).

    Loss (per world): -(1/T) sum_{t=1..T} v(t) . d          [m/s]
    the forward COM speed averaged over every step (Degrave et al.'s "loss averaged over all
    steps": every step gives the controller a gradient, not only the last).

    Metrics: speed_mps = (p(T) - p(0)) . d / duration [m/s], the mean forward speed;
    lateral_m = |(p(T) - p(0)) x d| [m] drift sideways; min_height_m = the lowest height of the
    body's COM [m] (a robot that falls shows it). Success: speed_mps >= target_speed.
    """

    headline = ("speed_mps", "m/s")
    better = "higher"

    def __init__(self, task: Task, sim):
        self.task, self.sim = task, sim
        self.body = _body_index(sim, task.body, "task.body") if task.body else 0
        d = np.asarray(task.direction, float)
        self.dx, self.dy = (float(c) for c in d / np.linalg.norm(d))
        self.world_loss = _world_loss_field(sim)


    @ti.kernel
    def loss_kernel(self):
        ti.loop_config(serialize=self.sim.backend.ordered_sums)   # module docstring
        for b, t in ti.ndrange(self.sim.batch, self.sim.steps):
            v = self.sim.vel[t + 1, b, self.body]
            lw = -(v[0] * self.dx + v[1] * self.dy) / self.sim.steps
            self.world_loss[b] += lw
            self.sim.loss[None] += lw * ti.static(self._share())


    def metrics(self) -> list[dict]:
        p = self.sim.poses()["pos"][:, :, self.body].astype(float)   # (T+1, B, 3)
        move = p[-1] - p[0]
        fwd = move[:, 0] * self.dx + move[:, 1] * self.dy
        side = np.abs(move[:, 0] * self.dy - move[:, 1] * self.dx)
        duration = self.sim.steps * self.sim.dt
        return [{"speed_mps": float(f / duration), "lateral_m": float(s),
                 "min_height_m": float(h)}
                for f, s, h in zip(fwd, side, p[:, :, 2].min(axis=0))]

    def success(self, m: dict) -> bool:
        return m["speed_mps"] >= self.task.target_speed

    def target_point(self) -> np.ndarray | None:
        return None


class _Effector(_SummedLoss):
    """For tasks scored on a point `effector.point` [m] fixed in the frame of body
    `effector.body`."""

    def _set_effector(self, task: Task, sim):
        self.effector = (_body_index(sim, task.effector_body, "task.effector.body"),
                         tuple(float(c) for c in task.effector_point))

    @ti.func
    def effector_at(self, t, b):
        n = ti.static(self.effector[0])
        p = ti.Vector(self.effector[1], dt=self.sim.real)
        return self.sim.pos[t, b, n] + quat_rotate(self.sim.quat[t, b, n], p - self.sim.com[b, n])

    def effector_path(self) -> np.ndarray:
        """(T+1, B, 3) [m] world positions of the effector point."""
        n, point = self.effector
        poses = self.sim.poses()
        pos, quat = poses["pos"][:, :, n].astype(float), poses["quat"][:, :, n].astype(float)
        com = self.sim.com.to_numpy()[:, n].astype(float)
        return pos + _rotate(quat, np.asarray(point) - com[None])


@ti.data_oriented
class Reach(_Effector):
    """Reaching: bring the effector point (`effector.point` [m] in the frame of body
    `effector.body`) to `target` [m] (world).

    Loss (per world): (1/T) sum_{t=1..T} |e(t) - target|     [m]
    the distance averaged over the whole rollout, as in Degrave et al. (it rewards getting
    there fast and staying there).

    Metrics: error_m = |e(T) - target| the final distance; mean_error_m = the loss.
    Success: error_m <= tolerance.
    """

    headline = ("error_m", "m")
    better = "lower"

    def __init__(self, task: Task, sim):
        self.task, self.sim = task, sim
        self._set_effector(task, sim)
        self.target_field = ti.Vector.field(3, sim.real, shape=sim.batch, needs_grad=True)
        self.world_loss = _world_loss_field(sim)
        self.random = task.targets
        if self.random is None:
            self.set_targets(np.asarray(task.target, float))
        else:
            r = self.random
            held_rng = np.random.default_rng(r.seed)
            self.held_out = held_rng.uniform(r.low, r.high, (r.held_out, 3))
            self.rng = np.random.default_rng(r.seed + 1)
            self.next_batch()

    def set_targets(self, targets) -> None:
        """Targets [m] (3,) for every world or (n <= B, 3), the rest repeating the last."""
        t = np.atleast_2d(np.asarray(targets, float))
        full = np.concatenate([t, np.repeat(t[-1:], self.sim.batch - len(t), axis=0)])
        self.target_field.from_numpy(full[:self.sim.batch].astype(_np(self.sim)))

    def next_batch(self, repeat: int = 1) -> None:
        """Random targets: a fresh uniform draw in [low, high] for every world, or for B /
        repeat worlds tiled `repeat` times (world b gets target b mod B / repeat: the same
        targets for every block of worlds, one block per CMA-ES candidate)."""
        r = self.random
        draw = self.rng.uniform(r.low, r.high, (self.sim.batch // repeat, 3))
        self.set_targets(np.tile(draw, (repeat, 1)))

    def block_metrics(self, k: int) -> list[dict]:
        """batch_metrics of each block of k consecutive worlds (one per CMA-ES candidate)."""
        per_world = self.metrics()
        return [{"train_error_m": float(np.mean([m["error_m"] for m in block])),
                 "mean_error_m": float(np.mean([m["mean_error_m"] for m in block]))}
                for block in (per_world[i:i + k] for i in range(0, len(per_world), k))]

    def final_errors(self) -> np.ndarray:
        """|e(T) - target| [m] of every world after a rollout."""
        e = self.effector_path()[-1]
        return np.linalg.norm(e - self.target_field.to_numpy().astype(float), axis=1)


    def clear_gradients(self):
        self.target_field.grad.fill(0)


    @ti.kernel
    def loss_kernel(self):
        ti.loop_config(serialize=self.sim.backend.ordered_sums)   # module docstring
        for b, t in ti.ndrange(self.sim.batch, self.sim.steps):
            d = self.effector_at(t + 1, b) - self.target_field[b]
            lw = ti.sqrt(d.dot(d) + 1e-12) / self.sim.steps
            self.world_loss[b] += lw
            self.sim.loss[None] += lw * ti.static(self._share())



    def metrics(self) -> list[dict]:
        e = self.effector_path()
        d = np.linalg.norm(e - self.target_field.to_numpy()[None].astype(float), axis=2)
        return [{"error_m": float(d[-1, b]), "mean_error_m": float(d[1:, b].mean())}
                for b in range(self.sim.batch)]

    def batch_metrics(self) -> dict:
        """The metrics of one update: world 0's, or with random targets the batch's means
        (train_error_m: mean final distance to this update's targets)."""
        if self.random is None:
            return self.metrics()[0]
        return self.block_metrics(self.sim.batch)[0]

    def held_out_error(self, rollout) -> float:
        """Mean final distance [m] over the held-out targets, `rollout()` running one
        forward rollout of every world (chunks of B targets)."""
        errors = []
        for i in range(0, len(self.held_out), self.sim.batch):
            chunk = self.held_out[i:i + self.sim.batch]
            self.set_targets(chunk)
            rollout()
            errors += list(self.final_errors()[:len(chunk)])
        return float(np.mean(errors))

    def success(self, m: dict) -> bool:
        return m["error_m"] <= self.task.tolerance

    def target_point(self) -> np.ndarray:
        """[m] world 0's target (the last one it was given, with random targets)."""
        if self.random is not None:
            return self.target_field.to_numpy()[0].astype(float)
        return np.asarray(self.task.target, float)


@ti.data_oriented
class SwingUp(_Effector):
    """Swing-up: raise the effector point (e.g. a pole's tip: `effector.point` [m] in the
    frame of `effector.body`) to `target_height` [m] and keep it there.

    Loss (per world): (1/T) sum_{t=1..T} (h - z_e(t))^2 / L^2       [-]
    with h = target_height and L = h - z_e(0) (the height to gain), so a pole hanging still
    scores 1 and one held upright from the first step scores 0. With task.gap "absolute":
    (1/T) sum_t |h - z_e(t)| / L instead. For a pole whose tip reaches h upright, the gap is
    L (1 - cos th) / 2 at a lean th, so the squared form is flat as th^4 near upright (a
    wobbling balance costs almost nothing) and the absolute one is a th^2 bowl there.

    Metrics: height_error_m = mean over the last `hold` seconds of h - z_e [m] (0 when
    upright); worst_gap_m = the largest h - z_e in that window [m]; max_height_m = the highest
    z_e reached; up_from_s = the first time |h - z_e| <= tolerance [s] (the duration if
    never); up_share = the share of the steps from then on where it is (1: never lost after
    the swing-up; 0 if never up); with task.home, max_drift_m (_SummedLoss.home_drift).
    Success: worst_gap_m <= tolerance, i.e. the point stays within `tolerance` of
    the height at every step of the window (a pole swinging slowly over the top can have a
    small mean gap there without being balanced).
    """

    headline = ("height_error_m", "m")
    better = "lower"

    def __init__(self, task: Task, sim):
        self.task, self.sim = task, sim
        self._set_effector(task, sim)
        self.world_loss = _world_loss_field(sim)
        self.goal = float(task.target_height)
        sim.start()   # the initial pose gives the height to gain (and task.home its place)
        self.span = max(abs(self.goal - float(self.effector_path()[0, 0, 2])), 1e-3)
        self._set_home(task, sim)

    @ti.kernel
    def loss_kernel(self):
        ti.loop_config(serialize=self.sim.backend.ordered_sums)   # module docstring
        for b, t in ti.ndrange(self.sim.batch, self.sim.steps):
            gap = (self.goal - self.effector_at(t + 1, b)[2]) / self.span
            cost = gap * gap
            if ti.static(self.task.gap == "absolute"):
                cost = ti.abs(gap)
            lw = cost / self.sim.steps
            self.world_loss[b] += lw
            self.sim.loss[None] += lw * ti.static(self._share())

    def metrics(self) -> list[dict]:
        z = self.effector_path()[:, :, 2]
        window = max(1, int(round(self.task.hold / self.sim.dt)))
        up = np.abs(self.goal - z) <= self.task.tolerance            # (T+1, B)
        out = []
        for b in range(self.sim.batch):
            first = int(np.argmax(up[:, b])) if up[:, b].any() else len(z) - 1
            out.append({"height_error_m": float(np.mean(self.goal - z[-window:, b])),
                        "worst_gap_m": float(np.max(self.goal - z[-window:, b])),
                        "max_height_m": float(z[:, b].max()),
                        "up_from_s": float(first * self.sim.dt),
                        "up_share": float(up[first:, b].mean())})
        if self.home is not None:
            for m, drift in zip(out, self.home_drift()):
                m["max_drift_m"] = float(drift)
        return out

    def success(self, m: dict) -> bool:
        return m["worst_gap_m"] <= self.task.tolerance

    def target_point(self) -> np.ndarray | None:
        return None


@ti.data_oriented
class SystemIdentification(_SummedLoss):
    """Recover physical parameters from a recorded trajectory. At set-up the robot is rolled
    out once with the hidden `truth` values (the recording: every body's COM path); the
    optimiser starts from the trainable parameters' `init` and never sees the truth.

    Loss (per world): (1/T) sum_{t=1..T} sum_n |p_n(t) - p_n^rec(t)|^2      [m^2]

    Metrics: error_m = the RMS position error over steps and bodies [m]; param_error = the
    largest relative error |value / truth - 1| over every trained number (it is a metric
    only: the loss never uses the truth). Success: param_error <= tolerance.
    """

    headline = ("param_error", "-")
    better = "lower"

    def __init__(self, task: Task, sim, trainable=()):
        self.task, self.sim = task, sim
        T, B, N = sim.steps + 1, sim.batch, sim.n_bodies
        self.recorded = ti.Vector.field(3, sim.real, shape=(T, B, N))
        self.world_loss = _world_loss_field(sim)
        self.index = {tr.name: (slice(None) if tr.index is None else list(tr.index))
                      for tr in trainable}
        self.truth = {}
        saved = {name: sim.get_param(name) for name, _ in task.truth}
        for name, value in task.truth:
            full = sim.get_param(name).copy()
            index = (slice(None), self.index.get(name, slice(None))) if full.ndim > 1 \
                else (slice(None),)
            v = np.asarray(value, float)
            target_shape = full[index].shape[1:]
            try:
                full[index] = v.reshape(()) if target_shape == () else \
                    np.broadcast_to(v, target_shape)
            except ValueError:
                raise ValueError(f"task.truth.{name}: {len(value)} numbers do not fit the "
                                 f"{full[index].shape[1:]} trained entries") from None
            self.truth[name] = full[0][index[1:]] if full.ndim > 1 else full[0]
            sim.set_param(name, full)
        sim.rollout(check=True)
        self.recorded.copy_from(sim.pos)
        for name, value in saved.items():
            sim.set_param(name, value)


    @ti.kernel
    def loss_kernel(self):
        ti.loop_config(serialize=self.sim.backend.ordered_sums)   # module docstring
        for b, t, n in ti.ndrange(self.sim.batch, self.sim.steps, self.sim.n_bodies):
            d = self.sim.pos[t + 1, b, n] - self.recorded[t + 1, b, n]
            lw = d.dot(d) / self.sim.steps
            self.world_loss[b] += lw
            self.sim.loss[None] += lw


    def metrics(self) -> list[dict]:
        out = []
        for b, lw in enumerate(self.losses()):
            errs = []
            for name, truth in self.truth.items():
                value = self.sim.get_param(name)[b]
                if value.ndim:
                    value = value[self.index.get(name, slice(None))]
                scale = np.where(truth != 0, np.abs(truth), 1.0)   # absolute where truth is 0
                errs.append(np.max(np.abs(value - truth) / scale))
            out.append({"error_m": float(np.sqrt(max(lw, 0.0) / self.sim.n_bodies)),
                        "param_error": float(max(errs))})
        return out

    def success(self, m: dict) -> bool:
        return m["param_error"] <= self.task.tolerance

    def target_point(self) -> np.ndarray | None:
        return None


def _world_loss_field(sim):
    """Each world's loss, (B,). Declared with a gradient that nothing uses: Taichi's reverse
    mode replays a kernel's stores into fields without gradients, so under ti.ad.Tape a loss
    kernel's `world_loss[b] += lw` would run twice and each world's loss read double."""
    return ti.field(sim.real, shape=sim.batch, needs_grad=True)


def _rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate v (..., 3) by the unit quaternions q (..., 4) [w, x, y, z]."""
    w, u = q[..., :1], q[..., 1:]
    c = np.cross(u, v)
    return v + 2.0 * w * c + 2.0 * np.cross(u, c)


def _body_index(sim, name: str, key: str) -> int:
    names = list(sim.layout.body_names)
    if name not in names:
        import difflib
        hint = difflib.get_close_matches(name, names, 1)
        raise ValueError(f"{key}: no body '{name}' in the robot" +
                         (f"; did you mean '{hint[0]}'?" if hint else
                          f" (bodies: {', '.join(names)})"))
    return names.index(name)


def _np(sim):
    return np.float64 if sim.real == ti.f64 else np.float32


TASK_CLASSES = {"ball_throw": BallThrow, "gait": Gait, "reach": Reach, "swing_up": SwingUp,
                "system_identification": SystemIdentification}


def make_task(task: Task, sim, trainable=()):
    """The task object of `task` for `sim` (system identification also needs the trainable
    parameters, whose selected entries its truth values fill)."""
    if task.type == "system_identification":
        return SystemIdentification(task, sim, trainable)
    return TASK_CLASSES[task.type](task, sim)
