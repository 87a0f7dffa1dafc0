"""Compile a validated Robot into flat numpy tables the kernels index.

Nothing here is per world: parameters that may differ per world are produced as (1, ...) arrays
by `default_params` and broadcast to the batch by the simulation.

Rows. Every scalar constraint the solver handles is one row with a kind (below), two body
indices a and b (-1 = the world) and an index into its own table (joint, motor, contact point).
Row order is the Gauss-Seidel order: joint rows (each joint's passive rows right after its
structural ones), limits, motors, friction loss, then per contact point the
normal row, the friction pair (two rows solved together, the second marked SKIP) and the
optional torsional row.

Joints solved exactly. The joints that form a tree (forest) over the bodies are solved exactly,
in linear time, by the tree solve of engine/tree.py: its nodes are the bodies and these joints,
each joint node linked to its (movable) parent and child body. A joint that would close a loop
(its two bodies already linked through other joints, or through the world) is left to
Gauss-Seidel like the other rows (row_tree 0).

Welded bodies. With rigid joints (solver.joint_hz 0) a fixed joint in the tree (not to the
world) welds its child to its parent: the solver then takes the two as one rigid body, its
host (the first body up the chain of welds), and the weld has no rows. Every body keeps its
own pose in the state; a welded one follows its host (engine/welds.py). Rows keep their own
bodies for their geometry (row_body_a / row_body_b) and act on the hosts (row_a / row_b);
contact points between two bodies of one host are dropped (they act inside one rigid body).

Gauss-Seidel without overwriting. In each sweep the solver stores the velocity of both bodies
after every row update at its own index (sweep k, row r, side s). A row starts from the velocity
written by the previous row of the same sweep that touched the same body (`prev_first`), or, for
the body's first touch, from the velocity the sweep started with; so no value is overwritten and
the reverse pass can read every intermediate velocity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model.schema import PASSIVE_KEYS, SENSOR_KINDS, Robot
from ..rotations import quat_conj, quat_mul, quat_to_matrix
from . import joints as joint_kinds

# Row kinds: the joints' structural rows 0 .. joint_kinds.N_ROW_KINDS - 1 (engine/joints/),
# then the others in this order.
_N = joint_kinds.N_ROW_KINDS
ROW_LIMIT, ROW_MOTOR = _N, _N + 1
ROW_NORMAL, ROW_FRICTION, ROW_SKIP, ROW_TORSION = _N + 2, _N + 3, _N + 4, _N + 5
# Rows of the joints' passive dynamics (engine/joint_passive.py): damping, armature and spring
# right after the joint's structural rows (one block with them, at most 6 rows), friction loss
# after the motors.
ROW_PASSIVE, ROW_FRICTION_LOSS = _N + 6, _N + 7
# Sensor kinds (schema.SENSOR_KINDS order) and the number of values each one reads.
SENSOR_CODES = {kind: i for i, kind in enumerate(SENSOR_KINDS)}
SENSOR_DIMS = {
    "body_pos": 3,
    "body_vel": 3,
    "body_quat": 4,
    "body_omega": 3,
    "joint_pos": 1,
    "joint_vel": 1,
    "contact_force": 3,
    "actuator_force": 1,
}
SENSOR_CONTACT_FORCE = SENSOR_CODES["contact_force"]

MOTOR_CODES = {"position": 0, "velocity": 1, "force": 2}
M_POSITION, M_VELOCITY, M_FORCE = 0, 1, 2

# Shape kinds (planes only among the world's shapes).
SHAPE_CODES = {"sphere": 0, "box": 1, "capsule": 2, "cylinder": 3, "plane": 4}
S_SPHERE, S_BOX, S_CAPSULE, S_CYLINDER, S_PLANE = 0, 1, 2, 3, 4

# Contact point geometries (engine/geometry.py). A geometry named X_Y tests shape a (kind X)
# against shape b (kind Y); G_FLIP + code tests the same with the roles of a and b exchanged
# (a shape fixed in the world is always side b). X_PLANE: shape b is a plane of the world,
# or the ground z = 0 when b is -1.
G_SPHERE_PLANE, G_CAPSULE_PLANE, G_BOX_PLANE = 0, 1, 2
G_SPHERE_SPHERE, G_SPHERE_CAPSULE, G_CAPSULE_CAPSULE, G_SPHERE_BOX = 3, 4, 5, 6
G_CYLINDER_PLANE, G_SPHERE_CYLINDER, G_CAPSULE_BOX, G_CAPSULE_CYLINDER = 7, 8, 9, 10
G_BOX_BOX, G_BOX_CYLINDER, G_CYLINDER_BOX, G_CYLINDER_CYLINDER = 11, 12, 13, 14
G_FLIP = 32
# Points a shape offers another solid (engine/geometry.py): a capsule its two ends and the
# point of its segment nearest the other, a box its corners, a cylinder the rim points of
# geometry.cylinder_probe.
CAPSULE_PROBES, BOX_PROBES, CYLINDER_PROBES = 3, 8, 9
# (geometry, points) against a plane, per shape kind.
_PLANE_POINTS = {
    "sphere": (G_SPHERE_PLANE, 1),
    "capsule": (G_CAPSULE_PLANE, 2),
    "box": (G_BOX_PLANE, BOX_PROBES),
    "cylinder": (G_CYLINDER_PLANE, CYLINDER_PROBES),
}
# [(geometry, points), ...] of a shape pair (kind a, kind b); the reversed pair flips them.
_PAIR_POINTS = {
    ("sphere", "sphere"): [(G_SPHERE_SPHERE, 1)],
    ("sphere", "capsule"): [(G_SPHERE_CAPSULE, 1)],
    ("sphere", "box"): [(G_SPHERE_BOX, 1)],
    ("sphere", "cylinder"): [(G_SPHERE_CYLINDER, 1)],
    ("capsule", "capsule"): [(G_CAPSULE_CAPSULE, 1)],
    ("capsule", "box"): [(G_CAPSULE_BOX, CAPSULE_PROBES)],
    ("capsule", "cylinder"): [(G_CAPSULE_CYLINDER, CAPSULE_PROBES)],
    ("box", "box"): [(G_BOX_BOX, BOX_PROBES), (G_FLIP + G_BOX_BOX, BOX_PROBES)],
    ("box", "cylinder"): [(G_BOX_CYLINDER, BOX_PROBES), (G_FLIP + G_CYLINDER_BOX, CYLINDER_PROBES)],
    ("cylinder", "cylinder"): [
        (G_CYLINDER_CYLINDER, CYLINDER_PROBES),
        (G_FLIP + G_CYLINDER_CYLINDER, CYLINDER_PROBES),
    ],
}


def _flipped(code: int) -> int:
    return code - G_FLIP if code >= G_FLIP else code + G_FLIP


def _pair_points(kind_a: str, kind_b: str, keep_order: bool) -> tuple[bool, list]:
    """(swap, [(geometry, points), ...]) for shapes of kinds a and b: swap tells the caller
    to exchange a and b (allowed unless keep_order), else the geometries are flipped."""
    if (kind_a, kind_b) in _PAIR_POINTS:
        return False, _PAIR_POINTS[(kind_a, kind_b)]
    entries = _PAIR_POINTS[(kind_b, kind_a)]  # the loader refused unsupported pairs
    if not keep_order:
        return True, entries
    return False, [(_flipped(code), count) for code, count in entries]


@dataclass
class Layout:
    """Static integer tables plus the model's default parameter values.

    Shapes (N bodies, S shapes, J joints, M motors, P contact points, R rows):
    shape_body (S,): the first n_body_shapes on bodies, then the world's (body -1);
    shape_kind (S,);
    joint_kind (J,) (engine/joints/ CODES), joint_parent/
    joint_child (J,); motor_joint/motor_axis/motor_mode (M,) (MOTOR_CODES);
    point_geom/body_a/shape_a/body_b/shape_b/sub (P,);
    row_kind/row_a/row_b/row_idx/row_sub/row_ref (R,); row_tree (R,) 1 for the rows of the
    joints solved exactly (the tree solve), 0 for Gauss-Seidel rows; prev_first (R, 2, 2) =
    (row, side) of the previous Gauss-Seidel row of the sweep touching the same body, -1 for
    the body's first touch; final (N, 2) = (row, side) holding each body's velocity after a
    sweep, -1 if no Gauss-Seidel row touches it. point_row (P,): the point's normal row (its
    friction rows follow it).
    Tree solve (engine/tree.py), nodes 0..N-1 the bodies and N + j joint j: node_parent
    (N + J,) the parent node or -1 for a root; tree_order (n_tree,) the nodes of the forest,
    every node before its parent; joint_row0 / joint_nrows (J,) the joint's first row and
    number of rows (at most 6, consecutive); joint_in_tree (J,) 1 when solved exactly.
    Welds: body_host (N,) the body each one moves with (itself unless welded); weld_joint (N,)
    the fixed joint welding it to its parent (-1: not welded); weld_depth (N,) its number of
    welds up to its host (0: not welded), at most n_weld_depth; joint_host_parent /
    joint_host_child (J,) the hosts of each joint's bodies (-1 the world); row_body_a /
    row_body_b (R,) the rows' own bodies, whose frames their geometry is built in.
    body_group (N,): which jointed body (bodies linked by joints, n_groups of them) each body
    belongs to; body_alone (N,) 1 for a body no joint links to another.
    Sensors (K sensors, D values): sensor_kind/body/ref/joint/axis/motor/adr/dim (K,); sensor
    k's reading occupies sensordata[adr : adr + dim] (as MuJoCo's sensordata).
    body_has_com (N,): 1 for a body whose file gives its centre of mass. motor_row (M,): each
    motor's row.
    """

    robot: Robot
    body_names: list
    n_bodies: int
    n_shapes: int
    n_body_shapes: int
    n_joints: int
    n_motors: int
    n_points: int
    n_rows: int
    shape_body: np.ndarray
    shape_kind: np.ndarray
    body_has_inertia: np.ndarray
    joint_kind: np.ndarray
    joint_parent: np.ndarray
    joint_child: np.ndarray
    motor_joint: np.ndarray
    motor_axis: np.ndarray
    motor_mode: np.ndarray
    point_geom: np.ndarray
    point_body_a: np.ndarray
    point_shape_a: np.ndarray
    point_body_b: np.ndarray
    point_shape_b: np.ndarray
    point_sub: np.ndarray
    row_kind: np.ndarray
    row_a: np.ndarray
    row_b: np.ndarray
    row_idx: np.ndarray
    row_sub: np.ndarray
    row_ref: np.ndarray
    row_tree: np.ndarray
    prev_first: np.ndarray
    final: np.ndarray
    node_parent: np.ndarray
    tree_order: np.ndarray
    joint_row0: np.ndarray
    joint_nrows: np.ndarray
    joint_in_tree: np.ndarray
    body_group: np.ndarray
    n_groups: int
    body_alone: np.ndarray
    point_row: np.ndarray
    sensor_names: list
    n_sensors: int
    n_sensordata: int
    sensor_kind: np.ndarray
    sensor_body: np.ndarray
    sensor_ref: np.ndarray
    sensor_joint: np.ndarray
    sensor_axis: np.ndarray
    sensor_adr: np.ndarray
    sensor_dim: np.ndarray
    sensor_motor: np.ndarray
    body_has_com: np.ndarray
    motor_row: np.ndarray
    body_host: np.ndarray
    weld_joint: np.ndarray
    weld_depth: np.ndarray
    n_weld_depth: int
    joint_host_parent: np.ndarray
    joint_host_child: np.ndarray
    row_body_a: np.ndarray
    row_body_b: np.ndarray
    params: dict

    @property
    def motor_names(self) -> list:
        return [m.name for _, m in self.robot.motors]


def build_layout(robot: Robot) -> Layout:
    """Flatten `robot` into tables; see Layout."""
    names = [b.name for b in robot.bodies]
    index = {n: i for i, n in enumerate(names)}
    shape_body, shape_kind, shape_ref = [], [], {}
    for bi, body in enumerate(robot.bodies):
        for si, shape in enumerate(body.shapes):
            shape_ref[(bi, si)] = len(shape_body)
            shape_body.append(bi)
            shape_kind.append(SHAPE_CODES[shape.kind])
    for shape in robot.world_shapes:  # fixed in the world: body -1
        shape_body.append(-1)
        shape_kind.append(SHAPE_CODES[shape.kind])
    joints = robot.joints
    motors = robot.motors
    parent = [index[j.parent] if j.parent is not None else -1 for j in joints]
    child = [index[j.child] for j in joints]
    weld_joint = _welds(robot, parent, child)
    host = _hosts(parent, weld_joint)
    on_host = lambda b: host[b] if b >= 0 else -1  # noqa: E731
    points = [
        p
        for p in _contact_points(robot, shape_ref)
        if p[3] < 0 or host[p[1]] != host[p[3]]  # not inside one rigid body
    ]
    welded = {int(weld_joint[b]) for b in range(len(names)) if weld_joint[b] >= 0}
    rows = _rows(robot, parent, child, points, welded)
    kinds = np.array([r[0] for r in rows], np.int32).reshape(-1)
    own_a = np.array([r[1] for r in rows], np.int32).reshape(-1)
    own_b = np.array([r[2] for r in rows], np.int32).reshape(-1)
    ra = np.array([on_host(b) for b in own_a], np.int32).reshape(-1)
    rb = np.array([on_host(b) for b in own_b], np.int32).reshape(-1)
    host_parent = [on_host(b) for b in parent]
    host_child = [on_host(b) for b in child]
    in_tree = _tree_joints(parent, child, len(names))
    in_tree[list(welded)] = False
    row_joint = np.array([r[3] if r[0] < _N or r[0] == ROW_PASSIVE else -1 for r in rows], np.int64)
    row_tree = np.array([j >= 0 and in_tree[j] for j in row_joint], np.int32).reshape(-1)
    joint_row0 = np.array([int(np.argmax(row_joint == j)) for j in range(len(joints))], np.int32)
    joint_nrows = np.array([int((row_joint == j).sum()) for j in range(len(joints))], np.int32)
    node_parent, tree_order = _tree_order(
        host_parent, host_child, in_tree, len(names), weld_joint >= 0
    )
    depth = _weld_depths(parent, weld_joint)
    groups = _groups_of(parent, child, len(names))
    gs = row_tree == 0
    prev_first, final = _gauss_seidel_tables(np.where(gs, ra, -1), np.where(gs, rb, -1), len(names))
    i32 = lambda xs: np.array(xs, np.int32).reshape(-1)  # noqa: E731
    sensors = robot.sensors
    dims = [SENSOR_DIMS[x.kind] for x in sensors]
    body_or_none = lambda name: index[name] if name is not None else -1  # noqa: E731
    joint_index = {j.name: i for i, j in enumerate(joints)}
    return Layout(
        robot=robot,
        body_names=names,
        n_bodies=len(names),
        n_shapes=len(shape_body),
        n_body_shapes=len(shape_ref),
        n_joints=len(joints),
        n_motors=len(motors),
        n_points=len(points),
        n_rows=len(rows),
        shape_body=i32(shape_body),
        shape_kind=i32(shape_kind),
        body_has_inertia=i32([b.inertia is not None for b in robot.bodies]),
        joint_kind=i32([joint_kinds.CODES[j.kind] for j in joints]),
        joint_parent=i32(parent),
        joint_child=i32(child),
        motor_joint=i32([joints.index(j) for j, _ in motors]),
        motor_axis=i32([m.axis for _, m in motors]),
        motor_mode=i32([MOTOR_CODES[m.mode] for _, m in motors]),
        point_geom=i32([p[0] for p in points]),
        point_body_a=i32([p[1] for p in points]),
        point_shape_a=i32([p[2] for p in points]),
        point_body_b=i32([p[3] for p in points]),
        point_shape_b=i32([p[4] for p in points]),
        point_sub=i32([p[5] for p in points]),
        row_kind=kinds,
        row_a=ra,
        row_b=rb,
        row_idx=i32([r[3] for r in rows]),
        row_sub=i32([r[4] for r in rows]),
        row_ref=i32([r[5] for r in rows]),
        row_tree=row_tree,
        prev_first=prev_first,
        final=final,
        node_parent=node_parent,
        tree_order=tree_order,
        joint_row0=joint_row0,
        joint_nrows=joint_nrows,
        joint_in_tree=in_tree.astype(np.int32),
        body_group=groups,
        n_groups=int(groups.max(initial=-1)) + 1,
        body_alone=(np.bincount(groups)[groups] == 1).astype(np.int32),
        point_row=i32([i for i, r in enumerate(rows) if r[0] == ROW_NORMAL]),
        sensor_names=[x.name for x in sensors],
        n_sensors=len(sensors),
        n_sensordata=int(sum(dims)),
        sensor_kind=i32([SENSOR_CODES[x.kind] for x in sensors]),
        sensor_body=i32([body_or_none(x.body) for x in sensors]),
        sensor_ref=i32([body_or_none(x.reference) for x in sensors]),
        sensor_joint=i32([joint_index[x.joint] if x.joint is not None else -1 for x in sensors]),
        sensor_axis=i32([x.axis for x in sensors]),
        sensor_adr=i32(np.cumsum([0] + dims)[:-1]),
        sensor_dim=i32(dims),
        sensor_motor=i32(
            [
                [m.name for _, m in motors].index(x.motor) if x.motor is not None else -1
                for x in sensors
            ]
        ),
        body_has_com=i32([b.com is not None for b in robot.bodies]),
        motor_row=i32([i for i, r in enumerate(rows) if r[0] == ROW_MOTOR]),
        body_host=i32(host),
        weld_joint=i32(weld_joint),
        weld_depth=i32(depth),
        n_weld_depth=int(depth.max(initial=0)),
        joint_host_parent=i32(host_parent),
        joint_host_child=i32(host_child),
        row_body_a=own_a,
        row_body_b=own_b,
        params=default_params(robot, parent, child),
    )


def _contact_points(robot: Robot, shape_ref: dict) -> list:
    """(geometry, body a, shape a, body b, shape b, sub) per contact point: the ground's, the
    world shapes' (shape b, body -1), then the body pairs'."""
    points = []
    n_body_shapes = len(shape_ref)
    touching = [
        (bi, shape_ref[(bi, si)], shape)
        for bi, body in enumerate(robot.bodies)
        for si, shape in enumerate(body.shapes)
        if shape.ground
    ]
    if robot.ground.enabled:
        for bi, sa, shape in touching:
            geom, count = _PLANE_POINTS[shape.kind]
            points += [(geom, bi, sa, -1, -1, k) for k in range(count)]
    for wi, fixed in enumerate(robot.world_shapes):
        sb = n_body_shapes + wi
        for bi, sa, shape in touching:
            if fixed.kind == "plane":
                entries = [_PLANE_POINTS[shape.kind]]
            else:
                entries = _pair_points(shape.kind, fixed.kind, keep_order=True)[1]
            for geom, count in entries:
                points += [(geom, bi, sa, -1, sb, k) for k in range(count)]
    for pair in robot.contact_pairs:
        a = (pair.body_a, pair.shape_a)
        b = (pair.body_b, pair.shape_b)
        ka = robot.bodies[a[0]].shapes[a[1]].kind
        kb = robot.bodies[b[0]].shapes[b[1]].kind
        swap, entries = _pair_points(ka, kb, keep_order=False)
        if swap:
            a, b = b, a
        for geom, count in entries:
            points += [(geom, a[0], shape_ref[a], b[0], shape_ref[b], k) for k in range(count)]
    return points


def all_shapes(robot: Robot) -> list:
    """The shapes in the order of the shape tables: each body's in file order, then the
    world's (Robot.world_shapes)."""
    return [s for b in robot.bodies for s in b.shapes] + list(robot.world_shapes)


