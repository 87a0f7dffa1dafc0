"""Contact geometry: for one contact point, the normal and the witness points.

Every function returns (n, pa, pb, sep): n the unit world normal pointing from body b towards
body a, pa / pb [m] the world points on a and on b, and sep [m] the signed separation along n
(negative when the shapes overlap). The ground is the plane z = 0 (shape b = -1, body b = -1);
a shape fixed in the world is side b with body -1.

Exact tests: a sphere against every shape and a plane; capsule-capsule. The other pairs test
probe points of one shape against the other solid (each a sphere of radius 0 or, for a
capsule, its own radius), one contact point per probe:
  capsule: its two segment ends and the point of its segment nearest the other solid (a few
      alternating projections between the two convex sets);
  box: its 8 corners;
  cylinder: on each end rim the point farthest towards the other shape, a third probe, and 3
      fixed points 120 deg apart on each end rim (to stand on an end). Against a plane,
      "towards" is against its normal and the third probe is the lowest point of its side at
      its middle. Against a solid, "towards" runs from the point of its axis nearest the
      solid (found as for a capsule's segment) to the solid's point nearest that, and the
      third probe is that solid point tested against the cylinder (exact where the solid meets
      its side: a wheel on a step's edge).
Box-box, box-cylinder and cylinder-cylinder test each side's probes against the other; an
edge crossing an edge or a face away from every probe is not seen (docs/robot-format.md).
"""

import math

import taichi as ti

from . import layout as L
from .frames import com_of
from .tmath import TINY, quat_mul, quat_rotate, quat_rotate_inv, safe_norm, unit

NEAREST_ITERATIONS = 4  # alternating projections for a segment's point nearest a solid
RIM_BLEND = 0.01  # [rad] see cylinder_probe


@ti.func
def shape_pose(s, st: ti.template(), i, w, shape):
    """World centre [m] and orientation of `shape` in world w, in the poses st at index i
    (sim.state at a step, sim.scratch.sub at a substep); a world shape's own pose."""
    n = s.model.shape_body[shape]
    c, q = s.model.shape_pos[w, shape], s.model.shape_quat[w, shape]
    if n >= 0:
        qb = st.quat[i, w, n]
        c = st.pos[i, w, n] + quat_rotate(qb, c - com_of(s, st, w, n))
        q = quat_mul(qb, q)
    return c, q


@ti.func
def plane_of(s, st: ti.template(), i, w, shape):
    """(point [m], unit normal) of plane `shape`, or of the ground z = 0 when shape is -1."""
    p0 = ti.Vector([0.0, 0.0, 0.0])
    n = ti.Vector([0.0, 0.0, 1.0])
    if shape >= 0:
        c, q = shape_pose(s, st, i, w, shape)
        p0, n = c, quat_rotate(q / q.norm(), n)
    return p0, n


@ti.func
def on_plane(c, radius, p0, n):
    """A sphere of `radius` at c against the plane through p0 with unit normal n."""
    height = (c - p0).dot(n)
    return n, c - radius * n, c - height * n, height - radius


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
def sphere_cylinder(ca, ra, cb, qb, radius, half_length):
    """Sphere at ca against a cylinder centred at cb with orientation qb, its axis the local z."""
    p = quat_rotate_inv(qb, ca - cb)
    rho = ti.sqrt(p[0] * p[0] + p[1] * p[1] + TINY)
    radial = ti.Vector([p[0] / rho, p[1] / rho, 0.0])
    axial = ti.Vector([0.0, 0.0, 1.0])
    q = radial * ti.min(rho, radius) + axial * ti.math.clamp(p[2], -half_length, half_length)
    gap = p - q
    n_local = axial
    sep = 0.0
    if gap.dot(gap) > 1e-18:  # centre outside the cylinder
        dist = safe_norm(gap)
        n_local = gap / dist
        sep = dist - ra
    else:  # centre inside: leave through the side or the nearer end, whichever is closer
        side, end = radius - rho, half_length - ti.abs(p[2])
        if side < end:
            n_local = radial
            q = radial * radius + axial * p[2]
            sep = -side - ra
        else:
            sign = ti.select(p[2] >= 0, 1.0, -1.0)
            n_local = sign * axial
            q = ti.Vector([p[0], p[1], sign * half_length])
            sep = -end - ra
    n = quat_rotate(qb, n_local)
    return n, ca - ra * n, cb + quat_rotate(qb, q), sep


