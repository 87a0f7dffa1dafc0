"""Constraint rows: Jacobian, target velocity, softness and impulse bounds of one row.

A row constrains the relative velocity J v of its two bodies, where v = (v_a, w_a, v_b, w_b)
stacks each body's centre-of-mass linear velocity [m/s] and angular velocity [rad/s] (world).
Returned per row: ja, jb (6-vectors: linear then angular part for body a and body b), target
velocity vt [m/s or rad/s], soft mass scale ms and impulse scale isc (Catto), impulse bounds
lo, hi [N s or N m s], friction coefficient mu (friction/torsion rows; their bounds follow the
normal impulse) and active (1 or 0).

Joint rows (a = parent, b = child): each joint kind's structural rows (J and position error
C) and its coordinate along an axis live in its own module of engine/joints/; each row solves
J v = -bias_rate * C softly (tmath.soft_coefficients).
Returned per row: ja, jb, target rate vt, softness (tmath.soft_coefficients; 0 rigid), impulse
bounds lo, hi, friction coefficient mu and active (1 or 0).
"""

import taichi as ti

from . import joints
from . import layout as L
from .frames import body_frame, body_velocity, six
from .tmath import soft_coefficients, tangent_basis, TINY

BIG = 1e30  # "unbounded" impulse


@ti.func
def gap_target(gap, bias, dt, max_push):
    """Target rate of a one-sided row (contact normal, joint limit) at signed distance `gap`
    [m or rad] from its bound: a positive gap (inside the speculative margin) may close within
    the substep dt but no further; a violation is pushed out at `bias` [1/s], at most
    `max_push`.
    Both are 0 at gap 0, so the impulse grows from zero as the bound is reached."""
    return ti.select(gap > 0.0, -gap / dt, ti.min(-bias * gap, max_push))


@ti.func
def limit_row(s, u, w, r):
    """(ja, jb, C, active) of a one-sided joint limit at substep u: the nearer of the two
    bounds, active from C < limit_margin on (speculative while C > 0); C < 0 is the
    violation."""
    j, axis = s.model.row_idx[r], s.model.row_sub[r]
    q, ja, jb = joints.coordinate(s, s.scratch.sub, u, w, j, axis)
    lo, hi = s.model.limit_lo[w, j, axis], s.model.limit_hi[w, j, axis]
    near_lo = q - lo < hi - q
    c = ti.select(near_lo, q - lo, hi - q)
    active = ti.select(c < s.model.limit_margin[w], 1.0, 0.0)
    sign = ti.select(near_lo or active == 0.0, 1.0, -1.0)
    return sign * ja, sign * jb, c * active, active


