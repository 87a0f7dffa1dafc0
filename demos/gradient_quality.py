"""Probe whether an experiment's gradient is a descent direction at useful step sizes:

    python demos/gradient_quality.py experiments/quadruped_gait.yaml            # at the start
    python demos/gradient_quality.py runs/quadruped_gait --at best              # a run's best
    python demos/gradient_quality.py runs/quadruped_gait --at current           # where it stands

It prints, for the experiment's grad_decay and for the exact gradient, the secant slopes of the
loss along -g/|g| for steps 1e-6 .. 0.1 (optimiser units) next to the exact directional
derivative (tdphys/studies/gradient_quality.py, docs/gradient-quality.md). Through many contact
events the loss can be rough enough that a step of the optimiser's size goes uphill.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", help="an experiment YAML, or a run folder demos/optimize.py wrote")
    ap.add_argument(
        "--at",
        choices=["start", "best", "current"],
        default=None,
        help="which parameters of a run folder (default: best; a YAML: start)",
    )
    ap.add_argument("--arch", default="cpu", choices=["cpu", "cuda", "vulkan", "auto"])
    args = ap.parse_args(argv)
    import tdphys
    from tdphys.errors import TdphysError
    from tdphys.optim import load_experiment
    from tdphys.optim.checkpoints import load_state
    from tdphys.studies.gradient_quality import probe, report

    try:
        x = None
        if Path(args.source).is_dir():
            state = load_state(args.source)
            exp = load_experiment(state["file"])
            at = args.at or "best"
            x = {"best": state["x_best"], "current": state.get("x"), "start": None}[at]
        else:
            exp = load_experiment(args.source)
            if args.at not in (None, "start"):
                raise TdphysError(f"--at {args.at} needs a run folder, not an experiment file")
        tdphys.init(args.arch, exp.precision)
        print(report(probe(exp, x)))
    except TdphysError as exc:
        print(f"gradient_quality: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
