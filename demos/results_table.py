"""The README's results table, regenerated from sweeps and run folders:

    python demos/results_table.py                  # print the table
    python demos/results_table.py --write README.md

Each row is one experiment: ours with Adam, ours with CMA-ES, and the paper's figures. A cell
comes from a sweep (`tdphys sweep`, docs/sweep.md) when --sweeps holds one of that experiment
and optimiser: "9 of 10 seeds met, median 52 simulations (IQR 45-60), median 61 s". Without
one it shows the single run folder runs/<name>/ (Adam) or runs/<name>_cmaes/ (CMA-ES) as
"best of 1: ...", and "not run" without that either. --write replaces the text between the
`<!-- results:begin -->` and `<!-- results:end -->` lines of the file.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tdphys.sweep import summary  # reads JSON only: no Taichi, no Ray

ROOT = Path(__file__).resolve().parents[1]

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"

# experiment name -> (task in words, the headline metric key and unit, Degrave et al.'s
# figures: gradient descent, CMA-ES)
ROWS = {
    "ball_throw": ("Ball throw to (10, 0) m", "error_m", "m",
                   "88 iterations (16.3 s)", "2422 simulations (59.9 s)"),
    "arm_reach": ("Arm reach, fixed target", "error_m", "m",
                  "< 1 cm after 150 simulations", "no convergence in 60,000"),
    "arm_reach_random": ("Arm reach, random targets (held-out)", "error_m", "m",
                         "< 5 cm after 2563 updates of batch 128", "not reported"),
    "quadruped_gait": ("Quadruped gait from standstill", "speed_mps", "m/s",
                       "1.17 m/s after 500 simulations (~1 CPU hour)", "not reported"),
    "quadruped_codesign": ("Co-design: gait + leg lengths and masses", "speed_mps", "m/s",
                           "not reported (proposed)", "not reported"),
    "system_identification": ("System identification (e, mu, m)", "param_error", "relative",
                              "not in the paper", "not in the paper"),
    "cart_swing_up": ("Cart-pendulum swing-up, from the state", "worst_gap_m", "m",
                      "not in the paper", "not in the paper"),
    "pendulum_pixels": ("Cart-pendulum swing-up, from pixels only", "worst_gap_m", "m",
                        "about 2420 updates", "not reported"),
}


def _cell(metrics: dict | None, key: str, unit: str) -> str:
    """A single run folder's metrics.json: one run is no rate, so it shows as 'best of 1'."""
    if metrics is None:
        return "not run"
    value = metrics.get(key)
    shown = "n/a" if value is None else summary.format_value(value, unit)
    ok = "met" if metrics.get("success") else "not met"
    if "confirmed" in metrics:      # task.confirm: the criterion rechecked on a longer rollout
        ok += (f"; {'' if metrics['confirmed'] else 'not '}confirmed on a "
               f"{metrics.get('confirm_s', 0):g} s rollout")
        if "confirm_worlds" in metrics:    # task.confirm_starts: from nudged starts too
            ok += (f" from {metrics['confirm_worlds']} starts" if metrics["confirmed"] else
                   f" ({metrics['confirm_passed']} of {metrics['confirm_worlds']} starts)")
    return (f"best of 1: {shown} ({ok}) after {metrics['evaluations']} simulations, "
            f"{metrics['wall_s']:.0f} s")


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


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


RECIPE_KEYS = {"optimizer.type", "optimizer.budget"}


def table(runs: Path, sweeps: Path | None = None) -> str:
    swept = sweep_settings(sweeps) if sweeps is not None and Path(sweeps).is_dir() else {}
    lines = ["| task | ours, Adam | ours, CMA-ES | paper, gradient | paper, CMA-ES |",
             "|---|---|---|---|---|"]
    for name, (words, key, unit, paper_gd, paper_cma) in ROWS.items():
        cells = []
        for kind, folder in (("adam", name), ("cmaes", f"{name}_cmaes")):
            s = swept.get((name, kind))
            cells.append(summary.describe(s) if s else
                         _cell(_read(runs / folder / "metrics.json"), key, unit))
        lines.append(f"| {words} | {cells[0]} | {cells[1]} | {paper_gd} | {paper_cma} |")
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
    p.add_argument("--sweeps", default=str(ROOT / "runs" / "sweeps"),
                   help="folder searched for sweep.json files (`tdphys sweep --out`)")
    p.add_argument("--write", help="a Markdown file with the results markers to update")
    args = p.parse_args(argv)
    text = table(Path(args.runs), Path(args.sweeps))
    if args.write:
        write(Path(args.write), text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
