"""Closed-form answers the physics verification tests compare the engine with (numpy only).

Elliptic integrals by Carlson's duplication (Carlson 1995, Numer. Algorithms 10; DLMF 19.36.1),
the torque-free rigid body by Landau & Lifshitz, Mechanics, section 37.
"""

import numpy as np


def carlson_rf(x, y, z):
    """Carlson's symmetric elliptic integral R_F(x, y, z) for x, y, z >= 0, at most one zero."""
    x, y, z = (np.asarray(v, float) for v in (x, y, z))
    for _ in range(40):  # each duplication shrinks the spread fourfold: 4^-40 < 1e-24
        s = np.sqrt(x * y) + np.sqrt(y * z) + np.sqrt(z * x)
        x, y, z = (x + s) / 4, (y + s) / 4, (z + s) / 4
    return 1.0 / np.sqrt((x + y + z) / 3)


def elliptic_k(k):
    """Complete elliptic integral of the first kind K(k), modulus k in [0, 1)."""
    return carlson_rf(0.0, 1.0 - k * k, 1.0)


def elliptic_f(phi, k):
    """Incomplete elliptic integral of the first kind F(phi, k) = int_0^phi (1 - k^2 sin^2)^-1/2,
    any real amplitude phi [rad] (F(phi + n pi) = F(phi) + 2 n K)."""
    n = np.round(phi / np.pi)
    r = phi - n * np.pi
    s, c = np.sin(r), np.cos(r)
    return 2 * n * elliptic_k(k) + s * carlson_rf(c * c, 1.0 - k * k * s * s, 1.0)


def intermediate_axis_flips(inertia, omega0, t_end):
    """Times [s] in (0, t_end) at which a torque-free body's rate about its intermediate
    principal axis changes sign. inertia: the three distinct principal moments [kg m^2];
    omega0: the body-frame rate [rad/s] at t = 0 along those axes.

    With the moments renamed A < B < C so that L^2 > 2 E B (A and C swap otherwise), the rates
    are cn, sn and dn of tau = rate t + tau0, modulus k, half period 2 K(k) / rate in t
    (Landau & Lifshitz section 37): the intermediate rate is zero where tau is a multiple of 2K.
    """
    moments, w = np.asarray(inertia, float), np.asarray(omega0, float)
    a, b, c = np.argsort(moments)
    two_e, l2 = (moments * w * w).sum(), ((moments * w) ** 2).sum()
    if l2 < two_e * moments[b]:
        a, c = c, a
    A, B, C = moments[a], moments[b], moments[c]
    rate = np.sqrt((C - B) * (l2 - two_e * A) / (A * B * C))
    k = np.sqrt((B - A) * (two_e * C - l2) / ((C - B) * (l2 - two_e * A)))
    amp_a = np.sqrt((two_e * C - l2) / (A * (C - A)))
    amp_b = np.sqrt((two_e * C - l2) / (B * (C - B)))
    # which way tau runs: Euler's equations give the sign of d(w_b)/dt = amp_b cn dn dtau/dt
    direction = np.sign(np.cross(moments * w, w)[b] * w[a]) or 1.0  # 0: at an extreme of w_b
    tau0 = elliptic_f(np.arctan2(w[b] / amp_b, w[a] / amp_a), k)
    n = np.arange(-1000, 1000)
    t = (2 * n * elliptic_k(k) - tau0) / (direction * rate)
    return np.sort(t[(t > 0) & (t < t_end)])
