"""MJCF and URDF robots through MuJoCo's compiler (docs/mjcf.md): gymnasium's models load
(read from the installed gymnasium package, not copied), what tdphys cannot represent is
refused by name and line, all at once, `--approximate` fits meshes, `tdphys convert` writes
YAML that loads back to the same model, and a URDF the project writes loads and simulates."""

import os
import sys

import numpy as np
import pytest

from tdphys.errors import ModelError

mujoco = pytest.importorskip("mujoco")
gymnasium = pytest.importorskip("gymnasium")

ASSETS = os.path.join(os.path.dirname(gymnasium.__file__), "envs", "mujoco", "assets")
URDF = os.path.join(os.path.dirname(__file__), "data", "two_link.urdf")
MODELS = ("hopper", "walker2d_v5", "half_cheetah", "ant", "humanoid")


def gym(name: str) -> str:
    return os.path.join(ASSETS, name + ".xml")


def load(path, **kw):
    import tdphys

    return tdphys.load(path, **kw)


def _by_hinge(robot) -> dict:
    """{MuJoCo joint name: (tdphys joint, axis)}: a universal or gimbal joint made of several
    MuJoCo hinges is named after them, joined by '+', one axis each."""
    return {
        name: (joint, axis)
        for joint in robot.joints
        for axis, name in enumerate(joint.name.split("+"))
    }


@pytest.mark.parametrize("name", MODELS)
def test_gymnasium_models_load_with_mujocos_masses_joints_and_controls(name):
    """Total mass, every moving joint's anchor and axis at qpos0, and the controls in MuJoCo's
    actuator order (motor = actuator, same gear and ctrlrange, on the same joint axis)."""
    robot = load(gym(name))
    model = mujoco.MjModel.from_xml_path(gym(name))
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    mass = sum(s.mass for b in robot.bodies for s in b.shapes)
    assert mass == pytest.approx(model.body_subtreemass[0], rel=1e-12)
    hinges = _by_hinge(robot)
    for j in range(model.njnt):
        name_j = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j)
        if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE:
            assert name_j not in hinges  # a free body: no tdphys joint
            continue
        joint, axis = hinges[name_j]
        assert np.allclose(joint.anchor, data.xanchor[j], atol=1e-12)
        assert np.allclose(joint.axes[axis], data.xaxis[j], atol=1e-12)
    motors = [m for _, m in robot.motors]
    assert len(motors) == model.nu
    for a, motor in enumerate(motors):
        name_j = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, model.actuator_trnid[a, 0])
        joint, axis = hinges[name_j]
        assert motor.mode == "force" and motor.gear == model.actuator_gear[a, 0]
        assert motor.ctrl_range == tuple(model.actuator_ctrlrange[a])
        assert any(m is motor for m in joint.motors) and motor.axis == axis
    assert robot.friction_combine == "max" and robot.solver.dt == model.opt.timestep


def test_a_planar_root_becomes_links_that_keep_the_total_mass():
    """hopper's torso has rootx, rootz (sliders) and rooty: two link bodies carry 1e-4 of the
    torso's mass each (taken from it) and the torso hangs from the last one by the hinge."""
    robot = load(gym("hopper"))
    names = [b.name for b in robot.bodies]
    assert names[:3] == ["torso.rootx", "torso.rootz", "torso"]
    link, torso = robot.bodies[0], robot.bodies[2]
    link_mass = sum(s.mass for s in link.shapes)
    torso_mass = sum(s.mass for s in torso.shapes)
    assert link_mass == pytest.approx(1e-4 * (torso_mass + 2 * link_mass), rel=1e-9)
    kinds = {j.name: (j.kind, j.parent, j.child) for j in robot.joints}
    assert kinds["rootx"] == ("slider", None, "torso.rootx")
    assert kinds["rootz"] == ("slider", "torso.rootx", "torso.rootz")
    assert kinds["rooty"] == ("hinge", "torso.rootz", "torso")


