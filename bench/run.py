"""Speed of the 17-body, 16-motor quadruped (robots/quadruped17.yaml), the paper's benchmark.

Prints, per batch size: forward seconds for --steps steps, forward+backward seconds (a taped
rollout with a loss on the final torso height), microseconds per robot-step, and the first
(compiling) run separately from the warm ones. Then start-up: a fresh process that imports
tdphys, loads the robot and returns its first 10-step rollout (forward, and taped), once with an
empty kernel cache (cold) and once with the cache that run left (warm).
`--json` prints one JSON object per row. Timings are for information only; no test asserts them.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

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


def startup(robot: str, arch: str, precision: str, cache: str) -> tuple:
    """(seconds to the first forward rollout, to the first taped one) in a new process."""
    env = dict(os.environ, TI_OFFLINE_CACHE_FILE_PATH=cache)
    out = subprocess.run([sys.executable, "-c", _STARTUP, repr(time.time()), robot, arch,
                          precision], env=env, capture_output=True, text=True, check=True)
    forward, taped = out.stdout.split()[-2:]
    return float(forward), float(taped)


def main():
    from tdphys.argtypes import MAX_STEPS, whole
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--robot", default=str(ROOT / "robots" / "quadruped17.yaml"))
    p.add_argument("--steps", type=whole(1, MAX_STEPS), default=1000)
    p.add_argument("--batches", default="1,128")
    p.add_argument("--arch", default="cpu")
    p.add_argument("--precision", default="f32")
    p.add_argument("--no-backward", action="store_true")
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-startup", action="store_true")
    args = p.parse_args()
    t0 = time.perf_counter()
    import taichi as ti
    import tdphys
    tdphys.init(args.arch, args.precision)
    robot = tdphys.load(args.robot)
    import_s = time.perf_counter() - t0
    for batch in [int(b) for b in args.batches.split(",")]:
        sim = tdphys.Simulation(robot, batch=batch, steps=args.steps)

        @ti.kernel
        def loss():
            for w in range(batch):
                sim.loss[None] += sim.pos[args.steps, w, 0][2]

        t = time.perf_counter()
        sim.rollout()
        first = time.perf_counter() - t
        t = time.perf_counter()
        sim.rollout()
        fwd = time.perf_counter() - t
        row = {"robot": robot.name, "arch": args.arch, "precision": args.precision,
               "batch": batch, "steps": args.steps, "bodies": sim.n_bodies,
               "rows": sim.n_rows, "import_init_s": round(import_s, 2),
               "first_forward_s": round(first, 2), "forward_s": round(fwd, 3),
               "us_per_robot_step": round(fwd / (batch * args.steps) * 1e6, 2)}
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
            row.update(first_forward_backward_s=round(first_bw, 2),
                       forward_backward_s=round(time.perf_counter() - t, 3))
        row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        _print(row, args.json)
    if not args.no_startup:
        with tempfile.TemporaryDirectory() as cache:
            cold = startup(args.robot, args.arch, args.precision, cache)
            warm = startup(args.robot, args.arch, args.precision, cache)
        _print({"robot": robot.name, "arch": args.arch, "precision": args.precision,
                "cold_startup_s": round(cold[0], 2), "cold_startup_taped_s": round(cold[1], 2),
                "warm_startup_s": round(warm[0], 2), "warm_startup_taped_s": round(warm[1], 2)},
               args.json)


def _print(row: dict, as_json: bool):
    print(json.dumps(row) if as_json else "  ".join(f"{k}={v}" for k, v in row.items()),
          flush=True)


if __name__ == "__main__":
    main()
