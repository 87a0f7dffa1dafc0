"""Optimisation through physics: experiment files, the ball throw with Adam, a
CMA-ES baseline and the run folder."""

import dataclasses
import json
import math

import numpy as np
import pytest

from controller_checks import check_params_gradient
from experiment_checks import short

from tdphys.errors import ModelError
from tdphys.optim import load_experiment, run

GOOD = """name: t
robot: {robot}
task: {{type: ball_throw, duration: 5.0, target: [10, 0]}}
trainable:
  init_vel: {{init: [0, 0, 0]}}
  init_omega: {{scale: 2.0}}
optimizer: {{type: adam, lr: 2.0}}
"""


def _write(tmp_path, text, robots_dir):
    p = tmp_path / "exp.yaml"
    p.write_text(text.format(robot=robots_dir / "ball.yaml"))
    return p


def test_ball_throw_file_loads(robots_dir):
    exp = load_experiment(robots_dir.parent / "experiments" / "ball_throw.yaml")
    assert exp.task.type == "ball_throw" and exp.task.target == (10.0, 0.0)
    assert [t.name for t in exp.trainable] == ["init_vel", "init_omega"]


@pytest.mark.parametrize(
    "old, new, key, words",
    [
        ("type: ball_throw", "type: ball_trow", "task.type", ["unknown task type", "ball_throw"]),
        (
            "lr: 2.0",
            "lr_decy: 0.9",
            "optimizer.lr_decy",
            ["unknown key", "did you mean 'lr_decay'"],
        ),
        (
            "init_omega:",
            "init_omgea:",
            "trainable.init_omgea",
            ["not a Simulation parameter", "did you mean 'init_omega'"],
        ),
        (
            "init_omega:",
            "contact_margin:",
            "trainable.contact_margin",
            ["is a solver setting", "`overrides:`"],
        ),
        ("duration: 5.0", "duration: -1", "task.duration", ["must be positive"]),
        (
            "lr: 2.0",
            "lr: 2.0, clip_relative: 0.5",
            "optimizer.clip_relative",
            ["must be 0 (off) or at least 1", "e.g. 3"],
        ),
        ("name: t", "name: t\nbudget: 3", "budget", ["unknown key"]),
    ],
)
def test_bad_experiment_names_the_key(tmp_path, robots_dir, old, new, key, words):
    p = _write(tmp_path, GOOD.replace(old, new), robots_dir)
    _expect_model_error(p, key, words)


def _expect_model_error(p, key, words, check_robot=False):
    """Loading experiment file p (and checking it against its robot) fails with a message
    naming the file, the dotted key and each of `words`."""
    with pytest.raises(ModelError) as info:
        exp = load_experiment(p)
        if check_robot:
            import tdphys
            from tdphys.optim.experiment import check_against_robot

            check_against_robot(exp, tdphys.load(exp.robot))
    msg = str(info.value)
    assert str(p) in msg and f"{key}:" in msg, msg
    for w in words:
        assert w in msg, msg


def test_clip_relative_keeps_a_rare_huge_gradient_to_a_few_typical_norms():
    """optimizer.clip_relative: k scales a gradient down to k times the median norm of the last
    50 (from the 10th step on), so one gradient 1000 times the others moves Adam's first
    moment no more than k typical ones would; the absolute clip still applies, and the norm
    history is part of the state a resumed run restores (runs saved before it had (m, v, t))."""
    from tdphys.optim.optimizers import Adam

    rng = np.random.default_rng(0)
    typical = [rng.normal(size=20) for _ in range(30)]
    typical = [g / np.linalg.norm(g) for g in typical]  # norm 1 each
    burst = 1000.0 * typical[0]

    def first_moment_after_burst(**kw):
        adam, x = Adam(lr=0.01, **kw), np.zeros(20)
        for g in typical:
            x = adam.step(x, g)
        before = adam.m.copy()
        adam.step(x, burst)
        # the burst's share of the first moment, / (1 - beta1)
        return np.linalg.norm(adam.m - 0.9 * before) / 0.1, adam

    assert first_moment_after_burst()[0] == pytest.approx(1000.0)
    assert first_moment_after_burst(clip=100.0)[0] == pytest.approx(100.0)
    moved, adam = first_moment_after_burst(clip=100.0, clip_relative=3.0)
    assert moved == pytest.approx(3.0) and adam.clipped_to == pytest.approx(3.0)
    assert adam.norms[-1] == pytest.approx(1000.0) and len(adam.norms) == 31

    early = Adam(lr=0.01, clip_relative=3.0)  # no history yet: not clipped
    early.step(np.zeros(20), burst)
    assert np.linalg.norm(early.m) / 0.1 == pytest.approx(1000.0)

    resumed = Adam(lr=0.01, clip_relative=3.0)
    resumed.restore(adam.state())
    assert resumed.t == adam.t and resumed.norms == adam.norms and resumed.limit() == adam.limit()
    resumed.restore((adam.m, adam.v, adam.t))  # an older run's state
    assert resumed.norms == [] and resumed.limit() == math.inf


