"""What a sweep runs (docs/sweep.md): its settings (the grid of `--set` values), its seeds,
and one trial per setting and seed, each an optimisation run with its own run folder.

A sweep seed S adds S to every seed of the experiment (SEED_KEYS): the controller's weight
initialisation, CMA-ES's draws, the random starts, the random targets (training and
held-out) and the confirmation's nudged starts, the ones the experiment has. Seed 0 is the
file as written (with the --set values).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import TdphysError

# (key path, its value in an experiment or None where the experiment has no such draws):
# the seeds a sweep seed offsets
SEED_KEYS = (
    ("controller.seed", lambda e: e.controller.seed if e.controller else None),
    ("optimizer.seed", lambda e: e.optimizer.seed),
    ("task.starts.seed", lambda e: e.task.starts.seed if e.task.starts else None),
    ("task.targets.seed", lambda e: e.task.targets.seed if e.task.targets else None),
    (
        "task.confirm_starts.seed",
        lambda e: e.task.confirm_starts.seed if e.task.confirm_starts else None,
    ),
)


def setting_name(values: dict[str, str]) -> str:
    """'optimizer.lr=1e-3 optimizer.clip=1' ('' for the file as written)."""
    return " ".join(f"{k}={v}" for k, v in values.items())


def _folder_name(values: dict[str, str]) -> str:
    """A setting's folder: its values with characters other than letters, digits and . = + -
    replaced by '_', joined by '+'."""
    return "+".join(re.sub(r"[^A-Za-z0-9.=+-]", "_", f"{k}={v}") for k, v in values.items())


@dataclass(frozen=True)
class Trial:
    """One run of a sweep: its setting's --set values, its seed, its run folder, and what it
    runs: the experiment file and values (the setting's and the seed's), the budget
    [simulations], the optimiser and the headline metric (key, unit, better)."""

    setting: str
    values: dict
    seed: int
    dir: Path
    file: str
    run_values: dict
    budget: int
    optimizer: str
    metric: dict
    digest: str

    def record(self) -> dict:
        """What trial.json says about the trial (and what a re-run compares)."""
        return {
            "experiment_file": self.file,
            "set": self.values,
            "seed": self.seed,
            "seed_values": {k: v for k, v in self.run_values.items() if k not in self.values},
            "budget": self.budget,
            "optimizer": self.optimizer,
            "metric": self.metric,
            "digest": self.digest,
        }

    @property
    def finished(self) -> bool:
        """It has written its metrics.json (the run ended and its outputs were written)."""
        return (self.dir / "metrics.json").is_file()


def plan(
    file: str, settings: list[dict[str, str]], seeds: list[int], out: Path, budget: int | None
) -> list[Trial]:
    """Every trial of the sweep, setting by setting and seed by seed, each checked: its
    experiment loads with its values (a wrong key or value raises the loader's ModelError,
    naming the key path), fits its robot and finds the run it starts from (init_from); a run
    folder that an earlier sweep left must hold the same trial (TdphysError otherwise: it
    would mix two sweeps)."""
    from ..model.robot_file import load_robot_file as load_robot
    from ..optim.experiment import check_against_robot, load_experiment
    from ..optim.warm_start import check_source
    from ..tasks import TASK_CLASSES

    file = str(Path(file).resolve())
    out = Path(out).resolve()
    trials, folders = [], {}
    for values in settings:
        exp = load_experiment(file, values)
        check_against_robot(exp, load_robot(exp.robot))
        check_source(exp)
        folder = out / _folder_name(values) if values else out
        if folder in folders:
            raise TdphysError(
                f"--set: the settings '{folders[folder]}' and "
                f"'{setting_name(values)}' would share the folder {folder}\n"
                "  fix: give values that differ in letters or digits"
            )
        folders[folder] = setting_name(values)
        task = TASK_CLASSES[exp.task.type]
        metric = {"key": task.headline[0], "unit": task.headline[1], "better": task.better}
        for seed in seeds:
            run_values = {**values, **seed_values(exp, seed)}
            seeded = load_experiment(file, run_values)
            trials.append(
                Trial(
                    setting_name(values),
                    values,
                    seed,
                    folder / f"seed_{seed}",
                    file,
                    run_values,
                    int(budget or seeded.optimizer.budget),
                    seeded.optimizer.type,
                    metric,
                    _digest(seeded),
                )
            )
    for t in trials:
        _check_folder(t)
    return trials


def seed_values(exp, seed: int) -> dict[str, str]:
    """{key path: value} that make sweep seed `seed` of experiment `exp`: each of SEED_KEYS
    that the experiment has, offset by `seed`."""
    out = {}
    for key, read in SEED_KEYS:
        value = read(exp)
        if value is not None:
            out[key] = str(int(value) + seed)
    return out


def _digest(exp) -> str:
    """A fingerprint of what the experiment runs: its values, with the paths it names taken
    relative to the experiment file's folder, so a checkout moved or copied elsewhere resumes
    its sweeps."""
    home = Path(exp.file).parent

    def rel(path: str | None) -> str | None:
        return None if path is None else os.path.relpath(path, home)

    text = repr(
        dataclasses.replace(exp, file="", robot=rel(exp.robot), init_from=rel(exp.init_from))
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check_folder(trial: Trial) -> None:
    """An existing run folder must be this trial's (trial.json): same values, seed, budget,
    optimiser and experiment."""
    if not trial.dir.exists():
        return
    try:
        had = json.loads((trial.dir / "trial.json").read_text())
    except (OSError, ValueError):
        if any(trial.dir.iterdir()):
            raise TdphysError(
                f"{trial.dir} holds files but no trial.json of a sweep\n  fix: "
                "give another --out, or move that folder away"
            ) from None
        return
    now = trial.record()
    differ = [k for k in ("set", "seed", "budget", "optimizer", "digest") if had.get(k) != now[k]]
    if differ:
        what = (
            "the experiment's values (its file changed)"
            if differ == ["digest"]
            else ", ".join(
                f"{k} {had.get(k)!r} there, {now[k]!r} here" for k in differ if k != "digest"
            )
        )
        raise TdphysError(
            f"{trial.dir} holds a trial of another sweep ({what})\n  fix: give "
            "another --out, or delete that folder to run the trial again"
        )


def grid(sets: list[tuple[str, list[str]]]) -> list[dict[str, str]]:
    """The settings of a sweep: the cartesian product of each --set key's values, in the
    order given ([{}] without --set). ValueError for a key given twice."""
    keys = [k for k, _ in sets]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ValueError(
            f"--set {twice[0]} is given twice; give one --set per key, with its "
            f"values joined by commas ({twice[0]}=A,B)"
        )
    return [dict(zip(keys, combo)) for combo in itertools.product(*[v for _, v in sets])]
