"""What every controller is: its file section (a ControllerSpec) and the object that writes
the motor commands `sim.control.ctrl[t]` on the same `ti.ad.Tape` as the physics (a Controller),
with the command hold that controllers running every k steps share.

The backward's gradient decay g (the experiment's `optimizer.grad_decay`) is an argument of
a taped rollout, `controller.rollout(grad_decay=g)`: every adjoint a controller carries from
one step to an earlier one (a held command, a recurrent memory, stacked older images) is
scaled by g per step, as the engine scales the state's.
"""
# (no `from __future__ import annotations`: Taichi reads kernel annotations as objects)

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import taichi as ti

from ..errors import ModelError
from ..model.yamlread import (
    Map,
    boolean,
    choice,
    integer,
    is_list,
    items,
    number,
    numbers,
    positive,
    positive_int,
    seed,
    size,
)

ACTIVATIONS = ("tanh", "relu", "elu", "sigmoid")
SQUASHES = ("none", "tanh")
MAX_WIDTH = 16_384  # units of a layer, channels, memory cells

# the keys of every controller; NETWORK_KEYS: of the mlp and vision controllers
COMMON_KEYS = {"type", "output_offset", "lr_scale"}
NETWORK_KEYS = {
    "hidden",
    "activation",
    "zero_output",
    "init_gain",
    "seed",
    "output_scale",
    "squash",
    "action_repeat",
}


@dataclass(frozen=True)
class ControllerSpec:
    """A controller's section of an experiment file: output_offset [motor units] (one, or one
    per motor); lr_scale: the optimiser sees the weights divided by it (scales the learning
    rate of the weights against physical parameters). Each kind adds its own fields
    (docs/experiment-format.md, "controller")."""

    type: ClassVar[str]
    output_offset: "float | tuple[float, ...]" = 0.0
    lr_scale: float = 1.0

    def input_kinds(self) -> tuple[str, ...]:
        """The kinds of the inputs the controller reads besides its own state (mlp inputs)."""
        return ()

    def per_motor(self) -> dict:
        """{key: value} of the settings given one number or one per motor."""
        return {"output_offset": self.output_offset}

    def check_robot(self, robot, file: str, robot_path: str, task_type: str) -> None:
        """The robot has motors to control and what the controller reads (sensors, a
        camera); each per-motor setting has one number or one per motor. ModelError naming
        the key otherwise."""
        n_motors = sum(len(j.motors) for j in robot.joints)
        if n_motors == 0:
            from pathlib import Path

            raise ModelError(
                file,
                "controller",
                f"the robot {Path(robot_path).name} has no motors to control",
                "add motors to its joints, or remove the controller",
            )
        self.check_inputs(robot, file, robot_path, task_type)
        for key, value in self.per_motor().items():
            if isinstance(value, tuple) and len(value) not in (1, n_motors):
                raise ModelError(
                    file,
                    f"controller.{key}",
                    f"{len(value)} numbers for {n_motors} motors",
                    f"give one number, or {n_motors}",
                )
        self.check_camera(robot, file, robot_path)

    def check_inputs(self, robot, file: str, robot_path: str, task_type: str) -> None:
        """The robot has what the inputs read (nothing to check by default)."""

    def check_camera(self, robot, file: str, robot_path: str) -> None:
        """The robot has the camera the controller sees (nothing to check by default)."""


@dataclass(frozen=True)
class NetworkSpec(ControllerSpec):
    """What the mlp and vision controllers share: hidden: layer widths; activation;
    zero_output: the output weights (and bias, skip) start at zero; init_gain: hidden weights
    ~ N(0, init_gain^2 / fan_in); seed; output_scale [motor units per output unit] (one, or
    one per motor); squash: none | tanh applied to the output before the scale;
    action_repeat: the steps each command is held (the network runs every that many)."""

    hidden: tuple[int, ...] = (128, 128)
    activation: str = "tanh"
    zero_output: bool = True
    init_gain: float = 1.0
    seed: int = 0
    output_scale: "float | tuple[float, ...]" = 1.0
    squash: str = "none"
    action_repeat: int = 1

    def per_motor(self) -> dict:
        return {"output_scale": self.output_scale, "output_offset": self.output_offset}