def test_missing_robot_file(tmp_path):
    p = tmp_path / "exp.yaml"
    p.write_text("robot: nowhere.yaml\ntask: {type: ball_throw}\ntrainable: {init_vel: {}}\n")
    with pytest.raises(ModelError, match="robot: robot file .* does not exist"):
        load_experiment(p)


@pytest.mark.slow
def test_ball_throw_converges_with_adam(backend64, robots_dir, tmp_path, builds):
    """The paper's criterion: rest at (10, 0) m after 5 s within 1 cm and 1 cm/s within 100
    simulations from the file's guess, and the run folder holds the final behaviour."""
    from tdphys.optim.outputs import write_run

    exp = load_experiment(robots_dir.parent / "experiments" / "ball_throw.yaml")
    result = run(exp, budget=100, progress=False, builds=builds)
    m = result.metrics_best
    assert result.stop_reason == "success", (result.stop_reason, result.evaluations, m)
    assert m["error_m"] <= 0.01 and m["speed_mps"] <= 0.01
    assert result.history[-1]["loss"] < 1e-3 * result.history[0]["loss"]
    files = write_run(result, tmp_path, video=False)
    metrics = json.loads(files["metrics"].read_text())
    assert metrics["success"] and metrics["evaluations"] == result.evaluations
    assert set(json.loads(files["params"].read_text())) == {"init_vel", "init_omega"}
    traj = np.load(files["trajectory"])
    assert traj["pos"].shape == (501, 1, 1, 3)
    assert np.hypot(traj["pos"][-1, 0, 0, 0] - 10, traj["pos"][-1, 0, 0, 1]) <= 0.01
    assert np.linalg.norm(traj["vel"][-1, 0, 0]) <= 0.01
    assert {"robot_yaml", "robot_path", "com_offset", "target"} <= set(traj.files)
    assert files["curve"].stat().st_size > 1000


@pytest.mark.slow
def test_gradient_probe_agrees_with_the_exact_gradient_on_a_smooth_loss(
    backend64, robots_dir, builds
):
    """demos/gradient_quality.py's probe (tdphys/studies/gradient_quality.py) on the ball throw
    (the previous test's build): along minus the exact gradient the secant slope over short
    steps equals the exact directional derivative -|g|; a grad_decay < 1 direction is probed
    beside it."""
    from tdphys.studies.gradient_quality import probe, report

    exp = load_experiment(robots_dir.parent / "experiments" / "ball_throw.yaml")
    decayed, exact = probe(exp, steps=(1e-6, 1e-4), decays=(0.9, 1.0), builds=builds)
    assert (decayed.decay, exact.decay) == (0.9, 1.0)
    assert exact.predicted == pytest.approx(-exact.norm, rel=1e-12)  # d = -g/|g|
    for slope in exact.slopes.values():
        assert slope == pytest.approx(exact.predicted, rel=1e-3)
    assert exact.trusted_up_to() == 1e-4
    assert decayed.predicted < 0 and decayed.norm != pytest.approx(exact.norm)
    text = report([decayed, exact])
    assert "grad_decay 0.9" in text and "exact" in text and "descends" in text


@pytest.mark.slow
def test_cmaes_tiny_budget_lowers_the_loss(backend64, robots_dir, builds):
    exp = load_experiment(robots_dir.parent / "experiments" / "ball_throw.yaml")
    exp = dataclasses.replace(exp, optimizer=dataclasses.replace(exp.optimizer, popsize=8))
    result = run(exp, optimizer="cmaes", budget=48, progress=False, builds=builds)
    assert result.evaluations == 48
    first = result.history[0]["loss"]  # the initial guess's neighbourhood
    assert result.loss_best < 0.5 * first


