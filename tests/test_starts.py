"""Random initial states (`task.starts`): worlds that start with hinge and slider joints moved
and already moving. Specification: every joint keeps its anchor, each perturbed joint's
coordinate and rate read exactly what was drawn, the robot file's start stays world 0's, the
batch-averaged loss is differentiated exactly, and bad `starts` entries are refused by key."""

import dataclasses

import numpy as np
import pytest

from controller_checks import check_run_gradient
from experiment_checks import short

from tdphys.optim import load_experiment, run

# a slider carrying a hinge carrying a hinge on a tilted axis: nested moves must compose
CHAIN = """
name: chain
solver: {dt: 0.01, iterations: 20, gravity: [0, 0, 0]}
defaults: {shape: {ground: false}}
bodies:
  - {name: cart, pos: [0.3, 0, 1], mass: 2.0, shapes: [{type: box, size: [0.2, 0.1, 0.05]}]}
  - name: upper
    pos: [0.3, 0, 1]
    shapes: [{type: capsule, radius: 0.03, fromto: [0, 0, 0, 0, 0, -0.6], mass: 0.5}]
  - name: lower
    pos: [0.3, 0, 0.4]
    shapes: [{type: capsule, radius: 0.03, fromto: [0, 0, 0, 0.4, 0, -0.3], mass: 0.3}]
joints:
  - {name: rail, type: slider, parent: world, child: cart, axis: [1, 0.5, 0]}
  - {name: shoulder, type: hinge, parent: cart, child: upper, anchor: [0.3, 0, 1], axis: [0, 1, 0]}
  - {name: elbow, type: hinge, parent: upper, child: lower, anchor: [0.3, 0, 0.4],
     axis: [0.6, 0, 0.8]}
sensors:
  - {name: q_rail, type: joint_pos, joint: rail}
  - {name: q_shoulder, type: joint_pos, joint: shoulder}
  - {name: q_elbow, type: joint_pos, joint: elbow}
  - {name: v_rail, type: joint_vel, joint: rail}
  - {name: v_shoulder, type: joint_vel, joint: shoulder}
  - {name: v_elbow, type: joint_vel, joint: elbow}
"""

OFFSETS = np.array(
    [
        [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]],  # the file's start
        [[0.4, -0.7], [2.5, 3.0], [-1.2, 1.5]],
        [[-0.9, 0.2], [-3.0, -2.0], [0.8, -4.0]],
    ]
)  # (world, joint, pos/rate)


def _chain_at_offsets(tmp_path):
    import tdphys
    from tdphys.tasks.sampling import JointStart, RandomStarts, Starts

    p = tmp_path / "chain.yaml"
    p.write_text(CHAIN)
    robot = tdphys.load(p)
    sim = tdphys.Simulation(robot, batch=len(OFFSETS), steps=1)
    sim.start()
    spec = RandomStarts(joints=tuple(JointStart(j) for j in ("elbow", "rail", "shoulder")))
    # listed child-first on purpose: the sampler orders them parent before child
    starts = Starts(robot, spec, sim.model.com.to_numpy()[0])
    order = [2, 0, 1]  # OFFSETS columns are rail, shoulder, elbow
    for name, value in starts.states(OFFSETS[:, order]).items():
        sim.set_param(name, value)
    sim.start()
    sim.sense(0, 1)
    return sim


def test_joint_coordinates_and_rates_read_the_drawn_offsets(backend64, tmp_path):
    sim = _chain_at_offsets(tmp_path)
    data = sim.state.sensordata.to_numpy()[0]
    for w, offsets in enumerate(OFFSETS):
        np.testing.assert_allclose(data[w, :3], offsets[:, 0], atol=1e-12)
        np.testing.assert_allclose(data[w, 3:], offsets[:, 1], atol=1e-12)


