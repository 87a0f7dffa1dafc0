"""`tdphys sweep` (docs/sweep.md): an experiment over seeds and a grid of --set values on Ray
Tune, one run folder per trial; re-running goes on where a killed sweep stood; bad input
exits 2 naming what is wrong. The runs are a ball rolled for 1 s with CMA-ES (forward
rollouts only: cheap to compile and to run)."""

import json
import os
import signal
import sys
import threading
import time

import pytest
from conftest import ROOT

from tdphys import cli
from tdphys.sweep.args import parse_seeds, parse_set
from tdphys.sweep.plan import grid

EXPERIMENTS = ROOT / "experiments"
TINY = """name: tiny_throw
robot: {robot}
precision: f64
task: {{type: ball_throw, duration: 1.0, target: [3, 0]}}
trainable:
  init_vel: {{init: [2, 0, 0]}}
optimizer: {{type: cmaes, budget: {budget}, sigma: 1.0, popsize: 6, stop_at_success: false}}
"""


@pytest.fixture
def tiny(tmp_path, robots_dir):
    def write(budget=60):
        path = tmp_path / "tiny.yaml"
        path.write_text(TINY.format(robot=robots_dir / "ball.yaml", budget=budget))
        return path

    return write


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module's sweeps (its start takes seconds): two CPUs."""
    import ray

    from tdphys.sweep.run import start_local_ray

    start_local_ray(2)
    yield
    ray.shutdown()


def _sweep(*args) -> int:
    return cli.main(["sweep", *map(str, args)])


def _json(path):
    return json.loads(path.read_text())


@pytest.mark.slow
def test_a_three_seed_sweep_writes_a_run_folder_per_seed_and_the_summary(
    tiny, tmp_path, local_ray, capsys
):
    out = tmp_path / "sweep"
    assert _sweep(tiny(), "--seeds", "0-2", "--workers", 2, "--out", out) == 0
    printed = capsys.readouterr().out
    assert "3/3 trials done" in printed and "ETA" in printed
    sweep = _json(out / "sweep.json")
    (setting,) = sweep["settings"]
    assert sweep["seeds"] == [0, 1, 2] and sweep["budget"] == 60
    assert setting["n"] == 3 and setting["failed"] == setting["not_run"] == 0
    for seed, trial in zip(range(3), setting["trials"]):
        run = out / f"seed_{seed}"
        assert trial["seed"] == seed and trial["dir"] == f"seed_{seed}"
        metrics = _json(run / "metrics.json")
        assert metrics["evaluations"] == 60 and trial["evaluations"] == 60
        assert trial["metric"] == metrics["error_m"]
        assert trial["status"] == ("met" if metrics["success"] else "not met")
        # seed S adds S to every seed the file has: here CMA-ES's (default 1)
        assert _json(run / "trial.json")["seed_values"] == {"optimizer.seed": str(1 + seed)}
    finals = sorted(t["metric"] for t in setting["trials"])
    assert setting["final_metric"]["best"] == finals[0]
    assert setting["final_metric"]["median"] == finals[1]
    assert setting["met"] == sum(t["status"] == "met" for t in setting["trials"])
    losses = [[h["loss"] for h in _json(out / f"seed_{s}" / "history.json")] for s in range(3)]
    assert losses[0] != losses[1] != losses[2], "each seed draws other CMA-ES candidates"
    assert (out / "sweep.png").stat().st_size > 0
    assert f"{setting['met']} of 3 seeds met" in (out / "sweep.md").read_text()