@ti.func
def motor_row(s, t, u, w, r):
    """(ja, jb, target rate, softness, impulse bounds lo, hi) of a motor at substep u of step t
    (whose command it reads); see schema.Motor. A rigid servo (kp = kv = 0) drives the rate
    to its target within +-max_force h (h the substep). A PD servo integrates as MuJoCo's
    implicit integrators do: the spring kp (cmd - q) at the substep's start position, the
    damping kv at its end rate, so its impulse h (kp (cmd - q) - kv rate') makes it a soft row
    J v = kp / kv (cmd - q) - lambda / (h kv), its softness on a reference inertia of 1
    (Simulation.row_scratch); without damping it applies the spring's impulse h kp (cmd - q).
    max_velocity bounds a rigid servo's target rate only.
    A force motor's bounds are both its command times h, so the solver applies exactly that
    impulse (a row with lo == hi; the solver's adjoint sends the gradient to hi, see
    solver.row_adjoint)."""
    m, dt = s.model.row_idx[r], s.h
    q, ja, jb = joints.coordinate(
        s, s.scratch.sub, u, w, s.model.motor_joint[m], s.model.motor_axis[m]
    )
    cmd = ti.math.clamp(
        s.control.ctrl[t, w, m], s.model.motor_ctrl_lo[w, m], s.model.motor_ctrl_hi[w, m]
    )
    vmax, fmax = s.model.motor_max_velocity[w, m], s.model.motor_max_force[w, m]
    kp, kv = s.model.motor_kp[w, m], s.model.motor_kv[w, m]
    position = s.model.motor_mode[m] == L.M_POSITION
    force = s.model.motor_mode[m] == L.M_FORCE
    damped = kv > 0.0
    spring = not damped and kp > 0.0 and position  # a spring alone: its impulse, as a force
    kv_used = ti.select(damped, kv, 1.0)  # finite in the branch not taken, for its adjoint
    error = cmd - q
    # branches as selects: Taichi's reverse mode keeps a stack for a local set in a branch
    damped_rate = ti.select(position, kp / kv_used * error, cmd)
    rigid_rate = ti.math.clamp(  # a rigid servo's target rate is bounded
        ti.select(position, s.model.motor_gain[w, m] * error, cmd), -vmax, vmax
    )
    rate = ti.select(damped, damped_rate, ti.select(spring, 0.0, rigid_rate))
    softness = ti.select(damped, 1.0 / (dt * kv_used), 0.0)
    spring_impulse = ti.math.clamp(kp * error, -fmax, fmax) * dt
    force_impulse = ti.math.clamp(s.model.motor_gear[w, m] * cmd, -fmax, fmax) * dt
    lo = ti.select(force, force_impulse, ti.select(spring, spring_impulse, -fmax * dt))
    hi = ti.select(force, force_impulse, ti.select(spring, spring_impulse, fmax * dt))
    return ja, jb, ti.select(force, 0.0, rate), softness, lo, hi


@ti.func
def pair_material(s, w, i):
    """(friction, restitution, torsional friction) of contact point i: friction is the
    geometric mean of the two materials, restitution and torsion the larger."""
    sa, sb = s.model.point_shape_a[i], s.model.point_shape_b[i]
    shape, k = sb >= 0, ti.max(sb, 0)
    mu_b = ti.select(shape, s.model.shape_friction[w, k], s.model.ground_friction[w])
    e_b = ti.select(shape, s.model.shape_restitution[w, k], s.model.ground_restitution[w])
    tor_b = ti.select(shape, s.model.shape_torsional[w, k], s.model.ground_torsional[w])
    mu = ti.sqrt(s.model.shape_friction[w, sa] * mu_b + TINY)
    if ti.static(s.friction_max):  # Robot.friction_combine "max" (MuJoCo's rule)
        mu = ti.max(s.model.shape_friction[w, sa], mu_b)
    return (
        mu,
        ti.max(s.model.shape_restitution[w, sa], e_b),
        ti.max(s.model.shape_torsional[w, sa], tor_b),
    )


@ti.func
def pair_softness(s, w, i):
    """(contact_hz [Hz], damping ratio) of contact point i, its two sides mixed as MuJoCo mixes
    solref: the mean of their time constants 1 / hz (0 for a rigid side; the contact is rigid
    only when both are) and of their damping ratios."""
    sa, sb = s.model.point_shape_a[i], s.model.point_shape_b[i]
    shape, k = sb >= 0, ti.max(sb, 0)
    hz_b = ti.select(shape, s.model.shape_contact_hz[w, k], s.model.ground_contact_hz[w])
    zeta_b = ti.select(
        shape, s.model.shape_contact_damping[w, k], s.model.ground_contact_damping[w]
    )
    hz_a = s.model.shape_contact_hz[w, sa]
    # 1 / mean(1 / hz_a, 1 / hz_b), written so that equal sides give exactly their value;
    # one side rigid (0): twice the other's
    both = hz_a > 0.0 and hz_b > 0.0
    hertz = ti.select(
        both, 2.0 * hz_a * hz_b / ti.select(both, hz_a + hz_b, 1.0), 2.0 * (hz_a + hz_b)
    )
    return hertz, 0.5 * (s.model.shape_contact_damping[w, sa] + zeta_b)


@ti.func
def in_margin(s, u, w, i):
    """Whether contact point i is within the contact margin at substep u (its rows act)."""
    return s.scratch.c_sep[u, w, i] < s.model.contact_margin[w]