@ti.func
def nearest_in_solid(x, cb, qb, half, radius, half_length, kind: ti.template()):
    """The point of solid b (a box of half sizes `half`, or a cylinder) nearest x [m]."""
    p = quat_rotate_inv(qb, x - cb)
    q = ti.math.clamp(p, -half, half)
    if ti.static(kind == L.S_CYLINDER):
        rho = ti.sqrt(p[0] * p[0] + p[1] * p[1] + TINY)
        scale = ti.min(rho, radius) / rho
        q = ti.Vector([p[0] * scale, p[1] * scale, ti.math.clamp(p[2], -half_length, half_length)])
    return cb + quat_rotate(qb, q)


@ti.func
def point_solid(p, r, s, w, cb, qb, sb, kind: ti.template()):
    """(n, pa, pb, sep) of a sphere of radius r [m] at p against solid shape sb (kind a
    compile-time S_BOX or S_CYLINDER) posed at cb, qb."""
    n, pa, pb, sep = ti.Vector([0.0, 0.0, 1.0]), p, p, 0.0
    if ti.static(kind == L.S_BOX):
        n, pa, pb, sep = sphere_box(p, r, cb, qb, s.model.shape_half_extents[w, sb])
    else:
        n, pa, pb, sep = sphere_cylinder(
            p, r, cb, qb, s.model.shape_radius[w, sb], s.model.shape_half_length[w, sb]
        )
    return n, pa, pb, sep


@ti.func
def segment_nearest(e0, e1, s, w, cb, qb, sb, kind: ti.template()):
    """(x, y): the point x of segment e0-e1 [m] nearest solid sb (kind a compile-time S_BOX or
    S_CYLINDER, posed at cb, qb) and its nearest point y in the solid, by alternating
    projections between the two convex sets (x = y where they meet)."""
    half = s.model.shape_half_extents[w, sb]
    radius, half_length = s.model.shape_radius[w, sb], s.model.shape_half_length[w, sb]
    x = closest_on_segment(cb, e0, e1)
    for _ in ti.static(range(NEAREST_ITERATIONS)):
        x = closest_on_segment(nearest_in_solid(x, cb, qb, half, radius, half_length, kind), e0, e1)
    return x, nearest_in_solid(x, cb, qb, half, radius, half_length, kind)


@ti.func
def capsule_probe(s, w, ca, qa, sa, sub, cb, qb, sb, kind: ti.template()):
    """Probe `sub` of capsule sa against solid sb: its end 0 or 1, or (sub 2) the point of
    its segment nearest the solid."""
    e0, e1 = capsule_segment(ca, qa, s.model.shape_half_length[w, sa])
    x = e1
    if sub == 0:
        x = e0
    elif sub == 2:
        x, _ = segment_nearest(e0, e1, s, w, cb, qb, sb, kind)
    return x


@ti.func
def cylinder_solid(s, w, ca, qa, sa, sub, cb, qb, sb, kind: ti.template()):
    """(n, pa, pb, sep) of probe `sub` of cylinder sa against solid sb (kind S_BOX or
    S_CYLINDER): with y the solid's point nearest the cylinder's axis (found from the axis
    point x nearest it), probe 2 is y tested against the cylinder (exact where the solid
    meets the cylinder's side or the middle of an end: a wheel on a step's edge); the others
    are cylinder_probe's rim points, towards y from x, tested against the solid."""
    half_length, radius = s.model.shape_half_length[w, sa], s.model.shape_radius[w, sa]
    e0, e1 = capsule_segment(ca, qa, half_length)
    x, y = segment_nearest(e0, e1, s, w, cb, qb, sb, kind)
    n, pa, pb, sep = ti.Vector([0.0, 0.0, 1.0]), x, y, 0.0
    if sub == 2:
        nb, on_b, on_a, sep_b = sphere_cylinder(y, 0.0, ca, qa, radius, half_length)
        n, pa, pb, sep = -nb, on_a, on_b, sep_b
    else:
        probe = cylinder_probe(ca, qa, radius, half_length, sub, y - x, y)
        n, pa, pb, sep = point_solid(probe, 0.0, s, w, cb, qb, sb, kind)
    return n, pa, pb, sep


