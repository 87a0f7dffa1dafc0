"""The mlp controller (`controller: {type: mlp}`): a multilayer perceptron per step t,

    x0 = features(t)            (clock, sensors, target, effector-to-target ...)
    h_k = act(W_k h_{k-1} + b_k)                      k = 1 .. hidden layers
    y = W_out h_last + b_out [+ S x0]                  (optional linear skip from the inputs)
    ctrl[t] = offset + scale * y   or   offset + scale * tanh(y)

With `action_repeat` k > 1 the network runs at t = 0, k, 2k, ... only and the steps between
hold its command (CommandHold). With `zero_output` the output weights, bias and skip start at
zero: the first rollout commands `offset` at every step (standstill when offset is the
initial joint angles).

All trainable numbers are one vector per parameter set, `theta` (P, n). P is 1 (every world
shares the weights: a batch of targets, one update), the batch (one candidate per world:
CMA-ES), or any divisor of it (CMA-ES on random targets: each candidate drives a block of
B / P consecutive worlds). Features that depend only on time are computed for all steps in
one launch before the rollout; any feature that reads the state makes the controller run
once per step, between the engine's steps (Simulation.rollout(policy=...)).

Kernels that Taichi differentiates keep one loop nest each and accumulate with atomic adds,
never in a loop-carried local (docs/engine-notes.md, pitfalls 1 and 6; Taichi's reverse mode
would need an AD stack per hidden unit). The affine layers (Weights.linear) have a
hand-written backward instead. On CPU every sum has a fixed order, so a run repeats bit for
bit whatever the thread count (backend.ordered_sums, docs/determinism.md): one thread owns
each sum of the affine layers, and the kernels whose adjoints add into entries that many
iterations read (the features read the effector's state; the output reads the motors' scale
and offset) are serial loops.
"""
# (no `from __future__ import annotations`: Taichi reads kernel annotations as objects)

import math
from dataclasses import dataclass

import numpy as np
import taichi as ti

from .. import backend
from ..engine.tmath import quat_rotate
from ..errors import ModelError
from ..model.yamlread import (
    Map,
    did_you_mean,
    is_null,
    items,
    number,
    positive,
    robot_lacks,
    string,
)
from .base import (
    ACTIVATIONS,
    COMMON_KEYS,
    NETWORK_KEYS,
    CommandHold,
    Controller,
    NetworkSpec,
    read_shared,
)
from .weights import Weights

INPUT_KINDS = ("clock", "sensor", "target", "effector_to_target", "effector_distance")
TARGET_INPUTS = ("target", "effector_to_target", "effector_distance")  # need a reach task
KEYS = COMMON_KEYS | NETWORK_KEYS | {"inputs", "skip"}
_INPUT_KEYS = {
    "clock": {"hz", "scale"},
    "sensor": {"name", "scale"},
    "target": {"scale"},
    "effector_to_target": {"scale"},
    "effector_distance": {"scale"},
}

# feature codes of the input table
_F_SIN, _F_COS, _F_SENSOR, _F_TARGET, _F_OFFSET, _F_DISTANCE = range(6)


@dataclass(frozen=True)
class ControllerInput:
    """One input group: kind (INPUT_KINDS); hz [1/s] for a clock (gives sin and cos of
    2 pi hz t); name of a sensor; scale: the feature is multiplied by it (inputs of order one
    train best)."""

    kind: str
    hz: float = 1.0
    name: str = ""
    scale: float = 1.0


@dataclass(frozen=True)
class MLPSpec(NetworkSpec):
    """inputs: the input groups (ControllerInput); skip: a linear skip connection from the
    inputs to the outputs; the rest as NetworkSpec."""

    type = "mlp"
    inputs: tuple[ControllerInput, ...] = ()
    skip: bool = False

    def input_kinds(self) -> tuple[str, ...]:
        return tuple(i.kind for i in self.inputs)

    def check_inputs(self, robot, file: str, robot_path: str, task_type: str) -> None:
        """Sensor inputs name sensors of the robot; target inputs need a reach task."""
        sensors = [s.name for s in robot.sensors]
        for i, inp in enumerate(self.inputs):
            if inp.kind == "sensor" and inp.name not in sensors:
                raise robot_lacks(
                    file,
                    f"controller.inputs[{i}].sensor.name",
                    robot_path,
                    "sensor",
                    inp.name,
                    sensors,
                )
            if inp.kind in TARGET_INPUTS and task_type != "reach":
                raise ModelError(
                    file,
                    f"controller.inputs[{i}]",
                    f"'{inp.kind}' needs a reach task (this task is {task_type})",
                    "use clock or sensor inputs",
                )


