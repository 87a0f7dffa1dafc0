"""Experiment files (docs/experiment-format.md): read, validate, and resolve into dataclasses.

Every problem raises tdphys.errors.ModelError naming the file, the line and the dotted key,
with a fix, exactly as robot files do (the YAML helpers are shared with the robot loader).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError
from ..model.loader import (_At, _choice, _compose, _did_you_mean, _integer, _items, _Map,
                            _number, _string, read_text_file)

TASKS = ("ball_throw",)
OPTIMIZERS = ("adam", "cmaes")
PRECISIONS = ("f32", "f64")


@dataclass(frozen=True)
class Trainable:
    """One trainable Simulation parameter (see engine/simulation.py PARAM_DOCS).

    name: parameter name; init: initial value broadcast to the parameter's per-world shape
    (None: the robot's value); scale: parameter units per optimiser unit, one number or one
    per component (broadcast like init) (the optimiser sees
    value / scale, so its step sizes mean the same for every parameter)."""

    name: str
    init: tuple[float, ...] | None = None
    scale: float | tuple[float, ...] = 1.0


@dataclass(frozen=True)
class Task:
    """type: task name; duration [s]; target [m] (x, y); tolerance [m]; speed_tolerance
    [m/s]; velocity_weight [s^2] weight of the final squared speeds in the loss."""

    type: str = "ball_throw"
    duration: float = 5.0
    target: tuple[float, float] = (10.0, 0.0)
    tolerance: float = 0.01
    speed_tolerance: float = 0.01
    velocity_weight: float = 1.0


@dataclass(frozen=True)
class Optimizer:
    """type: adam | cmaes; budget: simulations at most; lr: Adam step [optimiser units];
    lr_decay: factor on lr per iteration;
    beta1, beta2: Adam moment decays; clip: gradient norm clip (0: none); sigma: CMA-ES initial
    step [optimiser units]; popsize: CMA-ES population (0: cma's default); seed: CMA-ES seed;
    stop_at_success: stop as soon as the task's success criterion holds."""

    type: str = "adam"
    budget: int = 300
    lr: float = 1.0
    lr_decay: float = 1.0
    beta1: float = 0.9
    beta2: float = 0.999
    clip: float = 0.0
    sigma: float = 5.0
    popsize: int = 0
    seed: int = 1
    stop_at_success: bool = True


@dataclass(frozen=True)
class Experiment:
    """A validated experiment file: name; file (its path); robot (absolute robot path); task;
    trainable parameters; optimizer settings; precision (f32 | f64)."""

    name: str
    file: str
    robot: str                                # absolute path of the robot YAML
    task: Task
    trainable: tuple[Trainable, ...]
    optimizer: Optimizer
    precision: str = "f64"


_TOP = {"name", "robot", "task", "trainable", "optimizer", "precision"}
_TASK_KEYS = {"type", "duration", "target", "tolerance", "speed_tolerance", "velocity_weight"}
_TRAIN_KEYS = {"init", "scale"}
_OPT_KEYS = {"type", "budget", "lr", "lr_decay", "beta1", "beta2", "clip", "sigma", "popsize", "seed",
             "stop_at_success"}


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate the experiment YAML at `path`."""
    source = str(path)
    text = read_text_file(path, "experiment file")
    if not text.strip():
        raise ModelError(source, "", "the experiment file is empty",
                         "see docs/experiment-format.md for the keys", 1)
    top = _Map(_compose(text, source), "the experiment").only(_TOP)
    name = _string(top.get("name")) if "name" in top else Path(source).stem
    robot_at = top.require("robot", "add `robot: path/to/robot.yaml` (relative to this file)")
    robot = (Path(source).resolve().parent / _string(robot_at)).resolve()
    if not robot.is_file():
        raise robot_at.error(f"robot file '{robot}' does not exist",
                             "give the path relative to the experiment file")
    task = _task(top.require("task", "add `task: {type: ball_throw}`"))
    trainable = _trainable(top.require("trainable", "add `trainable: {init_vel: {}}`"))
    opt = _optimizer(top.get("optimizer"))
    precision = _choice(top.get("precision"), PRECISIONS, "precision") \
        if "precision" in top else "f64"
    return Experiment(name, source, str(robot), task, trainable, opt, precision)


def _positive(at: _At, unit: str) -> float:
    value = _number(at)
    if value <= 0:
        raise at.error(f"must be positive, got {value}", f"write a number > 0 {unit}".strip())
    return value


def _non_negative(at: _At) -> float:
    value = _number(at)
    if value < 0:
        raise at.error(f"must not be negative, got {value}", "write a number >= 0")
    return value


def _numbers(at: _At, n: int | None = None) -> tuple[float, ...]:
    values = tuple(_number(item) for item in _items(at, at.path.rsplit(".", 1)[-1]))
    if n is not None and len(values) != n:
        raise at.error(f"expected {n} numbers, got {len(values)}", f"write [{', '.join(['0'] * n)}]")
    return values


def _task(at: _At) -> Task:
    m = _Map(at, "task")
    type_at = m.require("type", f"add `type:` one of {', '.join(TASKS)}")
    kind = _choice(type_at, TASKS, "task type")
    m.only(_TASK_KEYS)
    readers = {"duration": lambda a: _positive(a, "[s]"), "target": lambda a: _numbers(a, 2),
               "tolerance": lambda a: _positive(a, "[m]"),
               "speed_tolerance": lambda a: _positive(a, "[m/s]"),
               "velocity_weight": _non_negative}
    values = {k: f(m.get(k)) for k, f in readers.items() if k in m}
    return Task(type=kind, **values)


def _scale(at: _At):
    """A positive number, or a list of them (one per component)."""
    import yaml
    if isinstance(at.node, yaml.SequenceNode):
        values = _numbers(at)
        bad = [v for v in values if v <= 0]
        if bad:
            raise at.error(f"scales must be positive, got {bad[0]}", "write numbers > 0")
        return values
    return _positive(at, "")


def _trainable(at: _At) -> tuple[Trainable, ...]:
    from ..engine.simulation import PARAM_DOCS  # the parameter names (no Taichi launch)
    m = _Map(at, "trainable")
    if not m._values:
        raise at.error("no trainable parameters", "name at least one, e.g. `init_vel: {}`")
    out = []
    for name in m._values:
        if name not in PARAM_DOCS:
            raise m.key_at(name).error(f"'{name}' is not a Simulation parameter",
                                       _did_you_mean(name, PARAM_DOCS))
        spec = m.get(name)
        if spec.node.tag.endswith("null"):
            out.append(Trainable(name))
            continue
        sm = _Map(spec, f"trainable.{name}").only(_TRAIN_KEYS)
        init = _numbers(sm.get("init")) if "init" in sm else None
        scale = _scale(sm.get("scale")) if "scale" in sm else 1.0
        out.append(Trainable(name, init, scale))
    return tuple(out)


def _optimizer(at: _At | None) -> Optimizer:
    if at is None:
        return Optimizer()
    m = _Map(at, "optimizer").only(_OPT_KEYS)
    values = {}
    if "type" in m:
        values["type"] = _choice(m.get("type"), OPTIMIZERS, "optimizer")
    for key in ("budget", "popsize", "seed"):
        if key in m:
            v = _integer(m.get(key))
            if v < (1 if key == "budget" else 0):
                raise m.get(key).error(f"must be {'>= 1' if key == 'budget' else '>= 0'}, got {v}")
            values[key] = v
    for key in ("lr", "sigma"):
        if key in m:
            values[key] = _positive(m.get(key), "")
    for key in ("beta1", "beta2"):
        if key in m:
            v = _number(m.get(key))
            if not 0 <= v < 1:
                raise m.get(key).error(f"must be in [0, 1), got {v}", "e.g. 0.9 or 0.999")
            values[key] = v
    if "lr_decay" in m:
        v = _number(m.get("lr_decay"))
        if not 0 < v <= 1:
            raise m.get("lr_decay").error(f"must be in (0, 1], got {v}", "e.g. 0.97, or 1 for none")
        values["lr_decay"] = v
    if "clip" in m:
        values["clip"] = _non_negative(m.get("clip"))
    if "stop_at_success" in m:
        from ..model.loader import _boolean
        values["stop_at_success"] = _boolean(m.get("stop_at_success"))
    return Optimizer(**values)
