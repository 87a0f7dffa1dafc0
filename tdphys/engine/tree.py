"""Exact solve of the joints of a tree of bodies, in linear time (Baraff, SIGGRAPH 1996).

The joints that form a tree over the bodies (layout.row_tree) are solved exactly rather than by
Gauss-Seidel sweeps: chains then hold however long they are and whatever their mass ratios.
At each substep of width h the velocities v (stacked linear, angular per body, world frame)
are projected onto the joints' rows J v = vt - cm lambda (vt the rows' target rates, cm their
compliance, 0 for a rigid joint) by solving the symmetric block system

    H [dv; mu] = [0; vt - J v - cm lambda],   H = [[M, J^T], [J, -diag(cm)]],
    v <- v + dv,   lambda <- lambda - mu   (lambda: the rows' impulses [N s or N m s]).

Its graph, one node per body (a 6 x 6 mass block: m I and the world inertia) and per tree joint
(a block of its rows, padded to 6), is a forest, so an LDL^T factorisation that eliminates every
node before its parent (layout.tree_order) creates no fill-in:

    D_i = H_ii - sum over children c of H_ci^T D_c^-1 H_ci,   G_i = D_i^-1 H_i,parent(i)

and a solve is one pass up the tree and one down. Body blocks D are positive definite, joint
blocks negative definite (unused padding rows hold -1), each inverted through a Cholesky factor.

Gradients (hand-written, see project_adjoint): for x = H^-1 y, ybar = H^-1 xbar (H is symmetric)
and Hbar = -ybar x^T on H's non-zero blocks, so the factorisation itself is never differentiated.
The adjoints run one thread per world and add into the gradient fields as `x = x + y`, since
Taichi compiles a field's `x += y` to an atomic add (solver.row_adjoint).
Fields read (per substep u, world w): ja, jb, vt, cm [u, w, r] of the tree rows, bmass [u, w, n]
[kg], iw [u, w, n] [kg m^2] world inertia about the centre of mass.
"""

import taichi as ti

# Relative floor on Cholesky pivots: keeps a redundant row (rank-deficient joint block) from
# dividing by zero; it acts as a compliance of this size relative to the block's diagonal.
PIVOT_FLOOR = 1e-12


@ti.func
def _row(s, u, w, r, side):
    """Row r's Jacobian half for the body on `side` (0 the joint's parent, 1 its child)."""
    out = s.scratch.ja[u, w, r]
    if side == 1:
        out = s.scratch.jb[u, w, r]
    return out


@ti.func
def _side(s, j, body):
    """Which side of joint j `body` is on: 0 its parent, 1 its child."""
    side = 1
    if s.model.joint_host_parent[j] == body:
        side = 0
    return side


@ti.func
def _joint_and_body(s, i, p):
    """(joint index, body index) of the tree edge between node i and its parent node p."""
    j, body = i - s.n_bodies, p
    if i < s.n_bodies:
        j, body = p - s.n_bodies, i
    return j, body


@ti.func
def coupling(s, u, w, i, p):
    """H[i, p], the 6 x 6 block linking node i to its parent node p: J_jb (joint rows x body
    velocities) when i is the joint, its transpose when i is the body."""
    j, body = _joint_and_body(s, i, p)
    side = _side(s, j, body)
    r0, d = s.model.joint_row0[j], s.model.joint_nrows[j]
    m = ti.Matrix.zero(s.real, 6, 6)
    for k in ti.static(range(6)):
        if k < d:
            row = _row(s, u, w, r0 + k, side)
            for c in ti.static(range(6)):
                m[k, c] = row[c]
    if i < s.n_bodies:
        m = m.transpose()
    return m


@ti.func
def coupling_t_times(s, u, w, i, p, z):
    """H[i, p]^T z without forming the block."""
    j, body = _joint_and_body(s, i, p)
    side = _side(s, j, body)
    r0, d = s.model.joint_row0[j], s.model.joint_nrows[j]
    out = ti.Vector.zero(s.real, 6)
    if i < s.n_bodies:  # H[i, p] = J^T: J z, one entry per joint row
        for k in ti.static(range(6)):
            if k < d:
                out[k] = _row(s, u, w, r0 + k, side).dot(z)
    else:  # H[i, p] = J: J^T z, a body velocity
        for k in ti.static(range(6)):
            if k < d:
                out += z[k] * _row(s, u, w, r0 + k, side)
    return out


@ti.func
def diagonal_block(s, u, w, i):
    """H[i, i]: the body's mass matrix [[m I, 0], [0, I_world]] or minus the joint's compliance
    (padding rows -1)."""
    m = ti.Matrix.zero(s.real, 6, 6)
    if i < s.n_bodies:
        mass, inertia = s.scratch.bmass[u, w, i], s.scratch.iw[u, w, i]
        for a in ti.static(range(3)):
            m[a, a] = mass
            for b in ti.static(range(3)):
                m[3 + a, 3 + b] = inertia[a, b]
    else:
        j = i - s.n_bodies
        r0, d = s.model.joint_row0[j], s.model.joint_nrows[j]
        for k in ti.static(range(6)):
            m[k, k] = -1.0
            if k < d:
                m[k, k] = -s.scratch.cm[u, w, r0 + k]
    return m


