"""Worker for tests/test_adjoint_access_rule.py: runs every step kernel of the gradient zoos
under Taichi's debug-mode check of the global data access rule, printing one line per robot.
Taichi's debug mode is process-wide, so this runs as its own process (started early by
tests/conftest.py so that its minutes overlap the rest of the suite).

usage: python tests/adjoint_access_worker.py TESTS_DIR"""

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
    for _ in range(1):
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
