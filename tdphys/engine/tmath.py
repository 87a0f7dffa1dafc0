"""Small Taichi functions for rotations. Quaternions are 4-vectors [w, x, y, z]."""

import math

import taichi as ti

TINY = 1e-20  # keeps sqrt differentiable at zero (its square is still a normal f32)


@ti.func
def quat_rotate(q, v):
    """Rotate 3-vector v by unit quaternion q (body to world when q is a body orientation)."""
    u = ti.Vector([q[1], q[2], q[3]])
    t = 2.0 * u.cross(v)
    return v + q[0] * t + u.cross(t)


@ti.func
def quat_rotate_inv(q, v):
    """Rotate v by the inverse of unit quaternion q (world to body)."""
    u = ti.Vector([-q[1], -q[2], -q[3]])
    t = 2.0 * u.cross(v)
    return v + q[0] * t + u.cross(t)


@ti.func
def cayley_rotate(a, v):
    """(1 - skew(a))^-1 (1 + skew(a)) v: v turned by 2 atan|a| about a (the unit quaternion
    along [1, a]), a rotation for any a."""
    c = 1.0 / ti.sqrt(1.0 + a.dot(a))
    return quat_rotate(ti.Vector([c, c * a[0], c * a[1], c * a[2]]), v)


@ti.func
def quat_mul(p, q):
    return ti.Vector(
        [
            p[0] * q[0] - p[1] * q[1] - p[2] * q[2] - p[3] * q[3],
            p[0] * q[1] + p[1] * q[0] + p[2] * q[3] - p[3] * q[2],
            p[0] * q[2] - p[1] * q[3] + p[2] * q[0] + p[3] * q[1],
            p[0] * q[3] + p[1] * q[2] - p[2] * q[1] + p[3] * q[0],
        ]
    )


@ti.func
def quat_conj(q):
    return ti.Vector([q[0], -q[1], -q[2], -q[3]])


@ti.func
def quat_to_matrix(q):
    w, x, y, z = q[0], q[1], q[2], q[3]
    return ti.Matrix(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


@ti.func
def unit(k):
    """World axis k (0, 1, 2) as a vector, k known only at run time. (Writing a local vector
    at a run-time index crashes Taichi 1.7.4's reverse mode, so select instead.)"""
    return ti.Vector(
        [ti.select(k == 0, 1.0, 0.0), ti.select(k == 1, 1.0, 0.0), ti.select(k == 2, 1.0, 0.0)]
    )


@ti.func
def safe_norm(v):
    return ti.sqrt(v.dot(v) + TINY)


@ti.func
def rotation_vector(q):
    """Rotation vector [rad] (axis times angle in (-pi, pi]) of unit quaternion q."""
    s = ti.select(q[0] < 0, -1.0, 1.0)
    v = ti.Vector([q[1], q[2], q[3]]) * s
    n = safe_norm(v)
    return v * (2.0 * ti.atan2(n, q[0] * s) / n)


@ti.func
def tangent_basis(n):
    """Two unit vectors spanning the plane perpendicular to unit vector n."""
    helper = ti.select(
        ti.abs(n[0]) > 0.57735, ti.Vector([0.0, 1.0, 0.0]), ti.Vector([1.0, 0.0, 0.0])
    )
    t1 = n.cross(helper)
    t1 = t1 / safe_norm(t1)
    return t1, n.cross(t1)


@ti.func
def soft_coefficients(hertz, damping_ratio, dt):
    """Catto's soft step for a constraint that behaves like a spring of natural frequency
    `hertz` and damping ratio `damping_ratio` on a reference mass m_ref: (bias rate [1/s],
    softness [-]). The row then solves J v = -bias C - softness / m_ref * lambda, its
    compliance softness / m_ref [s/kg] (m_ref the row's own effective mass unless a load is
    given, see Simulation.row_scratch). Limits: softness 1 / (dt omega (2 zeta + dt omega))
    falls to 0 as hertz grows (rigid); hertz = 0 means rigid: softness 0 and a Baumgarte
    correction of 20 % of the error per (sub)step, which Gauss-Seidel takes without
    overshooting."""
    soft = hertz > 0
    # the soft branch is evaluated at hertz 1 when rigid, so its adjoint stays finite
    omega = 2.0 * math.pi * ti.select(soft, hertz, 1.0)
    a1 = 2.0 * damping_ratio + dt * omega
    return ti.select(soft, omega / a1, 0.2 / dt), ti.select(soft, 1.0 / (dt * omega * a1), 0.0)
