"""The fields of a Simulation, in four groups (Newton's split, plus the solver's scratch):

    model    what each world's robot is: per-world parameters (PARAM_DOCS), the layout's
             integer tables, and the mass properties derived from them at the start of each
             rollout. Read by every step; the parameters are what gradients are taken against.
    state    what a rollout records at every step t = 0..T: poses, velocities, motor
             coordinates, sensor readings, contact forces, the warm-start impulses.
    control  what drives it: the motor commands of every step.
    scratch  what one step computes on its way (its substeps' poses, rows, solver iterates,
             tree factors), replayed by the backward pass; not a result.

Indices: t step, u substep, k solver sweep, w world, n body, i contact point, r constraint
row, m motor, j joint, g jointed group of bodies (layout.body_group). Vectors are world frame
unless a name says otherwise. Every field holding a real number has a gradient unless marked
"no gradient".
"""

import taichi as ti

from .. import backend

# Parameters that may differ per world: name -> (trailing shape key, unit and meaning).
PARAM_DOCS = {
    "shape_radius": ("S", "[m] sphere/capsule/cylinder radius"),
    "shape_half_extents": ("S3", "[m] box half sizes (shape axes)"),
    "shape_half_length": ("S", "[m] capsule/cylinder half length"),
    "shape_pos": ("S3", "[m] shape centre in the body frame (world shapes: the world)"),
    "shape_quat": ("S4", "shape orientation in the body frame (world shapes: the world)"),
    "shape_mass": ("S", "[kg] shape mass"),
    "shape_friction": ("S", "[-] Coulomb friction coefficient"),
    "shape_contact_hz": ("S", "[Hz] contact stiffness as a natural frequency (0 rigid)"),
    "shape_contact_damping": ("S", "[-] contact damping ratio"),
    "shape_restitution": ("S", "[-] restitution coefficient"),
    "shape_torsional_friction": ("S", "[m] torsional friction"),
    "body_inertia": ("N3", "[kg m^2] given moments Ixx, Iyy, Izz (bodies that set `inertia`)"),
    "body_inertia_products": ("N3", "[kg m^2] given products Ixy, Ixz, Iyz (with `inertia`)"),
    "body_com": ("N3", "[m] given centre of mass in the body frame (bodies that set `com`)"),
    "init_pos": ("N3", "[m] initial world position of the body frame origin"),
    "init_quat": ("N4", "initial orientation [w,x,y,z]"),
    "init_vel": ("N3", "[m/s] initial COM velocity, world"),
    "init_omega": ("N3", "[rad/s] initial angular velocity, world"),
    "ground_friction": ("", "[-] ground friction"),
    "ground_contact_hz": ("", "[Hz] the ground's contact stiffness (0 rigid)"),
    "ground_contact_damping": ("", "[-] the ground's contact damping ratio"),
    "ground_restitution": ("", "[-] ground restitution"),
    "ground_torsional_friction": ("", "[m] ground torsional friction"),
    "contact_margin": ("", "[m] speculative contact distance (solver.contact_margin)"),
    "anchor_p": ("J3", "[m] joint anchor in the parent frame (world if no parent)"),
    "anchor_c": ("J3", "[m] joint anchor in the child frame"),
    "axis_p": ("J33", "joint axes in the parent frame"),
    "axis_c": ("J33", "joint axes in the child frame"),
    "perp_p": ("J33", "angle reference vectors in the parent frame"),
    "perp_c": ("J33", "angle reference vectors in the child frame"),
    "rel_quat": ("J4", "child orientation relative to the parent at the initial pose"),
    "limit_lo": ("Jx3", "[rad or m] lower joint limits"),
    "limit_hi": ("Jx3", "[rad or m] upper joint limits"),
    "limit_margin": ("", "[rad or m] speculative joint-limit distance (solver.limit_margin)"),
    "motor_gain": ("M", "[1/s] position servo gain"),
    "motor_kp": ("M", "[N m/rad or N/m] PD servo stiffness (0 with kv 0: a rigid servo)"),
    "motor_kv": ("M", "[N m s/rad or N s/m] PD servo damping (0 with kp 0: a rigid servo)"),
    "motor_max_force": ("M", "[N m or N] motor force limit"),
    "motor_max_velocity": ("M", "[rad/s or m/s] motor speed limit"),
    "motor_ctrl_lo": ("M", "command range, low"),
    "motor_ctrl_hi": ("M", "command range, high"),
    "motor_gear": ("M", "[-] force motors: torque or force per unit command"),
    "passive_damping": ("Jx3", "[N m s/rad or N s/m] joint damping, per axis"),
    "passive_armature": ("Jx3", "[kg m^2 or kg] rotor inertia, per axis"),
    "passive_stiffness": ("Jx3", "[N m/rad or N/m] joint spring, per axis"),
    "passive_spring_ref": ("Jx3", "[rad or m] the joint spring's rest position, per axis"),
    "passive_friction_loss": ("Jx3", "[N m or N] dry friction bound, per axis"),
}
# Solver settings held per world among the parameters (so experiments can override them); the
# rollout does not depend on them smoothly, so they are not trainable.
SOLVER_PARAMS = ("contact_margin", "limit_margin")
# Integer tables copied from the Layout (see layout.Layout for their meaning).
TABLES = (
    "shape_body",
    "shape_kind",
    "body_has_inertia",
    "joint_kind",
    "joint_parent",
    "joint_child",
    "motor_joint",
    "motor_axis",
    "motor_mode",
    "point_geom",
    "point_body_a",
    "point_shape_a",
    "point_body_b",
    "point_shape_b",
    "point_sub",
    "row_kind",
    "row_a",
    "row_b",
    "row_idx",
    "row_sub",
    "row_ref",
    "row_tree",
    "prev_first",
    "final",
    "point_row",
    "node_parent",
    "tree_order",
    "joint_row0",
    "joint_nrows",
    "joint_in_tree",
    "body_group",
    "body_alone",
    "sensor_kind",
    "sensor_body",
    "sensor_ref",
    "sensor_joint",
    "sensor_axis",
    "sensor_adr",
    "sensor_dim",
    "sensor_motor",
    "body_has_com",
    "motor_row",
    "body_host",
    "weld_joint",
    "weld_depth",
    "joint_host_parent",
    "joint_host_child",
    "row_body_a",
    "row_body_b",
)
# The recorded state a trajectory holds, [t, world, ...] (Simulation.trajectory).
RECORDED = (
    "pos",
    "quat",
    "vel",
    "omega",
    "joint_pos",
    "joint_vel",
    "sensordata",
    "point_pos",
    "point_force",
)
# Field attribute names that differ from the parameter names.
FIELD_NAME = {
    "shape_torsional_friction": "shape_torsional",
    "ground_torsional_friction": "ground_torsional",
}


