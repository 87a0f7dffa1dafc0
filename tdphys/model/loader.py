"""Read robot YAML files into validated, immutable `Robot` objects (tdphys.model.schema).

The file format is specified in docs/robot-format.md and the conventions (frames, units,
quaternion order) in docs/conventions.md. In short: SI units, z up, quaternions [w, x, y, z]
body-to-world, angles in degrees unless the file says ``angle: radian``; the returned model is
always in radians.

Every problem raises `tdphys.errors.ModelError` naming the file, the 1-based line, the dotted key
path (``bodies[2].shapes[0].radius``), what is wrong and how to fix it. The YAML is read with
``yaml.compose`` so that every value keeps its line; nothing is silently ignored.

Public API: `load_robot(path, vars=None)` and `parse_robot(text, source, vars=None)`; `vars`
overrides the values of the file's `vars:` (named numbers that the other numbers may use in
arithmetic expressions, e.g. a leg length that co-design trains, tdphys/optim).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from collections.abc import Callable

import yaml

from ..errors import ModelError
from ..rotations import as_tuple, euler_quat, matrix_quat, quat_z_to
from . import expressions, limits, placement
from .schema import (
    FRICTION_COMBINE,
    GIMBAL_MIDDLE_MAX,
    JOINT_AXES,
    JOINT_KINDS,
    LINEAR_JOINTS,
    MOTOR_MODES,
    SENSOR_KINDS,
    SHAPE_KINDS,
    WORLD_SHAPE_KINDS,
    Body,
    Camera,
    ContactPair,
    Ground,
    Joint,
    Motor,
    Quat,
    Robot,
    Sensor,
    Shape,
    Solver,
    Vec3,
)
from .textures import read_texture
from .yamlread import (
    TAG,
    VARS,
    At,
    Map,
    boolean,
    choice,
    compose,
    describe,
    did_you_mean,
    integer,
    is_null,
    items,
    listing,
    non_negative_int,
    number,
    positive_int,
    read_text_file,
    string,
    vector,
    vector_items,
)

__all__ = ["load_robot", "parse_robot"]

WORLD = "world"  # the reserved parent name meaning "attached to the world"
ANGLE_UNITS = {"degree": math.pi / 180.0, "radian": 1.0}
PERPENDICULAR_TOL = 1e-6  # |cos| of the angle between universal axes, after normalising
INDEPENDENT_TOL = 1e-6  # |det| of the three normalised ball axes
ZERO_LENGTH = 1e-9  # [m] or [-]: vectors shorter than this count as zero

_SHAPE0 = Shape(kind="sphere")
_MOTOR0 = Motor(name="")
_DEFAULT_DENSITY = 1000.0  # [kg/m^3] shape density when neither file nor defaults give one


# ---------------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------------


def load_robot(path: str | Path, vars: dict[str, float] | None = None) -> Robot:
    """Read and validate the robot YAML file at `path` (see docs/robot-format.md); `vars`
    replaces values of the file's `vars:` (each name must be declared there)."""
    return parse_robot(read_text_file(path, "robot file"), str(path), vars)


def parse_robot(text: str, source: str, vars: dict[str, float] | None = None) -> Robot:
    """Validate robot YAML `text`; `source` names it in errors and gives the default name;
    `vars` replaces values of its `vars:`."""
    top = Map(compose(text, source), "the robot file").only(_TOP_KEYS)
    values, ranges = _vars(top.get("vars"), source, vars)
    token = VARS.set(values)
    try:
        robot = _parse(top, source)
    finally:
        VARS.reset(token)
    robot = replace(
        robot,
        vars=tuple(values.items()),
        var_ranges=tuple((n, lo, hi) for n, (lo, hi) in ranges.items()),
    )
    if vars:
        _check_not_sunk(robot, parse_robot(text, source), top, vars)
    return robot


def _check_not_sunk(robot: Robot, reference: Robot, top: Map, given: dict) -> None:
    """A ModelError when the `given` vars start a body below the ground that the file's own
    values (`reference`) start above it."""
    sunk = placement.sunk_shapes(robot, reference)
    if not sunk:
        return
    i, j, z, z_ref = sunk[0]
    body_at = items(top.get("bodies"), "bodies")[i]
    shape_at = items(Map(body_at, "a body").get("shapes"), "shapes")[j]
    shown = ", ".join(f"{n}={float(v):g}" for n, v in given.items())
    raise shape_at.error(
        f"with {shown} body '{robot.bodies[i].name}' starts {-z:.3g} m below the ground "
        f"(this shape's lowest point at z = {z:.3g} m; with the file's own vars at "
        f"z = {z_ref:.3g} m)",
        "give the vars values that keep every body above the ground, "
        "or declare their `min`/`max` under `vars:` (docs/robot-format.md#vars)",
    )


def _parse(top: Map, source: str) -> Robot:
    ang = _angle_scale(top.get("angle"))
    solver = _read_fields(top.get("solver"), "solver", Solver(), _SOLVER_FIELDS)
    ground = _read_fields(top.get("ground"), "ground", Ground(), _GROUND_FIELDS)
    shape_defaults, motor_defaults = _defaults(top.get("defaults"))
    bodies = _bodies(top, shape_defaults, ang)
    joints = _joints(top.get("joints"), bodies, motor_defaults, ang)
    sensors = _sensors(top.get("sensors"), bodies, joints)
    pairs, friction = _contact_pairs(top.get("contacts"), bodies, joints)
    cameras = _cameras(top.get("cameras"), bodies, ang)
    world_shapes = _world_shapes(top.get("world"), shape_defaults, ang)
    name_at = top.get("name")
    name = string(name_at) if name_at is not None else Path(source).stem
    return Robot(
        name=name,
        source=source,
        bodies=tuple(bodies),
        joints=tuple(joints),
        sensors=tuple(sensors),
        solver=solver,
        ground=ground,
        contact_pairs=pairs,
        world_shapes=tuple(world_shapes),
        cameras=tuple(cameras),
        friction_combine=friction,
    )


# ---------------------------------------------------------------------------------------------
# YAML nodes with their place in the file
# ---------------------------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------------
# Scalars, vectors and range checks
# ---------------------------------------------------------------------------------------------

_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _vars(
    at: At | None, source: str, given: dict[str, float] | None
) -> tuple[dict[str, float], dict[str, tuple]]:
    """The file's `vars:` (name -> number), with `given` values replacing them, and the
    declared ranges (name -> (min, max), -inf/inf where a bound is not given)."""
    values: dict[str, float] = {}
    ranges: dict[str, tuple[float, float]] = {}
    ats: dict[str, At] = {}
    if at is not None:
        m = Map(at, "vars")
        for name in list(m._values):
            key_at = m.get(name)
            if not _VAR_NAME.fullmatch(name) or name in expressions.RESERVED:
                raise m.key_at(name).error(
                    f"'{name}' cannot name a var",
                    "use letters, digits and _ (not starting with a digit), and "
                    f"none of {', '.join(sorted(expressions.RESERVED))}",
                )
            values[name], ranges[name] = _var(key_at)
            ats[name] = key_at
    for name, value in (given or {}).items():
        if name not in values:
            raise ModelError(
                source,
                "vars",
                f"'{name}' is not a var of this robot file (declared: {listing(values)})",
                did_you_mean(name, values) if values else f"declare it under `vars:` in {source}",
            )
        try:
            v = float(value)
        except (TypeError, ValueError, OverflowError):
            v = math.nan
        problem = limits.magnitude_problem(v)
        if problem:
            raise ModelError(
                source,
                f"vars.{name}",
                f"the value given is not finite or too large ({problem})",
                "give a finite number",
            )
        lo, hi = ranges[name]
        if not lo <= v <= hi:
            raise ats[name].error(
                f"the value given, {v:g}, is outside the var's range [{lo:g}, {hi:g}]",
                f"give {name} a value from {lo:g} to {hi:g}",
            )
        values[name] = v
    return values, {n: r for n, r in ranges.items() if r != (-math.inf, math.inf)}


