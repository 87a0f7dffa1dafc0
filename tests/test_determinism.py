"""Bit-reproducible CPU runs (docs/determinism.md): every sum on the tape has a fixed order, so
the same command gives the same history.json and metrics.json, bit for bit, however many
threads Taichi runs; and a controller whose weights a batch of worlds shares gets the same
gradient on every rollout."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.taichi_per_module  # the module-scoped fixture holds fields

ROOT = Path(__file__).resolve().parents[1]
TIMINGS = ("wall_s", "first_eval_s")  # the only entries that may differ between runs

# cart_swing_up.yaml made small: 8 worlds from random starts share one MLP (its weights'
# adjoints come from every world), 150 steps (every loss loop has 1200 terms, which Taichi
# would cut at other places for 2 and 3 threads), home and control costs, two Adam updates
EXPERIMENT = """name: determinism
robot: {robot}
precision: f64
task:
  type: swing_up
  duration: 3.0
  target_height: 1.8
  effector: {{body: pole, point: [0, 0, -0.8]}}
  tolerance: 0.05
  hold: 1.0
  gap: absolute
  home: {{body: cart, cost: 0.05}}
  control_cost: 0.001
  starts:
    batch: 8
    joints:
      hinge: {{pos: [-3.14159, 3.14159], vel: [-4, 4]}}
      rail: {{pos: [-1.2, 1.2], vel: [-1, 1]}}
controller:
  type: mlp
  inputs:
    - sensor: {{name: cart_x}}
    - sensor: {{name: pole_offset, scale: 2.0}}
    - sensor: {{name: pole_rate, scale: 0.1}}
    - clock: {{hz: 0.5}}
  hidden: [32, 32]
  skip: true
  zero_output: false
  seed: 1
optimizer: {{type: adam, budget: 16, lr: 0.003, clip: 1.0, grad_decay: 0.9}}
"""


def _optimize(experiment: Path, out: Path, threads: int) -> dict:
    """`python demos/optimize.py` (this checkout's tdphys) in a fresh process with `threads`
    Taichi threads: its history.json and metrics.json without the wall times."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, TI_CPU_MAX_NUM_THREADS=str(threads), PYTHONPATH=path)
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "demos" / "optimize.py"),
            str(experiment),
            "--out",
            str(out),
            "--no-video",
            "--quiet",
            "--checkpoint-min",
            "0",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode in (0, 1), done.stderr[-3000:]  # 1: the criterion not met
    history = json.loads((out / "history.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    return {
        "history": [{k: v for k, v in entry.items() if k not in TIMINGS} for entry in history],
        "metrics": {k: v for k, v in metrics.items() if k not in TIMINGS},
    }


@pytest.mark.slow
def test_the_same_command_gives_the_same_run_bit_for_bit(tmp_path):
    """Two runs with 2 threads and one with 3 write identical histories and metrics (every
    loss, gradient norm and metric of every update, to the last bit)."""
    experiment = tmp_path / "determinism.yaml"
    experiment.write_text(EXPERIMENT.format(robot=ROOT / "robots" / "cart_pendulum.yaml"))
    runs = [
        _optimize(experiment, tmp_path / f"run{k}", threads) for k, threads in enumerate((2, 2, 3))
    ]
    assert len(runs[0]["history"]) == 2 and runs[0]["history"][1]["grad_norm"] > 0
    for run in runs[1:]:
        assert run["history"] == runs[0]["history"]
        assert run["metrics"] == runs[0]["metrics"]


@pytest.fixture(scope="module")
def shared_mlp(backend64):
    """8 arm worlds, each reaching for its own target, driven by one MLP (parameter set 1:
    every world reads the same weights) on a clock and the target, evaluated for all 100
    steps in one launch."""
    import tdphys
    from tdphys.control.mlp import MLP, ControllerInput, MLPSpec
    from tdphys.tasks.reach import Reach, ReachConfig

    sim = tdphys.Simulation(tdphys.load(ROOT / "robots" / "arm.yaml"), batch=8, steps=100)
    task = Reach(
        ReachConfig(
            target=(0.5, 0.5, 0.5), effector_body="forearm", effector_point=(0.5, 0.0, 0.0)
        ),
        sim,
    )
    task.set_targets(np.random.default_rng(0).uniform(-0.6, 0.6, (8, 3)) + [0, 0, 0.6])
    spec = MLPSpec(
        inputs=(ControllerInput("target"), ControllerInput("clock", 1.0)),
        hidden=(32, 32),
        skip=True,
        zero_output=False,
        seed=2,
    )
    return sim, task, MLP(spec, sim, task, param_sets=1)


@pytest.mark.slow
def test_shared_weights_get_the_same_gradient_every_rollout(shared_mlp):
    """Three taped rollouts from the same weights give the same loss, weight gradient and
    every world's parameter gradients, bit for bit: the adjoints of weights read by every
    world (and of the state read by every feature) add up in one order."""
    sim, task, ctl = shared_mlp
    assert ctl.P == 1 and not ctl.per_step
    results = []
    for _ in range(3):
        ctl.set(ctl.theta0)
        task.reset()
        with sim.tape(ctl):
            ctl.rollout()
            task.loss_kernel()
        results.append((float(sim.loss[None]), ctl.grad(), sim.param_grads()))
    loss, grad, params = results[0]
    assert np.abs(grad).max() > 0 and np.abs(params["init_pos"]).max() > 0
    for other in results[1:]:
        assert other[0] == loss
        assert np.array_equal(other[1], grad)
        assert all(np.array_equal(other[2][name], params[name]) for name in params)
