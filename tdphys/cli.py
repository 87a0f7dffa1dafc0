"""The `tdphys` command line: simulate, gradcheck, view, optimize, replay, sweep and bench.
`tdphys COMMAND --help` gives each command's options, defaults and exit status (0 done or
met, 1 not met, 2 bad input)."""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
from pathlib import Path

import numpy as np

from .argtypes import MAX_BATCH, MAX_STEPS, real, whole
from .commands import ARCHS, BAD_INPUT, HelpFormatter, exit_codes
from .commands import bench as bench_command
from .commands import optimize as optimize_command
from .commands import replay as replay_command
from .errors import TdphysError
from .sweep import args as sweep_args

STEPS = whole(1, MAX_STEPS)  # --steps and --batch of simulate and view
WORLDS = whole(1, MAX_BATCH)


ROBOT_HELP = "robot file: YAML, or MJCF / URDF (.xml, .urdf: docs/mjcf.md)"
APPROXIMATE_HELP = (
    "MJCF / URDF: map mesh geoms to the box or capsule fitted to their "
    "vertices (each one is printed) instead of refusing them"
)


def _common(p: argparse.ArgumentParser, steps=int, batch=int) -> None:
    p.add_argument("robot", help=ROBOT_HELP)
    p.add_argument("--approximate", action="store_true", help=APPROXIMATE_HELP)
    p.add_argument("--steps", type=steps, default=100, help="number of steps of solver.dt")
    p.add_argument("--batch", type=batch, default=1, help="number of worlds")
    p.add_argument(
        "--arch",
        default="cpu",
        choices=ARCHS,
        help="where the kernels run (auto: a GPU if there is one)",
    )
    p.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="replace a value of the robot file's `vars:` (repeatable)",
    )


def _robot(args):
    """The robot file with --var values."""
    import tdphys

    return tdphys.load(args.robot, _vars(args), getattr(args, "approximate", False))


def _vars(args) -> dict:
    """--var NAME=VALUE options as {name: value}."""
    given = {}
    for item in getattr(args, "var", ()):
        name, _, value = item.partition("=")
        try:
            given[name.strip()] = float(value)
        except ValueError:
            raise TdphysError(
                f"--var {item}: expected NAME=NUMBER\n  fix: e.g. --var shin=0.2"
            ) from None
    return given


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tdphys", description=__doc__, formatter_class=HelpFormatter
    )
    sub = parser.add_subparsers(
        dest="command",
        required=True,
        metavar="COMMAND",
        parser_class=functools.partial(argparse.ArgumentParser, formatter_class=HelpFormatter),
    )
    sim = sub.add_parser(
        "simulate",
        help="roll a robot out and save the trajectory (.npz)",
        description="Roll a robot out (the file's start, the given controls "
        "or none) and save the trajectory as an .npz (its keys: "
        "docs/commands.md).",
        epilog=exit_codes((0, "written"), BAD_INPUT),
    )
    _common(sim, steps=STEPS, batch=WORLDS)
    sim.add_argument("--controls", help=".npy of motor commands, (T, M) or (T, B, M), SI units")
    sim.add_argument(
        "--precision",
        default="f32",
        choices=["f32", "f64"],
        help="floating-point width of the simulation",
    )
    sim.add_argument(
        "--out", required=True, help="output FILE.npz (checked writable before the rollout)"
    )
    _gradcheck_parser(sub)
    _view_parser(sub)
    _convert_parser(sub)
    for name, command, summary in (
        (
            "optimize",
            optimize_command,
            "train an experiment (Adam or CMA-ES) into a run "
            "folder: video, plot, metrics, parameters",
        ),
        (
            "replay",
            replay_command,
            "roll a run's best parameters out again, longer or from nudged starts, and judge them",
        ),
        ("bench", bench_command, "time forward and backward rollouts and start-up"),
    ):
        command.add_arguments(
            sub.add_parser(
                name, help=summary, description=command.__doc__, epilog=command.EXIT_CODES
            )
        )
    sweep_args.add_parser(sub)
    sub.choices["sweep"].epilog = exit_codes(
        (0, "every trial finished (whatever its success)"),
        (1, "some trials failed or were stopped (the same command goes on)"),
        BAD_INPUT,
    )
    return parser


MAX_GRADCHECK_STEPS = 2000  # each check rolls out ~100 worlds this long, taped once


