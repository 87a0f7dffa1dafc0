"""One substep's velocity solve: tree joints exactly, every other row by Gauss-Seidel.

A substep starts from the free velocities (gravity, gyroscopic term) plus the warm start of the
Gauss-Seidel rows (a fraction of their impulses from the substep before), projects them onto
the tree joints (engine/tree.py), then `sweeps` times: one Gauss-Seidel sweep over the other
rows (joint limits, motors, contacts, joints closing loops) followed by a projection, so the
joints hold exactly at the end of the substep whatever the other rows did.

Gauss-Seidel row update (Catto's soft step, accumulated-impulse clamping):
    lambda_new = clamp(lambda + ms * meff * (vt - J v) - isc * lambda, lo, hi)
    v += M^-1 J^T (lambda_new - lambda)
Friction rows come in pairs solved together: the pair's accumulated impulse is projected onto
the disk of radius mu * lambda_normal (a friction cone in the tangent plane). Torsion is bounded
by mu_t * lambda_normal.

History (per substep u, read by the reverse pass): lam[u, k, w, r] the impulse of Gauss-Seidel
row r before sweep k (k = sweeps: after the last), hist[u, k, w, r, side] the velocity of the
row's body on `side` after its update in sweep k, vproj[u, p, w, n] the velocities after
projection p and lamj[u, p, w, r] the tree rows' impulses after it. Within a sweep a row starts
from the velocity the previous row touching the same body left (layout.prev_first), or for the
body's first touch from the projection before the sweep. solve_adjoint walks this history
backwards (hand-written reverse mode: Taichi's generated adjoint of these loops costs about 20x
their forward, mostly atomic adds).
"""

import taichi as ti

from . import layout as L
from . import tree


@ti.func
def start_velocity(s, u, k, w, r, side, body):
    """Velocity of `body` just before row r of sweep k of substep u, or zero for the world."""
    v = ti.Vector.zero(s.real, 6)
    if body >= 0:
        pr = s.model.prev_first[r, side, 0]
        if pr >= 0:
            v = s.scratch.hist[u, k, w, pr, s.model.prev_first[r, side, 1]]
        else:
            v = s.scratch.vproj[u, k, w, body]
    return v


@ti.func
def after_sweep(s, u, k, w, n):
    """Velocity of body n after sweep k of substep u."""
    v = s.scratch.vproj[u, k, w, n]
    fr = s.model.final[n, 0]
    if fr >= 0:
        v = s.scratch.hist[u, k, w, fr, s.model.final[n, 1]]
    return v


@ti.func
def warm_start(s, t, u, w, keep: ti.template()):
    """Start every active Gauss-Seidel row of substep u from its impulse in the substep before
    (warm[t] for the first substep of step t), into lam[u, 0]: contact rows from all of it,
    limits, motors and loop joints from the fraction warm_start (all of it makes weak servos
    ring); vwarm collects
    the velocity change it causes. vwarm is zeroed with the bodies' scratch
    (Simulation.world_scratch), outside the differentiated kernel: in Taichi 1.7.4, zeroing a
    field and accumulating into it in one kernel gives a wrong adjoint, and so does reading a
    field after accumulating into it in the same kernel.

    keep False (the forward kernel, not differentiated): an inactive row (its update is the
    identity, lam0 = 0) is skipped, impulses included (its readers skip it too), vwarm adds
    up without atomics (one thread per world), and the active rows are listed in gs_rows[w]
    for the sweeps; keep True is the form k_prepare differentiates and the replay runs."""
    count = 0
    for r in range(s.n_rows):
        if ti.static(not keep):
            if s.model.row_tree[r] == 0:
                if s.scratch.active[u, w, r] != 0.0:
                    if s.model.row_kind[r] != L.ROW_SKIP:
                        s.scratch.gs_rows[w, count] = r
                        count += 1
                    before = s.state.warm[t, w, r]
                    if u > 0:  # 0 where the row was inactive (its impulse not written)
                        before = 0.0
                        if s.scratch.active[u - 1, w, r] != 0.0:
                            before = s.scratch.lam[u - 1, s.n_sweeps, w, r]
                    factor = s.warm_factor
                    if s.model.row_kind[r] >= L.ROW_NORMAL:
                        factor = 1.0
                    lam0 = factor * before * s.scratch.active[u, w, r]
                    s.scratch.lam[u, 0, w, r] = lam0
                    a, b = s.model.row_a[r], s.model.row_b[r]
                    if s.model.row_kind[r] == L.ROW_SKIP:
                        a, b = s.model.row_a[r - 1], s.model.row_b[r - 1]
                    if a >= 0:
                        s.scratch.vwarm[u, w, a] = (
                            s.scratch.vwarm[u, w, a] + s.scratch.ma[u, w, r] * lam0
                        )
                    if b >= 0:
                        s.scratch.vwarm[u, w, b] = (
                            s.scratch.vwarm[u, w, b] + s.scratch.mb[u, w, r] * lam0
                        )
        elif s.model.row_tree[r] == 0:
            before = s.state.warm[t, w, r]
            if u > 0:
                before = s.scratch.lam[u - 1, s.n_sweeps, w, r]
            factor = s.warm_factor
            if (
                s.model.row_kind[r] >= L.ROW_NORMAL
            ):  # a resting contact's impulse is its steady state
                factor = 1.0
            lam0 = factor * before * s.scratch.active[u, w, r]
            s.scratch.lam[u, 0, w, r] = lam0
            a, b = s.model.row_a[r], s.model.row_b[r]
            if s.model.row_kind[r] == L.ROW_SKIP:  # second friction direction: the pair's bodies
                a, b = s.model.row_a[r - 1], s.model.row_b[r - 1]
            if a >= 0:
                s.scratch.vwarm[u, w, a] += s.scratch.ma[u, w, r] * lam0
            if b >= 0:
                s.scratch.vwarm[u, w, b] += s.scratch.mb[u, w, r] * lam0
    if ti.static(not keep):
        s.scratch.gs_count[w] = count


