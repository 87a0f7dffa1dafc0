"""Robot-file `vars`: named numbers that other numbers use in arithmetic expressions
(docs/robot-format.md#vars), replaced at load time by `tdphys.load(path, vars=...)`."""

import math

import pytest

from tdphys.errors import ModelError
from tdphys.model import load_robot, parse_robot

ROBOT = """
vars: {L: 0.5, m: 2}
angle: degree
bodies:
  - name: bob
    pos: [0, 0, -L]
    shapes: [{type: sphere, radius: L / 5, mass: m * 1.5}]
joints:
  - {name: j, type: hinge, parent: world, child: bob, anchor: [0, 0, 0], axis: [0, 1, 0],
     limit: [-2 * 45, sqrt(8100)]}
"""


def test_numbers_may_be_expressions_of_vars():
    r = parse_robot(ROBOT, "r.yaml")
    assert r.vars == (("L", 0.5), ("m", 2.0))
    assert r.bodies[0].pos == (0.0, 0.0, -0.5)
    assert r.bodies[0].shapes[0].radius == pytest.approx(0.1)
    assert r.bodies[0].shapes[0].mass == pytest.approx(3.0)
    lo, hi = r.joints[0].limits[0]  # angles: the file's unit applies after
    assert (lo, hi) == pytest.approx((-math.pi / 2, math.pi / 2))


def test_given_vars_replace_the_files():
    r = parse_robot(ROBOT, "r.yaml", {"L": 1.0})
    assert r.vars == (("L", 1.0), ("m", 2.0))
    assert r.bodies[0].pos == (0.0, 0.0, -1.0)
    assert r.bodies[0].shapes[0].radius == pytest.approx(0.2)


def test_the_quadruped_legs_are_vars(robots_dir):
    """robots/quadruped.yaml's leg lengths: the default reproduces the stance (feet on the
    ground, hips at 0.32 m), a longer shin raises the whole robot with it."""
    r = load_robot(robots_dir / "quadruped.yaml")
    assert dict(r.vars) == {"thigh": 0.145, "shin": 0.145}
    assert r.bodies[0].pos[2] == pytest.approx(0.32)
    longer = load_robot(robots_dir / "quadruped.yaml", {"shin": 0.2})
    assert longer.bodies[0].pos[2] == pytest.approx(0.375)
    shin = next(b for b in longer.bodies if b.name == "fl_shin")
    assert shin.pos[2] == pytest.approx(0.23)
    assert shin.shapes[1].pos == pytest.approx((-0.04, 0.0, -0.2))  # the foot


@pytest.mark.parametrize(
    "old, new, key, words",
    [
        ("-L]", "-Lx]", "bodies[0].pos[2]", ["'Lx'", "not a var", "did you mean 'L'"]),
        ("-L]", "-L +]", "bodies[0].pos[2]", ["not a number or an arithmetic expression"]),
        ("-L]", "L / 0]", "bodies[0].pos[2]", ["cannot be evaluated", "division by zero"]),
        ("-L]", "__import__('os')]", "bodies[0].pos[2]", ["'__import__'", "not a var"]),
        ("-L]", "L.real]", "bodies[0].pos[2]", ["only numbers, vars"]),
        ("{L: 0.5", "{sqrt: 0.5", "vars.sqrt", ["cannot name a var"]),
        ("m: 2}", "m: two}", "vars.m", ["expected a number"]),
        ("-L]", "fast]", "bodies[0].pos[2]", ["'fast'", "not a var", "vars:"]),
    ],
)
def test_bad_expressions_name_the_key(old, new, key, words):
    with pytest.raises(ModelError) as err:
        parse_robot(ROBOT.replace(old, new), "r.yaml")
    msg = str(err.value)
    assert "r.yaml:" in msg and key in msg, msg
    for w in words:
        assert w in msg, msg


def test_unknown_given_vars_are_refused():
    with pytest.raises(ModelError) as err:
        parse_robot(ROBOT, "r.yaml", {"Q": 1.0})
    assert "'Q' is not a var" in str(err.value) and "L, m" in str(err.value)
    with pytest.raises(ModelError, match="not finite"):
        parse_robot(ROBOT, "r.yaml", {"L": float("nan")})


def test_text_without_vars_is_still_not_a_number():
    """Files without vars keep the plain message for text where a number belongs."""
    with pytest.raises(ModelError, match="expected a number"):
        parse_robot("bodies: [{name: b, shapes: [{type: sphere, radius: high}]}]", "r.yaml")
