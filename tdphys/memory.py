"""How much memory a Simulation takes, checked before its fields are allocated.

    check_fits(layout, batch=1, steps=10**9, iterations=20, substeps=4, arch="cpu",
               real_bytes=4)
    # OutOfMemory: ... needs about 1.6e+03 GB ... this machine has 22 GB available ...

A rollout keeps every step's state for the backward pass (engine/simulation.py), so memory grows
as batch x steps x (bodies, motors, constraint rows, contact points); one step's substeps and
the solver's history add batch x (substeps + iterations) x (rows, bodies). `simulation_bytes`
counts the fields Simulation._allocate declares (and their gradients); tests/test_bad_inputs.py
checks it against a real Simulation. The limit is the memory the machine has free now (CPU) or
the GPU's total (CUDA; read from the driver); on Vulkan the GPU's size is unknown and nothing is
refused.
"""

from __future__ import annotations

from .errors import OutOfMemory

SHARE_ALLOWED = 0.9  # of the free memory one simulation may take


def simulation_bytes(
    layout, batch: int, steps: int, iterations: int, real_bytes: int, substeps: int = 4
) -> int:
    """Bytes of a Simulation's fields (values and gradients) for `layout` (engine.layout's
    Layout: its n_bodies, n_shapes, n_joints, n_motors, n_points, n_rows, n_sensordata),
    `batch` worlds, `steps` steps, `substeps` substeps a step and `iterations` solver sweeps a
    step, at `real_bytes` per float."""
    B, T, U = int(batch), int(steps), int(substeps)
    K = -(-int(iterations) // U)  # sweeps per substep
    N = layout.n_bodies
    S, J, M = (max(n, 1) for n in (layout.n_shapes, layout.n_joints, layout.n_motors))
    P, R = max(layout.n_points, 1), max(layout.n_rows, 1)
    D = max(layout.n_sensordata, 1)
    NN = N + layout.n_joints  # nodes of the tree solve
    G = max(int(getattr(layout, "n_groups", 1)), 1)
    # floats with a gradient (twice), per world
    per_step = 13 * N + R + 3 * M + D + 3 * P  # pos vel omega quat, warm, motors, ...
    params = 16 * S + 16 * N + 5 + 52 * J + 5 * M  # PARAM_DOCS
    scratch = (
        79 * N
        + 13 * (U + 1) * N  # mass properties (own, welded, the solver's), substep poses
        + U * (32 * N + 10 * P + 32 * R)  # bodies, contacts, rows per substep
        + U * (19 * N + R)  # drifted poses, their projection
        + U * (K + 1) * (R + 6 * N)
    )  # impulses, velocities after projections
    with_grad = B * ((T + 1) * per_step + T * M + params + scratch)
    # floats without a gradient: contact points for viewing, solver history, tree factors,
    # working vectors, contact softness
    without = B * (
        (T + 1) * 3 * P
        + U * (12 * max(K, 1) * R + (K + 3) * R + 72 * NN)
        + 54 * NN
        + 18 * N
        + R
        + P
        + 13 * G
    )
    return (2 * with_grad + without) * int(real_bytes) + 4 * (T + 1)


def available_bytes(arch: str) -> int | None:
    """Memory a simulation may use on `arch` now, None where it cannot be told."""
    if arch == "cpu":
        return _host_available()
    if arch == "cuda":
        return _cuda_total()
    return None


def check_fits(
    layout,
    batch: int,
    steps: int,
    iterations: int,
    arch: str,
    real_bytes: int,
    robot: str = "the robot",
    substeps: int = 4,
) -> int:
    """The estimate of simulation_bytes; OutOfMemory with the figure and the fix when it
    exceeds SHARE_ALLOWED of available_bytes(arch)."""
    need = simulation_bytes(layout, batch, steps, iterations, real_bytes, substeps)
    have = available_bytes(arch)
    if have is not None and need > SHARE_ALLOWED * have:
        precision = "f64" if real_bytes == 8 else "f32"
        smaller = [
            "fewer steps (--steps, or a shorter task duration)",
            "fewer worlds (--batch, or a smaller population or batch)",
        ]
        if precision == "f64":
            smaller.append("precision f32 (half the memory)")
        place = "this machine has" if arch == "cpu" else f"the {arch} device has"
        raise OutOfMemory(
            f"a simulation of {robot} with {steps:,} steps x {batch:,} worlds ({precision}) "
            f"needs about {_gb(need)} of memory, and {place} {_gb(have)} "
            f"{'available' if arch == 'cpu' else 'in all'}\n  fix: " + "; ".join(smaller)
        )
    return need


def _gb(n: float) -> str:
    return f"{n / 1e9:.3g} GB"


def _host_available() -> int | None:
    """MemAvailable of /proc/meminfo (Linux), else free pages; None if neither is known."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import os

    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _cuda_total() -> int | None:
    """Total memory of CUDA device 0 from the driver (cuDeviceTotalMem), None if unknown."""
    import ctypes

    try:
        cuda = ctypes.CDLL("libcuda.so.1")
        device, total = ctypes.c_int(), ctypes.c_size_t()
        if cuda.cuInit(0) != 0 or cuda.cuDeviceGet(ctypes.byref(device), 0) != 0:
            return None
        if cuda.cuDeviceTotalMem_v2(ctypes.byref(total), device) != 0:
            return None
        return int(total.value)
    except (OSError, AttributeError):
        return None