@pytest.mark.slow
def test_a_sweep_killed_midway_goes_on_without_redoing_finished_trials(tiny, tmp_path, local_ray):
    """Seed 1's worker is killed (SIGKILL) after its first checkpoint: the sweep ends with
    exit status 1, seed 2 still runs; the same command again resumes seed 1 from its
    checkpoint and leaves seeds 0 and 2 as they were."""
    out = tmp_path / "sweep"
    args = (
        tiny(budget=3000),
        "--seeds",
        "0-2",
        "--workers",
        1,
        "--out",
        out,
        "--checkpoint-min",
        0.001,
    )
    killed = {}

    def kill_seed_1_after_its_first_checkpoint():
        run = out / "seed_1"
        while not (run / "history.json").exists():
            time.sleep(0.02)
        killed["pid"] = _json(run / "trial.json")["starts"][-1]["pid"]
        os.kill(killed["pid"], signal.SIGKILL)

    killer = threading.Thread(target=kill_seed_1_after_its_first_checkpoint, daemon=True)
    killer.start()
    assert _sweep(*args) == 1
    killer.join(timeout=1)
    assert "pid" in killed
    assert not (out / "seed_1" / "metrics.json").exists()
    kept = {s: (out / f"seed_{s}" / "metrics.json").read_bytes() for s in (0, 2)}

    assert _sweep(*args) == 0
    for s in (0, 2):
        assert (out / f"seed_{s}" / "metrics.json").read_bytes() == kept[s]
        assert len(_json(out / f"seed_{s}" / "trial.json")["starts"]) == 1
    starts = _json(out / "seed_1" / "trial.json")["starts"]
    assert [s["resumed_from_evaluation"] > 0 for s in starts] == [False, True]
    assert _json(out / "seed_1" / "metrics.json")["evaluations"] == 3000
    assert _json(out / "sweep.json")["settings"][0]["n"] == 3


@pytest.mark.slow
def test_a_failed_trial_is_reported_with_its_error_and_the_others_go_on(
    tmp_path, local_ray, capsys
):
    """CMA-ES refuses to train Simulation parameters with random reach targets, when the run
    starts: each trial fails with that message (error.txt) and the sweep exits 1. The seeds
    of the random-target arm are its controller's, CMA-ES's and its targets'."""
    out = tmp_path / "sweep"
    assert (
        _sweep(
            EXPERIMENTS / "arm_reach_random.yaml",
            "--seeds",
            "0,2",
            "--out",
            out,
            "--set",
            "optimizer.type=cmaes",
            "--set",
            "trainable={shape_friction: {}}",
            "--workers",
            1,
        )
        == 1
    )
    err = capsys.readouterr().err
    (folder,) = out.glob("optimizer.type=cmaes+trainable=*")
    for seed in (0, 2):
        run = folder / f"seed_{seed}"
        assert (
            (run / "error.txt")
            .read_text()
            .startswith(
                "TdphysError: " + str(EXPERIMENTS / "arm_reach_random.yaml") + ": trainable: CMA-ES"
            )
        )
        assert f"seed {seed}: failed (TdphysError: " in err
        assert _json(run / "trial.json")["seed_values"] == {
            "controller.seed": str(seed),
            "optimizer.seed": str(1 + seed),
            "task.targets.seed": str(seed),
        }
    (setting,) = _json(out / "sweep.json")["settings"]
    assert (setting["n"], setting["failed"]) == (0, 2)


def test_set_values_are_read_as_the_files_own(tiny):
    """A key path reaches into mappings and list items; a missing key is added with the
    mappings that lead to it; 1e-3 is a number, as in the file."""
    from tdphys.optim import load_experiment

    exp = load_experiment(
        tiny(),
        {
            "optimizer.lr": "1e-3",
            "trainable.init_vel.init[1]": "0.5",
            "trainable.init_omega.scale": "2",
            "task.target": "[4, 1]",
        },
    )
    assert exp.optimizer.lr == 1e-3 and exp.task.target == (4.0, 1.0)
    assert [(t.name, t.init, t.scale) for t in exp.trainable] == [
        ("init_vel", (2.0, 0.5, 0.0), 1.0),
        ("init_omega", None, 2.0),
    ]


