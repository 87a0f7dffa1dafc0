"""Sensors read what the state says: the same numbers as the trajectory, frames as documented
in tdphys/engine/sensors.py, and contact forces that balance gravity and obey Coulomb's law.
(Their gradients are covered by the zoos in test_gradients.py.)"""

import numpy as np
import pytest

from tdphys.model.loader import parse_robot

pytestmark = pytest.mark.taichi_per_module  # module-scoped fixtures hold fields

G = 9.81

PENDULUM = """
name: sensed_double_pendulum
defaults: {shape: {ground: false}}
bodies:
  - {name: upper, pos: [0, 0, 3], mass: 1.0,
     shapes: [{type: capsule, radius: 0.05, fromto: [0, 0, 0, 1, 0, 0]}]}
  - {name: lower, pos: [1, 0, 3], mass: 1.0,
     shapes: [{type: capsule, radius: 0.05, fromto: [0, 0, 0, 1, 0, 0]}]}
joints:
  - {name: shoulder, type: hinge, parent: world, child: upper, anchor: [0, 0, 3], axis: [0, 1, 0]}
  - {name: elbow, type: hinge, parent: upper, child: lower, anchor: [1, 0, 3], axis: [0, 1, 0]}
sensors:
  - {name: lower_pos, type: body_pos, body: lower}
  - {name: lower_quat, type: body_quat, body: lower}
  - {name: lower_in_upper, type: body_quat, body: lower, reference: upper}
  - {name: lower_omega_in_upper, type: body_omega, body: lower, reference: upper}
  - {name: lower_pos_in_upper, type: body_pos, body: lower, reference: upper}
  - {name: upper_vel_in_upper, type: body_vel, body: upper, reference: upper}
  - {name: elbow_angle, type: joint_pos, joint: elbow}
  - {name: elbow_rate, type: joint_vel, joint: elbow}
"""

BLOCKS = """
name: sensed_blocks
solver: {dt: 0.005, iterations: 30}
ground: {friction: 0.5}
bodies:
  - {name: resting, pos: [0, 0, 0.1], shapes: [{type: box, size: [0.2, 0.15, 0.1], mass: 2.0,
     friction: 0.5}]}
  - {name: sliding, pos: [3, 0, 0.1], vel: [4, 0, 0],
     shapes: [{type: box, size: [0.2, 0.15, 0.1], mass: 3.0, friction: 0.5}]}
  - {name: ball, pos: [6, 0, 0.3], shapes: [{type: sphere, radius: 0.3, mass: 1.5}]}
sensors:
  - {name: resting_force, type: contact_force, body: resting}
  - {name: sliding_force, type: contact_force, body: sliding}
  - {name: ball_force, type: contact_force, body: ball}
  - {name: sliding_vel, type: body_vel, body: sliding}
"""


@pytest.fixture(scope="module")
def pendulum(backend64):
    from tdphys.engine.simulation import Simulation

    sim = Simulation(parse_robot(PENDULUM, "<pendulum>"), batch=2, steps=120)
    sim.set_param("init_omega", np.array([[[0, 0.5, 0], [0, -1.0, 0]], [[0, 1.5, 0], [0, 0.2, 0]]]))
    sim.rollout()
    return sim


@pytest.fixture(scope="module")
def blocks(backend64):
    from tdphys.engine.simulation import Simulation

    sim = Simulation(parse_robot(BLOCKS, "<blocks>"), batch=1, steps=120)
    sim.rollout()
    return sim


@pytest.mark.slow
def test_world_frame_readings_equal_the_trajectory(pendulum):
    traj = pendulum.trajectory()
    assert np.array_equal(pendulum.sensor("lower_pos"), traj["pos"][:, :, 1])
    assert np.array_equal(pendulum.sensor("lower_quat"), traj["quat"][:, :, 1])
    assert list(traj["sensor_names"])[:2] == ["lower_pos", "lower_quat"]
    assert traj["sensordata"].shape == (121, 2, int(traj["sensor_dim"].sum()))


def test_relative_orientation_is_the_joint_angle_about_its_axis(pendulum):
    """The lower link seen from the upper one turns about the shared y axis by the elbow
    angle, at the elbow rate."""
    q = pendulum.sensor("lower_in_upper")
    angle = pendulum.sensor("elbow_angle")[..., 0]
    assert np.allclose(q[..., [1, 3]], 0, atol=1e-3)  # no rotation off the hinge axis
    assert np.allclose(2 * np.arctan2(q[..., 2], q[..., 0]), angle, atol=1e-3)
    omega = pendulum.sensor("lower_omega_in_upper")
    assert np.allclose(omega[..., 1], pendulum.sensor("elbow_rate")[..., 0], atol=1e-3)
    assert np.abs(angle).max() > 0.1  # the elbow really moved


