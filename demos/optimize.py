"""Optimise through physics (issue #3): train an experiment's parameters with Adam on exact
gradients of whole rollouts, or with CMA-ES as the gradient-free baseline.

    python demos/optimize.py                                   # the ball throw, Adam
    python demos/optimize.py experiments/ball_throw.yaml --optimizer cmaes --budget 3000

Writes metrics.json, params.json/.npz, history.json, curve.png, trajectory.npz, controls.npy,
state.pkl and video.mp4 into --out (default runs/<experiment name>/, or runs/<name>_cmaes/ for
CMA-ES); replay with `tdphys view RUN_DIR`. Ctrl-C (or SIGTERM) stops and keeps what was learned;
`--resume RUN_DIR --budget N` goes on from there (also after a kill: state.pkl and
history.json are saved every --checkpoint-min minutes). Exit status: 0 when the task's
success criterion is met, 1 when not (or the gradient diverged), 2 on a bad experiment file.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:      # a checkout run without `pip install -e .`, as the other demos
    sys.path.insert(0, str(ROOT))
DEFAULT = ROOT / "experiments" / "ball_throw.yaml"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("experiment", nargs="?",
                   help="experiment YAML (default: the resumed run's, else the ball throw)")
    p.add_argument("--budget", type=int, help="simulations at most (default: the file's)")
    p.add_argument("--out", help="output folder (default runs/<experiment name>/)")
    p.add_argument("--arch", default="cpu", choices=["cpu", "cuda", "vulkan", "auto"])
    p.add_argument("--optimizer", choices=["adam", "cmaes"], help="default: the file's")
    p.add_argument("--no-video", action="store_true", help="skip rendering video.mp4")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="go on from a run folder (same experiment and optimiser) until "
                        "--budget simulations in all; writes back into it unless --out")
    p.add_argument("--checkpoint-min", type=float, default=5.0, metavar="MIN",
                   help="save state.pkl and history.json into the output folder every MIN "
                        "minutes, so a killed run can --resume (0: only at the end)")
    return p


def _stop_cleanly_on_signals() -> None:
    """SIGTERM (a scheduler's or `kill`'s stop) acts like Ctrl-C: the run stops and keeps what
    it learned. SIGINT gets Python's Ctrl-C handler back even where the shell started us in
    the background with SIGINT ignored."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    _stop_cleanly_on_signals()
    from tdphys.errors import TdphysError
    from tdphys.optim import load_experiment, run
    from tdphys.optim.outputs import load_state, metrics, write_checkpoint, write_run
    try:
        resume = load_state(args.resume) if args.resume else None
        path = args.experiment or (resume or {}).get("file") or str(DEFAULT)
        exp = load_experiment(path)
        kind = args.optimizer or exp.optimizer.type
        out = Path(args.out or args.resume or
                   Path("runs") / (exp.name + ("" if kind == "adam" else f"_{kind}")))
        every = 60.0 * args.checkpoint_min
        result = run(exp, optimizer=kind, budget=args.budget, arch=args.arch,
                     progress=not args.quiet, resume=resume,
                     checkpoint=(lambda r: write_checkpoint(r, out)) if every > 0 else None,
                     checkpoint_s=every)
    except TdphysError as exc:
        print(f"optimize: {exc}", file=sys.stderr)
        return 2
    files = write_run(result, out, video=not args.no_video)
    m = metrics(result)
    key = result.task.headline[0]
    print(json.dumps({k: m.get(k) for k in ("stop_reason", "evaluations", "iterations",
                                            "wall_s", "final_loss", key, "success")}))
    if result.message:
        print(f"optimize: {result.message}", file=sys.stderr)
    print(f"wrote {', '.join(p.name for p in files.values())} to {out}/")
    return 0 if m["success"] else 1


if __name__ == "__main__":
    sys.exit(main())
