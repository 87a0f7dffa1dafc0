"""The README's results table, regenerated from run folders (issue #3):

    python demos/results_table.py                  # print the table from runs/*/metrics.json
    python demos/results_table.py --write README.md

Each row is one experiment: ours with Adam (runs/<name>/), ours with CMA-ES (runs/<name>_cmaes/)
and the paper's figure. A run that is missing shows "not run". --write replaces the text
between the `<!-- results:begin -->` and `<!-- results:end -->` lines of the file.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

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
    if metrics is None:
        return "not run"
    value = metrics.get(key)
    if value is None:
        shown = "n/a"
    elif unit == "relative":
        shown = f"{100 * value:.3g} %"
    elif unit == "m" and abs(value) < 0.1:
        shown = f"{1000 * value:.3g} mm"
    else:
        shown = f"{value:.3g} {unit}"
    ok = "met" if metrics.get("success") else "not met"
    if "confirmed" in metrics:      # task.confirm: the criterion rechecked on a longer rollout
        ok += (f"; {'' if metrics['confirmed'] else 'not '}confirmed on a "
               f"{metrics.get('confirm_s', 0):g} s rollout")
        if "confirm_worlds" in metrics:    # task.confirm_starts: from nudged starts too
            ok += (f" from {metrics['confirm_worlds']} starts" if metrics["confirmed"] else
                   f" ({metrics['confirm_passed']} of {metrics['confirm_worlds']} starts)")
    return (f"{shown} ({ok}) after {metrics['evaluations']} simulations, "
            f"{metrics['wall_s']:.0f} s")


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def table(runs: Path) -> str:
    lines = ["| task | ours, Adam | ours, CMA-ES | paper, gradient | paper, CMA-ES |",
             "|---|---|---|---|---|"]
    for name, (words, key, unit, paper_gd, paper_cma) in ROWS.items():
        adam = _read(runs / name / "metrics.json")
        cma = _read(runs / f"{name}_cmaes" / "metrics.json")
        lines.append(f"| {words} | {_cell(adam, key, unit)} | {_cell(cma, key, unit)} | "
                     f"{paper_gd} | {paper_cma} |")
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
    p.add_argument("--write", help="a Markdown file with the results markers to update")
    args = p.parse_args(argv)
    text = table(Path(args.runs))
    if args.write:
        write(Path(args.write), text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
