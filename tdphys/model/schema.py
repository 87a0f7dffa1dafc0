"""Validated robot model: immutable dataclasses in SI units and radians.

This is what the YAML loader (``tdphys.model.loader``) produces and what the engine's layout
(``tdphys.engine.layout``) consumes. Nothing here knows about Taichi.

Conventions (docs/conventions.md): z is up; quaternions are [w, x, y, z] and rotate the body
frame into the world frame; angular velocities are in the world frame; every angle is in
radians here, whatever the file used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Vec3 = tuple[float, float, float]
Quat = tuple[float, float, float, float]

SHAPE_KINDS = ("sphere", "box", "capsule", "cylinder")
# Shapes fixed in the world (Robot.world_shapes) may also be planes.
WORLD_SHAPE_KINDS = (*SHAPE_KINDS, "plane")
JOINT_KINDS = ("ball", "hinge", "fixed", "slider", "universal", "gimbal")
MOTOR_MODES = ("position", "velocity", "force")
SENSOR_KINDS = (
    "body_pos",
    "body_vel",
    "body_quat",
    "body_omega",
    "joint_pos",
    "joint_vel",
    "contact_force",
    "actuator_force",
)
# How a contact combines the friction coefficients of its two sides (Robot.friction_combine):
# the geometric mean sqrt(mu_a mu_b), or the larger of the two (as MuJoCo does).
FRICTION_COMBINE = ("geometric", "max")
# Shape pairs the contact generator handles (unordered): every pair of solid kinds, each solid
# against a plane (engine/geometry.py says which are exact and which approximate).
SUPPORTED_PAIRS = frozenset(
    {tuple(sorted((a, b))) for a in SHAPE_KINDS for b in SHAPE_KINDS}
    | {tuple(sorted((a, "plane"))) for a in SHAPE_KINDS}
)

# Each joint kind's behaviour (rows, frames, coordinate) is its module in tdphys/engine/joints/,
# whose registry checks it agrees with these. Number of motor/limit axes of each kind: a file
# gives one as `axis`/`limit`, several as `axes`/`limits`.
JOINT_AXES = {"ball": 3, "hinge": 1, "fixed": 0, "slider": 1, "universal": 2, "gimbal": 3}
# Kinds whose coordinates are lengths [m] (the others' are angles [rad]).
LINEAR_JOINTS = ("slider",)
# Axes carried by the child, per kind (every other axis is fixed in the parent).
JOINT_CHILD_AXES = {"universal": (1,), "gimbal": (2,)}
# [rad] the largest angle a gimbal joint's middle axis may reach (its limit must lie within):
# at 90 deg its first and last axes line up and its three angles are undefined.
GIMBAL_MIDDLE_MAX = 1.3962634015954636  # 80 deg
# A joint's passive dynamics, one value per axis (Joint).
PASSIVE_KEYS = ("damping", "armature", "stiffness", "spring_ref", "friction_loss")


def pair_key(kind_a: str, kind_b: str) -> tuple[str, str]:
    """Unordered shape-pair key, sorted by name, as used in SUPPORTED_PAIRS."""
    return tuple(sorted((kind_a, kind_b)))  # type: ignore[return-value]


@dataclass(frozen=True)
class Shape:
    """One collision and mass primitive rigidly attached to a body.

    kind: "sphere" | "box" | "capsule" | "cylinder", or "plane" for a shape fixed in the world
        (Robot.world_shapes).
    radius: [m] sphere, capsule and cylinder radius (0 otherwise).
    half_extents: [m] box half sizes along the shape's local x, y, z; a plane's drawn half
        sizes along its local x, y (0: drawn without bound; it collides without bound
        anyway); zeros otherwise.
    half_length: [m] half length along the shape's local z of a capsule's core segment or of
        a cylinder (0 otherwise).
    pos: [m] shape centre in the body frame (the frame the YAML `pos`/`quat` of the body place),
        or in the world for a world shape (a plane: a point on its surface).
    quat: [w, x, y, z] shape orientation in the body frame (the world for a world shape); a
        plane's normal is its local +z, and everything below it is solid.
    mass: [kg] resolved mass of this shape (> 0): density x volume, or the body's given mass
        shared in proportion to volume (0 for a world shape).
    friction: Coulomb coefficient [-]; restitution [-] in [0, 1];
    torsional_friction: [m] torque impulse limit per unit normal impulse about the normal.
    color: RGB in [0, 1].
    texture: absolute path of an image file whose colours multiply `color` where cameras see
        the shape (docs/camera.md#textures), or None for the plain colour.
    group: collision group; shapes of different bodies with the same nonzero group collide.
    ground: whether this shape collides with the ground plane z = 0 and the world's shapes.
    contact_hz: [Hz] this shape's contact stiffness as a natural frequency (0 = rigid), and
    contact_damping: [-] its damping ratio; None for the solver's (Solver.contact_hz,
        contact_damping). A contact mixes its two sides as MuJoCo mixes solref: the mean of
        their time constants 1 / contact_hz (0 for a rigid side) and of their damping ratios.
    """

    kind: str
    radius: float = 0.0
    half_extents: Vec3 = (0.0, 0.0, 0.0)
    half_length: float = 0.0
    pos: Vec3 = (0.0, 0.0, 0.0)
    quat: Quat = (1.0, 0.0, 0.0, 0.0)
    mass: float = 1.0
    friction: float = 1.0
    restitution: float = 0.0
    torsional_friction: float = 0.0
    color: Vec3 = (0.8, 0.3, 0.3)
    group: int = 0
    ground: bool = True
    texture: str | None = None
    contact_hz: float | None = None
    contact_damping: float | None = None


@dataclass(frozen=True)
class Body:
    """A rigid body.

    pos: [m] world position of the body frame origin at t = 0 (not the centre of mass).
    quat: [w, x, y, z] body-to-world rotation at t = 0.
    vel: [m/s] world linear velocity of the centre of mass at t = 0.
    omega: [rad/s] world angular velocity at t = 0.
    inertia: [kg m^2] moments Ixx, Iyy, Izz about the centre of mass along the body axes, when
        the file gives them; None means computed from the shapes (with the products of inertia).
    inertia_products: [kg m^2] Ixy, Ixz, Iyz of the given inertia (zeros: principal axes
        along the body axes); only with `inertia`.
    com: [m] centre of mass in the body frame, when the file gives it; None means the
        mass-weighted mean of the shapes' centres.
    """

    name: str
    shapes: tuple[Shape, ...]
    pos: Vec3 = (0.0, 0.0, 0.0)
    quat: Quat = (1.0, 0.0, 0.0, 0.0)
    vel: Vec3 = (0.0, 0.0, 0.0)
    omega: Vec3 = (0.0, 0.0, 0.0)
    inertia: Vec3 | None = None
    inertia_products: Vec3 = (0.0, 0.0, 0.0)
    com: Vec3 | None = None


@dataclass(frozen=True)
class Motor:
    """A servo on one axis of a joint. Controls come one per motor, in file order.

    axis: index into the joint's axes.
    mode: "position" (command = target angle [rad] or position [m]), "velocity"
        (command = target rate [rad/s] or [m/s]), or "force" (command = the torque [N m] or
        force [N] itself, applied along the axis between parent and child).
    gain: [1/s] position servo: target rate = clip(gain * (command - q), +-max_velocity).
    kp: [N m/rad] or [N/m], kv: [N m s/rad] or [N s/m]: with either > 0 the servo is a PD
        (MuJoCo's `position` and `velocity` actuators): force kp (command - q) - kv rate in
        position mode, kv (command - rate) in velocity mode, within +-max_force; the damping
        is implicit in each substep, the spring explicit (as MuJoCo's implicit integrators),
        and gain and max_velocity are unused. Both 0: a rigid servo that reaches its target
        rate within the substep wherever max_force allows.
    max_force: [N m] angular or [N] linear; the motor impulse per step is within +-max_force*dt
        (a force motor's command is clipped to +-max_force).
    max_velocity: [rad/s] or [m/s] (rigid servos only).
    ctrl_range: commands are clipped into [lo, hi] (same units as the command).
    gear: [-] force motors: the torque or force is gear * command (after clipping into
        ctrl_range), then clipped to +-max_force. 1 for servos.
    """

    name: str
    axis: int = 0
    mode: str = "position"
    gain: float = 10.0
    kp: float = 0.0
    kv: float = 0.0
    max_force: float = 10.0
    max_velocity: float = 3.0
    ctrl_range: tuple[float, float] = (-1e9, 1e9)
    gear: float = 1.0


@dataclass(frozen=True)
class Joint:
    """A joint between `parent` (None = the world) and `child`.

    anchor: [m] world position of the joint point at the initial pose.
    axes: unit world axes at the initial pose: hinge/slider 1, universal 2 (the first fixed in
        the parent, the second in the child; they must be perpendicular), gimbal 3 (three
        hinges applied in order, mutually perpendicular: the first turns with the parent, the
        last with the child), ball 3 (motor axes, fixed in the parent), fixed none.
    limits: per axis (lo, hi) in [rad] or [m], or None for no limit; same length as axes.
    Passive dynamics (engine/joint_passive.py), one value per axis (a single number given
    here applies to every axis), each 0 for none:
    damping: [N m s/rad or N s/m] torque -damping * rate, integrated implicitly.
    armature: [kg m^2 or kg] rotor inertia added along the axis.
    stiffness: [N m/rad or N/m] spring torque -stiffness * (q - spring_ref).
    spring_ref: [rad or m] the spring's rest position (q is 0 at the initial pose).
    friction_loss: [N m or N] dry friction: the axis's torque resisting motion is bounded by it.
    """

    name: str
    kind: str
    parent: str | None
    child: str
    anchor: Vec3 = (0.0, 0.0, 0.0)
    axes: tuple[Vec3, ...] = ()
    limits: tuple[tuple[float, float] | None, ...] = ()
    motors: tuple[Motor, ...] = ()
    damping: tuple[float, ...] = ()
    armature: tuple[float, ...] = ()
    stiffness: tuple[float, ...] = ()
    spring_ref: tuple[float, ...] = ()
    friction_loss: tuple[float, ...] = ()

    def __post_init__(self):
        # one value per axis: a number applies to every axis, () is zero on every axis
        for key in PASSIVE_KEYS:
            value = getattr(self, key)
            if isinstance(value, int | float):
                value = (value,) * len(self.axes)
            elif not value:
                value = (0.0,) * len(self.axes)
            object.__setattr__(self, key, tuple(float(v) for v in value))

    @property
    def passive(self) -> bool:
        """Whether the joint has damping, armature or a spring on some axis
        (engine/joint_passive.py)."""
        return any(v > 0 for v in self.damping + self.armature + self.stiffness)

    @property
    def has_friction_loss(self) -> bool:
        """Whether some axis of the joint has dry friction (engine/joint_passive.py)."""
        return any(v > 0 for v in self.friction_loss)


@dataclass(frozen=True)
class Sensor:
    """A named reading. `body`/`joint`/`motor` name its subject; `reference` a body whose frame
    the body readings are expressed in (None = world)."""

    name: str
    kind: str
    body: str | None = None
    joint: str | None = None
    axis: int = 0
    reference: str | None = None
    motor: str | None = None


@dataclass(frozen=True)
class Solver:
    """Time stepping and constraint settings.

    dt: [s] step. substeps: velocity solves and position updates per step (each of width
    dt / substeps). iterations: Gauss-Seidel sweeps per step over the rows the tree solve does
    not take (limits, motors, contacts), shared among the substeps. warm_start: fraction
    [0, 1] of the previous substep's impulses that limit, motor and loop-joint rows start
    from (0 = off); contact rows start from all of theirs. gravity: [m/s^2] world
    vector. joint_hz / contact_hz: [Hz] constraint stiffness as a natural frequency (0 =
    rigid: no softness, the position error removed in one substep); joint_damping /
    contact_damping: damping ratio [-].
    restitution_velocity: [m/s] approach speed below which restitution is ignored.
    max_push_velocity: [m/s, or rad/s for a hinge limit] cap on the speed at which a
    penetration or a joint limit's violation is resolved.
    contact_margin: [m] speculative contact distance: a contact point's rows take part from
    this separation on and let the gap close within the step but not beyond, so the impulse
    grows continuously from zero as shapes meet (0: rows only while the shapes overlap).
    limit_margin: [rad, or m for sliders] the same for joint limits, from the nearer bound.
    """

    dt: float = 0.01
    substeps: int = 4
    iterations: int = 20
    warm_start: float = 0.95
    gravity: Vec3 = (0.0, 0.0, -9.81)
    joint_hz: float = 0.0
    joint_damping: float = 2.0
    contact_hz: float = 25.0
    contact_damping: float = 5.0
    restitution_velocity: float = 0.2
    max_push_velocity: float = 2.0
    contact_margin: float = 0.0
    limit_margin: float = 0.0


@dataclass(frozen=True)
class Ground:
    """The plane z = 0. friction/restitution combine with each shape's (see docs). color: RGB
    seen by cameras; checker: [m] side of the checkerboard squares cameras see (0: plain).
    texture: absolute path of an image file tiled over the ground (its colours multiply
    `color`; the checker is then not drawn), or None; texture_size: [m] side of one tile.
    contact_hz [Hz], contact_damping [-]: the ground's side of a contact's softness, as a
    Shape's (None: the solver's)."""

    enabled: bool = True
    friction: float = 1.0
    restitution: float = 0.0
    torsional_friction: float = 0.0
    color: Vec3 = (0.55, 0.55, 0.5)
    checker: float = 0.5
    texture: str | None = None
    texture_size: float = 1.0
    contact_hz: float | None = None
    contact_damping: float | None = None


@dataclass(frozen=True)
class Camera:
    """A pinhole camera, fixed in the world or mounted on a body (docs/robot-format.md).

    Camera frame: it looks along its own -z axis, x points right and y up in the image (as
    MuJoCo's cameras). pos [m] and quat [w, x, y, z] place that frame in the frame of `body`
    (its body frame, the one its shapes' `pos` use) or in the world when body is None.
    fov: [rad] vertical field of view. width/height: [pixels]. background: RGB where no
    shape or ground is seen. softness: [pixels] width of the soft silhouette edge (0: hard
    edges, no gradient through edges). light: unit direction the light travels, world frame.
    ambient: [-] share of light that reaches surfaces facing away from the light.
    near/far: [m] nearest and farthest distance along a ray that the camera sees.
    """

    name: str
    body: str | None = None
    pos: Vec3 = (0.0, 0.0, 0.0)
    quat: Quat = (1.0, 0.0, 0.0, 0.0)
    fov: float = 0.7853981633974483
    width: int = 64
    height: int = 48
    background: Vec3 = (0.75, 0.85, 1.0)
    softness: float = 1.0
    light: Vec3 = (0.3, 0.5, -0.812403840463596)
    ambient: float = 0.35
    near: float = 0.01
    far: float = 100.0


@dataclass(frozen=True)
class ContactPair:
    """A body-body shape pair to test for contact: (body index, shape index in that body)."""

    body_a: int
    shape_a: int
    body_b: int
    shape_b: int


@dataclass(frozen=True)
class Robot:
    """A whole model as loaded from one YAML file. Bodies and joints keep file order."""

    name: str
    source: str
    bodies: tuple[Body, ...]
    joints: tuple[Joint, ...] = ()
    sensors: tuple[Sensor, ...] = ()
    solver: Solver = field(default_factory=Solver)
    ground: Ground = field(default_factory=Ground)
    contact_pairs: tuple[ContactPair, ...] = ()
    # Shapes fixed in the world (a plane at any orientation, boxes, ...): pose in the world
    # frame; every body shape with `ground` set collides with them.
    world_shapes: tuple[Shape, ...] = ()
    cameras: tuple[Camera, ...] = ()
    friction_combine: str = "geometric"  # FRICTION_COMBINE
    vars: tuple[tuple[str, float], ...] = ()  # the file's `vars:` values used, in file order
    # (name, min, max) of the vars that declare a range (-inf / inf for a bound not given)
    var_ranges: tuple[tuple[str, float, float], ...] = ()

    def body_index(self, name: str) -> int:
        for i, b in enumerate(self.bodies):
            if b.name == name:
                return i
        raise KeyError(name)

    @property
    def motors(self) -> list[tuple[Joint, Motor]]:
        """All motors in control order: joints in file order, motors in joint order."""
        return [(j, m) for j in self.joints for m in j.motors]
