"""Time the engine on a robot: by default the 17-body, 16-motor quadruped
(robots/quadruped17.yaml), the benchmark of Degrave et al.

Prints, per batch size: forward seconds for --steps steps, forward + backward seconds (a taped
rollout with a loss on the final torso height), microseconds per robot-step, and the first
(compiling) run apart from the warm ones. Then start-up: a fresh process that imports
tdphys, loads the robot and returns its first 10-step rollout (forward, and taped), once with an
empty kernel cache (cold) and once with the cache that run left (warm). --json prints one JSON
object per row. The figures are for reading, not for pass/fail: they move with the machine and
whatever else runs on it.

    tdphys bench                                 # batches 1 and 128, 1000 steps, f32, CPU
    tdphys bench --batches 1,16 --steps 200 --no-startup
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..argtypes import MAX_BATCH, MAX_STEPS, whole
from . import ARCHS, BAD_INPUT, CHECKOUT, exit_codes

EXIT_CODES = exit_codes((0, "measured"), BAD_INPUT)

_STARTUP = """
import sys, time, taichi as ti, tdphys
t0 = float(sys.argv[1])
tdphys.init(sys.argv[3], sys.argv[4])
sim = tdphys.Simulation(tdphys.load(sys.argv[2]), batch=1, steps=10)
sim.rollout()
forward = time.time() - t0
with sim.tape():
    sim.rollout(check=False)
print(forward, time.time() - t0)
"""


def batches(text: str) -> list[int]:
    """An argparse type: comma-separated batch sizes, e.g. 1,128."""
    one = whole(1, MAX_BATCH, "a batch size")
    try:
        return [one(b) for b in text.split(",")]
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{text}: {exc}; e.g. --batches 1,128") from None


batches.__name__ = "batch list"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--robot",
        default=str(CHECKOUT / "robots" / "quadruped17.yaml"),
        help="robot YAML file (default: robots/quadruped17.yaml)",
    )
    p.add_argument(
        "--steps", type=whole(1, MAX_STEPS), default=1000, help="steps of solver.dt per rollout"
    )
    p.add_argument(
        "--batches",
        type=batches,
        default=[1, 128],
        metavar="B[,B...]",
        help="batch sizes, one row each (default: 1,128)",
    )
    p.add_argument(
        "--arch",
        default="cpu",
        choices=ARCHS,
        help="where the kernels run (auto: a GPU if there is one)",
    )
    p.add_argument(
        "--precision",
        default="f32",
        choices=["f32", "f64"],
        help="floating-point width of the simulation",
    )
    p.add_argument("--no-backward", action="store_true", help="time the forward pass only")
    p.add_argument(
        "--no-startup",
        action="store_true",
        help="skip the cold and warm start-up of a fresh process",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per row")


def startup(robot: str, arch: str, precision: str, cache: str) -> tuple[float, float]:
    """(seconds to the first forward rollout, to the first taped one) in a new process that
    imports this tdphys and keeps its kernel cache in `cache`."""
    import tdphys

    package_root = str(Path(tdphys.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, TI_OFFLINE_CACHE_FILE_PATH=cache, PYTHONPATH=path)
    out = subprocess.run(
        [sys.executable, "-c", _STARTUP, repr(time.time()), robot, arch, precision],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    forward, taped = out.stdout.split()[-2:]
    return float(forward), float(taped)


def run(args) -> int:
    """Carry out a parsed bench command; returns the exit status (bad input raises
    TdphysError, which the caller prints and exits 2 on)."""
    t0 = time.perf_counter()
    import taichi as ti

    import tdphys

    robot = tdphys.load(args.robot)  # a bad file stops here, before Taichi starts
    tdphys.init(args.arch, args.precision)
    import_s = time.perf_counter() - t0
    for batch in args.batches:
        sim = tdphys.Simulation(robot, batch=batch, steps=args.steps)

        @ti.kernel
        def loss():
            for w in range(batch):  # the final torso height [m], summed over the worlds
                torso = sim.state.pos[args.steps, w, 0]  # an entry first (tdphys/kernel_rules.py)
                sim.loss[None] += torso[2]

        t = time.perf_counter()
        sim.rollout()
        first = time.perf_counter() - t
        t = time.perf_counter()
        sim.rollout()
        fwd = time.perf_counter() - t
        row = {
            "robot": robot.name,
            "arch": args.arch,
            "precision": args.precision,
            "batch": batch,
            "steps": args.steps,
            "bodies": sim.n_bodies,
            "rows": sim.n_rows,
            "import_init_s": round(import_s, 2),
            "first_forward_s": round(first, 2),
            "forward_s": round(fwd, 3),
            "us_per_robot_step": round(fwd / (batch * args.steps) * 1e6, 2),
        }
        if not args.no_backward:
            t = time.perf_counter()
            with sim.tape():
                sim.rollout(check=False)
                loss()
            first_bw = time.perf_counter() - t
            t = time.perf_counter()
            with sim.tape():
                sim.rollout(check=False)
                loss()
            row.update(
                first_forward_backward_s=round(first_bw, 2),
                forward_backward_s=round(time.perf_counter() - t, 3),
            )
        row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        _print(row, args.json)
    if not args.no_startup:
        with tempfile.TemporaryDirectory() as cache:
            cold = startup(args.robot, args.arch, args.precision, cache)
            warm = startup(args.robot, args.arch, args.precision, cache)
        _print(
            {
                "robot": robot.name,
                "arch": args.arch,
                "precision": args.precision,
                "cold_startup_s": round(cold[0], 2),
                "cold_startup_taped_s": round(cold[1], 2),
                "warm_startup_s": round(warm[0], 2),
                "warm_startup_taped_s": round(warm[1], 2),
            },
            args.json,
        )
    return 0


def _print(row: dict, as_json: bool) -> None:
    print(json.dumps(row) if as_json else "  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
