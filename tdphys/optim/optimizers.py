"""Optimisers working on a flat parameter vector x (optimiser units, see Trainable.scale):
the `optimizer:` section of an experiment file, Adam's update and the CMA-ES wrapper with its
state as data (for resumed runs)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..model.yamlread import At, Map, boolean, choice, integer, non_negative, number, positive
from ..model.yamlread import seed as read_seed
from ..tasks.sampling import MAX_WORLDS

OPTIMIZERS = ("adam", "cmaes")
MAX_BUDGET = 10**9  # simulations of one run
_KEYS = {
    "type",
    "budget",
    "lr",
    "lr_decay",
    "beta1",
    "beta2",
    "clip",
    "clip_relative",
    "sigma",
    "popsize",
    "seed",
    "stop_at_success",
    "grad_decay",
}


@dataclass(frozen=True)
class OptimizerConfig:
    """The `optimizer:` section. type: adam | cmaes; budget: simulations at most; lr: Adam
    step [optimiser units]; lr_decay: factor on lr per iteration; beta1, beta2: Adam moment
    decays; clip: gradient norm clip (0: none); clip_relative: clip also to this many times
    the median of recent gradient norms (0: off); sigma: CMA-ES initial step [optimiser
    units]; popsize: CMA-ES population (0: cma's default); seed: CMA-ES seed;
    stop_at_success: stop as soon as the task's success criterion holds; grad_decay: factor
    on the state adjoint per step backwards in time (1: the exact gradient; < 1 truncates the
    horizon, a biased gradient, as in Degrave et al.)."""

    type: str = "adam"
    budget: int = 300
    lr: float = 1.0
    lr_decay: float = 1.0
    beta1: float = 0.9
    beta2: float = 0.999
    clip: float = 0.0
    clip_relative: float = 0.0
    sigma: float = 5.0
    popsize: int = 0
    seed: int = 1
    stop_at_success: bool = True
    grad_decay: float = 1.0


def parse_optimizer(at: At | None) -> OptimizerConfig:
    """The `optimizer:` section (None: every default); ModelError naming the key."""
    if at is None:
        return OptimizerConfig()
    m = Map(at, "optimizer").only(_KEYS)
    values = {}
    if "type" in m:
        values["type"] = choice(m.get("type"), OPTIMIZERS, "optimizer")
    for key in ("budget", "popsize"):
        if key in m:
            v = integer(m.get(key))
            low, high = (1, MAX_BUDGET) if key == "budget" else (0, MAX_WORLDS)
            if not low <= v <= high:
                raise m.get(key).error(
                    f"must be from {low} to {high:,}, got {v:,}",
                    f"give a whole number from {low} to {high:,}",
                )
            values[key] = v
    if "seed" in m:
        v = read_seed(m.get("seed"))
        if v < 1:  # cma.CMAOptions: seed 0 (or None) means a seed from the clock
            raise m.get("seed").error(
                f"must be >= 1, got {v}: the cma package reads 0 as "
                "'seed from the clock', so the run would not repeat",
                "e.g. 1",
            )
        values["seed"] = v
    for key in ("lr", "sigma"):
        if key in m:
            values[key] = positive(m.get(key), "")
    for key in ("beta1", "beta2"):
        if key in m:
            v = number(m.get(key))
            if not 0 <= v < 1:
                raise m.get(key).error(f"must be in [0, 1), got {v}", "e.g. 0.9 or 0.999")
            values[key] = v
    if "lr_decay" in m:
        v = number(m.get("lr_decay"))
        if not 0 < v <= 1:
            raise m.get("lr_decay").error(f"must be in (0, 1], got {v}", "e.g. 0.97, or 1 for none")
        values["lr_decay"] = v
    if "clip" in m:
        values["clip"] = non_negative(m.get("clip"))
    if "clip_relative" in m:
        v = number(m.get("clip_relative"))
        if v != 0 and v < 1:
            raise m.get("clip_relative").error(
                f"must be 0 (off) or at least 1, got {v}: it clips to that many times the "
                "median recent gradient norm, so below 1 it would shrink typical gradients too",
                "e.g. 3",
            )
        values["clip_relative"] = v
    if "grad_decay" in m:
        v = number(m.get("grad_decay"))
        if not 0 < v <= 1:
            raise m.get("grad_decay").error(
                f"must be in (0, 1], got {v}", "e.g. 0.95, or 1 for the exact gradient"
            )
        values["grad_decay"] = v
    if "stop_at_success" in m:
        values["stop_at_success"] = boolean(m.get("stop_at_success"))
    return OptimizerConfig(**values)


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

    def __init__(
        self,
        lr: float = 1.0,
        beta1: float = 0.9,
        beta2: float = 0.999,
        clip: float = 0.0,
        decay: float = 1.0,
        eps: float = 1e-8,
        clip_relative: float = 0.0,
    ):
        self.lr, self.beta1, self.beta2, self.clip, self.eps = lr, beta1, beta2, clip, eps
        self.decay, self.clip_relative = decay, clip_relative
        self.m = self.v = None
        self.t = 0
        self.norms: list[float] = []  # the last RELATIVE_WINDOW gradient norms, unclipped
        self.clipped_to = None  # the norm the last step's gradient was scaled to

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
            self.norms = (self.norms + [norm])[-self.RELATIVE_WINDOW :]
        if self.m is None:
            self.m, self.v = np.zeros_like(g), np.zeros_like(g)
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * g
        self.v = self.beta2 * self.v + (1 - self.beta2) * g * g
        m_hat = self.m / (1 - self.beta1**self.t)
        v_hat = self.v / (1 - self.beta2**self.t)
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

    opts = {
        "seed": seed,
        "verbose": -9,
        "tolfun": 0,
        "tolx": 0,
        "tolfunhist": 0,
        "tolstagnation": 10**9,
    }
    if fixed is not None and np.any(fixed):
        opts["fixed_variables"] = {int(i): float(x0[i]) for i in np.flatnonzero(fixed)}
    if np.size(x0) - (0 if fixed is None else int(np.sum(fixed))) > FULL_COVARIANCE_MAX:
        opts["CMA_diagonal"] = True
    if popsize:
        opts["popsize"] = popsize
    return cma.CMAEvolutionStrategy(np.asarray(x0, float), sigma, opts)


# What of a cma.CMAEvolutionStrategy is not its state: options, caches of solutions, the
# logger, timers and the functions it calls. The options come from the experiment file and
# some are text that cma evaluates, so they are never read back from a run folder.
_CMA_NOT_STATE = frozenset(
    {
        "opts",
        "inopts",
        "inputargs",
        "logger",
        "timer",
        "sent_solutions",
        "archive",
        "_injected_solutions_archive",
        "boundary_handler",
        "_stopdict",
        "callbackstop",
        "integer_centering",
        "_round_integer_variables",
        "sp",
        "sp0",
        "more_to_write",
        "gp",
        "adapt_sigma._es_opts",
        "sm.randn",
        "sm.eigenmethod",
        "_tell2_args",
        "pop",
        "pop_sorted",
        "ary",
    }
)
_CMA_DEPTH = 3  # objects inside objects walked for numbers


def cma_state(es) -> dict:
    """Where a CMA-ES stands, as data: {dotted attribute path: number, None, list of numbers
    or numeric array} of `es` and the cma objects inside it (mean, step size, covariance and
    its eigendecomposition, evolution paths, counters, fitness history), plus numpy's global
    random state (cma draws its samples from it) under `numpy_random`. cma_resume() continues
    from it exactly as `es` would."""
    out: dict = {}

    def walk(obj, prefix: str, depth: int) -> None:
        for name, value in vars(obj).items():
            path = prefix + name
            if path in _CMA_NOT_STATE:
                continue
            if isinstance(value, np.ndarray):
                if value.dtype.kind in "fiub":
                    out[path] = value.copy()
            elif value is None or isinstance(value, (bool, int, float, np.bool_, np.number)):
                out[path] = value.item() if isinstance(value, np.generic) else value
            elif _numbers_list(value):
                out[path] = [float(v) for v in value]
            elif _is_cma_object(value) and depth < _CMA_DEPTH:
                walk(value, path + ".", depth + 1)

    walk(es, "", 0)
    _, keys, pos, has_gauss, cached = np.random.get_state()
    out["numpy_random"] = {
        "keys": np.asarray(keys),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached": float(cached),
    }
    return out


def cma_resume(state: dict, sigma: float, popsize: int, seed: int, fixed=None):
    """A CMA-ES at the point cma_state() saved: built from the experiment's options (as
    cmaes(), started at the saved x0, so the same coordinates stay fixed), then every saved
    number put back. ValueError when `state` does not fit (another experiment's, damaged)."""
    state = dict(state)
    rng = state.pop("numpy_random", None)
    if not isinstance(state.get("x0"), np.ndarray):
        raise ValueError("it has no starting point x0")  # noqa: TRY004 - damaged data
    es = cmaes(state["x0"], sigma, popsize, seed, fixed=fixed)
    X = es.ask()  # creates what cma makes on the first generation
    es.tell(X, [0.0] * len(X))
    for path, value in state.items():
        _put(es, path, value)
    if not (
        isinstance(rng, dict)
        and isinstance(rng.get("keys"), np.ndarray)
        and rng["keys"].shape == (624,)
    ):
        raise ValueError("it has no random state")
    np.random.set_state(
        (
            "MT19937",
            rng["keys"].astype(np.uint32),
            int(rng["pos"]),
            int(rng["has_gauss"]),
            float(rng["cached"]),
        )
    )
    return es


def _numbers_list(value) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_))
        for v in value
    )