def _torsion_wanted(flat: list, ground_torsion: float, point) -> bool:
    """Whether contact point `point` gets a torsional row: either side's torsional friction
    (`flat`: all_shapes of the robot) is above 0."""
    geom, ba, sa, bb, sb, _ = point
    other = ground_torsion if sb < 0 else flat[sb].torsional_friction
    return max(flat[sa].torsional_friction, other) > 0


def _own(value, solver_value) -> float:
    """A shape's (or the ground's) own contact setting, else the solver's."""
    return solver_value if value is None else value


def passive_axes(joint) -> list[int]:
    """The axes of `joint` with damping, armature or a spring: each gets a passive row."""
    return [
        axis
        for axis, values in enumerate(zip(joint.damping, joint.armature, joint.stiffness))
        if any(v > 0 for v in values)
    ]


def _padded(values) -> list[float]:
    """A per-axis tuple as three numbers (the unused axes 0)."""
    return list(values) + [0.0] * (3 - len(values))


def _rows(robot: Robot, parent, child, points, welded=frozenset()) -> list:
    """(kind, a, b, idx, sub, ref) per row, in Gauss-Seidel order; the joints in `welded` have
    none (their bodies move as one)."""
    rows = []
    for j, joint in enumerate(robot.joints):
        p, c = parent[j], child[j]
        if j in welded:
            continue
        for kind, count in joint_kinds.structural_rows(joint.kind):
            rows += [(kind, p, c, j, k, -1) for k in range(count)]
        # soft rows of the joint's own block, solved with it exactly
        rows += [(ROW_PASSIVE, p, c, j, axis, -1) for axis in passive_axes(joint)]
    for j, joint in enumerate(robot.joints):
        for axis, limit in enumerate(joint.limits):
            if limit is not None:
                rows.append((ROW_LIMIT, parent[j], child[j], j, axis, -1))
    for m, (joint, motor) in enumerate(robot.motors):
        j = robot.joints.index(joint)
        rows.append((ROW_MOTOR, parent[j], child[j], m, motor.axis, -1))
    for j, joint in enumerate(robot.joints):
        rows += [
            (ROW_FRICTION_LOSS, parent[j], child[j], j, axis, -1)
            for axis, bound in enumerate(joint.friction_loss)
            if bound > 0
        ]
    flat = all_shapes(robot)
    for i, point in enumerate(points):
        _, ba, _, bb, _, _ = point
        normal = len(rows)
        rows.append((ROW_NORMAL, ba, bb, i, 0, -1))
        rows.append((ROW_FRICTION, ba, bb, i, 0, normal))
        rows.append((ROW_SKIP, -1, -1, i, 1, normal))
        if _torsion_wanted(flat, robot.ground.torsional_friction, point):
            rows.append((ROW_TORSION, ba, bb, i, 0, normal))
    return rows


