"""A sweep's results, per setting, from its trials' run folders (docs/sweep.md, "Outputs"):
sweep.json (the numbers), sweep.md (a table) and sweep.png (every seed's curve, the median
and a band); `describe` words one setting as the results tables show it.

Reads only JSON files (a trial's trial.json, metrics.json and history.json): no Taichi, no
Ray, so demos/results_table.py can use it anywhere.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np


def read_trial(run_dir: Path, base: Path) -> dict:
    """One trial's record: seed, dir (relative to `base`, the sweep's folder), status ("met",
    "not met", "failed" or "not run"), and
    for a finished one evaluations, success_at_evaluation, wall_s (the run's wall time [s]),
    wall_s_to_success [s] (from history.json), metric (the headline metric of its best
    parameters), stop_reason; error: the first line of a failed one's error.txt (the
    exception and its message; its traceback follows there)."""
    trial = read_json(run_dir / "trial.json") or {}
    metrics = read_json(run_dir / "metrics.json")
    record = {
        "seed": trial.get("seed"),
        "dir": Path(run_dir).relative_to(base).as_posix(),
        "status": "not run",
    }
    if metrics is None:
        error = run_dir / "error.txt"
        if error.is_file():
            lines = error.read_text(errors="replace").strip().splitlines()
            record.update(status="failed", error=lines[0] if lines else "")
        return record
    at = metrics.get("success_at_evaluation")
    met = bool(metrics.get("success"))
    record.update(
        status="met" if met else "not met",
        evaluations=metrics.get("evaluations"),
        success_at_evaluation=at if met else None,
        wall_s=metrics.get("wall_s"),
        wall_s_to_success=_wall_at(run_dir, at) if met else None,
        metric=metrics.get(trial.get("metric", {}).get("key", "")),
        stop_reason=metrics.get("stop_reason"),
    )
    return record


def curve(run_dir: Path, key: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(simulations, `key` of the lowest-loss simulation so far: the one the run keeps) of a
    run folder's history.json; None without one."""
    history = read_json(run_dir / "history.json")
    if not history:
        return None
    ev = np.array([h["evaluation"] for h in history], float)
    loss = np.array([h.get("loss", math.nan) for h in history], float)
    value = np.array([h.get(key, math.nan) for h in history], float)
    kept, best = np.zeros(len(history), int), 0
    for i, li in enumerate(loss):
        if li < loss[best] or not np.isfinite(loss[best]):
            best = i
        kept[i] = best
    return ev, value[kept]


def summarise_setting(
    name: str, values: dict, optimizer: str, records: list[dict], metric: dict
) -> dict:
    """One setting (its --set values, its optimiser: adam or cmaes, and the headline metric
    {key, unit, better}): statistics over its trials' records (read_trial): n (finished trials),
    met, simulations_to_success and wall_s_to_success {median, q1, q3} over the met ones,
    wall_s {median} over the finished ones, final_metric {best, median} over the finished
    ones, failed and not_run (counts), and the records themselves."""
    done = [r for r in records if r["status"] in ("met", "not met")]
    met = [r for r in done if r["status"] == "met"]
    finals = [
        r["metric"]
        for r in done
        if isinstance(r.get("metric"), (int, float)) and math.isfinite(r["metric"])
    ]
    best = (min if metric.get("better", "lower") == "lower" else max)(finals) if finals else None
    return {
        "name": name,
        "set": values,
        "optimizer": optimizer,
        "n": len(done),
        "met": len(met),
        "failed": sum(r["status"] == "failed" for r in records),
        "not_run": sum(r["status"] == "not run" for r in records),
        "simulations_to_success": _quartiles([r["success_at_evaluation"] for r in met]),
        "wall_s_to_success": _quartiles([r["wall_s_to_success"] for r in met]),
        "wall_s": _quartiles([r["wall_s"] for r in done]),
        "final_metric": {"best": best, "median": float(np.median(finals)) if finals else None},
        "metric": metric,
        "trials": records,
    }


def _quartiles(values: list) -> dict | None:
    """{median, q1, q3} of the numbers in `values` (None entries skipped), None if none."""
    x = [float(v) for v in values if v is not None]
    if not x:
        return None
    q1, median, q3 = np.percentile(x, [25, 50, 75])
    return {"median": float(median), "q1": float(q1), "q3": float(q3)}


def describe(setting: dict) -> str:
    """'9 of 10 seeds met, median 52 simulations (IQR 45-60), median 61 s' (simulations and
    wall time to success, over the seeds that met the criterion); with none met, the
    metric's best and median instead; unfinished trials are counted after it."""
    n, k = setting["n"], setting["met"]
    text = f"{k} of {n} seed{'s' if n != 1 else ''} met"
    sims, wall = setting["simulations_to_success"], setting["wall_s_to_success"]
    if k:
        text += f", median {sims['median']:.0f} simulations (IQR {sims['q1']:.0f}-{sims['q3']:.0f})"
        if wall:
            text += f", median {wall['median']:.0f} s"
    elif n:
        m, fm = setting["metric"], setting["final_metric"]
        if fm["best"] is not None:
            text += (
                f"; {m.get('key')} best {format_value(fm['best'], m.get('unit', ''))}, "
                f"median {format_value(fm['median'], m.get('unit', ''))}"
            )
        if setting["wall_s"]:
            text += f", median {setting['wall_s']['median']:.0f} s per run"
    left = setting["failed"] + setting["not_run"]
    if left:
        text += f" ({left} more not finished)"
    return text


