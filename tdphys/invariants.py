"""Physical invariants of a finished rollout, computed in numpy from the recorded state.

What the physics verification tests and bench/accuracy.py measure: energy, momentum, how far
joints pull apart. Shapes: T + 1 recorded steps, B worlds, N bodies, J joints; world frame.
"""

from __future__ import annotations

import numpy as np


def rotation_matrices(quat: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations of unit quaternions (..., 4) [w, x, y, z] (body to world)."""
    w, x, y, z = np.moveaxis(quat, -1, 0)
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        -2,
    )


def mass_properties(sim) -> tuple:
    """(mass [kg] (B, N), inertia about the COM in body axes [kg m^2] (B, N, 3, 3), COM in the
    body frame [m] (B, N, 3)) of a simulation that has started."""
    return sim.model.mass.to_numpy(), sim.model.inertia.to_numpy(), sim.model.com.to_numpy()


def angular_momentum_world(sim, traj: dict) -> np.ndarray:
    """Each body's spin angular momentum about its COM, world frame [kg m^2/s] (T+1, B, N, 3)."""
    _, inertia, _ = mass_properties(sim)
    rot = rotation_matrices(traj["quat"])
    omega_body = np.einsum("tbnji,tbnj->tbni", rot, traj["omega"])
    return np.einsum("tbnij,tbnj->tbni", rot, np.einsum("bnij,tbnj->tbni", inertia, omega_body))


def kinetic_energy(sim, traj: dict) -> np.ndarray:
    """Total kinetic energy (translation and rotation) [J], (T+1, B)."""
    mass, inertia, _ = mass_properties(sim)
    rot = rotation_matrices(traj["quat"])
    omega_body = np.einsum("tbnji,tbnj->tbni", rot, traj["omega"])
    spin = np.einsum("tbni,bnij,tbnj->tbn", omega_body, inertia, omega_body)
    return 0.5 * (np.einsum("bn,tbni,tbni->tb", mass, traj["vel"], traj["vel"]) + spin.sum(-1))


def potential_energy(sim, traj: dict) -> np.ndarray:
    """Gravitational potential energy [J] relative to the world origin, (T+1, B)."""
    mass = mass_properties(sim)[0]
    gravity = np.asarray(sim.gravity)
    return -np.einsum("bn,tbni,i->tb", mass, traj["pos"], gravity)


def total_energy(sim, traj: dict) -> np.ndarray:
    """Kinetic plus potential energy [J], (T+1, B)."""
    return kinetic_energy(sim, traj) + potential_energy(sim, traj)


def joint_gaps(sim, traj: dict) -> np.ndarray:
    """Distance [m] between each joint's anchor on its parent and on its child, (T+1, B, J):
    0 for a joint that holds. Kinds that let their anchors move apart by design (a slider)
    are left out: NaN."""
    from .engine import joints

    lay = sim.layout
    params = {k: sim.get_param(k) for k in ("anchor_p", "anchor_c")}
    _, _, com = mass_properties(sim)
    rot = rotation_matrices(traj["quat"])
    steps, batch = traj["pos"].shape[:2]
    gaps = np.full((steps, batch, lay.n_joints), np.nan)
    for j in range(lay.n_joints):
        if not joints.pins_anchor(lay.joint_kind[j]):
            continue
        ends = []
        for body, anchor in (
            (lay.joint_parent[j], params["anchor_p"][:, j]),
            (lay.joint_child[j], params["anchor_c"][:, j]),
        ):
            if body < 0:
                ends.append(np.broadcast_to(anchor, (steps, batch, 3)))
            else:
                lever = np.einsum("tbij,bj->tbi", rot[:, :, body], anchor - com[:, body])
                ends.append(traj["pos"][:, :, body] + lever)
        gaps[:, :, j] = np.linalg.norm(ends[1] - ends[0], axis=-1)
    return gaps


def angular_velocity_body(traj: dict) -> np.ndarray:
    """Each body's angular velocity in its own axes [rad/s] (T+1, B, N, 3)."""
    return np.einsum("tbnji,tbnj->tbni", rotation_matrices(traj["quat"]), traj["omega"])
