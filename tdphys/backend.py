"""The one place that talks to Taichi's runtime: init, arch, precision, capabilities.

Everything else in tdphys asks this module for the float type and for permission to take
gradients, so moving to another Taichi (or a fork) touches this file only.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass

import numpy as np
import taichi as ti

from .errors import BackendError

ARCHS = ("cpu", "cuda", "vulkan", "auto")
PRECISIONS = ("f32", "f64")

# What each backend may differentiate. Vulkan (f32 only) is allowed because
# tests/test_backends.py measures it: taped gradients wrt controls, initial state and every
# parameter of robots/ball, pendulum, arm and quadruped.yaml on Vulkan agree with CPU f64 to
# 5e-5 of each quantity's scale (tolerance 1e-3; docs/backends.md). That test fails when an
# entry here disagrees with what it measures; an arch set to False makes require_gradients()
# refuse it with a clear error instead of returning wrong numbers.
GRADIENTS_ALLOWED = {"cpu": True, "cuda": True, "vulkan": True}
# Gradients through the camera (tdphys/vision): checked against finite differences on CPU
# (tests/test_camera.py); CUDA compiles the same kernels through the same LLVM reverse mode.
# tests/test_backends.py::test_camera_gradient_parity_decides_policy compares Vulkan f32's
# image-loss gradients with CPU f64's: worst 7.4e-4 of each quantity's scale (CPU f32: 6.4e-4;
# tolerance 3e-3), so Vulkan allows them; that test fails if an entry here disagrees with it.
CAMERA_GRADIENTS_ALLOWED = {"cpu": True, "cuda": True, "vulkan": True}
# Bodies plus rows, over all worlds, up to which a CPU loop over the worlds runs serially
# (Backend.serial_worlds), chosen from taped rollouts of the ball and the 17-body quadruped
# at several batch sizes (docs/studies/engine-speed.md)
SERIAL_WORK = 1024


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

    @property
    def max_loop_iterations(self) -> int | None:
        """Most loop iterations one kernel thread may run in one launch, None if unbounded.

        Mesa's software Vulkan (lavapipe, llvmpipe) leaves every loop of a shader invocation,
        silently, once that invocation has run 65535 loop iterations in all loops together
        (LP_MAX_TGSI_LOOP_ITERATIONS): the rest of the kernel then runs without them and
        fields keep their old values. Hardware drivers are not known to do this, but Taichi
        cannot tell us which driver runs, so every Vulkan launch is held to it. A kernel whose
        thread loops over many steps must split its launches below this (docs/backends.md)."""
        return 65535 if self.arch == "vulkan" else None

    @property
    def world_stride(self) -> int:
        """Index stride of a parallel loop whose every iteration is a whole world.

        Taichi 1.7.4's CPU code generator gives each task of a parallel range-for at least
        512 iterations (its adaptive block size; neither ti.loop_config(block_dim=...,
        block_dim_adaptive=False) nor ti.init(cpu_block_dim_adaptive=False) reaches it),
        so a loop over fewer than 1024 worlds ran on one core however many there are. Kernels
        with a thread per world (the forward steps, the recompute, the solver adjoint) loop i
        over range(batch * world_stride) and work only where i % world_stride == 0, on world
        i // world_stride: on CPU each world is then a task of its own. Elsewhere 1 (a GPU
        thread per world, as written)."""
        return 512 if self.arch == "cpu" else 1

    def serial_worlds(self, batch: int, items_per_world: int) -> bool:
        """Whether a kernel's loop over `batch` worlds of `items_per_world` bodies and rows
        each runs on the calling thread. On CPU each parallel loop of a launch is a hand-off
        to Taichi's thread pool costing about 0.1 ms, more than a small batch's work in it (a
        single ball's substep adjoint takes microseconds); a serial loop also spares its
        adjoint Taichi's atomic adds. Serial up to SERIAL_WORK items in all, and for a single
        world always (its loop has one iteration). GPUs: never."""
        return self.arch == "cpu" and (batch == 1 or batch * items_per_world <= SERIAL_WORK)

    @property
    def ordered_sums(self) -> bool:
        """Whether kernels give every sum a fixed order, so that a run repeats bit for bit
        whatever the thread count (docs/determinism.md): on CPU, a loop whose iterations add
        into shared entries (or whose adjoint does) runs a thread per world (world_stride)
        with the rest serial, or is serial outright. GPUs keep a thread per item: a thread
        per world would idle most of the device (the renderer alone ran 8 threads for
        pixels training), and their float atomics (Taichi's adjoints) add in varying order
        anyway."""
        return self.arch == "cpu"

    @property
    def serial_stage_batch(self) -> int:
        """Largest batch whose k_finish stage loops (an adjoint run every backward step) are
        serial loops on the launching thread rather than parallel loops.

        On CPU every parallel loop of a launch is handed to Taichi's thread pool and waited
        for (a condition-variable round trip); with few worlds that hand-off costs more than
        the loop's arithmetic. k_prepare's loops stay parallel: as one serial task LLVM
        compiles them much more slowly. GPUs: 0 (always parallel)."""
        return 8 if self.arch == "cpu" else 0

    def require_gradients(self, what: str = "gradients") -> None:
        """Raise a clear error where this backend cannot differentiate correctly."""
        if not self.can_differentiate:
            raise BackendError(
                f"{what} are not available on arch={self.arch}: Taichi 1.7.4's reverse mode gives "
                "wrong numbers on this backend for our kernels (see docs/backends.md).\n"
                "  fix: run the optimisation with --arch cpu or --arch cuda; forward simulation "
                f"works on {self.arch}"
            )

    def require_camera_gradients(self) -> None:
        """Raise a clear error where gradients through a camera are not verified."""
        self.require_gradients("gradients through a camera")
        if not CAMERA_GRADIENTS_ALLOWED.get(self.arch, False):
            raise BackendError(
                f"gradients through a camera are not available on arch={self.arch}: no test "
                "checks the renderer's adjoints on this backend yet (docs/camera.md).\n"
                "  fix: train vision controllers with --arch cpu or --arch cuda; rendering "
                f"images (forward) works on {self.arch}"
            )


_current: Backend | None = None


def _arch_object(name: str):
    return {"cpu": ti.cpu, "cuda": ti.cuda, "vulkan": ti.vulkan}[name]


OFFLINE_CACHE_BYTES = 1 << 30  # Taichi's compiled-kernel cache on disk, at most (int32)


def _ad_stack_size(arch: str, debug: bool) -> int:
    """Capacity of the stacks Taichi's reverse mode keeps for local variables that are
    assigned more than once (Taichi's own `v.sum()`, `a.dot(b)`, ... do that); 0 lets Taichi
    size them from the code.

    That sizing fails in taichi 1.7.4 with advanced_optimization=False on the LLVM backends in
    f32: the stacks get no room and the adjoints of whole-vector expressions on field entries
    (`b[i].dot(v[i])`, `v[i].sum()`) come out zero or NaN; every tdphys gradient was NaN on
    cpu f32. An explicit size fixes it (tests/test_backends.py::test_cpu_f32_vector_adjoints).
    32 is Taichi's own fallback size; our kernels keep no stack across run-time loops, and a
    stack that overflows crashes the launch rather than returning numbers (debug mode checks
    it, with room to spare). In f64 the sizing fails too, on the renderer's layer adjoint
    with the ground in view (robots/cart_pendulum.yaml): a segmentation fault in
    k_layers.grad (tests/test_pixels.py's end-to-end gradient check); so every LLVM backend
    gets 32. Vulkan sizes correctly and keeps Taichi's sizing.
    """
    if debug:
        return 256
    return 32 if arch in ("cpu", "cuda") else 0


def _resolve_auto() -> str:
    """cuda if a CUDA device works, else cpu (Vulkan is only used when asked for)."""
    try:
        from taichi._lib import core as _ti_core

        if _ti_core.with_cuda():
            return "cuda"
    except Exception:  # pragma: no cover - depends on the machine
        pass
    return "cpu"


def _cheap_source_positions() -> None:
    """Make Taichi's per-node source positions cheap (compile time, not behaviour).

    Taichi 1.7.4's front end attaches a position to every statement and expression it
    translates, and builds each one eagerly with a TextWrapper-drawn caret line under the
    source, whether or not an error ever shows it: on our statically unrolled kernels that
    formatting is a good part of a warm (offline-cached) compile. The replacement keeps what an
    error message needs (file, line, function, and the source line) and drops only the caret
    drawing; the same trade Taichi's successor made (Genesis-Embodied-AI/quadrants#857). Applied
    only to the pinned version, whose private method it replaces.
    """
    from taichi.lang.ast import ast_transformer_utils as utils

    context = getattr(utils, "ASTTransformerContext", None)
    if ti.__version__ != (1, 7, 4) or context is None or getattr(context, "_tdphys_cheap", 0):
        return

    def get_pos_info(self, node) -> str:
        line = node.lineno + self.lineno_offset
        source = self.src[node.lineno - 1] if 0 < node.lineno <= len(self.src) else ""
        return f'File "{self.file}", line {line}, in {self.func.func.__name__}:\n{source}\n'

    context.get_pos_info = get_pos_info
    context._tdphys_cheap = True


def _cached_function_sources() -> None:
    """Read each Taichi function's source once per process (compile time, not behaviour).

    Taichi 1.7.4 inlines a `ti.func` at every call site and, for each one, asks `inspect` for
    the function's file and lines, which re-tokenises the whole enclosing source, hundreds of
    times for one start of the 17-body quadruped. Function objects and their
    source do not change while the process runs, so the answer is kept per code object.
    Applied only to the pinned version, whose module-level names it replaces.
    """
    from taichi.lang import kernel_impl

    if ti.__version__ != (1, 7, 4) or getattr(kernel_impl, "_tdphys_cached_sources", False):
        return
    sourcefile, sourcelines = kernel_impl.getsourcefile, kernel_impl.getsourcelines
    files, lines = {}, {}

    def cached_sourcefile(obj):
        key = getattr(obj, "__code__", obj)  # closures made per build share their code
        if key not in files:
            files[key] = sourcefile(obj)
        return files[key]

    def cached_sourcelines(obj):
        key = getattr(obj, "__code__", obj)
        if key not in lines:
            lines[key] = sourcelines(obj)
        src, start = lines[key]
        return list(src), start

    kernel_impl.getsourcefile, kernel_impl.getsourcelines = cached_sourcefile, cached_sourcelines
    kernel_impl._tdphys_cached_sources = True


@contextlib.contextmanager
def _spirv_optimiser_off(off: bool):
    """Start Taichi without its SPIR-V optimiser (spirv-opt) when `off`, unless the user set
    TI_EXTERNAL_OPTIMIZATION_LEVEL: on a whole-step kernel it takes minutes, ten times the
    rest of the compile, and every Vulkan driver optimises the shader again. ti.init takes
    this setting only from the environment; it is restored after, so a later CPU start keeps
    LLVM's."""
    name = "TI_EXTERNAL_OPTIMIZATION_LEVEL"
    if not off or name in os.environ:
        yield
        return
    os.environ[name] = "0"
    try:
        yield
    finally:
        del os.environ[name]


def init(
    arch: str = "cpu", precision: str = "f32", debug: bool = False, cpu_threads: int | None = None
) -> Backend:
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
        raise BackendError(
            "f64 is not supported on vulkan\n  fix: use --precision f32 or --arch cpu"
        )
    wanted = Backend(name, precision, debug)
    if _current == wanted:
        return _current
    kwargs = dict(
        arch=_arch_object(name),
        default_fp=wanted.real,
        debug=debug,
        random_seed=0,
        log_level=ti.WARN,
        offline_cache=True,
        # a few robots' kernels outgrow Taichi's 100 MB default, whose eviction
        # then recompiles them at every start
        offline_cache_max_size_of_files=OFFLINE_CACHE_BYTES,
        # Taichi's IR optimiser makes reverse-mode compiles 3-5x slower for our
        # kernels while LLVM still optimises the machine code.
        advanced_optimization=False,
        ad_stack_size=_ad_stack_size(name, debug),
    )
    if name == "cpu" and cpu_threads:
        kwargs["cpu_max_num_threads"] = cpu_threads
    _cheap_source_positions()
    _cached_function_sources()
    try:
        with _spirv_optimiser_off(name == "vulkan"):
            ti.init(**kwargs)
    except Exception as exc:  # pragma: no cover - depends on the machine
        raise BackendError(
            f"could not start Taichi on arch={name}: {exc}\n  fix: try --arch cpu"
        ) from exc
    actual = ti.lang.impl.current_cfg().arch
    if actual != _arch_object(name):
        ti.reset()
        raise BackendError(
            f"arch={name} is not available on this machine (Taichi fell back to "
            f"{actual})\n  fix: use --arch cpu, or install the {name} driver"
        )
    global _epoch
    _current = wanted
    _epoch += 1
    return wanted


_epoch = 0


def unrolled_sum(terms):
    """0 + terms[0] + terms[1] + ..., left to right, as one expression: call it in a kernel on
    a list built at compile time (`backend.unrolled_sum([... for k in ti.static(...)])`).

    Unlike `acc += term` in a ti.static loop, it changes no local: inside a run-time loop a
    changed local costs Taichi's reverse mode an AD stack entry per change, and past
    ad_stack_size (32) the launch crashes (a 7 x 7 conv window does). Taichi warns when
    a kernel calls a Python function; this one only adds its expressions, so that warning
    is filtered below."""
    return sum(terms, 0.0)


warnings.filterwarnings(
    "ignore", message='.*Calling non-taichi function "backend.unrolled_sum"', category=SyntaxWarning
)


def epoch() -> int:
    """Changes whenever Taichi is (re)started or reset: objects holding fields or kernels
    from an older epoch are dead."""
    return _epoch


def reset() -> None:
    """Free every field and compiled kernel (ti.reset); the next init starts Taichi afresh.
    A test session resets between test modules so that fields do not pile up."""
    global _current, _epoch
    ti.reset()
    _current = None
    _epoch += 1


def running() -> bool:
    """Whether Taichi has been started (by init or current) and not reset since."""
    return _current is not None


def current() -> Backend:
    """The active backend, initialising the default (cpu, f32) if none was chosen."""
    return _current if _current is not None else init()


def start_validation() -> None:
    """Reset the access bits of Taichi's global-data-access-rule check (debug mode only)."""
    if not current().debug:
        raise BackendError(
            "autodiff validation needs debug mode\n  fix: tdphys.init(..., debug=True)"
        )
    from taichi.ad._ad import clear_all_gradients
    from taichi.lang.enums import SNodeGradType

    clear_all_gradients(gradient_type=SNodeGradType.ADJOINT_CHECKBIT)


def run_validated(kernel, *args) -> None:
    """Launch `kernel` once in Taichi's VALIDATION mode: it asserts that no field entry is
    overwritten after being read, the rule Taichi's reverse mode needs to be exact."""
    from taichi.lang.enums import AutodiffMode

    primal = kernel._primal
    primal.autodiff_mode = AutodiffMode.VALIDATION
    try:
        kernel(*args)
    finally:
        primal.autodiff_mode = AutodiffMode.NONE


def close_field_tree() -> None:
    """Put the fields declared so far into an SNode tree of their own. Taichi groups the fields
    declared between two launches into one tree, which may hold at most 1024 SNodes; in debug
    mode each field with a gradient takes more of them, so a Simulation's fields are split
    into a few trees (a process holds at most 512)."""
    from taichi.lang import impl

    impl.get_runtime().materialize_root_fb(False)


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


# Fields per generated copy or clearing kernel: Taichi warns when a static loop unrolls more
# than 32 times (its unrolling_limit), and a kernel's loops run over the distinct index shapes
# of its fields, each loop unrolling over that shape's fields.
FIELDS_PER_KERNEL = 32


def gradient_clearer(fields):
    """A function that zeroes the gradients of `fields` (those without one are skipped), with
    one kernel per FIELDS_PER_KERNEL fields and one loop per index shape.

    ti.ad.Tape(clear_gradients=True) instead zeroes every gradient in the process with one
    compiled kernel per field: with a dozen simulations alive its first use compiles for
    minutes, and every later tape relaunches all of them."""
    grads = [f for f in fields if _has_gradient(f)]
    kernels = [
        _clear_kernel(grads[i : i + FIELDS_PER_KERNEL])
        for i in range(0, len(grads), FIELDS_PER_KERNEL)
    ]

    def clear():
        for kernel in kernels:
            kernel()

    return clear


def _clear_kernel(grads):
    # one loop per index shape: every loop is a task that LLVM compiles on its own, and
    # same-shaped gradients share it
    groups = _same_shape_groups(grads, lambda f: tuple(f.shape))

    @ti.kernel
    def clear():
        for group in ti.static(groups):
            for I in ti.grouped(group[0]):
                for f in ti.static(group):
                    if ti.static(not isinstance(f, ti.MatrixField)):
                        f.grad[I] = 0
                    elif ti.static(f.ndim == 1):
                        f.grad[I] = ti.Vector.zero(f.dtype, f.n)
                    else:
                        f.grad[I] = ti.Matrix.zero(f.dtype, f.n, f.m)

    return clear


def _same_shape_groups(items, key):
    """`items` grouped by key(item), in order of first appearance (lists)."""
    groups = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return list(groups.values())


class FieldBlock:
    """Named fields of one dtype moved to and from numpy with one kernel launch per
    FIELDS_PER_KERNEL fields.

    Taichi's `field.from_numpy` / `to_numpy` compile a kernel for every field; a Simulation
    has ~100 fields that it fills or reads (tables, parameters, their gradients, the
    trajectory), so per-field copies would be a large part of every build. Here each kernel's fields
    travel through one flat numpy buffer of their own (on Vulkan a launch copies its whole
    buffer back when the device syncs, so two launches sharing one buffer overwrite each
    other's results); `grad=True` reads or writes the fields' gradients. Arrays have each
    field's numpy shape (`field.to_numpy().shape`)."""

    def __init__(self, fields: dict, dtype=None):
        self.dtype = current().real if dtype is None else dtype
        self.np_dtype = {ti.f32: np.float32, ti.f64: np.float64, ti.i32: np.int32}[self.dtype]
        self.fields = dict(fields)
        self.shapes = {name: _numpy_shape(f) for name, f in self.fields.items()}
        self._sizes = {name: int(np.prod(shape)) for name, shape in self.shapes.items()}
        names = list(self.fields)
        # each kernel's fields, and their offsets in that kernel's buffer
        self._chunks = []
        for i in range(0, len(names), FIELDS_PER_KERNEL):
            offsets, size = {}, 0
            for name in names[i : i + FIELDS_PER_KERNEL]:
                offsets[name], size = size, size + self._sizes[name]
            self._chunks.append((offsets, size))
        self._kernels = {}
        for grad in (False, True):
            if grad and not all(_has_gradient(self.fields[n]) for n in names):
                continue
            for write in (False, True):
                self._kernels[grad, write] = [
                    self._copy_kernel(offsets, grad, write) for offsets, _ in self._chunks
                ]

    def read(self, grad: bool = False) -> dict:
        """{name: array} of every field's values (or gradients)."""
        bufs = [np.empty(size, self.np_dtype) for _, size in self._chunks]
        for kernel, buf in zip(self._copies(grad, False), bufs):
            kernel(buf)
        ti.sync()
        return {
            n: buf[o : o + self._sizes[n]].reshape(self.shapes[n])
            for (offsets, _), buf in zip(self._chunks, bufs)
            for n, o in offsets.items()
        }

    def write(self, arrays: dict, grad: bool = False) -> None:
        """Set every field (all of them: a block is written whole) from {name: array}."""
        missing = set(self.fields) - set(arrays)
        if missing:
            raise KeyError(f"FieldBlock.write needs every field; missing {sorted(missing)}")
        for kernel, (offsets, size) in zip(self._copies(grad, True), self._chunks):
            buf = np.empty(size, self.np_dtype)
            for n, o in offsets.items():
                buf[o : o + self._sizes[n]] = np.asarray(arrays[n], self.np_dtype).ravel()
            kernel(buf)

    def _copies(self, grad, write):
        if (grad, write) not in self._kernels:
            raise BackendError("FieldBlock: some fields have no gradient")
        return self._kernels[grad, write]

    def _copy_kernel(self, offsets, grad, write):
        # Fields with the same index shape share one parallel loop (each loop is a task that
        # LLVM compiles on its own). Per member: the field or its gradient, its flat offset in the
        # buffer, the row-major strides of its index, its entries per cell.
        plan = []
        for n, offset in offsets.items():
            f = self.fields[n]
            shape = self.shapes[n]
            cell = shape[len(f.shape) :]
            per_cell = int(np.prod(cell)) if cell else 1
            strides = tuple(int(np.prod(f.shape[d + 1 :])) * per_cell for d in range(len(f.shape)))
            plan.append((f.grad if grad else f, offset, strides, per_cell, len(cell)))
        groups = _same_shape_groups(plan, lambda member: tuple(member[0].shape))

        def copy(buf):
            # a parallel loop per group (one serial loop for everything would cost about as
            # much to compile, and Vulkan stops a thread's loops after 65535 iterations: see
            # docs/backends.md)
            for members in ti.static(groups):
                for I in ti.grouped(members[0][0]):
                    for f, offset, strides, per_cell, cell_dims in ti.static(members):
                        k = offset
                        for d in ti.static(range(len(strides))):
                            k += I[d] * strides[d]
                        if ti.static(cell_dims == 0):
                            if ti.static(write):
                                f[I] = buf[k]
                            else:
                                buf[k] = f[I]
                        else:
                            for c in ti.static(range(per_cell)):
                                if ti.static(write):
                                    f[I][c] = buf[k + c]
                                else:
                                    buf[k + c] = f[I][c]

        # set here, not as an annotation: this module's annotations are strings
        copy.__annotations__ = {"buf": ti.types.ndarray(dtype=self.dtype, ndim=1)}
        return ti.kernel(copy)


def _numpy_shape(f) -> tuple:
    """The shape field.to_numpy() gives: index shape, then the vector size (vector fields)."""
    if isinstance(f, ti.MatrixField):
        if f.ndim != 1:
            raise BackendError("FieldBlock holds scalar and vector fields only")
        return tuple(f.shape) + (f.n,)
    return tuple(f.shape)


def _has_gradient(f) -> bool:
    """Whether field f has a placed gradient (fields made without needs_grad may still carry
    an unplaced .grad)."""
    try:
        return f.grad is not None and f.snode.ptr.has_adjoint()
    except AttributeError:
        return False


def _is_real(dtype) -> bool:
    return dtype in (ti.f32, ti.f64)


_ggui: bool | None = None


def ggui_available() -> bool:
    """Whether Taichi's GGUI can render here (it needs a Vulkan device, hardware or software,
    whatever arch simulates). $TDPHYS_NO_VULKAN=1 answers False, to exercise the ti.GUI
    fallback. Call after init; the answer is cached."""
    global _ggui
    if os.environ.get("TDPHYS_NO_VULKAN", "") not in ("", "0"):
        return False
    if _ggui is None:
        try:
            _ggui = bool(ti.lang.misc.is_arch_supported(ti.vulkan))
        except Exception:  # pragma: no cover - depends on the machine
            _ggui = False
    return _ggui


def env_arch(default: str = "cpu") -> str:
    """Arch from $TDPHYS_ARCH (used by tests and CI to run the suite on another backend)."""
    return os.environ.get("TDPHYS_ARCH", default)
