"""The one place that talks to Taichi's runtime: init, arch, precision, capabilities.

Everything else in tdphys asks this module for the float type and for permission to take
gradients, so moving to another Taichi (or a fork) touches this file only.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import taichi as ti

from .errors import BackendError

ARCHS = ("cpu", "cuda", "vulkan", "auto")
PRECISIONS = ("f32", "f64")

# What each backend may differentiate. Vulkan autodiff is silently wrong for some kernel shapes
# in taichi 1.7.4 (taichi #8524); our parity test (tests/test_backends.py) found the rollout
# gradient wrong there too, so it is refused rather than returned.
GRADIENTS_ALLOWED = {"cpu": True, "cuda": True, "vulkan": False}


@dataclass(frozen=True)
class Backend:
    """The live Taichi configuration. arch: "cpu" | "cuda" | "vulkan"; precision: "f32" | "f64"."""

    arch: str
    precision: str
    debug: bool

    @property
    def real(self):
        """Taichi float type of every physical quantity."""
        return ti.f64 if self.precision == "f64" else ti.f32

    @property
    def can_differentiate(self) -> bool:
        return GRADIENTS_ALLOWED.get(self.arch, False)

    def require_gradients(self, what: str = "gradients") -> None:
        """Raise a clear error where this backend cannot differentiate correctly."""
        if not self.can_differentiate:
            raise BackendError(
                f"{what} are not available on arch={self.arch}: Taichi 1.7.4's reverse mode gives "
                "wrong numbers on this backend for our kernels (see docs/backends.md).\n"
                "  fix: run the optimisation with --arch cpu or --arch cuda; forward simulation "
                f"works on {self.arch}")


_current: Backend | None = None


def _arch_object(name: str):
    return {"cpu": ti.cpu, "cuda": ti.cuda, "vulkan": ti.vulkan}[name]


def _resolve_auto() -> str:
    """cuda if a CUDA device works, else cpu (Vulkan is only used when asked for)."""
    try:
        from taichi._lib import core as _ti_core
        if _ti_core.with_cuda():
            return "cuda"
    except Exception:  # pragma: no cover - depends on the machine
        pass
    return "cpu"


def init(arch: str = "cpu", precision: str = "f32", debug: bool = False,
         cpu_threads: int | None = None) -> Backend:
    """Initialise Taichi once per process (again only if the settings change).

    arch: "cpu" | "cuda" | "vulkan" | "auto"; precision: "f32" | "f64"; debug turns on Taichi's
    bounds checks and the global-data-access validation used by the gradient tests.
    """
    global _current
    if arch not in ARCHS:
        raise BackendError(f"unknown arch '{arch}'\n  fix: use one of {', '.join(ARCHS)}")
    if precision not in PRECISIONS:
        raise BackendError(f"unknown precision '{precision}'\n  fix: use f32 or f64")
    name = _resolve_auto() if arch == "auto" else arch
    if name == "vulkan" and precision == "f64":
        raise BackendError("f64 is not supported on vulkan\n  fix: use --precision f32 or "
                           "--arch cpu")
    wanted = Backend(name, precision, debug)
    if _current == wanted:
        return _current
    kwargs = dict(arch=_arch_object(name), default_fp=wanted.real, debug=debug,
                  random_seed=0, log_level=ti.WARN, offline_cache=True,
                  # Taichi's IR optimiser makes reverse-mode compiles 3-5x slower for our
                  # kernels while LLVM still optimises the machine code.
                  advanced_optimization=False)
    if name == "cpu" and cpu_threads:
        kwargs["cpu_max_num_threads"] = cpu_threads
    if debug:
        # Bounds checks make kernels larger; the adstack is unused by our kernels but keep it
        # explicit so a future loop-carried local cannot overflow silently.
        kwargs["ad_stack_size"] = 256
    try:
        ti.init(**kwargs)
    except Exception as exc:  # pragma: no cover - depends on the machine
        raise BackendError(f"could not start Taichi on arch={name}: {exc}\n  fix: try --arch cpu")
    actual = ti.lang.impl.current_cfg().arch
    if actual != _arch_object(name):
        ti.reset()
        raise BackendError(f"arch={name} is not available on this machine (Taichi fell back to "
                           f"{actual})\n  fix: use --arch cpu, or install the {name} driver")
    _current = wanted
    return wanted


def current() -> Backend:
    """The active backend, initialising the default (cpu, f32) if none was chosen."""
    return _current if _current is not None else init()


def field(dtype, shape, grad: bool = True):
    """A scalar field of `dtype` (None = the backend's float) with an optional gradient."""
    dtype = current().real if dtype is None else dtype
    return ti.field(dtype, shape=shape, needs_grad=grad and _is_real(dtype))


def vector(n: int, shape, grad: bool = True, dtype=None):
    """An n-vector field of the backend's float type (or `dtype`) with an optional gradient."""
    dtype = current().real if dtype is None else dtype
    return ti.Vector.field(n, dtype, shape=shape, needs_grad=grad and _is_real(dtype))


def int_field(shape):
    return ti.field(ti.i32, shape=shape)


def _is_real(dtype) -> bool:
    return dtype in (ti.f32, ti.f64)


def env_arch(default: str = "cpu") -> str:
    """Arch from $TDPHYS_ARCH (used by tests and CI to run the suite on another backend)."""
    return os.environ.get("TDPHYS_ARCH", default)
