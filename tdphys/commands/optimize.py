"""Train an experiment's parameters with Adam on exact gradients of whole rollouts, or with
CMA-ES as the gradient-free baseline (the experiment file: docs/experiment-format.md).

    tdphys optimize                                          # the ball throw, Adam
    tdphys optimize experiments/ball_throw.yaml --optimizer cmaes --budget 3000
    tdphys optimize --resume runs/quadruped_gait --budget 800

Writes metrics.json, params.json/.npz, history.json, curve.png, trajectory.npz, controls.npy,
state.npz, run.json and video.mp4 into --out (default runs/<experiment name>/, or
runs/<name>_cmaes/ for CMA-ES; when that folder holds an earlier run, the next free
runs/<name>_2/, ... and it says so). An --out that holds a run is refused unless --overwrite
(which first removes that run's files) or --resume names it. The folder is created and
checked writable before anything compiles. Replay with `tdphys view RUN_DIR` or
`tdphys replay RUN_DIR`.

Ctrl-C (or SIGTERM) stops and keeps what was learned: it says so, saves the best parameters
and renders the video; a second Ctrl-C skips the video. --resume RUN_DIR goes on from there
with the run's experiment, optimiser, budget and settings (run.json) unless given again (also
after a kill: state.npz and history.json are saved every --checkpoint-min minutes, each file
replaced whole)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from ..argtypes import MAX_BUDGET, real, whole
from . import ARCHS, BAD_INPUT, CHECKOUT, HelpFormatter, exit_codes

DEFAULT = CHECKOUT / "experiments" / "ball_throw.yaml"
SETTINGS_FILE = "run.json"  # the settings a run was started with (for --resume)
EXIT_CODES = exit_codes(
    (0, "the task's success criterion met"),
    (1, "not met, or the gradient diverged"),
    BAD_INPUT,
    (130, "stopped before the first simulation"),
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "experiment",
        nargs="?",
        help="experiment YAML (default: the resumed run's, else experiments/ball_throw.yaml)",
    )
    p.add_argument(
        "--budget",
        type=whole(1, MAX_BUDGET),
        help="simulations at most, in all (default: the resumed run's, else the "
        "file's optimizer.budget)",
    )
    p.add_argument("--out", help="output folder (default: runs/<experiment name>/)")
    p.add_argument(
        "--overwrite", action="store_true", help="replace the run an existing --out folder holds"
    )
    p.add_argument("--arch", choices=ARCHS, help="default: the resumed run's, else cpu")
    p.add_argument(
        "--optimizer",
        choices=["adam", "cmaes"],
        help="default: the resumed run's, else the file's optimizer.type",
    )
    p.add_argument("--no-video", action="store_true", help="skip rendering video.mp4")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="go on from a run folder (same experiment and optimiser) until "
        "--budget simulations in all; writes back into it unless --out",
    )
    p.add_argument(
        "--checkpoint-min",
        type=real(0, 1e6, what="minutes"),
        metavar="MIN",
        help="save state.npz and history.json into the output folder every MIN "
        "minutes, so a killed run can --resume (0: only at the end; "
        "default 5, or the resumed run's)",
    )


def parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The command's parser on its own (demos/optimize.py)."""
    p = argparse.ArgumentParser(
        prog=prog, description=__doc__, epilog=EXIT_CODES, formatter_class=HelpFormatter
    )
    add_arguments(p)
    return p


class Stopping:
    """What Ctrl-C (SIGINT) and SIGTERM do in each phase of a run. "training": stop the
    optimiser (a KeyboardInterrupt, which the runner catches, keeping the best parameters)
    and say what happens next; "saving" (results being written): note that the video is to
    be skipped, and go on; "video": stop the rendering (outputs.render removes the partial
    file). SIGINT gets a handler even where the shell started us in the background with
    SIGINT ignored."""

    def __init__(self, video: bool):
        self.phase, self.video, self.skip_video = "training", video, False
        signal.signal(signal.SIGINT, self)
        signal.signal(signal.SIGTERM, self)

    def __call__(self, signum, frame):
        if self.phase == "training":
            self.phase = "saving"
            then = ", rendering video; Ctrl-C again to skip the video" if self.video else ""
            print(
                f"\noptimize: stopping: saving best parameters{then}", file=sys.stderr, flush=True
            )
            raise KeyboardInterrupt
        if self.phase == "video":
            raise KeyboardInterrupt
        if self.video and not self.skip_video:
            self.skip_video = True
            print(
                "optimize: the video will be skipped; saving the results",
                file=sys.stderr,
                flush=True,
            )


def _holds_run(folder: Path) -> list[str]:
    """The run files `folder` holds (none when it is missing; run.json alone, from a run
    stopped before its first checkpoint, is no run)."""
    from ..optim.outputs import RUN_FILES

    if not folder.is_dir():
        return []
    return [name for name in RUN_FILES if (folder / name).exists()]


def _next_free(folder: Path) -> Path:
    """folder_2, folder_3, ...: the first that holds no run."""
    k = 2
    while _holds_run(folder.with_name(f"{folder.name}_{k}")):
        k += 1
    return folder.with_name(f"{folder.name}_{k}")


def settings(args, resume: dict | None, saved: dict) -> dict:
    """This run's settings: given on the command line, else the resumed run's, else the
    defaults (the experiment file's budget and optimiser are read later)."""
    given = {
        "experiment": args.experiment,
        "budget": args.budget,
        "optimizer": args.optimizer,
        "arch": args.arch,
        "checkpoint_min": args.checkpoint_min,
    }
    resumed = (
        {
            "experiment": resume["file"],
            **saved,
            "budget": resume["budget"],
            "optimizer": resume["optimizer"],
        }
        if resume
        else {}
    )
    defaults = {"experiment": str(DEFAULT), "arch": "cpu", "checkpoint_min": 5.0}
    return {k: v if v is not None else resumed.get(k, defaults.get(k)) for k, v in given.items()}


