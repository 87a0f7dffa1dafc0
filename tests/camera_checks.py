"""Helper shared by the camera tests: Simulation parameter gradients against central
differences."""
import numpy as np


def check_param_gradients(sim, loss, names, every=1, h=1e-6, rel=1e-4) -> int:
    """For each parameter in `names` (after a taped `loss`), compare sim.param_grad with
    central differences of loss() (no tape) at every `every`-th entry, to a relative `rel` of
    max(|fd|, 1e-2 of the parameter's largest gradient). Returns how many entries it checked."""
    checked = 0
    for name in names:
        grad, base = sim.param_grad(name), sim.get_param(name)
        scale = np.abs(grad).max()
        for k, idx in enumerate(np.ndindex(*base.shape)):
            if (grad[idx] == 0.0 and scale == 0.0) or k % every:
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
            assert abs(grad[idx] - fd) <= rel * max(abs(fd), 1e-2 * scale), \
                (name, idx, grad[idx], fd)
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

    k_loss.weights = weights   # keep the field alive with the kernel
    return k_loss