def parse(m: Map, elsewhere: dict[str, str]) -> MLPSpec:
    """`elsewhere`: the fixes for keys of other kinds of controller."""
    m.only(KEYS, elsewhere)
    inputs_at = m.require("inputs", "add `inputs: [{clock: {hz: 1.5}}]`")
    inputs = []
    for i, item in enumerate(items(inputs_at, "inputs")):
        im = Map(item, f"controller.inputs[{i}]")
        if len(im.names()) != 1:
            raise item.error(
                "each input is a mapping with one key, its kind",
                f"e.g. `- clock: {{hz: 1.5}}`; kinds: {', '.join(INPUT_KINDS)}",
            )
        (ikind,) = im.names()
        if ikind not in INPUT_KINDS:
            raise im.key_at(ikind).error(
                f"unknown input kind '{ikind}'", did_you_mean(ikind, INPUT_KINDS)
            )
        spec = im.get(ikind)
        where = f"controller.inputs[{i}].{ikind}"
        if is_null(spec):
            if ikind in ("clock", "sensor"):
                raise spec.error(
                    f"a {ikind} input needs settings",
                    "write `clock: {hz: 1.5}`"
                    if ikind == "clock"
                    else "write `sensor: {name: SENSOR}`",
                )
            opts = None
        else:
            opts = Map(spec, where).only(_INPUT_KEYS[ikind])
        args = {}
        if ikind == "clock":
            args["hz"] = positive(opts.require("hz", "add `hz: 1.5` [1/s]"), "[1/s]")
        if ikind == "sensor":
            args["name"] = string(opts.require("name", "name a sensor of the robot"))
        if opts is not None and "scale" in opts:
            args["scale"] = number(opts.get("scale"))
        inputs.append(ControllerInput(ikind, **args))
    values: dict = {"inputs": tuple(inputs)}
    read_shared(m, values)
    return MLPSpec(**values)