def test_reference_frame_positions_and_velocities(pendulum):
    """Relative readings follow their definitions (recomputed here in numpy from the world
    state): the lower link's centre in the upper link's body frame, R_u^T (x_l - o_u), sits
    about 1.5 m along that frame's x axis turned by the elbow angle; a body has no velocity
    relative to itself."""
    traj = pendulum.trajectory()
    q_u, x_u, x_l = traj["quat"][:, :, 0], traj["pos"][:, :, 0], traj["pos"][:, :, 1]
    com_u = pendulum.model.com.to_numpy()[0, 0]  # the upper link's COM in its body frame
    origin_u = x_u - _rotate(q_u, np.broadcast_to(com_u, x_u.shape))
    p = pendulum.sensor("lower_pos_in_upper")
    assert np.allclose(p, _rotate(_conj(q_u), x_l - origin_u), atol=1e-12)
    angle = pendulum.sensor("elbow_angle")[..., 0]
    ideal = np.stack([1 + 0.5 * np.cos(angle), np.zeros_like(angle), -0.5 * np.sin(angle)], -1)
    assert np.abs(p - ideal).max() < 0.02  # the default soft joints (30 Hz) stretch ~1 cm
    assert np.allclose(pendulum.sensor("upper_vel_in_upper"), 0, atol=1e-9)


def _conj(q):
    return q * np.array([1, -1, -1, -1])


def _rotate(q, v):
    """Rotate vectors v by unit quaternions q [w, x, y, z] (broadcast over leading axes)."""
    w, u = q[..., :1], q[..., 1:]
    return v + 2 * np.cross(u, np.cross(u, v) + w * v)


@pytest.mark.slow
def test_contact_force_balances_weight_at_rest(blocks):
    """A box and a ball resting on the ground are pushed up by m g, with no sideways force."""
    for name, mass in (("resting_force", 2.0), ("ball_force", 1.5)):
        f = blocks.sensor(name)[-20:, 0]
        assert np.allclose(f[:, 2], mass * G, rtol=0.01), (name, f[:, 2])
        assert np.abs(f[:, :2]).max() < 1e-3 * mass * G
    assert np.array_equal(blocks.sensor("resting_force")[0], np.zeros((1, 3)))  # t = 0


def test_contact_force_of_a_sliding_box_is_coulomb_friction(blocks):
    """While it slides in +x, the box feels N = m g up and mu N against its motion."""
    v = blocks.sensor("sliding_vel")[:, 0, 0]
    f = blocks.sensor("sliding_force")[:, 0]
    sliding = np.nonzero(v > 0.5)[0][5:]  # settled normal force, well before stopping
    assert len(sliding) > 20
    assert np.allclose(f[sliding, 2], 3.0 * G, rtol=0.02)
    assert np.allclose(f[sliding, 0], -0.5 * 3.0 * G, rtol=0.02)


@pytest.mark.slow
def test_policy_reads_the_sensors_of_its_step(backend64):
    """A controller sees sensordata[t] before choosing ctrl[t]: a rollout with a policy gives
    the same sensor readings as one without."""
    import taichi as ti

    from tdphys.engine.simulation import Simulation

    robot = parse_robot(
        PENDULUM.replace(
            "axis: [0, 1, 0]}\nsensors",
            "axis: [0, 1, 0],\n     motors: [{name: m, gain: 5, max_force: 20}]}\nsensors",
        ),
        "<pendulum with motor>",
    )
    sim = Simulation(robot, batch=1, steps=40)
    adr = int(sim.layout.sensor_adr[sim.layout.sensor_names.index("elbow_angle")])
    seen = []

    @ti.kernel
    def hold_elbow_angle(t: ti.i32):
        for w in range(sim.batch):  # position target = the angle measured now
            sim.control.ctrl[t, w, 0] = sim.state.sensordata[t, w, adr]

    def policy(t):
        hold_elbow_angle(t)
        seen.append(sim.state.sensordata.to_numpy()[t, 0, adr])

    sim.rollout(policy=policy)
    assert np.allclose(seen, sim.sensor("elbow_angle")[:-1, 0, 0])
    assert np.allclose(sim.control.ctrl.to_numpy()[:, 0, 0], seen)


def test_unknown_sensor_names_the_ones_that_exist(pendulum):
    with pytest.raises(KeyError, match="lower_pos"):
        pendulum.sensor("elbow")