def _read_settings(folder: Path) -> dict:
    """run.json of a resumed folder ({} when missing or not what a run writes)."""
    path = folder / SETTINGS_FILE
    try:
        data = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        return {}
    kinds = {"experiment": str, "arch": str, "checkpoint_min": (int, float)}
    return (
        {k: data[k] for k, kind in kinds.items() if isinstance(data.get(k), kind)}
        if isinstance(data, dict)
        else {}
    )


def output_folder(args, exp, kind: str) -> tuple[Path, str]:
    """The folder to write into, checked (created, writable, not another run's unless
    --overwrite or --resume), and a note for the user ('' when there is nothing to say)."""
    from ..errors import FileError
    from ..paths import output_folder as checked_folder

    if args.out:
        out = Path(args.out)
    elif args.resume:
        out = Path(args.resume)
    else:
        out = Path("runs") / (exp.name + ("" if kind == "adam" else f"_{kind}"))
    note, replace = "", []
    held = _holds_run(out)
    same = args.resume and out.resolve() == Path(args.resume).resolve()
    if held and not same:
        if args.overwrite:
            replace = held
            note = f"replacing the run in {out} (--overwrite)"
        elif args.out:
            raise FileError(
                f"--out {out} holds a run ({', '.join(held[:4])}"
                f"{', ...' if len(held) > 4 else ''})\n  fix: --overwrite to "
                f"replace it, --resume {out} to go on with it, or another --out"
            )
        else:
            taken = out
            out = _next_free(out)
            note = (
                f"{taken} holds an earlier run; writing to {out} (--out {taken} "
                "--overwrite replaces it, --resume continues it)"
            )
    out = checked_folder(out, "--out" if args.out else "output folder")
    for name in replace:
        (out / name).unlink(missing_ok=True)
    return out, note


def run(args) -> int:
    """Carry out a parsed optimize command; returns the exit status."""
    import tdphys

    from ..datafiles import write_json
    from ..errors import TdphysError
    from ..optim import load_experiment
    from ..optim import run as optimise
    from ..optim.experiment import check_against_robot
    from ..optim.checkpoints import load_state, write_checkpoint
    from ..optim.outputs import metrics, write_run, write_videos

    try:
        resume = load_state(args.resume) if args.resume else None
        chosen = settings(args, resume, _read_settings(Path(args.resume)) if args.resume else {})
        path = chosen["experiment"]
        exp = load_experiment(path)
        kind = chosen["optimizer"] or exp.optimizer.type
        budget = chosen["budget"] or exp.optimizer.budget
        if resume is not None:
            done = resume["evaluations"]
            if done >= budget:
                raise TdphysError(
                    f"cannot resume: {args.resume} already did {done} simulations"
                    f" of its budget of {budget}\n  fix: give --budget N with N "
                    f"above {done}"
                )
            print(
                f"optimize: resuming {args.resume} after {done} of {budget} simulations "
                f"(experiment {exp.name}, {kind}, arch {chosen['arch']}; "
                + (
                    "budget from --budget)"
                    if args.budget
                    else "the run's budget and settings; give --budget N to change it)"
                ),
                file=sys.stderr,
            )
        check_against_robot(exp, tdphys.load(exp.robot))  # no folder for a bad file
        out, note = output_folder(args, exp, kind)
        if note:
            print(f"optimize: {note}", file=sys.stderr)
        write_json(
            out / SETTINGS_FILE,
            {
                "experiment": str(Path(path).resolve()),
                "optimizer": kind,
                "budget": budget,
                "arch": chosen["arch"],
                "checkpoint_min": chosen["checkpoint_min"],
            },
        )
        every = 60.0 * chosen["checkpoint_min"]
        stopping = Stopping(video=not args.no_video)
        result = optimise(
            exp,
            optimizer=kind,
            budget=budget,
            arch=chosen["arch"],
            progress=not args.quiet,
            resume=resume,
            checkpoint=(lambda r: write_checkpoint(r, out)) if every > 0 else None,
            checkpoint_s=every,
        )
        stopping.phase = "saving"
    except TdphysError as exc:
        print(f"optimize: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("optimize: stopped before the first simulation; nothing to save", file=sys.stderr)
        return 130
    try:
        files = write_run(result, out, video=False)
        if not args.no_video and not stopping.skip_video:
            stopping.phase = "video"
            files.update(write_videos(result, out))
    except (OSError, TdphysError) as exc:
        print(
            f"optimize: cannot write the results into {out} ({exc})\n  fix: free space "
            "there, then --resume it from its last checkpoint",
            file=sys.stderr,
        )
        return 2
    finally:
        stopping.phase = "saving"
    m = metrics(result)
    key = result.task.headline[0]
    print(
        json.dumps(
            {
                k: m.get(k)
                for k in (
                    "stop_reason",
                    "evaluations",
                    "iterations",
                    "wall_s",
                    "final_loss",
                    key,
                    "success",
                )
            }
        )
    )
    if result.message:
        print(f"optimize: {result.message}", file=sys.stderr)
    print(f"wrote {', '.join(p.name for p in files.values())} to {out}/")
    return 0 if m["success"] else 1


def main(argv=None, prog: str | None = None) -> int:
    """Parse `argv` and run; the exit status (demos/optimize.py)."""
    return run(parser(prog).parse_args(argv))