def _gauss_seidel_tables(ra: np.ndarray, rb: np.ndarray, n_bodies: int):
    """Where each Gauss-Seidel row reads its bodies' velocities from, within one sweep.

    ra / rb: the rows' bodies, -1 for the world and for rows outside Gauss-Seidel.
    prev_first[r, s] = (r', s') of the last row before r touching the same body, -1 where r
    is the body's first touch in the sweep (it reads the velocity the sweep starts from).
    final[n] = (r', s') of the last row touching body n, or -1 if none touches it.
    """
    n_rows = len(ra)
    touches = [[] for _ in range(n_bodies)]
    for r in range(n_rows):
        for s, body in ((0, ra[r]), (1, rb[r])):
            if body >= 0:
                touches[body].append((r, s))
    prev_first = -np.ones((max(n_rows, 1), 2, 2), np.int32)
    final = -np.ones((max(n_bodies, 1), 2), np.int32)
    for body, seq in enumerate(touches):
        if not seq:
            continue
        final[body] = seq[-1]
        for i in range(1, len(seq)):
            prev_first[seq[i][0], seq[i][1]] = seq[i - 1]
    return prev_first, final


def _tree_joints(parent, child, n_bodies: int) -> np.ndarray:
    """(J,) bool: the joints solved exactly, every joint in file order that does not close a
    loop (union-find over the bodies and the world: a second path to the world closes one
    too, so each tree hangs from the world by at most one joint)."""
    root = list(range(n_bodies + 1))  # index n_bodies: the world

    def find(i):
        while root[i] != i:
            root[i] = root[root[i]]
            i = root[i]
        return i

    in_tree = np.zeros(len(child), bool)
    for j, (p, c) in enumerate(zip(parent, child)):
        a, b = find(p if p >= 0 else n_bodies), find(c)
        if a != b:
            root[a] = b
            in_tree[j] = True
    return in_tree


