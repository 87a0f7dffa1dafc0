"""Per-body stages: mass properties, free velocity (gravity and gyroscopic term), integration.

State (world frame): pos [m] centre of mass, quat [w, x, y, z] body to world, vel [m/s],
omega [rad/s]. Mass properties live in the body frame about the centre of mass.
"""

import math

import taichi as ti

from . import layout as L
from .tmath import cayley_rotate, quat_mul, quat_rotate, quat_rotate_inv


@ti.func
def shape_volume_inertia(kind, radius, half, half_length):
    """(volume [m^3], principal inertia per unit mass [m^2] about the shape centre, shape axes)."""
    vol = 8.0 * half[0] * half[1] * half[2]
    inertia = (
        ti.Vector(
            [half[1] ** 2 + half[2] ** 2, half[0] ** 2 + half[2] ** 2, half[0] ** 2 + half[1] ** 2]
        )
        / 3.0
    )
    if kind == L.S_SPHERE:
        vol = 4.0 / 3.0 * math.pi * radius**3
        inertia = ti.Vector([0.4, 0.4, 0.4]) * radius**2
    elif kind == L.S_CAPSULE:
        # cylinder of length 2l along z plus two hemispherical caps, mass shared by volume
        v_cyl = math.pi * radius**2 * 2.0 * half_length
        v_caps = 4.0 / 3.0 * math.pi * radius**3
        vol = v_cyl + v_caps
        f_cyl, f_caps = v_cyl / vol, v_caps / vol
        axial = f_cyl * radius**2 / 2.0 + f_caps * 0.4 * radius**2
        transverse = f_cyl * (radius**2 / 4.0 + (2.0 * half_length) ** 2 / 12.0) + f_caps * (
            0.4 * radius**2 + half_length**2 + 0.75 * half_length * radius
        )
        inertia = ti.Vector([transverse, transverse, axial])
    elif kind == L.S_CYLINDER:  # solid cylinder of length 2l along z
        vol = math.pi * radius**2 * 2.0 * half_length
        transverse = radius**2 / 4.0 + (2.0 * half_length) ** 2 / 12.0
        inertia = ti.Vector([transverse, transverse, radius**2 / 2.0])
    return vol, inertia


@ti.func
def shape_inertia_about_origin(s, w, k):
    """(mass [kg], first moment [kg m], inertia about the body frame origin [kg m^2]) of
    shape k, in body axes. Uses only vector products (matrix products are slow to compile
    for reverse mode in Taichi 1.7.4)."""
    m = s.model.shape_mass[w, k]
    _, unit = shape_volume_inertia(
        s.model.shape_kind[k],
        s.model.shape_radius[w, k],
        s.model.shape_half_extents[w, k],
        s.model.shape_half_length[w, k],
    )
    q = s.model.shape_quat[w, k]
    q = q / q.norm()
    p = s.model.shape_pos[w, k]
    inertia = m * (p.dot(p) * ti.Matrix.identity(s.real, 3) - p.outer_product(p))
    for i in ti.static(range(3)):
        e = ti.Vector([0.0, 0.0, 0.0])
        e[i] = 1.0
        axis = quat_rotate(q, e)
        inertia += (m * unit[i]) * axis.outer_product(axis)
    return m, m * p, inertia


@ti.func
def about_centre_of_mass(s, w, n):
    """(mass [kg], COM in the body frame [m], inertia about the COM [kg m^2], body axes) from
    the sums of k_mass_sum; a body's given `inertia` (moments and products) replaces the
    computed one, and its given `com` the shapes' (whose inertia about their own centre of
    mass is kept)."""
    m = s.model.mass[w, n]
    com = s.model.moment[w, n] / m
    inertia = s.model.inertia_origin[w, n] - m * (
        com.dot(com) * ti.Matrix.identity(s.real, 3) - com.outer_product(com)
    )
    if s.model.body_has_com[n]:
        com = s.model.body_com[w, n]
    if s.model.body_has_inertia[n]:
        d, p = s.model.body_inertia[w, n], s.model.body_inertia_products[w, n]
        inertia = ti.Matrix([[d[0], p[0], p[1]], [p[0], d[1], p[2]], [p[1], p[2], d[2]]])
    return m, com, inertia


@ti.func
def solve3(c0, c1, c2, r):
    """x with [c0 c1 c2] x = r (Cramer's rule, columns c0..c2)."""
    det = c0.dot(c1.cross(c2))
    return ti.Vector([r.dot(c1.cross(c2)), c0.dot(r.cross(c2)), c0.dot(c1.cross(r))]) / det


@ti.func
def gyro_column(ib, wb, iw, dt, i: ti.template()):
    """Column i of the Newton Jacobian I + dt (skew(w) I - skew(I w)) (for the implicit
    midpoint residual: dt = h / 2, w and I w at the midpoint)."""
    e = ti.Vector([0.0, 0.0, 0.0])
    e[i] = 1.0
    ie = ib @ e
    return ie + dt * (wb.cross(ie) - iw.cross(e))


