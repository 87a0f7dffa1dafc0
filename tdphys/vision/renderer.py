"""A differentiable camera: ray casting in Taichi with soft silhouettes (docs/camera.md).

For every pixel of every world the renderer casts one ray through the pixel centre and builds
one *layer* per shape (the bodies' shapes, then the world's fixed shapes, posed by
geometry.shape_pose) plus one for the ground plane. A layer holds

    s      [m]   signed distance from the ray to the shape: min over the ray of the shape's
                 signed distance function (negative when the ray enters the shape), exact for
                 spheres, capsules, boxes and cylinders; for a plane of the world, the
                 distance from the ray to its nearest drawn edge (negative where the ray meets
                 it within them; an unbounded plane is hard, as the ground);
    depth  [m]   distance along the ray to the first hit, or to the closest approach on a miss
                 (compositing orders a miss at its closest approach + ORDER_SLOPE s: continuous
                 at the silhouette, and the nearer silhouette first where they coincide);
    colour       Lambert-shaded shape colour at that point, times the shape's texture there
                 (round shapes: at a shading point near it whose derivative stays bounded
                 where the ray grazes the surface; docs/camera.md, "Grazing rays").

Soft visibility. A layer covers the pixel with probability cov = sigmoid(-s_px / softness),
s_px = s * f / depth the distance in pixels (f: focal length in pixels). Layers are composited
front to back by depth: pixel = sum_i cov_i T_i colour_i + T_bg background, with the
transmittance T_i = prod over layers j in front of i of (1 - cov_j). As softness -> 0 every
cov becomes 0 or 1 and this is the hard image (nearest covering layer wins); for softness > 0
the image is a smooth function of every pose across object edges and occlusion boundaries,
which is what gives gradients there. The ground is always hard (it does not move), and so is
an unbounded plane of the world; a plane is seen only from the side its normal faces.

Gradients. `render(t)` is one `ti.ad.grad_replaced` call: under `ti.ad.Tape` its backward
recomputes the layers of step t from the stored state and runs the adjoints of the four
differentiated kernels (layers, opacity, transmittance, composite), so memory holds one image
per step and the layers of one step only. On a miss, the closest approach of a box or a
cylinder along the ray is found by a forward-only golden-section search (their SDF is convex
along a ray); its gradient needs no derivative of the search because at the minimum
d s / d t = 0 (envelope theorem). A hit's s is in closed form (box_entry_depth,
cylinder_entry_depth).

Textures (docs/camera.md#textures). Every image a robot uses is packed into one flat texel
field (`texels`, rows of `texel_info`: first texel, height, width); a shape's layer maps its
surface point to texture coordinates (u, v) (sphere: longitude, latitude; capsule and
cylinder: angle around and way along its axis, caps and ends included; box: the entered
face's two in-face coordinates; a world plane: its local x, y over its drawn size, or over the
ground's tile size along an unbounded axis; ground: world x, y over the tile size) and
multiplies its colour by the bilinear interpolation of the four nearest texels, a continuous
function of (u, v) and hence of the pose (texel indices are read at computed integers; only
the weights are differentiated).
"""
# (no `from __future__ import annotations`: Taichi reads kernel annotations as objects)

import math

import numpy as np
import taichi as ti

from .. import backend
from ..engine import layout as L
from ..engine.geometry import (
    capsule_segment,
    closest_between_segments,
    closest_on_segment,
    shape_pose,
)
from ..engine.tmath import TINY, quat_mul, quat_rotate, quat_rotate_inv, safe_norm
from .camera import camera_spec
from ..model.textures import pack_textures, read_texture

LOGIT_CLAMP = 40.0  # soft-coverage logits are clamped to +-40 (sigmoid(40) = 1 - 4e-18)
SEARCH_ITERATIONS = 48  # golden-section steps for a box or a cylinder: the bracket shrinks
# 0.618^48 = 1e-10 (the value is second order in the error of t*, by the envelope theorem, but
# the gradient first order over the distance to an edge: 32 steps left 2e-5 of it near a rim)
BIG = 1e6  # [m] "no hit" distance
ORDER_SLOPE = 0.01  # [-] a missed shape is ordered at its closest approach + this x s
GRAZE = 0.05  # shading point of a round shape: sqrt(h) -> sqrt(h + e^2) - e with
# e = GRAZE r, which bounds the normal's derivative where a ray grazes
# the silhouette (docs/camera.md, "Grazing rays")


