"""Bad input gets a clear message with a fix: never a traceback, a hang, lost work, or code
run from a file (docs/bad-input.md lists every class and what the user gets).

tests/data/bad_inputs/ holds one robot or experiment file per class; each says in its header
the message it must get (`# expect:` lines, in the message) and the line the message names
(`# line:`; `-` when the problem is not at one line), and `# vars: NAME=VALUE` gives vars to
read it with. The other classes (command-line numbers, output paths, controls files, run
folders, sizes) are built here. Every refusal comes before a kernel compiles; one test
builds a small Simulation to check the memory estimate against its fields.
"""

import json
import math
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tdphys.errors import FileError, ModelError, OutOfMemory, TdphysError

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "bad_inputs"


def _header(path: Path) -> dict:
    """{expect: [..], line: str, vars: {..}} from a corpus file's leading comments."""
    head = {"expect": [], "line": None, "vars": {}}
    for text in path.read_text().splitlines():
        if not text.startswith("#"):
            break
        key, _, value = text[1:].strip().partition(":")
        if key == "expect":
            head["expect"].append(value.strip())
        elif key == "line":
            head["line"] = value.strip()
        elif key == "vars":
            name, _, number = value.strip().partition("=")
            head["vars"][name] = float(number)
    return head


def _refusal(path: Path) -> ModelError:
    """The ModelError a corpus file gets where a run would read it."""
    import tdphys
    from tdphys.optim import load_experiment
    from tdphys.optim.experiment import check_against_robot

    head = _header(path)
    with pytest.raises(ModelError) as info:
        if path.name.startswith("experiment_"):
            exp = load_experiment(path)
            check_against_robot(exp, tdphys.load(exp.robot))
        else:
            tdphys.load(path, head["vars"] or None)
    return info.value


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_bad_file_gets_its_message_at_its_line(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where a tag's command would write
    head = _header(path)
    assert head["expect"] and head["line"], f"{path.name}: header lacks expect/line"
    err = _refusal(path)
    text = str(err)
    for expected in head["expect"]:
        assert expected in text, f"{path.name}: {expected!r} not in\n{text}"
    where = f"{path}:{head['line']}:" if head["line"] != "-" else f"{path}: "
    assert text.startswith(where), text
    assert "\n  fix: " in text
    assert not list(tmp_path.iterdir()), "reading the file ran something"


def test_the_corpus_covers_every_class_the_docs_list():
    """docs/bad-input.md names each corpus file, and each file it names exists."""
    doc = (ROOT / "docs" / "bad-input.md").read_text()
    files = {p.name for p in CORPUS.glob("*.yaml")}
    named = {
        w.strip("`")
        for w in doc.split()
        if w.strip("`").endswith(".yaml") and w.strip("`").startswith(("robot_", "experiment_"))
    }
    assert files - named == set(), f"not in docs/bad-input.md: {sorted(files - named)}"
    assert named - files == set(), f"named in docs but missing: {sorted(named - files)}"


# ------------------------------------------------------------------------ file size, time


def _vars_file(path: Path, n: int) -> Path:
    path.write_text(
        "vars:\n"
        + "".join(f"  v{i}: {i}\n" for i in range(n))
        + "bodies:\n  - name: a\n    pos: [0, 0, 1]\n"
        "    shapes: [{type: sphere, radius: 0.1}]\n"
    )
    return path


def test_a_file_above_the_size_limit_is_refused_unread(tmp_path, monkeypatch):
    """A 5 MB file is refused from its size, before YAML sees it (YAML takes minutes on a file
    that large)."""
    import yaml

    import tdphys

    def never(*args, **kwargs):
        raise AssertionError("the file was parsed")

    monkeypatch.setattr(yaml, "compose", never)
    monkeypatch.setattr(yaml, "scan", never)
    big = _vars_file(tmp_path / "big.yaml", 320_000)
    assert big.stat().st_size > 5e6
    with pytest.raises(
        ModelError,
        match=r"big.yaml: the robot file is 5.\d+ MB, larger than "
        r"the 0.25 MB",
    ):
        tdphys.load(big)


def test_a_file_of_many_vars_below_the_limit_loads(tmp_path):
    """Duplicate keys are checked in linear time: 15,000 vars (0.23 MB; 0.5 MB took 29 s
    when the check compared every pair) load, and a repeated one is still found."""
    import tdphys

    path = _vars_file(tmp_path / "many.yaml", 15_000)
    assert 0.2e6 < path.stat().st_size < 0.25e6
    assert len(tdphys.load(path).vars) == 15_000
    path.write_text(path.read_text().replace("  v14999: 14999\n", "  v7: 1\n"))
    with pytest.raises(ModelError, match=r"vars.v7: key 'v7' appears twice in vars"):
        tdphys.load(path)


def test_a_file_of_many_bodies_loads_with_the_pairs_its_groups_make(tmp_path):
    """Contact pairs are looked for among bodies that share a collision group, not among
    every pair of bodies (quadratic in the bodies): 2,500 bodies, two of them in group 1."""
    import tdphys

    body = "  - name: b{i}\n    pos: [{i}, 0, 1]\n    shapes: [{{type: sphere, radius: 0.1{g}}}]\n"
    path = tmp_path / "many.yaml"
    path.write_text(
        "bodies:\n"
        + "".join(body.format(i=i, g=", group: 1" if i in (5, 2000) else "") for i in range(2500))
    )
    pairs = tdphys.load(path).contact_pairs
    assert [(p.body_a, p.body_b) for p in pairs] == [(5, 2000)]


# -------------------------------------------------------------------- paths that are not files


@pytest.mark.parametrize(
    "given, problem",
    [
        ("robots", "is a folder, not a file"),
        ("/dev/zero", "is a device, not a regular file"),
        ("no_such_robot.yaml", "does not exist"),
    ],
)
def test_a_robot_path_says_what_it_is(given, problem, monkeypatch):
    import tdphys

    if given.startswith("/dev") and not os.path.exists(given):
        pytest.skip("no /dev/zero here")
    monkeypatch.chdir(ROOT)
    with pytest.raises(ModelError, match=f"{given}: the robot file {problem}"):
        tdphys.load(given)


# --------------------------------------------------------------------------- controls files


def _controls_cases(tmp_path: Path) -> dict:
    text = tmp_path / "text.npy"
    text.write_text("0.1 0.2 0.3\n")
    complex_ = tmp_path / "complex.npy"
    np.save(complex_, np.ones((10, 3)) * (1 + 2j))
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return {
        text: "is text, not a numpy .npy file",
        complex_: "are complex numbers; the imaginary part would be lost",
        objects: "holds Python objects (a pickle",
        tmp_path: "is a folder, not a file",
        tmp_path / "missing.npy": "does not exist",
    }


def test_controls_files_that_are_not_real_arrays_are_named(tmp_path):
    """A text file, complex numbers (their imaginary part was dropped), a pickled object
    array, a folder or a missing path: each says what it is (a text file got numpy's
    allow_pickle advice)."""
    from tdphys.datafiles import read_array

    for path, problem in _controls_cases(tmp_path).items():
        with pytest.raises(FileError) as info:
            read_array(path, "controls")
        assert str(info.value).startswith(f"{path}: the controls")
        assert problem in str(info.value) and "\n  fix: " in str(info.value)


# ------------------------------------------------------------------ command-line numbers


def _cli(args: list, capsys) -> tuple[int, str]:
    from tdphys.cli import main

    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own exit
        code = exc.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--steps", "-5"],
            "argument --steps: -5 is out of range; give a whole number from 1 to 10,000,000",
        ),
        (["--steps", "0"], "argument --steps: 0 is out of range"),
        (["--steps", str(10**12)], "argument --steps: 1,000,000,000,000 is out of range"),
        (["--steps", "10**12"], "argument --steps: '10**12' is not a whole number"),
        (
            ["--batch", "0"],
            "argument --batch: 0 is out of range; give a whole number from 1 to 1,000,000",
        ),
        (["--batch", str(10**9)], "argument --batch: 1,000,000,000 is out of range"),
    ],
)
def test_simulate_numbers_out_of_range_exit_2_with_the_range(args, message, capsys):
    code, err = _cli(
        ["simulate", str(ROOT / "robots" / "ball.yaml"), "--out", "t.npz", *args], capsys
    )
    assert code == 2 and message in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--fps", "0"], "argument --fps: 0 is out of range; give a number in (0, 1000]"),
        (["--speed", "nan"], "argument --speed: 'nan' is not a finite number"),
        (["--steps", "0"], "argument --steps: 0 is out of range"),
        (["--batch", "-1"], "argument --batch: -1 is out of range"),
        (["--camera-scale", "0"], "argument --camera-scale: 0 is out of range"),
        (["--max-frames", "0"], "argument --max-frames: 0 is out of range"),
    ],
)
def test_view_numbers_out_of_range_exit_2_with_the_range(args, message, capsys):
    code, err = _cli(["view", str(ROOT / "robots" / "ball.yaml"), *args], capsys)
    assert code == 2 and message in err