def _var(at: At) -> tuple[float, tuple[float, float]]:
    """One var: a plain number, or {value, min, max} (both bounds optional)."""
    if not isinstance(at.node, yaml.MappingNode):
        return number(at), (-math.inf, math.inf)
    m = Map(at, f"var '{at.path.rsplit('.', 1)[-1]}'").only(("value", "min", "max"))
    value = number(
        m.require("value", "give the var's value, e.g. `{value: 0.145, min: 0.05, max: 0.3}`")
    )
    lo = number(m.get("min")) if "min" in m else -math.inf
    hi = number(m.get("max")) if "max" in m else math.inf
    if lo >= hi:
        raise m.get("max").error(f"min {lo:g} is not below max {hi:g}", "give min < max")
    if not lo <= value <= hi:
        raise m.get("value").error(
            f"{value:g} is outside the var's range [{lo:g}, {hi:g}]", "give a value from min to max"
        )
    return value, (lo, hi)


def _vec3(at: At) -> Vec3:
    return vector(at, 3, "[x, y, z]")  # type: ignore[return-value]


def _positive(at: At, unit: str) -> float:
    value = number(at)
    if value <= 0.0:
        raise at.error(
            f"must be > 0, got {value:g}", f"give a positive value{' in ' + unit if unit else ''}"
        )
    return value


def _non_negative(at: At, unit: str = "") -> float:
    value = number(at)
    if value < 0.0:
        raise at.error(
            f"must be >= 0, got {value:g}",
            f"give zero or a positive value{' in ' + unit if unit else ''}",
        )
    return value


def _fraction(at: At) -> float:
    """A number in [0, 1]."""
    value = number(at)
    if not 0.0 <= value <= 1.0:
        raise at.error(f"must be between 0 and 1, got {value:g}", "give a value in [0, 1]")
    return value


def _ranged(read: Callable[[At], float], span: tuple, what: str) -> Callable[[At], float]:
    """A reader: `read`'s value, refused outside limits' span (low, high, unit)."""

    def checked(at: At) -> float:
        value = read(at)
        problem = limits.in_range(value, span, what)
        if problem:
            raise at.error(
                problem,
                f"give a value from {span[0]:g} to {span[1]:g}{' ' + span[2] if span[2] else ''}",
            )
        return value

    return checked


def _gravity(at: At) -> Vec3:
    """[m/s^2] a 3-vector of length at most limits.GRAVITY's."""
    g = _vec3(at)
    norm = math.sqrt(sum(c * c for c in g))
    if norm > limits.GRAVITY[1]:
        raise at.error(
            f"gravity of {norm:g} m/s^2 is outside the sensible range "
            f"[0, {limits.GRAVITY[1]:g}] m/s^2",
            "give the acceleration in m/s^2, e.g. [0, 0, -9.81]",
        )
    return g


def _color(at: At) -> Vec3:
    """RGB, each in [0, 1]."""
    return tuple(_fraction(a) for a in vector_items(at, 3, "[r, g, b]"))  # type: ignore


def _texture(at: At) -> str | None:
    """An image file's absolute path, given relative to the robot file (or absolute), that
    exists and reads as an image; `null` for none (to turn off an inherited texture)."""
    if is_null(at):
        return None
    node = at.node
    if not (isinstance(node, yaml.ScalarNode) and node.tag == TAG + "str" and node.value):
        raise at.error(
            f"expected the path of an image file, got {describe(node)}",
            "write a path relative to the robot file, e.g. textures/crate.png",
        )
    from ..paths import path_problem

    given = Path(node.value).expanduser()
    path = (given if given.is_absolute() else Path(at.file).parent / given).resolve()
    problem = path_problem(path)
    if problem == "does not exist":
        raise at.error(
            f"texture file '{node.value}' not found (looked for {path})",
            "give the path of an image file relative to the robot file's folder, "
            "or an absolute path",
        )
    if problem:
        raise at.error(
            f"texture '{node.value}' ({path}) {problem}",
            "give the path of an image file (PNG, JPEG, ...)",
        )
    try:
        read_texture(path)
    except (OSError, ValueError) as exc:
        raise at.error(
            f"cannot use '{node.value}' as a texture: {exc}",
            "give a PNG (or another image Pillow reads, e.g. JPEG) with grey, RGB or RGBA pixels",
        ) from exc
    return str(path)


def _interval(at: At, scale: float) -> tuple[float, float]:
    """[lo, hi] with lo < hi, multiplied by `scale` (the angle unit, or 1 for metres)."""
    lo, hi = vector(at, 2, "[lo, hi]")
    if lo >= hi:
        raise at.error(
            f"lower bound {lo:g} is not below upper bound {hi:g}", "write [lo, hi] with lo < hi"
        )
    return lo * scale, hi * scale


def _unit_vector(at: At) -> Vec3:
    """A 3-vector normalised to length 1; zero length is an error."""
    v = _vec3(at)
    norm = math.sqrt(sum(c * c for c in v))
    if norm < ZERO_LENGTH:
        raise at.error("axis has zero length", "give a nonzero direction such as [0, 0, 1]")
    return tuple(c / norm for c in v)  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# Rotations (quaternions [w, x, y, z])
# ---------------------------------------------------------------------------------------------


def _quaternion(at: At) -> Quat:
    """[w, x, y, z], normalised; zero norm is an error."""
    q = vector(at, 4, "[w, x, y, z]")
    norm = math.sqrt(sum(c * c for c in q))
    if norm < ZERO_LENGTH:
        raise at.error(
            "quaternion has zero norm",
            "give a rotation such as [1, 0, 0, 0] (the identity), or use euler",
        )
    return tuple(c / norm for c in q)  # type: ignore[return-value]


def _orientation(m: Map, ang: float) -> Quat:
    """`quat` [w, x, y, z] or `euler` [rx, ry, rz] (file angle unit) of a body or shape."""
    quat_at, euler_at = m.get("quat"), m.get("euler")
    if quat_at is not None and euler_at is not None:
        raise m.key_at("euler").error(
            "both quat and euler are given", "give the orientation once: either quat or euler"
        )
    if quat_at is not None:
        return _quaternion(quat_at)
    if euler_at is not None:
        rx, ry, rz = vector(euler_at, 3, "[rx, ry, rz]")
        return as_tuple(euler_quat(rx * ang, ry * ang, rz * ang))
    return (1.0, 0.0, 0.0, 0.0)


# ---------------------------------------------------------------------------------------------
# Top level: angle unit, solver, ground, defaults
# ---------------------------------------------------------------------------------------------

_TOP_KEYS = (
    "name",
    "vars",
    "angle",
    "solver",
    "ground",
    "defaults",
    "bodies",
    "joints",
    "sensors",
    "contacts",
    "world",
    "cameras",
)

_SOLVER_FIELDS: dict[str, Callable[[At], object]] = {
    "dt": _ranged(lambda a: _positive(a, "s"), limits.DT, "a time step of"),
    "substeps": _ranged(positive_int, limits.SUBSTEPS, "a substep count of"),
    "iterations": _ranged(positive_int, limits.ITERATIONS, "a sweep count of"),
    "warm_start": _fraction,
    "gravity": _gravity,
    "joint_hz": lambda a: _non_negative(a, "Hz"),
    "joint_damping": _non_negative,
    "contact_hz": lambda a: _non_negative(a, "Hz"),
    "contact_damping": _non_negative,
    "restitution_velocity": lambda a: _non_negative(a, "m/s"),
    "max_push_velocity": lambda a: _positive(a, "m/s"),
    "contact_margin": lambda a: _non_negative(a, "m"),
    "limit_margin": _non_negative,
}

