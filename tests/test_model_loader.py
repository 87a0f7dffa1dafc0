"""Tests of the robot YAML loader (tdphys.model.loader). No Taichi needed.

A valid file must give the expected dataclasses; every class of bad input must raise a
ModelError naming the file, the line, the key path and a fix (or did-you-mean).
"""

from __future__ import annotations

import ast
import math
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tdphys.errors import ModelError
from tdphys.model import ContactPair, Joint, Motor, Robot, load_robot, parse_robot

ROOT = Path(__file__).resolve().parents[1]
ROBOTS = sorted((ROOT / "robots").glob("*.yaml"))
DEG = math.pi / 180


def write(tmp_path: Path, text: str, name: str = "bad.yaml") -> Path:
    """Write dedented `text` (its first line is line 1) and return the path."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def load_error(tmp_path: Path, text: str) -> ModelError:
    with pytest.raises(ModelError) as info:
        load_robot(write(tmp_path, text))
    return info.value


def check(err: ModelError, line: int, key: str, *fragments: str) -> None:
    """The error names bad.yaml at `line`, the key path `key`, and each fragment."""
    message = str(err)
    assert err.file.endswith("bad.yaml"), message
    assert err.line == line, message
    assert err.key == key, message
    assert f"bad.yaml:{line}: {key}" in message, message
    assert err.fix and "fix: " in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in:\n{message}"


# A sphere body used as the start of most bad files (lines 1-4).
ONE_BODY = """
bodies:
  - name: base
    shapes:
      - {type: sphere, radius: 0.1}
"""


# ---------------------------------------------------------------------------------------------
# A valid file
# ---------------------------------------------------------------------------------------------

VALID = """
name: demo
defaults:
  shape: {density: 500, friction: 0.7, color: [0.1, 0.2, 0.3], group: 1}
  motor: {gain: 30, max_force: 30, max_velocity: 45}
solver: {dt: 0.005, iterations: 30, gravity: [0, 0, -9.81]}
ground: {friction: 0.9}
bodies:
  - name: base
    pos: [0, 0, 1]
    euler: [0, 0, 90]
    omega: [0, 0, 180]
    shapes:
      - {type: box, size: [0.1, 0.2, 0.3], friction: 0.4}
  - name: link
    pos: [0, 0, 2]
    mass: 3
    shapes:
      - {type: capsule, radius: 0.05, fromto: [0, 0, 0, 1, 0, 0]}
      - {type: sphere, radius: 0.1, pos: [1, 0, 0], group: 2}
      - {type: sphere, radius: 0.05, mass: 1}
  - name: ball
    pos: [3, 0, 1]
    quat: [2, 0, 0, 0]
    shapes:
      - {type: sphere, radius: 0.2}
      - {type: sphere, radius: 0.1, group: 2, pos: [0, 0, 0.2]}
  - name: free
    pos: [5, 0, 1]
    shapes:
      - {type: sphere, radius: 0.1, group: 0, mass: 2}
joints:
  - type: hinge
    child: base
    axis: [0, 0, 2]
    limit: [-90, 90]
    motors: [{range: [-45, 45]}]
  - name: elbow
    type: universal
    parent: base
    child: link
    anchor: [0, 0, 2]
    axes: [[0, 1, 0], [0, 0, 1]]
    limits: [[-30, 60], null]
    motors:
      - {name: pitch, axis: 0, mode: velocity, max_force: 5}
      - {axis: 1, max_velocity: 90}
  - {type: slider, parent: world, child: free, axis: [1, 0, 0], limit: [-0.5, 0.5],
     motors: [{max_velocity: 2, range: [-0.25, 0.25]}]}
sensors:
  - {name: tip, type: body_pos, body: link, reference: base}
  - {type: joint_pos, joint: elbow, axis: 1}
contacts:
  pairs: [[base, free]]
