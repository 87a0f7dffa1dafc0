"""Differentiable controllers: Taichi kernels that write the motor commands `sim.ctrl[t]`, so a
controller and the physics share one `ti.ad.Tape` (docs/experiment-format.md, "controller").

Three kinds:
- **open_loop**: the command table itself, (T, M) in the motors' units, is trainable.
- **mlp**: a multilayer perceptron per step t,
      x0 = features(t)            (clock, sensors, target, effector-to-target ...)
      h_k = act(W_k h_{k-1} + b_k)                      k = 1 .. hidden layers
      y = W_out h_last + b_out [+ S x0]                  (optional linear skip from the inputs)
      ctrl[t] = offset + scale * y   or   offset + scale * tanh(y)
  With `action_repeat` k > 1 the network runs at t = 0, k, 2k, ... only and the steps between
  hold its command (CommandHold).
  With `zero_output` the output weights, bias and skip start at zero: the first rollout
  commands `offset` at every step (standstill when offset is the initial joint angles).
- **vision**: a small convolutional network with a recurrent memory that reads the camera
  image of every step (tdphys/optim/vision_controller.py).

All trainable numbers are one vector per parameter set, `theta` (P, n). P is 1 (every world
shares the weights: a batch of targets, one update), the batch (one candidate per world:
CMA-ES), or any divisor of it (CMA-ES on random targets: each candidate drives a block of
B / P consecutive worlds). Features that depend only on time are computed for all steps in one launch before the
rollout; any feature that reads the state makes the controller run once per step, between the
engine's steps (Simulation.rollout(policy=...)).

Kernels that Taichi differentiates keep one loop nest each and accumulate with atomic adds,
never in a loop-carried local (docs/engine-notes.md, pitfalls 1 and 6; Taichi's reverse mode
would need an AD stack per hidden unit). The affine layers (Weights.linear) have a hand-written
backward instead. On CPU every sum has a fixed order, so a run repeats bit for bit whatever the
thread count (backend.ordered_sums, docs/determinism.md): one thread owns each sum of the
affine layers, and the kernels whose adjoints add into entries that many iterations read (the
features read the effector's state; the output reads the motors' scale and offset) are serial
loops.
"""
# (no `from __future__ import annotations`: Taichi reads kernel annotations as objects)

import math
from dataclasses import dataclass

import numpy as np
import taichi as ti

from .. import backend
from ..engine.tmath import quat_rotate

ACTIVATIONS = ("tanh", "relu", "elu", "sigmoid")
SQUASHES = ("none", "tanh")
INPUT_KINDS = ("clock", "sensor", "target", "effector_to_target", "effector_distance")

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
class ConvLayer:
    """One conv layer of a vision controller: channels (output feature maps); kernel [px]
    (square, valid padding); stride [px]; pool: p x p pooling after the activation (1: none);
    pool_type: avg | max."""

    channels: int
    kernel: int = 3
    stride: int = 1
    pool: int = 1
    pool_type: str = "avg"


@dataclass(frozen=True)
class ControllerSpec:
    """type: open_loop | mlp | vision. For mlp: inputs; hidden: layer widths; activation;
    skip: linear skip connection from the inputs to the outputs; zero_output: output weights
    start at zero; init_gain: hidden weights ~ N(0, init_gain^2 / fan_in); seed; output_scale
    [motor units per output unit] (one, or one per motor); output_offset [motor units] (one or
    per motor); squash: none | tanh applied to the output before the scale; action_repeat:
    the steps each command is held (the network runs every that many); lr_scale: the
    optimiser sees weights / lr_scale (scales the learning rate of the weights against
    physical parameters). For vision (hidden, activation, squash and the rest as for mlp; no
    inputs or skip): conv: the conv layers (ConvLayer), at least one; grayscale: the network
    sees the mean of the colour channels; frames: how many of the latest images it sees at
    once (stacked as channels); frame_step: the evaluations between two stacked images;
    standardize: rescale the dense layers from forward rollouts before training;
    spatial_softmax: the last conv layer's maps (pool 1) become each channel's expected image
    coordinates under a softmax over its pixels (feature points) instead of a flat map;
    motion: the dense layers also see the change of the conv features since the image
    frame_step evaluations before;
    conv_lr_scale: the conv layers' weights and biases take steps conv_lr_scale times the
    other weights' (the optimiser sees them divided by lr_scale x conv_lr_scale);
    softmax_gain: spatial_softmax's last conv layer starts with weights this many times
    larger (a sharper softmax: points that follow the image's strongest responses);
    normalize: the dense layers see their input standardised by running statistics
    (normalize_rate: the weight of each update's rollout in them, 0 keeps those of the first
    rollout); memory:
    recurrent state size (0: none); cell: gru | rnn; camera: name of the robot file's camera
    it sees ("": the robot's first camera)."""

    type: str = "mlp"
    inputs: tuple[ControllerInput, ...] = ()
    hidden: tuple[int, ...] = (128, 128)
    activation: str = "tanh"
    skip: bool = False
    zero_output: bool = True
    init_gain: float = 1.0
    seed: int = 0
    output_scale: "float | tuple[float, ...]" = 1.0
    output_offset: "float | tuple[float, ...]" = 0.0
    squash: str = "none"
    lr_scale: float = 1.0
    conv: tuple[ConvLayer, ...] = ()
    grayscale: bool = False
    frames: int = 1
    frame_step: int = 1
    action_repeat: int = 1
    standardize: bool = False
    spatial_softmax: bool = False
    motion: bool = False
    conv_lr_scale: float = 1.0
    softmax_gain: float = 1.0
    normalize: bool = False
    normalize_rate: float = 0.1
    memory: int = 0
    cell: str = "gru"
    camera: str = ""