_GROUND_FIELDS: dict[str, Callable[[At], object]] = {
    "enabled": boolean,
    "friction": _non_negative,
    "restitution": _fraction,
    "torsional_friction": lambda a: _non_negative(a, "m"),
    "color": _color,
    "checker": lambda a: _non_negative(a, "m"),
    "texture": _texture,
    "texture_size": lambda a: _positive(a, "m"),
    "contact_hz": lambda a: _non_negative(a, "Hz"),
    "contact_damping": _non_negative,
}


def _angle_scale(at: At | None) -> float:
    """Radians per file angle unit: pi/180 for 'degree' (the default), 1 for 'radian'."""
    if at is None:
        return ANGLE_UNITS["degree"]
    return ANGLE_UNITS[choice(at, ANGLE_UNITS, "angle unit")]


def _read_fields(at: At | None, what: str, base, fields: dict[str, Callable[[At], object]]):
    """The dataclass `base` overridden by mapping `at`, which may hold only `fields`."""
    if at is None:
        return base
    return _override(Map(at, what).only(fields), base, fields)


def _override(m: Map, base, fields: dict[str, Callable[[At], object]]):
    """The dataclass `base` with each of `fields` present in `m` replaced by its reader's value."""
    return replace(base, **{k: read(m.get(k)) for k, read in fields.items() if k in m})


@dataclass(frozen=True)
class _ShapeDefaults:
    """Inherited shape properties (defaults.shape); units as in schema.Shape."""

    density: float = _DEFAULT_DENSITY  # [kg/m^3]
    friction: float = _SHAPE0.friction
    restitution: float = _SHAPE0.restitution
    torsional_friction: float = _SHAPE0.torsional_friction
    color: Vec3 = _SHAPE0.color
    group: int = _SHAPE0.group
    ground: bool = _SHAPE0.ground
    texture: str | None = _SHAPE0.texture
    contact_hz: float | None = None
    contact_damping: float | None = None


@dataclass(frozen=True)
class _MotorDefaults:
    """Inherited motor properties (defaults.motor) as written in the file.

    max_velocity and range stay in file units here (the angle unit for angular joints, metres
    for sliders) and are converted per joint; None means the schema default.
    """

    mode: str = _MOTOR0.mode
    gain: float = _MOTOR0.gain
    kp: float = _MOTOR0.kp
    kv: float = _MOTOR0.kv
    max_force: float = _MOTOR0.max_force
    max_velocity: float | None = None
    range: tuple[float, float] | None = None


_SURFACE_FIELDS: dict[str, Callable[[At], object]] = {
    "friction": _non_negative,
    "restitution": _fraction,
    "torsional_friction": lambda a: _non_negative(a, "m"),
    "color": _color,
    "group": non_negative_int,
    "ground": boolean,
    "texture": _texture,
    "contact_hz": lambda a: _non_negative(a, "Hz"),
    "contact_damping": _non_negative,
}

_MOTOR_FIELDS: dict[str, Callable[[At], object]] = {
    "mode": lambda a: choice(a, MOTOR_MODES, "motor mode"),
    "gain": lambda a: _positive(a, "1/s"),
    "kp": lambda a: _non_negative(a, "N m/rad (angular) or N/m (slider)"),
    "kv": lambda a: _non_negative(a, "N m s/rad (angular) or N s/m (slider)"),
    "max_force": lambda a: _positive(a, "N m (angular) or N (slider)"),
    "max_velocity": lambda a: _positive(a, "the file's angle unit per second, or m/s"),
    "range": lambda a: _interval(a, 1.0),
}


def _defaults(at: At | None) -> tuple[_ShapeDefaults, _MotorDefaults]:
    """The `defaults:` section: `shape:` and `motor:` properties inherited by every entry."""
    if at is None:
        return _ShapeDefaults(), _MotorDefaults()
    m = Map(at, "defaults").only(("shape", "motor"))
    shape_fields = {"density": _density, **_SURFACE_FIELDS}
    shapes = _read_fields(m.get("shape"), "defaults.shape", _ShapeDefaults(), shape_fields)
    motors = _read_fields(m.get("motor"), "defaults.motor", _MotorDefaults(), _MOTOR_FIELDS)
    return shapes, motors


# ---------------------------------------------------------------------------------------------
# Bodies and shapes
# ---------------------------------------------------------------------------------------------

_BODY_KEYS = ("name", "pos", "quat", "euler", "vel", "omega", "mass", "inertia", "com", "shapes")
_SHAPE_COMMON = ("type", "pos", "quat", "euler", "density", "mass", *_SURFACE_FIELDS)
_SHAPE_GEOMETRY = {
    "sphere": ("radius",),
    "box": ("size",),
    "capsule": ("radius", "half_length", "fromto"),
    "cylinder": ("radius", "half_length", "fromto"),
}


@dataclass(frozen=True)
class _ShapeDraft:
    """A parsed shape before its mass is resolved.

    volume: [m^3]. mass: [kg] from the shape's own `mass` or `density`, None when it gives
    neither (then it shares the body's `mass`, or takes the default density).
    """

    at: At
    shape: Shape
    volume: float
    mass: float | None
    density: float  # [kg/m^3] inherited from defaults.shape, used when nothing else applies


def _bodies(top: Map, defaults: _ShapeDefaults, ang: float) -> list[Body]:
    """All bodies in file order."""
    entries = items(
        top.require("bodies", "add a `bodies:` list with at least one body"),
        "bodies",
        allow_empty=False,
    )
    bodies, seen = [], {}
    for at in entries:
        body = _body(at, defaults, ang)
        if body.name in seen:
            raise (
                Map(at, "a body")
                .get("name")
                .error(
                    f"duplicate body name '{body.name}' (also bodies[{seen[body.name]}])",
                    "give every body a unique name",
                )
            )
        seen[body.name] = len(bodies)
        bodies.append(body)
    return bodies


def _body(at: At, defaults: _ShapeDefaults, ang: float) -> Body:
    """One body: pose [m], velocities [m/s, rad/s], optional mass [kg] and inertia [kg m^2]."""
    m = Map(at, "a body").only(_BODY_KEYS)
    name = string(m.require("name", "give the body a unique `name:`"))
    if name == WORLD:
        raise m.get("name").error(
            f"'{WORLD}' is reserved for the fixed world frame", "rename the body"
        )
    drafts = [
        _shape(a, defaults, ang)
        for a in items(
            m.require("shapes", "give the body a `shapes:` list"), "shapes", allow_empty=False
        )
    ]
    mass_at = m.get("mass")
    masses = (
        _resolve_masses(mass_at, drafts)
        if mass_at is not None
        else [d.mass if d.mass is not None else d.density * d.volume for d in drafts]
    )
    problem = limits.in_range(sum(masses), limits.MASS, f"body '{name}' weighs")
    if problem:
        raise (mass_at or m.get("shapes")).error(
            problem, "give its shapes sizes and densities (or a `mass`) in SI units: m, kg/m^3, kg"
        )
    omega = _vec3(m.get("omega")) if "omega" in m else (0.0, 0.0, 0.0)
    moments, products = _inertia(m.get("inertia")) if "inertia" in m else (None, (0.0,) * 3)
    body = Body(
        name=name,
        shapes=tuple(replace(d.shape, mass=mass) for d, mass in zip(drafts, masses)),
        pos=_vec3(m.get("pos")) if "pos" in m else (0.0, 0.0, 0.0),
        quat=_orientation(m, ang),
        vel=_vec3(m.get("vel")) if "vel" in m else (0.0, 0.0, 0.0),
        omega=tuple(w * ang for w in omega),  # type: ignore[arg-type]
        inertia=moments,
        inertia_products=products,
        com=_vec3(m.get("com")) if "com" in m else None,
    )
    return body