def read_shared(m: Map, values: dict) -> None:
    """The keys several kinds share, read into values (m.only has refused the ones this
    kind lacks): the network's layers and output, then zero_output, init_gain, lr_scale,
    seed and the per-motor output_scale and output_offset."""
    if "hidden" in m:
        entries = items(m.get("hidden"), "hidden")
        if len(entries) > 64:
            raise m.get("hidden").error(f"{len(entries)} layers; at most 64", "e.g. [128, 128]")
        hidden = tuple(integer(a) for a in entries)
        if any(h < 1 for h in hidden):
            raise m.get("hidden").error("layer widths must be >= 1", "e.g. [128, 128]")
        values["hidden"] = tuple(size(a, MAX_WIDTH) for a in entries)
    if "activation" in m:
        values["activation"] = choice(m.get("activation"), ACTIVATIONS, "activation")
    if "squash" in m:
        values["squash"] = choice(m.get("squash"), SQUASHES, "squash")
    if "action_repeat" in m:
        values["action_repeat"] = positive_int(m.get("action_repeat"))
    for key in ("skip", "zero_output"):
        if key in m:
            values[key] = boolean(m.get(key))
    for key in ("init_gain", "lr_scale"):
        if key in m:
            values[key] = positive(m.get(key), "")
    if "seed" in m:
        values["seed"] = seed(m.get("seed"))
    for key in ("output_scale", "output_offset"):
        if key in m:
            at = m.get(key)
            values[key] = numbers(at) if is_list(at) else number(at)


def network_keys_elsewhere(kind: str) -> dict[str, str]:
    """The fix for a network key (or an mlp's inputs) in the section of a controller without
    a network."""
    return {
        k: f"an {kind} controller has one trainable command per step and no network: "
        f"remove `{k}` (or use an mlp or vision controller)"
        for k in NETWORK_KEYS | {"inputs", "skip"}
    }


class Controller(ABC):
    """Writes the motor commands sim.control.ctrl[t] of a Simulation `sim` from `n_params` trainable
    numbers per parameter set (`theta0`: their initial values), differentiably under the
    simulation's tape. per_step: it must run between the engine's steps (it reads the
    state); normalize, normalize_rate, standardized_layers: the vision network's input
    statistics and data-dependent initialisation (off elsewhere)."""

    n_params: int
    theta0: np.ndarray
    per_step: bool
    normalize: bool = False
    normalize_rate: float = 0.0
    standardized_layers: int = 0

    @abstractmethod
    def set(self, X: np.ndarray) -> None:
        """X: (n_params,) for every parameter set, or one row per set."""

    @abstractmethod
    def grad(self) -> np.ndarray:
        """d loss / d theta of parameter set 0 after a taped rollout."""

    @abstractmethod
    def rollout(self, check: bool = False, grad_decay: float = 1.0) -> None:
        """One rollout of sim driven by this controller; under the tape, the adjoints the
        controller carries back one step are scaled by grad_decay (module docstring)."""

    @abstractmethod
    def clear_gradients(self) -> None:
        """Zero the gradients of the controller's own fields before a taped rollout."""

    def step_scales(self) -> np.ndarray:
        """Per weight, the factor its optimiser step gets (n_params,): 1 for every weight."""
        return np.ones(self.n_params)

    def statistics_mask(self) -> np.ndarray:
        """(n_params,) True for entries that are statistics, not weights (none here)."""
        return np.zeros(self.n_params, bool)

    def refreshed(self, theta: np.ndarray, rate: float) -> np.ndarray:
        """theta with its statistics moved towards the last rollout's (none here)."""
        return np.array(theta, float)

    def standardized(self, theta: np.ndarray, layer: int) -> np.ndarray:
        """theta with layer `layer` rescaled from the last rollout (standardized_layers)."""
        raise ValueError(f"{type(self).__name__} has no layers to standardise")


@ti.data_oriented
class CommandHold:
    """`action_repeat`: hold(t, grad_decay) copies the command of step t - 1 to step t, on
    the tape. Its backward gives ctrl[t - 1] the adjoint of its copy times grad_decay, as a
    step of the physics scales the state's, so a loss term s steps after the network step
    that chose a held command weighs grad_decay^s along the held path too (as dm_control's
    and Brax's action repeat, made differentiable)."""

    def __init__(self, sim):
        self.sim = sim
        self.hold = ti.ad.grad_replaced(self._forward)
        ti.ad.grad_for(self.hold)(self._backward)

    def _forward(self, t: int, grad_decay: float) -> None:
        self.k_hold(t)

    def _backward(self, t: int, grad_decay: float) -> None:
        self.k_hold_adjoint(t, grad_decay)

    @ti.kernel
    def k_hold(self, t: ti.i32):
        ti.loop_config(serialize=self.sim.serial_worlds)  # Backend.serial_worlds
        for b, m in ti.ndrange(self.sim.batch, self.sim.n_motors):
            self.sim.control.ctrl[t, b, m] = self.sim.control.ctrl[t - 1, b, m]

    @ti.kernel
    def k_hold_adjoint(self, t: ti.i32, factor: ti.f64):
        ti.loop_config(serialize=self.sim.serial_worlds)
        for b, m in ti.ndrange(self.sim.batch, self.sim.n_motors):
            self.sim.control.ctrl.grad[t - 1, b, m] += (
                ti.cast(factor, self.sim.real) * self.sim.control.ctrl.grad[t, b, m]
            )