def make_controller(spec: ControllerSpec, sim, task, param_sets: int = 1, image_source=None):
    """The controller for `sim` (the task gives the target and the effector point). A vision
    controller reads `image_source` (default: a tdphys.vision.Renderer of spec.camera)."""
    if spec.type == "open_loop":
        return OpenLoop(spec, sim)
    if spec.type == "vision":
        from .vision_controller import ConvRecurrent
        if image_source is None:
            from ..vision import Renderer
            cameras = sim.robot.cameras
            if not spec.camera and not cameras:
                raise ValueError(f"a vision controller needs a camera: the robot "
                                 f"{sim.robot.name} has none")
            image_source = Renderer(sim, spec.camera or cameras[0].name)
        return ConvRecurrent(spec, sim, task, image_source, param_sets)
    return MLP(spec, sim, task, param_sets)


class OpenLoop:
    """The command table ctrl (T, M) is the trainable vector (world 0's row is shared by
    every world for Adam; CMA-ES sets one table per world). Starts at output_offset."""

    def __init__(self, spec: ControllerSpec, sim):
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

    def compute(self, t0: int, t1: int) -> None:
        pass  # the table is the command

    def clear_gradients(self) -> None:
        pass  # the table is sim.ctrl, cleared with the simulation

    def rollout(self, check: bool = False) -> None:
        self.sim.rollout(check=check)


@ti.data_oriented
class CommandHold:
    """`action_repeat`: hold(t) copies the command of step t - 1 to step t, on the tape. Its
    backward gives ctrl[t - 1] the adjoint of its copy times sim.grad_decay, as a step of the
    physics scales the state's, so a loss term s steps after the network step that chose a
    held command weighs grad_decay^s along the held path too (as dm_control's and Brax's
    action repeat, made differentiable)."""

    def __init__(self, sim):
        self.sim = sim
        self.hold = ti.ad.grad_replaced(self._forward)
        ti.ad.grad_for(self.hold)(self._backward)

    def _forward(self, t: int) -> None:
        self.k_hold(t)

    def _backward(self, t: int) -> None:
        self.k_hold_adjoint(t, self.sim.grad_decay)

    @ti.kernel
    def k_hold(self, t: ti.i32):
        for b, m in ti.ndrange(self.sim.batch, self.sim.n_motors):
            self.sim.ctrl[t, b, m] = self.sim.ctrl[t - 1, b, m]

    @ti.kernel
    def k_hold_adjoint(self, t: ti.i32, factor: ti.f64):
        for b, m in ti.ndrange(self.sim.batch, self.sim.n_motors):
            self.sim.ctrl.grad[t - 1, b, m] += ti.cast(factor, self.sim.real) \
                * self.sim.ctrl.grad[t, b, m]


