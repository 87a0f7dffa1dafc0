"""Write a `Robot` as robot YAML (docs/robot-format.md) that loads back to the same model.

`robot_yaml(robot, title)` returns the text: commented sections, angles in radians (the file
says `angle: radian`), every number written as Python's shortest exact form (so the floats
read back bit for bit), each shape with its own mass, and only the keys whose value differs
from the format's default. `tdphys convert` (tdphys/cli.py) uses it for MJCF and URDF robots;
it checks the round trip itself (convert_check).
"""

from __future__ import annotations

import math

from .schema import (
    JOINT_AXES,
    PASSIVE_KEYS,
    Body,
    Camera,
    Ground,
    Joint,
    Motor,
    Robot,
    Sensor,
    Shape,
    Solver,
)

__all__ = ["WriteError", "robot_yaml"]

_SHAPE0, _MOTOR0, _SOLVER0, _GROUND0 = Shape("sphere"), Motor(""), Solver(), Ground()
_CAMERA0 = Camera("")
_NO_RANGE = (-1e9, 1e9)
_WORLD_SURFACE = (
    "friction",
    "restitution",
    "torsional_friction",
    "color",
    "texture",
    "contact_hz",
    "contact_damping",
)
_BODY_SURFACE = (*_WORLD_SURFACE[:4], "group", "ground", *_WORLD_SURFACE[4:])


class WriteError(ValueError):
    """The robot has something the YAML format cannot say (a contact set no body pairs or
    groups give)."""


def _num(x: float) -> str:
    """The shortest text that reads back as exactly x (no -0, no exponent quirks)."""
    x = float(x)
    if x == 0.0:
        return "0"
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def _vec(values) -> str:
    return "[" + ", ".join(_num(v) for v in values) + "]"


def _flow(entries: list[tuple[str, str]]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in entries) + "}"


def robot_yaml(robot: Robot, title: str = "") -> str:
    """The robot as YAML text; `title` opens the file as a comment (e.g. where it came from)."""
    out: list[str] = []
    if title:
        out += [f"# {line}" if line else "#" for line in title.splitlines()]
    out += [
        "# Robot file (docs/robot-format.md). SI units: m, kg, s, N; angles in radians.",
        f"name: {_name(robot.name)}",
        "angle: radian",
        "",
    ]
    out += _section(
        "solver",
        _changed(robot.solver, _SOLVER0, vectors=("gravity",)),
        "time stepping and contact softness",
    )
    out += _ground(robot.ground)
    out += _world(robot.world_shapes)
    out += _contacts(robot)
    out += [
        "# Bodies: pose at t = 0 (frame origin, [w, x, y, z] body to world); each shape's",
        "# mass is given; `com` and `inertia` [Ixx, Iyy, Izz, Ixy, Ixz, Iyz] (about the",
        "# centre of mass, body axes) replace what the shapes would give.",
        "bodies:",
    ]
    for body in robot.bodies:
        out += _body(body)
    if robot.joints:
        out += [
            "",
            "# Joints: anchor and axes in world coordinates at t = 0; positions are 0",
            "# there. Motors, in order, are the controls.",
            "joints:",
        ]
        for joint in robot.joints:
            out += _joint(joint)
    if robot.sensors:
        out += ["", "sensors:"] + [f"  - {_flow(_sensor(s))}" for s in robot.sensors]
    if robot.cameras:
        out += ["", "cameras:"] + [f"  - {_flow(_camera(c))}" for c in robot.cameras]
    return "\n".join(out) + "\n"