def _optimize(args: list, capsys) -> tuple[int, str]:
    """`tdphys optimize ARGS`: (exit status, stderr)."""
    return _cli(["optimize", *args], capsys)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--budget", "-5"], "argument --budget: -5 is out of range; give a whole number from 1"),
        (["--budget", "0"], "argument --budget: 0 is out of range"),
        (
            ["--checkpoint-min", "-1"],
            "argument --checkpoint-min: -1 is out of range; give minutes in [0, 1e+06]",
        ),
        (["--checkpoint-min", "inf"], "argument --checkpoint-min: 'inf' is not a finite number"),
    ],
)
def test_optimize_numbers_out_of_range_exit_2_with_the_range(args, message, capsys):
    code, err = _optimize(args, capsys)
    assert code == 2 and message in err


# ------------------------------------------------------------------------- output paths


def test_simulate_checks_its_output_before_the_rollout(tmp_path, capsys):
    """--out under a file, or without .npz (it wrote x.npz and printed "wrote x"), exits 2
    before Taichi starts; a missing folder is created."""
    from tdphys import backend

    blocker = tmp_path / "file"
    blocker.write_text("")
    robot = str(ROOT / "robots" / "ball.yaml")
    code, err = _cli(["simulate", robot, "--out", str(blocker / "t.npz")], capsys)
    assert code == 2 and f"--out {blocker / 't.npz'}: {blocker} is a file, not a folder" in err
    code, err = _cli(["simulate", robot, "--out", str(tmp_path / "t")], capsys)
    assert code == 2 and "the trajectory is an .npz file" in err and "t.npz" in err
    assert not backend.running()