@pytest.mark.slow
def test_system_identification_tiny_budget_moves_towards_the_truth(backend64, robots_dir, builds):
    """Three Adam steps on a 1 s recording lower the loss by at least a third and the
    parameters' error by at least a tenth (the full file recovers all three within 1 %:
    docs/studies/paper-tasks.md)."""
    exp = short(
        load_experiment(robots_dir.parent / "experiments" / "system_identification.yaml"), 1.0
    )
    result = run(exp, budget=4, progress=False, builds=builds)
    h = result.history
    assert h[-1]["loss"] < 2 / 3 * h[0]["loss"] and h[-1]["param_error"] < 0.9
    assert h[0]["param_error"] == pytest.approx(1.0)  # init 0.3 / 0.8 / 1.0 vs the truth


CONTROLLER = """name: t
robot: {robot}
task: {{type: reach, target: [0.5, 0.5, 0.5], effector: {{body: forearm}}}}
controller:
  inputs: [{{clock: {{hz: 1}}}}, {{sensor: {{name: hand_pos}}}}]
  hidden: [8]
"""


@pytest.mark.parametrize(
    "old, new, key, words",
    [
        ("clock: {hz: 1}", "clock: {hz: 0}", "controller.inputs[0].clock.hz", ["must be positive"]),
        (
            "clock: {hz: 1}",
            "clok: {hz: 1}",
            "controller.inputs[0].clok",
            ["unknown input kind", "did you mean 'clock'"],
        ),
        (
            "name: hand_pos",
            "name: hand_pso",
            "controller.inputs[1].sensor.name",
            ["no sensor 'hand_pso'", "did you mean 'hand_pos'"],
        ),
        ("hidden: [8]", "hidden: [8, 0]", "controller.hidden", ["widths must be >= 1"]),
        ("hidden: [8]", "hidden: [8]\n  activation: relux", "controller.activation", ["relu"]),
        (
            "hidden: [8]",
            "hidden: [8]\n  output_scale: [1, 2]",
            "controller.output_scale",
            ["2 numbers for 4 motors"],
        ),
        (
            "{body: forearm}",
            "{body: foreram}",
            "task.effector.body",
            ["no body 'foreram'", "did you mean 'forearm'"],
        ),
        ("hidden: [8]", "hidden: [8]\n  layers: 2", "controller.layers", ["unknown key"]),
        (
            "hidden: [8]",
            "hidden: [8]\n  action_repeat: 0",
            "controller.action_repeat",
            ["must be a whole number > 0"],
        ),
        (
            "  inputs: [{clock: {hz: 1}}, {sensor: {name: hand_pos}}]\n  hidden: [8]",
            "  type: open_loop\n  action_repeat: 2",
            "controller.action_repeat",
            ["one trainable command per step", "remove `action_repeat`"],
        ),
        (
            "  inputs: [{clock: {hz: 1}}, {sensor: {name: hand_pos}}]\n",
            "  type: open_loop\n",
            "controller.hidden",
            [
                "open_loop controller has one trainable command per step and no network",
                "remove `hidden`",
            ],
        ),
        (
            "hidden: [8]",
            "hidden: [8]\n  camera: front",
            "controller.camera",
            ["only a `type: vision` controller has it (this one is mlp)"],
        ),
    ],
)
def test_bad_controller_names_the_key(tmp_path, robots_dir, old, new, key, words):
    """Mistakes in a controller block (or in names it takes from the robot) are reported
    with the file and the key before any simulation runs."""
    p = tmp_path / "exp.yaml"
    p.write_text(CONTROLLER.format(robot=robots_dir / "arm.yaml").replace(old, new))
    _expect_model_error(p, key, words, check_robot=True)


SYSID = """name: t
robot: {robot}
task: {{type: system_identification, truth: {{shape_friction: 0.4}}}}
trainable:
  shape_friction: {{index: [1], init: [0.8]}}
"""


@pytest.mark.parametrize(
    "old, new, key, words",
    [
        (
            "truth: {shape_friction: 0.4}",
            "truth: {shape_mass: 2}",
            "task.truth.shape_mass",
            ["'shape_mass' is not trainable"],
        ),
        (
            "truth: {shape_friction: 0.4}",
            "truth: {}",
            "trainable.shape_friction",
            ["no truth for 'shape_friction'"],
        ),
        ("index: [1]", "index: [1, 1]", "trainable.shape_friction.index", ["distinct"]),
    ],
)
def test_bad_system_identification_names_the_key(tmp_path, robots_dir, old, new, key, words):
    p = tmp_path / "exp.yaml"
    p.write_text(SYSID.format(robot=robots_dir / "sysid_rig.yaml").replace(old, new))
    _expect_model_error(p, key, words)


