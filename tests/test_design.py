"""Co-design of geometry: robot-file vars trained as design variables (tdphys/optim/design.py).

A var of the robot file (here a pendulum's length L: the capsule's end, the bob's position
and the hinge height) sets every Simulation parameter that its expressions reach; its gradient
is the chain rule through them and must equal central finite differences of the loss in
float64, as must the gradient of parameters shared by a batch of worlds (summed over them).
"""

import numpy as np
import pytest

import tdphys
from tdphys.errors import ModelError
from tdphys.optim.builds import build
from tdphys.optim.experiment import check_against_robot, load_experiment
from tdphys.optim.params import ParameterMap
from tdphys.optim.rollouts import forward, taped

ROBOT = """
name: lever
vars: {L: 0.8}
bodies:
  - name: pole
    pos: [0, 0, 1.0 + L]
    shapes:
      - {type: capsule, radius: 0.03, fromto: [0, 0, 0, L, 0, 0], mass: 1.0}
      - {type: sphere, radius: 0.05 + 0.1 * L, pos: [L, 0, 0], mass: 0.5}
joints:
  - {name: hinge, type: hinge, parent: world, child: pole, anchor: [0, 0, 1.0 + L],
     axis: [0, 1, 0], motors: [{name: hinge, mode: position, gain: 5, max_force: 20}]}
"""

EXPERIMENT = """
name: lever_design
robot: lever.yaml
task:
  type: swing_up
  duration: 0.3
  target_height: 0.9
  effector: {{body: pole, point: [0.5, 0, 0]}}
  hold: 0.1
{task_extra}
{extra}
"""


def _experiment(tmp_path, extra, task_extra=""):
    (tmp_path / "lever.yaml").write_text(ROBOT)
    path = tmp_path / "exp.yaml"
    path.write_text(EXPERIMENT.format(extra=extra, task_extra=task_extra))
    return load_experiment(path)


pytestmark = pytest.mark.taichi_per_module  # one taped build serves the gradient tests

EXTRA = "design: {L: {init: 0.9}}\ntrainable: {shape_mass: {index: [1]}}"


class Lever:
    """The lever experiment built once: 3 worlds started with different angular velocities
    (so they differ and a shared number's gradient is a sum over them), design var L and
    the bob's mass trained; loss(x) forward, loss_grad(x) taped."""

    def __init__(self, exp, batch=3):
        robot = tdphys.load(exp.robot)
        check_against_robot(exp, robot)
        steps = int(round(exp.task.duration / robot.solver.dt))
        self.sim, self.task, self.params = build(exp, robot, steps, batch)
        omega = np.zeros((batch, 1, 3))
        omega[:, 0, 1] = np.linspace(-2.0, 3.0, batch)  # [rad/s] about the hinge
        self.sim.set_param("init_omega", omega)

    def loss(self, x, params=None):
        params = params or self.params
        params.set(self.sim, x)
        forward(self.sim, self.task, params)
        return float(self.sim.loss[None])

    def loss_grad(self, x, params=None):
        params = params or self.params
        params.set(self.sim, x)
        taped(self.sim, self.task, params)
        return float(self.sim.loss[None]), params.grad(self.sim)


@pytest.fixture(scope="module")
def lever(backend64, tmp_path_factory):
    return Lever(_experiment(tmp_path_factory.mktemp("lever"), EXTRA))


def test_the_robot_follows_the_design_var(lever):
    """Setting L = 1.1 gives the Simulation the parameters of the file read with L = 1.1, in
    every world; the var reaches the shapes, the hinge and the initial pose."""
    sim, params = lever.sim, lever.params
    x = params.x0.copy()
    x[-1] = 1.1
    params.set(sim, x)
    want = tdphys.load(params.design.exp.robot, {"L": 1.1})
    from tdphys.engine.layout import build_layout

    lay = build_layout(want).params
    for name in ("shape_half_length", "shape_pos", "shape_radius", "init_pos", "anchor_p"):
        got = sim.get_param(name)
        np.testing.assert_allclose(got, np.broadcast_to(lay[name], got.shape), atol=1e-15)
    assert sim.robot_vars == {"L": 1.1}
    assert set(params.design.depends["L"]) >= {
        "anchor_p",
        "init_pos",
        "shape_half_length",
        "shape_pos",
        "shape_radius",
    }
    assert params.named(x)["design.L"] == pytest.approx(1.1)


