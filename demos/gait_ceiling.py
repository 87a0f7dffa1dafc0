"""Estimate how fast a gait experiment's robot can walk at all, whatever the optimiser:

    python demos/gait_ceiling.py                                   # experiments/quadruped_gait.yaml
    python demos/gait_ceiling.py experiments/quadruped_gait.yaml --max-force 60
    python demos/gait_ceiling.py --generations 400 --out runs/gait_ceiling

CMA-ES searches periodic open-loop commands at the controller's clock frequency (a constant
and `--harmonics` sine/cosine pairs per motor; tdphys/studies/gait_ceiling.py), one batched
forward rollout per generation, and prints the best forward speed so far. The result is a lower
bound on the robot's reachable speed, to set beside the experiment's target_speed. With --out
it writes ceiling.json and controls.npy (the best gait's (T, motors) command table).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    from tdphys.argtypes import MAX_SEED, real, whole

    ap.add_argument(
        "experiment", nargs="?", default=str(ROOT / "experiments" / "quadruped_gait.yaml")
    )
    ap.add_argument(
        "--max-force",
        type=real(0, 1e6, low_open=True),
        default=None,
        help="[N m] every motor's max_force (default: the experiment's)",
    )
    ap.add_argument(
        "--hz",
        type=real(0, 1000, low_open=True),
        default=None,
        help="[Hz] command frequency (default: the controller's clock)",
    )
    ap.add_argument("--harmonics", type=whole(1, 64), default=2)
    ap.add_argument("--generations", type=whole(1, 10**6), default=300)
    ap.add_argument("--popsize", type=whole(2, 100_000), default=64)
    ap.add_argument(
        "--sigma", type=real(0, 1000, low_open=True), default=0.3, help="[rad] CMA-ES initial step"
    )
    ap.add_argument("--seed", type=whole(0, MAX_SEED), default=1)
    ap.add_argument("--precision", default="f32", choices=["f32", "f64"])
    ap.add_argument("--out", default=None, help="folder for ceiling.json and controls.npy")
    args = ap.parse_args(argv)
    import tdphys
    from tdphys.datafiles import write_json, write_npy
    from tdphys.errors import TdphysError
    from tdphys.optim import load_experiment
    from tdphys.studies.gait_ceiling import reachable_speed
    from tdphys.paths import output_folder

    try:
        out = output_folder(args.out, "--out") if args.out else None  # before the search
        exp = load_experiment(args.experiment)
        tdphys.init("cpu", args.precision)

        def report(g, c):
            if g % 10 == 0 or g == args.generations - 1:
                print(
                    f"generation {g + 1:4d}  rollouts {c.rollouts:6d}  best "
                    f"{c.best_speed:.3f} m/s  {c.wall_s:6.0f} s",
                    flush=True,
                )

        c = reachable_speed(
            exp,
            hz=args.hz,
            harmonics=args.harmonics,
            generations=args.generations,
            popsize=args.popsize,
            sigma=args.sigma,
            seed=args.seed,
            max_force=args.max_force,
            report=report,
        )
    except (TdphysError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    target = exp.task.target_speed
    print(
        f"reachable speed >= {c.best_speed:.3f} m/s after {c.rollouts} rollouts "
        f"({c.wall_s:.0f} s); the experiment's target: {target} m/s"
    )
    if out is not None:
        write_npy(out / "controls.npy", c.controls)
        write_json(
            out / "ceiling.json",
            {
                "experiment": exp.name,
                "best_speed_mps": c.best_speed,
                "rollouts": c.rollouts,
                "wall_s": round(c.wall_s, 1),
                "max_force": args.max_force,
                "hz": args.hz,
                "harmonics": args.harmonics,
                "popsize": args.popsize,
                "seed": args.seed,
                "coefficients": c.coeffs.tolist(),
                "curve": c.curve,
            },
        )
        print(f"wrote {out / 'ceiling.json'} and {out / 'controls.npy'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
