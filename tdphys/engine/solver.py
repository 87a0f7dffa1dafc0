"""Sequential-impulse (projected Gauss-Seidel) solver over one world, written for autodiff.

Row update (Catto's soft step, accumulated-impulse clamping):
    lambda_new = clamp(lambda + ms * meff * (vt - J v) - isc * lambda, lo, hi)
    v += M^-1 J^T (lambda_new - lambda)
Friction rows come in pairs solved together: the pair's accumulated impulse is projected onto
the disk of radius mu * lambda_normal (a friction cone in the tangent plane). Torsion is bounded
by mu_t * lambda_normal.

Two forms of the same arithmetic (row_update):
* in place (solve_in_place), for the forward pass: impulses lam_now and body velocities v_now
  are overwritten row after row;
* with history (solve_row), recomputed one step at a time by the backward pass: lam[k, w, r] is
  the accumulated impulse of row r before iteration k, and hist[k, w, r, s] the velocity of
  side s's body after row r's update in iteration k. A row reads its starting velocity from the
  previous row that touched the same body (layout.prev tables).
solve_adjoint walks that history backwards (hand-written reverse mode; see
docs/engine-notes.md for why Taichi's generated adjoint is not used).
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
def warm_start(s, t, w, lam: ti.template()):
    """Start every active row from a fraction of last step's impulse (into lam[0]); vwarm
    collects the velocity change it causes. vwarm is zeroed with the bodies' scratch
    (Simulation.world_scratch), outside the differentiated kernel: in Taichi 1.7.4, zeroing a
    field and accumulating into it in one kernel gives a wrong adjoint, and so does reading a
    field after accumulating into it in the same kernel."""
    for r in range(s.n_rows):
        lam0 = s.warm_factor * s.warm[t, w, r] * s.active[w, r]
        lam[0, w, r] = lam0
        a, b = s.row_a[r], s.row_b[r]
        if s.row_kind[r] == L.ROW_SKIP:  # second friction direction: the pair's bodies
            a, b = s.row_a[r - 1], s.row_b[r - 1]
        if a >= 0:
            s.vwarm[w, a] += s.ma[w, r] * lam0
        if b >= 0:
            s.vwarm[w, b] += s.mb[w, r] * lam0


@ti.func
def row_update(s, lam: ti.template(), k_old, k_new, w, r, kind, va, vb):
    """One Gauss-Seidel update of row r (and of its friction partner r + 1) given the
    velocities va, vb of its two bodies. Reads the accumulated impulses at lam[k_old], the
    normal impulse bounding friction at lam[k_new], writes the new ones at lam[k_new] and
    returns the two bodies' new velocities."""
    old = lam[k_old, w, r]
    jv = s.ja[w, r].dot(va) + s.jb[w, r].dot(vb)
    trial = old + s.ms[w, r] * s.meff[w, r] * (s.vt[w, r] - jv) - s.isc[w, r] * old
    dva = s.ma[w, r] * 0.0
    dvb = s.mb[w, r] * 0.0
    if kind == L.ROW_FRICTION:
        r2 = r + 1
        old2 = lam[k_old, w, r2]
        jv2 = s.ja[w, r2].dot(va) + s.jb[w, r2].dot(vb)
        trial2 = old2 + s.meff[w, r2] * (s.vt[w, r2] - jv2)
        limit = s.mu[w, r] * lam[k_new, w, s.row_ref[r]]
        norm2 = trial * trial + trial2 * trial2
        if norm2 > limit * limit:
            scale = limit / ti.sqrt(norm2)
            trial, trial2 = trial * scale, trial2 * scale
        lam[k_new, w, r2] = trial2
        dva = s.ma[w, r2] * (trial2 - old2)
        dvb = s.mb[w, r2] * (trial2 - old2)
    else:
        lo, hi = s.lo[w, r], s.hi[w, r]
        if kind == L.ROW_TORSION:
            hi = s.mu[w, r] * lam[k_new, w, s.row_ref[r]]
            lo = -hi
        trial = ti.math.clamp(trial, lo, hi)
    lam[k_new, w, r] = trial
    return va + s.ma[w, r] * (trial - old) + dva, vb + s.mb[w, r] * (trial - old) + dvb


@ti.func
def solve_row(s, w, k, r):
    """Row r in iteration k, every iterate kept (lam[k + 1], hist[k]): the taped path."""
    kind = s.row_kind[r]
    if kind != L.ROW_SKIP:
        va = start_velocity(s, w, k, r, 0, s.row_a[r])
        vb = start_velocity(s, w, k, r, 1, s.row_b[r])
        va, vb = row_update(s, s.lam, k, k + 1, w, r, kind, va, vb)
        s.hist[k, w, r, 0] = va
        s.hist[k, w, r, 1] = vb


