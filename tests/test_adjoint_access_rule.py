"""Taichi's reverse mode is exact only for kernels that never overwrite a field entry after
reading it (the global data access rule). Under debug=True, Taichi can check that rule while a
kernel runs; every kernel of a step whose adjoint Taichi generates is checked here, on the
gradient zoos (every joint, motor, limit, contact pair and sensor kind). (A whole taped
rollout under `ti.ad.Tape(validation=True)` checks the same kernels again and compiles every
adjoint in debug mode on top, minutes on a 2-core CI machine, so it is left out.)

Taichi's debug mode is a process-wide setting, so the checks run in a subprocess."""
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent

SCRIPT = r"""
import sys
import numpy as np
import taichi as ti
sys.path.insert(0, sys.argv[1])
import tdphys
from tdphys import backend
from tdphys.engine.simulation import Simulation
from test_gradients import contact_zoo, joint_zoo

tdphys.init("cpu", "f64", debug=True)

# The check is live: a kernel that reads x[0] and then overwrites it is refused.
x = ti.field(ti.f64, 2, needs_grad=True)

@ti.kernel
def overwrite_after_read():
    for i in range(1):
        y = x[0] * 2.0
        x[0] = y

backend.start_validation()
try:
    backend.run_validated(overwrite_after_read)
except Exception as exc:
    print("caught:", type(exc).__name__)
else:
    print("NOT CAUGHT")

for robot in (joint_zoo(), contact_zoo()):
    sim = Simulation(robot, batch=2, steps=4)
    if sim.n_motors:
        sim.set_controls(np.full((4, sim.n_motors), 0.3))
    sim.rollout()
    for t in range(sim.steps):
        sim.validate_step(t)
    print(robot.name, "validated")
"""


def test_step_kernels_obey_the_global_data_access_rule(tmp_path):
    script = tmp_path / "validate_worker.py"  # Taichi reads kernel source from a file
    script.write_text(SCRIPT)
    out = subprocess.run([sys.executable, str(script), str(TESTS)], capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "caught: TaichiAssertionError" in out.stdout, out.stdout
    assert "joint_zoo validated" in out.stdout, out.stdout
    assert "contact_zoo validated" in out.stdout, out.stdout
