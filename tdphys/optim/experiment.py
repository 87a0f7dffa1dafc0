"""Experiment files (docs/experiment-format.md): read, validate, and resolve into dataclasses.

Every problem raises tdphys.errors.ModelError naming the file, the line and the dotted key,
with a fix, exactly as robot files do (the YAML helpers are shared with the robot loader).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError
from ..model import limits
from ..paths import path_problem
from ..model.yamlread import At as _At
from ..model.yamlread import Map as _Map
from ..model.yamlread import boolean as _boolean
from ..model.yamlread import choice as _choice
from ..model.yamlread import compose as _compose
from ..model.yamlread import did_you_mean as _did_you_mean
from ..model.yamlread import integer as _integer
from ..model.yamlread import items as _items
from ..model.yamlread import number as _number
from ..model.yamlread import positive_int as _positive_int
from ..model.yamlread import read_text_file
from ..model.yamlread import string as _string

TASKS = ("ball_throw", "gait", "reach", "swing_up", "system_identification")
OPTIMIZERS = ("adam", "cmaes")
PRECISIONS = ("f32", "f64")
GAPS = ("squared", "absolute")   # task.gap (swing_up): the loss per step is gap^2 or |gap|
MAX_WORLDS = 100_000             # random targets or starts per update, held-out targets, popsize
MAX_BUDGET = 10**9               # simulations of one run
MAX_WIDTH = 16_384               # units of a layer, channels, memory cells


@dataclass(frozen=True)
class Trainable:
    """One trainable Simulation parameter (see engine/simulation.py PARAM_DOCS).

    name: parameter name; init: initial value broadcast to the parameter's per-world shape
    (None: the robot's value); scale: parameter units per optimiser unit, one number or one
    per component (broadcast like init) (the optimiser sees
    value / scale, so its step sizes mean the same for every parameter); index: which entries
    of the parameter's first axis (shapes, bodies, joints, motors) are trained (None: all;
    init and scale then broadcast to the selected entries); log: the optimiser sees
    ln(value) / scale, so the value stays positive (masses, sizes) and steps are relative."""

    name: str
    init: tuple[float, ...] | None = None
    scale: float | tuple[float, ...] = 1.0
    index: tuple[int, ...] | None = None   # first-axis entries trained (None: all)
    log: bool = False                      # optimise ln(value): stays positive


@dataclass(frozen=True)
class DesignVar:
    """A var of the robot file (docs/robot-format.md#vars) trained as a design variable: the
    robot is re-read with its value at every update, every Simulation parameter that depends
    on it follows, and its gradient is the chain rule through them (co-design of geometry).
    init: starting value (None: the file's); scale and log as for Trainable."""

    name: str
    init: float | None = None
    scale: float = 1.0
    log: bool = False


@dataclass(frozen=True)
class RandomTargets:
    """Reach targets drawn uniformly in the box [low, high] [m] (world): `batch` fresh ones
    per update (one world each), and a fixed held-out set of `held_out` targets (from `seed`)
    on which the final distance is measured every `eval_every` updates."""

    low: tuple[float, float, float]
    high: tuple[float, float, float]
    batch: int = 16
    held_out: int = 32
    seed: int = 0
    eval_every: int = 10


@dataclass(frozen=True)
class JointStart:
    """How far one joint's starting state is spread: its coordinate is moved from the robot
    file's pose by a uniform draw in `pos` [rad, or m for a slider] and its rate set to one in
    `vel` [rad/s or m/s] (tdphys/optim/starts.py)."""

    joint: str
    pos: tuple[float, float] = (0.0, 0.0)
    vel: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class RandomStarts:
    """Random initial states: every update simulates `batch` worlds; world 0 starts from the
    robot file's state (the one the task's metrics and success are measured on), the others
    from fresh random displacements of `joints` (JointStart each), drawn from `seed`."""

    joints: tuple[JointStart, ...]
    batch: int = 16
    seed: int = 0


@dataclass(frozen=True)
class Task:
    """type: task name; duration [s]; target [m] ((x, y) for ball_throw, (x, y, z) for
    reach); tolerance (success: [m] for ball_throw and reach, relative for
    system_identification); speed_tolerance [m/s] and velocity_weight [s^2] (ball_throw);
    body, direction (x, y) and target_speed [m/s] (gait); effector_body and effector_point [m]
    in that body's frame (reach, swing_up); truth: (parameter name, value) pairs
    (system_identification); target_height [m] and hold [s] (swing_up: the height to raise the
    effector to, and the final window its metric averages over); targets: random reach targets;
    starts: random initial states (gait, reach with a fixed target, swing_up); confirm [s]: a
    candidate that meets the criterion must meet it again in a rollout this long from the
    file's start (gait, reach with a fixed target, swing_up; None: no check); control_cost:
    weight c of c (1/T) sum_t |u(t)|^2 on the raw motor commands, added to the loss (gait,
    reach, swing_up); confirm_starts: random nudges of the file's start that the
    confirmation must also pass from (every world; None: world 0 only); home_body and
    home_cost: weight c [1/m^2] of c (1/T) sum_t |p_xy(t) - p_xy(0)|^2, the squared horizontal
    distance of that body's centre of mass from its place in the robot file, added to the
    loss (swing_up; "" and 0: none); gap: "squared" or "absolute", the swing-up loss's power
    of the height gap (swing_up). See docs/experiment-format.md."""

    type: str = "ball_throw"
    duration: float = 5.0
    target: tuple[float, ...] = (10.0, 0.0)
    tolerance: float = 0.01
    speed_tolerance: float = 0.01
    velocity_weight: float = 1.0
    body: str = ""
    direction: tuple[float, float] = (1.0, 0.0)
    target_speed: float = 1.17
    effector_body: str = ""
    effector_point: tuple[float, float, float] = (0.0, 0.0, 0.0)
    truth: tuple = ()
    target_height: float = 1.0
    hold: float = 1.0
    targets: RandomTargets | None = None
    starts: RandomStarts | None = None
    confirm: float | None = None
    confirm_starts: RandomStarts | None = None
    control_cost: float = 0.0
    gap: str = "squared"
    home_body: str = ""
    home_cost: float = 0.0


@dataclass(frozen=True)
class Optimizer:
    """type: adam | cmaes; budget: simulations at most; lr: Adam step [optimiser units];
    lr_decay: factor on lr per iteration;
    beta1, beta2: Adam moment decays; clip: gradient norm clip (0: none); clip_relative: clip
    also to this many times the median of recent gradient norms (0: off); sigma: CMA-ES initial
    step [optimiser units]; popsize: CMA-ES population (0: cma's default); seed: CMA-ES seed;
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


@dataclass(frozen=True)
class Experiment:
    """A validated experiment file: name; file (its path); robot (absolute robot path); task;
    trainable parameters; optimizer settings; precision (f32 | f64); controller; overrides:
    (parameter, values) pairs applied to the robot before training; init_from: absolute path
    of an earlier run folder whose trained parameters (params.npz) are the starting point, or
    None."""

    name: str
    file: str
    robot: str                                # absolute path of the robot YAML
    task: Task
    trainable: tuple[Trainable, ...]
    optimizer: Optimizer
    precision: str = "f64"
    controller: object = None                 # controllers.ControllerSpec or None
    overrides: tuple = ()                     # (parameter name, values) set before training
    design: tuple[DesignVar, ...] = ()        # robot-file vars trained with the rest
    init_from: str | None = None              # run folder to start from (warm start)


_TOP = {"name", "robot", "task", "trainable", "optimizer", "precision", "controller",
        "overrides", "design", "init_from"}
_TASK_KEYS = {
    "ball_throw": {"type", "duration", "target", "tolerance", "speed_tolerance",
                   "velocity_weight"},
    "gait": {"type", "duration", "body", "direction", "target_speed", "starts", "confirm",
             "confirm_starts", "control_cost"},
    "reach": {"type", "duration", "target", "targets", "tolerance", "effector", "starts",
              "confirm", "confirm_starts", "control_cost"},
    "swing_up": {"type", "duration", "target_height", "tolerance", "effector", "hold",
                 "starts", "confirm", "confirm_starts", "control_cost", "home", "gap"},
    "system_identification": {"type", "duration", "tolerance", "truth"},
}
_TRAIN_KEYS = {"init", "scale", "index", "log"}
_OPT_KEYS = {"type", "budget", "lr", "lr_decay", "beta1", "beta2", "clip", "clip_relative",
             "sigma", "popsize", "seed", "stop_at_success", "grad_decay"}
_CTRL_KEYS = {"type", "inputs", "hidden", "activation", "skip", "zero_output", "init_gain",
              "seed", "output_scale", "output_offset", "squash", "lr_scale", "action_repeat"}
_VISION_KEYS = {"camera", "conv", "grayscale", "frames", "frame_step", "standardize",   # vision
                "spatial_softmax", "motion", "conv_lr_scale", "memory", "cell",         # only
                "softmax_gain", "normalize", "normalize_rate"}
_MLP_ONLY = {"inputs", "skip"}                                       # not for type: vision
_CONV_KEYS = {"channels", "kernel", "stride", "pool", "pool_type"}
_INPUT_KEYS = {"clock": {"hz", "scale"}, "sensor": {"name", "scale"}, "target": {"scale"},
               "effector_to_target": {"scale"}, "effector_distance": {"scale"}}


def load_experiment(path: str | Path, values: dict[str, str] | None = None) -> Experiment:
    """Read and validate the experiment YAML at `path`; `values`: {key path: YAML text} set in
    the file's mapping first (`tdphys sweep --set`, tdphys/optim/key_paths.py), validated as
    if the file said so; an error then also names the values."""
    source = str(path)
    text = read_text_file(path, "experiment file")
    if not text.strip():
        raise ModelError(source, "", "the experiment file is empty",
                         "see docs/experiment-format.md for the keys", 1)
    root = _compose(text, source)
    if not values:
        return _experiment(root, source)
    from .key_paths import with_values
    edited = _At(source, "", with_values(root.node, values, source))
    try:
        return _experiment(edited, source)
    except ModelError as exc:
        raise _naming_values(exc, values) from None


def _naming_values(exc: ModelError, values: dict[str, str]) -> ModelError:
    """`exc` with the set values named after the file; an error at (or around) a set key
    loses its line number, which points into the file, not at the value."""
    given = " ".join(f"{k}={v}" for k, v in values.items())
    near = bool(exc.key) and any(exc.key == k or k.startswith((exc.key + ".", exc.key + "["))
                                 or exc.key.startswith((k + ".", k + "[")) for k in values)
    where = exc.file if near or exc.line is None else f"{exc.file}:{exc.line}"
    return ModelError(f"{where} (with --set {given})", exc.key, exc.problem, exc.fix)


def _experiment(root: _At, source: str) -> Experiment:
    """The Experiment of the file `source` whose YAML node tree is `root`."""
    top = _Map(root, "the experiment").only(_TOP)
    name = _string(top.get("name")) if "name" in top else Path(source).stem
    robot_at = top.require("robot", "add `robot: path/to/robot.yaml` (relative to this file)")
    robot = (Path(source).resolve().parent / _string(robot_at)).resolve()
    problem = path_problem(robot)
    if problem:
        raise robot_at.error(f"robot file '{robot}' {problem}",
                             "give the path of a robot YAML file, relative to the experiment "
                             "file")
    task = _task(top.require("task", "add `task: {type: ball_throw}`"))
    controller = _controller(top.get("controller")) if "controller" in top else None
    design = _design(top.get("design")) if "design" in top else ()
    if "trainable" in top:
        trainable = _trainable(top.get("trainable"))
    elif controller is not None or design:
        trainable = ()
    else:
        raise top.require("trainable", "add `trainable: {init_vel: {}}`, a `controller:` "
                                       "or `design:`")
    opt = _optimizer(top.get("optimizer"))
    precision = _choice(top.get("precision"), PRECISIONS, "precision") \
        if "precision" in top else "f64"
    if task.type == "system_identification":
        _check_truth(top.get("task").node, source, task, trainable)
    overrides = _overrides(top.get("overrides")) if "overrides" in top else ()
    init_from = _init_from(top.get("init_from"), source) if "init_from" in top else None
    return Experiment(name, source, str(robot), task, trainable, opt, precision, controller,
                      overrides, design, init_from)


def _init_from(at: _At, source: str) -> str:
    """The run folder (relative to the experiment file) whose params.npz starts the run; it
    need not exist yet (a curriculum's second file is read before its first stage has run):
    warm_start.check_source says so when a run starts."""
    return str((Path(source).resolve().parent / _string(at)).resolve())


def _design(at: _At) -> tuple[DesignVar, ...]:
    """{robot var: {init, scale, log}}: vars of the robot file trained as design variables."""
    m = _Map(at, "design")
    if not m._values:
        raise at.error("no design variables", "name at least one var of the robot file, "
                                               "e.g. `shin: {}`")
    out = []
    for name in m._values:
        spec = m.get(name)
        if spec.node.tag.endswith("null"):
            out.append(DesignVar(name))
            continue
        sm = _Map(spec, f"design.{name}").only({"init", "scale", "log"})
        init = _number(sm.get("init")) if "init" in sm else None
        scale = _positive(sm.get("scale"), "") if "scale" in sm else 1.0
        log = _boolean(sm.get("log")) if "log" in sm else False
        if log and init is not None and init <= 0:
            raise sm.get("init").error(f"log needs a positive value, got {init}",
                                       "give a positive `init`, or drop `log: true`")
        out.append(DesignVar(name, init, scale, log))
    return tuple(out)


def _overrides(at: _At) -> tuple:
    """{parameter: number or list}: Simulation parameters changed from the robot's values
    for this experiment (not trained), broadcast to the parameter's per-world shape."""
    m = _Map(at, "overrides")
    out = []
    for name in _parameter_names(m):
        v = m.get(name)
        out.append((name, _numbers(v) if _is_list(v) else (_number(v),)))
    return tuple(out)


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
    m.only(_TASK_KEYS[kind])
    readers = {"duration": lambda a: _positive(a, "[s]"),
               "target": lambda a: _numbers(a, 3 if kind == "reach" else 2),
               "tolerance": lambda a: _positive(a, "[m]"),
               "speed_tolerance": lambda a: _positive(a, "[m/s]"),
               "velocity_weight": _non_negative, "body": _string,
               "direction": lambda a: _direction(a),
               "target_speed": lambda a: _number(a), "target_height": _number,
               "hold": lambda a: _positive(a, "[s]"),
               "confirm": lambda a: _positive(a, "[s]"),
               "control_cost": _non_negative,
               "gap": lambda a: _choice(a, GAPS, "height gap form")}
    values = {k: f(m.get(k)) for k, f in readers.items() if k in m}
    if "confirm" in m:
        if values["confirm"] < values.get("duration", Task.duration):
            raise m.get("confirm").error(
                f"{values['confirm']:g} s is shorter than the task's duration",
                "give a confirmation rollout at least as long as `duration` (e.g. twice it)")
        if "targets" in m:
            raise m.key_at("confirm").error("random targets are judged on held-out targets, "
                                            "not on one longer rollout",
                                            "drop `confirm`, or give one fixed `target`")
    if kind == "reach":
        if "target" in m and "targets" in m:
            raise m.key_at("targets").error("both target and targets are given",
                                            "give one fixed `target` or random `targets`")
        if "targets" in m:
            values["targets"] = _random_targets(m.get("targets"))
        elif "target" not in m:
            m.require("target", "add `target: [x, y, z]` [m], or random `targets: {low: "
                                "[x, y, z], high: [x, y, z]}`")
    if "starts" in m:
        if "targets" in m:
            raise m.key_at("starts").error("random starts and random targets together",
                                           "give one of `starts` and `targets`")
        values["starts"] = _random_starts(m.get("starts"))
    if "confirm_starts" in m:
        if "confirm" not in m:
            raise m.key_at("confirm_starts").error(
                "nudged starts belong to the confirmation rollout, and there is none",
                "add `confirm: T` [s], or drop `confirm_starts`")
        values["confirm_starts"] = _random_starts(m.get("confirm_starts"),
                                                  "task.confirm_starts")
    if kind == "swing_up" and "target_height" not in m:
        m.require("target_height", "add `target_height: H` [m], the height to raise it to")
    if kind in ("reach", "swing_up"):
        e = _Map(m.require("effector", "add `effector: {body: NAME, point: [x, y, z]}`"),
                 "task.effector").only({"body", "point"})
        values["effector_body"] = _string(e.require("body", "name the body that carries the "
                                                            "effector point"))
        if "point" in e:
            values["effector_point"] = _numbers(e.get("point"), 3)
    if "home" in m:
        h = _Map(m.get("home"), "task.home").only({"body", "cost"})
        values["home_body"] = _string(h.require("body", "name the body to keep near its "
                                                        "place in the robot file"))
        values["home_cost"] = _non_negative(h.require("cost", "add `cost: c` [1/m^2], the "
                                                              "weight of its squared distance"))
    if kind == "system_identification":
        t = _Map(m.require("truth", "add `truth: {PARAMETER: value}` (the hidden values)"),
                 "task.truth")
        values["truth"] = tuple((name, _numbers(t.get(name))
                                 if _is_list(t.get(name)) else (_number(t.get(name)),))
                                for name in t._values)
    return Task(type=kind, **values)


def _size(at: _At, high: int, low: int = 1) -> int:
    """A whole number from `low` to `high` (a layer width, a count)."""
    value = _integer(at)
    if not low <= value <= high:
        raise at.error(f"must be a whole number from {low} to {high:,}, got {value:,}",
                       f"give a whole number from {low} to {high:,}")
    return value


def _seed(at: _At) -> int:
    """A random seed: a whole number from 0 to 2**32 - 1 (what numpy takes)."""
    value = _integer(at, limit=limits.MAX_SEED)
    if value < 0:
        raise at.error(f"a seed must be >= 0, got {value}",
                       f"give a whole number from 0 to {limits.MAX_SEED:,}")
    return value


def _random_targets(at: _At) -> RandomTargets:
    m = _Map(at, "task.targets").only({"low", "high", "batch", "held_out", "seed",
                                       "eval_every"})
    low = _numbers(m.require("low", "add `low: [x, y, z]` [m], the box's lower corner"), 3)
    high = _numbers(m.require("high", "add `high: [x, y, z]` [m], the box's upper corner"), 3)
    if any(h < lo for lo, h in zip(low, high)):
        raise m.get("high").error("high is below low on some axis",
                                  "give the box's corners as low <= high on every axis")
    counts = {}
    for key in ("batch", "held_out", "eval_every"):
        if key in m:
            counts[key] = _integer(m.get(key))
            if counts[key] < 1:
                raise m.get(key).error(f"must be at least 1, got {counts[key]}",
                                       "give a positive whole number")
            _size(m.get(key), MAX_WORLDS)
    if "seed" in m:
        counts["seed"] = _seed(m.get("seed"))
    return RandomTargets(low=low, high=high, **counts)


def _random_starts(at: _At, key: str = "task.starts") -> RandomStarts:
    m = _Map(at, key).only({"joints", "batch", "seed"})
    values = {}
    if "batch" in m:
        values["batch"] = _integer(m.get("batch"))
        if values["batch"] < 2:
            raise m.get("batch").error(f"must be at least 2, got {values['batch']}",
                                       "world 0 keeps the file's start: give 2 or more")
        _size(m.get("batch"), MAX_WORLDS)
    if "seed" in m:
        values["seed"] = _seed(m.get("seed"))
    j = _Map(m.require("joints", "add `joints: {JOINT: {pos: [lo, hi], vel: [lo, hi]}}`"),
             f"{key}.joints")
    joints = []
    for name in j._values:
        e = _Map(j.get(name), f"{key}.joints.{name}").only({"pos", "vel"})
        spread = {}
        for what, unit in (("pos", "[rad or m]"), ("vel", "[rad/s or m/s]")):
            if what in e:
                lo, hi = _numbers(e.get(what), 2)
                if hi < lo:
                    raise e.get(what).error(f"[lo, hi] with hi < lo: {[lo, hi]}",
                                            f"give lo <= hi {unit}")
                spread[what] = (lo, hi)
        if not spread:
            raise j.get(name).error("neither `pos` nor `vel` is given",
                                    "add `pos: [lo, hi]` [rad or m] and/or `vel: [lo, hi]`")
        joints.append(JointStart(joint=name, **spread))
    if not joints:
        raise m.get("joints").error("no joint is named", "add at least one joint")
    return RandomStarts(joints=tuple(joints), **values)


def _is_list(at: _At) -> bool:
    import yaml
    return isinstance(at.node, yaml.SequenceNode)


def _direction(at: _At) -> tuple[float, float]:
    d = _numbers(at, 2)
    if d[0] == 0 and d[1] == 0:
        raise at.error("the direction has length zero", "e.g. [1, 0] for +x")
    return d


def _check_truth(task_node, source: str, task: Task, trainable) -> None:
    """Every trained parameter has a truth and every truth is trained."""
    trained = {tr.name for tr in trainable}
    for name, _ in task.truth:
        if name not in trained:
            raise ModelError(source, f"task.truth.{name}", f"'{name}' is not trainable",
                             f"add `{name}: {{init: ...}}` under trainable, or drop it here")
    given = {name for name, _ in task.truth}
    for name in sorted(trained - given):
        raise ModelError(source, f"trainable.{name}", f"no truth for '{name}'",
                         f"add `{name}: VALUE` under task.truth (the value that generates "
                         "the recording)")


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


def _parameter_names(m: _Map) -> list[str]:
    """The keys of mapping m, each a Simulation parameter name (else a did-you-mean error)."""
    from ..engine.simulation import PARAM_DOCS  # the parameter names (no Taichi launch)
    for name in m._values:
        if name not in PARAM_DOCS:
            raise m.key_at(name).error(f"'{name}' is not a Simulation parameter",
                                       _did_you_mean(name, PARAM_DOCS))
    return list(m._values)


def _trainable(at: _At) -> tuple[Trainable, ...]:
    m = _Map(at, "trainable")
    if not m._values:
        raise at.error("no trainable parameters", "name at least one, e.g. `init_vel: {}`")
    from ..engine.simulation import SOLVER_PARAMS
    out = []
    for name in _parameter_names(m):
        if name in SOLVER_PARAMS:
            raise m.key_at(name).error(
                f"'{name}' is a solver setting: the rollout does not depend on it smoothly "
                "(its gradient is zero wherever it exists)", "set it under `overrides:`")
        spec = m.get(name)
        if spec.node.tag.endswith("null"):
            out.append(Trainable(name))
            continue
        sm = _Map(spec, f"trainable.{name}").only(_TRAIN_KEYS)
        init = _numbers(sm.get("init")) if "init" in sm else None
        scale = _scale(sm.get("scale")) if "scale" in sm else 1.0
        index = None
        if "index" in sm:
            index = tuple(_integer(a) for a in _items(sm.get("index"), "index"))
            if not index or min(index) < 0 or len(set(index)) != len(index):
                raise sm.get("index").error("index must list distinct entries >= 0",
                                            "e.g. [0, 2]")
        log = _boolean(sm.get("log")) if "log" in sm else False
        out.append(Trainable(name, init, scale, index, log))
    return tuple(out)


def _optimizer(at: _At | None) -> Optimizer:
    if at is None:
        return Optimizer()
    m = _Map(at, "optimizer").only(_OPT_KEYS)
    values = {}
    if "type" in m:
        values["type"] = _choice(m.get("type"), OPTIMIZERS, "optimizer")
    for key in ("budget", "popsize"):
        if key in m:
            v = _integer(m.get(key))
            low, high = (1, MAX_BUDGET) if key == "budget" else (0, MAX_WORLDS)
            if not low <= v <= high:
                raise m.get(key).error(f"must be from {low} to {high:,}, got {v:,}",
                                       f"give a whole number from {low} to {high:,}")
            values[key] = v
    if "seed" in m:
        v = _seed(m.get("seed"))
        if v < 1:       # cma.CMAOptions: seed 0 (or None) means a seed from the clock
            raise m.get("seed").error(f"must be >= 1, got {v}: the cma package reads 0 as "
                                      "'seed from the clock', so the run would not repeat",
                                      "e.g. 1")
        values["seed"] = v
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
    if "clip_relative" in m:
        v = _number(m.get("clip_relative"))
        if v != 0 and v < 1:
            raise m.get("clip_relative").error(
                f"must be 0 (off) or at least 1, got {v}: it clips to that many times the "
                "median recent gradient norm, so below 1 it would shrink typical gradients too",
                "e.g. 3")
        values["clip_relative"] = v
    if "grad_decay" in m:
        v = _number(m.get("grad_decay"))
        if not 0 < v <= 1:
            raise m.get("grad_decay").error(f"must be in (0, 1], got {v}",
                                            "e.g. 0.95, or 1 for the exact gradient")
        values["grad_decay"] = v
    if "stop_at_success" in m:
        values["stop_at_success"] = _boolean(m.get("stop_at_success"))
    return Optimizer(**values)


def _controller(at: _At):
    from .controllers import ACTIVATIONS, INPUT_KINDS, SQUASHES, ControllerInput, ControllerSpec
    m = _Map(at, "controller")
    kind = _choice(m.get("type"), ("mlp", "open_loop", "vision"), "controller type") \
        if "type" in m else "mlp"
    if kind == "vision":
        m.only((_CTRL_KEYS - _MLP_ONLY) | _VISION_KEYS,
               {k: "not a key of a vision controller: it sees the camera image only; remove it"
                for k in _MLP_ONLY})
    else:
        m.only(_CTRL_KEYS, {k: f"only a `type: vision` controller has it (this one is {kind})"
                            for k in _VISION_KEYS})
    values: dict = {"type": kind}
    if kind == "mlp":
        inputs_at = m.require("inputs", "add `inputs: [{clock: {hz: 1.5}}]`")
        inputs = []
        for i, item in enumerate(_items(inputs_at, "inputs")):
            im = _Map(item, f"controller.inputs[{i}]")
            if len(im._values) != 1:
                raise item.error("each input is a mapping with one key, its kind",
                                 f"e.g. `- clock: {{hz: 1.5}}`; kinds: {', '.join(INPUT_KINDS)}")
            (ikind,) = im._values
            if ikind not in INPUT_KINDS:
                raise im.key_at(ikind).error(f"unknown input kind '{ikind}'",
                                             _did_you_mean(ikind, INPUT_KINDS))
            spec = im.get(ikind)
            where = f"controller.inputs[{i}].{ikind}"
            if spec.node.tag.endswith("null"):
                if ikind in ("clock", "sensor"):
                    raise spec.error(f"a {ikind} input needs settings",
                                     "write `clock: {hz: 1.5}`" if ikind == "clock" else
                                     "write `sensor: {name: SENSOR}`")
                opts = None
            else:
                opts = _Map(spec, where).only(_INPUT_KEYS[ikind])
            args = {}
            if ikind == "clock":
                args["hz"] = _positive(opts.require("hz", "add `hz: 1.5` [1/s]"), "[1/s]")
            if ikind == "sensor":
                args["name"] = _string(opts.require("name", "name a sensor of the robot"))
            if opts is not None and "scale" in opts:
                args["scale"] = _number(opts.get("scale"))
            inputs.append(ControllerInput(ikind, **args))
        values["inputs"] = tuple(inputs)
    if kind == "vision":
        values.update(_vision(m))
    if kind in ("mlp", "vision"):
        if "hidden" in m:
            items = _items(m.get("hidden"), "hidden")
            if len(items) > 64:
                raise m.get("hidden").error(f"{len(items)} layers; at most 64",
                                            "e.g. [128, 128]")
            hidden = tuple(_integer(a) for a in items)
            if any(h < 1 for h in hidden):
                raise m.get("hidden").error("layer widths must be >= 1", "e.g. [128, 128]")
            values["hidden"] = tuple(_size(a, MAX_WIDTH) for a in items)
        if "activation" in m:
            values["activation"] = _choice(m.get("activation"), ACTIVATIONS, "activation")
        if "squash" in m:
            values["squash"] = _choice(m.get("squash"), SQUASHES, "squash")
        if "action_repeat" in m:
            values["action_repeat"] = _positive_int(m.get("action_repeat"))
    elif "action_repeat" in m:
        raise m.key_at("action_repeat").error(
            "an open_loop controller has one trainable command per step",
            "remove `action_repeat` (or use an mlp or vision controller)")
    for key in ("skip", "zero_output"):
        if key in m:
            values[key] = _boolean(m.get(key))
    for key in ("init_gain", "lr_scale"):
        if key in m:
            values[key] = _positive(m.get(key), "")
    if "seed" in m:
        values["seed"] = _seed(m.get("seed"))
    for key in ("output_scale", "output_offset"):
        if key in m:
            at_k = m.get(key)
            values[key] = _numbers(at_k) if _is_list(at_k) else _number(at_k)
    return ControllerSpec(**values)


def _vision(m: _Map) -> dict:
    """The keys only a vision controller has: camera, conv, grayscale, frames, frame_step,
    standardize, spatial_softmax, motion, conv_lr_scale, softmax_gain, normalize,
    normalize_rate, memory, cell."""
    from .controllers import ConvLayer
    from .vision_controller import CELLS, POOL_TYPES
    values: dict = {}
    conv_at = m.require("conv", "add `conv: [{channels: 8, kernel: 5, stride: 2, pool: 2}]`")
    layers = []
    for i, item in enumerate(_items(conv_at, "conv", allow_empty=False)):
        lm = _Map(item, f"controller.conv[{i}]").only(_CONV_KEYS)
        args = {"channels": _size(lm.require("channels", "add `channels: 8` (its feature "
                                                         "maps)"), MAX_WIDTH)}
        for key in ("kernel", "stride", "pool"):
            if key in lm:
                args[key] = _size(lm.get(key), limits.CAMERA_PIXELS[1])
        if "pool_type" in lm:
            args["pool_type"] = _choice(lm.get("pool_type"), POOL_TYPES, "pool type")
        layers.append(ConvLayer(**args))
    values["conv"] = tuple(layers)
    if "camera" in m:
        values["camera"] = _string(m.get("camera"))
    if "grayscale" in m:
        values["grayscale"] = _boolean(m.get("grayscale"))
    if "frames" in m:
        values["frames"] = _size(m.get("frames"), 64)
    if "frame_step" in m:
        values["frame_step"] = _size(m.get("frame_step"), limits.MAX_STEPS)
    if "standardize" in m:
        values["standardize"] = _boolean(m.get("standardize"))
    if "spatial_softmax" in m:
        values["spatial_softmax"] = _boolean(m.get("spatial_softmax"))
    if "motion" in m:
        values["motion"] = _boolean(m.get("motion"))
    if "conv_lr_scale" in m:
        values["conv_lr_scale"] = _positive(m.get("conv_lr_scale"), "")
    if "softmax_gain" in m:
        at = m.get("softmax_gain")
        values["softmax_gain"] = _positive(at, "")
        if not values.get("spatial_softmax"):
            raise at.error("softmax_gain scales the last conv layer of spatial_softmax, "
                           "which is off", "add `spatial_softmax: true`, or drop softmax_gain")
    if "normalize" in m:
        values["normalize"] = _boolean(m.get("normalize"))
    if "normalize_rate" in m:
        at = m.get("normalize_rate")
        rate = _number(at)
        if not 0.0 <= rate <= 1.0:
            raise at.error(f"must be between 0 and 1, got {rate:g}", "use e.g. 0.1 (each "
                           "update's rollout weighs 10 % in the statistics), or 0 to keep "
                           "the first rollout's")
        values["normalize_rate"] = rate
    if "memory" in m:
        values["memory"] = _size(m.get("memory"), MAX_WIDTH, low=0)
    if "cell" in m:
        values["cell"] = _choice(m.get("cell"), CELLS, "memory cell")
    return values


def check_against_robot(exp: Experiment, robot) -> None:
    """The names and sizes an experiment takes from its robot: task bodies, sensors read by
    the controller, one output scale/offset per motor, a vision controller's camera and its
    conv layers fitting that camera's image. Raises ModelError naming the key."""
    bodies = [b.name for b in robot.bodies]
    sensors = [s.name for s in robot.sensors]
    n_motors = sum(len(j.motors) for j in robot.joints)

    def missing(key: str, what: str, name: str, known: list) -> ModelError:
        return ModelError(exp.file, key, f"the robot {Path(exp.robot).name} has no {what} "
                                         f"'{name}'", _did_you_mean(name, known))

    for key, seconds in (("task.duration", exp.task.duration), ("task.confirm", exp.task.confirm)):
        if seconds is not None and seconds / robot.solver.dt > limits.MAX_STEPS:
            raise ModelError(exp.file, key, f"{seconds:g} s is {seconds / robot.solver.dt:.3g} "
                             f"steps of the robot's solver.dt ({robot.solver.dt:g} s); a "
                             f"rollout has at most {limits.MAX_STEPS:,}",
                             f"give at most {limits.MAX_STEPS * robot.solver.dt:g} s")
    declared = [name for name, _ in getattr(robot, "vars", ())]
    for d in exp.design:
        if d.name not in declared:
            raise ModelError(exp.file, f"design.{d.name}", f"the robot {Path(exp.robot).name} "
                             f"has no var '{d.name}'", _did_you_mean(d.name, declared)
                             if declared else "declare it under `vars:` in the robot file "
                             "and use it in the numbers it sets (docs/robot-format.md#vars)")
        lo, hi = next(((lo, hi) for n, lo, hi in robot.var_ranges if n == d.name),
                      (-math.inf, math.inf))
        if d.init is not None and not lo <= d.init <= hi:
            raise ModelError(exp.file, f"design.{d.name}.init", f"{d.init:g} is outside the "
                             f"range [{lo:g}, {hi:g}] the robot file gives '{d.name}'",
                             f"give an init from {lo:g} to {hi:g}")
        if d.log and d.init is None and dict(robot.vars)[d.name] <= 0:
            raise ModelError(exp.file, f"design.{d.name}.log", "log needs a positive value, "
                             f"and the robot file sets {dict(robot.vars)[d.name]:g}",
                             "give a positive `init`, or drop `log: true`")
    if exp.design and exp.task.starts is not None:
        raise ModelError(exp.file, "design", "random starts are drawn for the robot file's "
                         "geometry, which `design` changes", "drop task.starts or design")
    t = exp.task
    if t.type == "gait" and t.body and t.body not in bodies:
        raise missing("task.body", "body", t.body, bodies)
    if t.type in ("reach", "swing_up") and t.effector_body not in bodies:
        raise missing("task.effector.body", "body", t.effector_body, bodies)
    if t.home_body and t.home_body not in bodies:
        raise missing("task.home.body", "body", t.home_body, bodies)
    if t.starts is not None:
        _check_starts(exp, robot, t.starts, "task.starts")
    if t.confirm_starts is not None:
        _check_starts(exp, robot, t.confirm_starts, "task.confirm_starts")
    c = exp.controller
    seeing = ("target", "effector_to_target", "effector_distance")
    if t.targets is not None and (c is None or not any(i.kind in seeing for i in c.inputs)):
        raise ModelError(exp.file, "task.targets", "random targets need a controller that "
                         "sees the target", "add a controller input `target`, "
                         "`effector_to_target` or `effector_distance`")
    if c is None:
        return
    if n_motors == 0:
        raise ModelError(exp.file, "controller", f"the robot {Path(exp.robot).name} has no "
                         "motors to control", "add motors to its joints, or remove the "
                                              "controller")
    for i, inp in enumerate(c.inputs):
        if inp.kind == "sensor" and inp.name not in sensors:
            raise missing(f"controller.inputs[{i}].sensor.name", "sensor", inp.name, sensors)
        if inp.kind in ("target", "effector_to_target", "effector_distance") \
                and t.type != "reach":
            raise ModelError(exp.file, f"controller.inputs[{i}]", f"'{inp.kind}' needs a "
                             f"reach task (this task is {t.type})", "use clock or sensor inputs")
    for key in ("output_scale", "output_offset"):
        value = getattr(c, key)
        if isinstance(value, tuple) and len(value) not in (1, n_motors):
            raise ModelError(exp.file, f"controller.{key}", f"{len(value)} numbers for "
                             f"{n_motors} motors", f"give one number, or {n_motors}")
    if c.type == "vision":
        _check_camera(exp, robot)


def _check_starts(exp: Experiment, robot, starts: RandomStarts, at: str) -> None:
    """Random starts (`at`: task.starts or task.confirm_starts) name hinge or slider joints of
    the robot, and the experiment trains no initial state (the starts set it)."""
    joints = {j.name: j for j in robot.joints}
    for js in starts.joints:
        key = f"{at}.joints.{js.joint}"
        if js.joint not in joints:
            raise ModelError(exp.file, key, f"the robot {Path(exp.robot).name} has no joint "
                             f"'{js.joint}'", _did_you_mean(js.joint, list(joints)))
        if joints[js.joint].kind not in ("hinge", "slider"):
            raise ModelError(exp.file, key, f"joint '{js.joint}' is a "
                             f"{joints[js.joint].kind} joint; random starts move hinge and "
                             "slider joints only", "name a hinge or slider joint")
    state = ("init_pos", "init_quat", "init_vel", "init_omega")
    for what, names in (("trainable", [tr.name for tr in exp.trainable]),
                        ("overrides", [name for name, _ in exp.overrides])):
        for name in names:
            if name in state:
                raise ModelError(exp.file, at, "random starts set the initial "
                                 f"state from the robot file, which `{what}: {name}` also "
                                 "sets", "drop one of them (or change the robot file)")


def _check_camera(exp: Experiment, robot) -> None:
    """A vision controller's camera exists in the robot and its conv layers fit the image."""
    from .vision_controller import ConvDoesNotFit, conv_geometry
    c = exp.controller
    cameras = getattr(robot, "cameras", ())
    names = [cam.name for cam in cameras]
    if not names:
        raise ModelError(exp.file, "controller", f"the robot {Path(exp.robot).name} has no "
                         "camera for a vision controller", "add one under `cameras:` in the "
                                                           "robot file (docs/robot-format.md)")
    if c.camera and c.camera not in names:
        raise ModelError(exp.file, "controller.camera", f"the robot {Path(exp.robot).name} "
                         f"has no camera '{c.camera}'", _did_you_mean(c.camera, names))
    cam = cameras[names.index(c.camera) if c.camera else 0]
    try:
        conv_geometry(c.conv, c.frames * (1 if c.grayscale else 3), cam.height, cam.width,
                      c.spatial_softmax)
    except ConvDoesNotFit as exc:
        raise ModelError(exp.file, f"controller.conv[{exc.layer}]",
                         f"{exc.message} (camera '{cam.name}' is {cam.height} x {cam.width})",
                         exc.fix) from None