def _welds(robot: Robot, parent, child) -> np.ndarray:
    """(N,) int: the fixed joint welding each body to its parent, -1 for none (module
    docstring): only with rigid joints, and not to the world. (The loader refuses loops, so
    no other joint links two bodies of one welded group.)"""
    weld_joint = -np.ones(len(robot.bodies), np.int64)
    if robot.solver.joint_hz == 0.0:
        for j, joint in enumerate(robot.joints):
            if joint.kind == "fixed" and parent[j] >= 0:
                weld_joint[child[j]] = j
    return weld_joint


def _hosts(parent, weld_joint) -> np.ndarray:
    """(N,) int: the body each body moves with: up its chain of welds (weld_joint) to the
    first body not welded."""
    host = np.arange(len(weld_joint))
    for b in range(len(weld_joint)):
        while weld_joint[host[b]] >= 0:
            host[b] = parent[weld_joint[host[b]]]
    return host


def _weld_depths(parent, weld_joint) -> np.ndarray:
    """(N,) int: the number of welds from each body up to its host."""
    depth = np.zeros(len(weld_joint), np.int64)
    for b in range(len(weld_joint)):
        k = b
        while weld_joint[k] >= 0:
            depth[b] += 1
            k = parent[weld_joint[k]]
    return depth


def _groups_of(parent, child, n_bodies: int) -> np.ndarray:
    """(N,) int32: the index of the jointed body each body belongs to (bodies linked by any
    joint share one), numbered in order of first appearance."""
    root = list(range(n_bodies))

    def find(i):
        while root[i] != i:
            root[i] = root[root[i]]
            i = root[i]
        return i

    for p, c in zip(parent, child):
        if p >= 0:
            root[find(p)] = find(c)
    labels = {}
    return np.array([labels.setdefault(find(n), len(labels)) for n in range(n_bodies)], np.int32)


