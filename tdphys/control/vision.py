"""The vision controller (`controller: {type: vision}`): a small convolutional network and a
recurrent memory that read the camera image of every step and write the motor commands
`sim.control.ctrl[t]`, on the same `ti.ad.Tape` as the physics and the renderer
(docs/experiment-format.md, "controller").

Per step t and world b, from image[t, b]: (H, W, 3) colours in [0, 1], rows top to bottom:

    x_0 = image[t, b] as (3, H, W), or its grey level (the mean of the channels) as (1, H, W);
          with F = `frames` > 1, the images t, t - q, ..., t - (F - 1) q (q = `frame_step`,
          default 1) stacked as 3 F (or F) channels, newest first (steps before 0 repeat
          image[0]): motion in one input
    conv layer k = 1 .. (kernel K, stride S, C channels, valid padding, pool p):
        c_k = W_k * x_{k-1} + b_k                       (C, H_k, W_k),  H_k = (H_{k-1} - K) // S + 1
        x_k = pool_p(act(c_k))                          (C, H_k // p, W_k // p): mean or max over
                                                        p x p windows (the rest rows/columns drop)
    spatial_softmax (the last layer's pool 1): feature points instead of its flat maps, per
    channel c the expected column and row under a softmax over its pixels (Levine et al.
    2016's spatial soft-argmax; no activation on that layer):
        p_c(i, j) = exp(c_last[c, i, j]) / sum_ij exp(c_last[c, i, j])
        x_last = (sum_ij p_c(i, j) u_j, sum_ij p_c(i, j) v_i)_c     2 C numbers,
        u_j, v_i in [-1, 1] from the first to the last column, row (0 for a single one)
    d_0 = flatten(x_last), or with `motion` (flatten(x_last[t]), flatten(x_last[t] -
          x_last[t - q])): the change since the image q steps before (x_last[0] before
          the start), so that a speed is a difference in the input, not something the
          network must learn to form
    with `normalize`: d_0 <- (d_0 - m) / s per input, m and s (theta's statistics entries,
          not trained) the inputs' mean and deviation over the steps the network ran and every
          world of the rollouts before (an exponential moving average, ParameterMap.refreshed)
    d_j = act(V_j d_{j-1} + e_j)                                  dense layers `hidden`
    memory N > 0:  h[t+1] = cell(d_last, h[t]),  h[0] = 0
        rnn:  h' = tanh(Wx d + bx + Wh h)
        gru:  r = sigmoid(Wx_r d + bx_r + Wh_r h + bh_r),  z = sigmoid(same with _z)
              n = tanh(Wx_n d + bx_n + r (Wh_n h + bh_n)),  h' = (1 - z) n + z h
    y = W_out (h[t+1], or d_last without memory) + b_out
    ctrl[t] = offset + scale * y   or   offset + scale * tanh(y)
    with `action_repeat` k > 1 all of the above runs only at the steps t = 0, k, 2k, ... (the
    camera renders only those images; `frame_step` then counts evaluations, q = k frame_step
    steps); at the other steps ctrl[t] = ctrl[t - 1] and h[t + 1] = h[t] (the command is held,
    as dm_control's and Brax's action repeat)

Trainable numbers, in this order in each row of `theta` (P, n) (P: 1, or one set per world for
CMA-ES, as the MLP): per conv layer W (C, C_in, K, K) row-major then b (C); with `normalize`
the statistics m then s (n_d each; not trained: their gradient is 0); per dense layer V
(out, in) then e; the memory Wx (G N, n_d), bx (G N), Wh (G N, N) and, for gru, bh (G N), with
G = 3 gates (r, z, n) for gru and 1 for rnn; the output W (M, n) then b (M).

Every activation is kept per step in a field (T, B, n) (feature maps flattened as (channel, row,
column)) so the tape has it for the backward pass; h is (T + 1, B, N). Per step and world that
is, in reals (doubled by the gradients): C H_k W_k per conv layer before pooling plus
C H_k W_k / p^2 after it, 2 x x_last's width with motion, 2 x each dense width, 7 N (gru)
or 2 N (rnn) for the memory, M for the output.
Example: a 32 x 96 image, conv 8 x k5 s2 pool 2 and 16 x k3 s1 pool 2, hidden [64], gru 32:
about 8,800 reals per step per world, 0.17 GB in f64 for T = 300 and B = 4, gradients included
(the image itself, (T + 1, B, 32, 96, 3), is the renderer's).

Kernels keep one loop nest each and accumulate with atomic adds into per-step fields, never
in a loop-carried local (docs/engine-notes.md, pitfalls 1, 2 and 6). Every sum has a fixed
order on CPU, so a run repeats bit for bit whatever the thread count (backend.ordered_sums,
docs/determinism.md): the affine layers (dense, memory, output) are Weights.linear, one thread
per sum; the kernels whose entries are shared by many iterations (the conv and its pooling,
spatial_softmax, motion, normalize) run a thread per world over that world's steps and units
in order (GPUs: a thread per unit), reading the world's own copy of the weights
(`theta_world`, one row per world when the worlds share a parameter set), whose adjoints
k_share_weights then sums over the worlds in order. Max pooling finds each window's winner in
a forward-only kernel (outside the tape) and gathers it in a differentiated one (the gradient
goes to the winner, as in every max pool).
"""
# (no `from __future__ import annotations`: Taichi reads kernel annotations as objects)

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import taichi as ti

from .. import backend
from ..errors import ModelError
from ..model import limits
from ..model.yamlread import (
    Map,
    boolean,
    choice,
    items,
    number,
    positive,
    robot_lacks,
    size,
    string,
)
from .base import (
    ACTIVATIONS,
    COMMON_KEYS,
    MAX_WIDTH,
    NETWORK_KEYS,
    CommandHold,
    Controller,
    NetworkSpec,
    read_shared,
)
from .weights import Weights