def _gradcheck_parser(sub) -> None:
    gc = sub.add_parser(
        "gradcheck",
        help="tape gradients vs finite differences (f64): match, non-smooth or mismatch per entry",
        description="Check the tape's gradient of a fixed loss (printed) against finite "
        "differences at several step sizes, central and one-sided, and classify each checked "
        "entry: match, non-smooth here (a contact, limit or clamp switches within the step; "
        "named where it can be) or mismatch (a wrong gradient). Exit status 1 only on a "
        "mismatch, 2 on bad input. See docs/gradcheck.md.",
        epilog=exit_codes(
            (0, "every checked entry a match or non-smooth"),
            (1, "a mismatch: the tape disagrees with converged finite differences"),
            BAD_INPUT,
        ),
    )
    gc.add_argument("robot", help=ROBOT_HELP)
    gc.add_argument("--approximate", action="store_true", help=APPROXIMATE_HELP)
    gc.add_argument(
        "--steps",
        default="30",
        help=f"rollout length in solver.dt steps, 1 .. {MAX_GRADCHECK_STEPS} (default 30)",
    )
    gc.add_argument(
        "--wrt",
        default="controls,initial,params",
        help="comma-separated groups: controls, initial, params (default: all)",
    )
    gc.add_argument(
        "--per-param", default="3", help="random entries checked per parameter, >= 1 (default 3)"
    )
    gc.add_argument(
        "--tol",
        default="1e-3",
        help="largest relative error of a match, 0 < tol < 1 (default 1e-3)",
    )
    gc.add_argument(
        "--seed",
        default="0",
        help="seed of the loss weights, the entries chosen and the random controls (default 0)",
    )
    gc.add_argument(
        "--verbose", action="store_true", help="print every entry's differences at every step size"
    )
    gc.add_argument(
        "--arch",
        default="cpu",
        choices=ARCHS,
        help="where the kernels run (auto: a GPU if there is one)",
    )
    gc.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="replace a value of the robot file's `vars:` (repeatable)",
    )


def _convert_parser(sub) -> None:
    c = sub.add_parser(
        "convert",
        help="write an MJCF or URDF robot as robot YAML (commented, editable)",
        description="Read an MJCF or URDF robot through MuJoCo's compiler (docs/mjcf.md) and "
        "write it as robot YAML (docs/robot-format.md) that loads back to the same model "
        "(checked before the file is written).",
    )
    c.add_argument("robot", help="MJCF or URDF file (.xml, .urdf)")
    c.add_argument("--out", required=True, help="output FILE.yaml")
    c.add_argument("--approximate", action="store_true", help=APPROXIMATE_HELP)


def _convert(args) -> int:
    from .model.mjcf import MJCF_SUFFIXES
    from .paths import output_file

    if Path(args.robot).suffix.lower() not in MJCF_SUFFIXES:
        raise TdphysError(
            f"{args.robot}: convert reads MJCF or URDF files ("
            f"{', '.join(MJCF_SUFFIXES)})\n  fix: give the .xml or .urdf file"
        )
    if Path(args.out).suffix not in (".yaml", ".yml"):
        raise TdphysError(
            f"--out {args.out}: the robot is written as YAML\n  fix: end the "
            f"name with .yaml, e.g. --out {Path(args.out).with_suffix('.yaml')}"
        )
    out = output_file(args.out, "--out")
    robot = _robot(args)
    text = _robot_text(robot, args.robot)
    out.write_text(text)
    print(
        f"wrote {out}: {len(robot.bodies)} bodies, {len(robot.joints)} joints, "
        f"{len(robot.motors)} motors"
    )
    return 0


def _robot_text(robot, path) -> str:
    """The robot file's YAML: the file itself, or for MJCF / URDF the converted YAML, checked
    to load back to the same model."""
    from .model.loader import parse_robot
    from .model.mjcf import MJCF_SUFFIXES
    from .model.writer import WriteError, robot_yaml, same_model

    if Path(path).suffix.lower() not in MJCF_SUFFIXES:
        return Path(path).read_text()
    try:
        text = robot_yaml(robot, f"Converted by `tdphys convert` from {Path(path).name}.")
    except WriteError as exc:
        raise TdphysError(f"{path}: cannot write it as YAML: {exc}") from None
    if not same_model(robot, parse_robot(text, str(path))):
        raise TdphysError(
            f"{path}: its YAML does not load back to the same model (a bug in "
            "tdphys/model/writer.py)\n  fix: report it with the file"
        )
    return text


