"""task.confirm: a candidate that meets the task's criterion must meet it again in a longer
rollout (and, with task.confirm_starts, from nudged starts) before it counts as a success."""

from __future__ import annotations

import numpy as np

from ..errors import SimulationDiverged
from .rollouts import rollouts


class Confirm:
    """A candidate that meets the task's criterion is rolled out again from the file's start
    for `confirm` seconds, and succeeds only if that rollout meets the criterion too (a
    swing-up must still hold at the end of the longer rollout). With task.confirm_starts the
    confirmation also starts batch - 1 worlds from small nudges of that start, and every
    world must meet the criterion (a pass that only the exact start gives, in a chaotic
    rollout, is luck). These rollouts are checks, not training: they are not counted as
    simulations. World 0's metrics join the candidate's, prefixed `confirm_`, with
    `confirmed` (true or false) and `confirm_s`; with nudges also `confirm_passed` and
    `confirm_worlds` (how many worlds met the criterion, of how many). `builds`: where the
    confirmation's simulation is built and kept."""

    def __init__(self, exp, robot, builds):
        self.exp, self.robot, self.builds = exp, robot, builds

    def __call__(self, task, metrics: dict, x: np.ndarray) -> bool:
        """Whether the candidate x with training metrics `metrics` succeeds; adds the
        confirmation's metrics to `metrics` when one ran."""
        if not task.success(metrics):
            return False
        if self.exp.task.confirm is None:
            return True
        duration = self.exp.task.confirm
        try:
            worlds, _, _ = rollouts(
                self.exp, self.robot, x, duration, self.exp.task.confirm_starts, self.builds
            )
        except SimulationDiverged:
            metrics.update(confirmed=False, confirm_s=float(duration))
            return False
        passed = sum(bool(task.success(m)) for m in worlds)
        ok = passed == len(worlds)
        metrics.update(
            {f"confirm_{k}": v for k, v in worlds[0].items()},
            confirmed=ok,
            confirm_s=float(duration),
        )
        if self.exp.task.confirm_starts is not None:
            metrics.update(confirm_passed=passed, confirm_worlds=len(worlds))
        return ok
