"""A kernel shape Taichi 1.7.4 differentiates wrongly with tdphys's compile settings
(tdphys/kernel_rules.py, docs/engine-notes.md pitfall 13): a constant-index component of a
vector field entry read inside a run-time branch. tdphys's kernels never use it, the tape
refuses a user's kernel that does, and the safe spelling is exact."""

import ast
from pathlib import Path

import numpy as np
import pytest
import taichi as ti

from tdphys import kernel_rules
from tdphys.model.schema import Body, Robot, Shape, Solver

ROOT = Path(__file__).resolve().parents[1]
T = 6


def _ball():
    shape = Shape("sphere", radius=0.5, mass=1.0)
    return Robot(
        name="ball",
        source="<test>",
        solver=Solver(dt=0.01),
        bodies=(Body("ball", (shape,), pos=(0.0, 0.0, 5.0), vel=(1.0, 0.0, 2.0)),),
    )


def _taichi_functions(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and any(
            ast.unparse(d).startswith(("ti.func", "ti.kernel")) for d in node.decorator_list
        ):
            yield node


def test_tdphys_kernels_never_index_a_field_entry_with_a_constant():
    """No Taichi function or kernel of tdphys reads `f[i][c]` or `f[i].x` anywhere (a ti.func
    may be inlined into a branch, so the rule holds outside branches too): every component
    is read from a local copy of the entry."""
    hits = []
    for path in sorted((ROOT / "tdphys").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for fn in _taichi_functions(tree):
            for node in ast.walk(fn):
                if kernel_rules._component_read(node):
                    hits.append(f"{path.relative_to(ROOT)}:{node.lineno} {ast.unparse(node)}")
    assert not hits, "\n".join(hits)


def test_findings_name_reads_in_run_time_branches_only():
    """The source check flags the read in a run-time `if` (directly, in a conditional
    expression and through a ti.func called there) and leaves the safe spellings alone."""

    def names(fn):
        return sorted({f.code for f in kernel_rules.findings(fn)})

    assert names(_unsafe_loss) == ["sim_ref[0].state.vel[t, 0, 0][2]"]
    assert names(_unsafe_via_func) == ["sim_ref[0].state.vel[t, 0, 0].z"]
    assert names(_unsafe_ifexp) == ["sim_ref[0].state.vel[t, 0, 0][2]"]
    assert names(_safe_loss) == [] and names(_safe_outside_branch) == []
    assert names(_static_branch) == []


sim_ref = [None]  # the simulation the module-level kernels below read


@ti.func
def _vz(t):
    return sim_ref[0].state.vel[t, 0, 0].z


@ti.kernel
def _unsafe_loss():
    for t in range(T):
        if t % 2 == 0:
            sim_ref[0].loss[None] += sim_ref[0].state.vel[t, 0, 0][2] ** 2


@ti.kernel
def _unsafe_via_func():
    for t in range(T):
        if t % 2 == 0:
            sim_ref[0].loss[None] += _vz(t) ** 2


@ti.kernel
def _unsafe_ifexp():
    for t in range(T):
        sim_ref[0].loss[None] += sim_ref[0].state.vel[t, 0, 0][2] ** 2 if t % 2 == 0 else 0.0


@ti.kernel
def _safe_loss():
    for t in range(T):
        if t % 2 == 0:
            v = sim_ref[0].state.vel[t, 0, 0]
            sim_ref[0].loss[None] += v[2] ** 2


@ti.kernel
def _safe_outside_branch():
    for t in range(T):
        vz = sim_ref[0].state.vel[t, 0, 0][2]
        sim_ref[0].loss[None] += ti.select(t % 2 == 0, vz**2, 0.0)


@ti.kernel
def _static_branch():
    for t in range(T):
        if ti.static(T > 1):
            sim_ref[0].loss[None] += sim_ref[0].state.vel[t, 0, 0][2] ** 2


def _expected_grad(sim):
    """d/d vel[t] of sum over even t of vz(t)^2: (0, 0, 2 vz) at even t, 0 elsewhere."""
    vel = sim.poses()["vel"][:, 0, 0]
    g = np.zeros_like(vel)
    g[0:T:2, 2] = 2.0 * vel[0:T:2, 2]
    return g


@pytest.mark.slow
def test_the_tape_refuses_the_unsafe_read_and_the_safe_one_is_exact(backend64):
    """Through Simulation.tape(), the unsafe kernel raises UnsafeKernelError naming the file,
    the line and the local-copy fix, before any backward pass; the same loss spelled with a
    local copy (or outside the branch) gets the exact adjoint; and bypassing the check with a
    raw ti.ad.Tape shows why it exists: the unsafe spelling's adjoint is wrong."""
    from tdphys.engine.simulation import Simulation

    sim = Simulation(_ball(), batch=1, steps=T)
    sim_ref[0] = sim
    sim.rollout()
    expected = _expected_grad(sim)
    with pytest.raises(kernel_rules.UnsafeKernelError) as info:
        with sim.tape():
            _unsafe_loss()
    msg = str(info.value)
    line = 1 + next(
        i
        for i, s in enumerate(Path(__file__).read_text().splitlines())
        if "+= sim_ref[0].state.vel[t, 0, 0][2] ** 2" in s and "if" not in s
    )
    assert f"{__file__}:{line} in _unsafe_loss" in msg, msg
    assert "v = sim_ref[0].state.vel[t, 0, 0]" in msg and "then `v[2]`" in msg, msg
    assert not np.any(sim.state.vel.grad.to_numpy()), "no backward pass may have run"
    with pytest.raises(kernel_rules.UnsafeKernelError):
        with sim.tape():
            _unsafe_via_func()
    for safe in (_safe_loss, _safe_outside_branch):
        with sim.tape():
            safe()
        np.testing.assert_allclose(
            sim.state.vel.grad.to_numpy()[:T, 0, 0], expected[:T], rtol=1e-12, atol=1e-15
        )
    if backend64.arch != "cpu":
        # On CUDA the unsafe spelling's adjoint does not merely give a wrong number, it faults
        # (CUDA_ERROR_MISALIGNED_ADDRESS) and leaves the process's CUDA context unusable,
        # failing every later test in the worker.
        pytest.skip(
            f"the checks above passed on {backend64.arch}; the raw-tape bypass runs on "
            "cpu only: on cuda the unsafe adjoint faults the device"
        )
    sim.state.vel.grad.fill(0.0)
    with ti.ad.Tape(sim.loss, clear_gradients=False):
        _unsafe_loss()
    wrong = sim.state.vel.grad.to_numpy()[:T, 0, 0]
    assert not np.allclose(wrong, expected[:T]), (
        "Taichi now differentiates this shape right: kernel_rules and pitfall 13 can go"
    )
