"""Replay a run folder's best parameters, for as long as you like, without training.

    tdphys replay runs/cart_swing_up --duration 12              # does the pole stay up?
    tdphys replay runs/cart_swing_up --duration 12 --out long.npz
    tdphys view long.npz                                        # and watch it

It rolls the experiment's robot out once from the robot file's start (no random starts or
targets) with the parameters `tdphys optimize` kept (state.npz: the best ones), and prints the
task's metrics and whether they meet its success criterion as one JSON line (a swing-up's
worst_gap_m over the last `hold` seconds, say). A controller can meet its criterion on the
training horizon by a lucky pass (a pole swinging slowly over the top): a longer replay tells.
So do other starts:

    tdphys replay runs/cart_swing_up --duration 30 --hold 5 --nudge 0.05

also rolls out worlds whose every hinge and slider joint starts moved by up to +-0.05 (rad or
m) and moving at up to +-0.05 (rad/s or m/s), prints each world's metrics and verdict, then
how many met the criterion (a closed loop can be chaotic: a pass from the exact start alone
may be luck).

A folder with trained parameters only (params.npz, no state.npz) replays too, with the
experiment file that trained it, e.g. the pixels controller the repository ships:

    tdphys replay experiments/trained/pendulum_pixels \\
        --experiment experiments/pendulum_pixels.yaml --duration 30 --nudge 0.05 --worlds 16
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from ..argtypes import MAX_BATCH, MAX_SEED, real, whole
from . import ARCHS, BAD_INPUT, exit_codes

EXIT_CODES = exit_codes(
    (0, "the task's success criterion met (with --nudge: in every world)"),
    (1, "not met"),
    BAD_INPUT,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "run_dir",
        help="a folder `tdphys optimize` wrote, or one holding only a "
        "params.npz it wrote (then give --experiment)",
    )
    p.add_argument(
        "--duration",
        type=real(0, 1e6, low_open=True),
        help="simulated seconds (default: the experiment's task.duration)",
    )
    p.add_argument(
        "--arch",
        default="cpu",
        choices=ARCHS,
        help="where the kernels run (auto: a GPU if there is one)",
    )
    p.add_argument("--out", help="write the trajectory (.npz) for `tdphys view`")
    p.add_argument(
        "--experiment",
        help="the experiment file (default: the one the run "
        "recorded; give it when that file moved or was a temporary copy)",
    )
    p.add_argument(
        "--hold",
        type=real(0, 1e6, low_open=True),
        help="judge the criterion over the last S seconds (swing_up; default: the "
        "experiment's task.hold)",
    )
    p.add_argument(
        "--nudge",
        type=real(0, 1e3),
        help="also roll out from starts with every hinge and slider joint moved and "
        "set moving by uniform draws in +-NUDGE (rad or m, per s)",
    )
    p.add_argument(
        "--worlds",
        type=whole(2, MAX_BATCH),
        default=8,
        help="with --nudge: worlds in all, the file's start included",
    )
    p.add_argument(
        "--seed", type=whole(0, MAX_SEED), default=1, help="with --nudge: seed of the draws"
    )


def run(args) -> int:
    """Carry out a parsed replay command; returns the exit status. Bad input raises
    TdphysError (the caller prints it and exits 2)."""
    from ..errors import FileError
    from ..optim import load_experiment
    from ..errors import TdphysError
    from ..optim.checkpoints import STATE_FILE, load_state
    from ..optim.outputs import world_trajectory
    from ..optim.runner import replay, replay_nudged
    from ..paths import output_file

    folder = Path(args.run_dir)
    if not folder.is_dir():
        raise FileError(
            f"{folder}: no such run folder\n  fix: give a folder `tdphys optimize` "
            "wrote, e.g. runs/ball_throw"
        )
    weights_only = (folder / "params.npz").is_file() and not (folder / STATE_FILE).is_file()
    if weights_only and args.experiment is None:
        raise FileError(
            f"{folder} holds trained parameters only (params.npz)\n  fix: give the "
            "experiment file that trained them with --experiment"
        )
    if args.out:  # checked before anything is simulated
        output_file(args.out, "--out")
    try:
        if weights_only:  # x None: the parameters of exp.init_from's params.npz
            x = None
            exp = dataclasses.replace(
                load_experiment(args.experiment), init_from=str(folder.resolve())
            )
        else:
            state = load_state(folder)
            x = state["x_best"]
            exp = load_experiment(args.experiment or state["file"])
    except FileNotFoundError as exc:
        raise FileError(
            f"{exc.filename or folder}: does not exist\n  fix: give a run folder "
            "`tdphys optimize` wrote, and --experiment when its file moved"
        ) from None
    if args.hold is not None:
        if exp.task.type != "swing_up":
            raise TdphysError(
                f"--hold sets a swing_up task's final window; {exp.name} is "
                f"a {exp.task.type} task\n  fix: drop --hold"
            )
        exp = dataclasses.replace(exp, task=dataclasses.replace(exp.task, hold=args.hold))
    if args.nudge is None:
        metrics, sim = replay(exp, x, args.duration, args.arch)
        worlds = [(metrics, metrics.pop("success"))]
    else:
        worlds, sim = replay_nudged(
            exp, x, args.nudge, args.worlds, args.duration, args.seed, args.arch
        )
    head = {"experiment": exp.name, "duration_s": sim.steps * sim.dt}
    if args.nudge is None:
        print(json.dumps({**head, **worlds[0][0], "success": worlds[0][1]}))
    else:
        for w, (m, ok) in enumerate(worlds):
            print(json.dumps({**head, "world": w, "nudge": args.nudge, **m, "success": ok}))
        print(
            json.dumps(
                {
                    **head,
                    "nudge": args.nudge,
                    "seed": args.seed,
                    "passed": sum(ok for _, ok in worlds),
                    "worlds": len(worlds),
                }
            )
        )
    if args.out:
        print(f"wrote {world_trajectory(sim, exp.robot, Path(args.out))}")
    return 0 if all(ok for _, ok in worlds) else 1