class Weights:
    """What the MLP and vision controllers share: the trainable vector `theta` (P, n_params)
    (P = 1, or one parameter set per world), its activation (`act_code`, an ACTIVATIONS index),
    the affine layer op (`linear`) and the optimiser's view of it."""

    def _init_linear(self) -> None:
        """`self.linear(t0, t1, dst, src, shift, w0, b0, n_out, n_in)`: for t0 <= t < t1 and
        every world b,

            dst[t, b] = theta[b0:b0 + n_out] + W src[t + shift, b]      (b0 >= 0)
            dst[t, b] += W src[t + shift, b]                           (b0 < 0)

        with W (n_out, n_in) row-major at theta[w0:] of b's parameter set; differentiable
        under ti.ad.Tape. Its backward is written here rather than Taichi's: Taichi's adds
        every product into the input's and the weight's adjoints atomically from whichever
        thread runs it, so the sums took another order each run (docs/determinism.md). Here
        each output, input adjoint and weight adjoint is one thread's sum, in index order."""
        self.linear = ti.ad.grad_replaced(self._linear_forward)
        ti.ad.grad_for(self.linear)(self._linear_backward)

    def _linear_forward(self, t0, t1, dst, src, shift, w0, b0, n_out, n_in) -> None:
        self.k_linear(t0, t1, dst, src, shift, w0, b0, n_out, n_in)

    def _linear_backward(self, t0, t1, dst, src, shift, w0, b0, n_out, n_in) -> None:
        self.k_linear_input_adjoint(t0, t1, dst, src, shift, w0, n_out, n_in)
        self.k_linear_weight_adjoint(t0, t1, dst, src, shift, w0, b0, n_out, n_in)

    @ti.kernel
    def k_linear(self, t0: ti.i32, t1: ti.i32, dst: ti.template(), src: ti.template(),
                shift: ti.template(), w0: ti.template(), b0: ti.template(),
                n_out: ti.template(), n_in: ti.template()):
        """Forward only (the backward is _linear_backward): one thread per output."""
        for t, b, j in ti.ndrange((t0, t1), self.sim.batch, n_out):
            p = self._set_of(b)
            acc = dst[t, b, j]
            if ti.static(b0 >= 0):
                acc = self.theta[p, b0 + j]
            for i in range(n_in):
                acc += self.theta[p, w0 + j * n_in + i] * src[t + shift, b, i]
            dst[t, b, j] = acc

    @ti.kernel
    def k_linear_input_adjoint(self, t0: ti.i32, t1: ti.i32, dst: ti.template(),
                              src: ti.template(), shift: ti.template(), w0: ti.template(),
                              n_out: ti.template(), n_in: ti.template()):
        """src.grad[t + shift, b, i] += sum_j W[j, i] dst.grad[t, b, j]: a thread per input."""
        for t, b, i in ti.ndrange((t0, t1), self.sim.batch, n_in):
            p = self._set_of(b)
            acc = ti.cast(0.0, self.sim.real)
            for j in range(n_out):
                acc += self.theta[p, w0 + j * n_in + i] * dst.grad[t, b, j]
            src.grad[t + shift, b, i] += acc

    @ti.kernel
    def k_linear_weight_adjoint(self, t0: ti.i32, t1: ti.i32, dst: ti.template(),
                               src: ti.template(), shift: ti.template(), w0: ti.template(),
                               b0: ti.template(), n_out: ti.template(), n_in: ti.template()):
        """theta.grad[p] += the sum over the steps, then over set p's worlds, of
        dst.grad[t, b, j] src[t + shift, b, i] (W[j, i]) and dst.grad[t, b, j] (bias j):
        a thread per weight."""
        per_set = ti.static(self.sim.batch // self.P)
        for p, j, i in ti.ndrange(self.P, n_out, n_in):
            acc = ti.cast(0.0, self.sim.real)
            for t in range(t0, t1):
                for k in range(per_set):
                    b = p * per_set + k
                    acc += dst.grad[t, b, j] * src[t + shift, b, i]
            self.theta.grad[p, w0 + j * n_in + i] += acc
        if ti.static(b0 >= 0):
            for p, j in ti.ndrange(self.P, n_out):
                acc = ti.cast(0.0, self.sim.real)
                for t in range(t0, t1):
                    for k in range(per_set):
                        acc += dst.grad[t, p * per_set + k, j]
                self.theta.grad[p, b0 + j] += acc

    def set(self, X: np.ndarray) -> None:
        """X: (n,) for every parameter set, or (P, n)."""
        X = np.broadcast_to(np.atleast_2d(X), (self.P, self.n_params))
        self.theta.from_numpy(np.ascontiguousarray(X).astype(
            np.float64 if self.sim.real == ti.f64 else np.float32))

    def grad(self) -> np.ndarray:
        """d loss / d theta of parameter set 0 (every world's share when P is 1)."""
        return self.theta.grad.to_numpy()[0].astype(float)

    @ti.func
    def _set_of(self, b):
        """The parameter set world b uses: P sets share the B worlds in consecutive blocks
        of B / P (one world each when P = B)."""
        result = 0
        if ti.static(self.P > 1):
            result = b // ti.static(self.sim.batch // self.P)
        return result

    @ti.func
    def _act(self, z):
        """The hidden activation (ACTIVATIONS[act_code]) of z."""
        a = z
        if ti.static(self.act_code == 0):
            a = ti.tanh(z)
        elif ti.static(self.act_code == 1):
            a = ti.max(z, 0.0)
        elif ti.static(self.act_code == 2):
            a = ti.select(z > 0, z, ti.exp(ti.min(z, 0.0)) - 1.0)
        else:
            a = 1.0 / (1.0 + ti.exp(-z))
        return a


@ti.data_oriented
class MLP(Weights):
    """The mlp controller (see the module docstring); fields are per step so the tape keeps
    every activation for the backward pass."""

    def __init__(self, spec: ControllerSpec, sim, task, param_sets: int = 1):
        self.spec, self.sim, self.task = spec, sim, task
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
        self.per_step = self.repeat > 1 or any(code[0] not in (_F_SIN, _F_COS, _F_TARGET)
                                               for code in table)
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
        self.x = [backend.field(real, (T, B, n)) for n in sizes[:-1]]      # layer inputs
        self.pre = [backend.field(real, (T, B, n)) for n in sizes[1:]]     # pre-activations
        backend.FieldBlock({"feat_kind": self.feat_kind, "feat_arg": self.feat_arg},
                           ti.i32).write({"feat_kind": [c[0] for c in table],
                                          "feat_arg": [c[1] for c in table]})
        backend.FieldBlock({"feat_scale": self.feat_scale, "freq": self.freq,
                            "out_scale": self.out_scale, "out_offset": self.out_offset}).write({
            "feat_scale": [c[2] for c in table], "freq": [c[3] for c in table],
            "out_scale": np.broadcast_to(np.asarray(spec.output_scale, float), (M,)),
            "out_offset": np.broadcast_to(np.asarray(spec.output_offset, float), (M,))})
        self.theta0 = self.initial_theta()
        self.clear_gradients = backend.gradient_clearer(
            [self.theta, self.feat_scale, self.freq, self.out_scale, self.out_offset]
            + self.x + self.pre)
        eff = getattr(task, "effector", None)
        self.eff_body = int(eff[0]) if eff is not None else 0
        self.eff_point = tuple(float(c) for c in eff[1]) if eff is not None else (0.0, 0.0, 0.0)

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
        return sim.pos[t, b, n] + quat_rotate(sim.quat[t, b, n], p - sim.com[b, n])

    @ti.kernel
    def k_features(self, t0: ti.i32, t1: ti.i32):
        ti.loop_config(serialize=self.sim.backend.ordered_sums)   # module docstring
        for t, b, i in ti.ndrange((t0, t1), self.sim.batch, self.n_in):
            kind, arg = self.feat_kind[i], self.feat_arg[i]
            phase = 2.0 * math.pi * self.freq[i] * t * self.sim.dt
            value = ti.cast(0.0, self.sim.real)
            if kind == _F_SIN:
                value = ti.sin(phase)
            elif kind == _F_COS:
                value = ti.cos(phase)
            elif kind == _F_SENSOR:
                value = self.sim.sensordata[t, b, arg]
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
        if ti.static(hasattr(self.task, "target_field")):
            v = self.task.target_field[b]
        return v

    @ti.kernel
    def k_activate(self, t0: ti.i32, t1: ti.i32, layer: ti.template()):
        for t, b, j in ti.ndrange((t0, t1), self.sim.batch, self.sizes[layer + 1]):
            self.x[layer + 1][t, b, j] = self._act(self.pre[layer][t, b, j])

    @ti.kernel
    def k_output(self, t0: ti.i32, t1: ti.i32):
        last = ti.static(len(self.pre) - 1)
        ti.loop_config(serialize=self.sim.backend.ordered_sums)   # module docstring
        for t, b, m in ti.ndrange((t0, t1), self.sim.batch, self.sim.n_motors):
            y = self.pre[last][t, b, m]
            if ti.static(self.squash_tanh):
                y = ti.tanh(y)
            self.sim.ctrl[t, b, m] = self.out_offset[m] + self.out_scale[m] * y

    def compute(self, t0: int, t1: int) -> None:
        """ctrl[t] for t0 <= t < t1 from the features at those steps."""
        self.k_features(t0, t1)
        n_layers = len(self.sizes) - 1
        for k, (w0, b0) in enumerate(self.offsets):
            self.linear(t0, t1, self.pre[k], self.x[k], 0, w0, b0, self.sizes[k + 1],
                       self.sizes[k])
            if k == n_layers - 1:
                if self.spec.skip:
                    self.linear(t0, t1, self.pre[k], self.x[0], 0, self.skip_offset, -1,
                               self.sizes[-1], self.n_in)
            else:
                self.k_activate(t0, t1, k)
        self.k_output(t0, t1)

    def _policy(self, t: int) -> None:
        if t % self.repeat:            # between two evaluations: the command is held
            self._hold(t)
        else:
            self.compute(t, t + 1)

    def rollout(self, check: bool = False) -> None:
        """One rollout of sim driven by this controller (differentiable under ti.ad.Tape);
        with action_repeat k the network runs at t = 0, k, 2k, ... and the steps between
        hold its command."""
        sim = self.sim
        if self.per_step:
            sim.rollout(policy=self._policy, check=check)
        else:
            self.compute(0, sim.steps)
            sim.rollout(check=check)
