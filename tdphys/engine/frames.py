"""A body's frame and velocity as the constraint rows read them, and the stacked 6-vectors
the rows use: (linear, angular), each 3 components, world frame."""

import taichi as ti

from .tmath import quat_mul


@ti.func
def six(lin, ang):
    return ti.Vector([lin[0], lin[1], lin[2], ang[0], ang[1], ang[2]])


@ti.func
def lin(v):
    return ti.Vector([v[0], v[1], v[2]])


@ti.func
def ang(v):
    return ti.Vector([v[3], v[4], v[5]])


@ti.func
def put(st: ti.template(), i, w, n, x, q, v, om):
    """Write body n's centre of mass x [m], orientation q, velocity v [m/s] and angular
    velocity om [rad/s] into the poses st at index i."""
    st.pos[i, w, n], st.quat[i, w, n] = x, q
    st.vel[i, w, n], st.omega[i, w, n] = v, om


@ti.func
def com_of(s, st: ti.template(), w, n):
    """Body n's centre of mass [m] in its body frame as the poses st place it: in a substep's
    poses the solver's (a host's with the bodies welded to it, Simulation.solver_com), in the
    state every body's own."""
    if ti.static(st.SOLVER_FRAME):
        return s.solver_com[w, n]
    else:
        return s.model.com[w, n]


@ti.func
def body_frame(s, st: ti.template(), i, w, n):
    """(COM position [m], orientation, local COM [m]) of body n in the poses st at index i
    (sim.state at a step, or sim.scratch.sub at a substep); the world for n = -1."""
    k, body = ti.max(n, 0), n >= 0
    zero = ti.Vector([0.0, 0.0, 0.0])
    return (
        ti.select(body, st.pos[i, w, k], zero),
        ti.select(body, st.quat[i, w, k], ti.Vector([1.0, 0.0, 0.0, 0.0])),
        ti.select(body, com_of(s, st, w, k), zero),
    )


@ti.func
def body_velocity(s, st: ti.template(), i, w, n):
    """Stacked (linear, angular) world velocity of body n in the poses st at index i (0 for
    the world, n = -1)."""
    k = ti.max(n, 0)
    return ti.select(n >= 0, six(st.vel[i, w, k], st.omega[i, w, k]), ti.Vector([0.0] * 6))


@ti.func
def body_frame_ahead(s, st: ti.template(), i, w, n, h):
    """body_frame of body n a time h [s] later, moved along its velocity in the poses st at
    index i (first order: the position by h v, the orientation by h omega)."""
    x, q, com = body_frame(s, st, i, w, n)
    if n >= 0:
        omega = st.omega[i, w, n]
        x = x + h * st.vel[i, w, n]
        q = q + 0.5 * h * quat_mul(ti.Vector([0.0, omega[0], omega[1], omega[2]]), q)
        q = q / q.norm()
    return x, q, com
