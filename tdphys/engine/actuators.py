"""What the motors do, as an output: each motor's torque or force over the step just solved.

motor_force[t + 1, w, m] [N m, or N for a slider] is motor m's impulse along its axis summed
over the substeps of step t, over dt: for a force motor gear * clip(command) clipped to
+-max_force, for a servo the torque its row applied (within +-max_force). The actuator_force
sensor reads it (engine/sensors.py); it is differentiable like the contact forces.
"""

import taichi as ti


@ti.func
def store_force(s, t, w, m):
    """motor_force[t + 1, w, m] from the motor row's accumulated impulses of step t."""
    r = s.model.motor_row[m]
    impulse = 0.0 * s.scratch.lam[0, 0, w, r]
    for u in ti.static(range(s.n_substeps)):
        impulse += s.scratch.lam[u, s.n_sweeps, w, r]
    s.state.motor_force[t + 1, w, m] = impulse / s.dt