def format_value(value: float, unit: str) -> str:
    """A metric in its unit: metres under 0.1 m in mm, relative errors in %."""
    if unit == "m" and abs(value) < 0.1:
        return f"{1000 * value:.3g} mm"
    if unit in ("relative", "-"):
        return f"{100 * value:.3g} %"
    return f"{value:.3g} {unit}".strip()


def markdown(sweep: dict) -> str:
    """sweep.md: a header naming the experiment, seeds and budget, and one row per setting."""
    intro = (
        f"Seeds {_ranges(sweep['seeds'])}, budget {sweep['budget']} simulations per run. "
        "Simulations and wall time to success are over the seeds that met the task's "
        "criterion; the final metric is each run's best parameters'."
    )
    header = (
        "| setting | result | met | simulations to success: median (IQR) | wall to "
        "success: median | wall per run: median | final metric: best, median |"
    )
    lines = [
        f"# Sweep of {sweep['experiment']} ({sweep['file']})",
        "",
        intro,
        "",
        header,
        "|---|---|---|---|---|---|---|",
    ]
    for s in sweep["settings"]:
        sims, m, fm = s["simulations_to_success"], s["metric"], s["final_metric"]
        unit = m.get("unit", "")
        lines.append(
            f"| {s['name'] or '(the file)'} | {describe(s)} | {s['met']} of {s['n']} | "
            + (f"{sims['median']:.0f} ({sims['q1']:.0f}-{sims['q3']:.0f})" if sims else "-")
            + f" | {_seconds(s['wall_s_to_success'])} | {_seconds(s['wall_s'])} | "
            + (
                f"{m.get('key')} {format_value(fm['best'], unit)}, "
                f"{format_value(fm['median'], unit)}"
                if fm["best"] is not None
                else "-"
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


def _seconds(q: dict | None) -> str:
    return "-" if q is None else f"{q['median']:.0f} s"


def _ranges(seeds: list[int]) -> str:
    """[0, 1, 2, 5] -> '0-2, 5'."""
    parts, start = [], None
    for i, s in enumerate(seeds):
        if start is None:
            start = s
        if i + 1 == len(seeds) or seeds[i + 1] != s + 1:
            parts.append(str(s) if s == start else f"{start}-{s}")
            start = None
    return ", ".join(parts)


def plot(sweep: dict, path: Path) -> Path | None:
    """sweep.png: per setting, every seed's headline metric of its best simulation so far
    (lowest loss) vs simulations (thin lines; a dot where the seed met the criterion), their
    median (thick) and the band between the quartiles, over the seeds that have a history (a
    run that stopped holds its last value)."""
    panels = [s for s in sweep["settings"] if s["n"]]
    if not panels:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.8 * rows), squeeze=False, sharey=True)
    for ax, s in zip(axes.ravel(), panels):
        _panel(ax, s, Path(path).parent)
    for ax in axes.ravel()[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(f"{sweep['experiment']}: {len(sweep['seeds'])} seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _panel(ax, setting: dict, base: Path) -> None:
    key, unit = setting["metric"].get("key", ""), setting["metric"].get("unit", "")
    better = setting["metric"].get("better", "lower")
    curves = []
    for r in setting["trials"]:
        c = curve(base / r["dir"], key) if r["status"] in ("met", "not met") else None
        if c is None:
            continue
        curves.append(c)
        ax.plot(*c, "-", lw=0.8, alpha=0.5)
        if r["status"] == "met" and r.get("success_at_evaluation"):
            ev, best = c
            i = min(int(np.searchsorted(ev, r["success_at_evaluation"])), len(ev) - 1)
            ax.plot(ev[i], best[i], "o", ms=4, color="k")
    if curves:
        grid = np.unique(np.concatenate([ev for ev, _ in curves]))
        held = np.array(
            [
                best[np.clip(np.searchsorted(ev, grid, side="right") - 1, 0, None)]
                for ev, best in curves
            ]
        )
        q1, median, q3 = np.percentile(held, [25, 50, 75], axis=0)
        ax.fill_between(grid, q1, q3, alpha=0.25, color="C0", label="quartiles")
        ax.plot(grid, median, "-", lw=2.2, color="C0", label="median")
        values = held[np.isfinite(held)]
        if better == "lower" and values.size and np.all(values > 0):
            ax.set_yscale("log")
        ax.legend(fontsize=8)
    ax.set_title(
        f"{setting['name'] or '(the file)'}: {setting['met']} of {setting['n']} met", fontsize=9
    )
    ax.set_xlabel("simulations")
    ax.set_ylabel(f"{key} of the best so far [{unit}]")
    ax.grid(True, which="both", alpha=0.3)


def write(sweep: dict, out: Path) -> dict:
    """sweep.json, sweep.md and sweep.png into `out`; returns {name: path}."""
    out = Path(out)
    files = {"json": out / "sweep.json", "md": out / "sweep.md"}
    write_text(files["json"], json.dumps(sweep, indent=2) + "\n")
    write_text(files["md"], markdown(sweep))
    png = plot(sweep, out / "sweep.png")
    if png is not None:
        files["png"] = png
    return files


def write_text(path: Path, text: str) -> None:
    """Write `text` to a temporary file beside `path`, then rename it over `path`."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _wall_at(run_dir: Path, evaluation: int | None) -> float | None:
    """The wall time [s] at which the run reached `evaluation` simulations (history.json)."""
    history = read_json(run_dir / "history.json")
    if not history or evaluation is None:
        return None
    for h in history:
        if h.get("evaluation", -1) >= evaluation:
            return h.get("wall_s")
    return None


def read_json(path: Path):
    """The JSON in file `path`, None when it is missing or not JSON."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
