"""PD servos (motor `kp`, `kv`; MuJoCo's `position` and `velocity` actuators): a position
servo on a free hinge rings as the damped oscillator I q'' + kv q' + kp (q - target) = 0, a
velocity servo brings a wheel to its rate with the time constant I / kv, both within
max_force; the YAML keys are checked against the motor's mode; MJCF actuators import as
PD servos or are refused by name; and the gradients with respect to kp and kv (and every
other input) match finite differences in float64."""

import math

import numpy as np
import pytest
from test_gradients import _check

from tdphys.errors import ModelError
from tdphys.model.schema import Body, Joint, Motor, Robot, Sensor, Shape, Solver

INERTIA = 0.02  # [kg m^2] the rotor's moment about the hinge
DT = 0.01  # [s]


def rotor(motor: Motor, omega: float = 0.0) -> Robot:
    """A body on a hinge about world y through its centre, no gravity; the motor on it, its
    actuator force read by a sensor."""
    body = Body(
        "rotor",
        (Shape("sphere", radius=0.05, mass=1.0, ground=False),),
        pos=(0, 0, 1),
        inertia=(INERTIA, INERTIA, INERTIA),
        omega=(0, omega, 0),
    )
    joint = Joint("h", "hinge", None, "rotor", (0, 0, 1), ((0, 1, 0),), (None,), (motor,))
    sensors = (
        Sensor("q", "joint_pos", joint="h"),
        Sensor("rate", "joint_vel", joint="h"),
        Sensor("torque", "actuator_force", motor=motor.name),
    )
    return Robot(
        "rotor", "<test>", (body,), (joint,), sensors, solver=Solver(dt=DT, gravity=(0, 0, 0))
    )


def run(robot: Robot, command: float, steps: int) -> dict:
    import tdphys

    sim = tdphys.Simulation(robot, steps=steps)
    sim.set_controls(np.full((steps, 1), command))
    sim.rollout()
    return {name: sim.sensor(name)[:, 0, 0] for name in ("q", "rate", "torque")}


def damped_step(kp: float, kv: float, target: float, t: np.ndarray) -> np.ndarray:
    """q(t) of I q'' + kv q' + kp (q - target) = 0 from rest at 0 (underdamped)."""
    w0 = math.sqrt(kp / INERTIA)
    zeta = kv / (2.0 * math.sqrt(kp * INERTIA))
    wd = w0 * math.sqrt(1.0 - zeta**2)
    decay = np.exp(-zeta * w0 * t)
    return target * (1.0 - decay * (np.cos(wd * t) + zeta * w0 / wd * np.sin(wd * t)))


@pytest.mark.parametrize("kv", [0.0, 0.02, 0.2])
def test_position_servo_rings_as_a_damped_oscillator(backend64, kv):
    """kp 2 N m/rad on 0.02 kg m^2 (1.6 Hz), damping ratio 0, 0.05 and 0.5, a step command
    of 0.3 rad: over 3 s the angle stays within 2 % of the step of the closed form (the
    spring explicit and the damping implicit per substep, as in MuJoCo's implicit
    integrators; measured 1.3 % undamped)."""
    kp, target, steps = 2.0, 0.3, 300
    got = run(rotor(Motor("m", kp=kp, kv=kv, max_force=100.0)), target, steps)
    exact = damped_step(kp, kv, target, np.arange(steps + 1) * DT)
    assert np.max(np.abs(got["q"] - exact)) < 0.02 * target


def test_velocity_servo_reaches_its_rate_with_time_constant_inertia_over_kv(backend64):
    """kv 0.1 N m s/rad on 0.02 kg m^2 (time constant 0.2 s), commanded 5 rad/s from rest:
    the rate follows 5 (1 - exp(-t kv / I)) within 1 % of 5 rad/s (implicit Euler per
    substep lags the exponential slightly), and the torque is kv (5 - rate)."""
    kv, command, steps = 0.1, 5.0, 100
    got = run(rotor(Motor("m", mode="velocity", kv=kv, max_force=100.0)), command, steps)
    t = np.arange(steps + 1) * DT
    assert np.max(np.abs(got["rate"] - command * (1.0 - np.exp(-t * kv / INERTIA)))) < 0.05
    # the sensor reads the step's mean torque, the rate is the step's end rate
    torque = got["torque"][1:]
    assert np.all(torque > 0) and np.all(np.diff(torque) < 0)
    assert abs(torque[-1] - kv * (command - got["rate"][-1])) < 0.01 * kv * command


def test_servo_torque_stays_within_max_force(backend64):
    """A stiff servo (kp 200, kv 5) told to turn 1 rad pushes at its 0.5 N m limit at first
    (the rotor accelerates at 0.5 / I = 25 rad/s^2), then settles on the target."""
    got = run(rotor(Motor("m", kp=200.0, kv=5.0, max_force=0.5)), 1.0, 300)
    assert np.max(np.abs(got["torque"])) <= 0.5 * (1 + 1e-12)
    assert abs(got["torque"][5] - 0.5) < 1e-9
    assert abs(got["rate"][5] - 25.0 * 5 * DT) < 1e-6
    assert abs(got["q"][-1] - 1.0) < 1e-3


YAML = """
bodies:
  - name: base
    shapes:
      - {{type: sphere, radius: 0.1}}
joints:
  - name: h
    type: hinge
    child: base
    axis: [0, 1, 0]
    motors: [{{{motor}}}]
"""


