"""Sensor readings from the stored state (differentiable like the rest of the rollout).

Sensor k writes sensordata[t, w, adr : adr + dim] (layout.sensor_adr / sensor_dim), in SI units:
    body_pos       (3) [m]     COM position; with a reference body: in the reference's body
                               frame, relative to that frame's origin
    body_vel       (3) [m/s]   COM velocity; with a reference: as seen from the reference
                               frame, R_ref^T (v - v_ref - w_ref x (x - x_ref)), in its axes
    body_quat      (4) [-]     orientation [w,x,y,z] body to world; with a reference:
                               body to reference frame, q_ref* q
    body_omega     (3) [rad/s] angular velocity, world axes; with a reference:
                               R_ref^T (w - w_ref)
    joint_pos      (1) [rad|m] joint coordinate about/along the axis (as the motors measure it)
    joint_vel      (1)         its rate
    contact_force  (3) [N]     total contact force (normal and friction) on the body, world
                               frame, averaged over the step that ended at t (0 at t = 0)
    actuator_force (1) [N m|N] the motor's torque or force along its axis, averaged over the
                               step that ended at t (0 at t = 0; engine/actuators.py)

Contact forces come from the solver's accumulated impulses: point_force[t + 1, w, i] is the
force on point i's first body (side a) during step t; side b feels the opposite.
"""

import taichi as ti

from . import layout as L
from . import joints
from .frames import body_velocity, lin
from .tmath import quat_conj, quat_mul, quat_rotate

_POS, _VEL, _QUAT, _OMEGA, _JPOS, _JVEL = (
    L.SENSOR_CODES[k]
    for k in ("body_pos", "body_vel", "body_quat", "body_omega", "joint_pos", "joint_vel")
)
_ACTUATOR = L.SENSOR_CODES["actuator_force"]


@ti.func
def _four(v):
    return ti.Vector([v[0], v[1], v[2], 0.0])


@ti.func
def body_reading(s, t, w, kind, n, ref):
    """Reading of a body_* sensor at step t, padded to 4 values."""
    x, q, v, om = (
        s.state.pos[t, w, n],
        s.state.quat[t, w, n],
        s.state.vel[t, w, n],
        s.state.omega[t, w, n],
    )
    if ref >= 0:
        xr, qr = s.state.pos[t, w, ref], s.state.quat[t, w, ref]
        vr, omr = s.state.vel[t, w, ref], s.state.omega[t, w, ref]
        qc = quat_conj(qr)
        origin = xr - quat_rotate(qr, s.model.com[w, ref])
        x = quat_rotate(qc, x - origin)
        v = quat_rotate(qc, v - vr - omr.cross(s.state.pos[t, w, n] - xr))
        q = quat_mul(qc, q)
        om = quat_rotate(qc, om - omr)
    out = _four(x)
    if kind == _VEL:
        out = _four(v)
    elif kind == _QUAT:
        out = q
    elif kind == _OMEGA:
        out = _four(om)
    return out


@ti.func
def reading(s, t, w, k):
    """Sensor k's values at step t (contact forces excluded: see add_contact_force)."""
    kind = s.model.sensor_kind[k]
    out = ti.Vector([0.0, 0.0, 0.0, 0.0])
    if kind == _ACTUATOR:
        out[0] = s.state.motor_force[t, w, s.model.sensor_motor[k]]
    elif kind == _JPOS or kind == _JVEL:
        j = s.model.sensor_joint[k]
        q, ja, jb = joints.coordinate(s, s.state, t, w, j, s.model.sensor_axis[k])
        out[0] = q
        if kind == _JVEL:
            out[0] = ja.dot(body_velocity(s, s.state, t, w, s.model.joint_parent[j])) + jb.dot(
                body_velocity(s, s.state, t, w, s.model.joint_child[j])
            )
    elif kind != L.SENSOR_CONTACT_FORCE:
        out = body_reading(s, t, w, kind, s.model.sensor_body[k], s.model.sensor_ref[k])
    return out


@ti.func
def write(s, t, w, k):
    value = reading(s, t, w, k)
    adr, dim = s.model.sensor_adr[k], s.model.sensor_dim[k]
    for c in ti.static(range(4)):
        if c < dim:
            s.state.sensordata[t, w, adr + c] = value[c]


@ti.func
def point_force(s, w, i):
    """Force [N] on contact point i's side-a body during the step just solved (world frame),
    averaged over its substeps: each substep's accumulated normal and friction impulses along
    that substep's row directions, summed, over dt. A substep where the point is inactive adds
    nothing (its impulses are 0 and its Jacobians were not built: Simulation.row_scratch)."""
    r = s.model.point_row[i]
    impulse = ti.Vector.zero(s.real, 3)
    for u in ti.static(range(s.n_substeps)):
        k = s.n_sweeps
        if s.scratch.active[u, w, r] != 0.0:
            impulse += (
                lin(s.scratch.ja[u, w, r]) * s.scratch.lam[u, k, w, r]
                + lin(s.scratch.ja[u, w, r + 1]) * s.scratch.lam[u, k, w, r + 1]
                + lin(s.scratch.ja[u, w, r + 2]) * s.scratch.lam[u, k, w, r + 2]
            )
    return impulse / s.dt


@ti.func
def add_contact_force(s, t, w, k, i):
    """Add point i's force to sensor k when k is a contact_force sensor on one of its bodies."""
    if s.model.sensor_kind[k] == L.SENSOR_CONTACT_FORCE:
        n = s.model.sensor_body[k]
        sign = 0.0
        if s.model.point_body_a[i] == n:
            sign = 1.0
        elif s.model.point_body_b[i] == n:
            sign = -1.0
        if sign != 0.0:
            f = sign * s.state.point_force[t, w, i]
            adr = s.model.sensor_adr[k]
            for c in ti.static(range(3)):
                s.state.sensordata[t, w, adr + c] += f[c]