_INERTIA_FORMS = "[Ixx, Iyy, Izz] or [Ixx, Iyy, Izz, Ixy, Ixz, Iyz]"


def _inertia(at: At) -> tuple[Vec3, Vec3]:
    """(moments Ixx, Iyy, Izz, products Ixy, Ixz, Iyz) [kg m^2] of a body's inertia about its
    centre of mass in body axes: three moments (principal axes along the body axes) or the six
    entries of the tensor, whose principal moments must each lie in limits.INERTIA and obey
    the triangle inequality."""
    n = len(at.node.value) if isinstance(at.node, yaml.SequenceNode) else 0
    items = vector_items(at, 6 if n == 6 else 3, _INERTIA_FORMS)
    values = [number(a) for a in items]
    moments, products = tuple(values[:3]), tuple(values[3:]) or (0.0, 0.0, 0.0)
    if n != 6:
        for a in items:
            _ranged(lambda x: _positive(x, "kg m^2"), limits.INERTIA, "a moment of")(a)
    principal = _principal_moments(moments, products)
    low, high, _ = limits.INERTIA
    if n == 6 and not all(low <= p <= high for p in principal):
        raise at.error(
            f"the principal moments of this tensor are "
            f"{', '.join(f'{p:.6g}' for p in principal)} kg m^2, outside "
            f"[{low:g}, {high:g}]",
            "give a positive definite tensor in kg m^2 "
            "(the moments about the centre of mass, in body axes)",
        )
    total = sum(principal)
    for value in principal:
        if value > total - value + 1e-9 * total:
            raise at.error(
                f"principal moment {value:g} exceeds the sum of the other two; "
                "no rigid body has such an inertia",
                "check the values (each moment must be <= the sum of the others)",
            )
    return moments, products  # type: ignore[return-value]


def _principal_moments(moments, products) -> tuple[float, float, float]:
    """Eigenvalues of the symmetric tensor [[Ixx, Ixy, Ixz], [Ixy, Iyy, Iyz], [Ixz, Iyz, Izz]]
    (the moments themselves when the products are zero), smallest first."""
    if not any(products):
        return tuple(sorted(moments))  # type: ignore[return-value]
    import numpy as np

    (xx, yy, zz), (xy, xz, yz) = moments, products
    return tuple(
        float(v) for v in np.linalg.eigvalsh(np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]]))
    )  # type: ignore[return-value]


def _shape(at: At, defaults: _ShapeDefaults, ang: float) -> _ShapeDraft:
    """One shape: geometry [m] and pose in the body frame, surface properties, own mass."""
    kind = _kind(at, "a shape", SHAPE_KINDS, "shape type")
    m = Map(at, f"a {kind} shape").only(
        (*_SHAPE_COMMON, *_SHAPE_GEOMETRY[kind]), _elsewhere(_SHAPE_GEOMETRY, kind, "shapes")
    )
    geometry = _shape_geometry(m, kind, ang)
    volume = _volume(kind, geometry["radius"], geometry["half_extents"], geometry["half_length"])
    surface = _override(m, defaults, _SURFACE_FIELDS)
    shape = Shape(
        kind=kind,
        mass=1.0,
        group=surface.group,
        ground=surface.ground,
        **_surface_of(surface),
        **geometry,
    )
    return _ShapeDraft(
        at=at, shape=shape, volume=volume, mass=_own_mass(m, volume), density=defaults.density
    )


def _surface_of(surface: _ShapeDefaults) -> dict:
    """A shape's surface properties (Shape's keyword arguments) from the resolved `surface`."""
    keys = ("friction", "restitution", "torsional_friction", "color", "texture")
    return {k: getattr(surface, k) for k in (*keys, "contact_hz", "contact_damping")}


def _kind(at: At, what: str, kinds: tuple[str, ...], noun: str) -> str:
    """The required `type:` of a shape, joint or sensor entry, one of `kinds`."""
    type_at = Map(at, what).require("type", f"add `type:` ({' | '.join(kinds)})")
    return choice(type_at, kinds, noun)


def _elsewhere(table: dict[str, tuple[str, ...]], kind: str, noun: str) -> dict[str, str]:
    """Fix sentences for keys that belong to other kinds than `kind` in `table`."""
    hints: dict[str, list[str]] = {}
    for other, keys in table.items():
        for key in keys:
            if key not in table[kind]:
                hints.setdefault(key, []).append(other)
    return {
        k: f"'{k}' belongs to {', '.join(v)} {noun}, not to a {kind}; remove it or change `type`"
        for k, v in hints.items()
    }


def _shape_geometry(m: Map, kind: str, ang: float) -> dict:
    """radius, half_extents, half_length [m], and pos [m] / quat in the body frame."""
    geometry = {
        "radius": 0.0,
        "half_extents": (0.0, 0.0, 0.0),
        "half_length": 0.0,
        "pos": _vec3(m.get("pos")) if "pos" in m else (0.0, 0.0, 0.0),
        "quat": _orientation(m, ang),
    }
    if kind in ("sphere", "capsule", "cylinder"):
        geometry["radius"] = _positive(
            m.require("radius", f"give the {kind} a `radius:` in m"), "m"
        )
    if kind == "box":
        size = m.require("size", "give the box `size: [hx, hy, hz]` (half sizes in m)")
        geometry["half_extents"] = tuple(
            _positive(a, "m (half size)") for a in vector_items(size, 3, "[hx, hy, hz]")
        )
    if kind in ("capsule", "cylinder"):
        geometry.update(_axis_segment(m, kind))
    return geometry


def _axis_segment(m: Map, kind: str) -> dict:
    """A capsule's or cylinder's half_length [m] from `half_length`, or half_length, pos and
    quat from `fromto` (its axis from end to end)."""
    if "fromto" not in m:
        at = m.require(
            "half_length",
            f"give the {kind} `half_length:` (m) or `fromto: [x1, y1, z1, x2, y2, z2]`",
        )
        return {"half_length": _positive(at, "m")}
    for key in ("half_length", "pos", "quat", "euler"):
        if key in m:
            raise m.key_at(key).error(
                f"'{key}' cannot be combined with fromto, which already "
                f"fixes the {kind}'s centre, direction and length",
                f"remove '{key}' or remove fromto",
            )
    at = m.get("fromto")
    x1, y1, z1, x2, y2, z2 = vector(at, 6, "[x1, y1, z1, x2, y2, z2]")
    d = (x2 - x1, y2 - y1, z2 - z1)
    length = math.sqrt(sum(c * c for c in d))
    if length < ZERO_LENGTH:
        raise at.error(
            "fromto has zero length (both end points coincide)",
            "give two different end points, or use a sphere",
        )
    return {
        "half_length": length / 2,
        "pos": ((x1 + x2) / 2, (y1 + y2) / 2, (z1 + z2) / 2),
        "quat": as_tuple(quat_z_to([c / length for c in d])),
    }


def _volume(kind: str, radius: float, half_extents: Vec3, half_length: float) -> float:
    """Volume [m^3] of a sphere, box (from half sizes), capsule or cylinder (from half
    length)."""
    if kind == "sphere":
        return 4.0 / 3.0 * math.pi * radius**3
    if kind == "box":
        return 8.0 * half_extents[0] * half_extents[1] * half_extents[2]
    if kind == "cylinder":
        return math.pi * radius**2 * 2.0 * half_length
    return math.pi * radius**2 * 2.0 * half_length + 4.0 / 3.0 * math.pi * radius**3


def _own_mass(m: Map, volume: float) -> float | None:
    """[kg] from the shape's own `mass`, or `density` [kg/m^3] x volume; None if neither."""
    mass_at, density_at = m.get("mass"), m.get("density")
    if mass_at is not None and density_at is not None:
        raise m.key_at("density").error(
            "both mass and density are given", "give either mass (kg) or density (kg/m^3)"
        )
    if mass_at is not None:
        return _mass(mass_at)
    if density_at is not None:
        return _density(density_at) * volume
    return None


def _mass(at: At) -> float:
    return _ranged(lambda a: _positive(a, "kg"), limits.MASS, "a mass of")(at)


def _density(at: At) -> float:
    return _ranged(lambda a: _positive(a, "kg/m^3"), limits.DENSITY, "a density of")(at)


def _resolve_masses(mass_at: At, drafts: list[_ShapeDraft]) -> list[float]:
    """Share the body's total mass [kg] among the shapes that give no mass, by volume."""
    total = _mass(mass_at)
    given = sum(d.mass for d in drafts if d.mass is not None)
    sharing = [d for d in drafts if d.mass is None]
    if not sharing:
        if abs(given - total) > 1e-9 * total:
            raise mass_at.error(
                f"body mass {total:g} kg differs from the sum of its shapes' masses {given:g} kg",
                "remove the body's mass, or the mass/density of a shape",
            )
        return [d.mass for d in drafts]  # type: ignore[misc]
    remainder = total - given
    if remainder <= 0.0:
        raise mass_at.error(
            f"the shapes with their own mass or density already weigh "
            f"{given:g} kg, leaving {remainder:g} kg of the body's {total:g} kg "
            "for the other shapes",
            "raise the body's mass or lower the shapes' masses/densities",
        )
    shared_volume = sum(d.volume for d in sharing)
    return [d.mass if d.mass is not None else remainder * d.volume / shared_volume for d in drafts]


# ---------------------------------------------------------------------------------------------
# Shapes fixed in the world
# ---------------------------------------------------------------------------------------------

_WORLD_GEOMETRY = {**_SHAPE_GEOMETRY, "plane": ("size",)}
_WORLD_SURFACE = {k: v for k, v in _SURFACE_FIELDS.items() if k not in ("group", "ground")}
_NOT_IN_WORLD = {
    "density": "a shape fixed in the world has no mass; remove 'density'",
    "mass": "a shape fixed in the world has no mass; remove 'mass'",
    "group": "every body shape with `ground: true` touches the world's shapes; remove 'group'",
    "ground": "set `ground:` on the body shapes that should touch the world; remove it here",
}


def _world_shapes(at: At | None, defaults: _ShapeDefaults, ang: float) -> list[Shape]:
    """`world: shapes:`: planes at any orientation and solids fixed in the world (pose in the
    world frame), with the surface properties of defaults.shape unless they give their own."""
    if at is None:
        return []
    m = Map(at, "world").only(("shapes",))
    entries = items(
        m.require("shapes", "list the world's fixed shapes under `shapes:`"), "world.shapes"
    )
    return [_world_shape(a, defaults, ang) for a in entries]


def _world_shape(at: At, defaults: _ShapeDefaults, ang: float) -> Shape:
    kind = _kind(at, "a world shape", WORLD_SHAPE_KINDS, "world shape type")
    keys = ("type", "pos", "quat", "euler", *_WORLD_SURFACE, *_WORLD_GEOMETRY[kind])
    m = Map(at, f"a world {kind}").only(
        keys, {**_elsewhere(_WORLD_GEOMETRY, kind, "shapes"), **_NOT_IN_WORLD}
    )
    if kind == "plane":
        size = (0.0, 0.0)
        if "size" in m:
            size = tuple(
                _non_negative(a, "m (drawn half size, 0: unbounded)")
                for a in vector_items(m.get("size"), 2, "[hx, hy]")
            )
        geometry = {
            "radius": 0.0,
            "half_extents": (size[0], size[1], 0.0),
            "half_length": 0.0,
            "pos": _vec3(m.get("pos")) if "pos" in m else (0.0, 0.0, 0.0),
            "quat": _orientation(m, ang),
        }
    else:
        geometry = _shape_geometry(m, kind, ang)
    surface = _override(m, defaults, _WORLD_SURFACE)
    return Shape(kind=kind, mass=0.0, group=0, ground=False, **_surface_of(surface), **geometry)


# ---------------------------------------------------------------------------------------------
# Joints and motors
# ---------------------------------------------------------------------------------------------

_JOINT_COMMON = ("name", "type", "parent", "child", "anchor")
# passive dynamics of every axis of a moving joint (schema.Joint, engine/joint_passive.py)
_PASSIVE = ("damping", "armature", "stiffness", "spring_ref", "friction_loss")
# the keys of a kind by its number of axes: none, one (`axis`, `limit`) or several
_JOINT_SPECIFIC = {
    kind: ()
    if n == 0
    else ("axis", "limit", "motors", *_PASSIVE)
    if n == 1
    else ("axes", "limits", "motors", *_PASSIVE)
    for kind, n in JOINT_AXES.items()
}
_MOTOR_KEYS = ("name", "axis", "gear", *_MOTOR_FIELDS)


def _joints(
    at: At | None, bodies: list[Body], motor_defaults: _MotorDefaults, ang: float
) -> list[Joint]:
    """All joints in file order; names of joints and of motors must be unique."""
    if at is None:
        return []
    by_name = {b.name: b for b in bodies}
    joints: list[Joint] = []
    joint_index: dict[str, int] = {}
    parent_joint: dict[str, int] = {}  # child body -> the joint that attaches it
    motor_names: set[str] = set()
    entries = items(at, "joints")
    for i, entry in enumerate(entries):
        joint = _joint(entry, i, by_name, motor_defaults, ang)
        m = Map(entry, "a joint")
        if joint.name in joint_index:
            raise (m.get("name") or entry).error(
                f"duplicate joint name '{joint.name}' (also joints[{joint_index[joint.name]}])",
                "give every joint a unique name",
            )
        if joint.child in parent_joint:
            k = parent_joint[joint.child]
            raise m.get("child").error(
                f"body '{joint.child}' already hangs from joints[{k}] '{joints[k].name}': a "
                "body has one parent joint (bodies and joints form a tree)",
                "remove one of the two joints, or make another body this joint's child; "
                "kinematic loops are not supported",
            )
        parent_joint[joint.child] = i
        joint_index[joint.name] = i
        motor_ats = items(m.get("motors"), "motors") if joint.motors else []
        for motor, motor_at in zip(joint.motors, motor_ats):
            if motor.name in motor_names:
                raise motor_at.error(
                    f"duplicate motor name '{motor.name}'", "give every motor a unique name"
                )
            motor_names.add(motor.name)
        joints.append(joint)
    loop = placement.parent_loop(joints)
    if loop:
        last = max(parent_joint[b] for b in loop[:-1])
        raise (
            Map(entries[last], "a joint")
            .get("parent")
            .error(
                f"the joints form a loop ({' -> '.join(loop)}: each body hangs from the next), so "
                "no body of it is attached to the world",
                "remove one joint of the loop (kinematic "
                "loops are not supported), or attach one of its bodies to `world` or a body "
                "outside the loop",
            )
        )
    return joints


def _joint(
    at: At, index: int, bodies: dict[str, Body], motor_defaults: _MotorDefaults, ang: float
) -> Joint:
    """One joint: bodies, anchor [m] and unit axes in world at t = 0, limits, motors."""
    kind = _kind(at, "a joint", JOINT_KINDS, "joint type")
    m = Map(at, f"a {kind} joint").only(
        (*_JOINT_COMMON, *_JOINT_SPECIFIC[kind]), _elsewhere(_JOINT_SPECIFIC, kind, "joints")
    )
    name = string(m.get("name")) if "name" in m else f"joint{index}"
    parent = _body_ref(m.get("parent"), bodies, allow_world=True) if "parent" in m else None
    child = _body_ref(
        m.require("child", "name the moving body with `child:`"), bodies, allow_world=False
    )
    if parent == child:
        raise m.get("child").error(
            f"parent and child are the same body '{child}'",
            "connect two different bodies (or the world and a body)",
        )
    anchor = _vec3(m.get("anchor")) if "anchor" in m else bodies[child].pos
    axes = _joint_axes(m, kind)
    scale = 1.0 if kind in LINEAR_JOINTS else ang
    limits = _joint_limits(m, kind, len(axes), scale)
    if kind == "gimbal":
        _check_gimbal_lock(m, limits, ang)
    motors = _motors(m, kind, name, motor_defaults, scale)
    passive = {key: _passive(m.get(key), key, len(axes), scale) for key in _PASSIVE if key in m}
    return Joint(
        name=name,
        kind=kind,
        parent=parent,
        child=child,
        anchor=anchor,
        axes=axes,
        limits=limits,
        motors=motors,
        **passive,
    )


def _passive(at: At, key: str, n_axes: int, scale: float) -> tuple[float, ...]:
    """One value per axis of passive key `key`: a number for every axis, or (on a joint with
    several axes) a list with one per axis; spring_ref is an angle or length (`scale`
    converts the file's angle unit), the others are >= 0."""

    def value(item: At) -> float:
        return number(item) * scale if key == "spring_ref" else _non_negative(item)

    if not isinstance(at.node, yaml.SequenceNode):
        return (value(at),) * n_axes
    entries = items(at, key)
    if len(entries) != n_axes:
        raise at.error(
            f"expected one value per axis ({n_axes}), got {len(entries)}",
            f"give one number for every axis, or a list of {n_axes}",
        )
    return tuple(value(item) for item in entries)


def _body_ref(at: At, bodies: dict[str, Body], allow_world: bool) -> str | None:
    """A body name (or 'world' -> None when allowed) that must exist."""
    name = string(at)
    if name == WORLD:
        if allow_world:
            return None
        raise at.error("the world cannot be a joint's child", "name a body as the child")
    if name not in bodies:
        options = [*bodies, WORLD] if allow_world else list(bodies)
        raise at.error(f"no body named '{name}'", did_you_mean(name, options))
    return name


# Kinds whose axes must be mutually perpendicular, with an example for the fix.
_PERPENDICULAR_EXAMPLE = {
    "universal": "[[0, 0, 1], [0, 1, 0]]",
    "gimbal": "[[1, 0, 0], [0, 0, 1], [0, 1, 0]]",
}


def _joint_axes(m: Map, kind: str) -> tuple[Vec3, ...]:
    """Unit world axes at t = 0: hinge/slider 1, universal 2 and gimbal 3 (perpendicular),
    ball 3."""
    if JOINT_AXES[kind] == 1:
        return (_unit_vector(m.require("axis", "give the joint `axis: [x, y, z]` (world)")),)
    if kind in _PERPENDICULAR_EXAMPLE:  # axes that must be mutually perpendicular
        n = JOINT_AXES[kind]
        at = m.require("axes", f"give the {kind} joint `axes: [{', '.join(['[x, y, z]'] * n)}]`")
        axes = _axis_list(at, n)
        for i, k in ((0, 1), (1, 2), (0, 2))[: 1 if n == 2 else 3]:
            cos = sum(p * q for p, q in zip(axes[i], axes[k]))
            if abs(cos) > PERPENDICULAR_TOL:
                angle = math.degrees(math.acos(max(-1.0, min(1.0, cos))))
                which = (
                    "the two axes of a universal joint must be perpendicular; they are"
                    if n == 2
                    else f"the three axes of a {kind} joint must be mutually perpendicular; "
                    f"axes {i} and {k} are"
                )
                raise at.error(
                    f"{which} {angle:.4g} deg apart",
                    f"give {('two', 'three')[n - 2]} perpendicular axes, e.g. "
                    f"{_PERPENDICULAR_EXAMPLE[kind]}",
                )
        return axes
    if kind == "ball":
        if "axes" not in m:
            return ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
        at = m.get("axes")
        axes = _axis_list(at, 3)
        if abs(_det3(*axes)) < INDEPENDENT_TOL:
            raise at.error(
                "the three axes of a ball joint are linearly dependent",
                "give three axes that do not lie in one plane, e.g. the default "
                "[[1, 0, 0], [0, 1, 0], [0, 0, 1]]",
            )
        return axes
    return ()


def _check_gimbal_lock(m: Map, limits, ang: float) -> None:
    """A gimbal's middle hinge must stay within GIMBAL_MIDDLE_MAX of 0: at +-90 deg its first
    and last axes line up and its angles are undefined (engine/joints/gimbal.py)."""
    middle = limits[1]
    if middle is None or max(abs(middle[0]), abs(middle[1])) > GIMBAL_MIDDLE_MAX:
        at = m.get("limits") or m.key_at("axes")
        bound = GIMBAL_MIDDLE_MAX / ang
        raise at.error(
            "a gimbal joint's middle axis needs a limit within "
            f"+-{bound:.4g} (+-{math.degrees(GIMBAL_MIDDLE_MAX):.0f} deg): at 90 deg its "
            "first and last axes line up and the three angles are undefined",
            f"give `limits` with the middle entry inside [-{bound:.4g}, {bound:.4g}], or use a "
            "ball joint for unlimited turning",
        )


def _axis_list(at: At, n: int) -> tuple[Vec3, ...]:
    """A list of exactly n nonzero 3-vectors, each normalised."""
    entries = items(at, "axes")
    if len(entries) != n:
        raise at.error(f"expected {n} axes, got {len(entries)}", f"give {n} axes, each [x, y, z]")
    return tuple(_unit_vector(a) for a in entries)


def _det3(a: Vec3, b: Vec3, c: Vec3) -> float:
    return (
        a[0] * (b[1] * c[2] - b[2] * c[1])
        - a[1] * (b[0] * c[2] - b[2] * c[0])
        + a[2] * (b[0] * c[1] - b[1] * c[0])
    )


def _joint_limits(
    m: Map, kind: str, n_axes: int, scale: float
) -> tuple[tuple[float, float] | None, ...]:
    """Per-axis (lo, hi) in [rad] or [m] (None = free); `scale` converts the file's unit."""
    if JOINT_AXES[kind] == 1:
        at = m.get("limit")
        return (_interval(at, scale) if at is not None else None,)
    at = m.get("limits")
    if at is None:
        return (None,) * n_axes
    if kind == "ball":
        raise m.key_at("limits").error(
            "limits on ball joints are not supported yet",
            "remove `limits`; bound the motion with motor `range` "
            "or build it from hinge/universal joints",
        )
    entries = items(at, "limits")
    if len(entries) != n_axes:
        raise at.error(
            f"expected one entry per axis ({n_axes}), got {len(entries)}",
            "give [lo, hi] or null for each axis, e.g. [[-90, 90], null]",
        )
    return tuple(None if is_null(a) else _interval(a, scale) for a in entries)


def _motors(
    m: Map, kind: str, joint: str, defaults: _MotorDefaults, scale: float
) -> tuple[Motor, ...]:
    """The joint's motors in file order, at most one per axis; `scale` converts angles."""
    at = m.get("motors")
    if at is None:
        return ()
    motors, used = [], {}
    for k, entry in enumerate(items(at, "motors")):
        motor, axis_at = _motor(entry, kind, f"{joint}.m{k}", defaults, scale)
        if motor.axis in used:
            raise axis_at.error(
                f"axis {motor.axis} already has a motor (motors[{used[motor.axis]}])",
                "use at most one motor per joint axis",
            )
        used[motor.axis] = k
        motors.append(motor)
    return tuple(motors)