@ti.func
def row_update(s, u, k, w, r, kind, va, vb):
    """One Gauss-Seidel update of row r (and of its friction partner r + 1) in sweep k of
    substep u, given the velocities va, vb of its two bodies. Reads the impulses before the
    sweep at lam[u, k], the normal impulse bounding friction at lam[u, k + 1] (already
    updated), writes the new ones at lam[u, k + 1] and returns the bodies' new velocities."""
    old = s.scratch.lam[u, k, w, r]
    jv = s.scratch.ja[u, w, r].dot(va) + s.scratch.jb[u, w, r].dot(vb)
    trial = (
        old
        + s.scratch.ms[u, w, r] * s.scratch.meff[u, w, r] * (s.scratch.vt[u, w, r] - jv)
        - s.scratch.isc[u, w, r] * old
    )
    dva = ti.Vector.zero(s.real, 6)
    dvb = ti.Vector.zero(s.real, 6)
    if kind == L.ROW_FRICTION:
        r2 = r + 1
        old2 = s.scratch.lam[u, k, w, r2]
        jv2 = s.scratch.ja[u, w, r2].dot(va) + s.scratch.jb[u, w, r2].dot(vb)
        trial2 = old2 + s.scratch.meff[u, w, r2] * (s.scratch.vt[u, w, r2] - jv2)
        limit = s.scratch.mu[u, w, r] * s.scratch.lam[u, k + 1, w, s.model.row_ref[r]]
        norm2 = trial * trial + trial2 * trial2
        if norm2 > limit * limit:
            scale = limit / ti.sqrt(norm2)
            trial, trial2 = trial * scale, trial2 * scale
        s.scratch.lam[u, k + 1, w, r2] = trial2
        dva = s.scratch.ma[u, w, r2] * (trial2 - old2)
        dvb = s.scratch.mb[u, w, r2] * (trial2 - old2)
    else:
        lo, hi = s.scratch.lo[u, w, r], s.scratch.hi[u, w, r]
        if kind == L.ROW_TORSION:
            hi = s.scratch.mu[u, w, r] * s.scratch.lam[u, k + 1, w, s.model.row_ref[r]]
            lo = -hi
        trial = ti.math.clamp(trial, lo, hi)
    s.scratch.lam[u, k + 1, w, r] = trial
    return (
        va + s.scratch.ma[u, w, r] * (trial - old) + dva,
        vb + s.scratch.mb[u, w, r] * (trial - old) + dvb,
    )


@ti.func
def _sweep_row(s, u, k, w, r, kind, keep: ti.template()):
    a, b = s.model.row_a[r], s.model.row_b[r]
    va, vb = row_update(
        s,
        u,
        k,
        w,
        r,
        kind,
        tree.body_or_zero(s.scratch.vwork, w, a),
        tree.body_or_zero(s.scratch.vwork, w, b),
    )
    if a >= 0:
        s.scratch.vwork[w, a] = va
    if b >= 0:
        s.scratch.vwork[w, b] = vb
    if ti.static(keep):
        s.scratch.hist[u, k, w, r, 0] = va
        s.scratch.hist[u, k, w, r, 1] = vb


