"""The vision controller (tdphys/control/vision.py): exact weight gradients
through physics, image, conv, pooling, dense layers and memory; a standstill start; a memory
that remembers; experiment-file errors that name the key. The arm (4 motors) reaching a point
is the test bed, seen by a small stub camera (a smooth blob that follows the forearm)."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import taichi as ti

from controller_checks import (
    check_grad_decay,
    check_weight_gradient,
    initial_theta_for,
    rollout_loss,
    taped_loss,
)

from tdphys.errors import ModelError

pytestmark = pytest.mark.taichi_per_module  # module-scoped fixtures hold fields

ROOT = Path(__file__).resolve().parents[1]
STEPS, H, W = 6, 8, 12


@ti.data_oriented
class BlobCamera:
    """A stand-in for tdphys.vision.Renderer: image[t, b, y, x, c] is a Gaussian blob (sigma
    2 px) centred where the forearm's COM is (x -> column, z -> row), tinted per channel and
    brightened by the forearm's orientation, so it is a smooth function of sim.state.pos and
    sim.state.quat at step t."""

    def __init__(self, sim, body: int):
        from tdphys import backend

        self.sim, self.body = sim, body
        self.height, self.width, self.channels = H, W, 3
        self.image = backend.field(sim.real, (sim.steps + 1, sim.batch, H, W, 3))
        self.clear_gradients = backend.gradient_clearer([self.image])

    @ti.kernel
    def k_render(self, t: ti.i32):
        for b, y, x, c in ti.ndrange(self.sim.batch, H, W, 3):
            p, q = self.sim.state.pos[t, b, self.body], self.sim.state.quat[t, b, self.body]
            u = (W - 1) * (0.2 + 1.5 * p[0])  # [px] column of the blob's centre
            v = (H - 1) * (1.6 - 1.2 * p[2])  # [px] row
            d2 = (x - u) ** 2 + (y - v) ** 2
            tint = 0.4 + 0.3 * c + 0.2 * q[3] * (c - 1)
            self.image[t, b, y, x, c] = 0.1 + tint * ti.exp(-d2 / 8.0)

    def render(self, t: int):
        self.k_render(t)


def _controller(sim, task, camera, param_sets=1, **changes):
    from tdphys.control import ConvLayer, VisionSpec, make_controller

    spec = VisionSpec(
        conv=(ConvLayer(3, 3, 1, 2, "avg"), ConvLayer(2, 2, 1)),
        hidden=(5,),
        memory=3,
        cell="gru",
        zero_output=False,
        seed=3,
        init_gain=1.5,
        output_scale=0.01,
        output_offset=0.005,
        squash="tanh",
    )
    spec = dataclasses.replace(spec, **changes)
    return make_controller(spec, sim, task, param_sets, image_source=camera)


@pytest.fixture(scope="module")
def arm(backend64):
    """Two worlds, each with its own weights (param_sets 2, as CMA-ES uses them), and two
    controllers on the same simulation: gru with average pooling on the colour image, and
    rnn with max pooling on the grey images of steps t and t - 2 (frames 2, frame_step 2: the
    decay test below then also checks the stacked frame's scaling over two steps), and gru
    evaluated every second step only (action_repeat 2) on the images of steps t and t - 2
    (frames 2, frame_step 1 evaluation), holding its command and memory between, its dense
    layer also seeing the change of the conv features since step t - 2 (motion); and gru
    reading feature points (spatial_softmax) of its last conv layer instead of its maps, its
    first layer with stride 2; and the same with a sharper softmax (softmax_gain), motion and
    its dense input standardised by statistics in theta (normalize)."""
    import tdphys
    from tdphys.tasks.reach import Reach, ReachConfig

    sim = tdphys.Simulation(tdphys.load(ROOT / "robots" / "arm.yaml"), batch=2, steps=STEPS)
    task = Reach(
        ReachConfig(
            target=(0.5, 0.5, 0.5), effector_body="forearm", effector_point=(0.5, 0.0, 0.0)
        ),
        sim,
    )
    camera = BlobCamera(sim, sim.robot.body_index("forearm"))
    from tdphys.control import ConvLayer

    ctls = {
        "gru": _controller(sim, task, camera, 2),
        "rnn": _controller(
            sim,
            task,
            camera,
            2,
            cell="rnn",
            grayscale=True,
            activation="elu",
            frames=2,
            frame_step=2,
            conv=(ConvLayer(3, 3, 1, 2, "max"), ConvLayer(2, 2, 1)),
        ),
        "held": _controller(sim, task, camera, 2, action_repeat=2, frames=2, motion=True),
        "spatial": _controller(
            sim,
            task,
            camera,
            2,
            spatial_softmax=True,
            conv=(ConvLayer(3, 3, 2), ConvLayer(2, 2, 1)),
        ),
        "normalized": _controller(
            sim,
            task,
            camera,
            2,
            spatial_softmax=True,
            motion=True,
            softmax_gain=3.0,
            normalize=True,
            conv=(ConvLayer(3, 3, 2), ConvLayer(2, 2, 1)),
        ),
    }
    return sim, task, camera, ctls


@pytest.mark.slow
@pytest.mark.parametrize("cell", ["gru", "rnn", "held", "spatial", "normalized"])
def test_weight_gradients_match_finite_differences(arm, cell):
    """d loss / d theta from the tape equals central differences (f64) through physics, the
    image, both conv layers, average or max pooling, the dense layer, the memory and the
    output, for weights and biases of every layer (rnn: also through the previous step's
    image two steps back, which its two stacked frames read; held: also through the
    commands and memory held over the steps between two evaluations and through the conv
    features of the previous evaluation, which motion subtracts; spatial: through the
    softmax over each channel's pixels and the feature points instead of the last pool;
    normalized: also through the standardisation of the dense layer's input)."""
    sim, task, _, ctls = arm
    ctl = ctls[cell]
    both = ctl.theta0 + np.random.default_rng(0).normal(0.0, 0.3, (2, ctl.n_params))
    g0, g1 = ctl.convs
    picks = {
        0,
        g0.b0,
        g1.w0 + 3,
        g1.b0,
        ctl.dense[0][2] + 7,
        ctl.dense[0][3],
        ctl.mem[0] + 2,
        ctl.mem[1],
        ctl.mem[2] + 1,
        ctl.out_w0 + 1,
        ctl.n_params - 1,
    }
    if ctl.mem[3] is not None:
        picks.add(ctl.mem[3] + 4)
    grad = check_weight_gradient(sim, task, ctl, both, picks)
    assert np.abs(grad[: g0.b0]).max() > 0  # the first conv layer does get a gradient


@pytest.mark.slow
@pytest.mark.parametrize("cell", ["gru", "rnn", "held", "spatial", "normalized"])
def test_grad_decay_also_scales_the_memory_per_step(arm, cell):
    """With grad_decay g, a loss on the final state gives exactly g^T times the exact gradient
    with respect to the initial state: every path from step 0 to step T crosses T steps,
    through the physics, the memory or a held command, and each step back scales by g."""
    sim, task, _, ctls = arm
    ctl = ctls[cell]
    ctl.set(ctl.theta0 + np.random.default_rng(1).normal(0.0, 0.3, (2, ctl.n_params)))
    check_grad_decay(
        sim, lambda decay: ctl.rollout(grad_decay=decay), "init_vel", 0.8, STEPS, others=(ctl,)
    )


ACT = {"tanh": np.tanh, "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0)))}


def _numpy_commands(ctl, images, theta):
    """The commands of world 0 by the module docstring's equations, in numpy, from its
    images (T, H, W, 3): a reference for the kernels' indexing and layout."""
    act, sig = ACT[ctl.spec.activation], lambda z: 1.0 / (1.0 + np.exp(-z))
    N, spec = ctl.N, ctl.spec
    k = spec.action_repeat
    h, commands, seen = np.zeros(N), [], {}
    for t in range(len(images)):
        if t % k:  # held
            commands.append(commands[-1])
            continue
        frames = [
            images[max(t - f * spec.frame_step * k, 0)]  # newest first
            for f in range(spec.frames)
        ]
        x = np.concatenate(
            [im.mean(axis=-1)[None] if spec.grayscale else im.transpose(2, 0, 1) for im in frames]
        )
        for g in ctl.convs:
            w = theta[g.w0 : g.b0].reshape(g.co, g.ci, g.k, g.k)
            c = np.empty((g.co, g.ho, g.wo))
            for yo in range(g.ho):
                for xo in range(g.wo):
                    patch = x[:, yo * g.s : yo * g.s + g.k, xo * g.s : xo * g.s + g.k]
                    c[:, yo, xo] = np.einsum("oikl,ikl->o", w, patch) + theta[g.b0 : g.b0 + g.co]
            if spec.spatial_softmax and g is ctl.convs[-1]:  # feature points
                p = np.exp(c - c.max(axis=(1, 2), keepdims=True))
                p /= p.sum(axis=(1, 2), keepdims=True)
                u, v = np.linspace(-1, 1, g.wo), np.linspace(-1, 1, g.ho)
                x = np.stack(
                    [(p * u[None, None]).sum(axis=(1, 2)), (p * v[None, :, None]).sum(axis=(1, 2))],
                    axis=1,
                )
                break
            a = act(c)[:, : g.hp * g.p, : g.wp * g.p].reshape(g.co, g.hp, g.p, g.wp, g.p)
            x = a.max(axis=(2, 4)) if g.max_pool else a.mean(axis=(2, 4))
        d = seen[t] = x.ravel()
        if spec.motion:
            d = np.concatenate([d, d - seen[max(t - spec.frame_step * k, 0)]])
        if spec.normalize:
            m0, n = ctl.stats0, d.size
            d = (d - theta[m0 : m0 + n]) / theta[m0 + n : m0 + 2 * n]
        for n_in, n_out, w0, b0 in ctl.dense:
            d = act(theta[w0:b0].reshape(n_out, n_in) @ d + theta[b0 : b0 + n_out])
        wx0, bx0, wh0, bh0 = ctl.mem
        gx = theta[wx0:bx0].reshape(-1, d.size) @ d + theta[bx0:wh0]
        gh = theta[wh0 : wh0 + gx.size * N].reshape(-1, N) @ h
        if spec.cell == "gru":
            gh = gh + theta[bh0 : bh0 + 3 * N]
            r, z = sig(gx[:N] + gh[:N]), sig(gx[N : 2 * N] + gh[N : 2 * N])
            h = (1 - z) * np.tanh(gx[2 * N :] + r * gh[2 * N :]) + z * h
        else:
            h = np.tanh(gx + gh)
        M = len(theta) - ctl.out_b0
        y = theta[ctl.out_w0 : ctl.out_b0].reshape(M, N) @ h + theta[ctl.out_b0 :]
        commands.append(spec.output_offset + spec.output_scale * np.tanh(y))
    return np.array(commands)


@pytest.mark.parametrize("cell", ["gru", "rnn", "held", "spatial", "normalized"])
def test_commands_match_a_numpy_reference(arm, cell):
    """The commands of a rollout equal the equations evaluated in numpy on its images, and
    evaluating all steps at once from the stored images gives the same commands (held: the
    network runs at steps 0, 2, 4 and each command lasts two steps)."""
    sim, task, camera, ctls = arm
    ctl = ctls[cell]
    theta = ctl.theta0 + np.random.default_rng(2).normal(0.0, 0.3, (2, ctl.n_params))
    camera.image.fill(-1.0)  # images the camera did not render stay -1
    rollout_loss(sim, task, ctl, theta)
    stepped = sim.control.ctrl.to_numpy().copy()
    expected = _numpy_commands(ctl, camera.image.to_numpy()[:STEPS, 0], theta[0])
    np.testing.assert_allclose(stepped[:, 0], expected, rtol=1e-12, atol=1e-15)
    rendered = camera.image.to_numpy()[:STEPS, :, 0, 0, 0] != -1.0
    if cell == "held":
        assert np.all(stepped[1::2] == stepped[0::2]) and not np.all(stepped[2] == stepped[0])
        assert rendered[0::2].all() and not rendered[1::2].any()
        return
    assert rendered.all()
    ctl.compute(0, STEPS)
    np.testing.assert_allclose(sim.control.ctrl.to_numpy(), stepped, rtol=1e-12, atol=1e-15)


@pytest.mark.slow
def test_normalize_statistics_follow_the_rollouts_and_are_not_trained(arm):
    """normalize: theta holds the mean m and deviation s of every input of the dense layer;
    refreshed(theta, 1) sets them to the last rollout's (over the steps the network ran and
    every world), a rate r moves m and s^2 the share r of the way, and the optimisers see a
    zero gradient for them although the loss depends on them. softmax_gain multiplies the
    last conv layer's initial weights."""
    sim, task, _, ctls = arm
    ctl = ctls["normalized"]
    theta = ctl.theta0 + np.random.default_rng(4).normal(0.0, 0.3, ctl.n_params)
    mask = ctl.statistics_mask()
    m0, n = ctl.stats0, ctl.n_in
    assert mask.sum() == 2 * n and mask[m0 : m0 + 2 * n].all()
    assert np.all(ctl.theta0[m0 : m0 + n] == 0) and np.all(ctl.theta0[m0 + n : m0 + 2 * n] == 1)
    taped_loss(sim, task, ctl, np.stack([theta, theta]))
    assert np.abs(ctl.theta.grad.to_numpy()[0][mask]).max() > 0  # the loss depends on them
    assert np.all(ctl.grad()[mask] == 0)  # but they are not trained
    x = ctl.motion_in.to_numpy().reshape(-1, n)
    new = ctl.refreshed(theta, 1.0)
    np.testing.assert_allclose(new[m0 : m0 + n], x.mean(0), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(new[m0 + n : m0 + 2 * n], x.std(0), rtol=1e-12)
    assert np.all(new[~mask] == theta[~mask])
    half = ctl.refreshed(theta, 0.5)
    np.testing.assert_allclose(half[m0 : m0 + n], 0.5 * (theta[m0 : m0 + n] + x.mean(0)))
    np.testing.assert_allclose(
        half[m0 + n : m0 + 2 * n] ** 2, 0.5 * (theta[m0 + n : m0 + 2 * n] ** 2 + x.var(0))
    )
    spatial, last = ctls["spatial"], ctl.convs[-1]
    np.testing.assert_allclose(
        ctl.theta0[last.w0 : last.b0], 3.0 * spatial.theta0[last.w0 : last.b0], rtol=1e-12
    )


def test_zero_output_starts_from_standstill(arm):
    """zero_output's start (the output layer at zero, every other layer random) commands
    exactly output_offset at every step, whatever the image."""
    sim, task, _, ctls = arm
    ctl = ctls["gru"]
    theta = initial_theta_for(ctl, dataclasses.replace(ctl.spec, zero_output=True))
    assert not np.any(theta[ctl.out_w0 :]) and np.any(theta[: ctl.out_w0])
    rollout_loss(sim, task, ctl, theta)
    assert np.all(sim.control.ctrl.to_numpy() == 0.005)


@pytest.mark.parametrize("cell", ["gru", "held"])
def test_standardized_dense_layer_has_zero_mean_and_unit_deviation(arm, cell):
    """controller.standardize: after one rollout, each unit of the dense layer is rescaled
    so that over the same inputs (the steps the network ran, both worlds) its pre-activation
    has mean 0 and standard deviation 1 (a unit that varies by less than 1e-3 is divided by
    1e-3 only); its direction is kept. zero_output keeps the commands, and so
    the states and images, the same in both rollouts."""
    sim, task, _, ctls = arm
    ctl = ctls[cell]
    theta = initial_theta_for(ctl, dataclasses.replace(ctl.spec, zero_output=True))
    rollout_loss(sim, task, ctl, theta)
    ran = np.arange(0, STEPS, ctl.spec.action_repeat)
    before = ctl.dense_pre[0].to_numpy()[ran].reshape(-1, ctl.dense[0][1])
    assert before.std(axis=0).max() < 0.2  # the stub's images barely move it
    new = ctl.standardized(theta, 0)
    rollout_loss(sim, task, ctl, new)
    after = ctl.dense_pre[0].to_numpy()[ran].reshape(-1, ctl.dense[0][1])
    np.testing.assert_allclose(after.mean(axis=0), 0.0, atol=1e-12)
    dev = np.maximum(before.std(axis=0), 1e-3)
    assert np.sum(dev > 1e-3) >= 3
    np.testing.assert_allclose(after.std(axis=0), before.std(axis=0) / dev, rtol=1e-10)
    np.testing.assert_allclose(after * dev, before - before.mean(0), rtol=1e-9, atol=1e-14)
    n_in, n_out, w0, b0 = ctl.dense[0]
    assert np.array_equal(new[:w0], theta[:w0]) and np.array_equal(
        new[b0 + n_out :], theta[b0 + n_out :]
    )


def test_conv_lr_scale_scales_only_the_conv_layers_steps(arm):
    """conv_lr_scale: the optimiser's coordinates of the conv weights and biases are theta /
    (lr_scale x conv_lr_scale), the others theta / lr_scale, and the gradient follows the
    chain rule, so one optimiser step of the same size in every coordinate moves the conv
    layers conv_lr_scale times as far."""
    from types import SimpleNamespace
    from tdphys.optim.params import ParameterMap as Params

    sim, _, _, ctls = arm
    ctl = ctls["gru"]
    spec = ctl.spec
    try:
        ctl.spec = dataclasses.replace(spec, conv_lr_scale=0.1)
        exp = SimpleNamespace(controller=SimpleNamespace(lr_scale=2.0), trainable=(), design=None)
        params = Params(exp, sim, ctl)
    finally:
        ctl.spec = spec
    n_conv = ctl.convs[-1].b0 + ctl.convs[-1].co
    np.testing.assert_allclose(params.x0[:n_conv], ctl.theta0[:n_conv] / 0.2)
    np.testing.assert_allclose(params.x0[n_conv:], ctl.theta0[n_conv:] / 2.0)
    step = np.full(ctl.n_params, 1e-3)
    moved = params.controller_theta(params.x0 + step) - ctl.theta0
    np.testing.assert_allclose(moved[:n_conv], 2e-4, rtol=1e-9)
    np.testing.assert_allclose(moved[n_conv:], 2e-3, rtol=1e-9)


def _commands(sim, ctl, camera, image=None):
    """Every step's commands from the images of the stored states (or `image`), evaluated
    step by step without stepping the physics."""
    for t in range(STEPS):
        camera.render(t)
    if image is not None:
        camera.image.from_numpy(image)
    for t in range(STEPS):
        ctl.compute(t, t + 1)
    return sim.control.ctrl.to_numpy().copy()


@pytest.mark.parametrize("memory", [3, 0])
def test_memory_carries_an_earlier_image(arm, memory):
    """Brightening the image of step 2 only changes the commands of step 2 and, with a
    memory, of every later step too; without one, of step 2 alone."""
    sim, task, camera, ctls = arm
    ctl = ctls["gru"]
    theta = ctl.theta0 + np.random.default_rng(4).normal(0.0, 0.3, ctl.n_params)
    if memory == 0:  # a memory that forgets: Wh = 0 and z = 0, so h[t+1] = n(image t)
        wx0, bx0, wh0, bh0 = ctl.mem
        N = ctl.N
        theta[wh0 : bh0 + 3 * N] = 0.0
        theta[wx0 + N * ctl.n_feat : wx0 + 2 * N * ctl.n_feat] = 0.0
        theta[bx0 + N : bx0 + 2 * N] = -40.0
    rollout_loss(sim, task, ctl, theta)  # states to look at
    base = _commands(sim, ctl, camera)
    image = camera.image.to_numpy()
    image[2] += 0.2
    moved = np.abs(_commands(sim, ctl, camera, image) - base).max(axis=(1, 2))
    assert moved[2] > 1e-5 and not moved[:2].any()
    if memory:
        assert np.all(moved[3:] > 1e-7), moved
    else:
        assert np.all(moved[3:] < 1e-15), moved


# ------------------------------------------------------------------------ experiment files
VISION = """name: t
robot: {robot}
task: {{type: reach, target: [0.5, 0.5, 0.5], effector: {{body: forearm}}}}
controller:
  type: vision
  camera: side
  conv: [{{channels: 4, kernel: 5, stride: 2, pool: 2}}, {{channels: 8, kernel: 3}}]
  hidden: [16]
  memory: 8
"""

ARM_WITH_CAMERA = (
    "\ncameras:\n  - {name: side, pos: [0, -3, 1], look_at: [0, 0, 1], width: 32, height: 24}\n"
)


def _experiment(tmp_path, text):
    robot = tmp_path / "arm.yaml"
    robot.write_text((ROOT / "robots" / "arm.yaml").read_text() + ARM_WITH_CAMERA)
    p = tmp_path / "exp.yaml"
    p.write_text(VISION.format(robot=robot) + text)
    return p


def test_vision_controller_file_loads(tmp_path):
    from tdphys.optim import load_experiment
    from tdphys.control import ConvLayer

    c = load_experiment(_experiment(tmp_path, "  cell: rnn\n  grayscale: true\n")).controller
    assert c.type == "vision" and c.camera == "side" and c.memory == 8 and c.cell == "rnn"
    assert c.conv == (ConvLayer(4, 5, 2, 2, "avg"), ConvLayer(8, 3, 1, 1, "avg"))
    assert c.grayscale and c.hidden == (16,) and c.frames == 1
    assert load_experiment(_experiment(tmp_path, "  frames: 3\n")).controller.frames == 3
    c = load_experiment(_experiment(tmp_path, "  frames: 2\n  frame_step: 5\n")).controller
    assert (c.frames, c.frame_step, c.action_repeat) == (2, 5, 1)
    c = load_experiment(
        _experiment(tmp_path, "  action_repeat: 3\n  standardize: true\n")
    ).controller
    assert c.action_repeat == 3 and c.standardize is True
    assert not c.spatial_softmax
    c = load_experiment(
        _experiment(tmp_path, "  spatial_softmax: true\n  conv_lr_scale: 0.1\n")
    ).controller
    assert c.spatial_softmax is True and c.conv_lr_scale == 0.1
    assert not c.motion
    assert load_experiment(_experiment(tmp_path, "  motion: true\n")).controller.motion is True
    c = load_experiment(
        _experiment(
            tmp_path,
            "  spatial_softmax: true\n  softmax_gain: 30\n  normalize: true\n  normalize_rate: 0\n",
        )
    ).controller
    assert (c.softmax_gain, c.normalize, c.normalize_rate) == (30.0, True, 0.0)
    c = load_experiment(_experiment(tmp_path, "  normalize: true\n")).controller
    assert (c.softmax_gain, c.normalize, c.normalize_rate) == (1.0, True, 0.1)


@pytest.mark.parametrize(
    "old, new, key, words",
    [
        (
            "channels: 8, kernel: 3",
            "channels: 8, kernel: 0",
            "controller.conv[1].kernel",
            ["whole number from 1"],
        ),
        (
            "channels: 8, kernel: 3",
            "channels: 8, kernal: 3",
            "controller.conv[1].kernal",
            ["unknown key", "did you mean 'kernel'"],
        ),
        (
            "pool: 2}",
            "pool: 2, pool_type: mx}",
            "controller.conv[0].pool_type",
            ["unknown pool type 'mx'", "max"],
        ),
        ("memory: 8", "memory: -1", "controller.memory", ["whole number from 0"]),
        ("memory: 8", "memory: 8\n  cell: lstm", "controller.cell", ["unknown memory cell", "gru"]),
        ("memory: 8", "memory: 8\n  grayscale: 1", "controller.grayscale", ["true or false"]),
        ("memory: 8", "memory: 8\n  frames: 0", "controller.frames", ["whole number from 1"]),
        (
            "memory: 8",
            "memory: 8\n  frame_step: 0",
            "controller.frame_step",
            ["whole number from 1"],
        ),
        (
            "memory: 8",
            "memory: 8\n  action_repeat: 0",
            "controller.action_repeat",
            ["must be a whole number > 0"],
        ),
        ("memory: 8", "memory: 8\n  standardize: 2", "controller.standardize", ["true or false"]),
        (
            "memory: 8",
            "memory: 8\n  inputs: [{clock: {hz: 1}}]",
            "controller.inputs",
            ["not a key of a vision controller"],
        ),
        (
            "type: vision",
            "type: mlp\n  inputs: [{clock: {hz: 1}}]",
            "controller.camera",
            ["type: vision", "this one is mlp"],
        ),
        (
            "  conv: [{channels: 4, kernel: 5, stride: 2, pool: 2}, {channels: 8, kernel: 3}]\n",
            "",
            "controller.conv",
            ["needs the key 'conv'"],
        ),
        (
            "conv: [{channels: 4, kernel",
            "conv: [{kernel",
            "controller.conv[0].channels",
            ["needs the key 'channels'"],
        ),
        (
            "camera: side",
            "camera: sied",
            "controller.camera",
            ["no camera 'sied'", "did you mean 'side'"],
        ),
        (
            "channels: 8, kernel: 3",
            "channels: 8, kernel: 7",
            "controller.conv[1]",
            ["kernel 7", "do not fit", "5 x 7 pixels"],
        ),
        (
            "memory: 8",
            "memory: 8\n  spatial_softmax: yes please",
            "controller.spatial_softmax",
            ["true or false"],
        ),
        ("memory: 8", "memory: 8\n  conv_lr_scale: 0", "controller.conv_lr_scale", ["> 0"]),
        ("memory: 8", "memory: 8\n  motion: 1", "controller.motion", ["true or false"]),
        (
            "memory: 8",
            "memory: 8\n  softmax_gain: 30",
            "controller.softmax_gain",
            ["spatial_softmax", "which is off", "spatial_softmax: true"],
        ),
        (
            "memory: 8",
            "memory: 8\n  spatial_softmax: true\n  softmax_gain: -1",
            "controller.softmax_gain",
            ["must be positive"],
        ),
        (
            "memory: 8",
            "memory: 8\n  normalize: yes please",
            "controller.normalize",
            ["true or false"],
        ),
        (
            "memory: 8",
            "memory: 8\n  normalize_rate: 1.5",
            "controller.normalize_rate",
            ["between 0 and 1", "0.1"],
        ),
        (
            "channels: 8, kernel: 3",
            "channels: 8, kernel: 3, pool: 2}]\n  spatial_softmax: true\n#",
            "controller.conv[1]",
            ["spatial_softmax", "before any pooling", "set this layer's `pool` to 1"],
        ),
    ],
)
def test_bad_vision_controller_names_the_key(tmp_path, old, new, key, words):
    """Mistakes in a vision controller block, or a camera or image size that its robot does
    not have, are reported with the file and the key before any simulation runs."""
    from tdphys.optim import load_experiment
    from tdphys.optim.experiment import check_against_robot
    import tdphys

    p = _experiment(tmp_path, "")
    text = p.read_text()
    assert old in text
    p.write_text(text.replace(old, new))
    with pytest.raises(ModelError) as info:
        exp = load_experiment(p)
        check_against_robot(exp, tdphys.load(exp.robot))
    msg = str(info.value)
    assert str(p) in msg and f"{key}:" in msg, msg
    for w in words:
        assert w in msg, msg