def test_optimize_checks_its_output_folder_before_compiling(tmp_path, capsys):
    """An --out that is a file, or that holds a run (re-running silently overwrote it and
    left the other run's video), exits 2 before anything is built; --overwrite is the way."""
    from tdphys import backend

    exp = str(ROOT / "experiments" / "ball_throw.yaml")
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, err = _optimize([exp, "--out", str(blocker)], capsys)
    assert code == 2 and f"--out {blocker}: is a file, not a folder" in err
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text("{}")
    (run / "video.mp4").write_bytes(b"old")
    code, err = _optimize([exp, "--out", str(run)], capsys)
    assert code == 2 and f"--out {run} holds a run (metrics.json, video.mp4)" in err
    assert "fix: --overwrite to replace it, --resume" in err
    assert not backend.running()


def test_optimize_numbers_a_new_default_folder_and_says_so(tmp_path, monkeypatch):
    """Without --out, a folder that holds a run is kept and the next free runs/<name>_2 is
    used (the run says which)."""
    from tdphys.commands import optimize
    from tdphys.optim import load_experiment

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "ball_throw").mkdir(parents=True)
    (tmp_path / "runs" / "ball_throw" / "state.npz").write_bytes(b"")
    args = optimize.parser().parse_args([])
    out, note = optimize.output_folder(
        args, load_experiment(ROOT / "experiments" / "ball_throw.yaml"), "adam"
    )
    assert out == Path("runs/ball_throw_2") and out.is_dir()
    assert "runs/ball_throw holds an earlier run; writing to runs/ball_throw_2" in note


# ----------------------------------------------------------------------------- run folders