def _tree_order(parent, child, in_tree, n_bodies: int, welded):
    """(node_parent, tree_order) of the tree solve, and an elimination order with every node
    before its parent (so factorising creates no fill-in). Each tree is rooted at its joint to
    the world if it has one, else at its first body: then every leaf is a body, whose block
    is the (definite) mass matrix, and every joint node has a body below it. parent / child:
    the joints' hosts; the welded bodies (`welded`, (N,) bool) are no nodes."""
    n_nodes = n_bodies + len(child)
    links = [[] for _ in range(n_nodes)]
    for j in np.nonzero(in_tree)[0]:
        for body in (parent[j], child[j]):
            if body >= 0:
                links[n_bodies + j].append(body)
                links[body].append(n_bodies + j)
    node_parent = -np.ones(n_nodes, np.int32)
    seen = np.zeros(n_nodes, bool)
    order = []
    world_joints = [n_bodies + j for j in np.nonzero(in_tree)[0] if parent[j] < 0]
    for start in world_joints + [n for n in range(n_bodies) if not welded[n]]:
        if seen[start]:
            continue
        seen[start] = True
        queue = [start]
        for node in queue:  # breadth first: parents before children
            for nxt in links[node]:
                if not seen[nxt]:
                    seen[nxt] = True
                    node_parent[nxt] = node
                    queue.append(nxt)
        order += queue
    return node_parent, np.array(order[::-1], np.int32)