@ti.func
def of_body(f: ti.template(), w, n):
    """f[w, n], a 6-vector per body (a working velocity or its adjoint); zero for the world."""
    v = ti.Vector([0.0] * 6)
    if n >= 0:
        v = f[w, n]
    return v


@ti.func
def solve_in_place(s, t, w):
    """Warm start and all Gauss-Seidel sweeps of world w, overwriting lam_now and v_now
    (forward only: the same arithmetic as solve_row, without the history reverse mode needs)."""
    warm_start(s, t, w, s.lam_now)
    for n in range(s.n_bodies):
        s.v_now[w, n] = s.vstart[w, n] + s.vwarm[w, n]
    for k in range(s.n_iterations):
        for r in range(s.n_rows):
            kind = s.row_kind[r]
            if kind != L.ROW_SKIP:
                a, b = s.row_a[r], s.row_b[r]
                va, vb = row_update(s, s.lam_now, 0, 0, w, r, kind,
                                    of_body(s.v_now, w, a), of_body(s.v_now, w, b))
                if a >= 0:
                    s.v_now[w, a] = va
                if b >= 0:
                    s.v_now[w, b] = vb


@ti.func
def row_adjoint(s, w, k, r, kind, a, b):
    """Reverse of row_update in iteration k, in place: v_bar and lam_bar hold the adjoints of
    the row's outputs (the bodies' velocities after the update, the new impulses) and are
    replaced by the adjoints of its inputs. The forward values come from the stored history
    (hist, lam). Adjoints of the row's scratch (Jacobians, masses, bounds) accumulate into
    their .grad fields; each world is one thread, so plain read-add-write is race-free."""
    va = start_velocity(s, w, k, r, 0, a)
    vb = start_velocity(s, w, k, r, 1, b)
    ga, gb = of_body(s.v_bar, w, a), of_body(s.v_bar, w, b)
    ma, mb, ja, jb = s.ma[w, r], s.mb[w, r], s.ja[w, r], s.jb[w, r]
    old, new = s.lam[k, w, r], s.lam[k + 1, w, r]
    # outputs: va' = va + ma (new - old) [+ ma2 (new2 - old2)], likewise vb'
    s.ma.grad[w, r] = s.ma.grad[w, r] + ga * (new - old)
    s.mb.grad[w, r] = s.mb.grad[w, r] + gb * (new - old)
    new_bar = s.lam_bar[w, r] + ma.dot(ga) + mb.dot(gb)
    old_bar = -(ma.dot(ga) + mb.dot(gb))
    va_bar, vb_bar = ga, gb
    ms, meff, vt, isc = s.ms[w, r], s.meff[w, r], s.vt[w, r], s.isc[w, r]
    jv = ja.dot(va) + jb.dot(vb)
    trial = old + ms * meff * (vt - jv) - isc * old  # before clamping or projection
    trial_bar = 0.0
    normal_bar = 0.0  # adjoint of the normal impulse that bounds a friction or torsion row
    if kind == L.ROW_FRICTION:
        r2 = r + 1
        ma2, mb2, ja2, jb2 = s.ma[w, r2], s.mb[w, r2], s.ja[w, r2], s.jb[w, r2]
        old2, new2 = s.lam[k, w, r2], s.lam[k + 1, w, r2]
        s.ma.grad[w, r2] = s.ma.grad[w, r2] + ga * (new2 - old2)
        s.mb.grad[w, r2] = s.mb.grad[w, r2] + gb * (new2 - old2)
        new2_bar = s.lam_bar[w, r2] + ma2.dot(ga) + mb2.dot(gb)
        old2_bar = -(ma2.dot(ga) + mb2.dot(gb))
        meff2, vt2 = s.meff[w, r2], s.vt[w, r2]
        jv2 = ja2.dot(va) + jb2.dot(vb)
        trial2 = old2 + meff2 * (vt2 - jv2)
        normal = s.lam[k + 1, w, s.row_ref[r]]
        limit = s.mu[w, r] * normal
        norm2 = trial * trial + trial2 * trial2
        trial_bar, trial2_bar = new_bar, new2_bar
        if norm2 > limit * limit:  # projected onto the cone: new = limit * trial / |trial|
            norm = ti.sqrt(norm2)
            u1, u2 = trial / norm, trial2 / norm
            radial = u1 * new_bar + u2 * new2_bar
            trial_bar = limit / norm * (new_bar - u1 * radial)
            trial2_bar = limit / norm * (new2_bar - u2 * radial)
            s.mu.grad[w, r] = s.mu.grad[w, r] + radial * normal
            normal_bar = radial * s.mu[w, r]
        old2_bar += trial2_bar
        s.meff.grad[w, r2] = s.meff.grad[w, r2] + trial2_bar * (vt2 - jv2)
        s.vt.grad[w, r2] = s.vt.grad[w, r2] + trial2_bar * meff2
        jv2_bar = -trial2_bar * meff2
        s.ja.grad[w, r2] = s.ja.grad[w, r2] + jv2_bar * va
        s.jb.grad[w, r2] = s.jb.grad[w, r2] + jv2_bar * vb
        va_bar += jv2_bar * ja2
        vb_bar += jv2_bar * jb2
        s.lam_bar[w, r2] = old2_bar
    elif kind == L.ROW_TORSION:  # bounds +-mu * normal
        normal = s.lam[k + 1, w, s.row_ref[r]]
        hi = s.mu[w, r] * normal
        if trial > hi:
            s.mu.grad[w, r] = s.mu.grad[w, r] + new_bar * normal
            normal_bar = new_bar * s.mu[w, r]
        elif trial < -hi:
            s.mu.grad[w, r] = s.mu.grad[w, r] - new_bar * normal
            normal_bar = -new_bar * s.mu[w, r]
        else:
            trial_bar = new_bar
    else:
        if s.lo[w, r] == s.hi[w, r]:  # a force motor: new = hi whatever the trial
            s.hi.grad[w, r] = s.hi.grad[w, r] + new_bar
        elif trial > s.hi[w, r]:
            s.hi.grad[w, r] = s.hi.grad[w, r] + new_bar
        elif trial < s.lo[w, r]:
            s.lo.grad[w, r] = s.lo.grad[w, r] + new_bar
        else:
            trial_bar = new_bar
    # trial = old (1 - isc) + ms meff (vt - jv)
    old_bar += trial_bar * (1.0 - isc)
    s.isc.grad[w, r] = s.isc.grad[w, r] - trial_bar * old
    s.ms.grad[w, r] = s.ms.grad[w, r] + trial_bar * meff * (vt - jv)
    s.meff.grad[w, r] = s.meff.grad[w, r] + trial_bar * ms * (vt - jv)
    s.vt.grad[w, r] = s.vt.grad[w, r] + trial_bar * ms * meff
    jv_bar = -trial_bar * ms * meff
    s.ja.grad[w, r] = s.ja.grad[w, r] + jv_bar * va
    s.jb.grad[w, r] = s.jb.grad[w, r] + jv_bar * vb
    va_bar += jv_bar * ja
    vb_bar += jv_bar * jb
    s.lam_bar[w, r] = old_bar
    if kind == L.ROW_FRICTION or kind == L.ROW_TORSION:
        ref = s.row_ref[r]
        s.lam_bar[w, ref] = s.lam_bar[w, ref] + normal_bar
    if a >= 0:
        s.v_bar[w, a] = va_bar
    if b >= 0:
        s.v_bar[w, b] = vb_bar