"""


@pytest.fixture
def demo(tmp_path) -> Robot:
    return load_robot(write(tmp_path, VALID, "demo.yaml"))


def test_valid_file_keeps_order_names_and_solver(demo):
    assert demo.name == "demo" and demo.source.endswith("demo.yaml")
    assert [b.name for b in demo.bodies] == ["base", "link", "ball", "free"]
    assert [j.name for j in demo.joints] == ["joint0", "elbow", "joint2"]
    assert [m.name for _, m in demo.motors] == ["joint0.m0", "pitch", "elbow.m1", "joint2.m0"]
    assert demo.solver.dt == 0.005 and demo.solver.iterations == 30
    assert demo.solver.warm_start == 0.95  # schema default kept
    assert demo.ground.friction == 0.9 and demo.ground.enabled


def test_masses_from_density_volume_and_shared_body_mass(demo):
    base, link, ball, free = demo.bodies
    assert base.shapes[0].mass == pytest.approx(500 * 8 * 0.1 * 0.2 * 0.3)
    cap_volume = math.pi * 0.05**2 * 1.0 + 4 / 3 * math.pi * 0.05**3
    sph_volume = 4 / 3 * math.pi * 0.1**3
    # link: mass 3, one shape has 1 kg, the other two share the remaining 2 kg by volume
    assert link.shapes[2].mass == 1.0
    assert link.shapes[0].mass == pytest.approx(2 * cap_volume / (cap_volume + sph_volume))
    assert link.shapes[1].mass == pytest.approx(2 * sph_volume / (cap_volume + sph_volume))
    assert sum(s.mass for s in link.shapes) == pytest.approx(3.0)
    assert ball.shapes[0].mass == pytest.approx(500 * 4 / 3 * math.pi * 0.2**3)
    assert free.shapes[0].mass == 2.0


def test_degrees_are_converted_to_radians(demo):
    base = demo.bodies[0]
    assert base.quat == pytest.approx((math.cos(math.pi / 4), 0, 0, math.sin(math.pi / 4)))
    assert base.omega == pytest.approx((0, 0, math.pi))
    hinge, elbow, slider = demo.joints
    assert hinge.limits == (pytest.approx((-math.pi / 2, math.pi / 2)),)
    assert hinge.motors[0].ctrl_range == pytest.approx((-math.pi / 4, math.pi / 4))
    assert hinge.motors[0].max_velocity == pytest.approx(45 * DEG)  # from defaults.motor
    assert elbow.limits[0] == pytest.approx((-30 * DEG, 60 * DEG)) and elbow.limits[1] is None
    assert elbow.motors[1].max_velocity == pytest.approx(90 * DEG)
    # slider: metres, no conversion
    assert slider.limits == ((-0.5, 0.5),)
    assert slider.motors[0].max_velocity == 2.0
    assert slider.motors[0].ctrl_range == (-0.25, 0.25)


def test_radian_files_are_not_converted(tmp_path):
    robot = load_robot(
        write(
            tmp_path,
            """
        angle: radian
        bodies:
          - name: a
            euler: [0, 0, 1.5]
            omega: [0, 0, 2]
            shapes: [{type: sphere, radius: 0.1}]
        joints:
          - {type: hinge, child: a, axis: [0, 0, 1], limit: [-1, 1], motors: [{max_velocity: 3}]}
        """,
            "rad.yaml",
        )
    )
    assert robot.name == "rad"  # default: file stem
    assert robot.bodies[0].quat == pytest.approx((math.cos(0.75), 0, 0, math.sin(0.75)))
    assert robot.bodies[0].omega == (0, 0, 2)
    assert robot.joints[0].limits == ((-1.0, 1.0),)
    assert robot.joints[0].motors[0].max_velocity == 3.0


def test_euler_is_intrinsic_xyz(tmp_path):
    robot = parse_robot(
        """
bodies:
  - {name: a, euler: [30, 40, 50], shapes: [{type: sphere, radius: 0.1}]}
""",
        "e.yaml",
    )
    w, x, y, z = robot.bodies[0].quat
    rot = quat_matrix((w, x, y, z))
    rx, ry, rz = (math.radians(a) for a in (30, 40, 50))
    expected = axis_rotation(0, rx) @ axis_rotation(1, ry) @ axis_rotation(2, rz)
    assert np.allclose(rot, expected, atol=1e-12)


def test_fromto_gives_centre_direction_and_half_length(demo):
    capsule = demo.bodies[1].shapes[0]
    assert capsule.kind == "capsule" and capsule.half_length == pytest.approx(0.5)
    assert capsule.pos == pytest.approx((0.5, 0, 0))
    assert quat_matrix(capsule.quat) @ np.array([0, 0, 1.0]) == pytest.approx([1, 0, 0])
    down = (
        parse_robot(
            """
bodies:
  - name: a
    shapes: [{type: capsule, radius: 0.1, fromto: [0, 0, 1, 0, 0, -1]}]
""",
            "d.yaml",
        )
        .bodies[0]
        .shapes[0]
    )
    assert quat_matrix(down.quat) @ np.array([0, 0, 1.0]) == pytest.approx([0, 0, -1])


def test_defaults_are_inherited_and_overridden(demo):
    base, link, ball, _ = demo.bodies
    assert base.shapes[0].friction == 0.4  # overridden
    assert link.shapes[0].friction == 0.7 and link.shapes[0].color == (0.1, 0.2, 0.3)
    assert link.shapes[0].restitution == 0.0  # schema default, not in defaults either
    assert link.shapes[0].group == 1 and link.shapes[1].group == 2
    hinge, elbow, slider = demo.joints
    assert hinge.motors[0] == Motor(
        name="joint0.m0",
        axis=0,
        mode="position",
        gain=30,
        max_force=30,
        max_velocity=pytest.approx(45 * DEG),
        ctrl_range=pytest.approx((-45 * DEG, 45 * DEG)),
    )
    assert elbow.motors[0].mode == "velocity" and elbow.motors[0].max_force == 5
    assert elbow.motors[0].gain == 30


def test_joint_geometry(demo):
    hinge, elbow, slider = demo.joints
    assert hinge == Joint(
        name="joint0",
        kind="hinge",
        parent=None,
        child="base",
        anchor=(0, 0, 1),
        axes=((0, 0, 1),),
        limits=hinge.limits,
        motors=hinge.motors,
    )
    assert elbow.parent == "base" and elbow.axes == ((0, 1, 0), (0, 0, 1))
    assert slider.parent is None and slider.anchor == (5, 0, 1)
    ball = parse_robot(ONE_BODY + "joints: [{type: ball, child: base}]", "b.yaml").joints[0]
    assert ball.axes == ((1, 0, 0), (0, 1, 0), (0, 0, 1)) and ball.limits == (None,) * 3


def test_quaternion_is_normalised(demo):
    assert demo.bodies[2].quat == (1.0, 0.0, 0.0, 0.0)


def test_contact_pairs_from_groups_and_explicit_pairs(demo):
    # base(0) and link(1): joined by a joint -> no group pairs although both are in group 1.
    # link(1) shape 1 (group 2) and ball(2) shape 1 (group 2): group pair.
    # link(1) shape 0/2 (group 1) and ball(2) shape 0 (group 1): group pairs.
    # base(0) and free(3): explicit pair, although free's box is in group 0.
    # base(0) and ball(2): both group 1, box-sphere.
    assert demo.contact_pairs == (
        ContactPair(0, 0, 2, 0),
        ContactPair(0, 0, 3, 0),
        ContactPair(1, 0, 2, 0),
        ContactPair(1, 1, 2, 1),
        ContactPair(1, 2, 2, 0),
    )
    assert demo.sensors[0].reference == "base" and demo.sensors[1].name == "sensor1"


def test_explicit_pair_overrides_joint_exclusion_and_exclude_removes_group_pairs(tmp_path):
    text = """
