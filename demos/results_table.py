"""The results tables, generated from sweeps and run folders:

    python demos/results_table.py                                  # print the full table
    python demos/results_table.py --write RESULTS.md --readme README.md

Each row is one experiment: ours with Adam, ours with CMA-ES, and the paper's figures. A cell
comes from a sweep (`tdphys sweep`, docs/sweep.md) when --sweeps holds one of that experiment
and optimiser with the file's recipe: "9 of 10 seeds met, median 52 simulations (IQR 45-60),
median 61 s". Without one it comes from the single run folders under --runs that ran that
experiment with that optimiser (each folder's metrics.json names both), as "best of n: ..."
(the best of n runs by the task's metric, and how many of the n met the criterion); "not run"
when there is neither. --write replaces the text between the `<!-- results:begin -->` and
`<!-- results:end -->` lines of a file with the full table, --readme with the short one.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from tdphys.sweep import summary  # reads JSON only: no Taichi, no Ray

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
RECIPE_KEYS = {"optimizer.type", "optimizer.budget"}


class Row:
    """One experiment's row: the task in words, its headline metric (key, unit, whether
    higher is better) and Degrave et al.'s figures (gradient descent, CMA-ES)."""

    def __init__(self, words, key, unit, paper_gd, paper_cma, higher=False):
        self.words, self.key, self.unit, self.higher = words, key, unit, higher
        self.paper_gd, self.paper_cma = paper_gd, paper_cma


ROWS = {
    "ball_throw": Row(
        "Ball throw to (10, 0) m",
        "error_m",
        "m",
        "88 iterations (16.3 s)",
        "2422 simulations (59.9 s)",
    ),
    "arm_reach": Row(
        "Arm reach, fixed target",
        "error_m",
        "m",
        "< 1 cm after 150 simulations",
        "no convergence in 60,000",
    ),
    "arm_reach_random": Row(
        "Arm reach, random targets (held-out)",
        "error_m",
        "m",
        "< 5 cm after 2563 updates of batch 128",
        "not reported",
    ),
    "quadruped_gait": Row(
        "Quadruped gait from standstill",
        "speed_mps",
        "m/s",
        "1.17 m/s after 500 simulations (~1 CPU hour)",
        "not reported",
        higher=True,
    ),
    "quadruped_codesign": Row(
        "Co-design: gait + leg lengths and masses",
        "speed_mps",
        "m/s",
        "not reported (proposed)",
        "not reported",
        higher=True,
    ),
    "system_identification": Row(
        "System identification (e, mu, m)",
        "param_error",
        "relative",
        "not in the paper",
        "not in the paper",
    ),
    "cart_swing_up": Row(
        "Cart-pendulum swing-up, from the state",
        "worst_gap_m",
        "m",
        "not in the paper",
        "not in the paper",
    ),
    "pendulum_pixels": Row(
        "Cart-pendulum swing-up, from pixels only",
        "worst_gap_m",
        "m",
        "about 2420 updates",
        "not reported",
    ),
}


# Rows whose sweep cell also gives the gain over another experiment on the same seeds: co-design
# against the controller trained alone (the seeds draw the same initial weights in both).
PAIRED = {"quadruped_codesign": "quadruped_gait"}


def paired_gain(mine: dict, theirs: dict, row: Row) -> tuple[int, str]:
    """(n, 'median +0.1 m/s (-0.05 to +0.3 m/s)'): per seed, this setting's final metric less
    the other's, over the n seeds both finished (for lower-is-better metrics the sign is turned
    so a gain is positive); (0, '') without common seeds."""

    def by_seed(setting):
        return {
            t["seed"]: t["metric"]
            for t in setting.get("trials", [])
            if t.get("metric") is not None and t.get("status") in ("met", "not met")
        }

    a, b = by_seed(mine), by_seed(theirs)
    common = sorted(set(a) & set(b))
    if not common:
        return 0, ""
    sign = 1.0 if row.higher else -1.0
    gains = sorted(sign * (a[k] - b[k]) for k in common)
    mid = len(gains) // 2
    median = gains[mid] if len(gains) % 2 else 0.5 * (gains[mid - 1] + gains[mid])
    return len(common), (
        f"median {median:+.3g} {row.unit} ({gains[0]:+.3g} to {gains[-1]:+.3g} {row.unit})"
    )


