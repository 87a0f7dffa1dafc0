"""Tasks: what a rollout is scored on. One module per task, each with its file section
(a TaskConfig dataclass, its keys and its parser) and its Task (loss kernel and metrics);
base.py holds the interface, sampling.py the random starts and targets.

    config = parse_task(at)                  # the `task:` section of an experiment file
    task = make_task(config, sim)            # task.loss_kernel(), task.metrics(), ...
"""

from __future__ import annotations

from ..model.yamlread import At, Map, choice
from . import ball_throw, gait, reach, swing_up, system_identification
from .base import Task, TaskConfig
from .sampling import JointStart, RandomStarts, RandomTargets

_MODULES = {
    "ball_throw": ball_throw,
    "gait": gait,
    "reach": reach,
    "swing_up": swing_up,
    "system_identification": system_identification,
}
TASKS = tuple(_MODULES)
TASK_CLASSES = {
    "ball_throw": ball_throw.BallThrow,
    "gait": gait.Gait,
    "reach": reach.Reach,
    "swing_up": swing_up.SwingUp,
    "system_identification": system_identification.SystemIdentification,
}


def parse_task(at: At) -> TaskConfig:
    """The TaskConfig of an experiment file's `task:` section; ModelError naming the key."""
    m = Map(at, "task")
    type_at = m.require("type", f"add `type:` one of {', '.join(TASKS)}")
    module = _MODULES[choice(type_at, TASKS, "task type")]
    m.only(module.KEYS)
    return module.parse(m)


def make_task(config: TaskConfig, sim, trainable=()) -> Task:
    """The Task of `config` for `sim` (system identification also needs the trainable
    parameters, whose selected entries its truth values fill)."""
    if config.type == "system_identification":
        return TASK_CLASSES[config.type](config, sim, trainable)
    return TASK_CLASSES[config.type](config, sim)


__all__ = [
    "TASKS",
    "TASK_CLASSES",
    "JointStart",
    "RandomStarts",
    "RandomTargets",
    "Task",
    "TaskConfig",
    "make_task",
    "parse_task",
]