def _is_cma_object(value) -> bool:
    return hasattr(value, "__dict__") and type(value).__module__.startswith("cma")


def _put(es, path: str, value) -> None:
    """Set attribute `path` (a.b.c) of `es` to the data `value`, after checking that the
    path leads through cma's own objects and that the value is data of the kind there."""
    *parents, name = path.split(".")
    parts = path.split(".")
    if any(".".join(parts[:k]) in _CMA_NOT_STATE for k in range(1, len(parts) + 1)):
        raise ValueError(f"'{path}' is not part of a CMA-ES's state")
    obj = es
    for part in parents:
        obj = getattr(obj, part, None) if part.isidentifier() else None
        if not _is_cma_object(obj):
            raise ValueError(f"'{path}' is not part of a CMA-ES")
    if not name.isidentifier() or name.startswith("__"):
        raise ValueError(f"'{path}' is not part of a CMA-ES")
    current = getattr(obj, name, None)
    if isinstance(value, np.ndarray):
        ok = value.dtype.kind in "fiub" and (
            not isinstance(current, np.ndarray) or current.shape == value.shape
        )
    elif isinstance(value, list):
        ok = _numbers_list(value)
    else:
        ok = value is None or isinstance(value, (bool, int, float))
    if not ok or (
        value is not None
        and current is not None
        and isinstance(current, np.ndarray) != isinstance(value, np.ndarray)
    ):
        raise ValueError(f"'{path}' does not fit this experiment's CMA-ES")
    setattr(obj, name, value)