def test_every_joint_keeps_its_anchor_and_the_chain_moves_rigidly(backend64, tmp_path):
    """Each joint's anchor point is the same seen from its parent and its child, in place and
    in velocity (a hinge's anchor point moves alike on both bodies; a slider's child point
    moves along the axis at the joint rate), so the solver has nothing to correct at t = 0."""
    sim = _chain_at_offsets(tmp_path)
    pos, quat = sim.state.pos.to_numpy()[0], sim.state.quat.to_numpy()[0]
    vel, omega = sim.state.vel.to_numpy()[0], sim.state.omega.to_numpy()[0]
    com = sim.model.com.to_numpy()
    anchor_p, anchor_c = sim.get_param("anchor_p"), sim.get_param("anchor_c")
    names = list(sim.layout.body_names)
    from tdphys.engine.layout import quat_to_matrix

    for w, offsets in enumerate(OFFSETS):
        for j, joint in enumerate(sim.robot.joints):

            def point(n, local):  # world position and velocity of a body-frame point
                if n < 0:
                    return local, np.zeros(3)
                r = quat_to_matrix(quat[w, n]) @ (local - com[w, n])
                return pos[w, n] + r, vel[w, n] + np.cross(omega[w, n], r)

            parent = -1 if joint.parent is None else names.index(joint.parent)
            xp, vp = point(parent, anchor_p[w, j])
            xc, vc = point(names.index(joint.child), anchor_c[w, j])
            if joint.kind == "hinge":
                np.testing.assert_allclose(xc, xp, atol=1e-12)
                np.testing.assert_allclose(vc, vp, atol=1e-12)
            else:  # the rail: displaced and moving along its unit axis
                axis = np.array(joint.axes[0]) / np.linalg.norm(joint.axes[0])
                np.testing.assert_allclose(xc - xp, offsets[0, 0] * axis, atol=1e-12)
                np.testing.assert_allclose(vc - vp, offsets[0, 1] * axis, atol=1e-12)


def _swing_up(robots_dir, batch=3):
    exp = short(load_experiment(robots_dir.parent / "experiments" / "cart_swing_up.yaml"), 0.3)
    assert exp.task.starts is not None
    return dataclasses.replace(
        exp,
        task=dataclasses.replace(
            exp.task, starts=dataclasses.replace(exp.task.starts, batch=batch)
        ),
    )


@pytest.mark.slow
def test_swing_up_with_random_starts_keeps_the_file_start_in_world_0(backend64, robots_dir, builds):
    """Every update is `batch` simulations; world 0 starts as the robot file says (the metrics
    are its), the others from fresh draws that change from update to update."""
    exp = _swing_up(robots_dir)
    result = run(exp, budget=6, progress=False, builds=builds)
    assert result.evaluations == 6 and result.iterations == 2
    sim = result.sim
    quat = sim.get_param("init_quat")
    file_quat = [b.quat for b in sim.robot.bodies]
    np.testing.assert_allclose(quat[0], file_quat, atol=1e-12)
    assert np.abs(quat[1:] - np.asarray(file_quat)).max() > 1e-3
    angle = sim.sensor("pole_angle")[0, :, 0]
    hanging = angle[0]
    assert hanging == pytest.approx(0.0, abs=1e-12) and abs(angle[1]) > 0


@pytest.mark.slow
def test_random_starts_loss_gradient_matches_finite_differences(robots_dir, builds):
    """The batch-averaged swing-up loss (1/B per world) over random starts, f64, on the tape
    against central differences."""
    check_run_gradient(_swing_up(robots_dir), picks=[0, 100, 2000, -1], builds=builds)


@pytest.mark.slow
def test_random_starts_with_cmaes(backend64, robots_dir, builds):
    """CMA-ES: each candidate drives a block of `batch` worlds from the same starts (its first
    world from the file's start), counted as `batch` simulations."""
    exp = _swing_up(robots_dir, batch=2)
    exp = dataclasses.replace(exp, optimizer=dataclasses.replace(exp.optimizer, popsize=3))
    result = run(exp, optimizer="cmaes", budget=12, progress=False, builds=builds)
    assert result.evaluations == 12 and result.iterations == 2 and result.sim.batch == 6
    angle = result.sim.sensor("pole_angle")[0, :, 0]
    np.testing.assert_allclose(angle[[0, 2, 4]], 0.0, atol=1e-12)
    np.testing.assert_allclose(angle[[3, 5]], angle[1], atol=1e-12)
    assert abs(angle[1]) > 0


