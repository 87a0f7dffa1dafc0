"""Swing-up (`task: {type: swing_up}`): raise a point of a body (a pole's tip) to a height
and keep it there."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import taichi as ti

from ..model.yamlread import Map, choice, non_negative, number, string
from .base import (
    CONTROL_COST,
    ControlCost,
    EffectorPoint,
    Task,
    TaskConfig,
    body_index,
    check_body,
    check_confirm,
    read_duration,
    read_effector,
    read_fields,
    read_starts,
    read_tolerance,
)

KEYS = {
    "type",
    "duration",
    "target_height",
    "tolerance",
    "effector",
    "hold",
    "starts",
    "confirm",
    "confirm_starts",
    "control_cost",
    "home",
    "gap",
}
GAPS = ("squared", "absolute")  # the loss per step is gap^2 or |gap|


@dataclass(frozen=True)
class SwingUpConfig(TaskConfig):
    """target_height [m] to raise the effector to; tolerance [m]: success; hold [s]: the final
    window the metrics average over; effector_body and effector_point [m] in that body's
    frame; control_cost: weight of the commands' squares (tasks/base.py ControlCost); gap:
    "squared" or "absolute", the loss's power of the height gap; home_body and home_cost c
    [1/m^2]: c (1/T) sum_t |p_xy(t) - p_xy(0)|^2 of that body's centre of mass added to the
    loss ("" and 0: none)."""

    type = "swing_up"
    target_height: float = 1.0
    tolerance: float = 0.01
    hold: float = 1.0
    effector_body: str = ""
    effector_point: tuple[float, float, float] = (0.0, 0.0, 0.0)
    control_cost: float = 0.0
    gap: str = "squared"
    home_body: str = ""
    home_cost: float = 0.0

    def check_robot(self, robot, file: str, robot_path: str) -> None:
        check_body(self.effector_body, "task.effector.body", robot, file, robot_path)
        if self.home_body:
            check_body(self.home_body, "task.home.body", robot, file, robot_path)


def parse(m: Map) -> SwingUpConfig:
    values = read_fields(
        m,
        {
            "duration": read_duration,
            "tolerance": read_tolerance,
            "target_height": number,
            "hold": read_duration,
            "confirm": read_duration,
            **CONTROL_COST,
            "gap": lambda a: choice(a, GAPS, "height gap form"),
        },
    )
    check_confirm(m, values, SwingUpConfig.duration)
    read_starts(m, values)
    if "target_height" not in m:
        m.require("target_height", "add `target_height: H` [m], the height to raise it to")
    read_effector(m, values)
    if "home" in m:
        h = Map(m.get("home"), "task.home").only({"body", "cost"})
        values["home_body"] = string(
            h.require("body", "name the body to keep near its place in the robot file")
        )
        values["home_cost"] = non_negative(
            h.require("cost", "add `cost: c` [1/m^2], the weight of its squared distance")
        )
    return SwingUpConfig(**values)


@ti.data_oriented
class SwingUp(EffectorPoint, ControlCost, Task):
    """Raise the effector point (e.g. a pole's tip: `effector.point` [m] in the frame of
    `effector.body`) to `target_height` [m] and keep it there.

    Loss (per world): (1/T) sum_{t=1..T} (h - z_e(t))^2 / L^2       [-]
    with h = target_height and L = h - z_e(0) (the height to gain), so a pole hanging still
    scores 1 and one held upright from the first step scores 0. With task.gap "absolute":
    (1/T) sum_t |h - z_e(t)| / L instead. For a pole whose tip reaches h upright, the gap is
    L (1 - cos th) / 2 at a lean th, so the squared form is flat as th^4 near upright (a
    wobbling balance costs almost nothing) and the absolute one is a th^2 bowl there.
    With task.home: c (1/T) sum_{t=1..T} |p_xy(t) - home_xy|^2 added to each world's loss
    (keeps a cart off its rail's ends, which a short rollout's loss never sees).

    Metrics: height_error_m = mean over the last `hold` seconds of h - z_e [m] (0 when
    upright); worst_gap_m = the largest h - z_e in that window [m]; max_height_m = the highest
    z_e reached; up_from_s = the first time |h - z_e| <= tolerance [s] (the duration if
    never); up_share = the share of the steps from then on where it is (1: never lost after
    the swing-up; 0 if never up); with task.home, max_drift_m (home_drift).
    Success: worst_gap_m <= tolerance, i.e. the point stays within `tolerance` of
    the height at every step of the window (a pole swinging slowly over the top can have a
    small mean gap there without being balanced).
    """

    headline = ("height_error_m", "m")
    better = "lower"

    def __init__(self, config: SwingUpConfig, sim):
        super().__init__(config, sim)
        self._set_effector()
        self.goal = float(config.target_height)
        sim.start()  # the initial pose gives the height to gain (and task.home its place)
        self.span = max(abs(self.goal - float(self.effector_path()[0, 0, 2])), 1e-3)
        self._set_home()
        self._init_control_cost()

    def _set_home(self):
        """For task.home: (body index, its centre of mass x, y [m] in the robot file's start,
        the cost's weight c [1/m^2]), read from the t = 0 state that sim.start() just set
        (before any random start moves it); None without task.home. Compiled into the
        kernel: each experiment builds its own task."""
        self.home = None
        if self.config.home_body:
            n = body_index(self.sim, self.config.home_body, "task.home.body")
            hx, hy = (float(c) for c in self.sim.state.pos.to_numpy()[0, 0, n, :2])
            self.home = (n, hx, hy, float(self.config.home_cost))

    @ti.kernel
    def loss_kernel(self):
        ti.loop_config(serialize=self.sim.backend.ordered_sums)  # tasks/base.py docstring
        for b, t in ti.ndrange(self.sim.batch, self.sim.steps):
            gap = (self.goal - self.effector_at(t + 1, b)[2]) / self.span
            cost = gap * gap
            if ti.static(self.config.gap == "absolute"):
                cost = ti.abs(gap)
            lw = cost / self.sim.steps
            self.world_loss[b] += lw
            self.sim.loss[None] += lw * ti.static(self.share())

    def extra_loss(self):
        """The control cost (ControlCost), then the home cost (task.home)."""
        super().extra_loss()
        if self.config.home_cost > 0:
            self._home_cost_kernel()

    @ti.kernel
    def _home_cost_kernel(self):
        ti.loop_config(serialize=self.sim.backend.ordered_sums)  # tasks/base.py docstring
        for b, t in ti.ndrange(self.sim.batch, self.sim.steps):
            n, hx, hy, c = ti.static(self.home)
            p = self.sim.state.pos[t + 1, b, n]
            dx, dy = p[0] - hx, p[1] - hy
            lw = c * (dx * dx + dy * dy) / self.sim.steps
            self.world_loss[b] += lw
            self.sim.loss[None] += lw * ti.static(self.share())

    def home_drift(self) -> np.ndarray:
        """(B,) [m] the largest horizontal distance of the home body from home in the last
        rollout (task.home)."""
        n, hx, hy, _ = self.home
        p = self.sim.poses()["pos"][:, :, n].astype(float)
        return np.hypot(p[:, :, 0] - hx, p[:, :, 1] - hy).max(axis=0)

    def metrics(self) -> list[dict]:
        z = self.effector_path()[:, :, 2]
        window = max(1, int(round(self.config.hold / self.sim.dt)))
        up = np.abs(self.goal - z) <= self.config.tolerance  # (T+1, B)
        out = []
        for b in range(self.sim.batch):
            first = int(np.argmax(up[:, b])) if up[:, b].any() else len(z) - 1
            out.append(
                {
                    "height_error_m": float(np.mean(self.goal - z[-window:, b])),
                    "worst_gap_m": float(np.max(self.goal - z[-window:, b])),
                    "max_height_m": float(z[:, b].max()),
                    "up_from_s": float(first * self.sim.dt),
                    "up_share": float(up[first:, b].mean()),
                }
            )
        if self.home is not None:
            for m, drift in zip(out, self.home_drift()):
                m["max_drift_m"] = float(drift)
        return out

    def success(self, m: dict) -> bool:
        return m["worst_gap_m"] <= self.config.tolerance
