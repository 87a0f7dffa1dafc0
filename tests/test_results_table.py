"""demos/results_table.py: the README's results table, read from run folders' metrics.json."""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "demos"))
import results_table  # noqa: E402


def _metrics(folder: Path, **m) -> None:
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps(m))


def test_cells_show_metric_success_and_counts(tmp_path):
    _metrics(tmp_path / "ball_throw", error_m=0.0074, success=True, evaluations=55,
             wall_s=60.4)
    _metrics(tmp_path / "quadruped_gait_cmaes", speed_mps=0.5, success=False, evaluations=500,
             wall_s=1000.0)
    rows = {line.split(" | ")[0][2:]: line for line in
            results_table.table(tmp_path).splitlines()[2:]}
    assert "| 7.4 mm (met) after 55 simulations, 60 s | not run |" in \
        rows["Ball throw to (10, 0) m"]
    assert "| not run | 0.5 m/s (not met) after 500 simulations, 1000 s |" in \
        rows["Quadruped gait from standstill"]


def test_a_confirmed_success_names_its_rollout(tmp_path):
    """task.confirm: the cell says whether the longer rollout met the criterion too."""
    _metrics(tmp_path / "cart_swing_up", worst_gap_m=0.0136, success=True, evaluations=5872,
             wall_s=634.0, confirmed=True, confirm_s=12.0)
    _metrics(tmp_path / "cart_swing_up_cmaes", worst_gap_m=0.0122, success=False,
             evaluations=48000, wall_s=900.0, confirmed=False, confirm_s=12.0)
    row = results_table.table(tmp_path).splitlines()[-2]
    assert "13.6 mm (met; confirmed on a 12 s rollout) after 5872 simulations" in row
    assert "12.2 mm (not met; not confirmed on a 12 s rollout) after 48000" in row


def test_a_confirmation_from_nudged_starts_says_how_many(tmp_path):
    """task.confirm_starts: every start must pass; the cell says from how many it did."""
    _metrics(tmp_path / "cart_swing_up", worst_gap_m=0.0054, success=True, evaluations=3312,
             wall_s=209.0, confirmed=True, confirm_s=12.0, confirm_passed=8, confirm_worlds=8)
    _metrics(tmp_path / "cart_swing_up_cmaes", worst_gap_m=0.002, success=False,
             evaluations=900, wall_s=90.0, confirmed=False, confirm_s=12.0, confirm_passed=7,
             confirm_worlds=8)
    row = results_table.table(tmp_path).splitlines()[-2]
    assert "(met; confirmed on a 12 s rollout from 8 starts) after 3312 simulations" in row
    assert "(not met; not confirmed on a 12 s rollout (7 of 8 starts)) after 900" in row


def test_write_replaces_only_between_the_markers(tmp_path):
    doc = tmp_path / "README.md"
    doc.write_text(f"intro\n{results_table.BEGIN}\nold\n{results_table.END}\nafter\n")
    results_table.write(doc, "new table")
    assert doc.read_text() == (f"intro\n{results_table.BEGIN}\nnew table\n"
                               f"{results_table.END}\nafter\n")