def test_humanoid_hips_are_gimbals_and_its_hinge_pairs_universal_joints():
    """humanoid's hips (three perpendicular hinges through one point) become gimbal joints,
    its abdomen and shoulders (two) universal joints, each hinge keeping its own range,
    stiffness, damping and armature."""
    robot = load(gym("humanoid"))
    joints = {j.name: j for j in robot.joints}
    hip = joints["right_hip_x+right_hip_z+right_hip_y"]
    assert hip.kind == "gimbal" and (hip.parent, hip.child) == ("pelvis", "right_thigh")
    assert hip.stiffness == (10.0, 10.0, 20.0) and hip.armature == (0.01, 0.01, 0.008)
    assert np.allclose(np.degrees(hip.limits[2]), (-110, 20))
    abdomen = joints["abdomen_z+abdomen_y"]
    assert abdomen.kind == "universal" and abdomen.stiffness == (20.0, 10.0)
    shoulder = joints["right_shoulder1+right_shoulder2"]
    assert shoulder.kind == "universal" and shoulder.armature == (0.0068, 0.0051)


HINGES = """<mujoco model="hinges">
  <worldbody>
    <body name="a" pos="0 0 1">
      <joint name="j1" type="hinge" axis="1 0 0" range="-30 30"/>
      <joint name="j2" type="hinge" axis="0 0 1" range="{middle}"/>
      <joint name="j3" type="hinge" axis="{third}"/>
      <geom type="capsule" fromto="0 0 0 0 0 -0.4" size="0.05"/>
    </body>
  </worldbody>
</mujoco>
"""


@pytest.mark.parametrize(
    "middle, third, words",
    [
        ("-30 30", "1 1 0", "nor two or three mutually perpendicular hinges"),
        ("-85 30", "0 1 0", "needs a range within +-80 deg"),
    ],
)
def test_three_hinges_that_are_no_gimbal_are_refused(tmp_path, middle, third, words):
    """Three hinges through one point become a gimbal only about perpendicular axes, and
    only with the middle one kept away from the lock at 90 deg; else the body is refused
    with its line."""
    path = tmp_path / "hinges.xml"
    path.write_text(HINGES.format(middle=middle, third=third))
    with pytest.raises(ModelError) as err:
        load(path)
    assert words in str(err.value) and "line " in str(err.value)


BAD = """<mujoco model="bad">
  <asset><mesh name="m" vertex="0 0 0  1 0 0  0 1 0  0 0 1"/></asset>
  <worldbody>
    <geom type="plane" size="5 5 .1"/>
    <body name="a" pos="0 0 1">
      <freejoint/>
      <geom type="ellipsoid" size=".1 .2 .3"/>
      <geom type="mesh" mesh="m"/>
    </body>
    <body name="b" pos="1 0 1">
      <joint name="j" type="hinge"/>
      <geom type="sphere" size=".1"/>
    </body>
  </worldbody>
  <equality><weld body1="a" body2="b"/></equality>
  <actuator><general name="servo" joint="j" gainprm="10" biastype="affine" biasprm="0 -5"/>
  </actuator>
  <sensor><framepos objtype="body" objname="a"/></sensor>
</mujoco>
"""


def test_everything_unsupported_is_listed_at_once_with_its_line(tmp_path):
    path = tmp_path / "bad.xml"
    path.write_text(BAD)
    with pytest.raises(ModelError) as err:
        load(path)
    text = str(err.value)
    for expected in (
        "line 7 <geom> (unnamed): ellipsoid geoms are not supported",
        ("line 8 <geom> (unnamed): mesh geoms are not supported (pass --approximate"),
        "line 15 <equality> (unnamed): equality constraints",
        'line 16 <actuator name="servo">: only `motor`, `position` and `velocity` actuators',
        "line 18 <sensor> (unnamed): framepos sensors are not supported",
    ):
        assert expected in text, text


def test_approximate_fits_meshes_and_says_so(tmp_path):
    path = tmp_path / "mesh.xml"
    path.write_text(
        BAD.replace('<geom type="ellipsoid" size=".1 .2 .3"/>', "").split("<equality>")[0]
        + "</mujoco>\n"
    )
    told = []
    robot = load(path, approximate=True, report=told.append)
    (shape,) = robot.bodies[0].shapes
    assert shape.kind in ("box", "capsule")
    assert len(told) == 1 and "mesh approximated by the" in told[0] and "line 8" in told[0]


def test_missing_mujoco_gives_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "mujoco", None)
    with pytest.raises(ModelError) as err:
        load(gym("ant"))
    assert "needs the `mujoco` package" in str(err.value)
    assert "pip install 'tdphys[mjcf]'" in str(err.value)


