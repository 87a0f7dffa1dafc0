"""The trainable weights the mlp and vision controllers share: the vector `theta`
(P, n_params) (P = 1, or one parameter set per world or block of worlds: CMA-ES), the hidden
activation and the affine layer op with its hand-written backward.

On CPU every sum has a fixed order (backend.ordered_sums, docs/determinism.md): one thread
owns each sum of an affine layer, in index order, so a run repeats bit for bit whatever the
thread count.
"""
# (no `from __future__ import annotations`: Taichi reads kernel annotations as objects)

import numpy as np
import taichi as ti


class Weights:
    """What the MLP and vision controllers share: the trainable vector `theta` (P, n_params)
    (P = 1, or one parameter set per world), its activation (`act_code`, an index of
    control/base.py ACTIVATIONS), the affine layer op (`linear`) and the optimiser's view of
    it."""

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
    def k_linear(
        self,
        t0: ti.i32,
        t1: ti.i32,
        dst: ti.template(),
        src: ti.template(),
        shift: ti.template(),
        w0: ti.template(),
        b0: ti.template(),
        n_out: ti.template(),
        n_in: ti.template(),
    ):
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
    def k_linear_input_adjoint(
        self,
        t0: ti.i32,
        t1: ti.i32,
        dst: ti.template(),
        src: ti.template(),
        shift: ti.template(),
        w0: ti.template(),
        n_out: ti.template(),
        n_in: ti.template(),
    ):
        """src.grad[t + shift, b, i] += sum_j W[j, i] dst.grad[t, b, j]: a thread per input."""
        for t, b, i in ti.ndrange((t0, t1), self.sim.batch, n_in):
            p = self._set_of(b)
            acc = ti.cast(0.0, self.sim.real)
            for j in range(n_out):
                acc += self.theta[p, w0 + j * n_in + i] * dst.grad[t, b, j]
            src.grad[t + shift, b, i] += acc

    @ti.kernel
    def k_linear_weight_adjoint(
        self,
        t0: ti.i32,
        t1: ti.i32,
        dst: ti.template(),
        src: ti.template(),
        shift: ti.template(),
        w0: ti.template(),
        b0: ti.template(),
        n_out: ti.template(),
        n_in: ti.template(),
    ):
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
        self.theta.from_numpy(
            np.ascontiguousarray(X).astype(np.float64 if self.sim.real == ti.f64 else np.float32)
        )

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
