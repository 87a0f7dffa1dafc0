"""Replay a run folder's best parameters, for as long as you like, without training:

    python demos/replay.py runs/cart_swing_up --duration 12      # does the pole stay up?
    python demos/replay.py runs/cart_swing_up --duration 12 --out long.npz
    tdphys view long.npz                                         # and watch it

It rolls the experiment's robot out once from the robot file's start (no random starts or
targets) with the parameters demos/optimize.py kept (state.pkl: the best ones), and prints the
task's metrics as JSON, e.g. a swing-up's worst_gap_m over the last `hold` seconds. A
controller can meet its success criterion on the training horizon by a lucky pass (a pole
swinging slowly over the top): a longer replay tells.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", help="a folder demos/optimize.py wrote")
    ap.add_argument("--duration", type=float, default=None,
                    help="simulated seconds (default: the experiment's)")
    ap.add_argument("--arch", default="cpu", choices=["cpu", "cuda", "vulkan", "auto"])
    ap.add_argument("--out", default=None, help="write the trajectory (.npz) for tdphys view")
    ap.add_argument("--experiment", default=None,
                    help="the experiment file (default: the one the run recorded; give it "
                         "when that file moved or was a temporary copy)")
    args = ap.parse_args(argv)
    from tdphys.errors import TdphysError
    from tdphys.optim import load_experiment
    from tdphys.optim.outputs import load_state
    from tdphys.optim.runner import replay
    try:
        state = load_state(args.run_dir)
        exp = load_experiment(args.experiment or state["file"])
        metrics, sim = replay(exp, state["x_best"], args.duration, args.arch)
    except (TdphysError, FileNotFoundError) as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"experiment": exp.name, "duration_s": sim.steps * sim.dt, **metrics}))
    if args.out:
        from tdphys.optim.outputs import world_trajectory
        print(f"wrote {world_trajectory(sim, exp.robot, Path(args.out))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
