"""The `tdphys sweep` command's arguments and their checks (docs/sweep.md). Imports neither
Taichi nor Ray: the other commands build this parser too."""

from __future__ import annotations

import argparse
import re
from collections import Counter

ARCHS = ("cpu", "cuda", "vulkan", "auto")
MAX_SEEDS = 10000  # more is a typo (a run takes seconds to hours)


def add_parser(sub) -> None:
    """The `sweep` subcommand on the subparsers `sub` of the tdphys command line."""
    p = sub.add_parser(
        "sweep",
        help="run an experiment over seeds (and a grid of --set values) on Ray Tune",
        description="Run one optimisation per seed (and per setting of --set values) of an "
        "experiment file on Ray Tune, each in its own run folder, and write sweep.json, "
        "sweep.md and sweep.png: per setting the success rate, simulations and wall time to "
        "success, and the final metric. Run it again to go on: finished trials are kept, "
        "killed ones resume from their checkpoints. See docs/sweep.md.",
    )
    p.add_argument("experiment", help="experiment YAML file")
    p.add_argument(
        "--seeds",
        default=[*range(10)],
        type=_checked(parse_seeds),
        help="sweep seeds: a range or a list, e.g. 0-9 (default) or 0,3,5; seed S "
        "adds S to every seed of the file",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        type=_checked(parse_set),
        metavar="KEY=VALUE[,VALUE...]",
        dest="sets",
        help="set a key path of the experiment, e.g. optimizer.lr=3e-3; several "
        "values make a grid (the product over --set keys); repeatable",
    )
    p.add_argument(
        "--workers",
        type=_checked(_positive_int),
        metavar="N",
        help="trials at once (default: the local CPUs / --threads; with --address: "
        "as many as the cluster's CPUs fit)",
    )
    p.add_argument(
        "--threads",
        type=_checked(_positive_int),
        default=1,
        metavar="N",
        help="Taichi CPU threads per trial (default 1)",
    )
    p.add_argument(
        "--address",
        metavar="ADDR",
        help="an existing Ray cluster, e.g. 10.0.0.5:6379 or auto "
        "(default: start a local Ray for the sweep)",
    )
    p.add_argument(
        "--out", metavar="DIR", help="sweep folder (default runs/sweeps/<experiment name>/)"
    )
    p.add_argument(
        "--budget",
        type=_checked(_positive_int),
        metavar="N",
        help="simulations per run (default: the file's optimizer.budget)",
    )
    p.add_argument(
        "--arch",
        default="cpu",
        choices=ARCHS,
        help="where the kernels run (auto: a GPU if there is one)",
    )
    p.add_argument(
        "--checkpoint-min",
        type=_checked(_non_negative),
        default=1.0,
        metavar="MIN",
        help="save each run's checkpoint every MIN minutes "
        "(default 1; 0: only at the end), which a killed trial resumes from",
    )
    p.add_argument("--video", action="store_true", help="render each run's video.mp4")


def run(args) -> int:
    """Carry out a parsed `tdphys sweep` command (tdphys/sweep/run.py)."""
    from .run import main

    return main(args)


def _checked(parse):
    """argparse type from a parser that raises ValueError with the fix."""

    def check(text: str):
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    check.__name__ = parse.__name__
    return check


def _positive_int(text: str) -> int:
    if not re.fullmatch(r"\s*\d+\s*", text) or int(text) < 1:
        raise ValueError(f"'{text}' is not a whole number >= 1; e.g. 2")
    return int(text)


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"'{text}' is not a number >= 0; e.g. 1 or 0.5")
    return value


def parse_seeds(text: str) -> list[int]:
    """'0-9' -> [0, ..., 9]; '0,3,5'; '0-4,7'. ValueError (with the fix) otherwise."""
    seeds: list[int] = []
    fix = "write seeds >= 0 as a range or a list, e.g. --seeds 0-9 or --seeds 0,3,5"
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if m is None:
            raise ValueError(f"'{part.strip()}' in '{text}' is not a seed or a range; {fix}")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise ValueError(
                f"the range '{part.strip()}' runs backwards; write it low-high, e.g. {hi}-{lo}"
            )
        seeds.extend(range(lo, hi + 1))
    if len(seeds) > MAX_SEEDS:
        raise ValueError(f"'{text}' is {len(seeds)} seeds, more than {MAX_SEEDS}; {fix}")
    twice = sorted(s for s, n in Counter(seeds).items() if n > 1)
    if twice:
        raise ValueError(f"seed {twice[0]} is given twice in '{text}'; give each seed once")
    return seeds


def parse_set(text: str) -> tuple[str, list[str]]:
    """'optimizer.lr=1e-3,3e-3' -> ('optimizer.lr', ['1e-3', '3e-3']): a key path and one or
    more YAML values, split at the commas outside brackets and quotes ('task.target=[9, 0]'
    is one value). ValueError (with the fix) otherwise."""
    key, eq, values = text.partition("=")
    key = key.strip()
    if not eq or not key:
        raise ValueError(
            f"'{text}' is not KEY=VALUE; e.g. --set optimizer.lr=1e-3 or, for a "
            "grid, --set optimizer.lr=1e-3,3e-3"
        )
    items = [v.strip() for v in _split_top_level(values)]
    if any(not v for v in items):
        raise ValueError(f"--set {text}: an empty value; write KEY=V or KEY=V1,V2,...")
    return key, items


def _split_top_level(text: str) -> list[str]:
    """`text` split at the commas outside [], {} and quotes."""
    parts, depth, quote, start = [], 0, "", 0
    for i, c in enumerate(text):
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts
