"""Contact geometry: for one contact point, the normal and the witness points.

Every function returns (n, pa, pb, sep): n the unit world normal pointing from body b towards
body a, pa / pb [m] the world points on a and on b, and sep [m] the signed separation along n
(negative when the shapes overlap). The ground is body b = -1, the plane z = 0.
"""

import taichi as ti

from . import layout as L
from .tmath import quat_mul, quat_rotate, quat_rotate_inv, safe_norm, unit


@ti.func
def shape_pose(s, st: ti.template(), i, w, shape):
    """World centre [m] and orientation of `shape` in world w, in the poses st at index i
    (Simulation.state at a step, Simulation.sub at a substep)."""
    n = s.shape_body[shape]
    q = st.quat[i, w, n]
    c = st.pos[i, w, n] + quat_rotate(q, s.shape_pos[w, shape] - s.com[w, n])
    return c, quat_mul(q, s.shape_quat[w, shape])


@ti.func
def on_ground(c, radius):
    """A sphere of `radius` at c against the plane z = 0."""
    up = ti.Vector([0.0, 0.0, 1.0])
    return up, c - radius * up, ti.Vector([c[0], c[1], 0.0]), c[2] - radius


@ti.func
def sphere_sphere(ca, ra, cb, rb):
    d = ca - cb
    dist = safe_norm(d)
    n = d / dist
    return n, ca - ra * n, cb + rb * n, dist - ra - rb


@ti.func
def capsule_segment(c, q, half_length):
    """End points of a capsule's core segment (its local z axis)."""
    axis = quat_rotate(q, ti.Vector([0.0, 0.0, 1.0])) * half_length
    return c - axis, c + axis


@ti.func
def closest_on_segment(p, a, b):
    ab = b - a
    u = ti.math.clamp((p - a).dot(ab) / (ab.dot(ab) + 1e-12), 0.0, 1.0)
    return a + u * ab


@ti.func
def closest_between_segments(p1, q1, p2, q2):
    """Closest points of segments p1q1 and p2q2 (Ericson, Real-Time Collision Detection 5.1.9)."""
    d1, d2, r = q1 - p1, q2 - p2, p1 - p2
    a, e, f = d1.dot(d1) + 1e-12, d2.dot(d2) + 1e-12, d2.dot(r)
    c, b = d1.dot(r), d1.dot(d2)
    denom = a * e - b * b
    u = 0.0
    if denom > 1e-12 * a * e:
        u = ti.math.clamp((b * f - c * e) / denom, 0.0, 1.0)
    v = (b * u + f) / e
    if v < 0.0:
        v = 0.0
        u = ti.math.clamp(-c / a, 0.0, 1.0)
    elif v > 1.0:
        v = 1.0
        u = ti.math.clamp((b - c) / a, 0.0, 1.0)
    return p1 + d1 * u, p2 + d2 * v


@ti.func
def sphere_box(ca, ra, cb, qb, half):
    """Sphere at ca against a box centred at cb with orientation qb and half sizes `half`."""
    p = quat_rotate_inv(qb, ca - cb)
    q = ti.math.clamp(p, -half, half)
    gap = p - q
    n_local = ti.Vector([0.0, 0.0, 1.0])
    sep = 0.0
    if gap.dot(gap) > 1e-18:  # centre outside the box
        dist = safe_norm(gap)
        n_local = gap / dist
        sep = dist - ra
    else:  # centre inside: leave through the nearest face
        depth = half - ti.abs(p)
        axis = 0
        if depth[1] < depth[0]:
            axis = 1
        if depth[2] < ti.min(depth[0], depth[1]):
            axis = 2
        e = unit(axis)
        sign = ti.select(p.dot(e) >= 0, 1.0, -1.0)
        n_local = sign * e
        q = q * (1.0 - e) + sign * half * e
        sep = -depth.dot(e) - ra
    n = quat_rotate(qb, n_local)
    return n, ca - ra * n, cb + quat_rotate(qb, q), sep


@ti.func
def contact_point(s, st: ti.template(), u, w, i, geom: ti.template()):
    """(n, pa, pb, sep) of contact point i (of geometry `geom`, a compile-time constant) of
    world w in the poses st at index u (Simulation.sub at a substep, Simulation.state at a
    step); see the module docstring."""
    sa, sb, sub = s.point_shape_a[i], s.point_shape_b[i], s.point_sub[i]
    ca, qa = shape_pose(s, st, u, w, sa)
    ra = s.shape_radius[w, sa]
    n = ti.Vector([0.0, 0.0, 1.0])
    pa, pb, sep = ca, ca, 0.0
    if ti.static(geom == L.G_SPHERE_GROUND):
        n, pa, pb, sep = on_ground(ca, ra)
    elif ti.static(geom == L.G_CAPSULE_GROUND):
        e0, e1 = capsule_segment(ca, qa, s.shape_half_length[w, sa])
        end = e0 if sub == 0 else e1
        n, pa, pb, sep = on_ground(end, ra)
    elif ti.static(geom == L.G_BOX_GROUND):
        h = s.shape_half_extents[w, sa]
        signs = ti.Vector(
            [1.0 if (sub & 1) else -1.0, 1.0 if (sub & 2) else -1.0, 1.0 if (sub & 4) else -1.0]
        )
        n, pa, pb, sep = on_ground(ca + quat_rotate(qa, signs * h), 0.0)
    else:
        cb, qb = shape_pose(s, st, u, w, sb)
        rb = s.shape_radius[w, sb]
        if ti.static(geom == L.G_SPHERE_SPHERE):
            n, pa, pb, sep = sphere_sphere(ca, ra, cb, rb)
        elif ti.static(geom == L.G_SPHERE_CAPSULE):
            b0, b1 = capsule_segment(cb, qb, s.shape_half_length[w, sb])
            n, pa, pb, sep = sphere_sphere(ca, ra, closest_on_segment(ca, b0, b1), rb)
        elif ti.static(geom == L.G_CAPSULE_CAPSULE):
            a0, a1 = capsule_segment(ca, qa, s.shape_half_length[w, sa])
            b0, b1 = capsule_segment(cb, qb, s.shape_half_length[w, sb])
            xa, xb = closest_between_segments(a0, a1, b0, b1)
            n, pa, pb, sep = sphere_sphere(xa, ra, xb, rb)
        elif ti.static(geom == L.G_SPHERE_BOX):
            n, pa, pb, sep = sphere_box(ca, ra, cb, qb, s.shape_half_extents[w, sb])
    return n, pa, pb, sep