BAD = [
    (
        "      hinge: {pos: [-3.14159, 3.14159], vel: [-4, 4]}",
        "      hinge: {pos: [-3.14159, 3.14159], vle: [-4, 4]}",
        "task.starts.joints.hinge.vle",
        ["unknown key", "did you mean 'vel'"],
        False,
    ),
    (
        "      hinge: {pos: [-3.14159, 3.14159], vel: [-4, 4]}",
        "      hinge: {pos: [1, -1]}",
        "task.starts.joints.hinge.pos",
        ["hi < lo"],
        False,
    ),
    (
        "      hinge: {pos: [-3.14159, 3.14159], vel: [-4, 4]}",
        "      hinge: {}",
        "task.starts.joints.hinge",
        ["neither `pos` nor `vel`"],
        False,
    ),
    (
        "      rail: {pos: [-1.2, 1.2], vel: [-1, 1]}",  # the second joint's key path too
        "      rail: {pos: [-1.2, 1.2], vle: [-1, 1]}",
        "task.starts.joints.rail.vle",
        ["unknown key 'vle' in task.starts.joints.rail"],
        False,
    ),
    ("    batch: 16", "    batch: 1", "task.starts.batch", ["at least 2"], False),
    (
        "      hinge: {pos: [-3.14159, 3.14159], vel: [-4, 4]}",
        "      hinje: {pos: [-1, 1]}",
        "task.starts.joints.hinje",
        ["no joint 'hinje'", "did you mean 'hinge'"],
        True,
    ),
]


@pytest.mark.parametrize("old, new, key, words, check_robot", BAD)
def test_bad_starts_name_the_key(tmp_path, robots_dir, old, new, key, words, check_robot):
    from test_optimize import _expect_model_error

    text = (robots_dir.parent / "experiments" / "cart_swing_up.yaml").read_text()
    assert old in text
    p = tmp_path / "exp.yaml"
    p.write_text(text.replace(old, new).replace("../robots/", str(robots_dir) + "/"))
    _expect_model_error(p, key, words, check_robot=check_robot)


def test_starts_refuse_a_trained_initial_state(tmp_path, robots_dir):
    from test_optimize import _expect_model_error

    text = (robots_dir.parent / "experiments" / "cart_swing_up.yaml").read_text()
    p = tmp_path / "exp.yaml"
    p.write_text(text.replace("../robots/", str(robots_dir) + "/") + "trainable:\n  init_vel: {}\n")
    _expect_model_error(p, "task.starts", ["`trainable: init_vel` also sets"], check_robot=True)


def test_starts_move_one_axis_joints_only(tmp_path, robots_dir):
    """A random start turns or slides a joint along its one axis: a two-axis universal joint
    is refused, naming the kinds it could be."""
    from test_optimize import _expect_model_error

    text = (robots_dir.parent / "experiments" / "arm_reach.yaml").read_text()
    p = tmp_path / "exp.yaml"
    p.write_text(
        text.replace("../robots/", str(robots_dir) + "/").replace(
            "  tolerance: 0.01",
            "  starts: {joints: {shoulder: {pos: [-0.1, 0.1]}}}\n  tolerance: 0.01",
        )
    )
    _expect_model_error(
        p,
        "task.starts.joints.shoulder",
        ["universal joint", "one-axis joints only (hinge or slider)"],
        check_robot=True,
    )


def _replay(args: list, capsys) -> tuple[int, list, str]:
    """`tdphys replay ARGS`: (exit status, the JSON lines it printed, stderr). Taichi may print
    its start-up banner before them."""
    import json

    from tdphys.cli import main

    try:
        code = main(["replay", *args])
    except SystemExit as exc:  # argparse's own exit
        code = exc.code
    out, err = capsys.readouterr()
    return code, [json.loads(s) for s in out.splitlines() if s.startswith("{")], err