SWING = """name: t
robot: {robot}
task:
  type: swing_up
  target_height: 1.8
  effector: {{body: pole, point: [0, 0, -0.8]}}
  home: {{body: cart, cost: 0.1}}
trainable: {{init_vel: {{}}}}
"""


@pytest.mark.parametrize(
    "old, new, key, words",
    [
        ("body: cart,", "body: krat,", "task.home.body", ["no body 'krat'", "cart, pole"]),
        ("cost: 0.1", "cost: -0.1", "task.home.cost", ["must not be negative"]),
        (
            "body: cart, cost: 0.1",
            "body: cart",
            "task.home.cost",
            ["needs the key 'cost'", "[1/m^2]"],
        ),
        ("cost: 0.1}", "cost: 0.1, radius: 1}", "task.home.radius", ["unknown key"]),
        (
            "type: swing_up\n  target_height: 1.8",
            "type: reach\n  target: [0, 0, 1]",
            "task.home",
            ["unknown key"],
        ),
    ],
)
def test_bad_home_names_the_key(tmp_path, robots_dir, old, new, key, words):
    """task.home (swing_up): a body of the robot and a non-negative cost."""
    p = tmp_path / "exp.yaml"
    p.write_text(SWING.format(robot=robots_dir / "cart_pendulum.yaml").replace(old, new))
    _expect_model_error(p, key, words, check_robot=True)


def test_home_reads_body_and_cost(tmp_path, robots_dir):
    p = tmp_path / "exp.yaml"
    p.write_text(SWING.format(robot=robots_dir / "cart_pendulum.yaml"))
    t = load_experiment(p).task
    assert (t.home_body, t.home_cost) == ("cart", 0.1)


def test_a_cmaes_state_saved_as_data_continues_exactly(tmp_path):
    """CMA-ES's state (mean, step size, covariance, paths, counters and numpy's random state)
    goes through state.npz as data and the resumed strategy asks for exactly the candidates
    the original would have, full and diagonal covariance, with and without fixed
    coordinates (a pickle of the strategy used to be saved)."""
    from tdphys.datafiles import read_tree, write_tree
    from tdphys.optim import optimizers
    from tdphys.optim.optimizers import cma_resume, cma_state, cmaes

    def generations(es, n):
        out = []
        for _ in range(n):
            X = es.ask()
            es.tell(X, [float(np.sum((x - 1.5) ** 2) + np.sum(np.abs(x))) for x in X])
            out.append(np.array(X))
        return out

    for fixed in (None, np.array([0, 1, 0, 0, 0, 0], bool)):
        for full_max in (1000, 2):
            optimizers.FULL_COVARIANCE_MAX, before = full_max, optimizers.FULL_COVARIANCE_MAX
            try:
                es = cmaes(np.zeros(6), 1.0, 6, 3, fixed=fixed)
                generations(es, 5)
                write_tree(tmp_path / "state.npz", {"cma": cma_state(es)})
                going_on = generations(es, 20)
                np.random.seed(12345)  # whatever ran in between
                saved = read_tree(tmp_path / "state.npz", "run state", "")["cma"]
                resumed = generations(cma_resume(saved, 1.0, 6, 3, fixed=fixed), 20)
                with pytest.raises(ValueError, match="'opts.x' is not part of a CMA-ES's state"):
                    cma_resume({"opts.x": 1.0, **saved}, 1.0, 6, 3, fixed=fixed)
            finally:
                optimizers.FULL_COVARIANCE_MAX = before
            for a, b in zip(going_on, resumed):
                np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_resume_keeps_the_runs_budget(backend64, robots_dir, tmp_path, builds):
    """A resumed run goes on to the budget it was started with (it used to take the file's)
    unless one is given."""
    from tdphys.optim.checkpoints import load_state
    from tdphys.optim.outputs import write_run

    exp = load_experiment(robots_dir.parent / "experiments" / "ball_throw.yaml")
    write_run(run(exp, budget=2, progress=False, builds=builds), tmp_path, video=False)
    assert load_state(tmp_path)["budget"] == 2
    resumed = run(exp, progress=False, resume=load_state(tmp_path), builds=builds)
    assert resumed.evaluations == 2
    resumed = run(exp, budget=3, progress=False, resume=load_state(tmp_path), builds=builds)
    assert resumed.evaluations == 3