def _motor(
    at: At, kind: str, default_name: str, defaults: _MotorDefaults, scale: float
) -> tuple[Motor, At]:
    """One motor; max_velocity and range are converted by `scale` (angle unit or 1)."""
    m = Map(at, "a motor").only(_MOTOR_KEYS)
    n_axes = JOINT_AXES[kind]
    axis_at = m.get("axis") or at  # the motor entry itself when the axis is the default
    axis = integer(axis_at) if "axis" in m else 0
    if not 0 <= axis < n_axes:
        raise axis_at.error(
            f"axis index {axis} is out of range for a {kind} joint, which has "
            f"{n_axes} ax{'is' if n_axes == 1 else 'es'}",
            f"use an axis index from 0 to {n_axes - 1}",
        )
    props = _override(m, defaults, _MOTOR_FIELDS)
    max_velocity = (
        _MOTOR0.max_velocity if props.max_velocity is None else props.max_velocity * scale
    )
    unit = 1.0 if props.mode == "force" else scale  # a force motor's range is in N or N m
    ctrl_range = (
        _MOTOR0.ctrl_range
        if props.range is None
        else (props.range[0] * unit, props.range[1] * unit)
    )
    name = string(m.get("name")) if "name" in m else default_name
    gear = 1.0
    if "gear" in m:
        if props.mode != "force":
            raise m.key_at("gear").error(
                f"`gear` applies to force motors; this motor is a {props.mode} servo",
                "remove `gear`, or write `mode: force`",
            )
        gear = number(m.get("gear"))
        if gear == 0.0:
            raise m.get("gear").error(
                "gear 0 makes the motor do nothing",
                "give a nonzero gear (negative reverses the motor)",
            )
    # a gain of a mode that has no use for it is an error where the motor entry writes it
    # (inherited from defaults it is dropped, as `gain` is on velocity servos)
    used = {"position": ("kp", "kv"), "velocity": ("kv",), "force": ()}[props.mode]
    for key in ("kp", "kv"):
        if key in m and key not in used:
            raise m.key_at(key).error(
                f"`{key}` applies to "
                + ("position and velocity servos" if key == "kv" else "position servos")
                + f"; this motor is a {props.mode} "
                + ("motor" if props.mode == "force" else "servo"),
                f"remove `{key}`, or change `mode`",
            )
    kp, kv = (getattr(props, k) if k in used else 0.0 for k in ("kp", "kv"))
    return Motor(
        name=name,
        axis=axis,
        mode=props.mode,
        gain=props.gain,
        kp=kp,
        kv=kv,
        max_force=props.max_force,
        max_velocity=max_velocity,
        ctrl_range=ctrl_range,
        gear=gear,
    ), axis_at


# ---------------------------------------------------------------------------------------------
# Sensors
# ---------------------------------------------------------------------------------------------

_SENSOR_SUBJECT = {
    kind: ("joint", "axis")
    if kind.startswith("joint_")
    else ("body", "reference")
    if kind.startswith("body_")
    else ("motor",)
    if kind == "actuator_force"
    else ("body",)
    for kind in SENSOR_KINDS
}


def _sensors(at: At | None, bodies: list[Body], joints: list[Joint]) -> list[Sensor]:
    """All sensors in file order; names must be unique."""
    names, joint_map = {b.name for b in bodies}, {j.name: j for j in joints}
    motors = [m.name for j in joints for m in j.motors]
    return _named_list(at, "sensor", lambda entry, i: _sensor(entry, i, names, joint_map, motors))


def _named_list(at: At | None, noun: str, read: Callable[[At, int], object]) -> list:
    """The entries of list `at` (the `<noun>s:` key) read by `read(entry, index)`, each with a
    `name` unique in the list."""
    if at is None:
        return []
    named: list = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(items(at, noun + "s")):
        item = read(entry, i)
        if item.name in seen:
            raise (Map(entry, f"a {noun}").get("name") or entry).error(
                f"duplicate {noun} name '{item.name}' (also {noun}s[{seen[item.name]}])",
                f"give every {noun} a unique name",
            )
        seen[item.name] = i
        named.append(item)
    return named


def _sensor(
    at: At, index: int, bodies: set[str], joints: dict[str, Joint], motors: list[str]
) -> Sensor:
    """One sensor: its kind, and the body, joint (with axis) or motor it reads."""
    kind = _kind(at, "a sensor", SENSOR_KINDS, "sensor type")
    m = Map(at, f"a {kind} sensor").only(
        ("name", "type", *_SENSOR_SUBJECT[kind]), _elsewhere(_SENSOR_SUBJECT, kind, "sensors")
    )
    name = string(m.get("name")) if "name" in m else f"sensor{index}"
    if kind == "actuator_force":
        motor_at = m.require("motor", "name the motor to read with `motor:`")
        motor = string(motor_at)
        if motor not in motors:
            raise motor_at.error(f"no motor named '{motor}'", did_you_mean(motor, motors))
        return Sensor(name=name, kind=kind, motor=motor)
    if "joint" in _SENSOR_SUBJECT[kind]:
        joint_at = m.require("joint", "name the joint to read with `joint:`")
        joint = _joint_ref(joint_at, joints)
        axis = _sensor_axis(m.get("axis"), joint, joint_at)
        return Sensor(name=name, kind=kind, joint=joint.name, axis=axis)
    body = _body_name(m.require("body", "name the body to read with `body:`"), bodies)
    reference = _body_name(m.get("reference"), bodies) if "reference" in m else None
    return Sensor(name=name, kind=kind, body=body, reference=reference)


def _body_name(at: At, bodies: set[str]) -> str:
    name = string(at)
    if name not in bodies:
        raise at.error(f"no body named '{name}'", did_you_mean(name, bodies))
    return name


def _joint_ref(at: At, joints: dict[str, Joint]) -> Joint:
    name = string(at)
    if name not in joints:
        raise at.error(f"no joint named '{name}'", did_you_mean(name, joints))
    return joints[name]


def _sensor_axis(at: At | None, joint: Joint, joint_at: At) -> int:
    """Index of the joint axis read; the joint must have one."""
    n_axes = JOINT_AXES[joint.kind]
    if n_axes == 0:
        raise joint_at.error(
            f"joint '{joint.name}' is fixed and has no axis to read", "name a joint that moves"
        )
    axis = integer(at) if at is not None else 0
    if not 0 <= axis < n_axes:
        raise at.error(
            f"axis index {axis} is out of range for {joint.kind} joint '{joint.name}'",
            f"use an axis index from 0 to {n_axes - 1}",
        )
    return axis


# ---------------------------------------------------------------------------------------------
# Body-body contact pairs
# ---------------------------------------------------------------------------------------------


def _contact_pairs(
    at: At | None, bodies: list[Body], joints: list[Joint]
) -> tuple[tuple[ContactPair, ...], str]:
    """Shape pairs to test: explicit body pairs, plus equal nonzero groups on bodies that are
    neither excluded nor joined by a joint. In order of (body_a, body_b), then of the shapes.
    Only body pairs listed or sharing a group are looked at, so a file of many bodies is read
    in time proportional to the pairs it makes (not to the square of its bodies)."""
    index = {b.name: i for i, b in enumerate(bodies)}
    explicit, excluded, friction = _contact_lists(at, index)
    joined = {frozenset((index[j.parent], index[j.child])) for j in joints if j.parent}
    grouped: dict[int, set[int]] = {}  # collision group -> bodies with a shape in it
    for i, body in enumerate(bodies):
        for shape in body.shapes:
            if shape.group != 0:
                grouped.setdefault(shape.group, set()).add(i)
    candidates = {tuple(sorted(key)) for key in explicit}
    for members in grouped.values():
        ordered = sorted(members)
        candidates.update((a, b) for k, a in enumerate(ordered) for b in ordered[k + 1 :])
    pairs: list[ContactPair] = []
    for a, b in sorted(candidates):
        key = frozenset((a, b))
        if key in explicit:
            chosen = _all_shape_pairs(bodies, a, b)
        elif key in excluded or key in joined:
            continue
        else:
            chosen = _group_shape_pairs(bodies, a, b)
        for sa, sb in chosen:
            pairs.append(ContactPair(a, sa, b, sb))
    return tuple(pairs), friction