def _view_parser(sub) -> None:
    v = sub.add_parser(
        "view",
        help="watch a robot live, replay a trajectory, or render it to a video",
        description="Open a 3D window (Taichi GGUI) on a robot YAML (simulated live), an .npz "
        "from `tdphys simulate`, or a run folder (reads RUN_DIR/trajectory.npz); or render it "
        "offscreen with --headless --out. Keys and mouse: see docs/viewer.md or the panel.",
        epilog=exit_codes((0, "the window closed, or the video or images written"), BAD_INPUT),
    )
    v.add_argument("input", help="ROBOT.yaml, TRAJECTORY.npz or RUN_DIR")
    v.add_argument("--headless", action="store_true", help="render offscreen to --out")
    v.add_argument("--out", help="FILE.mp4, FILE.gif or DIR/ (PNG frames); with --headless")
    v.add_argument(
        "--fps", type=real(0, 1000, low_open=True), default=30.0, help="video frames per second"
    )
    v.add_argument(
        "--size", default=None, help="WIDTHxHEIGHT in pixels (window 960x720, video 640x480)"
    )
    v.add_argument(
        "--speed",
        type=real(0, 1e6, low_open=True),
        default=1.0,
        help="simulated seconds per second",
    )
    v.add_argument("--world", default="0", help="world index to show, or 'all' side by side")
    v.add_argument("--follow", help="body name (or index) the camera follows")
    v.add_argument("--joints", action="store_true", help="draw joint anchors and axes")
    v.add_argument("--contacts", action="store_true", help="mark ground contact points")
    v.add_argument("--path", action="store_true", help="draw the centre-of-mass path")
    v.add_argument("--no-panel", action="store_true", help="hide the text panel")
    v.add_argument("--loop", action="store_true", help="start again at the end")
    v.add_argument(
        "--fallback",
        action="store_true",
        help="draw with ti.GUI instead of GGUI (what happens without Vulkan)",
    )
    v.add_argument("--robot", help="robot YAML for an .npz that does not store its robot")
    v.add_argument("--controls", help="live robot: .npy of motor commands, (T, M) or (T, B, M)")
    v.add_argument(
        "--steps",
        type=STEPS,
        help="live robot: steps to simulate (default: the controls' length, else 1000)",
    )
    v.add_argument("--batch", type=WORLDS, default=1, help="live robot: number of worlds")
    v.add_argument(
        "--precision",
        default="f32",
        choices=["f32", "f64"],
        help="floating-point width of the simulation",
    )
    v.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="live robot: replace a value of the robot file's `vars:` (repeatable)",
    )
    v.add_argument("--max-frames", type=whole(1, MAX_STEPS), help="stop after this many frames")
    v.add_argument(
        "--camera",
        metavar="NAME",
        help="also show this camera of the robot "
        "(its YAML's `cameras:`) in the top-right corner, window and video",
    )
    v.add_argument(
        "--camera-out",
        metavar="PATH",
        help="save that camera's images, one per "
        "step: DIR/ (PNG each), FILE.mp4 or FILE.gif; opens no window (with "
        "--headless --out the 3D video is written too)",
    )
    v.add_argument(
        "--camera-scale",
        type=whole(1, 64),
        metavar="K",
        help="enlarge the saved "
        "camera images K times, nearest neighbour (default: longer side >= 256 px)",
    )


def _simulate(args) -> int:
    import tdphys

    from .datafiles import read_array, write_npz
    from .paths import output_file

    if Path(args.out).suffix != ".npz":
        raise TdphysError(
            f"--out {args.out}: the trajectory is an .npz file\n  fix: end the "
            f"name with .npz, e.g. --out {Path(args.out).with_suffix('.npz')}"
        )
    out = output_file(args.out, "--out")  # before anything slow
    robot = _robot(args)
    u = read_array(args.controls, "controls") if args.controls else None
    tdphys.init(args.arch, args.precision)
    sim = tdphys.Simulation(robot, batch=args.batch, steps=args.steps)
    if u is not None:
        try:
            sim.set_controls(u)
        except tdphys.ControlsError as exc:
            raise tdphys.ControlsError(f"{args.controls}: {exc}") from None
    sim.rollout()
    # robot_path / robot_yaml / com_offset [m] (B, N, 3) (COM in the body frame) let
    # `tdphys view` replay the file without the robot file and place shapes exactly.
    extra = {"robot_vars": json.dumps(sim.robot_vars)} if sim.robot_vars else {}
    write_npz(
        out,
        {
            **sim.trajectory(),
            "robot_path": str(Path(args.robot).resolve()),
            "robot_yaml": _robot_text(robot, args.robot),
            "com_offset": sim.model.com.to_numpy(),
            **extra,
        },
    )
    print(f"wrote {out}: {args.steps} steps x {args.batch} worlds x {sim.n_bodies} bodies")
    return 0


def _number(option: str, text: str, kind, lo, hi, what: str, example: str):
    """`text` as `kind` within [lo, hi] (None: open), else a TdphysError naming the range."""
    try:
        value = kind(text)
    except ValueError:
        value = None
    if (
        value is None
        or not math.isfinite(value)
        or (lo is not None and not lo(value))
        or (hi is not None and not hi(value))
    ):
        raise TdphysError(f"{option} {text}: must be {what}\n  fix: e.g. {option} {example}")
    return value