@ti.func
def _pass_row(s, u, k, w, r, kind):
    """The history of an inactive row r (and its friction partner) in sweep k of substep u:
    impulses and its bodies' velocities unchanged."""
    s.scratch.lam[u, k + 1, w, r] = s.scratch.lam[u, k, w, r]
    if kind == L.ROW_FRICTION:
        s.scratch.lam[u, k + 1, w, r + 1] = s.scratch.lam[u, k, w, r + 1]
    a, b = s.model.row_a[r], s.model.row_b[r]
    s.scratch.hist[u, k, w, r, 0] = tree.body_or_zero(s.scratch.vwork, w, a)
    s.scratch.hist[u, k, w, r, 1] = tree.body_or_zero(s.scratch.vwork, w, b)


@ti.func
def sweep(s, u, k, w, keep: ti.template()):
    """Gauss-Seidel sweep k of substep u over the rows outside the tree, on the working
    velocities vwork[w]; with `keep`, every row's output velocities go to hist[u, k].
    An inactive row's update is the identity (its impulse stays 0, the velocities unchanged):
    without `keep` (the forward kernel) only the rows warm_start listed as active run; with
    it an inactive row passes its impulses and velocities through to the history."""
    if ti.static(keep):
        for r in range(s.n_rows):
            kind = s.model.row_kind[r]
            if s.model.row_tree[r] == 0 and kind != L.ROW_SKIP:
                if s.scratch.active[u, w, r] != 0.0:
                    _sweep_row(s, u, k, w, r, kind, keep)
                else:
                    _pass_row(s, u, k, w, r, kind)
    else:
        for i in range(s.scratch.gs_count[w]):
            r = s.scratch.gs_rows[w, i]
            _sweep_row(s, u, k, w, r, s.model.row_kind[r], keep)


@ti.func
def solve(s, u, w, keep: ti.template()):
    """The whole velocity solve of world w at substep u (see the module docstring); the final
    velocities are vproj[u, sweeps, w]."""
    for n in range(s.n_bodies):
        s.scratch.vin[w, n] = s.scratch.vstart[u, w, n] + s.scratch.vwarm[u, w, n]
    project(s, u, 0, w)
    for k in range(s.n_sweeps):
        for n in range(s.n_bodies):
            s.scratch.vwork[w, n] = s.scratch.vproj[u, k, w, n]
        sweep(s, u, k, w, keep)
        for n in range(s.n_bodies):
            s.scratch.vin[w, n] = s.scratch.vwork[w, n]
        project(s, u, k + 1, w)


@ti.func
def project(s, u, p, w):
    """Projection p onto the tree joints (a copy when the robot has none)."""
    if ti.static(s.has_tree):
        tree.project(s, u, p, w)
    else:
        for n in range(s.n_bodies):
            s.scratch.vproj[u, p, w, n] = s.scratch.vin[w, n]


@ti.func
def project_adjoint(s, u, p, w):
    if ti.static(s.has_tree):
        tree.project_adjoint(s, u, p, w)


