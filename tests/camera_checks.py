"""Helpers shared by the camera tests (and tests/_backend_worker.py): a scene whose edges cross
pixels, Simulation parameter gradients against central differences, an image loss."""

import numpy as np

# A red sphere in front of a green box and a blue capsule; no gravity, everything drifting and
# spinning so that edges cross pixels during the rollout.
SCENE = """
bodies:
  - {name: ball, pos: [0.1, 0, 1], vel: [0.3, 0, 0.5], mass: 1,
     shapes: [{type: sphere, radius: 0.3, color: [1, 0, 0]}]}
  - {name: crate, pos: [0.5, 0.7, 0.9], euler: [10, 20, 30], omega: [30, 40, 10], mass: 1,
     shapes: [{type: box, size: [0.3, 0.25, 0.4], color: [0, 1, 0]}]}
  - {name: rod, pos: [-0.5, 0.2, 1], euler: [40, 30, 0], mass: 1,
     shapes: [{type: capsule, radius: 0.1, half_length: 0.4, color: [0, 0, 1]}]}
solver: {gravity: [0, 0, 0]}
cameras:
  - {name: front, pos: [0, -4, 1.2], look_at: [0, 0, 0.9], fov: 45, width: 24, height: 16,
     softness: 1.0}
"""


def check_param_gradients(sim, loss, names, every=1, h=1e-6, rel=1e-4, skip=()) -> int:
    """For each parameter in `names` (after a taped `loss`), compare sim.param_grad with
    central differences of loss() (no tape) at every `every`-th entry, to a relative `rel` of
    max(|fd|, 1e-2 of the parameter's largest gradient), leaving out the (name, index) pairs
    in `skip` (entries where a step of h changes what the parameter means, e.g. an unbounded
    plane's drawn size 0). Returns how many entries it checked."""
    checked = 0
    for name in names:
        grad, base = sim.param_grad(name), sim.get_param(name)
        scale = np.abs(grad).max()
        for k, idx in enumerate(np.ndindex(*base.shape)):
            if (grad[idx] == 0.0 and scale == 0.0) or k % every or (name, idx) in skip:
                continue
            p = base.copy()
            p[idx] += h
            sim.set_param(name, p)
            up = loss()
            p[idx] -= 2 * h
            sim.set_param(name, p)
            down = loss()
            sim.set_param(name, base)
            fd = (up - down) / (2 * h)
            assert abs(grad[idx] - fd) <= rel * max(abs(fd), 1e-2 * scale), (
                name,
                idx,
                grad[idx],
                fd,
            )
            checked += 1
    return checked


def image_loss_kernel(sim, cam, t, seed=0):
    """A Taichi kernel adding sum_{y, x, c} w[y, x, c] image[t, 0, y, x, c]^2 into sim.loss,
    with fixed random weights w: every pixel and channel of world 0's frame t counts."""
    import taichi as ti

    weights = ti.field(ti.f64, (cam.height, cam.width, 3))
    weights.from_numpy(np.random.default_rng(seed).normal(size=(cam.height, cam.width, 3)))

    @ti.kernel
    def k_loss():
        for y, x, c in weights:
            sim.loss[None] += weights[y, x, c] * cam.image[t, 0, y, x, c] ** 2

    k_loss.weights = weights  # keep the field alive with the kernel
    return k_loss
