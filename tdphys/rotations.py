"""Rotations in numpy (outside kernels; tdphys/engine/tmath.py has the Taichi ones).

Quaternions are [w, x, y, z] and rotate body frame to world frame (docs/conventions.md).
Functions on quaternions take arrays (..., 4) and broadcast over the leading axes; the few
that build one rotation from angles take numbers.

    r = quat_to_matrix(q)            # (..., 3, 3)
    p = rotate(q, v)                 # v (..., 3) turned by q
    q = quat_mul(a, b)               # rotation b first, then a
"""

from __future__ import annotations

import math

import numpy as np


def quat_mul(a, b) -> np.ndarray:
    """Hamilton product a * b (rotation b first, then a): (..., 4)."""
    aw, ax, ay, az = np.moveaxis(np.asarray(a, float), -1, 0)
    bw, bx, by, bz = np.moveaxis(np.asarray(b, float), -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def quat_conj(q) -> np.ndarray:
    """The conjugate [w, -x, -y, -z] (the inverse rotation of a unit quaternion)."""
    q = np.asarray(q, float)
    return np.concatenate([q[..., :1], -q[..., 1:]], axis=-1)


def quat_to_matrix(q) -> np.ndarray:
    """Rotation matrices of unit quaternions: (..., 4) -> (..., 3, 3)."""
    w, x, y, z = np.moveaxis(np.asarray(q, float), -1, 0)
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)


def rotate(q, v) -> np.ndarray:
    """v (..., 3) rotated by the unit quaternions q (..., 4): v + 2 w (u x v) + 2 u x (u x v)
    with u the vector part of q."""
    q, v = np.asarray(q, float), np.asarray(v, float)
    w, u = q[..., :1], q[..., 1:]
    c = np.cross(u, v)
    return v + 2.0 * w * c + 2.0 * np.cross(u, c)


def axis_angle_quat(axis, angle: float) -> np.ndarray:
    """The rotation by `angle` [rad] about the unit vector `axis` (3,)."""
    half = 0.5 * angle
    return np.concatenate([[math.cos(half)], math.sin(half) * np.asarray(axis, float)])


def euler_quat(rx: float, ry: float, rz: float) -> np.ndarray:
    """The rotation R = Rx(rx) Ry(ry) Rz(rz) (intrinsic x-y-z); angles [rad]."""
    qx = (math.cos(rx / 2), math.sin(rx / 2), 0.0, 0.0)
    qy = (math.cos(ry / 2), 0.0, math.sin(ry / 2), 0.0)
    qz = (math.cos(rz / 2), 0.0, 0.0, math.sin(rz / 2))
    return quat_mul(quat_mul(qx, qy), qz)


def quat_z_to(d) -> np.ndarray:
    """The shortest rotation taking +z onto the unit vector d: q ~ (1 + z.d, z x d)."""
    x, y, z = (float(c) for c in d)
    if z < -1.0 + 1e-12:
        return np.array([0.0, 1.0, 0.0, 0.0])  # half turn about x
    q = (1.0 + z, -y, x, 0.0)
    norm = math.sqrt(sum(c * c for c in q))
    return np.array([c / norm + 0.0 for c in q])  # + 0.0: no -0.0


def matrix_quat(r) -> np.ndarray:
    """The unit quaternion (w >= 0) of a rotation matrix given by rows; Shepperd's method."""
    r = [[float(c) for c in row] for row in r]
    trace = r[0][0] + r[1][1] + r[2][2]
    if trace > 0:
        k = 2.0 * math.sqrt(1.0 + trace)
        q = [0.25 * k, (r[2][1] - r[1][2]) / k, (r[0][2] - r[2][0]) / k, (r[1][0] - r[0][1]) / k]
    else:
        i = max(range(3), key=lambda a: r[a][a])
        j, m = (i + 1) % 3, (i + 2) % 3
        k = 2.0 * math.sqrt(1.0 + r[i][i] - r[j][j] - r[m][m])
        q = [0.0] * 4
        q[0] = (r[m][j] - r[j][m]) / k
        q[1 + i] = 0.25 * k
        q[1 + j] = (r[j][i] + r[i][j]) / k
        q[1 + m] = (r[m][i] + r[i][m]) / k
    norm = math.sqrt(sum(c * c for c in q))
    sign = 1.0 if q[0] >= 0 else -1.0
    return np.array([sign * c / norm + 0.0 for c in q])


def as_tuple(a) -> tuple[float, ...]:
    """The numbers of a 1-d array as a tuple of Python floats (the model's dataclasses hold
    tuples)."""
    return tuple(float(c) for c in a)
