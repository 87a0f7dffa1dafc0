"""demos/results_table.py: the results tables (RESULTS.md in full, README.md short), read from
sweeps (sweep.json: success rates over seeds) and, where an experiment has none, from single
run folders' metrics.json (shown as "best of n")."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "demos"))
import results_table  # noqa: E402

from tdphys.sweep import summary  # noqa: E402
from tdphys.sweep.plan import setting_name  # noqa: E402


def _metrics(folder: Path, **m) -> None:
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps(m))


def test_cells_show_metric_success_and_counts(tmp_path):
    _metrics(tmp_path / "ball_throw", error_m=0.0074, success=True, evaluations=55, wall_s=60.4)
    _metrics(
        tmp_path / "quadruped_gait_cmaes",
        speed_mps=0.5,
        success=False,
        evaluations=500,
        wall_s=1000.0,
    )
    rows = {
        line.split(" | ")[0][2:]: line for line in results_table.table(tmp_path).splitlines()[2:]
    }
    assert (
        "| best of 1: 7.4 mm (met) after 55 simulations, 60 s | not run |"
        in rows["Ball throw to (10, 0) m"]
    )
    assert (
        "| not run | best of 1: 0.5 m/s (not met) after 500 simulations, 1000 s |"
        in rows["Quadruped gait from standstill"]
    )


def test_several_run_folders_show_as_the_best_of_n_and_how_many_met(tmp_path):
    """Run folders are grouped by the experiment and optimiser their metrics.json names
    (whatever the folder is called); the cell shows the best by the task's metric (speed:
    higher is better) and the count that met the criterion."""
    for folder, speed, ok in (
        ("quadruped_gait", 1.1, False),
        ("quadruped_gait_2", 1.2, True),
        ("walk", 0.9, False),
    ):
        _metrics(
            tmp_path / folder,
            experiment="quadruped_gait",
            optimizer="adam",
            speed_mps=speed,
            success=ok,
            evaluations=500,
            wall_s=300.0,
        )
    row = [
        r for r in results_table.table(tmp_path).splitlines() if r.startswith("| Quadruped gait")
    ][0]
    assert "| best of 3 (1 met): 1.2 m/s (met) after 500 simulations, 300 s | not run |" in row
    short = [
        r
        for r in results_table.short_table(tmp_path).splitlines()
        if r.startswith("| Quadruped gait")
    ][0]
    assert (
        short == "| Quadruped gait from standstill | best of 3 (1 met): 1.2 m/s (met) | not run |"
    )


def test_a_run_stopped_by_hand_says_so(tmp_path):
    _metrics(
        tmp_path / "ball_throw",
        error_m=0.05,
        success=False,
        evaluations=40,
        wall_s=30.0,
        stop_reason="interrupted",
    )
    assert (
        "| best of 1: 50 mm (not met, stopped) after 40 simulations, 30 s |"
        in results_table.table(tmp_path).splitlines()[2]
    )


def test_the_short_table_gives_a_sweep_as_its_rate(tmp_path):
    _sweep(
        tmp_path / "sweeps" / "ball_throw",
        "ball_throw",
        [({}, "adam", [(44, 50.0, 0.004), (None, 300.0, 0.2)])],
    )
    rows = results_table.short_table(tmp_path / "runs", tmp_path / "sweeps").splitlines()
    assert rows[2] == "| Ball throw to (10, 0) m | 1 of 2 seeds met | not run |"
    assert all(r.endswith("| not run | not run |") for r in rows[3:])


def test_a_confirmed_success_names_its_rollout(tmp_path):
    """task.confirm: the cell says whether the longer rollout met the criterion too."""
    _metrics(
        tmp_path / "cart_swing_up",
        worst_gap_m=0.0136,
        success=True,
        evaluations=5872,
        wall_s=634.0,
        confirmed=True,
        confirm_s=12.0,
    )
    _metrics(
        tmp_path / "cart_swing_up_cmaes",
        worst_gap_m=0.0122,
        success=False,
        evaluations=48000,
        wall_s=900.0,
        confirmed=False,
        confirm_s=12.0,
    )
    row = results_table.table(tmp_path).splitlines()[-2]
    assert "13.6 mm (met; confirmed on a 12 s rollout) after 5872 simulations" in row
    assert "12.2 mm (not met; not confirmed on a 12 s rollout) after 48000" in row


def test_a_confirmation_from_nudged_starts_says_how_many(tmp_path):
    """task.confirm_starts: every start must pass; the cell says from how many it did."""
    _metrics(
        tmp_path / "cart_swing_up",
        worst_gap_m=0.0054,
        success=True,
        evaluations=3312,
        wall_s=209.0,
        confirmed=True,
        confirm_s=12.0,
        confirm_passed=8,
        confirm_worlds=8,
    )
    _metrics(
        tmp_path / "cart_swing_up_cmaes",
        worst_gap_m=0.002,
        success=False,
        evaluations=900,
        wall_s=90.0,
        confirmed=False,
        confirm_s=12.0,
        confirm_passed=7,
        confirm_worlds=8,
    )
    row = results_table.table(tmp_path).splitlines()[-2]
    assert "(met; confirmed on a 12 s rollout from 8 starts) after 3312 simulations" in row
    assert "(not met; not confirmed on a 12 s rollout (7 of 8 starts)) after 900" in row


def test_write_replaces_only_between_the_markers(tmp_path):
    doc = tmp_path / "README.md"
    doc.write_text(f"intro\n{results_table.BEGIN}\nold\n{results_table.END}\nafter\n")
    results_table.write(doc, "new table")
    assert doc.read_text() == (
        f"intro\n{results_table.BEGIN}\nnew table\n{results_table.END}\nafter\n"
    )


METRIC = {"key": "error_m", "unit": "m", "better": "lower"}


def _trial(
    folder: Path, seed: int, met_at: int | None, wall_at: float, error: float, budget: int = 300
) -> None:
    """A finished trial's run folder: trial.json, metrics.json and a history.json whose last
    entry is the success (or the budget's end) at `wall_at` seconds."""
    folder.mkdir(parents=True)
    (folder / "trial.json").write_text(json.dumps({"seed": seed, "metric": METRIC}))
    evaluations = met_at or budget
    (folder / "metrics.json").write_text(
        json.dumps(
            {
                "success": met_at is not None,
                "success_at_evaluation": met_at,
                "error_m": error,
                "evaluations": evaluations,
                "wall_s": wall_at + 1.0,
                "stop_reason": "budget",
            }
        )
    )
    (folder / "history.json").write_text(
        json.dumps(
            [
                {"evaluation": 1, "wall_s": 1.0, "error_m": 1.0, "loss": 1.0},
                {"evaluation": evaluations, "wall_s": wall_at, "error_m": error, "loss": error},
            ]
        )
    )


def _sweep(out: Path, name: str, settings: list) -> None:
    """A sweep.json (and sweep.md, sweep.png) of `settings`: (values, optimizer, trials)."""
    sweep = {
        "experiment": name,
        "file": f"{name}.yaml",
        "seeds": [0, 1, 2],
        "budget": 300,
        "settings": [],
    }
    for values, optimizer, trials in settings:
        folder = out / "+".join(f"{k}={v}" for k, v in values.items())
        for seed, (met_at, wall_at, error) in enumerate(trials):
            _trial(folder / f"seed_{seed}", seed, met_at, wall_at, error)
        records = [summary.read_trial(folder / f"seed_{s}", out) for s in range(len(trials))]
        sweep["settings"].append(
            summary.summarise_setting(setting_name(values), values, optimizer, records, METRIC)
        )
    summary.write(sweep, out)


def test_a_sweep_cell_is_a_success_rate_with_medians_and_quartiles(tmp_path):
    """Simulations and wall time to success are over the seeds that met the criterion (44
    and 60 simulations, at 50 and 72 s); the third seed did not."""
    _sweep(
        tmp_path / "sweeps" / "ball_throw",
        "ball_throw",
        [({}, "adam", [(44, 50.0, 0.004), (60, 72.0, 0.008), (None, 300.0, 0.2)])],
    )
    sweep = json.loads((tmp_path / "sweeps" / "ball_throw" / "sweep.json").read_text())
    (setting,) = sweep["settings"]
    assert (setting["n"], setting["met"]) == (3, 2)
    assert setting["simulations_to_success"] == {"median": 52.0, "q1": 48.0, "q3": 56.0}
    assert setting["wall_s_to_success"]["median"] == 61.0
    assert setting["final_metric"] == {"best": 0.004, "median": 0.008}
    row = results_table.table(tmp_path / "runs", tmp_path / "sweeps").splitlines()[2]
    assert row.startswith(
        "| Ball throw to (10, 0) m | 2 of 3 seeds met, median 52 "
        "simulations (IQR 48-56), median 61 s | not run |"
    ), row
    assert (tmp_path / "sweeps" / "ball_throw" / "sweep.png").stat().st_size > 0


def test_each_optimiser_column_reads_the_files_recipe_not_a_tuned_setting(tmp_path):
    """A grid's setting that changes the recipe (here optimizer.lr) stands for no column; the
    CMA-ES column reads the setting that only switches the optimiser; a single run folder
    shows where no sweep does, as best of 1."""
    _sweep(
        tmp_path / "sweeps" / "arm",
        "arm_reach",
        [
            ({"optimizer.type": "adam", "optimizer.lr": "0.1"}, "adam", [(10, 5.0, 0.001)] * 3),
            ({"optimizer.type": "cmaes"}, "cmaes", [(None, 90.0, 0.05)] * 3),
        ],
    )
    _metrics(
        tmp_path / "runs" / "arm_reach", error_m=0.0092, success=True, evaluations=45, wall_s=202.0
    )
    row = [
        r
        for r in results_table.table(tmp_path / "runs", tmp_path / "sweeps").splitlines()
        if r.startswith("| Arm reach, fixed target")
    ][0]
    assert (
        "| best of 1: 9.2 mm (met) after 45 simulations, 202 s | 0 of 3 seeds met; "
        "error_m best 50 mm, median 50 mm, median 91 s per run |"
    ) in row, row


def test_unfinished_trials_are_counted_apart(tmp_path):
    out = tmp_path / "sweep"
    _trial(out / "seed_0", 0, 30, 20.0, 0.005)
    (out / "seed_1").mkdir()
    (out / "seed_1" / "error.txt").write_text("TdphysError: boom\n\nTraceback ...\n")
    records = [summary.read_trial(out / f"seed_{s}", out) for s in range(2)]
    assert records[1] == {
        "seed": None,
        "dir": "seed_1",
        "status": "failed",
        "error": "TdphysError: boom",
    }
    setting = summary.summarise_setting("", {}, "adam", records, METRIC)
    assert summary.describe(setting) == (
        "1 of 1 seed met, median 30 simulations (IQR 30-30), median 20 s (1 more not finished)"
    )


def test_co_design_gives_its_gain_over_the_controller_alone_on_the_same_seeds(tmp_path):
    """Per seed, co-design's final speed less the gait's (the metric of these trials stands
    for speed here): +0.1, +0.3 and -0.05 m/s, median +0.1, in both tables."""
    for name, speeds in (
        ("quadruped_gait", (0.5, 0.4, 0.6)),
        ("quadruped_codesign", (0.6, 0.7, 0.55)),
    ):
        _sweep(
            tmp_path / "sweeps" / name,
            name,
            [({"optimizer.type": "cmaes"}, "cmaes", [(None, 80.0, v) for v in speeds])],
        )
    full = results_table.table(tmp_path / "runs", tmp_path / "sweeps")
    (row,) = [r for r in full.splitlines() if r.startswith("| Co-design")]
    assert (
        "gain over the controller alone on the same 3 seeds: median +0.1 m/s (-0.05 to +0.3 m/s)"
    ) in row, row
    short = results_table.short_table(tmp_path / "runs", tmp_path / "sweeps")
    (row,) = [r for r in short.splitlines() if r.startswith("| Co-design")]
    assert "0 of 3 seeds met (gain over the controller alone: median +0.1 m/s" in row, row