defaults: {shape: {group: 1}}
bodies:
  - {name: a, shapes: [{type: sphere, radius: 0.1}]}
  - {name: b, shapes: [{type: sphere, radius: 0.1}]}
  - {name: c, shapes: [{type: capsule, radius: 0.1, half_length: 0.2}]}
joints:
  - {type: ball, parent: a, child: b}
contacts:
  pairs: [[b, a], [a, b]]
  exclude: [[c, a]]
"""
    robot = parse_robot(text, "p.yaml")
    assert robot.contact_pairs == (ContactPair(0, 0, 1, 0), ContactPair(1, 0, 2, 0))


def test_yaml_anchors_and_merge_keys(tmp_path):
    robot = parse_robot(
        """
bodies:
  - name: a
    shapes:
      - &leg {type: capsule, radius: 0.05, half_length: 0.2, friction: 0.5}
      - {<<: *leg, pos: [1, 0, 0], friction: 0.9}
      - {<<: [*leg, {friction: 0.1, restitution: 0.3}]}
""",
        "m.yaml",
    )
    first, second, third = robot.bodies[0].shapes
    assert second.friction == 0.9 and second.pos == (1, 0, 0) and second.half_length == 0.2
    assert third.friction == 0.5 and third.restitution == 0.3  # earlier merge sources win
    with pytest.raises(ModelError, match="merges itself"):
        parse_robot("bodies:\n  - &b {<<: *b, name: a}\n", "c.yaml")


# ---------------------------------------------------------------------------------------------
# Bad input: one test per class
# ---------------------------------------------------------------------------------------------


def test_malformed_yaml(tmp_path):
    err = load_error(
        tmp_path,
        """
        bodies:
          - name: a
            shapes: [{type: sphere, radius: 0.1}
          - name: b
        """,
    )
    assert err.file.endswith("bad.yaml") and err.line == 4
    assert "malformed YAML" in str(err) and "bad.yaml:4" in str(err) and "indentation" in err.fix


def test_empty_file_and_missing_required_keys(tmp_path):
    err = load_error(tmp_path, "\n")
    assert "empty" in str(err) and "bodies" in err.fix
    err = load_error(tmp_path, "name: x\n")
    check(err, 1, "bodies", "needs the key 'bodies'", "add a `bodies:` list")
    err = load_error(
        tmp_path,
        """
        bodies:
          - name: a
            shapes:
              - {radius: 0.1}
        """,
    )
    check(err, 4, "bodies[0].shapes[0].type", "needs the key 'type'", "sphere | box | capsule")
    err = load_error(tmp_path, ONE_BODY + "joints:\n  - {type: hinge, axis: [0, 0, 1]}\n")
    check(err, 6, "joints[0].child", "needs the key 'child'")


def test_unknown_key_suggests_the_close_one(tmp_path):
    err = load_error(
        tmp_path,
        """
        bodies:
          - name: a
            shapes:
              - type: sphere
                raduis: 0.1
        """,
    )
    check(err, 5, "bodies[0].shapes[0].raduis", "unknown key 'raduis'", "did you mean 'radius'?")
    err = load_error(tmp_path, "solver: {dt: 0.01, iteration: 5}\n" + ONE_BODY.lstrip("\n"))
    check(err, 1, "solver.iteration", "did you mean 'iterations'?")


def test_key_of_another_kind_says_where_it_belongs(tmp_path):
    err = load_error(
        tmp_path,
        """
        bodies:
          - name: a
            shapes:
              - {type: sphere, radius: 0.1, size: [1, 1, 1]}
        """,
    )
    check(err, 4, "bodies[0].shapes[0].size", "not a key of a sphere shape", "belongs to box")
    err = load_error(
        tmp_path, ONE_BODY + "joints:\n  - {type: hinge, child: base, axes: [[1, 0, 0]]}\n"
    )
    check(err, 6, "joints[0].axes", "not a key of a hinge joint", "universal", "ball")


def test_unknown_kind_suggests_the_close_one(tmp_path):
    err = load_error(
        tmp_path,
        """
        bodies:
          - name: a
            shapes:
              - {type: sphre, radius: 0.1}
        """,
    )
    check(
        err, 4, "bodies[0].shapes[0].type", "unknown shape type 'sphre'", "did you mean 'sphere'?"
    )
    err = load_error(tmp_path, "angle: degrees\n" + ONE_BODY.lstrip("\n"))
    check(err, 1, "angle", "unknown angle unit", "did you mean 'degree'?")


def test_wrong_type(tmp_path):
    err = load_error(
        tmp_path,
        """
        bodies:
          - name: a
            shapes:
              - type: sphere
                radius: big
        """,
    )
    check(
        err,
        5,
        "bodies[0].shapes[0].radius",
        "expected a number, got the text 'big'",
        "plain number",
    )
    err = load_error(tmp_path, "solver: {iterations: 2.5}\n" + ONE_BODY.lstrip("\n"))
    check(err, 1, "solver.iterations", "expected a whole number", "integer")
    err = load_error(
        tmp_path,
        """
        bodies:
          - name: a
            shapes: {type: sphere, radius: 0.1}
        """,
    )
    check(err, 3, "bodies[0].shapes", "must be a list, got a mapping", "YAML list")


def test_vector_of_wrong_length(tmp_path):
    err = load_error(
        tmp_path,
        """
        bodies:
          - name: a
            pos: [0, 1]
            shapes: [{type: sphere, radius: 0.1}]
        """,
    )
    check(
        err,
        3,
        "bodies[0].pos",
        "expected a list of 3 numbers [x, y, z], got a list of 2",
        "write it as [x, y, z]",
    )


def test_numbers_pyyaml_reads_as_text_are_accepted(tmp_path):
    robot = load_robot(write(tmp_path, "solver: {dt: 1e-3}\n" + ONE_BODY.lstrip("\n"), "ok.yaml"))
    assert robot.solver.dt == 1e-3


@pytest.mark.parametrize(
    "key, text",
    [
        ("bodies[1].shapes[0].radius", "- {name: a, shapes: [{type: sphere, radius: 0}]}"),
        ("bodies[1].shapes[0].size[1]", "- {name: a, shapes: [{type: box, size: [1, -1, 1]}]}"),
        (
            "bodies[1].shapes[0].half_length",
            "- {name: a, shapes: [{type: capsule, radius: 1, half_length: 0}]}",
        ),
        ("bodies[1].mass", "- {name: a, mass: -2, shapes: [{type: sphere, radius: 1}]}"),
        ("bodies[1].shapes[0].mass", "- {name: a, shapes: [{type: sphere, radius: 1, mass: 0}]}"),
        (
            "bodies[1].shapes[0].density",
            "- {name: a, shapes: [{type: sphere, radius: 1, density: -5}]}",
        ),
        (
            "bodies[1].inertia[2]",
            "- {name: a, inertia: [1, 1, 0], shapes: [{type: sphere, radius: 1}]}",
        ),
        ("solver.dt", "solver: {dt: 0.0}"),
        ("defaults.shape.density", "defaults: {shape: {density: 0}}"),
        (
            "joints[0].motors[0].max_force",
            "joints: [{type: ball, child: base, motors: [{max_force: 0}]}]",
        ),
    ],
)
def test_non_positive_quantities(tmp_path, key, text):
    """Each bad value sits on line 5, after the 4-line ONE_BODY (or as a body of its own)."""
    if text.startswith("- "):
        text = "  " + text
    err = load_error(tmp_path, ONE_BODY.lstrip("\n") + text + "\n")
    check(err, 5, key, "must be > 0", "give a positive value")


def test_non_positive_iterations(tmp_path):
    err = load_error(tmp_path, "solver: {iterations: 0}\n" + ONE_BODY.lstrip("\n"))
    check(err, 1, "solver.iterations", "must be a whole number > 0", "positive integer")


def test_out_of_range_fraction(tmp_path):
    err = load_error(
        tmp_path,
        """
        bodies:
          - name: a
            shapes:
              - {type: sphere, radius: 0.1, restitution: 1.5}
        """,
    )
    check(err, 4, "bodies[0].shapes[0].restitution", "between 0 and 1", "[0, 1]")


def test_joint_naming_a_missing_body(tmp_path):
    err = load_error(tmp_path, ONE_BODY + "joints:\n  - {type: ball, child: bose}\n")
    check(err, 6, "joints[0].child", "no body named 'bose'", "did you mean 'base'?")
    err = load_error(tmp_path, ONE_BODY + "joints:\n  - {type: ball, parent: wrld, child: base}\n")
    check(err, 6, "joints[0].parent", "no body named 'wrld'", "did you mean 'world'?")


def test_world_cannot_be_a_child_or_a_body(tmp_path):
    err = load_error(tmp_path, ONE_BODY + "joints:\n  - {type: ball, child: world}\n")
    check(err, 6, "joints[0].child", "cannot be a joint's child", "name a body")
    err = load_error(tmp_path, ONE_BODY.replace("base", "world"))
    check(err, 2, "bodies[0].name", "reserved", "rename")


@pytest.mark.parametrize(
    "line, key, extra, problem",
    [
        (
            5,
            "bodies[1].name",
            "  - {name: base, shapes: [{type: sphere, radius: 1}]}\n",
            "duplicate body name 'base'",
        ),
        (
            7,
            "joints[1].name",
            "joints:\n  - {name: j, type: ball, child: base}\n"
            "  - {name: j, type: ball, child: base}\n",
            "duplicate joint name 'j'",
        ),
        (
            6,
            "joints[0].motors[1]",
            "joints:\n  - {type: ball, child: base, motors: [{name: m}, {name: m, axis: 1}]}\n",
            "duplicate motor name 'm'",
        ),
        (
            7,
            "sensors[1].name",
            "sensors:\n  - {name: s, type: body_pos, body: base}\n"
            "  - {name: s, type: body_vel, body: base}\n",
            "duplicate sensor name 's'",
        ),
        (4, "bodies[0].name", None, "key 'name' appears twice"),
    ],
)
def test_duplicate_names(tmp_path, line, key, extra, problem):
    text = (
        ONE_BODY.lstrip("\n") + extra
        if extra is not None
        # a repeated YAML key:
        else "bodies:\n  - name: base\n    shapes: [{type: sphere, radius: 1}]\n    name: b\n"
    )
    err = load_error(tmp_path, text)
    check(err, line, key, problem)


def test_parent_equal_to_child(tmp_path):
    err = load_error(tmp_path, ONE_BODY + "joints:\n  - {type: ball, parent: base, child: base}\n")
    check(
        err,
        6,
        "joints[0].child",
        "parent and child are the same body 'base'",
        "two different bodies",
    )


def test_axis_of_zero_length(tmp_path):
    err = load_error(
        tmp_path, ONE_BODY + "joints:\n  - {type: hinge, child: base, axis: [0, 0, 0]}\n"
    )
    check(err, 6, "joints[0].axis", "zero length", "nonzero direction")


def test_universal_axes_not_perpendicular(tmp_path):
    err = load_error(
        tmp_path,
        ONE_BODY
        + """joints:
  - type: universal
    child: base
    axes: [[0, 0, 1], [0, 1, 0.01]]
""",
    )
    check(err, 8, "joints[0].axes", "must be perpendicular", "89.43 deg", "perpendicular axes")
    # exactly perpendicular after normalising is fine
    parse_robot(
        ONE_BODY + "joints:\n  - {type: universal, child: base, axes: [[0, 0, 3], [0, 2, 0]]}\n",
        "ok.yaml",
    )


def test_ball_axes_dependent(tmp_path):
    err = load_error(
        tmp_path,
        ONE_BODY + "joints:\n  - {type: ball, child: base, "
        "axes: [[1, 0, 0], [0, 1, 0], [1, 1, 0]]}\n",
    )
    check(err, 6, "joints[0].axes", "linearly dependent", "do not lie in one plane")


def test_motor_axis_out_of_range(tmp_path):
    err = load_error(
        tmp_path,
        ONE_BODY
        + """joints:
  - type: hinge
    child: base
    axis: [0, 0, 1]
    motors:
      - {axis: 1}
""",
    )
    check(err, 10, "joints[0].motors[0].axis", "out of range for a hinge joint", "from 0 to 0")


def test_two_motors_on_one_axis(tmp_path):
    err = load_error(
        tmp_path,
        ONE_BODY
        + """joints:
  - type: universal
    child: base
    axes: [[0, 0, 1], [0, 1, 0]]
    motors:
      - {axis: 1}
      - {axis: 1}
""",
    )
    check(err, 11, "joints[0].motors[1].axis", "already has a motor", "at most one motor")


def test_limit_lo_not_below_hi(tmp_path):
    err = load_error(
        tmp_path,
        ONE_BODY
        + """joints:
  - type: hinge
    child: base
    axis: [0, 0, 1]
    limit: [30, -30]
""",
    )
    check(err, 9, "joints[0].limit", "lower bound 30 is not below upper bound -30", "lo < hi")
    err = load_error(
        tmp_path,
        ONE_BODY + "joints:\n  - {type: hinge, child: base, "
        "axis: [0, 0, 1], motors: [{range: [1, 1]}]}\n",
    )
    check(err, 6, "joints[0].motors[0].range", "not below", "lo < hi")


def test_ball_limits_not_supported(tmp_path):
    err = load_error(
        tmp_path,
        ONE_BODY + "joints:\n  - type: ball\n    child: base\n    limits: [null, null, [-1, 1]]\n",
    )
    check(err, 8, "joints[0].limits", "not supported yet", "motor `range`")


def test_fixed_joint_takes_no_axis(tmp_path):
    err = load_error(tmp_path, ONE_BODY + "joints:\n  - {type: fixed, child: base, motors: [{}]}\n")
    check(err, 6, "joints[0].motors", "not a key of a fixed joint")


def test_every_pair_of_shape_kinds_collides(tmp_path):
    """Shapes of every kind sharing a collision group make contact points: one for a pair with
    an exact test, a probe each (engine/geometry.py) for the others."""
    from tdphys.engine.layout import build_layout

    text = textwrap.dedent("""
        defaults: {shape: {group: 3, ground: false}}
        bodies:
          - name: a
            shapes:
              - {type: box, size: [0.1, 0.1, 0.1]}
              - {type: cylinder, radius: 0.1, half_length: 0.2, pos: [0, 0, 1]}
          - name: b
            pos: [1, 0, 0]
            shapes:
              - {type: box, size: [0.1, 0.1, 0.1]}
              - {type: capsule, radius: 0.1, half_length: 0.2, pos: [0, 0, 1]}
              - {type: sphere, radius: 0.1, pos: [0, 0, 2]}
        """)
    layout = build_layout(load_robot(write(tmp_path, text, "pairs.yaml")))
    # box-box 8 + 8, box-capsule 3, box-sphere 1, cylinder-box 9 + 8, cylinder-capsule 3,
    # cylinder-sphere 1
    assert layout.n_points == 16 + 3 + 1 + 17 + 3 + 1
    assert set(layout.point_body_a) | set(layout.point_body_b) == {0, 1}


def test_quaternion_of_zero_norm(tmp_path):
    err = load_error(
        tmp_path,
        """
        bodies:
          - name: a
            quat: [0, 0, 0, 0]
            shapes: [{type: sphere, radius: 0.1}]
        """,
    )
    check(err, 3, "bodies[0].quat", "zero norm", "[1, 0, 0, 0]")


def test_quat_and_euler_together(tmp_path):
    err = load_error(
        tmp_path,
        """
        bodies:
          - name: a
            quat: [1, 0, 0, 0]
            euler: [0, 0, 0]
            shapes: [{type: sphere, radius: 0.1}]
        """,
    )
    check(err, 4, "bodies[0].euler", "both quat and euler", "either quat or euler")


def test_sensor_naming_a_missing_body_or_joint(tmp_path):
    err = load_error(tmp_path, ONE_BODY + "sensors:\n  - {type: body_pos, body: bsae}\n")
    check(err, 6, "sensors[0].body", "no body named 'bsae'", "did you mean 'base'?")
    err = load_error(
        tmp_path,
        ONE_BODY + "joints:\n  - {name: knee, type: ball, child: base}\n"
        "sensors:\n  - {type: joint_vel, joint: kne}\n",
    )
    check(err, 8, "sensors[0].joint", "no joint named 'kne'", "did you mean 'knee'?")
    err = load_error(tmp_path, ONE_BODY + "sensors:\n  - {type: joint_pos, body: base}\n")
    check(err, 6, "sensors[0].body", "not a key of a joint_pos sensor", "body_pos")


def test_mass_and_density_conflicts(tmp_path):
    err = load_error(
        tmp_path,
        """
        bodies:
          - name: a
            shapes:
              - {type: sphere, radius: 0.1, mass: 1, density: 10}
        """,
    )
    check(err, 4, "bodies[0].shapes[0].density", "both mass and density", "either mass")
    err = load_error(
        tmp_path,
        """
        bodies:
          - name: a
            mass: 1
            shapes:
              - {type: sphere, radius: 0.1, mass: 1}
              - {type: sphere, radius: 0.1}
        """,
    )
    check(err, 3, "bodies[0].mass", "leaving 0 kg", "raise the body's mass")


def test_bad_fromto(tmp_path):
    err = load_error(
        tmp_path,
        """
        bodies:
          - name: a
            shapes:
              - type: capsule
                radius: 0.1
                fromto: [0, 0, 0, 0, 0, 0]
        """,
    )
    check(err, 6, "bodies[0].shapes[0].fromto", "zero length", "two different end points")
    err = load_error(
        tmp_path,
        """
        bodies:
          - name: a
            shapes:
              - {type: capsule, radius: 0.1, pos: [1, 0, 0], fromto: [0, 0, 0, 0, 0, 1]}
        """,
    )
    check(err, 4, "bodies[0].shapes[0].pos", "cannot be combined with fromto", "remove 'pos'")


def test_inertia_must_be_physical(tmp_path):
    err = load_error(
        tmp_path,
        """
        bodies:
          - name: a
            inertia: [1, 1, 3]
            shapes: [{type: sphere, radius: 0.1}]
        """,
    )
    check(err, 3, "bodies[0].inertia", "exceeds the sum of the other two", "check the values")


def test_pair_both_listed_and_excluded(tmp_path):
    err = load_error(
        tmp_path,
        ONE_BODY
        + """  - {name: b, shapes: [{type: sphere, radius: 1}]}
contacts:
  pairs: [[base, b]]
  exclude: [[b, base]]
""",
    )
    check(err, 8, "contacts.exclude[0]", "both contacts.pairs and contacts.exclude", "only one")


def test_missing_file(tmp_path):
    with pytest.raises(ModelError) as info:
        load_robot(tmp_path / "nope.yaml")
    assert "nope.yaml" in str(info.value) and "check the path" in info.value.fix


# ---------------------------------------------------------------------------------------------
# The robots shipped in robots/
# ---------------------------------------------------------------------------------------------


def quat_matrix(q) -> np.ndarray:
    """3x3 rotation matrix of the unit quaternion [w, x, y, z]."""
    w, x, y, z = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def axis_rotation(axis: int, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    i, j = (axis + 1) % 3, (axis + 2) % 3
    rot = np.eye(3)
    rot[i, i], rot[i, j], rot[j, i], rot[j, j] = c, -s, s, c
    return rot


def lowest_z(body, shape) -> float:
    """[m] lowest world z of a shape at the initial pose."""
    rot_b = quat_matrix(body.quat)
    centre = np.array(body.pos) + rot_b @ np.array(shape.pos)
    rot = rot_b @ quat_matrix(shape.quat)
    if shape.kind == "sphere":
        return centre[2] - shape.radius
    if shape.kind == "capsule":
        tip = rot @ np.array([0, 0, shape.half_length])
        return min(centre[2] + tip[2], centre[2] - tip[2]) - shape.radius
    return centre[2] - float(np.abs(rot[2]) @ np.array(shape.half_extents))


def total_mass(robot: Robot) -> float:
    return sum(s.mass for b in robot.bodies for s in b.shapes)


def test_robot_files_exist():
    names = {p.stem for p in ROBOTS}
    assert {"ball", "pendulum", "double_pendulum", "arm", "quadruped", "quadruped17"} <= names


@pytest.mark.parametrize("path", ROBOTS, ids=[p.stem for p in ROBOTS])
def test_every_robot_loads_and_starts_without_ground_penetration(path):
    robot = load_robot(path)
    assert robot.name == path.stem
    assert path.read_text().startswith("#"), "each robot file opens with a comment header"
    for body in robot.bodies:
        for shape in body.shapes:
            if shape.ground and robot.ground.enabled:
                assert lowest_z(body, shape) >= -1e-3, (body.name, shape)


def test_ball():
    robot = load_robot(ROOT / "robots/ball.yaml")
    (ball,) = robot.bodies
    (shape,) = ball.shapes
    assert shape.kind == "sphere" and shape.radius == 0.5 and ball.pos == (0, 0, 0.5)
    assert shape.friction == 1.0 and shape.restitution == 0.5


def test_arm_matches_the_paper():
    robot = load_robot(ROOT / "robots/arm.yaml")
    assert total_mass(robot) == pytest.approx(32.0)
    assert len(robot.motors) == 4
    for _, motor in robot.motors:
        assert motor.gain == 30 and motor.max_force == 30
        assert motor.max_velocity == pytest.approx(math.radians(45))
    forearm = robot.bodies[robot.body_index("forearm")]
    hand = np.array(forearm.pos) + np.array(forearm.shapes[1].pos)
    shoulder, elbow = (np.array(j.anchor) for j in robot.joints[1:3])
    reach = np.linalg.norm(elbow - shoulder) + np.linalg.norm(hand - elbow)
    assert reach == pytest.approx(1.0)  # shoulder to hand centre, arm stretched
    assert robot.joints[0].kind == "fixed" and robot.joints[0].parent is None
    for body in robot.bodies:
        for shape in body.shapes:
            assert not shape.ground and lowest_z(body, shape) > 0


def test_quadruped_matches_the_paper():
    robot = load_robot(ROOT / "robots/quadruped.yaml")
    assert total_mass(robot) == pytest.approx(28.7)
    assert len(robot.motors) == 8
    assert all(m.max_force == 4 for _, m in robot.motors)
    assert robot.contact_pairs == ()  # feet collide with the ground only
    feet = [
        (b, s)
        for b in robot.bodies
        for s in b.shapes
        if s.ground and s.kind == "sphere" and s.radius == 0.03
    ]
    assert len(feet) == 4
    assert all(abs(lowest_z(b, s)) <= 1e-9 for b, s in feet)  # standing on the ground


def test_quadruped17_matches_the_benchmark():
    robot = load_robot(ROOT / "robots/quadruped17.yaml")
    assert len(robot.bodies) == 17 and len(robot.motors) == 16
    rows = {"ball": 3, "hinge": 5, "fixed": 6, "slider": 5, "universal": 4}
    joint_rows = sum(rows[j.kind] + len(j.motors) for j in robot.joints)
    assert 90 <= joint_rows <= 110
    feet = [(b, s) for b in robot.bodies for s in b.shapes if b.name.endswith("_foot")]
    assert len(feet) == 4 and all(abs(lowest_z(b, s)) <= 1e-9 for b, s in feet)
    assert total_mass(robot) == pytest.approx(28.7)


def test_reference_example_matches_its_table():
    """docs/robot-format.md: the worked example parses to the values its tables state."""
    text = (ROOT / "docs/robot-format.md").read_text().split("```yaml\n", 1)[1].split("```")[0]
    robot = parse_robot(text, "leg_on_rail.yaml")
    masses = [s.mass for b in robot.bodies for s in b.shapes]
    assert masses == pytest.approx([3.679, 0.321, 1.221, 0.2, 0.4189], abs=5e-4)  # as tabulated
    torso, leg, ball = robot.bodies
    assert [s.friction for s in torso.shapes] == [0.6, 0.3]
    assert [s.group for s in leg.shapes] == [0, 1] and leg.shapes[1].restitution == 0.5
    assert leg.shapes[0].pos == pytest.approx((0, 0, -0.25)) and leg.shapes[0].half_length == 0.25
    assert leg.shapes[0].quat == pytest.approx((0, 1, 0, 0))
    rail, hip = (m for _, m in robot.motors)
    assert (rail.mode, rail.max_force, rail.max_velocity, rail.ctrl_range) == (
        "velocity",
        100,
        1.0,
        (-0.5, 0.5),
    )
    assert (hip.mode, hip.gain, hip.max_force) == ("position", 20, 15)
    assert hip.max_velocity == pytest.approx(math.pi)
    assert hip.ctrl_range == pytest.approx((-math.pi / 4, math.pi / 4))
    assert robot.joints[1].limits[0] == pytest.approx((-math.pi / 3, math.pi / 3))
    assert robot.contact_pairs == (
        ContactPair(0, 0, 2, 0),
        ContactPair(0, 1, 2, 0),
        ContactPair(1, 1, 2, 0),
    )


def test_loader_does_not_import_taichi():
    for name in ("loader.py", "schema.py", "__init__.py"):
        tree = ast.parse((ROOT / "tdphys/model" / name).read_text())
        imported = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        imported |= {
            node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
        }
        assert not any(m.split(".")[0] == "taichi" for m in imported), name


GIMBAL = (
    ONE_BODY
    + """joints:
  - type: gimbal
    child: base
    axes: AXES
    limits: LIMITS
"""
)


def gimbal(axes: str, limits: str) -> str:
    return GIMBAL.replace("AXES", axes).replace("LIMITS", limits)


@pytest.mark.parametrize(
    "axes, limits, key, fragments",
    [
        (
            "[[1, 0, 0], [0, 0, 1], [0, 0.1, 1]]",
            "[null, [-30, 30], null]",
            "joints[0].axes",
            ("mutually perpendicular", "axes 1 and 2", "5.711 deg"),
        ),
        (
            "[[1, 0, 0], [0, 0, 1], [0, 1, 0]]",
            "[null, [-85, 30], null]",
            "joints[0].limits",
            ("middle axis needs a limit within", "+-80 (+-80 deg)", "line up"),
        ),
        (
            "[[1, 0, 0], [0, 0, 1], [0, 1, 0]]",
            "[null, null, [-30, 30]]",
            "joints[0].limits",
            ("middle axis needs a limit", "ball joint for unlimited turning"),
        ),
    ],
)
def test_a_gimbal_needs_perpendicular_axes_and_a_middle_limit_short_of_its_lock(
    tmp_path, axes, limits, key, fragments
):
    """Three hinges through one point: mutually perpendicular axes, and a middle axis limited
    within +-80 deg (at 90 deg the first and last axes line up)."""
    err = load_error(tmp_path, gimbal(axes, limits))
    check(err, 8 if key.endswith("axes") else 9, key, *fragments)


def test_passive_values_per_axis(tmp_path):
    """One number applies to every axis; a list gives one per axis, in the file's angle unit
    for spring_ref; a list of the wrong length or a negative entry is refused."""
    text = gimbal("[[1, 0, 0], [0, 0, 1], [0, 1, 0]]", "[null, [-30, 30], null]")
    robot = parse_robot(text + "    damping: 0.5\n    spring_ref: [0, 90, -90]\n", "ok.yaml")
    joint = robot.joints[0]
    assert joint.damping == (0.5, 0.5, 0.5) and joint.stiffness == (0.0, 0.0, 0.0)
    assert joint.spring_ref == pytest.approx((0.0, math.pi / 2, -math.pi / 2))
    err = load_error(tmp_path, text + "    stiffness: [1, 2]\n")
    check(err, 10, "joints[0].stiffness", "one value per axis (3), got 2", "a list of 3")
    err = load_error(tmp_path, text + "    armature: [0.1, -0.2, 0]\n")
    check(err, 10, "joints[0].armature[1]", "must be >= 0")


def test_a_file_that_is_one_long_text_is_quoted_short(tmp_path):
    """A robot file that is not YAML mappings at all (an XML file under a .yaml name): the
    error quotes the start of the text and its length, not the whole file."""
    text = "<mujoco model='m'>" + " <geom size='1'/>" * 200 + "</mujoco>"
    err = load_error(tmp_path, text)
    message = str(err)
    assert "must be a mapping" in message and "characters)" in message
    assert len(message) < 400, message


WORLD_FILE = """
    defaults: {shape: {friction: 0.6}}
    world:
      shapes:
        - {type: plane, pos: [0, 0, 0.1], euler: [0, 30, 0], size: [2, 1]}
        - {type: box, size: [0.5, 0.5, 0.1], pos: [1, 0, 0.1], friction: 0.2}
        - {type: cylinder, fromto: [0, 0, 0, 0, 1, 0], radius: 0.1}
    bodies:
      - name: a
        pos: [0, 0, 2]
        shapes: [{type: cylinder, radius: 0.1, half_length: 0.2}]
    """


def test_world_shapes_are_read_in_the_world_frame(tmp_path):
    robot = load_robot(write(tmp_path, WORLD_FILE, "world.yaml"))
    plane, box, log = robot.world_shapes
    assert (plane.kind, plane.pos, plane.half_extents) == ("plane", (0, 0, 0.1), (2, 1, 0))
    c, s = math.cos(math.radians(15)), math.sin(math.radians(15))
    assert np.allclose(plane.quat, (c, 0, s, 0))  # normal (sin 30, 0, cos 30)
    assert (plane.friction, box.friction, box.half_extents) == (0.6, 0.2, (0.5, 0.5, 0.1))
    assert log.half_length == pytest.approx(0.5) and log.pos == pytest.approx((0, 0.5, 0))
    assert all(s.mass == 0 and not s.ground for s in robot.world_shapes)
    body = robot.bodies[0].shapes[0]
    assert body.mass == pytest.approx(1000 * math.pi * 0.1**2 * 0.4)


@pytest.mark.parametrize(
    "change, line, key, fragments",
    [
        (("size: [2, 1]", "size: [2, 1], mass: 3"), 4, "world.shapes[0].mass", ("no mass",)),
        (("friction: 0.2", "group: 2"), 5, "world.shapes[1].group", ("ground: true",)),
        (("type: box, size", "type: mesh, size"), 5, "world.shapes[1].type", ("plane",)),
        (("size: [2, 1]", "size: [2, 1, 1]"), 4, "world.shapes[0].size", ("[hx, hy]",)),
        (
            ("radius: 0.1, half", "radius: 0.1, size: [1, 1, 1], half"),
            10,
            "bodies[0].shapes[0].size",
            ("box",),
        ),
        (
            ("type: cylinder, radius: 0.1, half", "type: plane, radius: 0.1, half"),
            10,
            "bodies[0].shapes[0].type",
            ("cylinder",),
        ),
    ],
)
def test_bad_world_shapes_are_refused_by_key(tmp_path, change, line, key, fragments):
    err = load_error(tmp_path, WORLD_FILE.replace(*change))
    check(err, line, key, *fragments)
