"""The `tdphys` commands' contract: every command's --help gives its defaults and its exit
status (0 done or met, 1 not met, 2 bad input); optimize, replay and bench refuse bad input
with exit 2 and a fix before anything compiles; optimize leaves a run folder and exits with
its verdict; bench prints one row per batch size. (tdphys replay runs in tests/test_starts.py,
on a run it trains.)"""

import json
import signal

import pytest

from tdphys.cli import main

COMMANDS = ("simulate", "gradcheck", "view", "optimize", "replay", "bench", "sweep")


def _run(args: list, capsys) -> tuple[int, str, str]:
    """`tdphys ARGS`: (exit status, stdout, stderr)."""
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own exit (--help, bad arguments)
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("command", COMMANDS)
def test_help_gives_the_exit_status(command, capsys):
    code, out, _ = _run([command, "--help"], capsys)
    assert code == 0
    assert "exit status:\n  0   " in out
    assert "  2   bad input: a file, an argument or an output path" in out


@pytest.mark.parametrize(
    "command, default",
    [
        ("simulate", "number of steps of solver.dt (default: 100)"),
        ("gradcheck", "(default 30)"),
        ("optimize", "(default: runs/<experiment name>/)"),
        ("replay", "(default: 8)"),
        ("bench", "steps of solver.dt per rollout (default: 1000)"),
        ("bench", "(default: 1,128)"),
        ("sweep", "(default: the file's"),
    ],
)
def test_help_gives_the_defaults(command, default, capsys):
    _, out, _ = _run([command, "--help"], capsys)
    assert default in " ".join(out.split())


def test_the_verdict_commands_document_1_as_not_met(capsys):
    for command in ("optimize", "replay"):
        _, out, _ = _run([command, "--help"], capsys)
        assert "  0   the task's success criterion met" in out and "  1   not met" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["optimize", "missing.yaml"], "missing.yaml"),
        (["optimize", "--budget", "0"], "argument --budget: 0 is out of range"),
        (["replay", "no_such_run"], "no_such_run: no such run folder"),
        (["replay", "runs", "--duration", "-1"], "argument --duration: -1 is out of range"),
        (["bench", "--batches", "1,0"], "argument --batches: 1,0: 0 is out of range"),
        (["bench", "--batches", "one"], "e.g. --batches 1,128"),
        (["bench", "--robot", "missing.yaml"], "missing.yaml"),
        (["bench", "--precision", "f16"], "argument --precision: invalid choice: 'f16'"),
    ],
)
def test_bad_input_exits_2_before_anything_compiles(args, message, capsys, tmp_path, monkeypatch):
    from tdphys import backend

    monkeypatch.chdir(tmp_path)
    code, _, err = _run(args, capsys)
    assert code == 2 and message in err, err
    assert not backend.running()


@pytest.mark.slow
def test_optimize_leaves_a_run_folder_and_exits_with_its_verdict(tmp_path, robots_dir, capsys):
    """Two Adam updates of the ball throw cut to 0.2 s: the run folder holds the files the
    README lists (the video aside: --no-video), and the exit status says whether
    metrics.json's success was met."""
    text = (robots_dir.parent / "experiments" / "ball_throw.yaml").read_text()
    experiment = tmp_path / "throw.yaml"
    experiment.write_text(
        text.replace("../robots/", f"{robots_dir}/").replace("duration: 5.0", "duration: 0.2")
    )
    out = tmp_path / "run"
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        code, printed, _ = _run(
            [
                "optimize",
                str(experiment),
                "--budget",
                "2",
                "--out",
                str(out),
                "--no-video",
                "--quiet",
                "--checkpoint-min",
                "0",
            ],
            capsys,
        )
    finally:
        signal.signal(signal.SIGINT, handlers[0])
        signal.signal(signal.SIGTERM, handlers[1])
    for name in (
        "metrics.json",
        "history.json",
        "curve.png",
        "trajectory.npz",
        "params.json",
        "state.npz",
        "run.json",
    ):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["evaluations"] == 2
    assert code == (0 if metrics["success"] else 1)
    summary = json.loads(next(s for s in printed.splitlines() if s.startswith("{")))
    assert summary["success"] == metrics["success"]


@pytest.mark.slow
def test_bench_prints_a_row_per_batch_size(robots_dir, capsys):
    code, out, _ = _run(
        [
            "bench",
            "--robot",
            str(robots_dir / "pendulum.yaml"),
            "--steps",
            "5",
            "--batches",
            "2",
            "--no-startup",
            "--json",
        ],
        capsys,
    )
    assert code == 0
    rows = [json.loads(s) for s in out.splitlines() if s.startswith("{")]
    assert [(r["batch"], r["steps"]) for r in rows] == [(2, 5)]
    assert rows[0]["forward_s"] > 0 and rows[0]["forward_backward_s"] > 0