@ti.data_oriented
class Poses:
    """Poses and velocities of every body, indexed [i, world, body]: pos [m] centre of mass,
    quat [w, x, y, z] body to world, vel [m/s] centre-of-mass velocity, omega [rad/s] angular
    velocity, all world frame. State holds them per step (i = t, 0..T), Scratch.sub per
    substep of the step being solved (i = u, 0..substeps)."""

    # the solver's poses (a substep's): a host's centre of mass is that of it and the bodies
    # welded to it (Simulation.solver_com); the state holds every body's own
    SOLVER_FRAME = True

    def __init__(self, count: int, batch: int, bodies: int):
        vec = backend.vector
        self.pos, self.vel, self.omega = (vec(3, (count, batch, bodies)) for _ in range(3))
        self.quat = vec(4, (count, batch, bodies))

    def fields(self) -> list:
        return [self.pos, self.quat, self.vel, self.omega]


def _fields_of(group) -> list:
    """The Taichi fields a group holds, in the order they were declared."""
    out = []
    for value in vars(group).values():
        if isinstance(value, ti.Field):
            out.append(value)
        elif isinstance(value, Poses):
            out += value.fields()
    return out


@ti.data_oriented
class Model:
    """What each world's robot is.

    Parameters [w, ...] (PARAM_DOCS: units and frames; `params` maps each name to its field;
    a few fields are named otherwise, FIELD_NAME). Integer tables of the layout (TABLES,
    engine/layout.py), added by add_tables. Mass properties [w, n], computed from the
    parameters at the start of each rollout: mass [kg]; com [m] centre of mass in the body
    frame; moment [kg m] and inertia_origin [kg m^2] the shape sums about the body origin;
    inertia and inertia_inv [kg m^2, 1/(kg m^2)] about the centre of mass, body frame.
    Welds (layout.body_host), [w, n]: weld_origin [m] and weld_quat, a welded body's frame in
    its host's frame; weld_offset [m] its centre of mass from its host's solver_com, host
    frame; fused_mass, fused_moment, fused_inertia_origin the sums over a host and the bodies
    welded to it, about the host's frame origin. What the solver moves (Simulation.solver_*;
    these fields only for a robot with welds): solver_mass, solver_com, solver_inertia,
    solver_inertia_inv, a host's with its welded bodies, every other body's its own.
    Jointed groups [w, g] at the start pose, each as one rigid body: group_mass [kg],
    group_moment [kg m] (sum of m x, world), group_inertia [kg m^2] (world, about the group's
    centre of mass). soft_mass [w, i] [kg]: the mass contact point i's normal row holds up,
    which sets its softness (Simulation.k_soft_mass)."""

    def __init__(self, batch: int, sizes: dict, groups: int):
        """sizes: {"S": shapes, "N": bodies, "J": joints, "M": motors, "P": points}, each at
        least 1."""
        B, N, P = batch, sizes["N"], sizes["P"]
        S, J, M = sizes["S"], sizes["J"], sizes["M"]
        vec, sca, real = backend.vector, backend.field, backend.current().real
        # key -> (index shape after the batch axis, vector size or 0)
        dims = {
            "S": ((S,), 0),
            "S3": ((S,), 3),
            "S4": ((S,), 4),
            "N3": ((N,), 3),
            "N4": ((N,), 4),
            "": ((), 0),
            "J3": ((J,), 3),
            "Jx3": ((J, 3), 0),
            "J33": ((J, 3), 3),
            "J4": ((J,), 4),
            "M": ((M,), 0),
        }
        self.params = {}
        for name, (key, _) in PARAM_DOCS.items():
            index, n = dims[key]
            f = vec(n, (B,) + index) if n else sca(None, (B,) + index)
            setattr(self, FIELD_NAME.get(name, name), f)
            self.params[name] = f
        self.mass, self.com, self.moment = sca(None, (B, N)), vec(3, (B, N)), vec(3, (B, N))
        self.inertia_origin = ti.Matrix.field(3, 3, real, (B, N), needs_grad=True)
        self.inertia = ti.Matrix.field(3, 3, real, (B, N), needs_grad=True)
        self.inertia_inv = ti.Matrix.field(3, 3, real, (B, N), needs_grad=True)
        mat = lambda: ti.Matrix.field(3, 3, real, (B, N), needs_grad=True)  # noqa: E731
        self.weld_origin, self.weld_quat = vec(3, (B, N)), vec(4, (B, N))
        self.weld_offset = vec(3, (B, N))
        self.fused_mass, self.fused_moment = sca(None, (B, N)), vec(3, (B, N))
        self.fused_inertia_origin = mat()
        self.solver_mass, self.solver_com = sca(None, (B, N)), vec(3, (B, N))
        self.solver_inertia, self.solver_inertia_inv = mat(), mat()
        G = max(groups, 1)
        self.group_mass, self.group_moment = sca(None, (B, G)), vec(3, (B, G))
        self.group_inertia = ti.Matrix.field(3, 3, real, (B, G), needs_grad=True)
        self.soft_mass = sca(None, (B, P))

    def add_tables(self, shapes: dict) -> None:
        """Declare the integer tables ({name: shape}); Simulation uploads them."""
        for name, shape in shapes.items():
            setattr(self, name, backend.int_field(shape))

    def fields(self) -> list:
        return _fields_of(self)