CELLS = ("gru", "rnn")
POOL_TYPES = ("avg", "max")
VISION_KEYS = {
    "camera",
    "conv",
    "grayscale",
    "frames",
    "frame_step",
    "standardize",
    "spatial_softmax",
    "motion",
    "conv_lr_scale",
    "memory",
    "cell",
    "softmax_gain",
    "normalize",
    "normalize_rate",
}
KEYS = COMMON_KEYS | NETWORK_KEYS | VISION_KEYS
_CONV_KEYS = {"channels", "kernel", "stride", "pool", "pool_type"}


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
class VisionSpec(NetworkSpec):
    """The network's layers and output as NetworkSpec, and: conv: the conv layers
    (ConvLayer), at least one; grayscale: the network sees the mean of the colour channels;
    frames: how many of the latest images it sees at once (stacked as channels); frame_step:
    the evaluations between two stacked images; standardize: rescale the dense layers from
    forward rollouts before training; spatial_softmax: the last conv layer's maps (pool 1)
    become each channel's expected image coordinates under a softmax over its pixels (feature
    points) instead of a flat map; motion: the dense layers also see the change of the conv
    features since the image frame_step evaluations before; conv_lr_scale: the conv layers'
    weights and biases take steps conv_lr_scale times the other weights' (the optimiser sees
    them divided by lr_scale x conv_lr_scale); softmax_gain: spatial_softmax's last conv layer
    starts with weights this many times larger (a sharper softmax: points that follow the
    image's strongest responses); normalize: the dense layers see their input standardised
    by running statistics (normalize_rate: the weight of each update's rollout in them, 0
    keeps those of the first rollout); memory: recurrent state size (0: none); cell: gru |
    rnn; camera: name of the robot file's camera it sees ("": the robot's first camera)."""

    type = "vision"
    conv: tuple[ConvLayer, ...] = ()
    grayscale: bool = False
    frames: int = 1
    frame_step: int = 1
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

    def check_camera(self, robot, file: str, robot_path: str) -> None:
        """The camera exists in the robot and the conv layers fit its image."""
        cameras = robot.cameras
        names = [cam.name for cam in cameras]
        if not names:
            from pathlib import Path

            raise ModelError(
                file,
                "controller",
                f"the robot {Path(robot_path).name} has no camera for a vision controller",
                "add one under `cameras:` in the robot file (docs/robot-format.md)",
            )
        if self.camera and self.camera not in names:
            raise robot_lacks(file, "controller.camera", robot_path, "camera", self.camera, names)
        cam = cameras[names.index(self.camera) if self.camera else 0]
        try:
            conv_geometry(
                self.conv,
                self.frames * (1 if self.grayscale else 3),
                cam.height,
                cam.width,
                self.spatial_softmax,
            )
        except ConvDoesNotFit as exc:
            raise ModelError(
                file,
                f"controller.conv[{exc.layer}]",
                f"{exc.message} (camera '{cam.name}' is {cam.height} x {cam.width})",
                exc.fix,
            ) from None


def parse(m: Map, elsewhere: dict[str, str]) -> VisionSpec:
    """`elsewhere`: the fixes for keys of other kinds of controller."""
    m.only(KEYS, elsewhere)
    values: dict = {}
    conv_at = m.require("conv", "add `conv: [{channels: 8, kernel: 5, stride: 2, pool: 2}]`")
    layers = []
    for i, item in enumerate(items(conv_at, "conv", allow_empty=False)):
        lm = Map(item, f"controller.conv[{i}]").only(_CONV_KEYS)
        args = {
            "channels": size(
                lm.require("channels", "add `channels: 8` (its feature maps)"), MAX_WIDTH
            )
        }
        for key in ("kernel", "stride", "pool"):
            if key in lm:
                args[key] = size(lm.get(key), limits.CAMERA_PIXELS[1])
        if "pool_type" in lm:
            args["pool_type"] = choice(lm.get("pool_type"), POOL_TYPES, "pool type")
        layers.append(ConvLayer(**args))
    values["conv"] = tuple(layers)
    if "camera" in m:
        values["camera"] = string(m.get("camera"))
    for key in ("grayscale", "standardize", "spatial_softmax", "motion"):
        if key in m:
            values[key] = boolean(m.get(key))
    if "frames" in m:
        values["frames"] = size(m.get("frames"), 64)
    if "frame_step" in m:
        values["frame_step"] = size(m.get("frame_step"), limits.MAX_STEPS)
    if "conv_lr_scale" in m:
        values["conv_lr_scale"] = positive(m.get("conv_lr_scale"), "")
    if "softmax_gain" in m:
        at = m.get("softmax_gain")
        values["softmax_gain"] = positive(at, "")
        if not values.get("spatial_softmax"):
            raise at.error(
                "softmax_gain scales the last conv layer of spatial_softmax, which is off",
                "add `spatial_softmax: true`, or drop softmax_gain",
            )
    if "normalize" in m:
        values["normalize"] = boolean(m.get("normalize"))
    if "normalize_rate" in m:
        at = m.get("normalize_rate")
        rate = number(at)
        if not 0.0 <= rate <= 1.0:
            raise at.error(
                f"must be between 0 and 1, got {rate:g}",
                "use e.g. 0.1 (each "
                "update's rollout weighs 10 % in the statistics), or 0 to keep "
                "the first rollout's",
            )
        values["normalize_rate"] = rate
    if "memory" in m:
        values["memory"] = size(m.get("memory"), MAX_WIDTH, low=0)
    if "cell" in m:
        values["cell"] = choice(m.get("cell"), CELLS, "memory cell")
    read_shared(m, values)
    return VisionSpec(**values)


class _ConvGeometry(NamedTuple):
    """One conv layer: input (ci, hi, wi), kernel k, stride s, output (co, ho, wo) before and
    (co, hp, wp) after pooling by p (max_pool: max, else mean); theta offsets w0 (weights),
    b0 (biases)."""

    ci: int
    hi: int
    wi: int
    co: int
    k: int
    s: int
    ho: int
    wo: int
    p: int
    hp: int
    wp: int
    max_pool: bool
    w0: int
    b0: int


class ConvDoesNotFit(ValueError):
    """A conv layer (index `layer`) whose kernel or pooling is larger than its input, or that
    spatial_softmax cannot read; `fix` says what to change."""

    def __init__(
        self,
        layer: int,
        message: str,
        fix: str = "use a smaller kernel, stride or pool, fewer layers, or a larger camera image",
    ):
        super().__init__(f"controller.conv[{layer}]: {message}")
        self.layer, self.message, self.fix = layer, message, fix