@pytest.mark.parametrize("name", ("hopper", "ant", "humanoid"))
def test_convert_writes_yaml_that_loads_back_to_the_same_model(tmp_path, name, capsys):
    """The same Robot, and so the same compiled tables and parameters, from the YAML."""
    from tdphys.cli import main

    out = tmp_path / "robots" / f"{name}.yaml"
    assert main(["convert", gym(name), "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    text = out.read_text()
    assert text.startswith(f"# Converted by `tdphys convert` from {name}.xml.")
    assert_same_model(load(gym(name)), load(out))


def assert_same_model(robot, other):
    """The same compiled tables and parameters (to the last bit but one; a quantity that is 0
    up to rounding, such as an anchor on a body's axis, to 1e-15)."""
    from tdphys.engine.layout import build_layout

    original, again = build_layout(robot), build_layout(other)
    for key, value in vars(original).items():
        if isinstance(value, np.ndarray):
            assert np.array_equal(value, getattr(again, key)), key
    for key, value in original.params.items():
        assert np.allclose(value, again.params[key], rtol=1e-15, atol=1e-15), key


def test_the_shipped_ant_is_gymnasiums_ant():
    """robots/ant.yaml (for experiments/ant_gait.yaml) is what gymnasium's ant.xml loads to."""
    shipped = os.path.join(os.path.dirname(__file__), "..", "robots", "ant.yaml")
    assert_same_model(load(gym("ant")), load(shipped))


def test_convert_refuses_a_yaml_robot(tmp_path, capsys):
    from tdphys.cli import main

    assert main(["convert", "robots/arm.yaml", "--out", str(tmp_path / "x.yaml")]) == 2
    assert "convert reads MJCF or URDF files" in capsys.readouterr().err


def test_a_urdf_robot_loads_and_swings_under_gravity(backend64):
    """The project's two-link URDF: revolute joints with limits and damping become hinges;
    released horizontal... here from upright with a nudge, the elbow stays in its limits."""
    import tdphys

    robot = load(URDF)
    assert [b.name for b in robot.bodies] == ["upper", "lower"]
    shoulder, elbow = robot.joints
    assert (shoulder.kind, shoulder.limits, shoulder.damping) == ("hinge", ((-1.5, 1.5),), (0.1,))
    assert (elbow.parent, elbow.anchor) == ("upper", (0.0, 0.0, 0.5))
    sim = tdphys.Simulation(robot, steps=50)
    sim.set_param("init_omega", np.array([[[0, 1.0, 0], [0, 1.0, 0]]]))
    sim.rollout()
    lower = sim.trajectory()["pos"][:, 0, 1]
    assert np.all(np.isfinite(lower)) and lower[-1, 0] > lower[0, 0]


SOFT = """<mujoco model="soft">
  <default><geom solref="0.02 1"/></default>
  <worldbody>
    <geom type="plane" size="5 5 .1" solref="0.01 1"/>
    <body name="a" pos="0 0 1"><freejoint/><geom type="sphere" size=".1"/></body>
    <body name="b" pos="1 0 1"><freejoint/><geom type="sphere" size=".1"/></body>
    <body name="c" pos="2 0 1">
      <freejoint/><geom type="sphere" size=".1" solref="0.05 2" solimp="0.9 0.75 0.001"/>
    </body>
  </worldbody>
</mujoco>
"""


def test_each_geoms_contact_softness_is_kept(tmp_path):
    """solref and solimp per geom: the softness most geoms share is the solver's, a geom or
    a floor that differs keeps its own (contact_hz = 1 / (2 pi timeconst dampratio
    sqrt(1 - dmax)), contact_damping = dampratio / sqrt(1 - dmax))."""
    path = tmp_path / "soft.xml"
    path.write_text(SOFT)
    robot = load(path)
    assert robot.solver.contact_hz == pytest.approx(1 / (2 * np.pi * 0.02 * 1 * np.sqrt(0.05)))
    hz = {b.name: b.shapes[0].contact_hz for b in robot.bodies}
    assert hz["a"] is None and hz["b"] is None
    assert hz["c"] == pytest.approx(1 / (2 * np.pi * 0.05 * 2 * np.sqrt(0.25)))
    assert robot.bodies[2].shapes[0].contact_damping == pytest.approx(2 / np.sqrt(0.25))
    assert robot.ground.contact_hz == pytest.approx(1 / (2 * np.pi * 0.01 * np.sqrt(0.05)))


TILT = 10.0  # [deg] of the ramp about y: it descends along +x
WORLD = """<mujoco model="world_geoms">
  <option timestep="0.002"/>
  <default>
    <geom contype="1" conaffinity="0"/>
    <default class="fixed"><geom contype="0" conaffinity="1"/></default>
  </default>
  <worldbody>
    <geom name="floor" class="fixed" type="plane" size="5 5 .1"/>
    <geom name="ramp" class="fixed" type="plane" pos="0.5 0 0.2" euler="0 {tilt} 0" size="3 1 .1"
          rgba="0.5 0.6 0.7 1" solref="0.01 1"/>
    <body name="stand" pos="-1 1 0.3" euler="0 0 90">
      <geom name="step" class="fixed" type="box" pos="0 0 0.3" size="0.3 0.3 0.1" friction="0.8"/>
    </body>
    <geom name="post" class="fixed" type="cylinder" fromto="-1 -1 0.55 -1 -1 0.75" size="0.2"/>
    <body name="wheel" pos="{wheel}">
      <freejoint/>
      <geom name="tyre" type="cylinder" size="0.1 0.05" euler="90 0 0" rgba="0.2 0.2 0.2 1"/>
    </body>
    <body name="ball" pos="-1 1 0.8"><freejoint/><geom type="sphere" size="0.1"/></body>
    <body name="puck" pos="-1 -1 0.85"><freejoint/><geom type="sphere" size="0.1"/></body>
  </worldbody>
</mujoco>
"""


def world_file(tmp_path):
    """WORLD in a file: a floor (the ground), a ramp tilted TILT degrees (a world plane at
    (0.5, 0, 0.2)), a step (a box on a body welded to the world), a post (an upright cylinder
    from fromto); a wheel (a cylinder, axis along y) resting on the ramp, a ball resting on
    the step and a puck on the post. Bodies collide with the world's geoms only."""
    tilt = np.radians(TILT)
    normal = np.array([np.sin(tilt), 0.0, np.cos(tilt)])
    wheel = np.array([0.5, 0.0, 0.2]) + 0.1 * normal  # touching the ramp
    path = tmp_path / "world.xml"
    path.write_text(WORLD.format(tilt=TILT, wheel=" ".join(repr(float(c)) for c in wheel)))
    return path


def test_cylinders_and_the_worlds_geoms_become_shapes_in_the_world(tmp_path):
    """The floor stays the ground; the ramp, the step (on a body welded to the world: its
    pose composed) and the post become world shapes with their poses [m] in the world frame,
    sizes, friction, colour and softness; the wheel's cylinder a cylinder shape. Every body
    geom collides with the world's geoms, so every body shape has `ground` set; no body
    pairs."""
    from tdphys.rotations import rotate

    robot = load(world_file(tmp_path))
    assert robot.ground.enabled and robot.ground.friction == 1.0
    ramp, post, step = robot.world_shapes  # MuJoCo's order: the world body's geoms first
    tilt = np.radians(TILT)
    assert (ramp.kind, ramp.half_extents, ramp.pos) == ("plane", (3.0, 1.0, 0.0), (0.5, 0.0, 0.2))
    assert np.allclose(rotate(ramp.quat, (0, 0, 1)), (np.sin(tilt), 0, np.cos(tilt)), atol=1e-15)
    assert ramp.color == (0.5, 0.6, 0.7) and ramp.mass == 0.0 and not ramp.ground
    assert ramp.contact_hz == pytest.approx(1 / (2 * np.pi * 0.01 * np.sqrt(0.05)), rel=1e-12)
    assert (step.kind, step.half_extents, step.friction) == ("box", (0.3, 0.3, 0.1), 0.8)
    assert np.allclose(step.pos, (-1, 1, 0.6), atol=1e-15)
    assert np.allclose(rotate(step.quat, (1, 0, 0)), (0, 1, 0), atol=1e-15)  # the stand's yaw
    assert (post.kind, post.radius) == ("cylinder", 0.2)
    assert post.half_length == pytest.approx(0.1, rel=1e-14)
    assert np.allclose(post.pos, (-1, -1, 0.65), atol=1e-15)
    assert abs(rotate(post.quat, (0, 0, 1))[2]) == pytest.approx(1.0, abs=1e-15)
    wheel = robot.bodies[0]
    (tyre,) = wheel.shapes
    assert (tyre.kind, tyre.radius, tyre.half_length) == ("cylinder", 0.1, 0.05)
    assert np.allclose(rotate(tyre.quat, (0, 0, 1)), (0, -1, 0), atol=1e-15)
    model = mujoco.MjModel.from_xml_path(str(world_file(tmp_path)))
    wheel_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "wheel")
    assert tyre.mass == pytest.approx(model.body_mass[wheel_id], rel=1e-12)  # pi r^2 2l 1000
    assert all(s.ground for b in robot.bodies for s in b.shapes) and not robot.contact_pairs


def test_world_geoms_convert_to_a_world_section_that_loads_back(tmp_path, capsys):
    """`tdphys convert` writes cylinders and `world: shapes:`; the YAML loads back to the
    same model (the same compiled tables, world shapes included)."""
    from tdphys.cli import main

    path = world_file(tmp_path)
    out = tmp_path / "world.yaml"
    assert main(["convert", str(path), "--out", str(out)]) == 0
    capsys.readouterr()
    text = out.read_text()
    assert "\nworld:\n  shapes:\n    - {type: plane, size: [3, 1], pos: [0.5, 0, 0.2]" in text
    assert "{type: cylinder, radius: 0.1, half_length: 0.05" in text
    robot, again = load(path), load(out)
    assert again.world_shapes == robot.world_shapes and again.ground == robot.ground
    assert_same_model(robot, again)


def test_a_wheel_rolls_down_the_ramp_and_balls_rest_on_the_step_and_post_as_in_mujoco(
    tmp_path, backend64
):
    """WORLD for 1 s in tdphys (float64) and MuJoCo. The wheel (a solid cylinder) rolls
    without slipping down the ramp: along the slope s = (2/3) g sin(tilt) t^2 / 2 (0.568 m at
    1 s; friction 1 is far above the tan(tilt) / 3 = 0.06 it needs). Both engines stay within
    3 mm of it, and of each other (measured: tdphys 0.2 mm, MuJoCo 1.1 mm, whose soft
    friction cone lets the wheel creep), the wheel's centre within 0.5 mm of the radius above
    the ramp. The ball and the puck stay on the step's and the post's tops, their centres
    within 0.5 mm of top + radius in both (measured: MuJoCo's soft contact sinks them
    0.37 mm, tdphys's 0.2 mm) and 1 mm apart from each other horizontally."""
    import tdphys

    path = world_file(tmp_path)
    model = mujoco.MjModel.from_xml_path(str(path))
    data = mujoco.MjData(model)
    steps = round(1.0 / model.opt.timestep)
    robot = load(path)
    assert [b.name for b in robot.bodies] == ["wheel", "ball", "puck"]
    ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, b.name) for b in robot.bodies]
    theirs = []
    for t in range(steps + 1):
        mujoco.mj_kinematics(model, data)
        theirs.append(data.xipos[ids].copy())  # centres of mass [m], tdphys's body order
        if t < steps:
            mujoco.mj_step(model, data)
    theirs = np.array(theirs)
    sim = tdphys.Simulation(robot, batch=1, steps=steps)
    sim.rollout()
    ours = sim.poses()["pos"][:, 0]
    tilt = np.radians(TILT)
    down = np.array([np.cos(tilt), 0.0, -np.sin(tilt)])
    normal = np.array([np.sin(tilt), 0.0, np.cos(tilt)])
    t = np.arange(steps + 1) * model.opt.timestep
    rolled = (2 / 3) * 9.81 * np.sin(tilt) * t**2 / 2
    for path_ in (ours, theirs):
        along = (path_[:, 0] - path_[0, 0]) @ down
        assert np.abs(along - rolled).max() < 3e-3
        assert np.abs((path_[:, 0] - (0.5, 0, 0.2)) @ normal - 0.1).max() < 5e-4
        assert np.abs(path_[:, 1:, 2] - [0.8, 0.85]).max() < 5e-4
    assert np.abs((ours[:, 0] - theirs[:, 0]) @ down).max() < 3e-3
    assert np.abs(ours[:, 1:, :2] - theirs[:, 1:, :2]).max() < 1e-3