@ti.func
def inverse_definite(s, a, sign):
    """Inverse of the symmetric 6 x 6 block `a`, positive definite when sign = 1, negative
    definite when sign = -1 (Cholesky factor L of sign * a, then sign * L^-T L^-1)."""
    b = sign * a
    low = ti.Matrix.zero(s.real, 6, 6)
    for j in ti.static(range(6)):
        d = b[j, j]
        for k in ti.static(range(j)):
            d -= low[j, k] * low[j, k]
        d = ti.sqrt(ti.max(d, PIVOT_FLOOR * ti.abs(b[j, j])))
        low[j, j] = d
        for i in ti.static(range(j + 1, 6)):
            v = b[i, j]
            for k in ti.static(range(j)):
                v -= low[i, k] * low[j, k]
            low[i, j] = v / d
    inv_low = ti.Matrix.zero(s.real, 6, 6)  # L^-1, lower triangular
    for j in ti.static(range(6)):
        inv_low[j, j] = 1.0 / low[j, j]
        for i in ti.static(range(j + 1, 6)):
            v = 0.0
            for k in ti.static(range(j, i)):
                v -= low[i, k] * inv_low[k, j]
            inv_low[i, j] = v / low[i, i]
    return sign * (inv_low.transpose() @ inv_low)


@ti.func
def factorize(s, u, w):
    """D^-1 and G of every node of world w at substep u (tree_dinv, tree_g [u, w, node])."""
    for k in range(s.n_tree):
        i = s.model.tree_order[k]
        s.scratch.tree_d[w, i] = diagonal_block(s, u, w, i)
    for k in range(s.n_tree):
        i = s.model.tree_order[k]
        sign = 1.0
        if i >= s.n_bodies:
            sign = -1.0
        dinv = inverse_definite(s, s.scratch.tree_d[w, i], sign)
        s.scratch.tree_dinv[u, w, i] = dinv
        p = s.model.node_parent[i]
        if p >= 0:
            h = coupling(s, u, w, i, p)
            g = dinv @ h
            s.scratch.tree_g[u, w, i] = g
            s.scratch.tree_d[w, p] = s.scratch.tree_d[w, p] - h.transpose() @ g


@ti.func
def solve(s, u, w):
    """tree_x[w] = H^-1 tree_y[w] with the factors of substep u (tree_y is used up)."""
    for k in range(s.n_tree):
        i = s.model.tree_order[k]
        z = s.scratch.tree_dinv[u, w, i] @ s.scratch.tree_y[w, i]
        s.scratch.tree_z[w, i] = z
        p = s.model.node_parent[i]
        if p >= 0:
            s.scratch.tree_y[w, p] = s.scratch.tree_y[w, p] - coupling_t_times(s, u, w, i, p, z)
    for k in range(s.n_tree):
        i = s.model.tree_order[s.n_tree - 1 - k]
        x = s.scratch.tree_z[w, i]
        p = s.model.node_parent[i]
        if p >= 0:
            x = x - s.scratch.tree_g[u, w, i] @ s.scratch.tree_x[w, p]
        s.scratch.tree_x[w, i] = x


@ti.func
def body_or_zero(f: ti.template(), w, n):
    v = f[w, 0] * 0.0
    if n >= 0:
        v = f[w, n]
    return v


@ti.func
def impulse_before(s, u, p, w, r):
    """Accumulated impulse of tree row r before projection p of substep u (0 before the first)."""
    lam = 0.0
    if p > 0:
        lam = s.scratch.lamj[u, p - 1, w, r]
    return lam


@ti.func
def project(s, u, p, w):
    """Projection p of substep u: the velocities in vin[w] made to satisfy every tree joint's
    rows, written to vproj[u, p, w]; the rows' impulses to lamj[u, p, w]."""
    for k in range(s.n_tree):
        s.scratch.tree_y[w, s.model.tree_order[k]] = ti.Vector.zero(s.real, 6)
    for j in range(s.n_joints):
        if s.model.joint_in_tree[j]:
            a, b = s.model.joint_host_parent[j], s.model.joint_host_child[j]
            va, vb = body_or_zero(s.scratch.vin, w, a), s.scratch.vin[w, b]
            r0, d = s.model.joint_row0[j], s.model.joint_nrows[j]
            y = ti.Vector.zero(s.real, 6)
            for k in ti.static(range(6)):
                if k < d:
                    r = r0 + k
                    y[k] = (
                        s.scratch.vt[u, w, r]
                        - s.scratch.ja[u, w, r].dot(va)
                        - s.scratch.jb[u, w, r].dot(vb)
                        - s.scratch.cm[u, w, r] * impulse_before(s, u, p, w, r)
                    )
            s.scratch.tree_y[w, s.n_bodies + j] = y
    solve(s, u, w)
    for n in range(s.n_bodies):
        s.scratch.vproj[u, p, w, n] = s.scratch.vin[w, n] + s.scratch.tree_x[w, n]
    for j in range(s.n_joints):
        if s.model.joint_in_tree[j]:
            mu = s.scratch.tree_x[w, s.n_bodies + j]
            r0, d = s.model.joint_row0[j], s.model.joint_nrows[j]
            for k in ti.static(range(6)):
                if k < d:
                    s.scratch.lamj[u, p, w, r0 + k] = impulse_before(s, u, p, w, r0 + k) - mu[k]


