"""Experiment files (docs/experiment-format.md): read, validate, and resolve into dataclasses.

The file's top level is read here; each section is parsed by the module that owns it:
`task:` by tdphys/tasks, `controller:` by tdphys/control, `trainable:`, `design:` and
`overrides:` by optim/params.py, `optimizer:` by optim/optimizers.py. Every problem raises
tdphys.errors.ModelError naming the file, the line and the dotted key, with a fix, exactly
as robot files do (tdphys/model/yamlread.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..control import ControllerSpec, parse_controller
from ..errors import ModelError
from ..model import limits
from ..model.yamlread import At, Map, choice, compose, read_text_file, string
from ..paths import path_problem
from ..tasks import TaskConfig, parse_task
from ..tasks.sampling import RandomStarts, check_starts
from .optimizers import OptimizerConfig, parse_optimizer
from .params import (
    DesignVar,
    Trainable,
    check_design,
    parse_design,
    parse_overrides,
    parse_trainable,
)

PRECISIONS = ("f32", "f64")
_TOP = {
    "name",
    "robot",
    "task",
    "trainable",
    "optimizer",
    "precision",
    "controller",
    "overrides",
    "design",
    "init_from",
}


@dataclass(frozen=True)
class Experiment:
    """A validated experiment file: name; file (its path); robot (absolute robot path); task
    (a TaskConfig); trainable Simulation parameters; optimizer settings; precision (f32 |
    f64); controller (a ControllerSpec, or None); overrides: (parameter, values) pairs
    applied to the robot before training; design: robot-file vars trained with the rest;
    init_from: absolute path of an earlier run folder whose trained parameters (params.npz)
    are the starting point, or None."""

    name: str
    file: str
    robot: str  # absolute path of the robot YAML
    task: TaskConfig
    trainable: tuple[Trainable, ...]
    optimizer: OptimizerConfig
    precision: str = "f64"
    controller: ControllerSpec | None = None
    overrides: tuple = ()  # (parameter name, values) set before training
    design: tuple[DesignVar, ...] = ()  # robot-file vars trained with the rest
    init_from: str | None = None  # run folder to start from (warm start)


def load_experiment(path: str | Path, values: dict[str, str] | None = None) -> Experiment:
    """Read and validate the experiment YAML at `path`; `values`: {key path: YAML text} set in
    the file's mapping first (`tdphys sweep --set`, tdphys/optim/key_paths.py), validated as
    if the file said so; an error then also names the values."""
    source = str(path)
    text = read_text_file(path, "experiment file")
    if not text.strip():
        raise ModelError(
            source,
            "",
            "the experiment file is empty",
            "see docs/experiment-format.md for the keys",
            1,
        )
    root = compose(text, source)
    if not values:
        return _experiment(root, source)
    from .key_paths import with_values

    edited = At(source, "", with_values(root.node, values, source))
    try:
        return _experiment(edited, source)
    except ModelError as exc:
        raise _naming_values(exc, values) from None


def _naming_values(exc: ModelError, values: dict[str, str]) -> ModelError:
    """`exc` with the set values named after the file; an error at (or around) a set key
    loses its line number, which points into the file, not at the value."""
    given = " ".join(f"{k}={v}" for k, v in values.items())
    near = bool(exc.key) and any(
        exc.key == k
        or k.startswith((exc.key + ".", exc.key + "["))
        or exc.key.startswith((k + ".", k + "["))
        for k in values
    )
    where = exc.file if near or exc.line is None else f"{exc.file}:{exc.line}"
    return ModelError(f"{where} (with --set {given})", exc.key, exc.problem, exc.fix)


def _experiment(root: At, source: str) -> Experiment:
    """The Experiment of the file `source` whose YAML node tree is `root`."""
    top = Map(root, "the experiment").only(_TOP)
    name = string(top.get("name")) if "name" in top else Path(source).stem
    robot_at = top.require("robot", "add `robot: path/to/robot.yaml` (relative to this file)")
    robot = (Path(source).resolve().parent / string(robot_at)).resolve()
    problem = path_problem(robot)
    if problem:
        raise robot_at.error(
            f"robot file '{robot}' {problem}",
            "give the path of a robot YAML file, relative to the experiment file",
        )
    task = parse_task(top.require("task", "add `task: {type: ball_throw}`"))
    controller = parse_controller(top.get("controller")) if "controller" in top else None
    design = parse_design(top.get("design")) if "design" in top else ()
    if "trainable" in top:
        trainable = parse_trainable(top.get("trainable"))
    elif controller is not None or design:
        trainable = ()
    else:
        raise top.require(
            "trainable", "add `trainable: {init_vel: {}}`, a `controller:` or `design:`"
        )
    opt = parse_optimizer(top.get("optimizer"))
    precision = (
        choice(top.get("precision"), PRECISIONS, "precision") if "precision" in top else "f64"
    )
    if task.type == "system_identification":
        _check_truth(source, task, trainable)
    overrides = parse_overrides(top.get("overrides")) if "overrides" in top else ()
    init_from = _init_from(top.get("init_from"), source) if "init_from" in top else None
    return Experiment(
        name,
        source,
        str(robot),
        task,
        trainable,
        opt,
        precision,
        controller,
        overrides,
        design,
        init_from,
    )


def _init_from(at: At, source: str) -> str:
    """The run folder (relative to the experiment file) whose params.npz starts the run; it
    need not exist yet (a curriculum's second file is read before its first stage has run):
    warm_start.check_source says so when a run starts."""
    return str((Path(source).resolve().parent / string(at)).resolve())


def _check_truth(source: str, task, trainable) -> None:
    """Every trained parameter has a truth and every truth is trained."""
    trained = {tr.name for tr in trainable}
    for name, _ in task.truth:
        if name not in trained:
            raise ModelError(
                source,
                f"task.truth.{name}",
                f"'{name}' is not trainable",
                f"add `{name}: {{init: ...}}` under trainable, or drop it here",
            )
    given = {name for name, _ in task.truth}
    for name in sorted(trained - given):
        raise ModelError(
            source,
            f"trainable.{name}",
            f"no truth for '{name}'",
            f"add `{name}: VALUE` under task.truth (the value that generates the recording)",
        )


def check_against_robot(exp: Experiment, robot) -> None:
    """The names and sizes an experiment takes from its robot: rollout lengths, design vars,
    task bodies, the joints random starts move, sensors read by the controller, one output
    scale/offset per motor, a vision controller's camera and its conv layers fitting that
    camera's image. Raises ModelError naming the key."""
    for key, seconds in (("task.duration", exp.task.duration), ("task.confirm", exp.task.confirm)):
        if seconds is not None and seconds / robot.solver.dt > limits.MAX_STEPS:
            raise ModelError(
                exp.file,
                key,
                f"{seconds:g} s is {seconds / robot.solver.dt:.3g} "
                f"steps of the robot's solver.dt ({robot.solver.dt:g} s); a "
                f"rollout has at most {limits.MAX_STEPS:,}",
                f"give at most {limits.MAX_STEPS * robot.solver.dt:g} s",
            )
    check_design(exp.design, robot, exp.file, exp.robot)
    if exp.design and exp.task.starts is not None:
        raise ModelError(
            exp.file,
            "design",
            "random starts are drawn for the robot file's geometry, which `design` changes",
            "drop task.starts or design",
        )
    t = exp.task
    t.check_robot(robot, exp.file, exp.robot)
    if t.starts is not None:
        _check_starts(exp, robot, t.starts, "task.starts")
    if t.confirm_starts is not None:
        _check_starts(exp, robot, t.confirm_starts, "task.confirm_starts")
    c = exp.controller
    seeing = ("target", "effector_to_target", "effector_distance")
    if t.targets is not None and (c is None or not any(k in seeing for k in c.input_kinds())):
        raise ModelError(
            exp.file,
            "task.targets",
            "random targets need a controller that sees the target",
            "add a controller input `target`, `effector_to_target` or `effector_distance`",
        )
    if c is not None:
        c.check_robot(robot, exp.file, exp.robot, t.type)


def _check_starts(exp: Experiment, robot, starts: RandomStarts, at: str) -> None:
    """Random starts (`at`: task.starts or task.confirm_starts) name hinge or slider joints of
    the robot, and the experiment trains no initial state (the starts set it)."""
    check_starts(starts, robot, exp.file, exp.robot, at)
    state = ("init_pos", "init_quat", "init_vel", "init_omega")
    for what, names in (
        ("trainable", [tr.name for tr in exp.trainable]),
        ("overrides", [name for name, _ in exp.overrides]),
    ):
        for name in names:
            if name in state:
                raise ModelError(
                    exp.file,
                    at,
                    "random starts set the initial "
                    f"state from the robot file, which `{what}: {name}` also "
                    "sets",
                    "drop one of them (or change the robot file)",
                )