@pytest.mark.slow
def test_replay_reproduces_the_run_and_goes_on_longer(
    backend64, robots_dir, tmp_path, capsys, builds
):
    """`tdphys replay` rolls a run folder's best parameters out from the file's start: over
    the training horizon it gives the run's own final metrics, and it runs longer on request
    (how a lucky pass is told from balancing). Its exit status is the verdict: a pole 0.3 s
    from hanging is not up, so 1 (not met); bad input 2."""
    from tdphys.optim.outputs import write_run

    result = run(_swing_up(robots_dir), budget=6, progress=False, builds=builds)
    write_run(result, tmp_path / "run", video=False)
    # the folder names the experiment file (5 s); this run was 0.3 s
    code, (again,), _ = _replay([str(tmp_path / "run"), "--duration", "0.3"], capsys)
    assert code == 1 and again["success"] is False
    for key in ("height_error_m", "worst_gap_m", "max_height_m", "up_share"):
        assert again[key] == pytest.approx(result.metrics_best[key], abs=1e-12)
    # --experiment: another file than the one the run recorded (which moved, or was a copy)
    code, _, err = _replay(
        [str(tmp_path / "run"), "--experiment", str(tmp_path / "gone.yaml")], capsys
    )
    assert code == 2 and "gone.yaml" in err
    out = tmp_path / "long.npz"
    code, (longer,), _ = _replay(
        [str(tmp_path / "run"), "--duration", "0.6", "--out", str(out)], capsys
    )
    assert code == 1 and longer["duration_s"] == pytest.approx(0.6)
    assert np.load(out)["pos"].shape[0] == 31
    # a folder with the trained parameters only (params.npz) and the file that trained them
    import shutil

    from tdphys.optim.checkpoints import load_state

    (tmp_path / "weights").mkdir()
    shutil.copy(tmp_path / "run" / "params.npz", tmp_path / "weights")
    file = load_state(tmp_path / "run")["file"]
    code, lines, _ = _replay(
        [str(tmp_path / "weights"), "--experiment", file, "--duration", "0.3"], capsys
    )
    assert code == 1 and lines == [again]
    code, _, err = _replay([str(tmp_path / "weights")], capsys)  # which file trained them?
    assert code == 2 and "give the experiment file that trained them with --experiment" in err


@pytest.mark.slow
def test_replay_nudged_starts_every_world_from_a_moved_start(
    backend64, robots_dir, tmp_path, capsys, builds
):
    """`tdphys replay --nudge D`: world 0 from the file's start, the others from every hinge
    and slider moved and set moving by draws in +-D; each world's metrics with its verdict,
    then the count; exit status 0 only when every world met the criterion. --nudge 0 gives
    the file's start in every world."""
    from tdphys.optim.outputs import write_run

    result = run(_swing_up(robots_dir), budget=2, progress=False, builds=builds)
    write_run(result, tmp_path / "run", video=False)

    def lines(*extra):
        code, printed, _ = _replay(
            [str(tmp_path / "run"), "--duration", "0.3", "--worlds", "3", *extra], capsys
        )
        assert code == (0 if printed[-1]["passed"] == 3 else 1)
        return printed

    same = lines("--nudge", "0")
    assert [w["world"] for w in same[:3]] == [0, 1, 2] and same[3]["worlds"] == 3
    for w in same[1:3]:
        assert w["max_height_m"] == pytest.approx(same[0]["max_height_m"], abs=1e-12)
    moved = lines("--nudge", "0.3", "--hold", "0.1")
    assert moved[0]["max_height_m"] == pytest.approx(same[0]["max_height_m"], abs=1e-12)
    assert moved[0]["worst_gap_m"] <= same[0]["worst_gap_m"]  # --hold: a shorter window
    assert all(
        abs(w["max_height_m"] - same[0]["max_height_m"]) > 1e-9  # started elsewhere
        or abs(w["worst_gap_m"] - moved[0]["worst_gap_m"]) > 1e-9
        for w in moved[1:3]
    )
    assert moved[3]["passed"] == sum(w["success"] for w in moved[:3])
    code, _, err = _replay([str(tmp_path / "run"), "--nudge", "0.1", "--worlds", "1"], capsys)
    assert code == 2 and "argument --worlds: 1 is out of range" in err  # no comparison