@ti.func
def box_corner(c, q, half, sub):
    """Corner `sub` (bits 0, 1, 2: +x, +y, +z side) of a box centred at c [m], oriented q."""
    signs = ti.Vector(
        [1.0 if (sub & 1) else -1.0, 1.0 if (sub & 2) else -1.0, 1.0 if (sub & 4) else -1.0]
    )
    return c + quat_rotate(q, signs * half)


@ti.func
def cylinder_probe(c, q, radius, half_length, sub, toward, target):
    """Probe `sub` of a cylinder centred at c [m], oriented q: 0 / 1 the point of its lower /
    upper end rim farthest along the world direction `toward` (drawn in towards the end's
    centre while `toward` lies within ~RIM_BLEND rad of the axis), 2 the point of its side
    farthest along `toward` at the axial position nearest the world point `target`, 3..8
    fixed rim points (3 per end, 120 deg apart, from the local x axis)."""
    axis = quat_rotate(q, ti.Vector([0.0, 0.0, 1.0]))
    across = toward - toward.dot(axis) * axis
    # a unit spoke once `toward` leans off the axis by more than ~RIM_BLEND rad, shrinking to
    # the end's centre when it lines up with the axis (where the farthest rim point is
    # undefined and would jump round the rim; the fixed rim points hold the cylinder there)
    spoke = across / ti.sqrt(across.dot(across) + RIM_BLEND**2 * toward.dot(toward) + TINY)
    height = -half_length
    if sub == 1:
        height = half_length
    elif sub == 2:
        height = ti.math.clamp((target - c).dot(axis), -half_length, half_length)
    elif sub >= 3:
        k = (sub - 3) % 3
        height = ti.select(sub >= 6, half_length, -half_length)
        angle = 2.0 * math.pi / 3.0 * k
        spoke = quat_rotate(q, ti.Vector([ti.cos(angle), ti.sin(angle), 0.0]))
    return c + height * axis + radius * spoke