@ti.func
def row_adjoint(s, u, k, w, r, kind, a, b):
    """Reverse of row_update in sweep k of substep u, in place: vbar and lam_bar hold the
    adjoints of the row's outputs (the bodies' velocities after the update, the new impulses)
    and are replaced by the adjoints of its inputs. The forward values come from the stored
    history (hist, lam). Adjoints of the row's scratch (Jacobians, masses, bounds) accumulate
    into their .grad fields; each world is one thread, so plain read-add-write is race-free
    (written `x = x + y`: Taichi compiles a field's `x += y` to an atomic add, on CPU a
    compare-and-swap loop per component; every hand-written adjoint accumulates this way)."""
    va = start_velocity(s, u, k, w, r, 0, a)
    vb = start_velocity(s, u, k, w, r, 1, b)
    ga, gb = tree.body_or_zero(s.scratch.vbar, w, a), tree.body_or_zero(s.scratch.vbar, w, b)
    ma, mb, ja, jb = (
        s.scratch.ma[u, w, r],
        s.scratch.mb[u, w, r],
        s.scratch.ja[u, w, r],
        s.scratch.jb[u, w, r],
    )
    old, new = s.scratch.lam[u, k, w, r], s.scratch.lam[u, k + 1, w, r]
    # outputs: va' = va + ma (new - old) [+ ma2 (new2 - old2)], likewise vb'
    s.scratch.ma.grad[u, w, r] = s.scratch.ma.grad[u, w, r] + ga * (new - old)
    s.scratch.mb.grad[u, w, r] = s.scratch.mb.grad[u, w, r] + gb * (new - old)
    new_bar = s.scratch.lam_bar[w, r] + ma.dot(ga) + mb.dot(gb)
    old_bar = -(ma.dot(ga) + mb.dot(gb))
    va_bar, vb_bar = ga, gb
    ms, meff, vt, isc = (
        s.scratch.ms[u, w, r],
        s.scratch.meff[u, w, r],
        s.scratch.vt[u, w, r],
        s.scratch.isc[u, w, r],
    )
    jv = ja.dot(va) + jb.dot(vb)
    trial = old + ms * meff * (vt - jv) - isc * old  # before clamping or projection
    trial_bar = 0.0
    normal_bar = 0.0  # adjoint of the normal impulse that bounds a friction or torsion row
    if kind == L.ROW_FRICTION:
        r2 = r + 1
        ma2, mb2, ja2, jb2 = (
            s.scratch.ma[u, w, r2],
            s.scratch.mb[u, w, r2],
            s.scratch.ja[u, w, r2],
            s.scratch.jb[u, w, r2],
        )
        old2, new2 = s.scratch.lam[u, k, w, r2], s.scratch.lam[u, k + 1, w, r2]
        s.scratch.ma.grad[u, w, r2] = s.scratch.ma.grad[u, w, r2] + ga * (new2 - old2)
        s.scratch.mb.grad[u, w, r2] = s.scratch.mb.grad[u, w, r2] + gb * (new2 - old2)
        new2_bar = s.scratch.lam_bar[w, r2] + ma2.dot(ga) + mb2.dot(gb)
        old2_bar = -(ma2.dot(ga) + mb2.dot(gb))
        meff2, vt2 = s.scratch.meff[u, w, r2], s.scratch.vt[u, w, r2]
        jv2 = ja2.dot(va) + jb2.dot(vb)
        trial2 = old2 + meff2 * (vt2 - jv2)
        normal = s.scratch.lam[u, k + 1, w, s.model.row_ref[r]]
        limit = s.scratch.mu[u, w, r] * normal
        norm2 = trial * trial + trial2 * trial2
        trial_bar, trial2_bar = new_bar, new2_bar
        if norm2 > limit * limit:  # projected onto the cone: new = limit * trial / |trial|
            norm = ti.sqrt(norm2)
            u1, u2 = trial / norm, trial2 / norm
            radial = u1 * new_bar + u2 * new2_bar
            trial_bar = limit / norm * (new_bar - u1 * radial)
            trial2_bar = limit / norm * (new2_bar - u2 * radial)
            s.scratch.mu.grad[u, w, r] = s.scratch.mu.grad[u, w, r] + radial * normal
            normal_bar = radial * s.scratch.mu[u, w, r]
        old2_bar += trial2_bar
        s.scratch.meff.grad[u, w, r2] = s.scratch.meff.grad[u, w, r2] + trial2_bar * (vt2 - jv2)
        s.scratch.vt.grad[u, w, r2] = s.scratch.vt.grad[u, w, r2] + trial2_bar * meff2
        jv2_bar = -trial2_bar * meff2
        s.scratch.ja.grad[u, w, r2] = s.scratch.ja.grad[u, w, r2] + jv2_bar * va
        s.scratch.jb.grad[u, w, r2] = s.scratch.jb.grad[u, w, r2] + jv2_bar * vb
        va_bar += jv2_bar * ja2
        vb_bar += jv2_bar * jb2
        s.scratch.lam_bar[w, r2] = old2_bar
    elif kind == L.ROW_TORSION:  # bounds +-mu * normal
        normal = s.scratch.lam[u, k + 1, w, s.model.row_ref[r]]
        hi = s.scratch.mu[u, w, r] * normal
        if trial > hi:
            s.scratch.mu.grad[u, w, r] = s.scratch.mu.grad[u, w, r] + new_bar * normal
            normal_bar = new_bar * s.scratch.mu[u, w, r]
        elif trial < -hi:
            s.scratch.mu.grad[u, w, r] = s.scratch.mu.grad[u, w, r] - new_bar * normal
            normal_bar = -new_bar * s.scratch.mu[u, w, r]
        else:
            trial_bar = new_bar
    else:
        if (
            s.scratch.lo[u, w, r] == s.scratch.hi[u, w, r]
        ):  # a force motor: new = hi whatever the trial
            s.scratch.hi.grad[u, w, r] = s.scratch.hi.grad[u, w, r] + new_bar
        elif trial > s.scratch.hi[u, w, r]:
            s.scratch.hi.grad[u, w, r] = s.scratch.hi.grad[u, w, r] + new_bar
        elif trial < s.scratch.lo[u, w, r]:
            s.scratch.lo.grad[u, w, r] = s.scratch.lo.grad[u, w, r] + new_bar
        else:
            trial_bar = new_bar
    # trial = old (1 - isc) + ms meff (vt - jv)
    old_bar += trial_bar * (1.0 - isc)
    s.scratch.isc.grad[u, w, r] = s.scratch.isc.grad[u, w, r] - trial_bar * old
    s.scratch.ms.grad[u, w, r] = s.scratch.ms.grad[u, w, r] + trial_bar * meff * (vt - jv)
    s.scratch.meff.grad[u, w, r] = s.scratch.meff.grad[u, w, r] + trial_bar * ms * (vt - jv)
    s.scratch.vt.grad[u, w, r] = s.scratch.vt.grad[u, w, r] + trial_bar * ms * meff
    jv_bar = -trial_bar * ms * meff
    s.scratch.ja.grad[u, w, r] = s.scratch.ja.grad[u, w, r] + jv_bar * va
    s.scratch.jb.grad[u, w, r] = s.scratch.jb.grad[u, w, r] + jv_bar * vb
    va_bar += jv_bar * ja
    vb_bar += jv_bar * jb
    s.scratch.lam_bar[w, r] = old_bar
    if kind == L.ROW_FRICTION or kind == L.ROW_TORSION:
        ref = s.model.row_ref[r]
        s.scratch.lam_bar[w, ref] = s.scratch.lam_bar[w, ref] + normal_bar
    if a >= 0:
        s.scratch.vbar[w, a] = va_bar
    if b >= 0:
        s.scratch.vbar[w, b] = vb_bar


