"""Optimisation through physics: experiment files, the parameter map, Adam and CMA-ES loops,
the run, checkpoints and the run folder's files.

    from tdphys.optim import load_experiment, run
    exp = load_experiment("experiments/ball_throw.yaml")
    result = run(exp)                                  # see demos/optimize.py

Modules, in the order data flows through them:
    experiment    the file's top level; its sections go to tasks/, control/, params,
                  optimizers (each parses its own)
    params        trainable / design / overrides sections; ParameterMap (optimiser x <->
                  controller weights, Simulation parameters, design vars); design: co-design
    builds        Builds: the simulations a process built, kept for reuse
    rollouts      one rollout and its loss (taped or not), the random worlds of an update
    optimizers    the optimizer section; Adam's update; CMA-ES and its state as data
    adam_loop, cmaes_loop   the two optimisation loops; result: RunResult and recording
    confirm       task.confirm: a success must hold again in a longer rollout
    runner        run(), replay(), replay_nudged()
    checkpoints   state.npz: --resume; warm_start: init_from
    outputs       the files of a run folder
    key_paths     `--set KEY=VALUE` edits of a file's node tree
"""

from .experiment import Experiment, load_experiment
from .result import RunResult
from .runner import run

__all__ = ["Experiment", "load_experiment", "RunResult", "run"]
