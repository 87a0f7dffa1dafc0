"""Taichi's reverse mode is exact only for kernels that never overwrite a field entry after
reading it (the global data access rule). Under debug=True, Taichi can check that rule while a
kernel runs; every kernel of a step whose adjoint Taichi generates is checked here, on the
gradient zoos (every joint, motor, limit, contact pair and sensor kind). (A whole taped
rollout under `ti.ad.Tape(validation=True)` checks the same kernels again and compiles every
adjoint in debug mode on top, minutes on a 2-core CI machine, so it is left out.)

Taichi's debug mode is a process-wide setting, so the checks run in a subprocess
(tests/adjoint_access_worker.py). It takes about 3 minutes, so tests/conftest.py starts it as
the session begins and this test collects its output; run alone, the test starts it itself."""

import pytest
from conftest import adjoint_access_output


@pytest.mark.slow
def test_step_kernels_obey_the_global_data_access_rule():
    returncode, out = adjoint_access_output()
    assert returncode == 0, out[-6000:]
    assert "caught: TaichiAssertionError" in out, out
    assert "joint_zoo validated" in out, out
    assert "contact_zoo validated" in out, out