@ti.data_oriented
class Renderer:
    """Images of one camera of `sim.robot` for every world and step.

    image [t, b, y, x, c]: colour in [0, 1] of pixel row y (top to bottom), column x (left to
    right), channel c (r, g, b) seen at the state of step t (0 <= t <= T) in world b.
    depth [t, b, y, x]: [m] distance along the pixel's ray to the nearest covering surface
    (cov > 1/2), `far` where none. Call render(t) after the state at t exists; under a tape it
    is differentiable with respect to everything that placed the bodies and shapes.
    """

    def __init__(self, sim, camera):
        self.sim = sim
        self.cam = camera_spec(sim.robot, camera)
        cam = self.cam
        self.backend = backend.current()
        self.height, self.width, self.channels = cam.height, cam.width, 3
        self.focal = cam.focal_px
        B, T, H, W = sim.batch, sim.steps, cam.height, cam.width
        self.n_shapes = sim.n_shapes
        self.n_layers = sim.n_shapes + 1  # the shapes (bodies', then the world's), the ground
        # the kinds present: a kernel compiles only their code
        self.kinds = frozenset(int(k) for k in sim.layout.shape_kind)
        self.body = -1 if cam.body is None else sim.robot.body_index(cam.body)
        self.ground_on = bool(sim.robot.ground.enabled)
        self.checker = float(sim.robot.ground.checker)
        Ly = self.n_layers
        real = sim.real
        self.image = backend.field(real, (T + 1, B, H, W, 3))
        self.depth = backend.field(real, (T + 1, B, H, W), grad=False)
        # one step's layers (recomputed by the backward pass)
        self.logit = backend.field(real, (B, H, W, Ly))
        self.dist = backend.field(real, (B, H, W, Ly), grad=False)  # ordering only
        self.colour = backend.field(real, (B, H, W, Ly, 3))
        self.log_t = backend.field(real, (B, H, W, Ly + 1))
        self.opaque = backend.field(real, (B, H, W, Ly))  # -log(1 - cov) of each layer
        self.t_star = backend.field(real, (B, H, W, Ly), grad=False)  # a constant (envelope)
        self.albedo = backend.field(real, (max(self.n_shapes, 1), 3))
        self.background = backend.field(real, 3)
        # each world's copy of the colours, which the differentiated kernels read (their
        # adjoints then add up per world, in that world's thread: k_colour_adjoints)
        self.albedo_world = backend.field(real, (B, max(self.n_shapes, 1), 3))
        self.background_world = backend.field(real, (B, 3))
        self.softness = backend.field(real, (), grad=False)  # no gradient (docs/camera.md)
        np_real = np.float64 if real == ti.f64 else np.float32
        shapes = L.all_shapes(sim.robot)
        self._setup_textures(shapes, np_real)  # declares its fields before the first launch
        colours = np.zeros((max(self.n_shapes, 1), 3))
        colours[: len(shapes)] = [s.color for s in shapes]
        self.albedo.from_numpy(colours.astype(np_real))
        self.background.from_numpy(np.array(cam.background, np_real))
        self.set_softness(cam.softness)
        self._scratch = [
            self.logit,
            self.colour,
            self.log_t,
            self.opaque,
            self.albedo_world,
            self.background_world,
        ]
        self.clear_gradients = backend.gradient_clearer(
            [self.image, self.albedo, self.background] + self._scratch
        )
        self.render = ti.ad.grad_replaced(self._render_forward)
        ti.ad.grad_for(self.render)(self._render_backward)

    def _setup_textures(self, shapes, np_real):
        """Every texture image once, packed into `texels` / `texel_info`; `shape_texture[k]`
        is shape k's image (-1: none), `ground_texture` the ground's (-1: none)."""
        ground = self.sim.robot.ground
        paths = []
        for path in [s.texture for s in shapes] + [ground.texture if self.ground_on else None]:
            if path is not None and path not in paths:
                paths.append(path)
        data, info = pack_textures([read_texture(p) for p in paths])
        self.texture_paths = paths
        self.texels = backend.field(self.sim.real, (len(data), 3), grad=False)
        self.texel_info = backend.int_field((len(info), 3))
        self.shape_texture = backend.int_field(max(self.n_shapes, 1))
        self.texels.from_numpy(data.astype(np_real))
        self.texel_info.from_numpy(info)
        index = np.full(max(self.n_shapes, 1), -1, np.int32)
        for k, shape in enumerate(shapes):
            if shape.texture is not None:
                index[k] = paths.index(shape.texture)
        self.shape_texture.from_numpy(index)
        self.textured = bool((index >= 0).any())  # compile the shapes' (u, v) at all
        self.ground_texture = (
            paths.index(ground.texture) if self.ground_on and ground.texture is not None else -1
        )
        self.texture_size = float(ground.texture_size)  # [m] also an unbounded plane's tile

    # ------------------------------------------------------------------------------ rays
    @ti.func
    def ray(self, t, b, y, x):
        """World origin [m] and unit direction of the ray through the centre of pixel (y, x)."""
        o = ti.Vector(self.cam.pos, dt=self.sim.real)
        q = ti.Vector(self.cam.quat, dt=self.sim.real)
        if ti.static(self.body >= 0):
            n = ti.static(self.body)
            qb = self.sim.state.quat[t, b, n]
            o = self.sim.state.pos[t, b, n] + quat_rotate(qb, o - self.sim.model.com[b, n])
            q = quat_mul(qb, q)
        u = x + 0.5 - 0.5 * self.cam.width
        v = 0.5 * self.cam.height - (y + 0.5)
        d = ti.Vector([u, v, -self.focal], dt=self.sim.real)
        return o, quat_rotate(q, d / d.norm())

    # --------------------------------------------------------------------------- layers
    @ti.func
    def box_sdf(self, p, half):
        """[m] signed distance from local point p to the box of half sizes `half`."""
        q = ti.abs(p) - half
        out = ti.max(q, 0.0)
        return ti.sqrt(out.dot(out) + TINY) + ti.min(ti.max(q[0], ti.max(q[1], q[2])), 0.0)

    @ti.func
    def around(self, n):
        """[-] angle of local direction n about the local z axis over 2 pi, + 1/2 (in [0, 1],
        u = 0 and 1 on the -x side), and the distance of n from that axis. On the axis
        (n_x = n_y = 0, measure zero) it reads the angle of +x instead of atan2(0, 0)."""
        rho2 = n[0] * n[0] + n[1] * n[1]
        nx = ti.select(rho2 > 1e-24, n[0], 1.0)
        return 0.5 + ti.atan2(n[1], nx) * (0.5 / math.pi), ti.sqrt(rho2 + TINY)

    @ti.func
    def graze_root(self, h, e):
        """sqrt(h + e^2) - e for h >= 0 [m]: the entry's distance before the closest approach
        for the shading point, within e of sqrt(h) [m], 0 at h = 0 like sqrt(h), but with a
        bounded derivative there (sqrt(h)'s is infinite where a ray grazes a round
        surface)."""
        return ti.sqrt(h + e * e) - e

    @ti.func
    def sphere_layer(self, c, q, r, o, d):
        oc = c - o
        tc = oc.dot(d)
        dist = safe_norm(oc - tc * d)
        depth, ts = tc, tc  # [m] the entry (ordering, depth output); the shading point
        if dist < r:
            h = r * r - dist * dist
            depth = tc - ti.sqrt(h + TINY)
            ts = tc - self.graze_root(h, GRAZE * r)
        p = o + ts * d
        normal = (p - c) / safe_norm(p - c)
        uv = ti.Vector([0.0, 0.0], dt=self.sim.real)
        if ti.static(self.textured):  # longitude about the shape's z axis, latitude
            n = quat_rotate_inv(q, normal)
            u, rho = self.around(n)
            uv = ti.Vector([u, 0.5 + ti.atan2(n[2], rho) / math.pi])
        return dist - r, depth, normal, uv

    @ti.func
    def capsule_layer(self, c, q, r, half_length, o, d):
        a, e = capsule_segment(c, q, half_length)
        p1, p2 = closest_between_segments(o, o + self.cam.far * d, a, e)
        gap = p1 - p2
        dist = safe_norm(gap)
        depth = (p1 - o).dot(d)
        normal = gap / dist
        axis_point = p2
        if dist < r:  # the first hit: the cylinder's side, else the nearer end sphere
            th = self.capsule_hit(o, d, a, e, r)
            if th > 0.0:
                # shading point: as sphere_layer's, from the closest approach to the whole
                # segment, so that it stays continuous where the side meets an end sphere
                ts = depth - self.graze_root((depth - th) ** 2, GRAZE * r)
                depth = th
                p = o + ts * d
                axis_point = closest_on_segment(p, a, e)
                normal = (p - axis_point) / safe_norm(p - axis_point)
        uv = ti.Vector([0.0, 0.0], dt=self.sim.real)
        if ti.static(self.textured):  # angle about the axis; height over the whole length
            u, _ = self.around(quat_rotate_inv(q, normal))
            z = quat_rotate_inv(q, axis_point + r * normal - c)[2]
            uv = ti.Vector([u, 0.5 + 0.5 * z / (half_length + r)])
        return dist - r, depth, normal, uv

    @ti.func
    def capsule_hit(self, o, d, a, e, r):
        """[m] ray parameter of the first hit on the capsule (segment a-e, radius r), -1 if
        none: the ray against the infinite cylinder, then against the end spheres."""
        ba, oa = e - a, o - a
        baba, bard, baoa = ba.dot(ba), ba.dot(d), ba.dot(oa)
        rdoa, oaoa = d.dot(oa), oa.dot(oa)
        k2 = baba - bard * bard
        k1 = baba * rdoa - baoa * bard
        k0 = baba * oaoa - baoa * baoa - r * r * baba
        h = k1 * k1 - k2 * k0
        th = -1.0
        if h >= 0.0 and k2 > 1e-12:
            tc = (-k1 - ti.sqrt(h + TINY)) / k2
            along = baoa + tc * bard
            if 0.0 < along < baba:
                th = tc
            else:
                oc = oa
                if along >= baba:
                    oc = o - e
                b2 = d.dot(oc)
                h2 = b2 * b2 - oc.dot(oc) + r * r
                if h2 >= 0.0:
                    th = -b2 - ti.sqrt(h2 + TINY)
        return th

    @ti.func
    def box_entry_depth(self, ol, dl, half):
        """min over the ray of max_k (|ol_k + t dl_k| - half_k), in the box frame: negative
        (minus the deepest point's depth) when the ray enters the box. The ray reads six
        lines in t, three rising and three falling; the minimum of their maximum is the
        highest crossing of a rising with a falling line (1-D linear programming duality), so
        it is a max of nine smooth terms, differentiable where the SDF along the ray is not."""
        best = -BIG
        for i in ti.static(range(3)):
            for j in ti.static(range(3)):
                si = ti.select(dl[i] >= 0.0, 1.0, -1.0)
                sj = ti.select(dl[j] >= 0.0, 1.0, -1.0)
                a_up, b_up = ti.abs(dl[i]) + 1e-12, si * ol[i] - half[i]
                a_dn, b_dn = -(ti.abs(dl[j]) + 1e-12), -sj * ol[j] - half[j]
                best = ti.max(best, (a_up * b_dn - a_dn * b_up) / (a_up - a_dn))
        return best

    @ti.func
    def box_layer(self, c, q, half, o, d, t_star):
        ol, dl = quat_rotate_inv(q, o - c), quat_rotate_inv(q, d)
        s = self.box_entry_depth(ol, dl, half)
        if s >= 0.0:  # a miss: the distance at the closest approach (smooth there)
            s = self.box_sdf(ol + t_star * dl, half)
        depth = -ol.dot(dl)  # a miss is ordered by the centre's depth (t_star is a constant)
        # slab test for the first hit and its face; the face's texture axes: (u, v) point
        # along (U, V) with U x V the outward normal, V = +z on the four side faces
        t_in, t_out = -BIG, BIG
        face = ti.Vector([0.0, 0.0, 0.0], dt=self.sim.real)
        U = ti.Vector([1.0, 0.0, 0.0], dt=self.sim.real)
        V = ti.Vector([0.0, 1.0, 0.0], dt=self.sim.real)
        hu, hv = half[0], half[1]
        for k in ti.static(range(3)):
            dk = dl[k]
            if ti.abs(dk) < 1e-12:
                dk = 1e-12
            t1, t2 = (-half[k] - ol[k]) / dk, (half[k] - ol[k]) / dk
            near = ti.min(t1, t2)
            if near > t_in:
                t_in = near
                face = ti.Vector([0.0, 0.0, 0.0], dt=self.sim.real)
                sign = -1.0 if dl[k] > 0 else 1.0
                face[k] = sign
                if ti.static(self.textured):
                    if ti.static(k == 0):
                        U, V = ti.Vector([0.0, sign, 0.0]), ti.Vector([0.0, 0.0, 1.0])
                        hu, hv = half[1], half[2]
                    elif ti.static(k == 1):
                        U, V = ti.Vector([-sign, 0.0, 0.0]), ti.Vector([0.0, 0.0, 1.0])
                        hu, hv = half[0], half[2]
                    else:
                        U, V = ti.Vector([1.0, 0.0, 0.0]), ti.Vector([0.0, sign, 0.0])
                        hu, hv = half[0], half[1]
            t_out = ti.min(t_out, ti.max(t1, t2))
        if s < 0.0 and t_in < t_out:
            depth = t_in
        uv = ti.Vector([0.0, 0.0], dt=self.sim.real)
        if ti.static(self.textured):  # where the ray meets the entered face's plane
            p = ol + t_in * dl
            uv = ti.Vector([0.5 + 0.5 * p.dot(U) / hu, 0.5 + 0.5 * p.dot(V) / hv])
        return s, depth, quat_rotate(q, face), uv

    @ti.func
    def cylinder_sdf(self, p, r, h):
        """[m] signed distance from local point p to the cylinder of radius r, half length h
        along z."""
        a0 = ti.sqrt(p[0] * p[0] + p[1] * p[1] + TINY) - r
        a1 = ti.abs(p[2]) - h
        out0, out1 = ti.max(a0, 0.0), ti.max(a1, 0.0)
        return ti.min(ti.max(a0, a1), 0.0) + ti.sqrt(out0 * out0 + out1 * out1 + TINY)

    @ti.func
    def side_and_cap(self, A, D, P, oz, dz, r, h):
        """min over t of max(rho(t) - r, oz + t dz - h) [m], the side's term against one end
        plane's, for a ray whose part across the axis is A + t D (P = D.D) and along it
        oz + t dz (cylinder frame). Where the end plane's term is the lower one at the ray's
        closest approach to the axis, that is the side's value there; else the minimum is where
        the two terms are equal (the ray meets the cone rho - z = r - h), on the side of the
        closest approach the end plane's term falls towards: the nearer root of a quadratic,
        written without cancellation. Both cases agree, with their derivatives, where they
        meet."""
        value = ti.sqrt(A.dot(A) + TINY) - r  # a ray along the axis: its distance from it
        if P > 1e-12:
            ta = -A.dot(D) / P  # the closest approach to the axis
            d2 = ti.max(A.dot(A) - A.dot(D) * A.dot(D) / P, 0.0)
            side = ti.sqrt(d2 + TINY) - r
            cap = oz + ta * dz - h
            value = side
            if cap > side:  # back along the ray to where the falling end term meets the side
                m, z = cap + r, ti.abs(dz)
                gap = m * m - d2
                value = cap - z * gap / (m * z + ti.sqrt(P * gap + z * z * d2 + TINY))
        return value

    @ti.func
    def cylinder_entry_depth(self, ol, dl, r, h):
        """min over the ray of max(rho - r, |z| - h) in the cylinder frame: negative (minus
        the deepest point's depth) when the ray enters the cylinder. The three terms' sublevel
        sets along the ray are intervals, which meet where every two meet (Helly's theorem in
        one dimension), so it is the largest of the pairs' values: the side with either end
        plane (side_and_cap), and the two end planes (-h; |z| - h for a ray parallel to them,
        which the side's pairs already reach)."""
        A = ti.Vector([ol[0], ol[1]])
        D = ti.Vector([dl[0], dl[1]])
        P = D.dot(D)
        top = self.side_and_cap(A, D, P, ol[2], dl[2], r, h)
        bottom = self.side_and_cap(A, D, P, -ol[2], -dl[2], r, h)
        return ti.max(ti.max(top, bottom), -h)

    @ti.func
    def cylinder_uv(self, n, z, rho, r, h):
        """(u, v) of a cylinder's surface point at angle n (a local direction) about the axis,
        height z and distance rho [m] from it: u the angle over 2 pi, v the way along the
        surface from the bottom centre over the bottom end, the side and the top end to the
        top centre (2 h + 2 r), so that it is continuous over both rims."""
        u, _ = self.around(n)
        zc = ti.math.clamp(z, -h, h)
        up = ti.select(z >= 0.0, 1.0, -1.0)
        return ti.Vector([u, 0.5 + 0.5 * (zc + up * (r - ti.min(rho, r))) / (h + r)])

    @ti.func
    def cylinder_layer(self, c, q, r, h, o, d, t_star):
        """The layer of a cylinder at c [m], orientation q, radius r, half length h: s from
        cylinder_entry_depth on a hit, else the SDF at the closest approach t_star (a
        constant: envelope theorem, as for a box). Shaded where the ray enters, or on a miss
        would enter, the infinite cylinder or the slab between the end planes, whichever is
        later: on the side at a shading point as sphere_layer's (bounded where a ray grazes
        it), on an end flat. On a miss the same choice keeps the colour continuous across the
        silhouette, the rims' arcs included."""
        ol, dl = quat_rotate_inv(q, o - c), quat_rotate_inv(q, d)
        s = self.cylinder_entry_depth(ol, dl, r, h)
        P = dl[0] * dl[0] + dl[1] * dl[1]
        t_side, t_end = -BIG, -BIG  # entries into the infinite cylinder, the end slab
        ta, reach2 = 0.0, 0.0  # the closest approach to the axis; the half chord squared
        if P > 1e-12:
            ta = -(ol[0] * dl[0] + ol[1] * dl[1]) / P
            d2 = ol[0] * ol[0] + ol[1] * ol[1] - ta * ta * P
            reach2 = ti.max(r * r - d2, 0.0) / P  # 0 on a miss: the closest approach
            t_side = ta - ti.sqrt(reach2 + TINY)
        if ti.abs(dl[2]) > 1e-12:
            t_end = ti.min((-h - ol[2]) / dl[2], (h - ol[2]) / dl[2])
        uv = ti.Vector([0.0, 0.0], dt=self.sim.real)
        n_local = ti.Vector([0.0, 0.0, 1.0], dt=self.sim.real)
        depth = -ol.dot(dl)  # a miss is ordered by the centre's depth (t_star is a constant)
        if t_side > t_end:  # the side
            ts = ta - self.graze_root(reach2, GRAZE * r)
            ps = ol + ts * dl
            n_local = ti.Vector([ps[0], ps[1], 0.0]) / ti.sqrt(ps[0] ** 2 + ps[1] ** 2 + TINY)
            if s < 0.0:
                depth = t_side
            if ti.static(self.textured):
                uv = self.cylinder_uv(n_local, ps[2], r, r, h)
        else:  # the end facing the ray
            up = ti.select(dl[2] < 0.0, 1.0, -1.0)
            n_local = ti.Vector([0.0, 0.0, up], dt=self.sim.real)
            if s < 0.0:
                depth = t_end
            if ti.static(self.textured):
                p = ol + t_end * dl
                uv = self.cylinder_uv(p, up * h, ti.sqrt(p[0] ** 2 + p[1] ** 2 + TINY), r, h)
        if s >= 0.0:  # a miss: the distance at the closest approach (smooth there)
            s = self.cylinder_sdf(ol + t_star * dl, r, h)
        return s, depth, quat_rotate(q, n_local), uv

    @ti.func
    def plane_layer(self, c, q, half, o, d):
        """The layer of a plane of the world through c [m] with normal q's +z, seen only from
        the side the normal faces (a ray from below starts inside the solid). Unbounded
        (half = 0 along both local x and y) it is hard, as the ground is: s = -BIG where the
        ray meets it. Otherwise it is drawn within |x| <= half[0], |y| <= half[1] (0: no bound
        along that axis), and s is the distance [m] from the ray to the nearest edge, negative
        where the ray meets the plane inside them."""
        n = quat_rotate(q, ti.Vector([0.0, 0.0, 1.0], dt=self.sim.real))
        height = n.dot(o - c)
        along = n.dot(d)
        s, depth = ti.cast(BIG, self.sim.real), ti.cast(BIG, self.sim.real)
        uv = ti.Vector([0.0, 0.0], dt=self.sim.real)
        if height > 0.0 and along < -1e-9:
            depth = height / -along
            local = quat_rotate_inv(q, o + depth * d - c)
            s = -BIG
            if half[0] > 0.0 or half[1] > 0.0:
                # an unbounded side's edges reach past anything the ray can reach
                reach = self.cam.far + safe_norm(o - c)
                inside = 1
                edge = ti.cast(BIG, self.sim.real)
                for a in ti.static(range(2)):
                    if half[a] > 0.0:
                        if ti.abs(local[a]) >= half[a]:
                            inside = 0
                        length = ti.select(half[1 - a] > 0.0, half[1 - a], reach)
                        for sign in ti.static((-1.0, 1.0)):
                            # the edge x_a = sign half_a, from -length to length along the other
                            e0 = ti.Vector([0.0, 0.0, 0.0], dt=self.sim.real)
                            e1 = ti.Vector([0.0, 0.0, 0.0], dt=self.sim.real)
                            e0[a], e1[a] = sign * half[a], sign * half[a]
                            e0[1 - a], e1[1 - a] = -length, length
                            p1, p2 = closest_between_segments(
                                o,
                                o + self.cam.far * d,
                                c + quat_rotate(q, e0),
                                c + quat_rotate(q, e1),
                            )
                            edge = ti.min(edge, safe_norm(p1 - p2))
                s = ti.select(inside == 1, -edge, edge)
            if ti.static(self.textured):  # bounded axes over their size, unbounded per tile
                for a in ti.static(range(2)):
                    # max(): the branch not taken must not divide by 0 (its adjoint is still run)
                    uv[a] = ti.select(
                        half[a] > 0.0,
                        0.5 + 0.5 * local[a] / ti.max(half[a], 1e-12),
                        local[a] / self.texture_size,
                    )
        return s, depth, n, uv

    @ti.func
    def shape_layer(self, t, b, k, o, d, t_star):
        c, q = shape_pose(self.sim, self.sim.state, t, b, k)
        kind = self.sim.model.shape_kind[k]
        s, depth, normal = BIG, BIG, -d
        uv = ti.Vector([0.0, 0.0], dt=self.sim.real)
        if kind == L.S_SPHERE:
            s, depth, normal, uv = self.sphere_layer(c, q, self.sim.model.shape_radius[b, k], o, d)
        elif kind == L.S_CAPSULE:
            s, depth, normal, uv = self.capsule_layer(
                c,
                q,
                self.sim.model.shape_radius[b, k],
                self.sim.model.shape_half_length[b, k],
                o,
                d,
            )
        elif kind == L.S_BOX:
            s, depth, normal, uv = self.box_layer(
                c, q, self.sim.model.shape_half_extents[b, k], o, d, t_star
            )
        if ti.static(L.S_CYLINDER in self.kinds):
            if kind == L.S_CYLINDER:
                s, depth, normal, uv = self.cylinder_layer(
                    c,
                    q,
                    self.sim.model.shape_radius[b, k],
                    self.sim.model.shape_half_length[b, k],
                    o,
                    d,
                    t_star,
                )
        if ti.static(L.S_PLANE in self.kinds):
            if kind == L.S_PLANE:
                s, depth, normal, uv = self.plane_layer(
                    c, q, self.sim.model.shape_half_extents[b, k], o, d
                )
        # the ordering depth: the entry on a hit; on a miss the closest approach pushed back
        # by ORDER_SLOPE s, which is continuous with the entry at s = 0 and puts the nearer
        # silhouette in front where two closest approaches coincide (a ball on a capsule's
        # end: without it, rounding decided their order and the image jumped)
        order = depth
        if s > 0.0:
            closest = depth
            if kind == L.S_BOX or kind == L.S_CYLINDER:
                closest = t_star
            order = closest + ORDER_SLOPE * s
        return s, depth, order, normal, uv

    @ti.func
    def texture_clamps(self, b, k):
        """Whether shape k's texture is clamped to its edge along u and along v: a box face's
        both ways; a round shape's along v (u goes around); a plane's along a bounded axis,
        repeating along an unbounded one."""
        kind = self.sim.model.shape_kind[k]
        clamp_u, clamp_v = kind == L.S_BOX, True
        if ti.static(L.S_PLANE in self.kinds):
            if kind == L.S_PLANE:
                half = self.sim.model.shape_half_extents[b, k]  # a local copy (kernel_rules)
                clamp_u, clamp_v = half[0] > 0.0, half[1] > 0.0
        return clamp_u, clamp_v

    @ti.func
    def texel(self, i):
        return ti.Vector([self.texels[i, 0], self.texels[i, 1], self.texels[i, 2]])

    @ti.func
    def texture(self, i, u, v, clamp_u, clamp_v):
        """RGB of texture i at texture coordinates (u, v) (u left to right, v bottom to top,
        1 per image): bilinear between the four nearest texel centres, repeating the image
        along u and v, or clamped to its edge texels along u (clamp_u) / v (clamp_v). The
        texel indices are integers read from the field; the weights carry the gradient."""
        start, h, w = self.texel_info[i, 0], self.texel_info[i, 1], self.texel_info[i, 2]
        x = u * w - 0.5  # texel centres at integer x, y
        y = (1.0 - v) * h - 0.5  # row 0 is the image's top row
        if clamp_u:
            x = ti.math.clamp(x, 0.0, w - 1.0)
        if clamp_v:
            y = ti.math.clamp(y, 0.0, h - 1.0)
        x0 = ti.cast(ti.floor(x), ti.i32)
        y0 = ti.cast(ti.floor(y), ti.i32)
        fx = x - ti.cast(x0, self.sim.real)
        fy = y - ti.cast(y0, self.sim.real)
        c0, r0 = x0 % w, y0 % h  # Taichi's % is Python's: in [0, w)
        c1, r1 = (c0 + 1) % w, (r0 + 1) % h
        top = (1.0 - fx) * self.texel(start + r0 * w + c0) + fx * self.texel(start + r0 * w + c1)
        low = (1.0 - fx) * self.texel(start + r1 * w + c0) + fx * self.texel(start + r1 * w + c1)
        return (1.0 - fy) * top + fy * low

    @ti.func
    def shade(self, albedo, normal):
        light = ti.Vector(self.cam.light, dt=self.sim.real)
        lit = ti.max(-normal.dot(light), 0.0)
        return albedo * (self.cam.ambient + (1.0 - self.cam.ambient) * lit)

    @ti.kernel
    def k_search(self, t: ti.i32):
        """Forward only: for each box or cylinder layer the ray parameter t* of the closest
        approach, min over the ray of the solid's SDF (golden-section search, the SDF being
        convex), where the ray misses it."""
        for b, y, x, k in ti.ndrange(self.sim.batch, self.height, self.width, self.n_shapes):
            kind = self.sim.model.shape_kind[k]
            if kind == L.S_BOX or kind == L.S_CYLINDER:
                o, d = self.ray(t, b, y, x)
                c, q = shape_pose(self.sim, self.sim.state, t, b, k)
                half = self.sim.model.shape_half_extents[b, k]
                r, h = self.sim.model.shape_radius[b, k], self.sim.model.shape_half_length[b, k]
                if kind == L.S_CYLINDER:
                    half = ti.Vector([r, r, h])
                ol, dl = quat_rotate_inv(q, o - c), quat_rotate_inv(q, d)
                if self.solid_entry_depth(ol, dl, half, r, h, kind) < 0.0:
                    continue  # the ray enters the solid: its layer does not need t*
                mid = -ol.dot(dl)  # closest approach to the centre; the minimum is within
                reach = half.norm() + (ol + mid * dl).norm() + 1e-6  # this of it
                lo, hi = mid - reach, mid + reach
                g = ti.static(0.5 * (math.sqrt(5.0) - 1.0))
                x1, x2 = hi - g * (hi - lo), lo + g * (hi - lo)
                f1 = self.solid_sdf(ol + x1 * dl, half, r, h, kind)
                f2 = self.solid_sdf(ol + x2 * dl, half, r, h, kind)
                for _ in range(SEARCH_ITERATIONS):
                    if f1 <= f2:
                        hi, x2, f2 = x2, x1, f1
                        x1 = hi - g * (hi - lo)
                        f1 = self.solid_sdf(ol + x1 * dl, half, r, h, kind)
                    else:
                        lo, x1, f1 = x1, x2, f2
                        x2 = lo + g * (hi - lo)
                        f2 = self.solid_sdf(ol + x2 * dl, half, r, h, kind)
                self.t_star[b, y, x, k] = 0.5 * (lo + hi)

    @ti.func
    def solid_sdf(self, p, half, r, h, kind):
        """[m] signed distance from local point p to a box (half sizes `half`) or, for kind
        S_CYLINDER, a cylinder (radius r, half length h)."""
        value = 0.0
        if kind == L.S_CYLINDER:
            value = self.cylinder_sdf(p, r, h)
        else:
            value = self.box_sdf(p, half)
        return value

    @ti.func
    def solid_entry_depth(self, ol, dl, half, r, h, kind):
        """box_entry_depth or cylinder_entry_depth: negative when the ray enters the solid."""
        value = 0.0
        if kind == L.S_CYLINDER:
            value = self.cylinder_entry_depth(ol, dl, r, h)
        else:
            value = self.box_entry_depth(ol, dl, half)
        return value

    # The differentiated kernels (k_layers, k_transmit, k_composite) run, on CPU, a thread per
    # world over its pixels and layers in order: every pixel reads the world's body poses and
    # shapes, and a pixel's layers read each other's, so their adjoints add into shared
    # entries; in one thread those sums keep one order, whatever the thread count
    # (backend.ordered_sums, docs/determinism.md). GPUs run a thread per layer of a pixel.
    @ti.kernel
    def k_layers(self, t: ti.i32):
        """Coverage logit, depth and colour of every layer of every pixel (differentiated)."""
        if ti.static(self.backend.ordered_sums):
            stride = ti.static(self.backend.world_stride)
            for i in range(self.sim.batch * stride):  # a thread per world (backend.py)
                if i % stride == 0:
                    for y, x, k in ti.ndrange(self.height, self.width, self.n_layers):
                        self.layer(t, i // stride, y, x, k)
        else:
            for b, y, x, k in ti.ndrange(self.sim.batch, self.height, self.width, self.n_layers):
                self.layer(t, b, y, x, k)

    @ti.func
    def layer(self, t, b, y, x, k):
        """Layer k (a shape; the ground at k = n_shapes) of pixel (y, x) in world b."""
        S = ti.static(self.n_shapes)
        o, d = self.ray(t, b, y, x)
        logit = -LOGIT_CLAMP
        depth = ti.cast(BIG, self.sim.real)
        colour = ti.Vector([0.0, 0.0, 0.0], dt=self.sim.real)
        if k < S:
            s, dk, order, normal, uv = self.shape_layer(t, b, k, o, d, self.t_star[b, y, x, k])
            depth = order
            if self.cam.near < dk < self.cam.far:
                softness = self.softness[None]
                if softness > 0.0:
                    logit = ti.math.clamp(
                        -s * self.focal / (dk * softness), -LOGIT_CLAMP, LOGIT_CLAMP
                    )
                else:
                    logit = ti.select(s < 0.0, LOGIT_CLAMP, -LOGIT_CLAMP)
            albedo = ti.Vector(
                [self.albedo_world[b, k, 0], self.albedo_world[b, k, 1], self.albedo_world[b, k, 2]]
            )
            if ti.static(self.textured):
                i = self.shape_texture[k]
                if i >= 0:
                    clamp_u, clamp_v = self.texture_clamps(b, k)
                    albedo *= self.texture(i, uv[0], uv[1], clamp_u, clamp_v)
            colour = self.shade(albedo, normal)
        elif ti.static(self.ground_on):
            if d[2] < -1e-9 and o[2] > 0.0:
                tg = -o[2] / d[2]
                if self.cam.near < tg < self.cam.far:
                    depth = tg
                    logit = LOGIT_CLAMP
                    colour = self.shade(
                        self.ground_colour(o + tg * d), ti.Vector([0.0, 0.0, 1.0], dt=self.sim.real)
                    )
        self.logit[b, y, x, k] = logit
        self.dist[b, y, x, k] = depth
        for c in ti.static(range(3)):
            self.colour[b, y, x, k, c] = colour[c]

    @ti.func
    def ground_colour(self, p):
        base = ti.Vector(self.sim.robot.ground.color, dt=self.sim.real)
        shade = 1.0
        if ti.static(self.ground_texture >= 0):  # tiles of texture_size [m], repeating
            size = ti.static(self.texture_size)
            base *= self.texture(
                ti.static(self.ground_texture), p[0] / size, p[1] / size, False, False
            )
        elif ti.static(self.checker > 0.0):
            i = ti.floor(p[0] / self.checker) + ti.floor(p[1] / self.checker)
            if i - 2.0 * ti.floor(0.5 * i) > 0.5:
                shade = 0.8
        return base * shade

    @ti.func
    def in_front(self, b, y, x, j, k):
        """Whether layer j is composited in front of layer k (k = n_layers: the background)."""
        dj = self.dist[b, y, x, j]
        result = True
        if k < self.n_layers:
            dk = self.dist[b, y, x, k]
            result = dj < dk or (dj == dk and j < k)
        return result

    @ti.kernel
    def k_opacity(self):
        """-log(1 - cov_j) = softplus(z_j) of every layer, once (differentiated)."""
        for b, y, x, j in ti.ndrange(self.sim.batch, self.height, self.width, self.n_layers):
            z = self.logit[b, y, x, j]
            self.opaque[b, y, x, j] = ti.max(z, 0.0) + ti.log(1.0 + ti.exp(-ti.abs(z)))

    @ti.kernel
    def k_transmit(self):
        """log T_k = sum over layers j in front of k of log(1 - cov_j) (differentiated), added
        into log_t (zeroed before)."""
        if ti.static(self.backend.ordered_sums):
            stride = ti.static(self.backend.world_stride)
            for i in range(self.sim.batch * stride):  # a thread per world (backend.py)
                if i % stride == 0:
                    for y, x, k in ti.ndrange(self.height, self.width, self.n_layers + 1):
                        self.transmit(i // stride, y, x, k)
        else:
            for b, y, x, k in ti.ndrange(
                self.sim.batch, self.height, self.width, self.n_layers + 1
            ):
                self.transmit(b, y, x, k)

    @ti.func
    def transmit(self, b, y, x, k):
        """log_t[b, y, x, k] -= each front layer's opacity. The loop over the layers is
        unrolled at compile time and adds into the field, not into a local: a local changed
        inside a run-time loop (the pixels, on CPU) needs an AD stack entry per change."""
        for j in ti.static(range(self.n_layers)):
            if j != k and self.in_front(b, y, x, j, k):
                self.log_t[b, y, x, k] -= self.opaque[b, y, x, j]

    @ti.kernel
    def k_clear_image(self, t: ti.i32):
        for b, y, x, c in ti.ndrange(self.sim.batch, self.height, self.width, 3):
            self.image[t, b, y, x, c] = 0.0

    @ti.kernel
    def k_composite(self, t: ti.i32):
        """image[t] = sum_k cov_k T_k colour_k + T_bg background (differentiated)."""
        if ti.static(self.backend.ordered_sums):
            stride = ti.static(self.backend.world_stride)
            for i in range(self.sim.batch * stride):  # a thread per world (backend.py)
                if i % stride == 0:
                    for y, x, k in ti.ndrange(self.height, self.width, self.n_layers + 1):
                        self.composite(t, i // stride, y, x, k)
        else:
            for b, y, x, k in ti.ndrange(
                self.sim.batch, self.height, self.width, self.n_layers + 1
            ):
                self.composite(t, b, y, x, k)

    @ti.func
    def composite(self, t, b, y, x, k):
        """image[t, b, y, x] += layer k's colour (the background at k = n_layers) times its
        coverage and transmittance."""
        transmitted = ti.exp(self.log_t[b, y, x, k])  # one factor for the three channels
        if k < self.n_layers:
            weight = transmitted * (1.0 / (1.0 + ti.exp(-self.logit[b, y, x, k])))
            for c in ti.static(range(3)):
                self.image[t, b, y, x, c] += weight * self.colour[b, y, x, k, c]
        else:
            for c in ti.static(range(3)):
                self.image[t, b, y, x, c] += transmitted * self.background_world[b, c]

    @ti.kernel
    def k_depth(self, t: ti.i32):
        """Forward only: the nearest layer that covers the pixel (logit > 0)."""
        for b, y, x in ti.ndrange(self.sim.batch, self.height, self.width):
            best = ti.cast(self.cam.far, self.sim.real)
            for k in range(self.n_layers):
                if self.logit[b, y, x, k] > 0.0:
                    best = ti.min(best, self.dist[b, y, x, k])
            self.depth[t, b, y, x] = best

    @ti.kernel
    def k_share_colours(self):
        """Forward only: every world's copy of albedo and background."""
        ti.loop_config(serialize=True)  # a few numbers: no hand-off to the thread pool
        for b in range(self.sim.batch):
            for k, c in ti.ndrange(self.albedo.shape[0], 3):
                self.albedo_world[b, k, c] = self.albedo[k, c]
            for c in range(3):
                self.background_world[b, c] = self.background[c]

    @ti.kernel
    def k_colour_adjoints(self):
        """Forward only, after a step's backward: albedo.grad and background.grad += the
        adjoints of the worlds' copies, worlds in order."""
        ti.loop_config(serialize=True)
        for b in range(self.sim.batch):
            for k, c in ti.ndrange(self.albedo.shape[0], 3):
                self.albedo.grad[k, c] += self.albedo_world.grad[b, k, c]
            for c in range(3):
                self.background.grad[c] += self.background_world.grad[b, c]

    # ------------------------------------------------------------------------- launches
    def _layers(self, t: int):
        self.k_share_colours()
        self.log_t.fill(0.0)
        if self.kinds & {L.S_BOX, L.S_CYLINDER}:
            self.k_search(t)
        self.k_layers(t)
        self.k_opacity()
        self.k_transmit()

    def _render_forward(self, t: int):
        self._layers(t)
        self.k_clear_image(t)
        self.k_composite(t)
        self.k_depth(t)

    def _render_backward(self, t: int):
        self.backend.require_camera_gradients()
        self._layers(t)
        for f in self._scratch:
            f.grad.fill(0.0)
        self.k_composite.grad(t)
        self.k_transmit.grad()
        self.k_opacity.grad()
        self.k_layers.grad(t)
        self.k_colour_adjoints()

    def set_softness(self, pixels: float) -> None:
        """Width of the soft silhouette edges [pixels] from now on (0: hard edges, no
        gradient through edges); e.g. anneal it towards 0 during training."""
        if not pixels >= 0.0:
            raise ValueError(f"softness must be >= 0 pixels, got {pixels}")
        self.softness[None] = float(pixels)

    def render_all(self) -> None:
        """image and depth of every step 0..T from a finished rollout (forward only)."""
        for t in range(self.sim.steps + 1):
            self._render_forward(t)

    def images(self) -> np.ndarray:
        """All images as a float array (T + 1, B, H, W, 3) in [0, 1]."""
        return self.image.to_numpy().astype(float)