@ti.func
def solve_adjoint(s, w):
    """Reverse-mode derivative of all Gauss-Seidel sweeps of world w (hand-written: Taichi's
    generated adjoint of the solver loop costs about 20x its forward, mostly atomics).
    In:  lam.grad[K] (the impulses kept for warm start) and hist.grad at each body's final
         entry (the velocities integrated), plus the stored history of this step.
    Out: lam.grad[0] (the warm-start impulses), vstart.grad and vwarm.grad (the velocity
         before the sweeps) and the row scratch adjoints (ja, jb, ma, mb, meff, vt, ms, isc,
         lo, hi, mu)."""
    K = s.n_iterations
    for n in range(s.n_bodies):
        g = ti.Vector([0.0] * 6)
        fr = s.final[n, 0]
        if fr >= 0:
            g = s.hist.grad[K - 1, w, fr, s.final[n, 1]]
        s.v_bar[w, n] = g
    for r in range(s.n_rows):
        s.lam_bar[w, r] = s.lam.grad[K, w, r]
    for kk in range(K):
        k = K - 1 - kk
        for rr in range(s.n_rows):
            r = s.n_rows - 1 - rr
            kind = s.row_kind[r]
            if kind != L.ROW_SKIP:
                row_adjoint(s, w, k, r, kind, s.row_a[r], s.row_b[r])
    for n in range(s.n_bodies):
        s.vstart.grad[w, n] = s.vstart.grad[w, n] + s.v_bar[w, n]
        s.vwarm.grad[w, n] = s.vwarm.grad[w, n] + s.v_bar[w, n]
    for r in range(s.n_rows):
        s.lam.grad[0, w, r] = s.lam.grad[0, w, r] + s.lam_bar[w, r]
