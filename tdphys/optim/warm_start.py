"""`init_from`: start a run from the trained parameters of an earlier run folder.

A curriculum (train on a short horizon, then go on with a longer one, a harder start
distribution or another loss) or fine-tuning needs the weights of one run as the starting
point of a different experiment; `--resume` only continues the same experiment and optimiser.
The folder's params.npz (written by outputs.write_run) holds the controller's weights in their
own units (`controller_theta`, input statistics included) and every trained Simulation
parameter and design var by name, in the Simulation's units, so the two experiments may scale
them differently (lr_scale, conv_lr_scale, trainable scale or log).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..datafiles import read_npz
from ..errors import FileError, ModelError
from ..paths import path_problem
from .params import coordinates


def source_evaluations(folder: str) -> int | None:
    """The simulations the run in `folder` counted (its metrics.json), None if unknown."""
    path = Path(folder) / "metrics.json"
    if path_problem(path):
        return None
    try:
        return int(json.loads(path.read_text())["evaluations"])
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None


def check_source(exp) -> None:
    """The folder `exp.init_from` holds a finished run's params.npz (checked before a run
    builds anything); ModelError naming init_from otherwise."""
    if exp.init_from is None:
        return
    folder = Path(exp.init_from)
    if not (folder / "params.npz").is_file():
        what = "holds no params.npz" if folder.is_dir() else "does not exist"
        raise ModelError(
            exp.file,
            "init_from",
            f"run folder '{folder}' {what}",
            "run the experiment it names first (demos/optimize.py writes "
            "params.npz when a run ends, also after Ctrl-C), or drop `init_from`",
        )


def initial_x(exp, params) -> np.ndarray:
    """The optimiser coordinates a run starts from: `params.x0` (the controller's
    initialisation and the trainables' `init`) with every entry the folder `exp.init_from`
    holds put in its place. The controller must have the same number of weights; a trainable
    parameter or design var the folder lacks keeps its initial value."""
    x = params.x0.copy()
    if exp.init_from is None:
        return x
    check_source(exp)
    folder = Path(exp.init_from)
    try:
        arrays = read_npz(
            folder / "params.npz",
            "trained parameters",
            "give a run folder that demos/optimize.py wrote",
        )
    except FileError as exc:
        raise ModelError(
            exp.file,
            "init_from",
            str(exc).split("\n")[0],
            "give a run folder that demos/optimize.py wrote",
        ) from None

    def mismatch(problem: str, fix: str) -> ModelError:
        return ModelError(exp.file, "init_from", f"{folder}: {problem}", fix)

    for key, value in arrays.items():
        if value.dtype.kind not in "fiu":
            raise mismatch(
                f"its params.npz entry '{key}' holds {value.dtype}, not numbers",
                "give a run folder that demos/optimize.py wrote",
            )
    saved = {key: np.asarray(value, float) for key, value in arrays.items()}

    theta = saved.pop("controller_theta", None)
    if params.controller is not None:
        n = params.n_ctrl
        if theta is None:
            raise mismatch(
                "that run trained no controller",
                "give a run of an experiment with the same controller",
            )
        if theta.size != n:
            raise mismatch(
                f"its controller has {theta.size} weights, this experiment's has {n}",
                "give a run whose controller has the same type, "
                "inputs, layers and options, or drop `init_from`",
            )
        x[:n] = theta / params.ctrl_scale
    elif theta is not None:
        raise mismatch(
            "that run trained a controller and this experiment has none",
            "add the same `controller:`, or give another run folder",
        )

    def coords(key: str, value, scale, log: bool, where: str):
        if log and np.any(np.asarray(value) <= 0):
            raise mismatch(
                f"its '{key}' is not positive, and this experiment trains its log",
                f"drop `log: true` from {where}",
            )
        return coordinates(value, scale, log)

    for name, _, shape, scale, off, size, log in params.items:
        if name not in saved:
            continue
        value = saved[name]
        if value.shape != tuple(shape):
            raise mismatch(
                f"its '{name}' has shape {value.shape}, this experiment trains {tuple(shape)}",
                f"train the same entries of '{name}' (trainable.index), or give another run folder",
            )
        x[off : off + size] = coords(name, value.ravel(), scale, log, f"trainable.{name}")
    if params.design is not None:
        for i, d in enumerate(exp.design):
            key = f"design.{d.name}"
            if key in saved:
                x[params.n_before_design + i] = coords(key, float(saved[key]), d.scale, d.log, key)
    return x
