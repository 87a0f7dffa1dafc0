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
def quat_mul(p, q):
    return ti.Vector([
        p[0] * q[0] - p[1] * q[1] - p[2] * q[2] - p[3] * q[3],
        p[0] * q[1] + p[1] * q[0] + p[2] * q[3] - p[3] * q[2],
        p[0] * q[2] - p[1] * q[3] + p[2] * q[0] + p[3] * q[1],
        p[0] * q[3] + p[1] * q[2] - p[2] * q[1] + p[3] * q[0]])


@ti.func
def quat_conj(q):
    return ti.Vector([q[0], -q[1], -q[2], -q[3]])


@ti.func
def quat_to_matrix(q):
    w, x, y, z = q[0], q[1], q[2], q[3]
    return ti.Matrix([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


@ti.func
def unit(k):
    """World axis k (0, 1, 2) as a vector, k known only at run time. (Writing a local vector
    at a run-time index crashes Taichi 1.7.4's reverse mode, so select instead.)"""
    return ti.Vector([ti.select(k == 0, 1.0, 0.0), ti.select(k == 1, 1.0, 0.0),
                      ti.select(k == 2, 1.0, 0.0)])


@ti.func
def safe_norm(v):
    return ti.sqrt(v.dot(v) + TINY)


@ti.func
def rotation_vector(q):
    """Rotation vector [rad] (axis times angle in (-pi, pi]) of unit quaternion q."""
    s = 1.0
    if q[0] < 0:
        s = -1.0
    v = ti.Vector([q[1], q[2], q[3]]) * s
    n = safe_norm(v)
    return v * (2.0 * ti.atan2(n, q[0] * s) / n)


@ti.func
def tangent_basis(n):
    """Two unit vectors spanning the plane perpendicular to unit vector n."""
    helper = ti.Vector([1.0, 0.0, 0.0])
    if ti.abs(n[0]) > 0.57735:
        helper = ti.Vector([0.0, 1.0, 0.0])
    t1 = n.cross(helper)
    t1 = t1 / safe_norm(t1)
    return t1, n.cross(t1)


@ti.func
def soft_coefficients(hertz, damping_ratio, dt):
    """Catto's soft step: (bias rate [1/s], mass scale, impulse scale) for a constraint that
    behaves like a spring of natural frequency `hertz` and damping ratio `damping_ratio`
    whatever the masses. hertz = 0 means rigid: no softness and Baumgarte correction of 20 %
    of the error per step."""
    bias, mass_scale, impulse_scale = 0.2 / dt, 1.0, 0.0
    if hertz > 0:
        omega = 2.0 * math.pi * hertz
        a1 = 2.0 * damping_ratio + dt * omega
        a2 = dt * omega * a1
        a3 = 1.0 / (1.0 + a2)
        bias, mass_scale, impulse_scale = omega / a1, a2 * a3, a3
    return bias, mass_scale, impulse_scale
