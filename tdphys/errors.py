"""User-facing errors. Each names where the problem is and how to fix it."""

from __future__ import annotations


class TdphysError(Exception):
    """Base class of every error tdphys raises on purpose."""


class ModelError(TdphysError, ValueError):
    """A robot or experiment file is wrong.

    file: path of the file; line: 1-based line of the offending key (None if unknown);
    key: dotted key path such as ``bodies[2].shapes[0].radius``; fix: what to do about it.
    """

    def __init__(self, file: str, key: str, problem: str, fix: str = "", line: int | None = None):
        self.file, self.key, self.problem, self.fix, self.line = file, key, problem, fix, line
        where = f"{file}:{line}" if line is not None else f"{file}"
        msg = f"{where}: {key}: {problem}" if key else f"{where}: {problem}"
        if fix:
            msg += f"\n  fix: {fix}"
        super().__init__(msg)


class SimulationDiverged(TdphysError, FloatingPointError):
    """A rollout produced NaN or inf. Names the first step and body where it happened."""

    def __init__(self, step: int, body: str, quantity: str, hint: str = ""):
        self.step, self.body, self.quantity = step, body, quantity
        msg = f"simulation diverged: {quantity} of body '{body}' became NaN/inf at step {step}"
        msg += "\n  fix: " + (
            hint
            or "lower solver.dt, raise solver.iterations, or check masses "
            "and motor gains for values that are far too large or small"
        )
        super().__init__(msg)


class GradientDiverged(TdphysError, FloatingPointError):
    """A taped rollout's gradient is NaN or inf. Names the last step (the first one the
    backward pass reached) and the body whose state adjoint went bad, or the parameter."""

    def __init__(self, step: int | None, body: str, quantity: str):
        self.step, self.body, self.quantity = step, body, quantity
        where = (
            f"d loss / d {quantity} of body '{body}' at step {step}"
            if step is not None
            else f"d loss / d {quantity}"
        )
        super().__init__(
            f"gradient diverged: {where} is NaN/inf (the backward pass runs from the last step "
            "to the first, so this is where it first went bad)\n  fix: look for a loss term "
            "that is not differentiable there (sqrt or norm at 0, division by a vanishing "
            "distance), clip the gradient, shorten the horizon, or lower solver.dt"
        )


class BackendError(TdphysError, RuntimeError):
    """The chosen backend cannot do what was asked (e.g. gradients on Vulkan)."""


class ControlsError(TdphysError, ValueError):
    """A controls array or file has the wrong shape or values."""


class ViewerError(TdphysError, RuntimeError):
    """The viewer cannot open its input, its output or a window (names the path and a fix)."""


class FileError(TdphysError, ValueError):
    """A file or folder given to read or write is unusable: missing, a folder or a device
    where a file is expected, not writable, too large, or not data tdphys reads (names the
    path and a fix)."""


class OutOfMemory(TdphysError, MemoryError):
    """A simulation would not fit in memory (gives the estimate, what is available and the
    fix) - refused before anything is allocated."""
