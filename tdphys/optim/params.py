"""What an experiment trains and how the optimiser sees it: the `trainable:`, `design:` and
`overrides:` sections, and the parameter map between the optimiser's flat vector x and the
controller's weights, the Simulation parameters and the design vars.

The optimiser sees value / scale (or ln(value) / scale with `log`), so its step sizes mean
the same for every parameter; a controller's weights are divided by controller.lr_scale (and
by their own per-weight step scales).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ModelError
from ..model.yamlread import (
    At,
    Map,
    boolean,
    did_you_mean,
    integer,
    is_list,
    is_null,
    items,
    number,
    numbers,
    positive,
)


@dataclass(frozen=True)
class Trainable:
    """One trainable Simulation parameter (see engine/fields.py PARAM_DOCS).

    name: parameter name; init: initial value broadcast to the parameter's per-world shape
    (None: the robot's value); scale: parameter units per optimiser unit, one number or one
    per component (broadcast like init); index: which entries of the parameter's first axis
    (shapes, bodies, joints, motors) are trained (None: all; init and scale then broadcast to
    the selected entries); log: the optimiser sees ln(value) / scale, so the value stays
    positive (masses, sizes) and steps are relative."""

    name: str
    init: tuple[float, ...] | None = None
    scale: float | tuple[float, ...] = 1.0
    index: tuple[int, ...] | None = None  # first-axis entries trained (None: all)
    log: bool = False  # optimise ln(value): stays positive


@dataclass(frozen=True)
class DesignVar:
    """A var of the robot file (docs/robot-format.md#vars) trained as a design variable: the
    robot is re-read with its value at every update, every Simulation parameter that depends
    on it follows, and its gradient is the chain rule through them (co-design of geometry).
    init: starting value (None: the file's); scale and log as for Trainable."""

    name: str
    init: float | None = None
    scale: float = 1.0
    log: bool = False


_TRAIN_KEYS = {"init", "scale", "index", "log"}


# ----------------------------------------------------------------------------- sections


def parse_trainable(at: At) -> tuple[Trainable, ...]:
    """The `trainable:` section: {parameter: {init, scale, index, log} or nothing}."""
    m = Map(at, "trainable")
    if not m.names():
        raise at.error("no trainable parameters", "name at least one, e.g. `init_vel: {}`")
    from ..engine.fields import SOLVER_PARAMS

    out = []
    for name in _parameter_names(m):
        if name in SOLVER_PARAMS:
            raise m.key_at(name).error(
                f"'{name}' is a solver setting: the rollout does not depend on it smoothly "
                "(its gradient is zero wherever it exists)",
                "set it under `overrides:`",
            )
        spec = m.get(name)
        if is_null(spec):
            out.append(Trainable(name))
            continue
        sm = Map(spec, f"trainable.{name}").only(_TRAIN_KEYS)
        init = numbers(sm.get("init")) if "init" in sm else None
        scale = _scale(sm.get("scale")) if "scale" in sm else 1.0
        index = None
        if "index" in sm:
            index = tuple(integer(a) for a in items(sm.get("index"), "index"))
            if not index or min(index) < 0 or len(set(index)) != len(index):
                raise sm.get("index").error("index must list distinct entries >= 0", "e.g. [0, 2]")
        log = boolean(sm.get("log")) if "log" in sm else False
        out.append(Trainable(name, init, scale, index, log))
    return tuple(out)


def parse_design(at: At) -> tuple[DesignVar, ...]:
    """The `design:` section: {robot var: {init, scale, log} or nothing}."""
    m = Map(at, "design")
    if not m.names():
        raise at.error(
            "no design variables", "name at least one var of the robot file, e.g. `shin: {}`"
        )
    out = []
    for name in m.names():
        spec = m.get(name)
        if is_null(spec):
            out.append(DesignVar(name))
            continue
        sm = Map(spec, f"design.{name}").only({"init", "scale", "log"})
        init = number(sm.get("init")) if "init" in sm else None
        scale = positive(sm.get("scale"), "") if "scale" in sm else 1.0
        log = boolean(sm.get("log")) if "log" in sm else False
        if log and init is not None and init <= 0:
            raise sm.get("init").error(
                f"log needs a positive value, got {init}",
                "give a positive `init`, or drop `log: true`",
            )
        out.append(DesignVar(name, init, scale, log))
    return tuple(out)


def parse_overrides(at: At) -> tuple:
    """The `overrides:` section: {parameter: number or list}, Simulation parameters changed
    from the robot's values for this experiment (not trained), broadcast to the parameter's
    per-world shape."""
    m = Map(at, "overrides")
    out = []
    for name in _parameter_names(m):
        v = m.get(name)
        out.append((name, numbers(v) if is_list(v) else (number(v),)))
    return tuple(out)


def _scale(at: At):
    """A positive number, or a list of them (one per component)."""
    if is_list(at):
        values = numbers(at)
        bad = [v for v in values if v <= 0]
        if bad:
            raise at.error(f"scales must be positive, got {bad[0]}", "write numbers > 0")
        return values
    return positive(at, "")


def _parameter_names(m: Map) -> list[str]:
    """The keys of mapping m, each a Simulation parameter name (else a did-you-mean error)."""
    from ..engine.fields import PARAM_DOCS  # the parameter names (no Taichi launch)

    for name in m.names():
        if name not in PARAM_DOCS:
            raise m.key_at(name).error(
                f"'{name}' is not a Simulation parameter", did_you_mean(name, PARAM_DOCS)
            )
    return m.names()


def check_design(design: tuple[DesignVar, ...], robot, file: str, robot_path: str) -> None:
    """Every design var is a var of the robot file, its init inside the range the file
    gives it, and positive under `log`; ModelError naming the key otherwise."""
    from pathlib import Path

    declared = [name for name, _ in robot.vars]
    for d in design:
        if d.name not in declared:
            raise ModelError(
                file,
                f"design.{d.name}",
                f"the robot {Path(robot_path).name} has no var '{d.name}'",
                did_you_mean(d.name, declared)
                if declared
                else "declare it under `vars:` in the robot file "
                "and use it in the numbers it sets (docs/robot-format.md#vars)",
            )
        lo, hi = next(
            ((lo, hi) for n, lo, hi in robot.var_ranges if n == d.name), (-math.inf, math.inf)
        )
        if d.init is not None and not lo <= d.init <= hi:
            raise ModelError(
                file,
                f"design.{d.name}.init",
                f"{d.init:g} is outside the range [{lo:g}, {hi:g}] the robot file gives '{d.name}'",
                f"give an init from {lo:g} to {hi:g}",
            )
        if d.log and d.init is None and dict(robot.vars)[d.name] <= 0:
            raise ModelError(
                file,
                f"design.{d.name}.log",
                f"log needs a positive value, and the robot file sets {dict(robot.vars)[d.name]:g}",
                "give a positive `init`, or drop `log: true`",
            )


def apply_overrides(exp, sim) -> None:
    """Set the experiment's `overrides:` on every world of sim."""
    for name, values in exp.overrides:
        shape = sim.get_param(name).shape
        flat = np.asarray(values, float).reshape(-1)
        if flat.size == 1:
            value = flat[0]
        elif flat.size == np.prod(shape[1:]):  # every entry's numbers in order
            value = flat.reshape(shape[1:])
        else:  # one per column
            value = flat
        try:
            value = np.broadcast_to(value, shape)
        except ValueError:
            raise ModelError(
                exp.file,
                f"overrides.{name}",
                f"{len(values)} numbers do not fit the parameter's shape {shape[1:]}",
                "give one number, one per column, or all of the entries' numbers in order",
            ) from None
        sim.set_param(name, value)


# ----------------------------------------------------------------------------- the map


def _value(x: np.ndarray, scale: np.ndarray, log: bool) -> np.ndarray:
    """A trained parameter's value from its optimiser coordinates x."""
    return np.exp(x * scale) if log else x * scale


def coordinates(value: np.ndarray, scale, log: bool) -> np.ndarray:
    """The optimiser coordinates of a trained parameter's value (the inverse of _value)."""
    return (np.log(value) if log else value) / scale


class ParameterMap:
    """Map between the flat optimiser vector x and what it trains: the controller's weights
    (first, divided by controller.lr_scale and the controller's per-weight step scales),
    then the Simulation parameters (value / scale), then the design vars. x0: where the
    optimiser starts (the controller's initial weights, the trainables' `init`)."""

    def __init__(self, exp, sim, controller=None):
        self.items = []  # (name, entries index, entry shape, scale, offset, size, log)
        self.controller = controller
        x0, offset = [], 0
        if controller is not None:
            self.ctrl_scale = float(exp.controller.lr_scale) * controller.step_scales()
            x0.append(controller.theta0 / self.ctrl_scale)
            offset = controller.n_params
        self.n_ctrl = offset
        for tr in exp.trainable:
            full = sim.get_param(tr.name)[0]  # the robot's value, world 0
            index = slice(None) if tr.index is None else list(tr.index)
            if tr.index is not None and (full.ndim == 0 or max(tr.index) >= full.shape[0]):
                n = 1 if full.ndim == 0 else full.shape[0]
                raise ModelError(
                    exp.file,
                    f"trainable.{tr.name}.index",
                    f"entry {max(tr.index)} does not exist ('{tr.name}' has "
                    f"{n} entr{'y' if n == 1 else 'ies'})",
                    f"use indices from 0 to {n - 1}",
                )
            base = full[index] if full.ndim else full
            if tr.init is not None:
                init = np.asarray(tr.init, float)
                try:
                    base = np.broadcast_to(init, base.shape).copy()
                except ValueError:
                    raise ModelError(
                        exp.file,
                        f"trainable.{tr.name}.init",
                        f"{init.size} numbers do not fit the parameter's shape {base.shape}",
                        f"give {int(np.prod(base.shape))} numbers or one per column",
                    ) from None
            try:
                scale = np.broadcast_to(np.asarray(tr.scale, float), base.shape).ravel()
            except ValueError:
                raise ModelError(
                    exp.file,
                    f"trainable.{tr.name}.scale",
                    f"{np.size(tr.scale)} scales do not fit the parameter's shape {base.shape}",
                    "give one number, or one per column",
                ) from None
            if tr.log and np.any(base <= 0):
                raise ModelError(
                    exp.file,
                    f"trainable.{tr.name}.log",
                    f"log needs positive values, and '{tr.name}' starts at {base.min():g}",
                    "drop `log: true`, or give a positive `init`",
                )
            self.items.append((tr.name, index, base.shape, scale, offset, base.size, tr.log))
            x0.append(coordinates(base.ravel(), scale, tr.log))
            offset += base.size
        self.design, self.n_before_design = None, offset
        if exp.design:
            from .design import DesignMap

            self.design = DesignMap(exp, dict(sim.robot.vars))
            d0 = np.array(
                [self.design.base[d.name] if d.init is None else d.init for d in exp.design]
            )
            self.d_scale = np.array([d.scale for d in exp.design])
            self.d_log = np.array([d.log for d in exp.design])
            ranges = {n: (lo, hi) for n, lo, hi in sim.robot.var_ranges}
            self.d_range = np.array(
                [ranges.get(d.name, (-np.inf, np.inf)) for d in exp.design]
            ).T  # (2, n): min, max
            x0.append(np.where(self.d_log, np.log(np.abs(d0)), d0) / self.d_scale)
        self.x0 = np.concatenate(x0)

    def design_values(self, X: np.ndarray) -> np.ndarray:
        """The design vars' values from optimiser coordinates (rows of X or one x), kept
        inside each var's min/max in the robot file (its gradient passes unchanged)."""
        z = X[..., self.n_before_design :] * self.d_scale
        return np.clip(np.where(self.d_log, np.exp(z), z), *self.d_range)

    def set(self, sim, X: np.ndarray) -> None:
        """X: (n,) for every world, or (B, n) one row per world."""
        X = np.atleast_2d(X)
        self._x_last = X[0].copy()  # world 0's, for the chain rule in grad()
        if self.controller is not None:
            self.controller.set(X[:, : self.n_ctrl] * self.ctrl_scale)
        for name, index, shape, scale, off, size, log in self.items:
            value = _value(X[:, off : off + size], scale, log).reshape((X.shape[0],) + shape)
            if index == slice(None):
                sim.set_param(name, value)
            else:
                full = np.broadcast_to(
                    sim.get_param(name)[:1], (sim.batch,) + sim.get_param(name).shape[1:]
                ).copy()
                full[:, index] = value
                sim.set_param(name, full)
        if self.design is not None:
            self.design.set(sim, self.design_values(X))

    def grad(self, sim) -> np.ndarray:
        """d loss / d x for x set on every world (chain rule through the scales): the worlds
        share x, so each parameter's gradient is the sum over the worlds."""
        parts = []
        if self.controller is not None:
            parts.append(self.controller.grad() * self.ctrl_scale)
        grads = sim.param_grads() if self.items or self.design is not None else {}
        for name, index, _, scale, off, size, log in self.items:
            g = grads[name].sum(axis=0)
            g = (g[index] if g.ndim else g).ravel() * scale
            if log:  # d value / d x = value * scale
                g = g * _value(self._x_last[off : off + size], scale, True)
            parts.append(g)
        if self.design is not None:
            d = self.design_values(self._x_last)
            g = self.design.grad(grads, d) * self.d_scale
            parts.append(np.where(self.d_log, g * d, g))
        return np.concatenate(parts)

    def named(self, x: np.ndarray) -> dict:
        """{parameter name or design.VAR: value} of coordinates x (the controller's weights
        are controller_theta)."""
        out = {
            name: _value(x[off : off + size], scale, log).reshape(shape).tolist()
            for name, _, shape, scale, off, size, log in self.items
        }
        if self.design is not None:
            out.update(
                {f"design.{n}": v for n, v in zip(self.design.vars, self.design_values(x).tolist())}
            )
        return out

    def statistics_mask(self) -> np.ndarray:
        """(n,) True for the coordinates that are a controller's statistics (normalize), which
        the optimisers do not move: Adam gets a zero gradient for them, CMA-ES fixes them."""
        mask = np.zeros(self.x0.size, bool)
        if self.controller is not None:
            mask[: self.n_ctrl] = self.controller.statistics_mask()
        return mask

    def refreshed(self, x: np.ndarray) -> np.ndarray:
        """x with the controller's statistics moved towards the last rollout's
        (controller.normalize_rate; see ConvRecurrent.refreshed); x itself otherwise."""
        ctl = self.controller
        if ctl is None or not ctl.normalize_rate:
            return x
        x = np.array(x, float)
        n = self.n_ctrl
        x[:n] = ctl.refreshed(x[:n] * self.ctrl_scale, ctl.normalize_rate) / self.ctrl_scale
        return x

    def controller_theta(self, x: np.ndarray) -> np.ndarray | None:
        """The controller's weights in their own units, from coordinates x (None without a
        controller)."""
        return None if self.controller is None else x[: self.n_ctrl] * self.ctrl_scale
