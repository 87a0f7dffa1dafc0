"""Per-body stages: mass properties, free velocity (gravity and gyroscopic term), integration.

State (world frame): pos [m] centre of mass, quat [w, x, y, z] body to world, vel [m/s],
omega [rad/s]. Mass properties live in the body frame about the centre of mass.
"""
import math

import taichi as ti

from . import layout as L
from .tmath import quat_mul, quat_rotate, quat_rotate_inv


@ti.func
def shape_volume_inertia(kind, radius, half, half_length):
    """(volume [m^3], principal inertia per unit mass [m^2] about the shape centre, shape axes)."""
    vol = 8.0 * half[0] * half[1] * half[2]
    inertia = ti.Vector([half[1] ** 2 + half[2] ** 2, half[0] ** 2 + half[2] ** 2,
                         half[0] ** 2 + half[1] ** 2]) / 3.0
    if kind == L.S_SPHERE:
        vol = 4.0 / 3.0 * math.pi * radius ** 3
        inertia = ti.Vector([0.4, 0.4, 0.4]) * radius ** 2
    elif kind == L.S_CAPSULE:
        # cylinder of length 2l along z plus two hemispherical caps, mass shared by volume
        v_cyl = math.pi * radius ** 2 * 2.0 * half_length
        v_caps = 4.0 / 3.0 * math.pi * radius ** 3
        vol = v_cyl + v_caps
        f_cyl, f_caps = v_cyl / vol, v_caps / vol
        axial = f_cyl * radius ** 2 / 2.0 + f_caps * 0.4 * radius ** 2
        transverse = (f_cyl * (radius ** 2 / 4.0 + (2.0 * half_length) ** 2 / 12.0)
                      + f_caps * (0.4 * radius ** 2 + half_length ** 2
                                  + 0.75 * half_length * radius))
        inertia = ti.Vector([transverse, transverse, axial])
    return vol, inertia


@ti.func
def shape_inertia_about_origin(s, w, k):
    """(mass [kg], first moment [kg m], inertia about the body frame origin [kg m^2]) of
    shape k, in body axes. Uses only vector products (matrix products are slow to compile
    for reverse mode in Taichi 1.7.4)."""
    m = s.shape_mass[w, k]
    _, unit = shape_volume_inertia(s.shape_kind[k], s.shape_radius[w, k],
                                   s.shape_half_extents[w, k], s.shape_half_length[w, k])
    q = s.shape_quat[w, k]
    q = q / q.norm()
    p = s.shape_pos[w, k]
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
    the sums of k_mass_sum; a body's given `inertia` replaces the computed one."""
    m = s.mass[w, n]
    com = s.moment[w, n] / m
    inertia = s.inertia_origin[w, n] - m * (com.dot(com) * ti.Matrix.identity(s.real, 3)
                                            - com.outer_product(com))
    if s.body_has_inertia[n]:
        given = s.body_inertia[w, n]
        inertia = ti.Matrix([[given[0], 0.0, 0.0], [0.0, given[1], 0.0], [0.0, 0.0, given[2]]])
    return m, com, inertia


@ti.func
def solve3(c0, c1, c2, r):
    """x with [c0 c1 c2] x = r (Cramer's rule, columns c0..c2)."""
    det = c0.dot(c1.cross(c2))
    return ti.Vector([r.dot(c1.cross(c2)), c0.dot(r.cross(c2)), c0.dot(c1.cross(r))]) / det


@ti.func
def gyro_column(ib, wb, iw, dt, i: ti.template()):
    """Column i of the Newton Jacobian I + dt (skew(w) I - skew(I w))."""
    e = ti.Vector([0.0, 0.0, 0.0])
    e[i] = 1.0
    ie = ib @ e
    return ie + dt * (wb.cross(ie) - iw.cross(e))


@ti.func
def apply_inverse_inertia(s, w, n, q, x):
    """World inverse inertia of body n (orientation q) times world vector x."""
    return quat_rotate(q, s.inertia_inv[w, n] @ quat_rotate_inv(q, x))


@ti.func
def free_velocity(s, t, w, n):
    """Velocity after gravity and the gyroscopic term, before constraints (stacked lin, ang).

    The gyroscopic term w x I w is integrated implicitly with one Newton step in the body
    frame (Catto, GDC 2015): solve f(w') = I (w' - w) + dt w' x I w' = 0 from w, which keeps
    a spinning body stable where the explicit term gains energy.
    """
    dt = s.dt
    q = s.quat[t, w, n]
    v = s.vel[t, w, n] + dt * ti.Vector([s.gravity[0], s.gravity[1], s.gravity[2]])
    wb = quat_rotate_inv(q, s.omega[t, w, n])
    ib = s.inertia[w, n]
    iw = ib @ wb
    c0 = gyro_column(ib, wb, iw, dt, 0)
    c1 = gyro_column(ib, wb, iw, dt, 1)
    c2 = gyro_column(ib, wb, iw, dt, 2)
    wb = wb - solve3(c0, c1, c2, dt * wb.cross(iw))
    om = quat_rotate(q, wb)
    return ti.Vector([v[0], v[1], v[2], om[0], om[1], om[2]])


@ti.func
def advance(s, t, w, n, v6):
    """Semi-implicit Euler: new (pos, quat) from the constrained velocity v6."""
    dt = s.dt
    v = ti.Vector([v6[0], v6[1], v6[2]])
    om = ti.Vector([v6[3], v6[4], v6[5]])
    q = s.quat[t, w, n]
    q = q + 0.5 * dt * quat_mul(ti.Vector([0.0, om[0], om[1], om[2]]), q)
    return s.pos[t, w, n] + dt * v, q / q.norm(), v, om


@ti.func
def initial_state(s, w, n):
    """(COM position, quat, vel, omega) at t = 0 from the body frame's initial pose."""
    q = s.init_quat[w, n]
    q = q / q.norm()
    return s.init_pos[w, n] + quat_rotate(q, s.com[w, n]), q, s.init_vel[w, n], s.init_omega[w, n]