class _Payload:
    """Unpickling this runs `open(marker, "w")`: a stand-in for any code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_crafted_pickle_in_a_run_folder_never_runs(tmp_path, capsys):
    """--resume used to unpickle state.pkl: a crafted one ran its payload. An old-format
    folder is refused with how to go on, and a pickle hidden in state.npz is refused too;
    the payload's marker file never appears."""
    from tdphys.optim.checkpoints import load_state

    marker = tmp_path / "payload-ran"
    old = tmp_path / "old"
    old.mkdir()
    (old / "state.pkl").write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(
        TdphysError,
        match=r"holds state.pkl, the run state of an older "
        r"version, which is a Python pickle",
    ) as info:
        load_state(old)
    assert "init_from" in str(info.value)
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    np.savez(hidden / "state.npz", x=np.array([_Payload(marker)], dtype=object))
    with pytest.raises(FileError, match="holds Python objects"):
        load_state(hidden)
    code, err = _optimize(["--resume", str(old)], capsys)
    assert code == 2 and "never read" in err
    assert not marker.exists()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"not a zip at all", "is text, not a numpy .npz file"),
        (b"PK\x03\x04 cut short", "is damaged or cut short"),
        (None, "'budget' is missing"),
    ],
)
def test_a_damaged_run_state_is_refused_with_how_to_restart(tmp_path, content, message):
    from tdphys.datafiles import write_tree
    from tdphys.optim.checkpoints import load_state

    if content is None:
        write_tree(
            tmp_path / "state.npz", {"experiment": "x", "file": "x.yaml", "optimizer": "adam"}
        )
    else:
        (tmp_path / "state.npz").write_bytes(content)
    with pytest.raises(TdphysError) as info:
        load_state(tmp_path)
    assert message in str(info.value) and "start the run again" in str(info.value)


# -------------------------------------------------------------------------------- memory


def test_a_simulation_that_would_not_fit_is_refused_with_the_figure():
    """--steps 10**7 x --batch 1000 of the quadruped: the estimate (26,000 GB) and the fix,
    before any field is allocated."""
    import tdphys
    from tdphys import memory
    from tdphys.engine.layout import build_layout

    layout = build_layout(tdphys.load(ROOT / "robots" / "quadruped.yaml"))
    with pytest.raises(OutOfMemory) as info:
        memory.check_fits(
            layout,
            batch=1000,
            steps=10**7,
            iterations=20,
            arch="cpu",
            real_bytes=8,
            robot="'quadruped'",
        )
    text = str(info.value)
    assert "'quadruped' with 10,000,000 steps x 1,000 worlds (f64) needs about" in text
    assert "fix: fewer steps" in text and "precision f32" in text


def test_the_memory_estimate_counts_the_simulations_fields(backend64):
    """memory.simulation_bytes matches the bytes of a Simulation's fields (values and
    gradients) within 5 % (the rest: integer tables that do not grow with batch or steps)."""
    import taichi as ti

    import tdphys
    from tdphys import memory
    from tdphys.backend import _has_gradient

    robot = tdphys.load(ROOT / "robots" / "quadruped.yaml")
    sim = tdphys.Simulation(robot, batch=3, steps=7)
    total = 0
    fields = sim.fields()
    for f in fields:
        entries = math.prod(f.shape) * (f.n * f.m if hasattr(f, "n") else 1)
        size = 8 if f.dtype == ti.f64 else 4
        total += entries * size * (2 if _has_gradient(f) else 1)
    estimate = memory.simulation_bytes(
        sim.layout, 3, 7, sim.robot.solver.iterations, 8, sim.n_substeps
    )
    assert estimate == pytest.approx(total, rel=0.05)


# ------------------------------------------------------------------------------ data files