WORLD_REFUSED = """<mujoco model="refused">
  <asset>
    <mesh name="m" vertex="0 0 0  1 0 0  0 1 0  0 0 1"/>
    <hfield name="h" nrow="3" ncol="3" size="1 1 0.1 0.1"/>
  </asset>
  <worldbody>
    <geom name="floor" type="plane" size="5 5 .1"/>
    {world}
    <body name="a" pos="0 0 1">
      <freejoint/>
      <geom name="foot" type="sphere" size=".1"/>
      <geom name="toe" type="sphere" size=".05" pos=".1 0 0" {toe}/>
    </body>
  </worldbody>
</mujoco>
"""


@pytest.mark.parametrize(
    "world, toe, words",
    [
        (
            '<geom name="rock" type="mesh" mesh="m" pos="2 0 0"/>',
            "",
            'line 8 <geom name="rock">: mesh geoms are not supported (pass --approximate',
        ),
        (
            '<geom name="terrain" type="hfield" hfield="h"/>',
            "",
            'line 8 <geom name="terrain">: hfield geoms are not supported',
        ),
        (
            '<geom name="marker" type="box" size=".1 .1 .1" pos="2 0 0" contype="0" '
            'conaffinity="0"/>',
            "",
            'line 8 <geom name="marker">: this geom fixed in the world collides with none of '
            "the body geoms that touch the world's other geoms (contype/conaffinity, "
            '<exclude>): not with <geom name="foot"> (line 11), <geom name="toe"> (line 12)',
        ),
        (
            '<geom name="step" type="box" size=".1 .1 .1" pos="2 0 0" contype="2" '
            'conaffinity="2"/>',
            'contype="3" conaffinity="3"',
            'line 8 <geom name="step">: this geom fixed in the world collides with only some '
            "of the body geoms that touch the world's other geoms (contype/conaffinity, "
            '<exclude>): not with <geom name="foot"> (line 11);',
        ),
    ],
    ids=["mesh", "hfield", "visual-only", "some-bodies"],
)
def test_world_geoms_tdphys_cannot_represent_are_refused_by_name(tmp_path, world, toe, words):
    """A world geom of a kind tdphys has no shape for, or one that collides with other body
    geoms than the world's other geoms do (tdphys's body shapes touch the ground and every
    world shape, or none), is refused with its name and line."""
    path = tmp_path / "refused.xml"
    path.write_text(WORLD_REFUSED.format(world=world, toe=toe))
    with pytest.raises(ModelError) as err:
        load(path)
    assert words in str(err.value), str(err.value)