def conv_geometry(
    layers, channels: int, height: int, width: int, spatial_softmax: bool = False
) -> list:
    """The _ConvGeometry of each of `layers` (ConvLayer) on a (channels, height, width)
    input [px], with their weights from offset 0 of theta. With spatial_softmax the last
    layer's maps are read before any pooling, so its pool must be 1. Raises ConvDoesNotFit."""
    if spatial_softmax and layers and int(layers[-1].pool) != 1:
        raise ConvDoesNotFit(
            len(layers) - 1,
            "spatial_softmax reads the last layer's maps before any pooling",
            "set this layer's `pool` to 1 (or turn spatial_softmax off)",
        )
    out, off = [], 0
    c, h, w = channels, height, width
    for i, layer in enumerate(layers):
        k, s, p, co = int(layer.kernel), int(layer.stride), int(layer.pool), int(layer.channels)
        ho, wo = (h - k) // s + 1, (w - k) // s + 1
        if k > h or k > w or ho // p < 1 or wo // p < 1:
            raise ConvDoesNotFit(
                i,
                f"kernel {k}, stride {s} and pool {p} do not fit its input "
                f"of {h} x {w} pixels (rows x columns)",
            )
        g = _ConvGeometry(
            c,
            h,
            w,
            co,
            k,
            s,
            ho,
            wo,
            p,
            ho // p,
            wo // p,
            layer.pool_type == "max" and p > 1,
            off,
            off + co * c * k * k,
        )
        out.append(g)
        off = g.b0 + co
        c, h, w = co, g.hp, g.wp
    return out