@ti.func
def in_frame(s, q, m):
    """R m R^T for a body-frame matrix m at orientation q, built column by column from
    rotations (no matrix-matrix product: those are slow to compile for reverse mode,
    docs/engine-notes.md)."""
    out = ti.Matrix.zero(s.real, 3, 3)
    for k in ti.static(range(3)):
        e = ti.Vector([0.0, 0.0, 0.0])
        e[k] = 1.0
        column = quat_rotate(q, m @ quat_rotate_inv(q, e))
        for i in ti.static(range(3)):
            out[i, k] = column[i]
    return out


@ti.func
def world_inertia(s, q, w, n):
    """Inertia of body n about its centre of mass in world axes [kg m^2] at orientation q,
    R I R^T."""
    return in_frame(s, q, s.model.inertia[w, n])


@ti.func
def world_inverse_inertia(s, q, w, n):
    """Its inverse [1/(kg m^2)], R I^-1 R^T."""
    return in_frame(s, q, s.model.inertia_inv[w, n])


GYRO_NEWTON_STEPS = 3  # from w0: error ~ (h |w|)^8 |w|; a fixed count for reverse mode


@ti.func
def torque_free_rate(ib, ib_inv, w0, dt):
    """Body rate w1 [rad/s] after a torque-free step of dt from body rate w0 (body frame, ib
    the inertia about the centre of mass, ib_inv its inverse): the implicit midpoint rule
    I (w1 - w0) + dt wm x I wm = 0, wm = (w0 + w1) / 2, which keeps the kinetic energy and
    |L| exactly (quadratic invariants; Hairer, Lubich & Wanner, Geometric Numerical
    Integration, IV.2), where backward Euler only loses them. A fixed number of Newton steps
    from w0; then L1 = I w1 is taken as what the rule makes it, L0 = I w0 turned by the
    Cayley map of -dt wm (C(dt wm) L1 = L0), so |L| stays exact and the energy bounded even
    where the Newton steps have not converged (dt |w| >~ 1)."""
    l0 = ib @ w0
    w1 = w0
    for _ in ti.static(range(GYRO_NEWTON_STEPS)):
        wm = 0.5 * (w0 + w1)
        lm = ib @ wm
        c0 = gyro_column(ib, wm, lm, 0.5 * dt, 0)
        c1 = gyro_column(ib, wm, lm, 0.5 * dt, 1)
        c2 = gyro_column(ib, wm, lm, 0.5 * dt, 2)
        w1 = w1 - solve3(c0, c1, c2, ib @ w1 - l0 + dt * wm.cross(lm))
    return ib_inv @ cayley_rotate(-0.25 * dt * (w0 + w1), l0)


@ti.func
def free_velocity(s, u, w, n):
    """Velocity at substep u after gravity, before constraints (stacked lin, ang). The
    gyroscopic term comes after the constraints, in `advance`."""
    v = s.scratch.sub.vel[u, w, n] + s.h * ti.Vector([s.gravity[0], s.gravity[1], s.gravity[2]])
    om = s.scratch.sub.omega[u, w, n]
    return ti.Vector([v[0], v[1], v[2], om[0], om[1], om[2]])


@ti.func
def advance(s, u, w, n, v6):
    """(pos, quat, vel, omega) at substep u + 1 from the constrained velocity v6 of substep u
    (the solver's impulses are the kick; then each body drifts freely for h). Position:
    semi-implicit Euler. Rotation: the torque-free step from the constrained rate
    (torque_free_rate, in the body frame at the start of the substep) turns the body by the
    Cayley map of h times the midpoint rate wm (the unit quaternion along [1, h wm / 2]), and
    the end rate turns with the body. With no constraint this keeps the world angular
    momentum too: R1 I w1 = R0 C(h wm) I w1 = R0 I w0. A body spinning about a principal axis
    (every rate of a sphere) moves as with the constrained rate alone."""
    dt = s.h
    v = ti.Vector([v6[0], v6[1], v6[2]])
    q0 = s.scratch.sub.quat[u, w, n]
    w0 = quat_rotate_inv(q0, ti.Vector([v6[3], v6[4], v6[5]]))
    w1 = torque_free_rate(s.solver_inertia[w, n], s.solver_inertia_inv[w, n], w0, dt)
    wm = quat_rotate(q0, 0.5 * (w0 + w1))
    q = q0 + 0.5 * dt * quat_mul(ti.Vector([0.0, wm[0], wm[1], wm[2]]), q0)
    q = q / q.norm()
    return s.scratch.sub.pos[u, w, n] + dt * v, q, v, quat_rotate(q, w1)


@ti.func
def initial_state(s, w, n):
    """(COM position, quat, vel, omega) at t = 0 from the body frame's initial pose."""
    q = s.model.init_quat[w, n]
    q = q / q.norm()
    return (
        s.model.init_pos[w, n] + quat_rotate(q, s.model.com[w, n]),
        q,
        s.model.init_vel[w, n],
        s.model.init_omega[w, n],
    )
