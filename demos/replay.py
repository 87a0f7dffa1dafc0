"""Replay a run folder's best parameters, for as long as you like, without training:

    python demos/replay.py runs/cart_swing_up --duration 12      # does the pole stay up?
    python demos/replay.py runs/cart_swing_up --duration 12 --out long.npz
    tdphys view long.npz                                         # and watch it

It rolls the experiment's robot out once from the robot file's start (no random starts or
targets) with the parameters demos/optimize.py kept (state.npz: the best ones), and prints the
task's metrics as JSON, e.g. a swing-up's worst_gap_m over the last `hold` seconds. A
controller can meet its success criterion on the training horizon by a lucky pass (a pole
swinging slowly over the top): a longer replay tells. So do other starts:

    python demos/replay.py runs/cart_swing_up --duration 30 --hold 5 --nudge 0.05

also rolls out 7 worlds whose every hinge and slider joint starts moved by up to +-0.05 (rad
or m) and moving at up to +-0.05 (rad/s or m/s), prints each world's metrics and whether it
met the criterion, then how many did (a closed loop can be chaotic: a pass from the exact
start alone is luck).

A folder with trained parameters only (params.npz, no state.npz) replays too, with the
experiment file that trained it; the repo ships one, a pixels controller (README, issue #5):

    python demos/replay.py experiments/trained/pendulum_pixels \
        --experiment experiments/pendulum_pixels.yaml --duration 30 --nudge 0.05 --worlds 16
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main(argv=None, builds=None) -> int:
    """The command; `builds` (tdphys.optim.builds.Builds): simulations to reuse across calls."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    from tdphys.argtypes import MAX_BATCH, MAX_SEED, real, whole
    ap.add_argument("run_dir", help="a folder demos/optimize.py wrote, or one holding only "
                                    "a params.npz it wrote (then give --experiment)")
    ap.add_argument("--duration", type=real(0, 1e6, low_open=True), default=None,
                    help="simulated seconds (default: the experiment's)")
    ap.add_argument("--arch", default="cpu", choices=["cpu", "cuda", "vulkan", "auto"])
    ap.add_argument("--out", default=None, help="write the trajectory (.npz) for tdphys view")
    ap.add_argument("--experiment", default=None,
                    help="the experiment file (default: the one the run recorded; give it "
                         "when that file moved or was a temporary copy)")
    ap.add_argument("--hold", type=real(0, 1e6, low_open=True), default=None,
                    help="judge the criterion over the last S seconds (swing_up; default: "
                         "the experiment's hold)")
    ap.add_argument("--nudge", type=real(0, 1e3), default=None,
                    help="also roll out from starts with every hinge and slider joint moved "
                         "and set moving by uniform draws in +-NUDGE (rad or m, per s)")
    ap.add_argument("--worlds", type=whole(2, MAX_BATCH), default=8,
                    help="with --nudge: worlds in all, the file's start included (default 8)")
    ap.add_argument("--seed", type=whole(0, MAX_SEED), default=1, help="with --nudge: seed of the draws")
    args = ap.parse_args(argv)
    if args.nudge is not None and (args.nudge < 0 or args.worlds < 2):
        ap.error("--nudge needs a size >= 0 and --worlds >= 2")
    from tdphys.errors import TdphysError
    from tdphys.optim import load_experiment
    from tdphys.optim.checkpoints import STATE_FILE, load_state
    from tdphys.optim.runner import replay, replay_nudged
    from tdphys.paths import output_file
    folder = Path(args.run_dir)
    weights_only = (folder / "params.npz").is_file() and not (folder / STATE_FILE).is_file()
    if weights_only and args.experiment is None:
        ap.error(f"{folder} holds trained parameters only (params.npz): give the experiment "
                 "file that trained them with --experiment")
    try:
        if args.out:                    # checked before anything is simulated
            output_file(args.out, "--out")
        if weights_only:    # x None: the parameters of exp.init_from's params.npz
            x = None
            exp = dataclasses.replace(load_experiment(args.experiment),
                                      init_from=str(folder.resolve()))
        else:
            state = load_state(folder)
            x = state["x_best"]
            exp = load_experiment(args.experiment or state["file"])
        if args.hold is not None:
            if exp.task.type != "swing_up":
                raise TdphysError(f"--hold sets a swing_up task's final window; {exp.name} is "
                                  f"a {exp.task.type} task\n  fix: drop --hold")
            exp = dataclasses.replace(exp, task=dataclasses.replace(exp.task, hold=args.hold))
        if args.nudge is None:
            metrics, sim = replay(exp, x, args.duration, args.arch, builds=builds)
        else:
            worlds, sim = replay_nudged(exp, x, args.nudge, args.worlds, args.duration,
                                        args.seed, args.arch, builds=builds)
    except (TdphysError, FileNotFoundError) as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 2
    head = {"experiment": exp.name, "duration_s": sim.steps * sim.dt}
    if args.nudge is None:
        print(json.dumps({**head, **metrics}))
    else:
        for w, (m, ok) in enumerate(worlds):
            print(json.dumps({**head, "world": w, "nudge": args.nudge, **m, "success": ok}))
        print(json.dumps({**head, "nudge": args.nudge, "seed": args.seed,
                          "passed": sum(ok for _, ok in worlds), "worlds": len(worlds)}))
    if args.out:
        from tdphys.optim.outputs import world_trajectory
        print(f"wrote {world_trajectory(sim, exp.robot, Path(args.out))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