def default_params(robot: Robot, parent, child) -> dict:
    """Per-world physical parameters from the file, as arrays with a leading batch axis of 1.

    Units and frames: see engine/fields.py PARAM_DOCS. Joint frames are stored in each body's frame
    (relative to the body frame origin), so they follow the body when it moves.
    """
    bodies, shapes = robot.bodies, all_shapes(robot)
    rot = [quat_to_matrix(b.quat) for b in bodies]
    p = {
        "shape_radius": [s.radius for s in shapes],
        "shape_half_extents": [s.half_extents for s in shapes],
        "shape_half_length": [s.half_length for s in shapes],
        "shape_pos": [s.pos for s in shapes],
        "shape_quat": [s.quat for s in shapes],
        "shape_mass": [s.mass for s in shapes],
        "shape_friction": [s.friction for s in shapes],
        "shape_contact_hz": [_own(s.contact_hz, robot.solver.contact_hz) for s in shapes],
        "shape_contact_damping": [
            _own(s.contact_damping, robot.solver.contact_damping) for s in shapes
        ],
        "shape_restitution": [s.restitution for s in shapes],
        "shape_torsional_friction": [s.torsional_friction for s in shapes],
        "body_inertia": [b.inertia if b.inertia is not None else (0.0, 0.0, 0.0) for b in bodies],
        "body_inertia_products": [b.inertia_products for b in bodies],
        "body_com": [b.com if b.com is not None else (0.0, 0.0, 0.0) for b in bodies],
        "init_pos": [b.pos for b in bodies],
        "init_quat": [b.quat for b in bodies],
        "init_vel": [b.vel for b in bodies],
        "init_omega": [b.omega for b in bodies],
        "ground_friction": robot.ground.friction,
        "ground_contact_hz": _own(robot.ground.contact_hz, robot.solver.contact_hz),
        "ground_contact_damping": _own(robot.ground.contact_damping, robot.solver.contact_damping),
        "ground_restitution": robot.ground.restitution,
        "ground_torsional_friction": robot.ground.torsional_friction,
        "contact_margin": robot.solver.contact_margin,
    }
    p.update(_joint_frames(robot, parent, child, rot))
    motors = robot.motors
    p["limit_margin"] = robot.solver.limit_margin
    p["motor_gain"] = [m.gain for _, m in motors]
    p["motor_kp"] = [m.kp for _, m in motors]
    p["motor_kv"] = [m.kv for _, m in motors]
    p["motor_max_force"] = [m.max_force for _, m in motors]
    p["motor_max_velocity"] = [m.max_velocity for _, m in motors]
    p["motor_ctrl_lo"] = [m.ctrl_range[0] for _, m in motors]
    p["motor_ctrl_hi"] = [m.ctrl_range[1] for _, m in motors]
    p["motor_gear"] = [m.gear for _, m in motors]
    for key in PASSIVE_KEYS:  # per joint and axis, padded to 3 axes
        values = [_padded(getattr(j, key)) for j in robot.joints]
        p["passive_" + key] = np.reshape(np.asarray(values, float), (len(values), 3))
    return {k: np.asarray(v, float)[None] for k, v in p.items()}