@ti.data_oriented
class State(Poses):
    """What a rollout records, per step t = 0..T, for every world w: the bodies' poses and
    velocities [t, w, n] (Poses); joint_pos, joint_vel [t, w, m]: each motor's joint
    coordinate [rad or m] and its rate; motor_force [t, w, m]: the force the motor applied
    over step t - 1 [N m or N]; sensordata [t, w, :] (engine/sensors.py); point_force [t, w, i]
    [N]: contact point i's force on body b, world; point_pos [t, w, i] [m]: where it acts
    (for viewing, no gradient); warm [t, w, r] [N s or N m s]: each row's impulse at the end of
    step t - 1, which warm-starts step t."""

    SOLVER_FRAME = False

    def __init__(self, steps: int, batch: int, sizes: dict, n_sensordata: int):
        T, B = steps, batch
        N, M, P, R = sizes["N"], sizes["M"], sizes["P"], sizes["R"]
        super().__init__(T + 1, B, N)
        vec, sca = backend.vector, backend.field
        self.warm = sca(None, (T + 1, B, R))
        self.joint_pos, self.joint_vel = sca(None, (T + 1, B, M)), sca(None, (T + 1, B, M))
        self.sensordata = sca(None, (T + 1, B, max(n_sensordata, 1)))
        self.point_force = vec(3, (T + 1, B, P))
        self.motor_force = sca(None, (T + 1, B, M))  # engine/actuators.py
        self.point_pos = vec(3, (T + 1, B, P), grad=False)

    def fields(self) -> list:
        return _fields_of(self)


@ti.data_oriented
class Control:
    """What drives a rollout: ctrl [t, w, m] for t = 0..T-1, motor m's command over step t in
    SI units (a servo's target [rad or m], a velocity servo's [rad/s or m/s], a force motor's
    command times its gear), held over the step's substeps."""

    def __init__(self, steps: int, batch: int, motors: int):
        self.ctrl = backend.field(None, (steps, batch, motors))

    def fields(self) -> list:
        return _fields_of(self)