def _contact_lists(at: At | None, index: dict[str, int]) -> tuple[dict, dict, str]:
    """`contacts.pairs` and `contacts.exclude` as {frozenset(body indices): node}, and
    `contacts.friction` (how a contact combines its two friction coefficients)."""
    if at is None:
        return {}, {}, FRICTION_COMBINE[0]
    m = Map(at, "contacts").only(("pairs", "exclude", "friction"))
    friction = (
        choice(m.get("friction"), FRICTION_COMBINE, "friction combination")
        if "friction" in m
        else FRICTION_COMBINE[0]
    )
    lists = {}
    for key in ("pairs", "exclude"):
        lists[key] = {}
        for entry in items(m.get(key), f"contacts.{key}") if key in m else []:
            lists[key].setdefault(_body_pair(entry, index), entry)
    for key, entry in lists["exclude"].items():
        if key in lists["pairs"]:
            raise entry.error(
                "this body pair is listed in both contacts.pairs and contacts.exclude",
                "keep it in only one of the two lists",
            )
    return lists["pairs"], lists["exclude"], friction


def _body_pair(at: At, index: dict[str, int]) -> frozenset:
    """[bodyA, bodyB]: two different existing bodies, as a set of body indices."""
    if not isinstance(at.node, yaml.SequenceNode) or len(at.node.value) != 2:
        raise at.error(
            f"expected a pair of body names [bodyA, bodyB], got {describe(at.node)}",
            "write [bodyA, bodyB]",
        )
    names = [_body_name(a, set(index)) for a in items(at, "a body pair")]
    if names[0] == names[1]:
        raise at.error(
            f"a body cannot be paired with itself ('{names[0]}')", "name two different bodies"
        )
    return frozenset(index[n] for n in names)


def _all_shape_pairs(bodies: list[Body], a: int, b: int) -> list[tuple[int, int]]:
    return [(sa, sb) for sa in range(len(bodies[a].shapes)) for sb in range(len(bodies[b].shapes))]


def _group_shape_pairs(bodies: list[Body], a: int, b: int) -> list[tuple[int, int]]:
    return [
        (sa, sb)
        for sa, shape_a in enumerate(bodies[a].shapes)
        for sb, shape_b in enumerate(bodies[b].shapes)
        if shape_a.group != 0 and shape_a.group == shape_b.group
    ]


# ---------------------------------------------------------------------------------------------
# Cameras
# ---------------------------------------------------------------------------------------------

_CAMERA_KEYS = (
    "name",
    "body",
    "pos",
    "look_at",
    "up",
    "quat",
    "euler",
    "fov",
    "width",
    "height",
    "background",
    "softness",
    "light",
    "ambient",
    "near",
    "far",
)
_CAMERA0 = Camera(name="")


def _cameras(at: At | None, bodies: list[Body], ang: float) -> list[Camera]:
    """All cameras in file order; names must be unique."""
    names = {b.name for b in bodies}
    return _named_list(at, "camera", lambda entry, i: _camera(entry, i, names, ang))


def _camera(at: At, index: int, bodies: set[str], ang: float) -> Camera:
    """One pinhole camera: where it is, where it looks, its image and its light."""
    m = Map(at, "a camera").only(_CAMERA_KEYS)
    name = string(m.get("name")) if "name" in m else f"camera{index}"
    body = _body_name(m.get("body"), bodies) if "body" in m else None
    pos = _vec3(m.get("pos")) if "pos" in m else (0.0, 0.0, 0.0)
    if "look_at" in m:
        for other in ("quat", "euler"):
            if other in m:
                raise m.key_at(other).error(
                    f"both look_at and {other} are given",
                    "give the orientation once: look_at or quat/euler",
                )
        quat = _look_at(m, pos)
    else:
        if "up" in m:
            raise m.key_at("up").error(
                "`up` only goes with `look_at`", "add `look_at: [x, y, z]` or remove `up`"
            )
        quat = _orientation(m, ang)
    fov = _CAMERA0.fov
    if "fov" in m:
        fov = number(m.get("fov")) * ang
        if not 0.0 < fov < math.pi:
            raise m.get("fov").error(
                f"field of view must be between 0 and 180 degrees, got "
                f"{math.degrees(fov):g} degrees",
                "give the vertical field of view, e.g. 45",
            )
    light = _CAMERA0.light
    if "light" in m:
        if math.sqrt(sum(c * c for c in _vec3(m.get("light")))) < ZERO_LENGTH:
            raise m.get("light").error(
                "the light direction has zero length",
                "give the direction the light travels, e.g. [0, 0, -1]",
            )
        light = _unit_vector(m.get("light"))
    near = _positive(m.get("near"), "m") if "near" in m else _CAMERA0.near
    far = _positive(m.get("far"), "m") if "far" in m else _CAMERA0.far
    if far <= near:
        raise (m.get("far") or m.get("near")).error(
            f"far ({far:g} m) must be beyond near ({near:g} m)", "make far larger than near"
        )
    return Camera(
        name=name,
        body=body,
        pos=pos,
        quat=quat,
        fov=fov,
        width=_pixels(m.get("width")) if "width" in m else _CAMERA0.width,
        height=_pixels(m.get("height")) if "height" in m else _CAMERA0.height,
        background=_color(m.get("background")) if "background" in m else _CAMERA0.background,
        softness=_non_negative(m.get("softness"), "pixels")
        if "softness" in m
        else _CAMERA0.softness,
        light=light,
        ambient=_fraction(m.get("ambient")) if "ambient" in m else _CAMERA0.ambient,
        near=near,
        far=far,
    )


def _pixels(at: At) -> int:
    return int(_ranged(positive_int, limits.CAMERA_PIXELS, "an image side of")(at))


def _look_at(m: Map, pos: Vec3) -> Quat:
    """Orientation of a camera at `pos` looking at `look_at` with `up` (default +z) up in
    the image: camera -z towards the point, camera y in the plane of -z and up."""
    target_at = m.get("look_at")
    forward = [t - p for t, p in zip(_vec3(target_at), pos)]
    norm = math.sqrt(sum(c * c for c in forward))
    if norm < ZERO_LENGTH:
        raise target_at.error(
            "look_at is the camera position itself",
            "give a point the camera should look at, away from `pos`",
        )
    f = [c / norm for c in forward]
    up = _unit_vector(m.get("up")) if "up" in m else (0.0, 0.0, 1.0)
    right = [f[1] * up[2] - f[2] * up[1], f[2] * up[0] - f[0] * up[2], f[0] * up[1] - f[1] * up[0]]
    rn = math.sqrt(sum(c * c for c in right))
    if rn < 1e-6:
        raise (m.get("up") or target_at).error(
            "the view direction is parallel to `up`, so the image has no up",
            "give `up:` a direction not along the view, e.g. [0, 1, 0] when looking down",
        )
    x = [c / rn for c in right]
    y = [x[1] * f[2] - x[2] * f[1], x[2] * f[0] - x[0] * f[2], x[0] * f[1] - x[1] * f[0]]
    z = [-c for c in f]
    return as_tuple(matrix_quat(((x[0], y[0], z[0]), (x[1], y[1], z[1]), (x[2], y[2], z[2]))))