def test_a_world_geom_only_some_bodies_ignore_altogether_is_kept(tmp_path):
    """A body geom that collides with none of the world's geoms (the toe, contype 2) is a
    shape without `ground`: the floor and a world box then collide with the same body geoms,
    which tdphys says exactly. With --approximate a world mesh becomes a fitted world box."""
    path = tmp_path / "kept.xml"
    path.write_text(
        WORLD_REFUSED.format(
            world='<geom name="rock" type="mesh" mesh="m" pos="2 0 0"/>',
            toe='contype="2" conaffinity="2"',
        )
    )
    told = []
    robot = load(path, approximate=True, report=told.append)
    assert [s.ground for s in robot.bodies[0].shapes] == [True, False]
    (rock,) = robot.world_shapes
    assert rock.kind == "box" and rock.mass == 0.0 and "line 8" in told[0]


@pytest.mark.slow
def test_humanoid_gradients_match_finite_differences(capsys, backend64):
    """`tdphys gradcheck` on gymnasium's humanoid (gimbal hips, universal joints with their
    own springs and armature on each hinge, contacts between its limbs and with the floor):
    every checked entry of the controls, the initial state and the parameters is a match or
    non-smooth, none a mismatch."""
    from tdphys.cli import main

    code = main(["gradcheck", gym("humanoid"), "--steps", "10", "--per-param", "1"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "passive_armature[" in out and "mismatch" in out
