"""The main demo: train an experiment through physics, headless, and leave a video and a plot.

    python demos/optimize.py                                   # the ball throw, Adam
    python demos/optimize.py experiments/quadruped_gait.yaml   # a clock-driven MLP gait
    python demos/optimize.py experiments/ball_throw.yaml --optimizer cmaes --budget 3000

The same as `tdphys optimize` (tdphys/commands/optimize.py; `--help` lists every option).
It leaves runs/<experiment name>/ with video.mp4, curve.png (loss and the task's metric
against simulations and wall time), metrics.json, params.json/.npz, history.json,
trajectory.npz (replay it: `tdphys view runs/ball_throw`), controls.npy, state.npz and
run.json. Exit status: 0 when the task's success criterion is met, 1 when not, 2 on bad
input, 130 when stopped before the first simulation.
"""

import sys

from tdphys.commands.optimize import main

if __name__ == "__main__":
    sys.exit(main(prog="demos/optimize.py"))