@ti.func
def solve_adjoint(s, u, w):
    """Reverse-mode derivative of solve() for world w at substep u.
    In:  vproj.grad[u, sweeps] (the final velocities) and lam.grad[u, sweeps] (the impulses
         kept for warm start and contact forces), plus the stored history of this substep.
    Out: vstart.grad and vwarm.grad (the velocity before the solve), lam.grad[u, 0] (the
         warm-start impulses) and the adjoints of the rows' and bodies' scratch."""
    K = s.n_sweeps
    for n in range(s.n_bodies):
        s.scratch.vbar[w, n] = s.scratch.vproj.grad[u, K, w, n]
    for r in range(s.n_rows):
        s.scratch.lam_bar[w, r] = 0.0
        if s.model.row_tree[r] == 0:
            s.scratch.lam_bar[w, r] = s.scratch.lam.grad[u, K, w, r]
    for kk in range(K):
        k = K - 1 - kk
        for n in range(s.n_bodies):
            s.scratch.vin[w, n] = after_sweep(s, u, k, w, n)
        project_adjoint(s, u, k + 1, w)
        for rr in range(s.n_rows):
            r = s.n_rows - 1 - rr
            kind = s.model.row_kind[r]
            if s.model.row_tree[r] == 0 and kind != L.ROW_SKIP:
                if s.scratch.active[u, w, r] != 0.0:  # an inactive row's: the identity
                    row_adjoint(s, u, k, w, r, kind, s.model.row_a[r], s.model.row_b[r])
    for n in range(s.n_bodies):
        s.scratch.vin[w, n] = s.scratch.vstart[u, w, n] + s.scratch.vwarm[u, w, n]
    project_adjoint(s, u, 0, w)
    for n in range(s.n_bodies):
        s.scratch.vstart.grad[u, w, n] = s.scratch.vstart.grad[u, w, n] + s.scratch.vbar[w, n]
        s.scratch.vwarm.grad[u, w, n] = s.scratch.vwarm.grad[u, w, n] + s.scratch.vbar[w, n]
    for r in range(s.n_rows):
        if s.model.row_tree[r] == 0:
            s.scratch.lam.grad[u, 0, w, r] = (
                s.scratch.lam.grad[u, 0, w, r] + s.scratch.lam_bar[w, r]
            )