@pytest.mark.slow
def test_resume_continues_exactly(backend64, robots_dir, tmp_path, builds):
    """3 Adam iterations, saved and resumed for 3 more, give the same losses as 6 in a row
    (the optimiser's moments and the next parameters are in state.npz)."""
    from tdphys.optim.checkpoints import load_state
    from tdphys.optim.outputs import write_run

    exp = load_experiment(robots_dir.parent / "experiments" / "ball_throw.yaml")
    straight = run(exp, budget=6, progress=False, builds=builds)
    first = run(exp, budget=3, progress=False, builds=builds)
    write_run(first, tmp_path, video=False)
    resumed = run(exp, budget=6, progress=False, resume=load_state(tmp_path), builds=builds)
    assert resumed.evaluations == 6 and len(resumed.history) == 6
    assert [h["loss"] for h in resumed.history] == pytest.approx(
        [h["loss"] for h in straight.history], rel=1e-12
    )
    with pytest.raises(Exception, match="cannot resume"):
        run(
            exp,
            optimizer="cmaes",
            budget=6,
            progress=False,
            resume=load_state(tmp_path),
            builds=builds,
        )


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_checkpoint(backend64, robots_dir, tmp_path, builds):
    """The checkpoint saved after the 3rd of 6 Adam iterations (as demos/optimize.py does every
    --checkpoint-min minutes) resumes to the same losses as a run that was never stopped."""
    import json

    from tdphys.optim.checkpoints import load_state, write_checkpoint

    exp = load_experiment(robots_dir.parent / "experiments" / "ball_throw.yaml")
    straight = run(exp, budget=6, progress=False, builds=builds)

    def save_at_three(result):  # every step is offered (checkpoint_s=0); keep the 3rd
        if result.evaluations == 3:
            write_checkpoint(result, tmp_path)

    run(exp, budget=6, progress=False, checkpoint=save_at_three, checkpoint_s=0, builds=builds)
    assert len(json.loads((tmp_path / "history.json").read_text())) == 3
    assert not list(tmp_path.glob("*.tmp"))
    resumed = run(exp, budget=6, progress=False, resume=load_state(tmp_path), builds=builds)
    assert [h["loss"] for h in resumed.history] == pytest.approx(
        [h["loss"] for h in straight.history], rel=1e-12
    )


@pytest.mark.slow
def test_a_warm_start_goes_on_from_the_earlier_runs_best_parameters(
    backend64, robots_dir, tmp_path, builds
):
    """`init_from: RUN_DIR` starts from the parameters that folder's params.npz holds (its
    best, in the Simulation's units): the first rollout of the new run has the earlier run's
    best loss, another trainable scale reads the same values, and metrics.json says where the
    run began and what that cost."""
    import shutil

    from tdphys.optim.checkpoints import load_state
    from tdphys.optim.outputs import metrics, write_run
    from tdphys.optim.params import ParameterMap
    from tdphys.optim.warm_start import initial_x

    exp = load_experiment(robots_dir.parent / "experiments" / "ball_throw.yaml")
    first = run(exp, budget=3, progress=False, builds=builds)
    write_run(first, tmp_path / "first", video=False)
    warm = dataclasses.replace(exp, init_from=str(tmp_path / "first"))
    second = run(warm, budget=1, progress=False, builds=builds)
    assert second.history[0]["loss"] == pytest.approx(first.loss_best, rel=1e-12)
    assert metrics(second)["init_from_evaluations"] == 3
    # the folder is read when a run starts, not when the file is (a curriculum's next stage)
    p = _write(tmp_path, GOOD.replace("name: t", "name: t\ninit_from: no_such_run"), robots_dir)
    with pytest.raises(
        ModelError,
        match=r"init_from: run folder .*no_such_run' does not "
        r"exist\n  fix: run the experiment it names first",
    ):
        run(load_experiment(p), budget=1, progress=False, builds=builds)
    rescaled = dataclasses.replace(
        warm, trainable=tuple(dataclasses.replace(t, scale=7.0) for t in warm.trainable)
    )
    params = ParameterMap(rescaled, second.sim)
    named = params.named(initial_x(rescaled, params))
    assert named.keys() == first.params.keys()
    for key, value in first.params.items():
        np.testing.assert_allclose(named[key], value, rtol=1e-12)
    write_run(second, tmp_path / "second", video=False)  # a resume needs only its own
    shutil.rmtree(tmp_path / "first")  # folder, not init_from's
    assert (
        run(
            warm, budget=2, progress=False, resume=load_state(tmp_path / "second"), builds=builds
        ).evaluations
        == 2
    )


