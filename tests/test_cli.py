"""The `tdphys` command line contract: simulate writes the documented arrays; bad controls
and bad arguments give one clear message and a non-zero exit; gradcheck passes on a robot."""

import numpy as np
import pytest

from tdphys.cli import main


@pytest.mark.slow
def test_simulate_writes_documented_arrays(tmp_path, robots_dir, backend64):
    out = tmp_path / "traj.npz"
    assert (
        main(
            [
                "simulate",
                str(robots_dir / "ball.yaml"),
                "--steps",
                "20",
                "--batch",
                "3",
                "--precision",
                "f64",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    data = np.load(out)
    assert data["t"].shape == (21,)
    assert list(data["body_names"]) == ["ball"]
    for key in ("pos", "vel", "omega"):
        assert data[key].shape == (21, 3, 1, 3)
    assert data["quat"].shape == (21, 3, 1, 4)
    np.testing.assert_allclose(np.linalg.norm(data["quat"], axis=-1), 1.0, atol=1e-12)
    # what `tdphys view` needs to replay it, even after the robot file moved
    assert str(data["robot_path"]) == str((robots_dir / "ball.yaml").resolve())
    assert str(data["robot_yaml"]) == (robots_dir / "ball.yaml").read_text()
    np.testing.assert_allclose(data["com_offset"], np.zeros((3, 1, 3)), atol=1e-12)


def test_simulate_rejects_controls_of_wrong_shape(tmp_path, robots_dir, capsys, backend64):
    bad = tmp_path / "u.npy"
    np.save(bad, np.zeros((7, 99)))
    code = main(
        [
            "simulate",
            str(robots_dir / "arm.yaml"),
            "--steps",
            "10",
            "--precision",
            "f64",
            "--controls",
            str(bad),
            "--out",
            str(tmp_path / "o.npz"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "u.npy" in err and "(7, 99)" in err and "expected (10," in err


@pytest.mark.slow
def test_gradcheck_passes_on_the_pendulum(robots_dir, capsys, backend64):
    code = main(
        [
            "gradcheck",
            str(robots_dir / "pendulum.yaml"),
            "--steps",
            "10",
            "--per-param",
            "1",
            "--wrt",
            "initial,params",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "initial" in out and "max relative error" in out


@pytest.mark.slow
def test_simulate_takes_robot_vars_and_records_them(tmp_path, capsys, backend64):
    """--var NAME=VALUE replaces a value of the file's `vars:`; the trajectory records the
    values (`robot_vars`, JSON) so `tdphys view` draws that geometry. A malformed --var or an
    undeclared name exits 2 with a fix."""
    import json

    robot = tmp_path / "ball.yaml"  # robots/ball.yaml with its radius a var
    robot.write_text(
        "vars: {r: 0.5}\nbodies:\n  - name: ball\n    pos: [0, 0, r]\n"
        "    shapes: [{type: sphere, radius: r, density: 100, friction: 1.0, "
        "restitution: 0.5}]\n"
    )
    out = tmp_path / "traj.npz"
    # the first test's steps and batch: the same kernels, from the offline cache
    assert (
        main(
            [
                "simulate",
                str(robot),
                "--steps",
                "20",
                "--batch",
                "3",
                "--precision",
                "f64",
                "--var",
                "r=0.3",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    data = np.load(out)
    assert data["pos"][0, 0, 0, 2] == 0.3
    assert json.loads(str(data["robot_vars"])) == {"r": 0.3}
    assert main(["simulate", str(robot), "--var", "r", "--out", str(out)]) == 2
    assert "--var r: expected NAME=NUMBER" in capsys.readouterr().err
    assert main(["simulate", str(robot), "--var", "R=1", "--out", str(out)]) == 2
    assert "'R' is not a var" in capsys.readouterr().err
