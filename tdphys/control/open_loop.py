"""The open-loop controller (`controller: {type: open_loop}`): the command table itself,
(T, M) in the motors' units, is trainable."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model.yamlread import Map
from .base import COMMON_KEYS, Controller, ControllerSpec, network_keys_elsewhere, read_shared


@dataclass(frozen=True)
class OpenLoopSpec(ControllerSpec):
    """The table starts at output_offset (ControllerSpec)."""

    type = "open_loop"


def parse(m: Map, elsewhere: dict[str, str]) -> OpenLoopSpec:
    """`elsewhere`: the fixes for keys of other kinds of controller."""
    m.only(COMMON_KEYS, {**elsewhere, **network_keys_elsewhere("open_loop")})
    values: dict = {}
    read_shared(m, values)
    return OpenLoopSpec(**values)


class OpenLoop(Controller):
    """The command table ctrl (T, M) is the trainable vector (world 0's row is shared by
    every world for Adam; CMA-ES sets one table per world). Starts at output_offset."""

    def __init__(self, spec: OpenLoopSpec, sim):
        self.spec, self.sim = spec, sim
        T, M = sim.steps, sim.n_motors
        if M == 0:
            raise ValueError("an open_loop controller needs a robot with motors")
        self.n_params = T * M
        self.per_step = False
        offset = np.broadcast_to(np.asarray(spec.output_offset, float), (M,))
        self.theta0 = np.broadcast_to(offset, (T, M)).ravel().copy()

    def set(self, X: np.ndarray) -> None:
        """X: (n,) shared, or (B, n) one row per world."""
        X = np.atleast_2d(X)
        T, M = self.sim.steps, self.sim.n_motors
        u = X.reshape(X.shape[0], T, M).transpose(1, 0, 2)
        if u.shape[1] == 1:
            u = u[:, 0]
        self.sim.set_controls(u)

    def grad(self) -> np.ndarray:
        """d loss / d theta summed over the worlds sharing it."""
        return self.sim.controls_grad().sum(axis=1).ravel()

    def clear_gradients(self) -> None:
        pass  # the table is sim.control.ctrl, cleared with the simulation

    def rollout(self, check: bool = False, grad_decay: float = 1.0) -> None:
        """One rollout of the table (the engine scales its state's adjoints by grad_decay;
        the table holds nothing across steps)."""
        self.sim.rollout(check=check)
