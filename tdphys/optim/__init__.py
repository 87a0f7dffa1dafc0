"""Optimisation through physics (issue #3): experiment files, tasks, optimisers, runs.

    from tdphys.optim import load_experiment, run
    exp = load_experiment("experiments/ball_throw.yaml")
    result = run(exp, out="runs/ball_throw")          # see demos/optimize.py

Modules: experiment (YAML loading and validation), tasks (losses as Taichi kernels and task
metrics), optimizers (Adam, CMA-ES), runner (the loop), outputs (files of a run folder).
"""
from .experiment import Experiment, load_experiment
from .runner import RunResult, run

__all__ = ["Experiment", "load_experiment", "RunResult", "run"]