def test_a_warm_started_controller_keeps_its_weights_and_refuses_another_shape(
    backend64, robots_dir, tmp_path, builds
):
    """A controller's weights come from the folder's controller_theta whatever the new
    experiment's lr_scale; a controller of another size, or a folder without one, is an
    error naming init_from. (Reuses the stall test's 10-step cart-pendulum build.)"""
    import tdphys
    from tdphys.control import make_controller
    from tdphys.optim.params import ParameterMap
    from tdphys.optim.warm_start import initial_x

    exp = _clipping_experiment(robots_dir)
    sim, task, params = builds.get(exp, tdphys.load(exp.robot), 10, 1)
    theta = np.random.default_rng(1).normal(size=params.n_ctrl)
    np.savez(tmp_path / "params.npz", controller_theta=theta)
    warm = dataclasses.replace(
        exp, init_from=str(tmp_path), controller=dataclasses.replace(exp.controller, lr_scale=0.1)
    )
    params = ParameterMap(warm, sim, make_controller(warm.controller, sim, task))
    np.testing.assert_allclose(params.controller_theta(initial_x(warm, params)), theta, rtol=1e-12)
    other = dataclasses.replace(warm, controller=dataclasses.replace(warm.controller, hidden=(8,)))
    params = ParameterMap(other, sim, make_controller(other.controller, sim, task))
    with pytest.raises(ModelError, match=r"init_from: .*weights, this experiment's has"):
        initial_x(other, params)
    np.savez(tmp_path / "params.npz", shape_mass=np.ones(3))
    with pytest.raises(ModelError, match="that run trained no controller"):
        initial_x(warm, params)


@pytest.mark.slow
def test_log_trainables_stay_positive_and_chain_the_gradient(backend64, robots_dir, builds):
    """`log: true`: the optimiser moves ln(value) / scale; the gradient it gets is the
    parameter's gradient times value * scale (central differences agree), and any step keeps
    the value positive. (Reuses the simulation the system identification test built.)"""
    import tdphys
    from tdphys.optim.params import ParameterMap

    exp = short(
        load_experiment(robots_dir.parent / "experiments" / "system_identification.yaml"), 1.0
    )
    robot = tdphys.load(exp.robot)
    sim, task, _ = builds.get(exp, robot, round(1.0 / robot.solver.dt), 1)
    logged = dataclasses.replace(
        exp, trainable=tuple(dataclasses.replace(t, log=True) for t in exp.trainable)
    )
    params = ParameterMap(logged, sim)
    x = params.x0.copy()
    initial = {"shape_restitution": [0.3], "shape_friction": [0.8], "shape_mass": [1.0]}
    named = params.named(x)
    assert named.keys() == initial.keys()
    for key, value in initial.items():
        np.testing.assert_allclose(
            np.asarray(named[key], float), value, rtol=1e-12, err_msg=key, strict=True
        )
    check_params_gradient(sim, task, params, x, range(x.size))
    params.set(sim, x - 100.0)  # a huge step down stays positive
    assert sim.get_param("shape_mass")[0, 3] > 0


def _clipping_experiment(robots_dir):
    """cart_swing_up for 0.2 s (10 steps) from hanging still, its commands scaled by 1e4: the
    servo clips every one of them."""
    exp = short(load_experiment(robots_dir.parent / "experiments" / "cart_swing_up.yaml"), 0.2)
    return dataclasses.replace(
        exp,
        task=dataclasses.replace(exp.task, starts=None),
        controller=dataclasses.replace(exp.controller, output_scale=1e4),
    )


