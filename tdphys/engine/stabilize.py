"""Position projection onto the tree joints at the end of a substep (post-stabilisation).

The velocity solve makes J v = 0 hold for the rigid tree joints, but a body moving along a
curve drifts off its joint by O(h^2) in the substep (a link turning at w drifts by about
w^2 L h^2 / 2). Removing that drift with a velocity bias in the next substep would add
kinetic energy; instead the drifted pose x (sim.scratch.drift) is moved by the smallest
mass-weighted displacement dx that makes every rigid tree row's position error C vanish to
first order, with the substep's factorisation of H (engine/tree.py):

    H [dx; mu] = [0; -C(x)]   i.e.   M dx + J^T mu = 0,   J dx = -C(x),

    x <- x + dx,  v <- v + dx / h   (dx: linear [m] and rotation vector [rad] per body,
                                    world frame)

The velocity change makes the substep's velocity the displacement it made, as in SHAKE
(Ryckaert et al. 1977): the next substep's velocity projection then removes almost nothing,
where leaving the velocity unchanged would lose kinetic energy at every substep. Used when
joints are rigid (solver.joint_hz 0); soft joints keep their error on purpose.

Gradients: gap rows and the displacement are stages Taichi differentiates; the solve between
them is differentiated by hand like tree.project_adjoint: for x = H^-1 y, ybar = H^-1 xbar and
Hbar = -ybar x^T on H's non-zero blocks, added into the gradient fields as `x = x + y`, not
with atomic adds (as tree.project_adjoint). Fields (per substep u, world w): gap [u, w, r] (C of
tree row r at the drifted pose [m or rad]), dx [u, w, n], stab_mu [u, w, r] (the rows' part
of the solution, kept for the adjoint).
"""

import taichi as ti

from . import tree
from .tmath import quat_mul


@ti.func
def solve(s, u, w):
    """dx[u, w] and stab_mu[u, w] from gap[u, w] with the factors of substep u."""
    nb = s.n_bodies
    for k in range(s.n_tree):
        s.scratch.tree_y[w, s.model.tree_order[k]] = ti.Vector.zero(s.real, 6)
    for j in range(s.n_joints):
        if s.model.joint_in_tree[j]:
            r0, d = s.model.joint_row0[j], s.model.joint_nrows[j]
            y = ti.Vector.zero(s.real, 6)
            for k in ti.static(range(6)):
                if k < d:
                    y[k] = -s.scratch.gap[u, w, r0 + k]
            s.scratch.tree_y[w, nb + j] = y
    tree.solve(s, u, w)
    for n in range(nb):
        s.scratch.dx[u, w, n] = s.scratch.tree_x[w, n]
    for j in range(s.n_joints):
        if s.model.joint_in_tree[j]:
            r0, d = s.model.joint_row0[j], s.model.joint_nrows[j]
            mu = s.scratch.tree_x[w, nb + j]
            for k in ti.static(range(6)):
                if k < d:
                    s.scratch.stab_mu[u, w, r0 + k] = mu[k]


@ti.func
def solve_adjoint(s, u, w):
    """Reverse of solve: from dx.grad[u, w] accumulate the adjoints of gap[u, w] and of the
    substep's rows (ja, jb, cm) and mass blocks (bmass, iw)."""
    nb = s.n_bodies
    for k in range(s.n_tree):  # xbar: the adjoint of the solution [dx; mu]
        i = s.model.tree_order[k]
        y = ti.Vector.zero(s.real, 6)
        if i < nb:
            y = s.scratch.dx.grad[u, w, i]
        s.scratch.tree_y[w, i] = y
    tree.solve(s, u, w)  # tree_x = ybar = H^-1 xbar
    for n in range(nb):
        tree.mass_block_adjoint(s, u, w, n, s.scratch.dx[u, w, n], s.scratch.tree_x[w, n])
    for j in range(s.n_joints):
        if s.model.joint_in_tree[j]:
            a, b = s.model.joint_host_parent[j], s.model.joint_host_child[j]
            xa = ti.Vector.zero(s.real, 6)
            yba = ti.Vector.zero(s.real, 6)
            if a >= 0:
                xa, yba = s.scratch.dx[u, w, a], s.scratch.tree_x[w, a]
            xb, ybb = s.scratch.dx[u, w, b], s.scratch.tree_x[w, b]
            yj = s.scratch.tree_x[w, nb + j]
            r0, d = s.model.joint_row0[j], s.model.joint_nrows[j]
            for k in ti.static(range(6)):
                if k < d:
                    r = r0 + k
                    mu = s.scratch.stab_mu[u, w, r]
                    s.scratch.ja.grad[u, w, r] = s.scratch.ja.grad[u, w, r] - (
                        yj[k] * xa + mu * yba
                    )
                    s.scratch.jb.grad[u, w, r] = s.scratch.jb.grad[u, w, r] - (
                        yj[k] * xb + mu * ybb
                    )
                    s.scratch.cm.grad[u, w, r] = s.scratch.cm.grad[u, w, r] + yj[k] * mu
                    s.scratch.gap.grad[u, w, r] = s.scratch.gap.grad[u, w, r] - yj[k]


@ti.func
def displaced(s, u, w, n):
    """(pos, quat, vel, omega) of body n at substep u + 1: its drifted pose moved by
    dx[u, w, n], and its velocities changed by dx / h, so that the substep's velocity is the
    displacement it made (as in SHAKE; without it each projection takes kinetic energy)."""
    d = s.scratch.dx[u, w, n]
    lin, ang = ti.Vector([d[0], d[1], d[2]]), ti.Vector([d[3], d[4], d[5]])
    q = s.scratch.drift.quat[u, w, n]
    q = q + 0.5 * quat_mul(ti.Vector([0.0, ang[0], ang[1], ang[2]]), q)
    return (
        s.scratch.drift.pos[u, w, n] + lin,
        q / q.norm(),
        s.scratch.drift.vel[u, w, n] + lin / s.h,
        s.scratch.drift.omega[u, w, n] + ang / s.h,
    )
