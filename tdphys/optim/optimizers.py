"""Optimisers working on a flat parameter vector x (optimiser units, see Trainable.scale)."""
from __future__ import annotations

import math

import numpy as np


class Adam:
    """Adam (Kingma & Ba) with optional gradient norm clipping.

    lr: step size [optimiser units]; beta1, beta2: moment decays; clip: the gradient is scaled
    down to this Euclidean norm when longer (0: no clipping); clip_relative: k > 0 also scales
    it down to k times the median norm of the last RELATIVE_WINDOW gradients (from the
    RELATIVE_WARMUP-th step on; 0: off), so that one rare, huge gradient moves the weights
    about as far as a typical one (AutoClip, Seetharaman et al. 2020, clips to a percentile of
    the history in the same way); decay: the step size is lr * decay^k at step k (1:
    constant), so the iterates settle instead of circling the optimum at a distance of about
    lr."""

    RELATIVE_WINDOW = 50
    RELATIVE_WARMUP = 10

    def __init__(self, lr: float = 1.0, beta1: float = 0.9, beta2: float = 0.999,
                 clip: float = 0.0, decay: float = 1.0, eps: float = 1e-8,
                 clip_relative: float = 0.0):
        self.lr, self.beta1, self.beta2, self.clip, self.eps = lr, beta1, beta2, clip, eps
        self.decay, self.clip_relative = decay, clip_relative
        self.m = self.v = None
        self.t = 0
        self.norms: list[float] = []     # the last RELATIVE_WINDOW gradient norms, unclipped
        self.clipped_to = None           # the norm the last step's gradient was scaled to

    def limit(self) -> float:
        """The norm the next gradient is clipped to (inf: none)."""
        limit = self.clip if self.clip else math.inf
        if self.clip_relative and len(self.norms) >= self.RELATIVE_WARMUP:
            limit = min(limit, self.clip_relative * float(np.median(self.norms)))
        return limit

    def step(self, x: np.ndarray, grad: np.ndarray) -> np.ndarray:
        """The next x after gradient `grad` (d loss / d x) at x. grad must be finite."""
        g = np.asarray(grad, float)
        norm = float(np.linalg.norm(g))
        limit = self.limit()
        self.clipped_to = limit if norm > limit else None
        if norm > limit:
            g = g * (limit / norm)
        if self.clip_relative:
            self.norms = (self.norms + [norm])[-self.RELATIVE_WINDOW:]
        if self.m is None:
            self.m, self.v = np.zeros_like(g), np.zeros_like(g)
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * g
        self.v = self.beta2 * self.v + (1 - self.beta2) * g * g
        m_hat = self.m / (1 - self.beta1 ** self.t)
        v_hat = self.v / (1 - self.beta2 ** self.t)
        lr = self.lr * self.decay ** (self.t - 1)
        return x - lr * m_hat / (np.sqrt(v_hat) + self.eps)

    def state(self) -> tuple:
        """What a resumed run needs: (m, v, t, norms)."""
        return self.m, self.v, self.t, list(self.norms)

    def restore(self, state: tuple) -> None:
        """Back to a state() (or the (m, v, t) of runs saved before clip_relative existed)."""
        self.m, self.v, self.t = state[:3]
        self.norms = list(state[3]) if len(state) > 3 else []


# Above this many numbers a full covariance matrix (n^2 entries, an n^3 eigendecomposition)
# costs more than the simulations; CMA-ES then adapts a diagonal one (sep-CMA-ES).
FULL_COVARIANCE_MAX = 1000


def cmaes(x0: np.ndarray, sigma: float, popsize: int = 0, seed: int = 1, fixed=None):
    """A `cma.CMAEvolutionStrategy` (ask/tell) started at x0 with step sigma; diagonal
    covariance (sep-CMA-ES) above FULL_COVARIANCE_MAX numbers. `fixed`: an optional (n,)
    boolean mask of coordinates held at x0's values (every candidate has them)."""
    import cma
    opts = {"seed": seed, "verbose": -9, "tolfun": 0, "tolx": 0, "tolfunhist": 0,
            "tolstagnation": 10**9}
    if fixed is not None and np.any(fixed):
        opts["fixed_variables"] = {int(i): float(x0[i]) for i in np.flatnonzero(fixed)}
    if np.size(x0) - (0 if fixed is None else int(np.sum(fixed))) > FULL_COVARIANCE_MAX:
        opts["CMA_diagonal"] = True
    if popsize:
        opts["popsize"] = popsize
    return cma.CMAEvolutionStrategy(np.asarray(x0, float), sigma, opts)