def test_a_run_state_is_data(tmp_path):
    """A state tree goes to one .npz and comes back (arrays, numbers, text, None, NaN and inf)
    with nothing written beside it."""
    from tdphys.datafiles import read_tree, write_tree

    tree = {
        "x": np.arange(3.0),
        "adam": (np.ones(2), None, 4, [0.5]),
        "history": [{"loss": math.inf, "ok": True, "name": "a"}],
        "nan": math.nan,
    }
    write_tree(tmp_path / "s.npz", tree)
    back = read_tree(tmp_path / "s.npz", "run state", "fix")
    assert [p.name for p in tmp_path.iterdir()] == ["s.npz"]
    np.testing.assert_array_equal(back["x"], tree["x"])
    assert back["adam"][1:] == [None, 4, [0.5]] and back["history"] == tree["history"]
    assert math.isnan(back["nan"])
    with np.load(tmp_path / "s.npz", allow_pickle=False) as npz:  # numpy's own reader
        assert json.loads(str(npz["__tree__"]))["adam"][2] == 4


def test_the_checks_of_files_and_numbers_need_no_taichi():
    """Paths, data files, command-line numbers and file limits are checked without Taichi,
    so a refusal comes before anything starts."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import tdphys.paths, tdphys.datafiles, "
            "tdphys.argtypes, tdphys.model.limits; import sys; "
            "print('taichi' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert out.stdout.strip() == "False"


def test_a_file_that_is_not_text_says_so(tmp_path):
    import tdphys

    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00bodies")
    with pytest.raises(
        ModelError,
        match=r"binary.yaml: the robot file is not UTF-8 text "
        r"\(invalid start byte at byte 0\)",
    ):
        tdphys.load(path)


# ------------------------------------------------------------------------------- Ctrl-C


def test_a_stopped_video_leaves_no_partial_file(tmp_path, monkeypatch, capsys):
    """A Ctrl-C while the video renders (the second of a run) skips it: the partial file is
    removed and the run goes on (it was a traceback and a truncated video)."""
    from tdphys import viewer
    from tdphys.optim.outputs import render

    def interrupted(source, opt):
        Path(opt.out).write_bytes(b"half a video")
        raise KeyboardInterrupt

    monkeypatch.setattr(viewer, "render_video", interrupted)
    assert render(tmp_path / "trajectory.npz", tmp_path / "video.mp4") is None
    assert list(tmp_path.iterdir()) == []
    assert "video.mp4 skipped (Ctrl-C)" in capsys.readouterr().err


def test_ctrl_c_says_what_it_does_and_a_second_one_skips_the_video(capsys):
    """While training the first Ctrl-C stops the optimiser (KeyboardInterrupt, which the
    runner catches) and says what comes next; while results are saved a second one marks
    the video to be skipped; while the video renders it stops the rendering."""
    import signal

    from tdphys.commands import optimize

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        stopping = optimize.Stopping(video=True)
        with pytest.raises(KeyboardInterrupt):
            stopping(signal.SIGINT, None)
        assert (
            "stopping: saving best parameters, rendering video; Ctrl-C again to skip the "
            "video" in capsys.readouterr().err
        )
        stopping(signal.SIGINT, None)  # while saving: no exception
        assert stopping.skip_video and "the video will be skipped" in capsys.readouterr().err
        stopping.phase = "video"
        with pytest.raises(KeyboardInterrupt):
            stopping(signal.SIGTERM, None)
    finally:
        signal.signal(signal.SIGINT, before[0])
        signal.signal(signal.SIGTERM, before[1])


def test_resume_keeps_the_runs_settings_unless_given_again():
    """--resume takes the experiment, optimiser, budget, arch and checkpoint interval the run
    was started with (run.json and the state); what the command line gives wins."""
    from tdphys.commands import optimize

    state = {"file": "exp.yaml", "budget": 800, "optimizer": "cmaes"}
    saved = {"arch": "cuda", "checkpoint_min": 1.0, "experiment": "/abs/exp.yaml"}
    kept = optimize.settings(optimize.parser().parse_args(["--resume", "r"]), state, saved)
    assert kept == {
        "experiment": "/abs/exp.yaml",
        "budget": 800,
        "optimizer": "cmaes",
        "arch": "cuda",
        "checkpoint_min": 1.0,
    }
    given = optimize.settings(
        optimize.parser().parse_args(
            ["--resume", "r", "--budget", "900", "--arch", "cpu", "--checkpoint-min", "0"]
        ),
        state,
        saved,
    )
    assert (given["budget"], given["arch"], given["checkpoint_min"]) == (900, "cpu", 0.0)