def _name(text: str) -> str:
    """A name as YAML text: plain when it reads back as the same string, else quoted."""
    import yaml

    plain = yaml.safe_load(text) if text.strip() == text and text else None
    return (
        text
        if plain == text and ":" not in text and "#" not in text
        else '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    )


def _changed(value, default, vectors=()) -> list[tuple[str, str]]:
    """(key, text) of the dataclass fields of `value` that differ from `default`."""
    out = []
    for key in value.__dataclass_fields__:
        v = getattr(value, key)
        if v == getattr(default, key):
            continue
        if isinstance(v, bool):
            out.append((key, "true" if v else "false"))
        elif isinstance(v, (int, float)) and key not in vectors:
            out.append((key, str(v) if isinstance(v, int) else _num(v)))
        elif isinstance(v, str):
            out.append((key, _name(v)))
        elif v is None:
            out.append((key, "null"))
        else:
            out.append((key, _vec(v)))
    return out


def _section(key: str, entries, comment: str) -> list[str]:
    if not entries:
        return []
    return [f"# {comment}", f"{key}: {_flow(entries)}", ""]


def _ground(ground: Ground) -> list[str]:
    entries = _changed(ground, _GROUND0, vectors=("color",))
    return _section("ground", entries, "the plane z = 0")


def _world(shapes) -> list[str]:
    """`world: shapes:`, the shapes fixed in the world (Robot.world_shapes)."""
    if not shapes:
        return []
    return [
        "# Shapes fixed in the world: pose in the world frame; a plane's normal is its local",
        "# +z (solid below). Every body shape with `ground: true` collides with them.",
        "world:",
        "  shapes:",
        *[f"    - {_flow(_world_shape(s))}" for s in shapes],
        "",
    ]


def _world_shape(shape: Shape) -> list[tuple[str, str]]:
    """A world shape's YAML entries: no mass, group or ground flag (the loader refuses them)."""
    return _geometry(shape) + _surface(shape, _WORLD_SURFACE)


def _contacts(robot: Robot) -> list[str]:
    """`contacts:` whose body pairs and exclusions, with the shapes' groups, give exactly the
    robot's contact pairs."""
    wanted: dict[tuple[int, int], set] = {}
    for p in robot.contact_pairs:
        wanted.setdefault((p.body_a, p.body_b), set()).add((p.shape_a, p.shape_b))
    index = {b.name: i for i, b in enumerate(robot.bodies)}
    joined = {frozenset((index[j.parent], index[j.child])) for j in robot.joints if j.parent}
    pairs, exclude = [], []
    bodies = robot.bodies
    candidates = set(wanted)
    for a in range(len(bodies)):
        for b in range(a + 1, len(bodies)):
            if any(
                sa.group and sa.group == sb.group
                for sa in bodies[a].shapes
                for sb in bodies[b].shapes
            ):
                candidates.add((a, b))
    for a, b in sorted(candidates):
        target = wanted.get((a, b), set())
        every = {(i, k) for i in range(len(bodies[a].shapes)) for k in range(len(bodies[b].shapes))}
        grouped = (
            set()
            if frozenset((a, b)) in joined
            else {
                (i, k)
                for i, sa in enumerate(bodies[a].shapes)
                for k, sb in enumerate(bodies[b].shapes)
                if sa.group and sa.group == sb.group
            }
        )
        if target == grouped:
            continue
        if target == every:
            pairs.append((a, b))
        elif not target:
            exclude.append((a, b))
        else:
            raise WriteError(
                f"bodies '{bodies[a].name}' and '{bodies[b].name}' collide with "
                "some of each other's shapes only, which body pairs and groups "
                "cannot say"
            )
    entries = []
    if robot.friction_combine != "geometric":
        entries.append(f"  friction: {robot.friction_combine}")
    for key, listed in (("pairs", pairs), ("exclude", exclude)):
        if listed:
            entries.append(f"  {key}:")
            entries += [
                f"    - [{_name(bodies[a].name)}, {_name(bodies[b].name)}]" for a, b in listed
            ]
    if not entries:
        return []
    return [
        "# Body pairs that collide (besides shapes sharing a nonzero group)",
        "contacts:",
        *entries,
        "",
    ]


def _body(body: Body) -> list[str]:
    mass = sum(s.mass for s in body.shapes)
    out = [f"  - name: {_name(body.name)}    # {mass:.6g} kg"]
    for key, value, default in (
        ("pos", body.pos, (0.0,) * 3),
        ("quat", body.quat, (1.0, 0.0, 0.0, 0.0)),
        ("vel", body.vel, (0.0,) * 3),
        ("omega", body.omega, (0.0,) * 3),
    ):
        if tuple(value) != default:
            out.append(f"    {key}: {_vec(value)}")
    if body.com is not None:
        out.append(f"    com: {_vec(body.com)}")
    if body.inertia is not None:
        values = tuple(body.inertia) + (
            tuple(body.inertia_products) if any(body.inertia_products) else ()
        )
        out.append(f"    inertia: {_vec(values)}")
    out.append("    shapes:")
    out += [f"      - {_flow(_shape(s))}" for s in body.shapes]
    return out


def _shape(shape: Shape) -> list[tuple[str, str]]:
    return _geometry(shape) + [("mass", _num(shape.mass))] + _surface(shape, _BODY_SURFACE)


def _geometry(shape: Shape) -> list[tuple[str, str]]:
    """type, sizes [m] and pose of a shape (a plane: its drawn half sizes, when bounded)."""
    entries = [("type", shape.kind)]
    if shape.kind in ("sphere", "capsule", "cylinder"):
        entries.append(("radius", _num(shape.radius)))
    if shape.kind in ("capsule", "cylinder"):
        entries.append(("half_length", _num(shape.half_length)))
    if shape.kind == "box":
        entries.append(("size", _vec(shape.half_extents)))
    if shape.kind == "plane" and any(shape.half_extents[:2]):
        entries.append(("size", _vec(shape.half_extents[:2])))
    if tuple(shape.pos) != (0.0, 0.0, 0.0):
        entries.append(("pos", _vec(shape.pos)))
    if tuple(shape.quat) != (1.0, 0.0, 0.0, 0.0):
        entries.append(("quat", _vec(shape.quat)))
    return entries


def _surface(shape: Shape, keys: tuple[str, ...]) -> list[tuple[str, str]]:
    """The entries among `keys` whose value differs from the format's default."""
    changed = dict(_changed(shape, _SHAPE0, vectors=("color",)))
    return [(key, changed[key]) for key in keys if key in changed]


def _joint(joint: Joint) -> list[str]:
    out = [f"  - name: {_name(joint.name)}", f"    type: {joint.kind}"]
    if joint.parent is not None:
        out.append(f"    parent: {_name(joint.parent)}")
    out += [f"    child: {_name(joint.child)}", f"    anchor: {_vec(joint.anchor)}"]
    if JOINT_AXES[joint.kind] == 1:
        out.append(f"    axis: {_vec(joint.axes[0])}")
        if joint.limits[0] is not None:
            out.append(f"    limit: {_vec(joint.limits[0])}")
    elif JOINT_AXES[joint.kind] > 1:
        out.append("    axes: [" + ", ".join(_vec(a) for a in joint.axes) + "]")
        if any(lim is not None for lim in joint.limits):
            out.append(
                "    limits: ["
                + ", ".join("null" if lim is None else _vec(lim) for lim in joint.limits)
                + "]"
            )
    for key in PASSIVE_KEYS:  # one number when every axis has it, else one per axis
        values = getattr(joint, key)
        if any(values):
            same = all(v == values[0] for v in values)
            out.append(f"    {key}: {_num(values[0]) if same else _vec(values)}")
    if joint.motors:
        out.append("    motors:")
        out += [f"      - {_flow(_motor(m))}" for m in joint.motors]
    return out


def _motor(motor: Motor) -> list[tuple[str, str]]:
    entries = [("name", _name(motor.name))]
    if motor.axis:
        entries.append(("axis", str(motor.axis)))
    entries.append(("mode", motor.mode))
    pd = motor.kp > 0 or motor.kv > 0  # a PD servo uses neither gain nor max_velocity
    if motor.mode == "position" and not pd:
        entries.append(("gain", _num(motor.gain)))
    for key in ("kp", "kv"):
        if getattr(motor, key):
            entries.append((key, _num(getattr(motor, key))))
    entries.append(("max_force", _num(motor.max_force)))
    if motor.mode != "force" and not pd:
        entries.append(("max_velocity", _num(motor.max_velocity)))
    if tuple(motor.ctrl_range) != _NO_RANGE:
        entries.append(("range", _vec(motor.ctrl_range)))
    if motor.gear != 1.0:
        entries.append(("gear", _num(motor.gear)))
    return entries


def _sensor(sensor: Sensor) -> list[tuple[str, str]]:
    entries = [("name", _name(sensor.name)), ("type", sensor.kind)]
    for key in ("body", "reference", "joint", "motor"):
        if getattr(sensor, key) is not None:
            entries.append((key, _name(getattr(sensor, key))))
    if sensor.kind.startswith("joint_") and sensor.axis:
        entries.append(("axis", str(sensor.axis)))
    return entries


def _camera(camera: Camera) -> list[tuple[str, str]]:
    entries = [("name", _name(camera.name))]
    vectors = ("pos", "quat", "background", "light")
    entries += [e for e in _changed(camera, _CAMERA0, vectors=vectors) if e[0] != "name"]
    return entries


def same_model(a: Robot, b: Robot) -> bool:
    """Whether two robots are the same model (all but where they were read from)."""
    from dataclasses import replace

    return replace(a, source="") == replace(b, source="") or _close(a, b)


def _close(a: Robot, b: Robot) -> bool:
    """Equal up to the normalisation the loader applies to unit vectors and quaternions (a
    last-bit difference)."""
    from dataclasses import astuple, replace

    flat_a = _flatten(astuple(replace(a, source="")))
    flat_b = _flatten(astuple(replace(b, source="")))
    if len(flat_a) != len(flat_b):
        return False
    for x, y in zip(flat_a, flat_b):
        if isinstance(x, float) and isinstance(y, float):
            if not math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-15):
                return False
        elif x != y:
            return False
    return True


def _flatten(value) -> list:
    if isinstance(value, (tuple, list)):
        return [x for v in value for x in _flatten(v)]
    return [value]
