"""Sequential-impulse (projected Gauss-Seidel) solver over one world, written for autodiff.

Row update (Catto's soft step, accumulated-impulse clamping):
    lambda_new = clamp(lambda + ms * meff * (vt - J v) - isc * lambda, lo, hi)
    v += M^-1 J^T (lambda_new - lambda)
Friction rows come in pairs solved together: the pair's accumulated impulse is projected onto
the disk of radius mu * lambda_normal (a friction cone in the tangent plane). Torsion is bounded
by mu_t * lambda_normal.

No value is ever overwritten: lam[k, w, r] is the accumulated impulse of row r before
iteration k, and hist[k, w, r, s] the velocity of side s's body after row r's update in
iteration k. A row reads its starting velocity from the previous row that touched the same body
(layout.prev tables), so Taichi's reverse mode differentiates the solver exactly.
"""
import taichi as ti

from . import layout as L


@ti.func
def start_velocity(s, w, k, r, side, body):
    """Velocity of `body` just before row r of iteration k, or zero for the world."""
    v = ti.Vector([0.0] * 6)
    if body >= 0:
        if k == 0:
            pr = s.prev_first[r, side, 0]
            if pr >= 0:
                v = s.hist[0, w, pr, s.prev_first[r, side, 1]]
            else:
                v = s.vstart[w, body] + s.vwarm[w, body]
        else:
            pr = s.prev[r, side, 0]
            kk = k if pr < r else k - 1
            v = s.hist[kk, w, pr, s.prev[r, side, 1]]
    return v


@ti.func
def final_velocity(s, w, n):
    """Velocity of body n after the last iteration."""
    v = s.vstart[w, n] + s.vwarm[w, n]
    fr = s.final[n, 0]
    if fr >= 0:
        v = s.hist[s.n_iterations - 1, w, fr, s.final[n, 1]]
    return v


@ti.func
def warm_start(s, t, w):
    """Start every active row from a fraction of last step's impulse; vwarm collects the
    velocity change it causes. vwarm is zeroed by the bodies stage: in Taichi 1.7.4, zeroing
    a field and accumulating into it in one kernel gives a wrong adjoint, and so does reading
    a field after accumulating into it in the same kernel."""
    for r in range(s.n_rows):
        lam0 = s.warm_factor * s.warm[t, w, r] * s.active[w, r]
        s.lam[0, w, r] = lam0
        a, b = s.row_a[r], s.row_b[r]
        if s.row_kind[r] == L.ROW_SKIP:  # second friction direction: the pair's bodies
            a, b = s.row_a[r - 1], s.row_b[r - 1]
        if a >= 0:
            s.vwarm[w, a] += s.ma[w, r] * lam0
        if b >= 0:
            s.vwarm[w, b] += s.mb[w, r] * lam0


@ti.func
def solve_row(s, w, k, r):
    kind = s.row_kind[r]
    if kind != L.ROW_SKIP:
        va = start_velocity(s, w, k, r, 0, s.row_a[r])
        vb = start_velocity(s, w, k, r, 1, s.row_b[r])
        old = s.lam[k, w, r]
        jv = s.ja[w, r].dot(va) + s.jb[w, r].dot(vb)
        trial = old + s.ms[w, r] * s.meff[w, r] * (s.vt[w, r] - jv) - s.isc[w, r] * old
        dva = s.ma[w, r] * 0.0
        dvb = s.mb[w, r] * 0.0
        if kind == L.ROW_FRICTION:
            r2 = r + 1
            old2 = s.lam[k, w, r2]
            jv2 = s.ja[w, r2].dot(va) + s.jb[w, r2].dot(vb)
            trial2 = old2 + s.meff[w, r2] * (s.vt[w, r2] - jv2)
            limit = s.mu[w, r] * s.lam[k + 1, w, s.row_ref[r]]
            norm2 = trial * trial + trial2 * trial2
            if norm2 > limit * limit:
                scale = limit / ti.sqrt(norm2)
                trial, trial2 = trial * scale, trial2 * scale
            s.lam[k + 1, w, r2] = trial2
            dva = s.ma[w, r2] * (trial2 - old2)
            dvb = s.mb[w, r2] * (trial2 - old2)
        else:
            lo, hi = s.lo[w, r], s.hi[w, r]
            if kind == L.ROW_TORSION:
                hi = s.mu[w, r] * s.lam[k + 1, w, s.row_ref[r]]
                lo = -hi
            trial = ti.math.clamp(trial, lo, hi)
        s.lam[k + 1, w, r] = trial
        s.hist[k, w, r, 0] = va + s.ma[w, r] * (trial - old) + dva
        s.hist[k, w, r, 1] = vb + s.mb[w, r] * (trial - old) + dvb