@pytest.mark.slow
@pytest.mark.parametrize("log", [False, True])
def test_design_gradient_matches_finite_differences(lever, tmp_path, log):
    """dLoss/dL through the capsule's length, the bob's position and size, the hinge height
    and the initial pose, summed over 3 different worlds, against central differences of the
    loss (float64), plain and in log space (scale 0.5)."""
    exp = _experiment(
        tmp_path, EXTRA.replace("init: 0.9", f"init: 0.9, scale: 0.5, log: {str(log).lower()}")
    )
    params = ParameterMap(exp, lever.sim)
    x = params.x0.copy()
    value, g = lever.loss_grad(x, params)
    assert value == pytest.approx(lever.loss(x, params), rel=1e-12)
    h = 1e-6
    e = np.zeros_like(x)
    e[-1] = h
    fd = (lever.loss(x + e, params) - lever.loss(x - e, params)) / (2 * h)
    assert abs(fd) > 1e-3  # the var matters to this loss
    assert g[-1] == pytest.approx(fd, rel=1e-5), (g, fd)


@pytest.mark.slow
def test_parameters_shared_by_worlds_get_the_sum_of_their_gradients(lever):
    """A trained mass is shared by the 3 worlds: its gradient is that of the mean loss, the
    sum over the worlds, not world 0's part (central differences, float64)."""
    x = lever.params.x0.copy()
    _, g = lever.loss_grad(x)
    per_world = lever.sim.param_grad("shape_mass")[:, 1]
    assert np.ptp(per_world) > 1e-3 * np.abs(per_world).max()  # the worlds differ
    h = 1e-6
    e = np.zeros_like(x)
    e[0] = h
    fd = (lever.loss(x + e) - lever.loss(x - e)) / (2 * h)
    assert g[0] == pytest.approx(fd, rel=1e-6), (g, fd)
    assert g[0] == pytest.approx(per_world.sum(), rel=1e-12)


def test_bad_design_entries_name_the_key(tmp_path):
    """A design var the robot does not declare, a log var starting at 0 and a var that moves
    nothing are refused, naming the key."""
    exp = _experiment(tmp_path, "design: {Lx: {}}")
    with pytest.raises(ModelError) as err:
        check_against_robot(exp, tdphys.load(exp.robot))
    assert "design.Lx" in str(err.value) and "'L'" in str(err.value)
    with pytest.raises(ModelError, match="design.L.init"):
        _experiment(tmp_path, "design: {L: {init: 0, log: true}}")
    with pytest.raises(ModelError, match="unknown key"):
        _experiment(tmp_path, "design: {L: {step: 1}}")


def test_a_var_that_moves_nothing_is_refused(tmp_path):
    (tmp_path / "lever.yaml").write_text(
        ROBOT.replace("vars: {L: 0.8}", "vars: {L: 0.8, unused: 1.0}")
    )
    path = tmp_path / "exp.yaml"
    path.write_text(EXPERIMENT.format(extra="design: {unused: {}}", task_extra=""))
    exp = load_experiment(path)
    from tdphys.optim.design import DesignMap

    with pytest.raises(ModelError, match="design.unused: the var 'unused' changes no"):
        DesignMap(exp, dict(tdphys.load(exp.robot).vars))


def test_a_replay_draws_the_trained_geometry(tmp_path):
    """trajectory.npz records the vars (`robot_vars`), and the viewer reads the stored robot
    text with them: the replay shows the trained lever, not the file's."""
    import json
    from tdphys.viewer.sources import _recorded_robot

    data = {"robot_yaml": ROBOT, "robot_path": "lever.yaml", "robot_vars": json.dumps({"L": 1.2})}
    robot = _recorded_robot(tmp_path / "traj.npz", data, None)
    assert dict(robot.vars) == {"L": 1.2}
    assert robot.bodies[0].shapes[1].pos == pytest.approx((1.2, 0.0, 0.0))