@ti.func
def mass_block_adjoint(s, u, w, n, x, ybar):
    """Accumulate Hbar = -ybar x^T on body n's mass block (bmass, iw of substep u) for a
    solution x = H^-1 y whose body part is x and adjoint solve ybar = H^-1 xbar."""
    s.scratch.bmass.grad[u, w, n] = s.scratch.bmass.grad[u, w, n] - (
        ybar[0] * x[0] + ybar[1] * x[1] + ybar[2] * x[2]
    )
    ya = ti.Vector([ybar[3], ybar[4], ybar[5]])
    xa = ti.Vector([x[3], x[4], x[5]])
    s.scratch.iw.grad[u, w, n] = s.scratch.iw.grad[u, w, n] - ya.outer_product(xa)


@ti.func
def project_adjoint(s, u, p, w):
    """Reverse of projection p of substep u. In: vin[w] (its input velocities, recomputed by the
    caller), vbar[w] and lam_bar[w] the adjoints of its outputs (vproj, lamj). Out: vbar and
    lam_bar replaced by the adjoints of its inputs; adjoints of the rows (ja, jb, vt, cm) and
    of the mass blocks (bmass, iw) of substep u accumulated into their .grad."""
    nb = s.n_bodies
    for k in range(s.n_tree):  # xbar: the adjoint of the solution [dv; mu]
        i = s.model.tree_order[k]
        if i < nb:
            s.scratch.tree_y[w, i] = s.scratch.vbar[w, i]
        else:
            j = i - nb
            r0, d = s.model.joint_row0[j], s.model.joint_nrows[j]
            y = ti.Vector.zero(s.real, 6)
            for kk in ti.static(range(6)):
                if kk < d:
                    y[kk] = -s.scratch.lam_bar[w, r0 + kk]
            s.scratch.tree_y[w, i] = y
    solve(s, u, w)  # tree_x = ybar = H^-1 xbar
    for n in range(nb):  # x = dv
        mass_block_adjoint(
            s, u, w, n, s.scratch.vproj[u, p, w, n] - s.scratch.vin[w, n], s.scratch.tree_x[w, n]
        )
    for j in range(s.n_joints):
        if s.model.joint_in_tree[j]:
            a, b = s.model.joint_host_parent[j], s.model.joint_host_child[j]
            va, vb = body_or_zero(s.scratch.vin, w, a), s.scratch.vin[w, b]
            dva = ti.Vector.zero(s.real, 6)
            yba = ti.Vector.zero(s.real, 6)
            if a >= 0:
                dva = s.scratch.vproj[u, p, w, a] - s.scratch.vin[w, a]
                yba = s.scratch.tree_x[w, a]
            dvb = s.scratch.vproj[u, p, w, b] - s.scratch.vin[w, b]
            ybb = s.scratch.tree_x[w, b]
            yj = s.scratch.tree_x[w, nb + j]
            r0, d = s.model.joint_row0[j], s.model.joint_nrows[j]
            gva = ti.Vector.zero(s.real, 6)
            gvb = ti.Vector.zero(s.real, 6)
            for k in ti.static(range(6)):
                if k < d:
                    r = r0 + k
                    before = impulse_before(s, u, p, w, r)
                    mu = before - s.scratch.lamj[u, p, w, r]
                    # H blocks (J on both off-diagonal sides, -cm on the diagonal)
                    s.scratch.ja.grad[u, w, r] = s.scratch.ja.grad[u, w, r] + (
                        -(yj[k] * dva + mu * yba) - yj[k] * va
                    )
                    s.scratch.jb.grad[u, w, r] = s.scratch.jb.grad[u, w, r] + (
                        -(yj[k] * dvb + mu * ybb) - yj[k] * vb
                    )
                    s.scratch.cm.grad[u, w, r] = s.scratch.cm.grad[u, w, r] + (
                        yj[k] * mu - yj[k] * before
                    )
                    s.scratch.vt.grad[u, w, r] = s.scratch.vt.grad[u, w, r] + yj[k]
                    gva -= yj[k] * s.scratch.ja[u, w, r]
                    gvb -= yj[k] * s.scratch.jb[u, w, r]
                    s.scratch.lam_bar[w, r] = (
                        s.scratch.lam_bar[w, r] - s.scratch.cm[u, w, r] * yj[k]
                    )
            if a >= 0:
                s.scratch.vbar[w, a] = s.scratch.vbar[w, a] + gva
            s.scratch.vbar[w, b] = s.scratch.vbar[w, b] + gvb