def _gradcheck_options(args):
    """(steps, per_param, tol, seed, groups) from the gradcheck arguments, validated."""
    from . import gradcheck

    steps = _number(
        "--steps",
        args.steps,
        int,
        lambda v: v >= 1,
        lambda v: v <= MAX_GRADCHECK_STEPS,
        f"a whole number from 1 to {MAX_GRADCHECK_STEPS}",
        "30",
    )
    per_param = _number(
        "--per-param", args.per_param, int, lambda v: v >= 1, None, "a whole number >= 1", "3"
    )
    tol = _number(
        "--tol",
        args.tol,
        float,
        lambda v: v > 0,
        lambda v: v < 1,
        "a relative error > 0 and < 1",
        "1e-3",
    )
    seed = _number("--seed", args.seed, int, lambda v: v >= 0, None, "a whole number >= 0", "0")
    groups = [g.strip() for g in args.wrt.split(",") if g.strip()]
    unknown = [g for g in groups if g not in gradcheck.GROUPS]
    if unknown or not groups:
        named = ", ".join(unknown) or "(none given)"
        raise TdphysError(
            f"--wrt {args.wrt}: unknown group(s) {named}; the groups are "
            f"{', '.join(gradcheck.GROUPS)}\n  fix: e.g. --wrt "
            "controls,initial,params"
        )
    return steps, per_param, tol, seed, list(dict.fromkeys(groups))


def _gradcheck(args) -> int:
    import tdphys

    from . import gradcheck

    steps, per_param, tol, seed, groups = _gradcheck_options(args)
    robot = _robot(args)
    tdphys.init(args.arch, "f64")
    tdphys.backend.current().require_gradients()
    from .engine.layout import build_layout

    targets = gradcheck.choose(build_layout(robot), steps, groups, per_param, seed)
    sim = tdphys.Simulation(robot, batch=gradcheck.worlds_for(len(targets)), steps=steps)
    controls = "none (no motors)"
    if sim.n_motors:
        sim.set_controls(np.random.default_rng(seed).uniform(-0.3, 0.3, (steps, sim.n_motors)))
        controls = f"uniform(-0.3, 0.3) per step and motor, seed {seed}"
    print(
        f"tdphys gradcheck {args.robot}: {steps} steps of {sim.dt:g} s, f64, start: the "
        f"file's initial state, controls {controls}"
    )
    print("loss differentiated (seed " + str(seed) + "):\n" + gradcheck.LOSS_FORMULA)
    print(
        f"finite differences: central, forward and backward, at h = r max(1, |x|) for r = "
        f"{', '.join(f'{r:g}' for r in gradcheck.REL_STEPS)}\ntolerance: {tol:g} (relative)"
    )
    verdicts = gradcheck.classify(sim, targets, tol=tol, seed=seed)
    print(gradcheck.format_table(verdicts, groups, verbose=args.verbose))
    mismatches = [v for v in verdicts if v.verdict == gradcheck.MISMATCH]
    if mismatches:
        print(
            f"\n{len(mismatches)} mismatch(es): the tape disagrees with converged finite "
            "differences: " + ", ".join(v.label for v in mismatches)
        )
        return 1
    return 0


def _view(args) -> int:
    from .errors import ViewerError
    from .viewer import ViewOptions, render_video, run_window, save_camera_images

    size = args.size or ("640x480" if args.headless else "960x720")
    try:
        width, height = (int(x) for x in size.lower().split("x"))
    except ValueError:
        raise ViewerError(
            f"--size {size}: expected WIDTHxHEIGHT\n  fix: e.g. --size 640x480"
        ) from None
    world = args.world.strip().lower()
    if world != "all" and not world.isdigit():
        raise ViewerError(f"--world {args.world}: expected an index or 'all'")
    opt = ViewOptions(
        size=(width, height),
        fps=args.fps,
        speed=args.speed,
        headless=args.headless,
        out=args.out,
        fallback=args.fallback,
        world=None if world == "all" else int(world),
        follow=args.follow,
        joints=args.joints,
        contacts=args.contacts,
        path=args.path,
        panel=not args.no_panel,
        loop=args.loop,
        robot=args.robot,
        controls=args.controls,
        batch=args.batch,
        steps=args.steps,
        precision=args.precision,
        vars=_vars(args),
        max_frames=args.max_frames,
        camera=args.camera,
        camera_out=args.camera_out,
        camera_scale=args.camera_scale,
    )
    if args.headless:
        render_video(args.input, opt)
        return 0
    if args.camera_out:
        save_camera_images(args.input, opt)
        return 0
    return run_window(args.input, opt)


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        return {
            "simulate": _simulate,
            "gradcheck": _gradcheck,
            "view": _view,
            "convert": _convert,
            "optimize": optimize_command.run,
            "replay": replay_command.run,
            "bench": bench_command.run,
            "sweep": sweep_args.run,
        }[args.command](args)
    except TdphysError as exc:
        print(f"tdphys: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