def _read(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def run_folders(runs: Path) -> dict:
    """{(experiment, optimiser): [metrics.json of each run folder directly under `runs`]}.
    A metrics.json without those keys is placed by its folder's name: runs/<name>/ (Adam),
    runs/<name>_cmaes/, each with an optional _2, _3, ... as `tdphys optimize` numbers them."""
    found: dict = {}
    for path in sorted(Path(runs).glob("*/metrics.json")):
        m = _read(path)
        if m is None:
            continue
        name = re.sub(r"_\d+$", "", path.parent.name)
        kind = "cmaes" if name.endswith("_cmaes") else "adam"
        key = (m.get("experiment") or name.removesuffix("_cmaes"), m.get("optimizer") or kind)
        found.setdefault(key, []).append(m)
    return found


def best_of(runs: list[dict], row: Row) -> str:
    """'best of n: VALUE (met) after S simulations, W s', the best of n runs by the row's
    metric (runs without it last); with n > 1 also how many met the criterion."""

    def rank(m):
        v = m.get(row.key)
        return (v is None, -v if row.higher and v is not None else v)

    best = min(runs, key=rank)
    n, met = len(runs), sum(bool(m.get("success")) for m in runs)
    head = f"best of {n}" + (f" ({met} met)" if n > 1 else "")
    value = best.get(row.key)
    shown = "n/a" if value is None else summary.format_value(value, row.unit)
    return (
        f"{head}: {shown} ({_verdict(best)}) after {best.get('evaluations', '?')} "
        f"simulations, {best.get('wall_s', 0):.0f} s"
    )


def _verdict(m: dict) -> str:
    ok = "met" if m.get("success") else "not met"
    if m.get("stop_reason") == "interrupted":  # stopped by hand before its budget
        ok += ", stopped"
    if "confirmed" in m:  # task.confirm: the criterion rechecked on a longer rollout
        ok += (
            f"; {'' if m['confirmed'] else 'not '}confirmed on a "
            f"{m.get('confirm_s', 0):g} s rollout"
        )
        if "confirm_worlds" in m:  # task.confirm_starts: from nudged starts too
            ok += (
                f" from {m['confirm_worlds']} starts"
                if m["confirmed"]
                else f" ({m['confirm_passed']} of {m['confirm_worlds']} starts)"
            )
    return ok


def sweep_settings(sweeps: Path) -> dict:
    """{(experiment, optimiser): the setting that stands for it} from every sweep.json under
    `sweeps`: a setting whose --set values change nothing but optimizer.type and
    optimizer.budget (the file's recipe), the one with the most finished seeds (then the
    most recently written)."""
    found = {}
    for path in sorted(Path(sweeps).rglob("sweep.json"), key=lambda p: p.stat().st_mtime):
        sweep = _read(path) or {}
        for s in sweep.get("settings", []):
            if not set(s.get("set", {})) <= RECIPE_KEYS or not s.get("n"):
                continue
            key = (sweep.get("experiment"), s.get("optimizer"))
            if key not in found or s["n"] >= found[key]["n"]:
                found[key] = s
    return found


def _sources(runs: Path, sweeps: Path | None) -> tuple[dict, dict]:
    swept = sweep_settings(sweeps) if sweeps is not None and Path(sweeps).is_dir() else {}
    return swept, run_folders(runs) if Path(runs).is_dir() else {}


def table(runs: Path, sweeps: Path | None = None) -> str:
    """The full table: every cell's rate or best run in words, and the paper's figures."""
    swept, folders = _sources(runs, sweeps)
    lines = [
        "| task | ours, Adam | ours, CMA-ES | paper, gradient | paper, CMA-ES |",
        "|---|---|---|---|---|",
    ]
    for name, row in ROWS.items():
        cells = []
        for kind in ("adam", "cmaes"):
            s, ran = swept.get((name, kind)), folders.get((name, kind))
            cell = summary.describe(s) if s else best_of(ran, row) if ran else "not run"
            if s and (PAIRED.get(name), kind) in swept:
                n, gain = paired_gain(s, swept[PAIRED[name], kind], row)
                if n:
                    cell += f"; gain over the controller alone on the same {n} seeds: {gain}"
            cells.append(cell)
        lines.append(
            f"| {row.words} | {cells[0]} | {cells[1]} | {row.paper_gd} | {row.paper_cma} |"
        )
    return "\n".join(lines)


def short_table(runs: Path, sweeps: Path | None = None) -> str:
    """The README's table: per optimiser "k of n seeds met" from a sweep, "best of n: met" or
    "best of n: not met" from run folders, or "not run"."""
    swept, folders = _sources(runs, sweeps)
    lines = ["| task | Adam | CMA-ES |", "|---|---|---|"]
    for name, row in ROWS.items():
        cells = []
        for kind in ("adam", "cmaes"):
            s, ran = swept.get((name, kind)), folders.get((name, kind))
            if s:
                gain = ""
                if (PAIRED.get(name), kind) in swept:
                    n, gain = paired_gain(s, swept[PAIRED[name], kind], row)
                    gain = f" (gain over the controller alone: {gain})" if n else ""
                cells.append(f"{s['met']} of {s['n']} seeds met{gain}")
            elif ran:
                cells.append(best_of(ran, row).split(" after ")[0])
            else:
                cells.append("not run")
        lines.append(f"| {row.words} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def write(path: Path, text: str) -> None:
    doc = path.read_text()
    if BEGIN not in doc or END not in doc:
        raise SystemExit(f"{path}: no '{BEGIN}' ... '{END}' lines to replace")
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", default=str(ROOT / "runs"), help="folder of run folders")
    p.add_argument(
        "--sweeps",
        default=str(ROOT / "runs" / "sweeps"),
        help="folder searched for sweep.json files (`tdphys sweep --out`)",
    )
    p.add_argument("--write", help="a Markdown file whose results markers get the full table")
    p.add_argument("--readme", help="a Markdown file whose results markers get the short table")
    args = p.parse_args(argv)
    text = table(Path(args.runs), Path(args.sweeps))
    if args.write:
        write(Path(args.write), text)
    if args.readme:
        write(Path(args.readme), short_table(Path(args.runs), Path(args.sweeps)))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