@pytest.mark.parametrize(
    "motor, key, fragment",
    [
        ("mode: force, kp: 3", "joints[0].motors[0].kp", "this motor is a force motor"),
        ("mode: force, kv: 3", "joints[0].motors[0].kv", "this motor is a force motor"),
        ("mode: velocity, kp: 3", "joints[0].motors[0].kp", "this motor is a velocity servo"),
        ("kp: -1", "joints[0].motors[0].kp", ">= 0"),
    ],
)
def test_a_gain_the_mode_has_no_use_for_is_refused_by_key(tmp_path, motor, key, fragment):
    from tdphys.model.loader import load_robot

    path = tmp_path / "bad.yaml"
    path.write_text(YAML.format(motor=motor).lstrip("\n"))
    with pytest.raises(ModelError) as info:
        load_robot(path)
    message = str(info.value)
    assert info.value.key == key and info.value.line == 10, message
    assert fragment in message and "fix: " in message, message


def test_gains_round_trip_through_the_yaml_writer(tmp_path):
    from tdphys.model.loader import load_robot
    from tdphys.model.writer import robot_yaml

    path = tmp_path / "pd.yaml"
    path.write_text(YAML.format(motor="kp: 40, kv: 2.5").lstrip("\n"))
    robot = load_robot(path)
    (motor,) = robot.joints[0].motors
    assert (motor.kp, motor.kv) == (40.0, 2.5)
    again = tmp_path / "again.yaml"
    again.write_text(robot_yaml(robot))
    assert load_robot(again).joints[0].motors == robot.joints[0].motors


MJCF = """<mujoco>
  <worldbody>
    <body name="a" pos="0 0 1">
      <joint name="ja" axis="0 1 0"/>
      <geom type="sphere" size="0.1" mass="1"/>
      <body name="b" pos="0.3 0 0">
        <joint name="jb" axis="0 1 0" {ref}/>
        <geom type="sphere" size="0.1" mass="1"/>
      </body>
    </body>
  </worldbody>
  <actuator>
    <position joint="ja" kp="30" dampratio="1" ctrlrange="-1 1" forcerange="-8 8"/>
    <velocity joint="jb" kv="0.5" {gear}/>
  </actuator>
</mujoco>
"""


def test_mjcf_position_and_velocity_actuators_become_pd_servos(tmp_path):
    import mujoco

    from tdphys import load

    path = tmp_path / "pd.xml"
    path.write_text(MJCF.format(ref="", gear=""))
    first, second = (m for _, m in load(path).motors)
    compiled = mujoco.MjModel.from_xml_path(str(path))
    assert (first.mode, first.kp, first.max_force, first.ctrl_range) == (
        "position",
        30.0,
        8.0,
        (-1.0, 1.0),
    )
    assert first.kv == pytest.approx(-compiled.actuator_biasprm[0, 2])  # dampratio resolved
    assert (second.mode, second.kp, second.kv) == ("velocity", 0.0, 0.5)


@pytest.mark.parametrize(
    "ref, gear, fragment",
    [
        ('ref="0.2"', "", "whose ref is not 0"),
        ("", 'gear="2"', "gear 2 on a position or velocity actuator"),
    ],
)
def test_mjcf_servos_tdphys_cannot_represent_are_refused(tmp_path, ref, gear, fragment):
    from tdphys import load

    path = tmp_path / "pd.xml"
    xml = MJCF.format(ref=ref, gear=gear)
    if ref:  # a ref on the position-actuated joint
        xml = xml.replace('joint="ja" kp', 'joint="jb" kp').replace(
            'joint="jb" kv', 'joint="ja" kv'
        )
    path.write_text(xml)
    with pytest.raises(ModelError) as info:
        load(path)
    assert fragment in str(info.value), str(info.value)


def pd_zoo() -> Robot:
    """A two-link arm under gravity on PD position servos (one with damping, one a spring
    alone) and a wheel at its tip on a velocity servo, each within its force limit."""
    link = Shape(
        "capsule",
        radius=0.03,
        half_length=0.15,
        pos=(0.15, 0, 0),
        quat=(math.sqrt(0.5), 0, math.sqrt(0.5), 0),
        mass=1.0,
        ground=False,
    )
    wheel = Shape(
        "cylinder",
        radius=0.05,
        half_length=0.01,
        mass=0.3,
        ground=False,
        quat=(math.sqrt(0.5), 0, math.sqrt(0.5), 0),
    )
    bodies = (
        Body("upper", (link,), pos=(0, 0, 1)),
        Body("lower", (link,), pos=(0.3, 0, 1)),
        Body("wheel", (wheel,), pos=(0.6, 0, 1), omega=(3.0, 0, 0)),
    )
    joints = (
        Joint(
            "shoulder",
            "hinge",
            None,
            "upper",
            (0, 0, 1),
            ((0, 1, 0),),
            (None,),
            (Motor("sm", kp=40.0, kv=2.0, max_force=30.0),),
        ),
        Joint(
            "elbow",
            "hinge",
            "upper",
            "lower",
            (0.3, 0, 1),
            ((0, 1, 0),),
            (None,),
            (Motor("em", kp=15.0, max_force=30.0),),
        ),
        Joint(
            "spin",
            "hinge",
            "lower",
            "wheel",
            (0.6, 0, 1),
            ((1, 0, 0),),
            (None,),
            (Motor("wm", mode="velocity", kv=0.05, max_force=30.0),),
        ),
    )
    return Robot("pd_zoo", "<test>", bodies, joints, solver=Solver(dt=0.01))


@pytest.mark.slow
def test_pd_servo_gradients_match_finite_differences(backend64):
    rng = np.random.default_rng(11)

    def controls(sim):
        return rng.uniform(-0.5, 0.5, (sim.steps, sim.n_motors))

    verdicts = _check(pd_zoo(), steps=25, tol=1e-4, controls=controls, per_param=2)
    assert {"motor_kp", "motor_kv"} <= {v.target.name for v in verdicts}
