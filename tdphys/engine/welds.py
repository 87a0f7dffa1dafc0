"""Welded bodies: a body that a rigid fixed joint holds to its parent moves as one rigid body
with its host (layout.py, "Welded bodies"), so the solver has neither its rows nor its tree
node.

Here: each welded body's frame in its host's frame, from its fixed joint's anchors and
rel_quat (so their gradients flow as the joint's would); the host's mass properties with its
welded bodies (what the solver moves: Model.solver_*); a welded body's pose and velocity
from its host's; a host's pose moved between its own centre of mass (the state's) and the
solver's; and a row half's Jacobian moved from a welded body to its host.
"""

import taichi as ti

from . import bodies
from .frames import ang, com_of, lin, six
from .tmath import quat_mul, quat_rotate


@ti.func
def frame_in_host(s, w, n, depth: ti.template()):
    """(origin [m], quat) of welded body n's frame in its host's frame, n `depth` welds below
    the host (compile time; the frames of depth - 1 are already written). Its fixed joint
    holds parent origin + R_p anchor_p = child origin + R_c anchor_c and q_c = q_p rel_quat."""
    j = s.model.weld_joint[n]
    q = s.model.rel_quat[w, j]
    q = q / q.norm()
    o = s.model.anchor_p[w, j] - quat_rotate(q, s.model.anchor_c[w, j])
    if ti.static(depth > 1):
        p = s.model.joint_parent[j]
        qp = s.model.weld_quat[w, p]
        o, q = s.model.weld_origin[w, p] + quat_rotate(qp, o), quat_mul(qp, q)
    return o, q


@ti.func
def in_host(s, w, n):
    """(mass [kg], centre of mass [m], inertia about it [kg m^2]) of body n in its host's
    frame (its own frame when it is not welded)."""
    m, c, inertia = s.model.mass[w, n], s.model.com[w, n], s.model.inertia[w, n]
    if s.model.weld_joint[n] >= 0:
        q = s.model.weld_quat[w, n]
        c = s.model.weld_origin[w, n] + quat_rotate(q, c)
        inertia = bodies.in_frame(s, q, inertia)
    return m, c, inertia


@ti.func
def about_origin(s, m, c, inertia):
    """Inertia [kg m^2] about the frame origin of mass m [kg] at c [m] with `inertia` about
    c (parallel axes)."""
    return inertia + m * (c.dot(c) * ti.Matrix.identity(s.real, 3) - c.outer_product(c))


@ti.func
def host_centre(s, w, h):
    """Centre of mass [m] of host h with its welded bodies, host frame (from the sums)."""
    return s.model.fused_moment[w, h] / s.model.fused_mass[w, h]


@ti.func
def follow(s, dst: ti.template(), i_dst, src: ti.template(), i_src, w, n):
    """Write welded body n's pose and velocity into dst at index i_dst from its host's in src
    at index i_src (a substep's poses, or the state)."""
    h = s.model.body_host[n]
    q, om = src.quat[i_src, w, h], src.omega[i_src, w, h]
    r = quat_rotate(q, s.solver_com[w, h] + s.model.weld_offset[w, n] - com_of(s, src, w, h))
    dst.pos[i_dst, w, n] = src.pos[i_src, w, h] + r
    dst.quat[i_dst, w, n] = quat_mul(q, s.model.weld_quat[w, n])
    dst.vel[i_dst, w, n] = src.vel[i_src, w, h] + om.cross(r)
    dst.omega[i_dst, w, n] = om


@ti.func
def rebased(x, q, v, om, com_from, com_to):
    """(position [m], velocity [m/s]) of the point com_to of a body frame (body frame [m])
    from those of its point com_from, the body at orientation q turning at om [rad/s]."""
    r = quat_rotate(q, com_to - com_from)
    return x + r, v + om.cross(r)


@ti.func
def initial_state(s, w, n):
    """(centre of mass [m], quat, vel [m/s], omega [rad/s]) of welded body n at t = 0: its
    host's initial frame carried along (its own initial pose and velocity are not used)."""
    h = s.model.body_host[n]
    qh = s.model.init_quat[w, h]
    qh = qh / qh.norm()
    o, q = s.model.weld_origin[w, n], s.model.weld_quat[w, n]
    r = quat_rotate(qh, o + quat_rotate(q, s.model.com[w, n]) - s.model.com[w, h])
    om = s.model.init_omega[w, h]
    x_host = s.model.init_pos[w, h] + quat_rotate(qh, s.model.com[w, h])
    return x_host + r, quat_mul(qh, q), s.model.init_vel[w, h] + om.cross(r), om


@ti.func
def on_host(s, u, w, n, j6):
    """Row half j6 (linear, angular; world) of body n moved to its host at substep u: for
    v_n = v_h + om x d (d from the host's centre of mass to n's), l . v_n + a . om =
    l . v_h + (a + d x l) . om."""
    k = ti.max(n, 0)
    h = s.model.body_host[k]
    d = s.scratch.sub.pos[u, w, k] - s.scratch.sub.pos[u, w, h]
    return ti.select(n >= 0 and h != k, six(lin(j6), ang(j6) + d.cross(lin(j6))), j6)