@ti.data_oriented
class MLP(Weights, Controller):
    """The mlp controller (see the module docstring) for `sim`; `task` (a Task) gives the
    target and the effector point the inputs read. Fields are per step so the tape keeps
    every activation for the backward pass."""

    def __init__(self, spec: "MLPSpec", sim, task, param_sets: int = 1):
        self.spec, self.sim = spec, sim
        B, T, M = sim.batch, sim.steps, sim.n_motors
        if M == 0:
            raise ValueError("an mlp controller needs a robot with motors")
        if param_sets < 1 or B % param_sets:
            raise ValueError(f"param_sets must divide the batch ({B}), got {param_sets}")
        self.P = param_sets
        table = self._feature_table()
        self.n_in = len(table)
        self.repeat = int(spec.action_repeat)
        if self.repeat < 1:
            raise ValueError(f"action_repeat must be at least 1, got {spec.action_repeat}")
        self.per_step = self.repeat > 1 or any(
            code[0] not in (_F_SIN, _F_COS, _F_TARGET) for code in table
        )
        self._hold = CommandHold(sim).hold
        self._init_linear()
        sizes = (self.n_in,) + tuple(spec.hidden) + (M,)
        self.sizes = sizes
        # parameter layout in theta: per layer W (out x in, row-major) then b; then skip S
        self.offsets, off = [], 0
        for k in range(len(sizes) - 1):
            n_in, n_out = sizes[k], sizes[k + 1]
            self.offsets.append((off, off + n_in * n_out))
            off += n_in * n_out + n_out
        self.skip_offset = off
        if spec.skip:
            off += M * self.n_in
        self.n_params = off
        self.act_code = ACTIVATIONS.index(spec.activation)
        self.squash_tanh = spec.squash == "tanh"
        # fields (declared together: one SNode tree)
        real = sim.real
        self.theta = backend.field(real, (self.P, self.n_params))
        self.feat_kind = backend.int_field(max(self.n_in, 1))
        self.feat_arg = backend.int_field(max(self.n_in, 1))
        # constants read by differentiated kernels: Taichi's reverse mode wants their .grad
        self.feat_scale = backend.field(real, max(self.n_in, 1))
        self.freq = backend.field(real, max(self.n_in, 1))
        self.out_scale = backend.field(real, M)
        self.out_offset = backend.field(real, M)
        self.x = [backend.field(real, (T, B, n)) for n in sizes[:-1]]  # layer inputs
        self.pre = [backend.field(real, (T, B, n)) for n in sizes[1:]]  # pre-activations
        backend.FieldBlock({"feat_kind": self.feat_kind, "feat_arg": self.feat_arg}, ti.i32).write(
            {"feat_kind": [c[0] for c in table], "feat_arg": [c[1] for c in table]}
        )
        backend.FieldBlock(
            {
                "feat_scale": self.feat_scale,
                "freq": self.freq,
                "out_scale": self.out_scale,
                "out_offset": self.out_offset,
            }
        ).write(
            {
                "feat_scale": [c[2] for c in table],
                "freq": [c[3] for c in table],
                "out_scale": np.broadcast_to(np.asarray(spec.output_scale, float), (M,)),
                "out_offset": np.broadcast_to(np.asarray(spec.output_offset, float), (M,)),
            }
        )
        self.theta0 = self.initial_theta()
        self._clear_own = backend.gradient_clearer(
            [self.theta, self.feat_scale, self.freq, self.out_scale, self.out_offset]
            + self.x
            + self.pre
        )
        self.target = task.target_field  # (B,) targets [m], or None
        self.has_target = self.target is not None
        eff = task.effector
        self.eff_body = int(eff[0]) if eff is not None else 0
        self.eff_point = tuple(float(c) for c in eff[1]) if eff is not None else (0.0, 0.0, 0.0)

    def clear_gradients(self) -> None:
        """Zero the gradients of this controller's fields."""
        self._clear_own()

    # ------------------------------------------------------------------------ set-up
    def _feature_table(self) -> list:
        """(code, argument, scale, hz) per input feature."""
        table = []
        lay = self.sim.layout
        for inp in self.spec.inputs:
            if inp.kind == "clock":
                table += [(_F_SIN, 0, inp.scale, inp.hz), (_F_COS, 0, inp.scale, inp.hz)]
            elif inp.kind == "sensor":
                i = list(lay.sensor_names).index(inp.name)
                adr, dim = int(lay.sensor_adr[i]), int(lay.sensor_dim[i])
                table += [(_F_SENSOR, adr + k, inp.scale, 0.0) for k in range(dim)]
            elif inp.kind == "target":
                table += [(_F_TARGET, k, inp.scale, 0.0) for k in range(3)]
            elif inp.kind == "effector_to_target":
                table += [(_F_OFFSET, k, inp.scale, 0.0) for k in range(3)]
            elif inp.kind == "effector_distance":
                table += [(_F_DISTANCE, 0, inp.scale, 0.0)]
        if not table:
            raise ValueError("an mlp controller needs at least one input")
        return table

    def initial_theta(self):
        """Hidden weights ~ N(0, gain^2 / fan_in), biases zero; the output layer (and skip)
        zero with zero_output, else N(0, 1 / fan_in) as well."""
        rng = np.random.default_rng(self.spec.seed)
        theta = np.zeros(self.n_params)
        last = len(self.sizes) - 2
        for k, (w0, b0) in enumerate(self.offsets):
            fan_in = self.sizes[k]
            if k == last and self.spec.zero_output:
                continue
            gain = self.spec.init_gain if k < last else 1.0
            theta[w0:b0] = rng.normal(0.0, gain / math.sqrt(fan_in), b0 - w0)
        return theta

    # ------------------------------------------------------------------------ kernels

    @ti.func
    def _effector(self, t, b):
        n = ti.static(self.eff_body)
        sim = self.sim
        p = ti.Vector(self.eff_point, dt=sim.real)
        return sim.state.pos[t, b, n] + quat_rotate(
            sim.state.quat[t, b, n], p - sim.model.com[b, n]
        )

    @ti.kernel
    def k_features(self, t0: ti.i32, t1: ti.i32):
        ti.loop_config(serialize=self.sim.backend.ordered_sums)  # module docstring
        for t, b, i in ti.ndrange((t0, t1), self.sim.batch, self.n_in):
            kind, arg = self.feat_kind[i], self.feat_arg[i]
            phase = 2.0 * math.pi * self.freq[i] * t * self.sim.dt
            value = ti.cast(0.0, self.sim.real)
            if kind == _F_SIN:
                value = ti.sin(phase)
            elif kind == _F_COS:
                value = ti.cos(phase)
            elif kind == _F_SENSOR:
                value = self.sim.state.sensordata[t, b, arg]
            elif kind == _F_TARGET:
                value = self._target(b, arg)
            elif kind == _F_OFFSET:
                value = self._target(b, arg) - self._effector(t, b)[arg]
            elif kind == _F_DISTANCE:
                d = self._target_vec(b) - self._effector(t, b)
                value = ti.sqrt(d.dot(d) + 1e-12)
            self.x[0][t, b, i] = value * self.feat_scale[i]

    @ti.func
    def _target(self, b, k):
        return self._target_vec(b)[k]

    @ti.func
    def _target_vec(self, b):
        v = ti.Vector.zero(self.sim.real, 3)
        if ti.static(self.has_target):
            v = self.target[b]
        return v

    @ti.kernel
    def k_activate(self, t0: ti.i32, t1: ti.i32, layer: ti.template()):
        ti.loop_config(serialize=self.sim.serial_worlds)  # Backend.serial_worlds
        for t, b, j in ti.ndrange((t0, t1), self.sim.batch, self.sizes[layer + 1]):
            self.x[layer + 1][t, b, j] = self._act(self.pre[layer][t, b, j])

    @ti.kernel
    def k_output(self, t0: ti.i32, t1: ti.i32):
        last = ti.static(len(self.pre) - 1)
        ti.loop_config(serialize=self.sim.backend.ordered_sums)  # module docstring
        for t, b, m in ti.ndrange((t0, t1), self.sim.batch, self.sim.n_motors):
            y = self.pre[last][t, b, m]
            if ti.static(self.squash_tanh):
                y = ti.tanh(y)
            self.sim.control.ctrl[t, b, m] = self.out_offset[m] + self.out_scale[m] * y

    def compute(self, t0: int, t1: int) -> None:
        """ctrl[t] for t0 <= t < t1 from the features at those steps."""
        self.k_features(t0, t1)
        n_layers = len(self.sizes) - 1
        for k, (w0, b0) in enumerate(self.offsets):
            self.linear(t0, t1, self.pre[k], self.x[k], 0, w0, b0, self.sizes[k + 1], self.sizes[k])
            if k == n_layers - 1:
                if self.spec.skip:
                    self.linear(
                        t0,
                        t1,
                        self.pre[k],
                        self.x[0],
                        0,
                        self.skip_offset,
                        -1,
                        self.sizes[-1],
                        self.n_in,
                    )
            else:
                self.k_activate(t0, t1, k)
        self.k_output(t0, t1)

    def rollout(self, check: bool = False, grad_decay: float = 1.0) -> None:
        """One rollout of sim driven by this controller (differentiable under ti.ad.Tape);
        with action_repeat k the network runs at t = 0, k, 2k, ... and the steps between
        hold its command (whose adjoint grad_decay scales per step back)."""
        sim = self.sim
        if self.per_step:

            def policy(t: int) -> None:
                if t % self.repeat:  # between two evaluations: the command is held
                    self._hold(t, grad_decay)
                else:
                    self.compute(t, t + 1)

            sim.rollout(policy=policy, check=check)
        else:
            self.compute(0, sim.steps)
            sim.rollout(check=check)