@pytest.mark.slow
def test_control_cost_adds_c_mean_u2_and_reaches_clipped_commands(backend64, robots_dir, builds):
    """task.control_cost c adds c (1/T) sum_t sum_m u_m(t)^2 of the raw commands to the loss,
    and its gradient 2 c u / T reaches every command, also one beyond the motor's range that
    the servo clips (where the physics passes no gradient)."""
    import tdphys
    from tdphys.tasks import make_task
    from tdphys.tasks.swing_up import SwingUpConfig

    T, c = 10, 0.3
    exp = _clipping_experiment(robots_dir)  # its 10-step cart-pendulum (one compile shared
    sim, _, _ = builds.get(exp, tdphys.load(exp.robot), T, 1)  # with the stall test)
    u = np.random.default_rng(0).uniform(-2, 2, (T, 1, 1))
    u[3] = 9.0  # the cart servo's range is [-4, 4]
    sim.set_controls(u)
    losses, grads = [], []
    for cost in (0.0, c):
        task = make_task(
            SwingUpConfig(
                duration=T * sim.dt,
                target_height=1.8,
                effector_body="pole",
                effector_point=(0, 0, -0.8),
                control_cost=cost,
            ),
            sim,
        )
        task.reset()
        with sim.tape():
            sim.rollout(check=False)
            task.loss_kernel()
            task.extra_loss()
        losses.append(float(sim.loss[None]))
        grads.append(sim.controls_grad())
        assert task.losses()[0] == pytest.approx(losses[-1], rel=1e-12)  # taped: not doubled
    task.reset()  # a forward rollout (CMA-ES) ranks by the same
    sim.loss[None] = 0.0
    sim.rollout(check=False)
    task.loss_kernel()
    task.extra_loss()
    assert task.losses()[0] == pytest.approx(losses[1], rel=1e-12)

    def forward_loss(v):  # the same loss, no tape: central differences
        sim.set_controls(v)
        task.reset()
        sim.loss[None] = 0.0
        sim.rollout(check=False)
        task.loss_kernel()
        task.extra_loss()
        return float(sim.loss[None])

    for t in (0, 3, T - 1):  # free, clipped, last
        up, down = u.copy(), u.copy()
        up[t, 0, 0] += 1e-6
        down[t, 0, 0] -= 1e-6
        fd = (forward_loss(up) - forward_loss(down)) / 2e-6
        assert grads[1][t, 0, 0] == pytest.approx(fd, rel=1e-5, abs=1e-9)
    assert losses[1] - losses[0] == pytest.approx(c * (u**2).sum() / T, rel=1e-12)
    np.testing.assert_allclose(grads[1] - grads[0], 2 * c * u / T, rtol=1e-10, atol=1e-14)
    assert grads[0][3, 0, 0] == 0.0  # clipped: no gradient from the physics


@pytest.mark.slow
def test_adam_stops_when_the_gradient_stays_exactly_zero(backend64, robots_dir, builds):
    """Commands scaled so far out that the servo clips them (a first update may still find a
    step whose command crosses zero): once the gradient is exactly 0 for STALL_UPDATES updates
    in a row, the run stops, saying why and what to change."""
    from tdphys.optim.adam_loop import STALL_UPDATES

    result = run(_clipping_experiment(robots_dir), budget=50, progress=False, builds=builds)
    assert result.stop_reason == "stalled" and result.iterations < 2 * STALL_UPDATES
    last = result.history[-STALL_UPDATES:]
    assert all(h["grad_norm"] == 0.0 and h["clipped_share"] > 0.8 for h in last)
    assert "exactly 0" in result.message and "task.control_cost" in result.message


@pytest.mark.slow
def test_gait_ceiling_search_reports_a_monotone_best_speed_of_its_own_commands(
    backend64, robots_dir
):
    """demos/gait_ceiling.py's search (0.3 s of the quadruped gait, 2 generations of 4): the
    best speed never falls, and its command table is the Fourier series of its
    coefficients at the clock frequency."""
    from tdphys.studies.gait_ceiling import basis, clock_hz, reachable_speed

    exp = short(load_experiment(robots_dir.parent / "experiments" / "quadruped_gait.yaml"), 0.3)
    seen = []
    c = reachable_speed(
        exp, harmonics=1, generations=2, popsize=4, report=lambda g, r: seen.append(r.best_speed)
    )
    assert clock_hz(exp) == 1.5 and c.rollouts == 8 and len(seen) == 2
    assert np.isfinite(c.best_speed) and seen[1] >= seen[0]
    np.testing.assert_allclose(c.controls, basis(30, 0.01, 1.5, 1) @ c.coeffs.T)
    assert c.controls.shape == (30, 8)