@ti.func
def pair_geometry(s, st: ti.template(), u, w, sa, sb, sub, geom: ti.template()):
    """(n, pa, pb, sep) of probe `sub` of shape sa against shape sb (geometry `geom` below
    L.G_FLIP); see the module docstring."""
    ca, qa = shape_pose(s, st, u, w, sa)
    ra = s.model.shape_radius[w, sa]
    n = ti.Vector([0.0, 0.0, 1.0])
    pa, pb, sep = ca, ca, 0.0
    if ti.static(geom in (L.G_SPHERE_PLANE, L.G_CAPSULE_PLANE, L.G_BOX_PLANE, L.G_CYLINDER_PLANE)):
        p0, up = plane_of(s, st, u, w, sb)
        if ti.static(geom == L.G_SPHERE_PLANE):
            n, pa, pb, sep = on_plane(ca, ra, p0, up)
        elif ti.static(geom == L.G_CAPSULE_PLANE):
            e0, e1 = capsule_segment(ca, qa, s.model.shape_half_length[w, sa])
            end = e0 if sub == 0 else e1
            n, pa, pb, sep = on_plane(end, ra, p0, up)
        elif ti.static(geom == L.G_BOX_PLANE):
            corner = box_corner(ca, qa, s.model.shape_half_extents[w, sa], sub)
            n, pa, pb, sep = on_plane(corner, 0.0, p0, up)
        else:
            probe = cylinder_probe(ca, qa, ra, s.model.shape_half_length[w, sa], sub, -up, ca)
            n, pa, pb, sep = on_plane(probe, 0.0, p0, up)
    else:
        cb, qb = shape_pose(s, st, u, w, sb)
        rb = s.model.shape_radius[w, sb]
        if ti.static(geom == L.G_SPHERE_SPHERE):
            n, pa, pb, sep = sphere_sphere(ca, ra, cb, rb)
        elif ti.static(geom == L.G_SPHERE_CAPSULE):
            b0, b1 = capsule_segment(cb, qb, s.model.shape_half_length[w, sb])
            n, pa, pb, sep = sphere_sphere(ca, ra, closest_on_segment(ca, b0, b1), rb)
        elif ti.static(geom == L.G_CAPSULE_CAPSULE):
            a0, a1 = capsule_segment(ca, qa, s.model.shape_half_length[w, sa])
            b0, b1 = capsule_segment(cb, qb, s.model.shape_half_length[w, sb])
            xa, xb = closest_between_segments(a0, a1, b0, b1)
            n, pa, pb, sep = sphere_sphere(xa, ra, xb, rb)
        elif ti.static(geom == L.G_SPHERE_BOX):
            n, pa, pb, sep = point_solid(ca, ra, s, w, cb, qb, sb, L.S_BOX)
        elif ti.static(geom == L.G_SPHERE_CYLINDER):
            n, pa, pb, sep = point_solid(ca, ra, s, w, cb, qb, sb, L.S_CYLINDER)
        elif ti.static(geom == L.G_CAPSULE_BOX):
            x = capsule_probe(s, w, ca, qa, sa, sub, cb, qb, sb, L.S_BOX)
            n, pa, pb, sep = point_solid(x, ra, s, w, cb, qb, sb, L.S_BOX)
        elif ti.static(geom == L.G_CAPSULE_CYLINDER):
            x = capsule_probe(s, w, ca, qa, sa, sub, cb, qb, sb, L.S_CYLINDER)
            n, pa, pb, sep = point_solid(x, ra, s, w, cb, qb, sb, L.S_CYLINDER)
        elif ti.static(geom == L.G_BOX_BOX):
            corner = box_corner(ca, qa, s.model.shape_half_extents[w, sa], sub)
            n, pa, pb, sep = point_solid(corner, 0.0, s, w, cb, qb, sb, L.S_BOX)
        elif ti.static(geom == L.G_BOX_CYLINDER):
            corner = box_corner(ca, qa, s.model.shape_half_extents[w, sa], sub)
            n, pa, pb, sep = point_solid(corner, 0.0, s, w, cb, qb, sb, L.S_CYLINDER)
        elif ti.static(geom == L.G_CYLINDER_BOX):
            n, pa, pb, sep = cylinder_solid(s, w, ca, qa, sa, sub, cb, qb, sb, L.S_BOX)
        elif ti.static(geom == L.G_CYLINDER_CYLINDER):
            n, pa, pb, sep = cylinder_solid(s, w, ca, qa, sa, sub, cb, qb, sb, L.S_CYLINDER)
    return n, pa, pb, sep


@ti.func
def contact_point(s, st: ti.template(), u, w, i, geom: ti.template()):
    """(n, pa, pb, sep) of contact point i (of geometry `geom`, a compile-time constant) of
    world w in the poses st at index u (sim.scratch.sub at a substep, sim.state at a
    step); see the module docstring."""
    sa, sb, sub = s.model.point_shape_a[i], s.model.point_shape_b[i], s.model.point_sub[i]
    n, pa, pb, sep = ti.Vector([0.0, 0.0, 1.0]), ti.Vector([0.0] * 3), ti.Vector([0.0] * 3), 0.0
    if ti.static(geom >= L.G_FLIP):  # computed from b's side, then turned round
        nb, on_b, on_a, sep_b = pair_geometry(s, st, u, w, sb, sa, sub, geom - L.G_FLIP)
        n, pa, pb, sep = -nb, on_a, on_b, sep_b
    else:
        n, pa, pb, sep = pair_geometry(s, st, u, w, sa, sb, sub, geom)
    return n, pa, pb, sep