@ti.data_oriented
class Scratch:
    """What one step computes on its way, [u, w, ...] for its substeps u (docs/
    engine-notes.md). The forward overwrites it every step; the backward replays a step into
    it from the stored state, keeping every solver iterate, then runs the adjoints.

    Bodies [u, w, n]: sub [u = 0..substeps] the substeps' poses (Poses); drift [u] each
    substep's pose before the position projection (engine/stabilize.py); dx the projection's
    displacement (linear [m], rotation [rad]); inv_mass [1/kg], bmass [kg]; iw [kg m^2] world
    inertia and iw_inv [1/(kg m^2)] its inverse, about the centre of mass; vstart [m/s,
    rad/s] the free velocity (gravity), vwarm the warm start's change of it. Contact points
    [u, w, i]: c_normal (unit, from a to b), c_point_a, c_point_b [m] witness points, c_sep
    [m] separation. Rows [u, w, r] (engine/rows.py): ja, jb Jacobian
    halves; ma, mb their products with the inverse mass; meff effective mass; vt target rate;
    ms, isc softness scales; cm compliance of a soft tree row; lo, hi impulse bounds; mu
    friction coefficient; active 1 or 0 (no gradient); gap [m or rad] a tree row's position
    error at the drifted pose. Solver (engine/solver.py) [u, k, w, ...]: lam the impulses
    after sweep k; vproj the velocities after sweep k's projection; lamj, hist, stab_mu what
    its adjoint reads (no gradient). Tree (engine/tree.py): tree_dinv, tree_g [u, w, node] the
    factors; tree_d, tree_y, tree_z, tree_x [w, node] working blocks. vin, vwork, vbar [w, n],
    lam_bar [w, r]: working velocities and adjoints of one world (hand-written code, no
    gradient). gs_rows [w, :], gs_count [w]: the Gauss-Seidel rows active at the current
    substep, forward only. bad_adjoint [t]: 1 + w N + n of a body whose state adjoint at t was
    NaN/inf, else 0."""

    def __init__(self, steps, batch, substeps, sweeps, sizes: dict, nodes: int):
        B, U, K = batch, substeps, sweeps
        N, P, R = sizes["N"], sizes["P"], sizes["R"]
        vec, sca, real = backend.vector, backend.field, backend.current().real
        self.sub = Poses(U + 1, B, N)
        self.drift = Poses(U, B, N)
        self.gap, self.dx = sca(None, (U, B, R)), vec(6, (U, B, N))
        self.inv_mass, self.bmass = sca(None, (U, B, N)), sca(None, (U, B, N))
        self.iw = ti.Matrix.field(3, 3, real, (U, B, N), needs_grad=True)
        self.iw_inv = ti.Matrix.field(3, 3, real, (U, B, N), needs_grad=True)
        self.vstart, self.vwarm = vec(6, (U, B, N)), vec(6, (U, B, N))
        self.c_normal, self.c_point_a, self.c_point_b = (vec(3, (U, B, P)) for _ in range(3))
        self.c_sep = sca(None, (U, B, P))
        self.ja, self.jb, self.ma, self.mb = (vec(6, (U, B, R)) for _ in range(4))
        self.meff, self.vt, self.ms, self.isc = (sca(None, (U, B, R)) for _ in range(4))
        self.lo, self.hi, self.mu, self.cm = (sca(None, (U, B, R)) for _ in range(4))
        self.active = sca(None, (U, B, R), grad=False)
        backend.close_field_tree()
        self.lam = sca(None, (U, K + 1, B, R))
        self.hist = vec(6, (U, max(K, 1), B, R, 2), grad=False)
        self.vproj = vec(6, (U, K + 1, B, N))
        self.lamj = sca(None, (U, K + 1, B, R), grad=False)
        self.stab_mu = sca(None, (U, B, R), grad=False)
        self.tree_dinv = ti.Matrix.field(6, 6, real, (U, B, nodes))
        self.tree_g = ti.Matrix.field(6, 6, real, (U, B, nodes))
        self.tree_d = ti.Matrix.field(6, 6, real, (B, nodes))
        self.tree_y, self.tree_z, self.tree_x = (vec(6, (B, nodes), grad=False) for _ in range(3))
        self.vin, self.vwork, self.vbar = (vec(6, (B, N), grad=False) for _ in range(3))
        self.lam_bar = sca(None, (B, R), grad=False)
        self.gs_rows, self.gs_count = backend.int_field((B, R)), backend.int_field(B)
        self.bad_adjoint = backend.int_field(steps + 1)

    def fields(self) -> list:
        return _fields_of(self)