@ti.func
def contact_row(s, u, w, r, kind: ti.template()):
    """Row of a contact point at substep u: normal, one friction direction, or torsion.
    Returns (ja, jb, vt, softness, lo, hi, mu, active). Geometry comes from the contact-point
    stage (Simulation.point_scratch)."""
    i, dt = s.model.row_idx[r], s.h
    n, pa, pb = (
        s.scratch.c_normal[u, w, i],
        s.scratch.c_point_a[u, w, i],
        s.scratch.c_point_b[u, w, i],
    )
    sep = s.scratch.c_sep[u, w, i]
    xa, _qa, _ca = body_frame(s, s.scratch.sub, u, w, s.model.point_body_a[i])
    xb, _qb, _cb = body_frame(s, s.scratch.sub, u, w, s.model.point_body_b[i])
    ra, rb = pa - xa, pb - xb
    mu, rest, torsion = pair_material(s, w, i)
    active = 1.0 if in_margin(s, u, w, i) else 0.0
    zero = ti.Vector([0.0, 0.0, 0.0])
    ja, jb = six(n, ra.cross(n)), six(-n, -rb.cross(n))
    vt, softness, lo, hi, coef = 0.0, 0.0, 0.0, BIG, 0.0
    if ti.static(kind == L.ROW_NORMAL):
        hertz, damping = pair_softness(s, w, i)
        bias, soft = soft_coefficients(hertz, damping, dt)
        approach = ja.dot(body_velocity(s, s.scratch.sub, u, w, s.model.point_body_a[i])) + jb.dot(
            body_velocity(s, s.scratch.sub, u, w, s.model.point_body_b[i])
        )
        push = gap_target(sep, bias, dt, s.max_push_velocity)
        bounce = rest > 0.0 and approach < -s.restitution_velocity and sep + approach * dt < 0.0
        vt = ti.select(bounce, ti.max(-rest * approach, push), push)
        softness = ti.select(bounce, 0.0, soft)
    elif ti.static(kind == L.ROW_TORSION):
        ja, jb, lo, hi, coef = six(zero, n), six(zero, -n), -BIG, BIG, torsion
    else:  # friction: ROW_FRICTION holds the first tangent, ROW_SKIP the second
        t1, t2 = tangent_basis(n)
        tan = t1 if ti.static(kind == L.ROW_FRICTION) else t2
        ja, jb, lo, hi, coef = six(tan, ra.cross(tan)), six(-tan, -rb.cross(tan)), -BIG, BIG, mu
    return ja, jb, vt, softness, lo * active, hi * active, coef * active, active


@ti.func
def row(s, t, u, w, r, kind: ti.template()):
    """(ja, jb, vt, softness, lo, hi, mu, active) of row r, of kind `kind` (compile-time), in
    world w at substep u of step t."""
    zero6 = ti.Vector([0.0] * 6)
    ja, jb, vt, softness, lo, hi, mu, active = zero6, zero6, 0.0, 0.0, -BIG, BIG, 0.0, 1.0
    if ti.static(kind >= L.ROW_NORMAL):
        ja, jb, vt, softness, lo, hi, mu, active = contact_row(s, u, w, r, kind)
    elif ti.static(kind == L.ROW_MOTOR):
        ja, jb, vt, softness, lo, hi = motor_row(s, t, u, w, r)
    else:
        bias, soft = soft_coefficients(s.joint_hz, s.joint_damping, s.h)
        softness = soft
        if ti.static(s.joint_hz == 0.0):  # the tree solve is exact: the whole error a substep
            bias = ti.select(s.model.row_tree[r] == 1, 1.0 / s.h, bias)
        if ti.static(kind == L.ROW_LIMIT):
            ja_, jb_, c, act = limit_row(s, u, w, r)
            vt = gap_target(c, bias, s.h, s.max_push_velocity)
            ja, jb, active, lo, hi = ja_, jb_, act, 0.0, BIG * act
        else:
            ja_, jb_, c = joints.row(s, s.scratch.sub, u, w, r, kind)
            ja, jb, vt = ja_, jb_, -bias * c
    return ja, jb, vt, softness, lo, hi, mu, active