def _joint_frames(robot: Robot, parent, child, rot) -> dict:
    """Anchors, axes and reference vectors of each joint in its parent's and child's frames.

    axis_p[j, i] / axis_c[j, i]: joint axis i in the parent / child frame. perp_p / perp_c:
    the reference vector of axis i (its kind's `references`, engine/joints/), equal in both
    frames at the initial pose (angles are measured between them, zero at the initial pose).
    rel_quat: child orientation relative to the parent at the initial pose. Limits are per
    axis, +-inf where absent.
    """
    bodies = robot.bodies
    out = {
        k: []
        for k in (
            "anchor_p",
            "anchor_c",
            "axis_p",
            "axis_c",
            "perp_p",
            "perp_c",
            "rel_quat",
            "limit_lo",
            "limit_hi",
        )
    }
    for j, joint in enumerate(robot.joints):
        pi, ci = parent[j], child[j]
        rp = rot[pi] if pi >= 0 else np.eye(3)
        op = np.asarray(bodies[pi].pos) if pi >= 0 else np.zeros(3)
        qp = np.asarray(bodies[pi].quat) if pi >= 0 else np.array([1.0, 0, 0, 0])
        rc, oc, qc = rot[ci], np.asarray(bodies[ci].pos), np.asarray(bodies[ci].quat)
        anchor = np.asarray(joint.anchor, float)
        out["anchor_p"].append(rp.T @ (anchor - op))
        out["anchor_c"].append(rc.T @ (anchor - oc))
        axes = [np.asarray(a, float) for a in joint.axes]
        refs = joint_kinds.references(joint.kind, axes)
        axes += [np.array([1.0, 0, 0])] * (3 - len(axes))
        refs += [np.array([0.0, 1, 0])] * (3 - len(refs))
        out["axis_p"].append([rp.T @ a for a in axes])
        out["axis_c"].append([rc.T @ a for a in axes])
        out["perp_p"].append([rp.T @ v for v in refs])
        out["perp_c"].append([rc.T @ v for v in refs])
        out["rel_quat"].append(quat_mul(quat_conj(qp), qc))
        limits = list(joint.limits) + [None] * (3 - len(joint.limits))
        out["limit_lo"].append([lim[0] if lim else -np.inf for lim in limits])
        out["limit_hi"].append([lim[1] if lim else np.inf for lim in limits])
    if not robot.joints:
        shapes = {
            "anchor_p": (0, 3),
            "anchor_c": (0, 3),
            "axis_p": (0, 3, 3),
            "axis_c": (0, 3, 3),
            "perp_p": (0, 3, 3),
            "perp_c": (0, 3, 3),
            "rel_quat": (0, 4),
            "limit_lo": (0, 3),
            "limit_hi": (0, 3),
        }
        return {k: np.zeros(s) for k, s in shapes.items()}
    return out