@ti.data_oriented
class ConvRecurrent(Weights, Controller):
    """The vision controller (see the module docstring) for `sim`. `source` renders the
    images: `source.image` (T + 1, B, H, W, 3), `source.render(t)` fills image[t] from the
    state at step t (differentiably), `source.clear_gradients()`."""

    def __init__(self, spec: VisionSpec, sim, source, param_sets: int = 1):
        self.spec, self.sim, self.source = spec, sim, source
        B, T, M = sim.batch, sim.steps, sim.n_motors
        if M == 0:
            raise ValueError("a vision controller needs a robot with motors")
        if param_sets < 1 or B % param_sets:
            raise ValueError(f"param_sets must divide the batch ({B}), got {param_sets}")
        if not spec.conv:
            raise ValueError("a vision controller needs at least one conv layer")
        if spec.cell not in CELLS:
            raise ValueError(f"unknown memory cell '{spec.cell}' (use one of {CELLS})")
        for i, layer in enumerate(spec.conv):
            if layer.pool_type not in POOL_TYPES:
                raise ValueError(
                    f"controller.conv[{i}]: unknown pool type '{layer.pool_type}' "
                    f"(use one of {POOL_TYPES})"
                )
        self.P = param_sets
        self.per_step = True  # it reads the image of the current state
        # the loop form of the kernels whose entries many iterations share (module docstring)
        self.ordered, self.stride = sim.backend.ordered_sums, sim.backend.world_stride
        self.act_code = ACTIVATIONS.index(spec.activation)
        self.squash_tanh = spec.squash == "tanh"
        self.grey = bool(spec.grayscale)
        self.frame_channels = 1 if self.grey else int(source.channels)  # per stacked image
        self.frames = int(spec.frames)
        self.repeat = int(spec.action_repeat)
        if self.frames < 1 or int(spec.frame_step) < 1 or self.repeat < 1:
            raise ValueError(
                f"frames, frame_step and action_repeat must be at least 1, got "
                f"{spec.frames}, {spec.frame_step} and {spec.action_repeat}"
            )
        self.frame_step = int(spec.frame_step) * self.repeat  # [steps] between stacked images
        self.frame_reach = (self.frames - 1) * self.frame_step  # steps back to the oldest
        self.motion = bool(spec.motion)
        self.motion_reach = self.frame_step if self.motion else 0  # [steps] back for motion
        self.reach = max(self.frame_reach, self.motion_reach)
        # layer sizes and the parameter layout
        self.spatial = bool(spec.spatial_softmax)
        self.convs = conv_geometry(
            spec.conv,
            self.frames * self.frame_channels,
            int(source.height),
            int(source.width),
            self.spatial,
        )
        last = self.convs[-1]
        off = last.b0 + last.co
        n = self.n_conv = 2 * last.co if self.spatial else last.co * last.hp * last.wp
        if self.motion:
            n = 2 * self.n_conv  # x_last and its change
        self.n_in = n  # d_0's width
        self.normalize = bool(spec.normalize)
        self.stats0 = off  # normalize: m at stats0, s after it
        if self.normalize:
            off += 2 * n
        self.dense = []  # (n_in, n_out, w0, b0)
        for width in spec.hidden:
            self.dense.append((n, int(width), off, off + n * int(width)))
            off += n * int(width) + int(width)
            n = int(width)
        self.n_feat = n  # input of the memory
        # the optimiser's view (Controller): input statistics and standardised layers
        self.normalize_rate = float(spec.normalize_rate) if self.normalize else 0.0
        self.standardized_layers = len(self.dense) if spec.standardize else 0
        N = self.N = int(spec.memory)
        G = self.G = 3 if spec.cell == "gru" else 1
        self.mem = None  # (Wx0, bx0, Wh0, bh0 or None)
        if N:
            wx0 = off
            bx0 = wx0 + G * N * n
            wh0 = bx0 + G * N
            bh0 = wh0 + G * N * N if G == 3 else None
            self.mem = (wx0, bx0, wh0, bh0)
            off = wh0 + G * N * N + (G * N if G == 3 else 0)
            n = N
        self.n_last = n  # input of the output layer
        self.out_w0, self.out_b0 = off, off + M * n
        self.n_params = off + M * n + M
        # fields (declared together: one SNode tree)
        real = sim.real
        self.theta = backend.field(real, (self.P, self.n_params))
        # each world's weights for the kernels that Taichi differentiates (module docstring);
        # theta itself when every world has its own parameter set
        self.theta_world = backend.field(real, (B, self.n_params)) if self.P < B else None
        self.world_weights = self.theta if self.theta_world is None else self.theta_world
        self.out_scale = backend.field(real, M)
        self.out_offset = backend.field(real, M)
        self.conv_pre = [backend.field(real, (T, B, g.co * g.ho * g.wo)) for g in self.convs]
        self.conv_out = [backend.field(real, (T, B, g.co * g.hp * g.wp)) for g in self.convs[:-1]]
        self.conv_out.append(backend.field(real, (T, B, self.n_conv)))  # spatial: the points
        self.winner = [
            backend.int_field((T, B, g.co * g.hp * g.wp)) if g.max_pool else None
            for g in self.convs
        ]
        self.motion_in = backend.field(real, (T, B, 2 * self.n_conv)) if self.motion else None
        self.norm_in = backend.field(real, (T, B, self.n_in)) if self.normalize else None
        self.dense_pre = [backend.field(real, (T, B, d[1])) for d in self.dense]
        self.dense_out = [backend.field(real, (T, B, d[1])) for d in self.dense]
        self.gx = backend.field(real, (T, B, max(G * N, 1)))  # input part of the gates
        self.gh = backend.field(real, (T, B, max(G * N, 1) if G == 3 else 1))  # state part (gru)
        self.h = backend.field(real, (T + 1, B, max(N, 1)))  # h[t]: before step t
        self.y = backend.field(real, (T, B, M))  # output before the squash
        spatial = []  # spatial_softmax: peak (forward only),
        if self.spatial:  # exp and its sum per channel
            self.ss_peak = backend.field(real, (T, B, last.co), grad=False)
            self.ss_e = backend.field(real, (T, B, last.co * last.ho * last.wo))
            self.ss_z = backend.field(real, (T, B, last.co))
            spatial = [self.ss_e, self.ss_z]
        np_real = np.float64 if real == ti.f64 else np.float32
        self.out_scale.from_numpy(
            np.broadcast_to(np.asarray(spec.output_scale, float), (M,)).astype(np_real)
        )
        self.out_offset.from_numpy(
            np.broadcast_to(np.asarray(spec.output_offset, float), (M,)).astype(np_real)
        )
        self.theta0 = self.initial_theta()
        self._clear_own = backend.gradient_clearer(
            [
                self.theta,
                self.world_weights,
                self.out_scale,
                self.out_offset,
                self.gx,
                self.gh,
                self.h,
                self.y,
            ]
            + self.conv_pre
            + self.conv_out
            + self.dense_pre
            + self.dense_out
            + spatial
            + ([self.motion_in] if self.motion else [])
            + ([self.norm_in] if self.normalize else [])
        )
        self._winners = ti.ad.no_grad(self._find_winners)
        self._peaks = ti.ad.no_grad(self._find_peaks)
        # grad_decay for the memory: a no-op forward whose backward scales h's adjoint
        self._memory_decay = ti.ad.grad_replaced(self._memory_decay_forward)
        ti.ad.grad_for(self._memory_decay)(self._memory_decay_backward)
        # ... and for the stacked older frames, which reach back past steps
        self._frame_decay = ti.ad.grad_replaced(self._frame_decay_forward)
        ti.ad.grad_for(self._frame_decay)(self._frame_decay_backward)
        # action_repeat: the steps between two network evaluations hold the command and
        # the memory
        self._hold_command = CommandHold(sim).hold
        self._init_linear()
        self._hold_memory = ti.ad.grad_replaced(self._hold_memory_forward)
        ti.ad.grad_for(self._hold_memory)(self._hold_memory_backward)

    # ------------------------------------------------------------------------ set-up
    def standardized(self, theta: np.ndarray, layer: int) -> np.ndarray:
        """theta with dense layer `layer` rescaled from the last rollout (made with theta):
        each unit u's pre-activation a_u = V_u d + e_u had mean m_u and standard deviation
        s_u over the steps the network ran and every world; its row becomes V_u / s_u and its
        bias (e_u - m_u) / s_u, so that over those same inputs it has mean 0 and deviation 1
        (data-dependent initialisation, as LSUV, Mishkin and Matas 2016). A camera image
        changes little between states (a thin pole moves a few of its pixels), so at random
        initial weights the first dense layer varies far less across states than it is large
        and the commands hardly depend on the image; standardising brings that variation to
        order 1. Deviations under 1e-3 are taken as 1e-3 (a unit that no state moves is not
        blown up)."""
        n_in, n_out, w0, b0 = self.dense[layer]
        ran = np.arange(0, self.sim.steps, self.repeat)
        pre = self.dense_pre[layer].to_numpy()[ran].reshape(-1, n_out).astype(float)
        mean, dev = pre.mean(axis=0), np.maximum(pre.std(axis=0), 1e-3)
        theta = np.array(theta, float)
        theta[w0:b0] = (theta[w0:b0].reshape(n_out, n_in) / dev[:, None]).ravel()
        theta[b0 : b0 + n_out] = (theta[b0 : b0 + n_out] - mean) / dev
        return theta

    def initial_theta(self) -> np.ndarray:
        """Conv, dense and memory weights ~ N(0, init_gain^2 / fan_in) (fan_in: the inputs of
        one unit: C_in K^2, the layer's input width, n_d or N), biases zero; the output layer
        zero with zero_output, else N(0, 1 / fan_in). With spatial_softmax the last conv
        layer's weights are softmax_gain times larger; normalize's statistics start at m = 0,
        s = 1."""
        rng = np.random.default_rng(self.spec.seed)
        theta = np.zeros(self.n_params)
        gain = self.spec.init_gain

        def normal(w0, w1, fan_in, g=gain):
            theta[w0:w1] = rng.normal(0.0, g / math.sqrt(fan_in), w1 - w0)

        for g in self.convs:
            normal(g.w0, g.b0, g.ci * g.k * g.k)
        if self.spatial:
            last = self.convs[-1]
            theta[last.w0 : last.b0] *= self.spec.softmax_gain
        if self.normalize:
            theta[self.stats0 + self.n_in : self.stats0 + 2 * self.n_in] = 1.0
        for n_in, _, w0, b0 in self.dense:
            normal(w0, b0, n_in)
        if self.mem is not None:
            wx0, bx0, wh0, _ = self.mem
            normal(wx0, bx0, self.n_feat)
            normal(wh0, wh0 + self.G * self.N * self.N, self.N)
        if not self.spec.zero_output:
            normal(self.out_w0, self.out_b0, self.n_last, 1.0)
        return theta

    def step_scales(self) -> np.ndarray:
        """Per weight, the factor its optimiser step gets (n_params,): conv_lr_scale for
        the conv layers' weights and biases (the first entries of theta), 1 elsewhere."""
        scales = np.ones(self.n_params)
        last = self.convs[-1]
        scales[: last.b0 + last.co] = self.spec.conv_lr_scale
        return scales

    def statistics_mask(self) -> np.ndarray:
        """(n_params,) True for the entries that are statistics, not weights (normalize's m
        and s): the optimisers leave them where refreshed() puts them."""
        mask = np.zeros(self.n_params, bool)
        if self.normalize:
            mask[self.stats0 : self.stats0 + 2 * self.n_in] = True
        return mask

    def refreshed(self, theta: np.ndarray, rate: float) -> np.ndarray:
        """theta (n_params,) with normalize's statistics moved towards those of the last
        rollout: m <- (1 - rate) m + rate mean, s^2 <- (1 - rate) s^2 + rate var, the mean and
        variance of each input of the dense layers (d_0 before normalising) over the steps the
        network ran and every world; rate 1 replaces them. s is at least 1e-6 (an input no
        state moves is not blown up)."""
        theta = np.array(theta, float)
        if not self.normalize:
            return theta
        src = self.motion_in if self.motion else self.conv_out[-1]
        ran = np.arange(0, self.sim.steps, self.repeat)
        x = src.to_numpy()[ran].reshape(-1, self.n_in).astype(float)
        m0, n = self.stats0, self.n_in
        mean = (1.0 - rate) * theta[m0 : m0 + n] + rate * x.mean(axis=0)
        var = (1.0 - rate) * theta[m0 + n : m0 + 2 * n] ** 2 + rate * x.var(axis=0)
        theta[m0 : m0 + n] = mean
        theta[m0 + n : m0 + 2 * n] = np.sqrt(np.maximum(var, 1e-12))
        return theta

    def grad(self) -> np.ndarray:
        """d loss / d theta of parameter set 0, 0 for the statistics entries."""
        g = super().grad()
        g[self.statistics_mask()] = 0.0
        return g

    # ------------------------------------------------------------------------ parameters
    def set(self, X: np.ndarray) -> None:
        """X: (n,) for every parameter set, or (P, n); each world's copy follows."""
        super().set(X)
        self._share_weights()

    def _share_weights(self) -> None:
        if self.theta_world is not None:
            self.k_share_weights()

    @ti.kernel
    def k_share_weights(self):
        """theta_world[b] = theta[b's parameter set]: a thread per weight, worlds in order (its
        adjoint sums the worlds' adjoints in that order)."""
        for k in range(self.n_params):
            for b in range(self.sim.batch):
                self.theta_world[b, k] = self.theta[self._set_of(b), k]

    def clear_gradients(self) -> None:
        """Zero the gradients of this controller's fields and of the image source."""
        self._clear_own()
        self.source.clear_gradients()

    # ------------------------------------------------------------------------ kernels
    @ti.func
    def _conv_input(self, layer: ti.template(), t, b, c, y, x):
        """Channel c, row y, column x of conv layer `layer`'s input at step t, world b."""
        v = ti.cast(0.0, self.sim.real)
        if ti.static(layer > 0):
            g = ti.static(self.convs[layer - 1])
            v = self.conv_out[layer - 1][t, b, (c * g.hp + y) * g.wp + x]
        else:
            C = ti.static(self.frame_channels)
            ts = ti.max(t - (c // C) * self.frame_step, 0)  # stacked image c // C
            img = ti.static(self.source.image)
            if ti.static(self.grey):
                v = (img[ts, b, y, x, 0] + img[ts, b, y, x, 1] + img[ts, b, y, x, 2]) / 3.0
            else:
                v = img[ts, b, y, x, c % C]
        return v

    # On CPU the kernels below run a thread per world over its steps and units in order
    # (module docstring): range(batch * world_stride), working on every world_stride-th
    # index. GPUs run a thread per step, world and unit (backend.ordered_sums).
    @ti.kernel
    def k_conv_bias(self, t0: ti.i32, t1: ti.i32, layer: ti.template()):
        g = ti.static(self.convs[layer])
        if ti.static(self.ordered):
            for i in range(self.sim.batch * self.stride):
                if i % self.stride == 0:
                    for t, j in ti.ndrange((t0, t1), g.co * g.ho * g.wo):
                        self._conv_bias(layer, t, i // self.stride, j)
        else:
            for t, b, j in ti.ndrange((t0, t1), self.sim.batch, g.co * g.ho * g.wo):
                self._conv_bias(layer, t, b, j)

    @ti.func
    def _conv_bias(self, layer: ti.template(), t, b, j):
        g = ti.static(self.convs[layer])
        self.conv_pre[layer][t, b, j] = self.world_weights[b, g.b0 + j // (g.ho * g.wo)]

    @ti.kernel
    def k_conv(self, t0: ti.i32, t1: ti.i32, layer: ti.template()):
        """conv_pre += W * x, one add per output and input channel. Taichi's reverse of it
        adds every product's weight adjoint (a hand-written backward compiles far slower for
        little gain)."""
        g = ti.static(self.convs[layer])
        if ti.static(self.ordered):
            for i in range(self.sim.batch * self.stride):
                if i % self.stride == 0:
                    for t, co, yo, xo, ci in ti.ndrange((t0, t1), g.co, g.ho, g.wo, g.ci):
                        self._conv(layer, t, i // self.stride, co, yo, xo, ci)
        else:
            for t, b, co, yo, xo, ci in ti.ndrange(
                (t0, t1), self.sim.batch, g.co, g.ho, g.wo, g.ci
            ):
                self._conv(layer, t, b, co, yo, xo, ci)

    @ti.func
    def _conv(self, layer: ti.template(), t, b, co, yo, xo, ci):
        """Output (co, yo, xo) += input channel ci's K x K window times its weights, unrolled
        at compile time into one expression (backend.unrolled_sum: inside the run-time loops
        of the CPU form a changed local would need an AD stack entry per product), and one
        add per input channel into the output (far fewer atomic adds than one per
        product)."""
        g = ti.static(self.convs[layer])
        w0 = g.w0 + (co * g.ci + ci) * g.k * g.k
        self.conv_pre[layer][t, b, (co * g.ho + yo) * g.wo + xo] += backend.unrolled_sum(
            [
                self.world_weights[b, w0 + ky * g.k + kx]
                * self._conv_input(layer, t, b, ci, yo * g.s + ky, xo * g.s + kx)
                for ky, kx in ti.static(ti.ndrange(g.k, g.k))
            ]
        )

    @ti.kernel
    def k_avg_pool(self, t0: ti.i32, t1: ti.i32, layer: ti.template()):
        """conv_out += act(conv_pre) / p^2 over each window (conv_out zeroed before)."""
        g = ti.static(self.convs[layer])
        if ti.static(self.ordered):
            for i in range(self.sim.batch * self.stride):
                if i % self.stride == 0:
                    for t, c, yp, xp, dy, dx in ti.ndrange((t0, t1), g.co, g.hp, g.wp, g.p, g.p):
                        self._avg_pool(layer, t, i // self.stride, c, yp, xp, dy, dx)
        else:
            for t, b, c, yp, xp, dy, dx in ti.ndrange(
                (t0, t1), self.sim.batch, g.co, g.hp, g.wp, g.p, g.p
            ):
                self._avg_pool(layer, t, b, c, yp, xp, dy, dx)

    @ti.func
    def _avg_pool(self, layer: ti.template(), t, b, c, yp, xp, dy, dx):
        g = ti.static(self.convs[layer])
        z = self.conv_pre[layer][t, b, (c * g.ho + yp * g.p + dy) * g.wo + xp * g.p + dx]
        self.conv_out[layer][t, b, (c * g.hp + yp) * g.wp + xp] += self._act(z) * (
            1.0 / (g.p * g.p)
        )

    @ti.kernel
    def k_winners(self, t0: ti.i32, t1: ti.i32, layer: ti.template()):
        """Forward only (launched through ti.ad.no_grad): the index in conv_pre of each
        window's largest pre-activation (the largest activation too: every activation is
        nondecreasing)."""
        g = ti.static(self.convs[layer])
        for t, b, c, yp, xp in ti.ndrange((t0, t1), self.sim.batch, g.co, g.hp, g.wp):
            first = (c * g.ho + yp * g.p) * g.wo + xp * g.p
            best, arg = self.conv_pre[layer][t, b, first], first
            for dy, dx in ti.ndrange(g.p, g.p):
                j = first + dy * g.wo + dx
                if self.conv_pre[layer][t, b, j] > best:
                    best, arg = self.conv_pre[layer][t, b, j], j
            self.winner[layer][t, b, (c * g.hp + yp) * g.wp + xp] = arg

    def _find_winners(self, t0: int, t1: int, layer: int) -> None:
        self.k_winners(t0, t1, layer)

    @ti.kernel
    def k_max_pool(self, t0: ti.i32, t1: ti.i32, layer: ti.template()):
        g = ti.static(self.convs[layer])
        for t, b, j in ti.ndrange((t0, t1), self.sim.batch, g.co * g.hp * g.wp):
            self.conv_out[layer][t, b, j] = self._act(
                self.conv_pre[layer][t, b, self.winner[layer][t, b, j]]
            )

    # spatial_softmax: the largest pre-activation of each channel is subtracted before exp
    # (no overflow); it is found outside the tape and taken as a constant, which leaves the
    # gradient exact: a softmax does not change when all its inputs shift by one number.
    @ti.kernel
    def k_peaks(self, t0: ti.i32, t1: ti.i32):
        """Forward only (launched through ti.ad.no_grad): each channel's largest value."""
        g = ti.static(self.convs[-1])
        last = ti.static(len(self.convs) - 1)
        n = ti.static(g.ho * g.wo)
        for t, b, c in ti.ndrange((t0, t1), self.sim.batch, g.co):
            best = self.conv_pre[last][t, b, c * n]
            for j in range(1, n):
                best = ti.max(best, self.conv_pre[last][t, b, c * n + j])
            self.ss_peak[t, b, c] = best

    def _find_peaks(self, t0: int, t1: int) -> None:
        self.k_peaks(t0, t1)

    @ti.kernel
    def k_softmax_exp(self, t0: ti.i32, t1: ti.i32):
        g = ti.static(self.convs[-1])
        last = ti.static(len(self.convs) - 1)
        n = ti.static(g.ho * g.wo)
        for t, b, i in ti.ndrange((t0, t1), self.sim.batch, g.co * n):
            self.ss_e[t, b, i] = ti.exp(self.conv_pre[last][t, b, i] - self.ss_peak[t, b, i // n])

    @ti.kernel
    def k_softmax_sum(self, t0: ti.i32, t1: ti.i32):
        """ss_z += exp over each channel's pixels (ss_z zeroed before)."""
        g = ti.static(self.convs[-1])
        n = ti.static(g.ho * g.wo)
        if ti.static(self.ordered):
            for k in range(self.sim.batch * self.stride):
                if k % self.stride == 0:
                    for t, i in ti.ndrange((t0, t1), g.co * n):
                        b = k // self.stride
                        self.ss_z[t, b, i // n] += self.ss_e[t, b, i]
        else:
            for t, b, i in ti.ndrange((t0, t1), self.sim.batch, g.co * n):
                self.ss_z[t, b, i // n] += self.ss_e[t, b, i]

    @ti.kernel
    def k_feature_points(self, t0: ti.i32, t1: ti.i32):
        """The last conv_out += p u, p v per pixel (zeroed before): the (column, row) of
        channel c at 2 c, 2 c + 1, each in [-1, 1]."""
        g = ti.static(self.convs[-1])
        n = ti.static(g.ho * g.wo)
        su = ti.static(2.0 / (g.wo - 1) if g.wo > 1 else 0.0)  # [1/px]
        sv = ti.static(2.0 / (g.ho - 1) if g.ho > 1 else 0.0)
        if ti.static(self.ordered):
            for k in range(self.sim.batch * self.stride):
                if k % self.stride == 0:
                    for t, i in ti.ndrange((t0, t1), g.co * n):
                        self._feature_point(t, k // self.stride, i, su, sv)
        else:
            for t, b, i in ti.ndrange((t0, t1), self.sim.batch, g.co * n):
                self._feature_point(t, b, i, su, sv)

    @ti.func
    def _feature_point(self, t, b, i, su: ti.template(), sv: ti.template()):
        g = ti.static(self.convs[-1])
        n, points = ti.static(g.ho * g.wo, self.conv_out[-1])
        c, j = i // n, i % n
        p = self.ss_e[t, b, i] / self.ss_z[t, b, c]
        points[t, b, 2 * c] += p * ((j % g.wo - ti.static((g.wo - 1) / 2)) * su)
        points[t, b, 2 * c + 1] += p * ((j // g.wo - ti.static((g.ho - 1) / 2)) * sv)

    def _spatial_softmax(self, t0: int, t1: int) -> None:
        co = self.convs[-1].co
        self._peaks(t0, t1)
        self.k_softmax_exp(t0, t1)
        self.k_zero(t0, t1, self.ss_z, co)
        self.k_softmax_sum(t0, t1)
        self.k_zero(t0, t1, self.conv_out[-1], 2 * co)
        self.k_feature_points(t0, t1)

    @ti.kernel
    def k_motion(self, t0: ti.i32, t1: ti.i32):
        """motion_in[t] = (x_last[t], x_last[t] - x_last[t - q]), q = frame_step steps (the
        network's previous evaluation with frame_step 1; x_last[0] before the start)."""
        if ti.static(self.ordered):
            for k in range(self.sim.batch * self.stride):
                if k % self.stride == 0:
                    for t, i in ti.ndrange((t0, t1), self.n_conv):
                        self._motion(t, k // self.stride, i)
        else:
            for t, b, i in ti.ndrange((t0, t1), self.sim.batch, self.n_conv):
                self._motion(t, b, i)

    @ti.func
    def _motion(self, t, b, i):
        x, n = ti.static(self.conv_out[-1], self.n_conv)
        self.motion_in[t, b, i] = x[t, b, i]
        self.motion_in[t, b, n + i] = x[t, b, i] - x[ti.max(t - self.frame_step, 0), b, i]

    @ti.kernel
    def k_normalize(self, t0: ti.i32, t1: ti.i32, src: ti.template()):
        """norm_in[t] = (src[t] - m) / s per input, m and s from the world's parameter set."""
        if ti.static(self.ordered):
            for k in range(self.sim.batch * self.stride):
                if k % self.stride == 0:
                    for t, i in ti.ndrange((t0, t1), self.n_in):
                        self._normalize(t, k // self.stride, i, src)
        else:
            for t, b, i in ti.ndrange((t0, t1), self.sim.batch, self.n_in):
                self._normalize(t, b, i, src)

    @ti.func
    def _normalize(self, t, b, i, src: ti.template()):
        m0, n = ti.static(self.stats0, self.n_in)
        mean, dev = self.world_weights[b, m0 + i], self.world_weights[b, m0 + n + i]
        self.norm_in[t, b, i] = (src[t, b, i] - mean) / dev

    @ti.kernel
    def k_zero(self, t0: ti.i32, t1: ti.i32, dst: ti.template(), n: ti.template()):
        for t, b, j in ti.ndrange((t0, t1), self.sim.batch, n):
            dst[t, b, j] = 0.0

    @ti.kernel
    def k_activate(
        self, t0: ti.i32, t1: ti.i32, dst: ti.template(), src: ti.template(), n: ti.template()
    ):
        for t, b, j in ti.ndrange((t0, t1), self.sim.batch, n):
            dst[t, b, j] = self._act(src[t, b, j])

    @ti.kernel
    def k_gru(self, t0: ti.i32, t1: ti.i32):
        N = ti.static(self.N)
        for t, b, j in ti.ndrange((t0, t1), self.sim.batch, N):
            r = 1.0 / (1.0 + ti.exp(-(self.gx[t, b, j] + self.gh[t, b, j])))
            z = 1.0 / (1.0 + ti.exp(-(self.gx[t, b, N + j] + self.gh[t, b, N + j])))
            n = ti.tanh(self.gx[t, b, 2 * N + j] + r * self.gh[t, b, 2 * N + j])
            self.h[t + 1, b, j] = (1.0 - z) * n + z * self.h[t, b, j]

    @ti.kernel
    def k_rnn(self, t0: ti.i32, t1: ti.i32):
        for t, b, j in ti.ndrange((t0, t1), self.sim.batch, self.N):
            self.h[t + 1, b, j] = ti.tanh(self.gx[t, b, j])

    @ti.kernel
    def k_output(self, t0: ti.i32, t1: ti.i32):
        ti.loop_config(serialize=self.sim.backend.ordered_sums)  # module docstring
        for t, b, m in ti.ndrange((t0, t1), self.sim.batch, self.sim.n_motors):
            y = self.y[t, b, m]
            if ti.static(self.squash_tanh):
                y = ti.tanh(y)
            self.sim.control.ctrl[t, b, m] = self.out_offset[m] + self.out_scale[m] * y

    # ------------------------------------------------------------------------ grad_decay
    def _memory_decay_forward(self, t: int, grad_decay: float) -> None:
        pass  # nothing forward: the step only marks where the memory crosses step t

    def _memory_decay_backward(self, t: int, grad_decay: float) -> None:
        """Backward, between the memory steps t and t - 1: h[t]'s adjoint (what the memory
        carries back from step t on) times grad_decay, as the physics state's adjoint is
        scaled each step back, so a loss term s steps later weighs grad_decay^s along every
        path, through the memory too (without it a recurrent memory carries the whole
        horizon's gradient, which can explode where the physics' is truncated)."""
        if t > 0 and grad_decay != 1.0:
            self.k_scale_memory_adjoint(t, grad_decay)

    def _frame_decay_forward(self, t: int, grad_decay: float) -> None:
        pass  # nothing forward: marks where step t's network starts reading its images

    def _frame_decay_backward(self, t: int, grad_decay: float) -> None:
        """Backward, after the network of step t: the adjoints it gave the older stacked
        images t - f (f = 1 .. (frames - 1) frame_step), and with `motion` the older
        x_last (f = 1 .. frame_step), times grad_decay. Such a path from
        the state at t - f to ctrl[t] skips the physics steps between, so without this it
        would weigh grad_decay^(s - f), not grad_decay^s; an image's adjoint from a network f
        steps later is scaled here f times, once per step back. Only the steps' own networks
        have added to these adjoints yet (the backward runs step by step, from the last)."""
        if t > 0 and grad_decay != 1.0:
            if self.frame_reach > 0:
                self.k_scale_frame_adjoints(t, grad_decay)
            if self.motion:
                self.k_scale_motion_adjoints(t, grad_decay)

    @ti.kernel
    def k_scale_frame_adjoints(self, t: ti.i32, factor: ti.f64):
        img = ti.static(self.source.image)
        for b, y, x, c in ti.ndrange(self.sim.batch, self.source.height, self.source.width, 3):
            for f in range(1, ti.min(self.frame_reach, t) + 1):
                img.grad[t - f, b, y, x, c] *= ti.cast(factor, self.sim.real)

    @ti.kernel
    def k_scale_motion_adjoints(self, t: ti.i32, factor: ti.f64):
        x = ti.static(self.conv_out[-1])
        for b, i in ti.ndrange(self.sim.batch, self.n_conv):
            for f in range(1, ti.min(self.motion_reach, t) + 1):
                x.grad[t - f, b, i] *= ti.cast(factor, self.sim.real)

    @ti.kernel
    def k_scale_memory_adjoint(self, t: ti.i32, factor: ti.f64):
        for b, j in ti.ndrange(self.sim.batch, self.N):
            self.h.grad[t, b, j] *= ti.cast(factor, self.sim.real)

    # ------------------------------------------------------------------------ action_repeat
    def _hold_memory_forward(self, t: int) -> None:
        self.k_hold_memory(t)

    def _hold_memory_backward(self, t: int) -> None:
        """h[t] receives the adjoint of its copy h[t + 1] (scaled per step by
        _memory_decay; the held command's by CommandHold)."""
        self.k_hold_memory_adjoint(t)

    @ti.kernel
    def k_hold_memory(self, t: ti.i32):
        for b, j in ti.ndrange(self.sim.batch, self.N):
            self.h[t + 1, b, j] = self.h[t, b, j]

    @ti.kernel
    def k_hold_memory_adjoint(self, t: ti.i32):
        for b, j in ti.ndrange(self.sim.batch, self.N):
            self.h.grad[t, b, j] += self.h.grad[t + 1, b, j]

    # ------------------------------------------------------------------------ evaluation
    def compute(self, t0: int, t1: int, grad_decay: float = 1.0) -> None:
        """ctrl[t] for t0 <= t < t1 from image[t] (rendered before) and the memory h[t]; the
        feed-forward layers run for all those steps in one launch each, the memory step by
        step. Under the tape the memory's adjoint is scaled by grad_decay per step back, and
        the stacked older frames' too when the steps are computed one at a time, as rollouts
        do."""
        if self.reach > 0 and t1 == t0 + 1:
            self._frame_decay(t0, grad_decay)
        for k, g in enumerate(self.convs):
            self.k_conv_bias(t0, t1, k)
            self.k_conv(t0, t1, k)
            if self.spatial and k == len(self.convs) - 1:
                self._spatial_softmax(t0, t1)
            elif g.max_pool:
                self._winners(t0, t1, k)
                self.k_max_pool(t0, t1, k)
            else:
                self.k_zero(t0, t1, self.conv_out[k], g.co * g.hp * g.wp)
                self.k_avg_pool(t0, t1, k)
        src, n = self.conv_out[-1], self.n_conv
        if self.motion:
            self.k_motion(t0, t1)
            src, n = self.motion_in, 2 * self.n_conv
        if self.normalize:
            self.k_normalize(t0, t1, src)
            src = self.norm_in
        for (n_in, n_out, w0, b0), pre, out in zip(self.dense, self.dense_pre, self.dense_out):
            self.linear(t0, t1, pre, src, 0, w0, b0, n_out, n_in)
            self.k_activate(t0, t1, out, pre, n_out)
            src, n = out, n_out
        shift = 0
        if self.mem is not None:
            wx0, bx0, wh0, bh0 = self.mem
            GN = self.G * self.N
            self.linear(t0, t1, self.gx, src, 0, wx0, bx0, GN, n)
            for t in range(t0, t1):
                self._memory_decay(t, grad_decay)
                if self.G == 3:
                    self.linear(t, t + 1, self.gh, self.h, 0, wh0, bh0, GN, self.N)
                    self.k_gru(t, t + 1)
                else:
                    self.linear(t, t + 1, self.gx, self.h, 0, wh0, -1, GN, self.N)
                    self.k_rnn(t, t + 1)
            src, n, shift = self.h, self.N, 1  # h[t + 1]: the state after image t
        M = self.sim.n_motors
        self.linear(t0, t1, self.y, src, shift, self.out_w0, self.out_b0, M, n)
        self.k_output(t0, t1)

    def rollout(self, check: bool = False, grad_decay: float = 1.0) -> None:
        """One rollout of sim driven by this controller: before each step t the source renders
        image[t] and the network writes ctrl[t] (differentiable under ti.ad.Tape); with
        action_repeat k only at the steps t = 0, k, 2k, ..., the steps between holding the
        command (and the memory). grad_decay: the backward's factor per step back (the
        controller's part: memory, held command, older images)."""

        def policy(t):
            if t % self.repeat:  # between two evaluations: the command is held
                if self.reach > 0:
                    self._frame_decay(t, grad_decay)
                if self.mem is not None:
                    self._memory_decay(t, grad_decay)
                    self._hold_memory(t)
                self._hold_command(t, grad_decay)
                return
            self.source.render(t)
            self.compute(t, t + 1, grad_decay)

        self._share_weights()  # on the tape: the worlds' weight adjoints reach theta
        self.sim.rollout(policy=policy, check=check)