def test_without_ray_tune_the_sweep_says_how_to_install_it(tiny, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    assert _sweep(tiny(), "--out", tmp_path / "sweep") == 2
    assert "pip install 'ray[tune]'" in capsys.readouterr().err
    assert not (tmp_path / "sweep").exists()


def test_a_grid_of_set_values_is_the_product_over_keys():
    sets = [parse_set("optimizer.lr=1e-3,3e-3"), parse_set("task.target=[9, 0],[10, 0]")]
    assert sets[1] == ("task.target", ["[9, 0]", "[10, 0]"])
    assert grid(sets) == [
        {"optimizer.lr": "1e-3", "task.target": "[9, 0]"},
        {"optimizer.lr": "1e-3", "task.target": "[10, 0]"},
        {"optimizer.lr": "3e-3", "task.target": "[9, 0]"},
        {"optimizer.lr": "3e-3", "task.target": "[10, 0]"},
    ]
    assert grid([]) == [{}]


@pytest.mark.parametrize(
    "text, seeds",
    [("0-9", list(range(10))), ("0,3,5", [0, 3, 5]), ("2", [2]), ("0-2, 7", [0, 1, 2, 7])],
)
def test_seeds_are_a_range_or_a_list(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize(
    "args, words",
    [
        (["--seeds", "9-0"], ["--seeds", "runs backwards", "0-9"]),
        (["--seeds", "a"], ["--seeds", "not a seed or a range", "--seeds 0-9"]),
        (["--seeds", "1,1"], ["--seeds", "seed 1 is given twice"]),
        (["--seeds", "-1"], ["--seeds"]),
        (["--workers", "0"], ["--workers", "whole number >= 1"]),
        (["--threads", "x"], ["--threads", "whole number >= 1"]),
        (["--budget", "-5"], ["--budget", "whole number >= 1"]),
        (["--checkpoint-min", "nan"], ["--checkpoint-min", "number >= 0"]),
        (["--set", "optimizer.lr"], ["--set", "not KEY=VALUE"]),
        (["--set", "optimizer.lr=1,"], ["--set", "an empty value"]),
    ],
)
def test_bad_arguments_exit_2_with_the_fix(tiny, capsys, args, words):
    with pytest.raises(SystemExit) as info:
        _sweep(tiny(), *args)
    assert info.value.code == 2
    err = capsys.readouterr().err
    for w in words:
        assert w in err, err


@pytest.mark.parametrize(
    "value, key, words",
    [
        ("optimizer.lrr=0.1", "optimizer.lrr", ["unknown key 'lrr'", "did you mean 'lr'"]),
        ("optimizer.lr=-1", "optimizer.lr", ["must be positive"]),
        ("task.tolerence=0.1", "task.tolerence", ["unknown key", "did you mean 'tolerance'"]),
        ("trainable.init_vel.init=[1, 2", "trainable.init_vel.init", ["not YAML"]),
        ("task.duration.x=1", "task.duration", ["is not a mapping"]),
        ("trainable.init_vel.init[3]=1", "trainable.init_vel.init", ["has 3 items"]),
        ("optimizer.seed=0", "optimizer.seed", ["must be >= 1", "seed from the clock"]),
    ],
)
def test_bad_set_keys_get_the_experiment_loaders_key_path_errors(
    tiny, tmp_path, capsys, value, key, words
):
    """Validated before any Ray starts: exit 2, the file, the --set value and the key path."""
    path = tiny()
    assert _sweep(path, "--set", value, "--out", tmp_path / "sweep") == 2
    err = capsys.readouterr().err
    assert f"{path} (with --set {value})" in err and f"{key}:" in err, err
    for w in words:
        assert w in err, err
    assert not (tmp_path / "sweep").exists()


def test_a_folder_of_another_sweep_is_refused(tiny, tmp_path, capsys):
    """Trials of two sweeps never mix: a run folder made with another budget stops the
    sweep before it starts."""
    run = tmp_path / "sweep" / "seed_0"
    run.mkdir(parents=True)
    (run / "trial.json").write_text(json.dumps({"set": {}, "seed": 0, "budget": 999}))
    assert _sweep(tiny(), "--seeds", "0", "--out", tmp_path / "sweep") == 2
    err = capsys.readouterr().err
    assert "holds a trial of another sweep" in err and "budget 999 there, 60 here" in err


def test_a_moved_checkout_plans_the_same_trials(tmp_path, robots_dir):
    """A sweep's trials are fingerprinted by what they run, not where the files lie: the same
    experiment and robot copied to another folder give the same digest, so a checkout moved
    or copied elsewhere resumes its sweeps."""
    from tdphys.sweep.plan import plan

    digests = []
    for place in ("here", "there"):
        home = tmp_path / place
        (home / "robots").mkdir(parents=True)
        (home / "robots" / "ball.yaml").write_text((robots_dir / "ball.yaml").read_text())
        path = home / "tiny.yaml"
        path.write_text(TINY.format(robot="robots/ball.yaml", budget=60))
        digests.append(plan(str(path), [{}], [0], home / "sweep", None)[0].digest)
    assert digests[0] == digests[1]
