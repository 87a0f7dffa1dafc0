"""Checkpoints of a run: where the optimiser stands, saved as data (state.npz, never a
pickle) so that `--resume` goes on from it, and the checks that a saved state fits the
experiment it resumes.

    state.npz      where the optimiser stands and the run's budget (arrays and JSON)
    history.json   one entry per simulation so far (outputs.py writes it whole at the end)

Every file is written to a temporary name and renamed into place, so a run killed at any
moment leaves the last checkpoint whole.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..datafiles import read_tree, write_json, write_tree
from ..errors import TdphysError
from ..paths import path_problem
from .result import RunResult

STATE_FILE = "state.npz"
OLD_STATE_FILE = "state.pkl"  # a pickle, written by earlier versions: never read


# what a resumed run takes from the saved state into its RunResult
RESUMED = (
    "history",
    "x_best",
    "loss_best",
    "metrics_best",
    "iterations",
    "evaluations",
    "wall_s",
    "first_eval_s",
    "success_at",
)


def check_resume(exp, kind: str, state: dict) -> None:
    """The saved state `state` is a run of the experiment `exp` with optimiser `kind`."""
    if state.get("experiment") != exp.name or state.get("optimizer") != kind:
        raise TdphysError(
            f"cannot resume: the run folder holds experiment "
            f"'{state.get('experiment')}' with {state.get('optimizer')}, not "
            f"'{exp.name}' with {kind}\n  fix: pass the same experiment file "
            "and --optimizer, or start a new --out folder"
        )


def check_resumed_size(result: RunResult, params, keys: tuple) -> None:
    """The resumed state's parameter vectors (`keys`) have as many numbers as this
    experiment trains; TdphysError naming both counts otherwise."""
    for key in keys:
        x = np.asarray(result.resumed_from[key])
        if x.shape != params.x0.shape:
            raise TdphysError(
                f"cannot resume: the run folder's '{key}' has {x.size} numbers, and "
                f"{result.experiment.file} trains {params.x0.size} (another controller, "
                "trainable parameters or design)\n  fix: resume with the experiment file that "
                "started the run, or start a new --out folder (init_from warm-starts from a "
                "run's params.npz where they fit)"
            )


def damaged(exp, what: str) -> TdphysError:
    """The error of a saved state whose `what` does not fit the experiment `exp`."""
    return TdphysError(
        f"cannot resume: the run folder's {what} does not fit "
        f"{exp.file}\n  fix: resume with the experiment file that started the "
        "run, or start a new --out folder"
    )


def adam_state(saved, n: int) -> tuple:
    """Adam's (m, v, t, norms) from a run folder, checked: m and v None or n numbers."""
    m, v, t, *norms = saved
    for moment in (m, v):
        if moment is not None and np.shape(moment) != (n,):
            raise ValueError(f"moments of {np.size(moment)} numbers for {n} parameters")
    return (
        None if m is None else np.array(m, float),
        None if v is None else np.array(v, float),
        int(t),
        *[list(map(float, x)) for x in norms],
    )


def save_state(result: RunResult, **optimizer_state) -> None:
    """Keep where the optimiser stands: the next parameters to evaluate and its own state."""
    result.state = optimizer_state


def resume_state(result: RunResult) -> dict:
    """What `run(resume=...)` needs to go on from `result` (data only: outputs saves it as
    state.npz)."""
    return {
        "experiment": result.experiment.name,
        "file": result.experiment.file,
        "optimizer": result.optimizer,
        "budget": result.budget,
        **{key: getattr(result, key) for key in RESUMED},
        **result.state,
    }


class Checkpoint:
    """Calls save(result) after an optimiser step when `every_s` seconds have passed since the
    last call (or the start); does nothing without `save`."""

    def __init__(self, save, every_s: float):
        self.save, self.every_s, self.last = save, float(every_s), time.perf_counter()

    def __call__(self, result: RunResult) -> None:
        if self.save is not None and time.perf_counter() - self.last >= self.every_s:
            self.save(result)
            self.last = time.perf_counter()


def write_checkpoint(result, out: str | Path) -> None:
    """Mid-run: state.npz (for --resume) and history.json so far, each replaced atomically,
    so a run killed without warning goes on from its last checkpoint."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if result.state:
        write_state(result, out)
    write_json(out / "history.json", result.history)


def write_state(result, out: Path) -> Path:
    """out/state.npz: resume_state(result), replaced whole."""
    return write_tree(out / STATE_FILE, resume_state(result))


def load_state(run_dir: str | Path) -> dict:
    """The state.npz of a run folder, for `run(resume=...)`: read as data (arrays and JSON,
    never a pickle) and checked; a folder holding only an older run's state.pkl is refused
    with how to go on."""
    folder = Path(run_dir)
    path = folder / STATE_FILE
    fix = (
        "start the run again with --out NEW_FOLDER (demos/optimize.py saves state.npz "
        "during and at the end of a run)"
    )
    if path_problem(path) == "does not exist" and (folder / OLD_STATE_FILE).exists():
        raise TdphysError(
            f"cannot resume: {folder} holds {OLD_STATE_FILE}, the run state of an older "
            "version, which is a Python pickle: reading it could run any code, so it is "
            f"never read\n  fix: {fix}; to keep what it learned, start from its params.npz "
            f"with `init_from: {folder}` in the experiment file"
        )
    if not folder.is_dir():
        problem = "is a file, not a run folder" if folder.exists() else "does not exist"
        raise TdphysError(
            f"cannot resume: {folder} {problem}\n  fix: give a folder that demos/optimize.py wrote"
        )
    problem = path_problem(path)
    if problem:
        raise TdphysError(
            f"cannot resume: {path} {problem}\n  fix: give a folder that "
            f"demos/optimize.py wrote, or {fix}"
        )
    state = read_tree(path, "run state", fix)
    problem = _state_problem(state)
    if problem:
        raise TdphysError(f"cannot resume: {path} is damaged ({problem})\n  fix: {fix}")
    return state


def _state_problem(state: dict) -> str | None:
    """What is wrong with a run state read from a folder, or None."""

    def number(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    checks = {
        "experiment": lambda v: isinstance(v, str),
        "file": lambda v: isinstance(v, str),
        "optimizer": lambda v: v in ("adam", "cmaes"),
        "budget": lambda v: isinstance(v, int) and v >= 1,
        "history": lambda v: isinstance(v, list) and all(isinstance(h, dict) for h in v),
        "x_best": lambda v: isinstance(v, np.ndarray) and v.ndim == 1 and v.dtype.kind == "f",
        "loss_best": number,
        "metrics_best": lambda v: isinstance(v, dict),
        "iterations": lambda v: isinstance(v, int) and v >= 0,
        "evaluations": lambda v: isinstance(v, int) and v >= 0,
        "wall_s": number,
        "first_eval_s": number,
        "success_at": lambda v: v is None or isinstance(v, int),
    }
    for key, ok in checks.items():
        if key not in state:
            return f"'{key}' is missing"
        if not ok(state[key]):
            return f"'{key}' is not what a run writes"
    if state["optimizer"] == "adam" and not (
        isinstance(state.get("x"), np.ndarray)
        and isinstance(state.get("adam"), list)
        and len(state["adam"]) in (3, 4)
    ):
        return "its Adam state is missing"
    if state["optimizer"] == "cmaes" and not isinstance(state.get("cma"), dict):
        return "its CMA-ES state is missing"
    return None
