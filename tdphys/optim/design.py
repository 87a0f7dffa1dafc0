"""Co-design of geometry: robot-file vars (docs/robot-format.md#vars) as trained numbers.

A design variable d is a var of the robot file, e.g. a shin length that sets a capsule's end,
the foot's position on the shin and the standing height. Every Simulation parameter p that
the robot's numbers feed (shape sizes and positions, masses, joint anchors, initial poses...)
is a function p(d) computed in numpy by re-reading the file with d (load_robot(path, vars)
and engine/layout.py). Setting d sets every such parameter; the gradient is the chain rule

    dL/dd_k = sum over parameters and entries of dL/dp * dp/dd_k

with dL/dp from the taped rollout (exact) and dp/dd_k by central differences of p(d) (exact
up to rounding, ~1e-10 relative, when the file's expressions are affine in d, as lengths
and positions are; ~1e-9 for smooth non-affine ones such as a length under a square root).
"""

from __future__ import annotations

import numpy as np

from ..errors import ModelError

FD_STEP = 1e-6  # central-difference step, relative to max(|d|, 1)


class DesignMap:
    """p(d) for a robot file and a list of its vars: which Simulation parameters depend on
    them (`names`), their per-world values for given d and the Jacobian dp/dd."""

    def __init__(self, exp, robot_vars: dict[str, float]):
        self.exp, self.vars = exp, [d.name for d in exp.design]
        self.base = dict(robot_vars)
        self._cache: dict[tuple, dict] = {}
        d0 = np.array([self.base[n] for n in self.vars])
        p0 = self.params(d0)
        self.names, depends = [], {}
        for k, name in enumerate(self.vars):  # which parameters does each var move?
            step = np.zeros_like(d0)
            step[k] = 1e-3 * max(abs(d0[k]), 1e-2)
            moved = [p for p, v in self.params(d0 + step).items() if not np.array_equal(v, p0[p])]
            if not moved:
                raise ModelError(
                    exp.file,
                    f"design.{name}",
                    f"the var '{name}' changes no simulation parameter",
                    "use it in the robot file's numbers "
                    "(e.g. a shape's size or a body's position), or drop it",
                )
            depends[name] = moved
            self.names += [p for p in moved if p not in self.names]
        self.depends = depends
        clash = {tr.name for tr in exp.trainable} | {n for n, _ in exp.overrides}
        for name, moved in depends.items():
            both = sorted(clash & set(moved))
            if both:
                raise ModelError(
                    exp.file,
                    f"design.{name}",
                    f"the var '{name}' changes '{both[0]}', which trainable/overrides also set",
                    "drop that parameter from trainable/overrides, or the var",
                )

    def params(self, d: np.ndarray) -> dict[str, np.ndarray]:
        """The robot's Simulation parameters (one world's shape) with vars = d."""
        key = tuple(float(v) for v in d)
        if key not in self._cache:
            from ..engine.layout import build_layout
            from ..model.loader import load_robot

            robot = load_robot(self.exp.robot, dict(zip(self.vars, key)))
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = {n: v[0] for n, v in build_layout(robot).params.items()}
        return self._cache[key]

    def set(self, sim, D: np.ndarray) -> None:
        """D: (B, n) one row of var values per world, or (1, n) for every world."""
        rows = [self.params(d) for d in D]
        sim.robot_vars = {**self.base, **dict(zip(self.vars, map(float, D[0])))}
        sim.set_params({name: np.stack([r[name] for r in rows]) for name in self.names})

    def jacobian(self, d: np.ndarray) -> list[dict[str, np.ndarray]]:
        """[dp/dd_k for each var k], each {parameter: array of one world's shape}."""
        out = []
        for k in range(len(d)):
            h = FD_STEP * max(abs(d[k]), 1.0)
            hi, lo = d.copy(), d.copy()
            hi[k] += h
            lo[k] -= h
            p_hi, p_lo = self.params(hi), self.params(lo)
            out.append({n: (p_hi[n] - p_lo[n]) / (2 * h) for n in self.depends[self.vars[k]]})
        return out

    def grad(self, param_grads: dict, d: np.ndarray) -> np.ndarray:
        """dL/dd from a taped rollout's parameter gradients ({name: (B, ...)}, as
        Simulation.param_grads() gives them), summed over the worlds (they share d)."""
        grads = {n: param_grads[n].sum(axis=0) for n in self.names}
        return np.array(
            [sum(float(np.sum(grads[n] * jac[n])) for n in jac) for jac in self.jacobian(d)]
        )
