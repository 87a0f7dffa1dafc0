"""The `tdphys` command line: simulate and gradcheck (see README for the contract)."""
from __future__ import annotations

import argparse
import sys

import numpy as np

from .errors import TdphysError


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("robot", help="robot YAML file")
    p.add_argument("--steps", type=int, default=100, help="number of steps of solver.dt")
    p.add_argument("--batch", type=int, default=1, help="number of worlds")
    p.add_argument("--arch", default="cpu", choices=["cpu", "cuda", "vulkan", "auto"])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tdphys", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sim = sub.add_parser("simulate", help="roll a robot out and save the trajectory (.npz)")
    _common(sim)
    sim.add_argument("--controls", help=".npy of motor commands, (T, M) or (T, B, M), SI units")
    sim.add_argument("--precision", default="f32", choices=["f32", "f64"])
    sim.add_argument("--out", required=True, help="output .npz")
    gc = sub.add_parser("gradcheck", help="tape gradients vs finite differences (f64)")
    _common(gc)
    gc.add_argument("--wrt", default="controls,initial,params",
                    help="comma-separated groups: controls, initial, params")
    gc.add_argument("--per-param", type=int, default=3, help="entries checked per parameter")
    gc.add_argument("--tol", type=float, default=1e-3, help="maximum relative error")
    gc.set_defaults(steps=30)
    return parser


def _simulate(args) -> int:
    import tdphys
    tdphys.init(args.arch, args.precision)
    sim = tdphys.Simulation(tdphys.load(args.robot), batch=args.batch, steps=args.steps)
    if args.controls:
        try:
            u = np.load(args.controls)
        except (OSError, ValueError) as exc:
            raise tdphys.ControlsError(f"{args.controls}: cannot read controls ({exc})\n"
                                       "  fix: save them with numpy.save as a float array")
        try:
            sim.set_controls(u)
        except tdphys.ControlsError as exc:
            raise tdphys.ControlsError(f"{args.controls}: {exc}") from None
    sim.rollout()
    np.savez(args.out, **sim.trajectory())
    print(f"wrote {args.out}: {args.steps} steps x {args.batch} worlds x {sim.n_bodies} bodies")
    return 0


def _gradcheck(args) -> int:
    import tdphys
    from . import gradcheck
    tdphys.init(args.arch, "f64")
    tdphys.backend.current().require_gradients()
    groups = [g.strip() for g in args.wrt.split(",") if g.strip()]
    unknown = [g for g in groups if g not in gradcheck.GROUPS]
    if unknown:
        print(f"unknown --wrt group(s) {unknown}; choose from {list(gradcheck.GROUPS)}",
              file=sys.stderr)
        return 2
    sim = tdphys.Simulation(tdphys.load(args.robot), batch=args.batch, steps=args.steps)
    if sim.n_motors:
        rng = np.random.default_rng(0)
        sim.set_controls(rng.uniform(-0.3, 0.3, (args.steps, sim.n_motors)))
    entries = gradcheck.check(sim, groups=groups, per_param=args.per_param)
    worst = gradcheck.summary(entries)
    print(gradcheck.__doc__.split("\n\n")[1].strip())
    for group in groups:
        err = worst.get(group)
        shown = "no entries" if err is None else f"max relative error {err:.2e}"
        print(f"{group:9s} {shown}")
    failed = [g for g, e in worst.items() if e > args.tol]
    if failed:
        for e in entries:
            if e.group in failed and e.rel_error > args.tol:
                print(f"  off: {e.name}{tuple(int(i) for i in e.index)} tape {e.tape:.6e} "
                      f"fd {e.fd:.6e}")
        return 1
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        return {"simulate": _simulate, "gradcheck": _gradcheck}[args.command](args)
    except TdphysError as exc:
        print(f"tdphys: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
