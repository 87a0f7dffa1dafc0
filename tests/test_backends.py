"""Backends: Vulkan against CPU, and the gradient policy that follows from it.

Taichi fixes its arch and precision once per process and the rest of the session runs CPU f64
in-process, so every run here is a subprocess of tests/_backend_worker.py, started together
(2 cores: the compiles overlap) and shared by the tests below:

    vulkan f32  taped rollout: trajectories and gradients
    cpu    f64  taped rollout: the reference of both (the one tests/test_gradients.py
                checks against finite differences)

The rollouts (see the worker): robots/ball.yaml (thrown, spinning, bounces and slides) and
pendulum.yaml (a rigid tree joint), batch 2, 40 steps, each in a Simulation of its own.
TDPHYS_PARITY_ROBOTS=ball,pendulum,arm,quadruped adds the arm (servos under controls) and
the quadruped (standing on the ground under controls): software Vulkan (lavapipe) takes over
10 minutes to compile each, so CI leaves them out (hardware drivers compile differently: not
measured here).

Tolerances (errors are max |other - reference| over a quantity, divided by its scale):
  forward   scale = max(max |reference|, 1) in SI units (m, m/s, rad, rad/s, quaternion); tol
            5e-3, i.e. <= 5 mm or 5 mm/s on these metre-sized robots. float32 rounding (and
            its order: fused multiply-add, reductions) differs from float64 by ~1e-7 a step;
            rigid joints and contacts turn position rounding into velocity corrections at the
            rate 1/h, which grow to at most ~5e-4 over 40 steps (CPU f32 is as far from f64,
            docs/backends.md): a 10x margin, while a wrong kernel gives O(1). 40 steps are
            short enough for contact switching to stay identical.
  gradient  scale = max(max |reference|, 1e-2 x the robot's largest gradient) (parameters with
            almost no physical effect, such as a pendulum's mass, have a ~zero reference and
            f32 noise); tol 1e-2 (Vulkan and CPU f32 both differ from f64 by up to ~2e-3 on
            the standing quadruped, docs/backends.md); NaN or inf always fails.

Tests needing Vulkan skip with the reason when no Vulkan device starts: on Debian,
`apt-get install mesa-vulkan-drivers libvulkan1` gives the software one (lavapipe); .ci/run
installs it. TDPHYS_ARCH=cuda adds CUDA to the archs compared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from tdphys import backend
from tdphys.errors import BackendError

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "tests" / "_backend_worker.py"
TIMEOUT = 1200  # seconds per worker; a cold software-Vulkan compile takes 2-4 minutes

# the robots compared (tests/_backend_worker.py, ROBOTS: why not all four by default)
ROBOTS = tuple(os.environ.get("TDPHYS_PARITY_ROBOTS", "ball,pendulum").split(","))
FORWARD_TOL, GRADIENT_TOL = 5e-3, 1e-2
CAMERA_GRADIENT_TOL = 3e-3  # CPU f32, whose camera gradients train the pixels experiment,
# differs from f64 by up to 6.4e-4 here (measured); a wrong
# adjoint gives O(1)
FORWARD_KEYS = ("pos", "quat", "vel", "omega", "joint_pos", "joint_vel")

OTHER_ARCHS = ("vulkan",) + (("cuda",) if backend.env_arch("cpu") == "cuda" else ())


def _probe(arch: str) -> str | None:
    """None if `arch` starts in a fresh process (f32), else the reason why not."""
    code = (
        "import sys, tdphys\n"
        "try:\n"
        f"    tdphys.init({arch!r}, 'f32')\n"
        "except tdphys.BackendError as e:\n"
        "    print('BackendError:', ' '.join(str(e).split())); sys.exit(3)\n"
    )
    try:
        p = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
    except subprocess.TimeoutExpired:
        return f"starting Taichi on {arch} took over 120 s"
    if p.returncode == 0:
        return None
    if p.returncode == 3:
        return [ln for ln in p.stdout.splitlines() if ln.startswith("BackendError:")][-1]
    return f"probe crashed (exit {p.returncode}): {p.stderr.strip()[-500:]}"


class Runs:
    """Worker subprocesses started together (2 cores: compiles overlap) and waited for on
    first use, so tests that need no subprocess do not pay for them."""

    def __init__(self, tmp: Path):
        self.tmp, self.procs, self.results, self.seconds = tmp, {}, {}, {}
        self.unavailable = {}

    def start(self, key, arch, precision, taped):
        out = self.tmp / f"{key}.npz"
        log = open(self.tmp / f"{key}.log", "w")
        cmd = [
            sys.executable,
            str(WORKER),
            "--arch",
            arch,
            "--precision",
            precision,
            "--robots",
            ",".join(ROBOTS),
            "--out",
            str(out),
        ] + (["--taped"] if taped else [])
        self.procs[key] = (
            subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT),
            out,
            log,
            time.perf_counter(),
        )

    def get(self, key):
        if key in self.unavailable:
            pytest.skip(self.unavailable[key])
        if key not in self.results:
            proc, out, log, t0 = self.procs[key]
            try:
                proc.wait(timeout=max(1.0, TIMEOUT - (time.perf_counter() - t0)))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
            self.seconds[key] = time.perf_counter() - t0
            text = Path(log.name).read_text()
            if proc.returncode != 0:
                pytest.fail(
                    f"worker {key} failed (exit {proc.returncode}, "
                    f"{self.seconds[key]:.0f} s):\n{_tail(text)}"
                )
            with np.load(out) as data:
                self.results[key] = {k: data[k] for k in data.files}
        return self.results[key]


def _tail(text: str, n: int = 40) -> str:
    return "\n".join(text.splitlines()[-n:])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    r = Runs(tmp_path_factory.mktemp("backends"))
    for arch in OTHER_ARCHS:
        reason = _probe(arch)
        if reason:
            hint = (
                ("; on Debian: apt-get install mesa-vulkan-drivers libvulkan1 (.ci/run does this)")
                if arch == "vulkan"
                else ""
            )
            r.unavailable[arch] = f"no {arch} device: {reason}{hint}"
        else:
            r.start(arch, arch, "f32", taped=True)
    if len(r.unavailable) < len(OTHER_ARCHS):  # the reference, only if compared with
        r.start("cpu64", "cpu", "f64", taped=True)
    yield r
    for proc, _, log, _ in r.procs.values():  # a test that failed early leaves workers behind
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


def _forward_errors(ref: dict, other: dict, case: str) -> dict:
    errors = {}
    for key in FORWARD_KEYS:
        a, b = ref[f"{case}/fwd/{key}"].astype(float), other[f"{case}/fwd/{key}"].astype(float)
        if a.size == 0:
            continue
        assert a.shape == b.shape, (key, a.shape, b.shape)
        if not np.isfinite(b).all():
            errors[key] = (np.inf, "non-finite")
            continue
        scale = max(np.abs(a).max(), 1.0)
        per_step = np.abs(a - b).reshape(a.shape[0], -1).max(axis=1) / scale
        over = np.flatnonzero(per_step > FORWARD_TOL)
        where = (
            f"first over tol at step {over[0]}"
            if len(over)
            else f"worst at step {per_step.argmax()}"
        )
        errors[key] = (per_step.max(), f"{where}, max abs {per_step.max() * scale:.3g}")
    return errors


def _gradient_errors(ref: dict, other: dict, case: str) -> dict:
    prefix = f"{case}/grad/"
    names = [k[len(prefix) :] for k in ref if k.startswith(prefix)]
    largest = max(np.abs(ref[prefix + n]).max() for n in names if ref[prefix + n].size)
    errors = {}
    for name in names:
        a, b = ref[prefix + name].astype(float), other[prefix + name].astype(float)
        if a.size == 0:
            continue
        assert a.shape == b.shape, (name, a.shape, b.shape)
        if not np.isfinite(b).all():
            errors[name] = (np.inf, f"{int((~np.isfinite(b)).sum())} non-finite entries")
            continue
        diff = np.abs(a - b).max()
        scale = max(np.abs(a).max(), 1e-2 * largest)
        errors[name] = (diff / scale, f"max abs {diff:.3g}, scale {scale:.3g}")
    return errors


def _report(errors: dict, tol: float) -> str:
    return "\n".join(
        f"  {k:26s} {e:.2e} {'FAIL' if e > tol else 'ok  '} ({why})"
        for k, (e, why) in errors.items()
    )


@pytest.mark.slow  # waits on the backend workers (subprocesses that compile)
@pytest.mark.parametrize("arch", OTHER_ARCHS)
@pytest.mark.parametrize("case", ROBOTS)
def test_forward_matches_cpu(runs, arch, case):
    """Trajectories (every body's pose and velocities, every motor coordinate) on `arch` f32
    against CPU f64: ball thrown and bouncing, passive pendulum, arm under smooth controls,
    quadruped on the ground under controls."""
    other = runs.get(arch)
    errors = _forward_errors(runs.get("cpu64"), other, case)
    worst = max(e for e, _ in errors.values())
    assert worst <= FORWARD_TOL, (
        f"{case} on {arch} f32 differs from cpu f64 (relative, "
        f"tol {FORWARD_TOL}):\n{_report(errors, FORWARD_TOL)}"
    )


def _policy_matches(
    errors: dict, tol: float, policy: str, arch: str, what: str, refusal: str
) -> None:
    """backend.<policy>[arch] must be True if and only if every error is within tol, so a
    backend never returns gradients that a parity test has seen wrong."""
    worst = max(e for e, _ in errors.values())
    agree, allowed = worst <= tol, getattr(backend, policy)[arch]
    table = _report(errors, tol)
    assert agree or not allowed, (
        f"{arch} {what} disagree with cpu f64 (relative, tol {tol}) but backend.{policy}"
        f"[{arch!r}] is True: set it to False ({refusal})\n{table}"
    )
    assert allowed or not agree, (
        f"{arch} {what} agree with cpu f64 (worst {worst:.1e}) but backend.{policy}"
        f"[{arch!r}] is False: allow them\n{table}"
    )


@pytest.mark.slow  # waits on the backend workers (subprocesses that compile)
@pytest.mark.parametrize("arch", OTHER_ARCHS)
@pytest.mark.parametrize("case", ROBOTS)
def test_gradient_parity_decides_policy(runs, arch, case):
    """Taped gradients on `arch` (controls, initial state, every parameter, the ground's
    included, and the loss) against CPU f64.
    backend.GRADIENTS_ALLOWED[arch] must say what this finds: allowed if and only if they
    agree, so a backend never returns gradients that this test has seen wrong."""
    other = runs.get(arch)
    errors = _gradient_errors(runs.get("cpu64"), other, case)
    _policy_matches(
        errors,
        GRADIENT_TOL,
        "GRADIENTS_ALLOWED",
        arch,
        f"gradients of {case}",
        "require_gradients then refuses them, unless test_forward_matches_cpu "
        f"fails for {case} too: then the forward pass is wrong and the gradients "
        "follow it, fix that first",
    )
    ref = runs.get("cpu64")  # the comparison must not pass on an all-zero reference
    assert (
        max(np.abs(v).max() for k, v in ref.items() if k.startswith(f"{case}/grad/") and v.size)
        > 1e-3
    )


def test_require_gradients_follows_the_policy(monkeypatch):
    """require_gradients() passes exactly where GRADIENTS_ALLOWED allows, and otherwise raises
    a BackendError naming the arch, docs/backends.md and a fix (no Taichi needed)."""
    for arch, allowed in backend.GRADIENTS_ALLOWED.items():
        b = backend.Backend(arch, "f32", False)
        assert b.can_differentiate == allowed
        if allowed:
            b.require_gradients()
    monkeypatch.setitem(backend.GRADIENTS_ALLOWED, "vulkan", False)
    with pytest.raises(BackendError) as err:
        backend.Backend("vulkan", "f32", False).require_gradients("controls gradients")
    msg = str(err.value)
    assert "controls gradients are not available on arch=vulkan" in msg
    assert "docs/backends.md" in msg and "fix:" in msg and "--arch cpu" in msg
    with pytest.raises(BackendError):  # unknown archs are refused, never assumed right
        backend.Backend("metal", "f32", False).require_gradients()


@pytest.mark.slow  # waits on the backend workers (subprocesses that compile)
@pytest.mark.parametrize("arch", OTHER_ARCHS)
def test_camera_images_match_cpu(runs, arch):
    """The camera renders on every backend: tests/camera_checks.py's SCENE (a sphere partly
    hiding a box and a capsule, all spinning) after a 3-step rollout, on `arch` f32, agrees
    with CPU f64's image: on the mean, and on the share of pixels off by more than 0.01
    (silhouette edges, where float32 rounding moves the soft coverage slightly)."""
    img = runs.get(arch)["camera/fwd/image"].astype(float)  # first: skips without the arch
    ref = runs.get("cpu64")["camera/fwd/image"].astype(float)
    assert img.shape == ref.shape and np.isfinite(img).all()
    diff = np.abs(img - ref)
    assert diff.mean() < 1e-4, diff.mean()
    assert (diff > 0.01).mean() < 1e-3, (diff > 0.01).mean()


@pytest.mark.slow  # waits on the backend workers (subprocesses that compile)
@pytest.mark.parametrize("arch", OTHER_ARCHS)
def test_camera_gradient_parity_decides_policy(runs, arch):
    """Taped gradients of an image loss through a camera (tests/camera_checks.py's SCENE:
    edges, occlusion, shading, after a 3-step rollout; d loss / d initial poses, velocities
    and shape sizes) on `arch` f32 against CPU f64, to CAMERA_GRADIENT_TOL.
    backend.CAMERA_GRADIENTS_ALLOWED[arch] must say what this finds."""
    other = runs.get(arch)  # first: skips without the arch
    ref = runs.get("cpu64")
    errors = _gradient_errors(ref, other, "camera")
    _policy_matches(
        errors,
        CAMERA_GRADIENT_TOL,
        "CAMERA_GRADIENTS_ALLOWED",
        arch,
        "camera gradients",
        "require_camera_gradients then refuses them",
    )
    assert max(np.abs(ref[f"camera/grad/{k}"]).max() for k in errors) > 1e-2  # not all zero


def test_camera_gradients_follow_their_policy(monkeypatch):
    """require_camera_gradients() passes where CAMERA_GRADIENTS_ALLOWED allows (CPU, where
    tests/test_camera.py checks them against finite differences; Vulkan, by the parity test
    above; CUDA) and otherwise raises a BackendError with a fix."""
    for arch, allowed in backend.CAMERA_GRADIENTS_ALLOWED.items():
        if allowed:
            backend.Backend(arch, "f32", False).require_camera_gradients()
    monkeypatch.setitem(backend.CAMERA_GRADIENTS_ALLOWED, "vulkan", False)
    with pytest.raises(BackendError) as err:
        backend.Backend("vulkan", "f32", False).require_camera_gradients()
    msg = str(err.value)
    assert "gradients through a camera are not available on arch=vulkan" in msg
    assert "fix:" in msg and "--arch cpu" in msg


def test_vulkan_refuses_f64():
    """Vulkan has no f64 here: asking for it is an error with a fix, before Taichi starts."""
    with pytest.raises(BackendError, match="f64 is not supported on vulkan"):
        backend.init("vulkan", "f64")


CPU_F32_ADJOINTS = textwrap.dedent("""
    import json, taichi as ti, tdphys
    tdphys.init("cpu", "f32")
    v = ti.Vector.field(3, ti.f32, 2, needs_grad=True)
    b = ti.Vector.field(3, ti.f32, 2)
    loss = ti.field(ti.f32, (), needs_grad=True)
    v.fill(2.0); b.fill(0.25)

    @ti.kernel
    def dot_sum():
        for i in v:
            loss[None] += b[i].dot(v[i]) + v[i].sum() + 0.05 * v[i].dot(v[i])

    with ti.ad.Tape(loss):
        dot_sum()
    print(json.dumps(v.grad.to_numpy().tolist()))
""")


def test_cpu_f32_vector_adjoints(tmp_path):
    """The backend's CPU f32 settings give right adjoints for whole-vector expressions on
    vector-field entries. (taichi 1.7.4 with advanced_optimization=False and its own adjoint
    stack sizing gives zeros here and NaN in tdphys's gradients; see backend._ad_stack_size.)"""
    script = tmp_path / "adjoints.py"  # Taichi reads a kernel's source from its file
    script.write_text(CPU_F32_ADJOINTS)
    p = subprocess.run(
        [sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert p.returncode == 0, _tail(p.stderr)
    grad = np.array(json.loads(p.stdout.strip().splitlines()[-1]))
    np.testing.assert_allclose(grad, np.full((2, 3), 0.25 + 1.0 + 0.1 * 2.0), rtol=1e-6)


def test_compile_errors_still_name_the_file_line_and_source(backend64):
    """backend._cheap_source_positions drops only the caret drawing from Taichi's per-node
    source positions: a kernel that does not compile is still reported at its file, line,
    function and source text."""
    import taichi as ti

    @ti.kernel
    def broken():
        print(undefined_name_for_this_test * 2.0)  # noqa: F821

    with pytest.raises(ti.TaichiCompilationError) as info:
        broken()
    msg = str(info.value)
    source = Path(__file__).read_text().splitlines()
    line = 1 + next(i for i, s in enumerate(source) if "print(undefined_name_for_this" in s)
    assert f'File "{__file__}", line {line}, in broken' in msg, msg
    assert "print(undefined_name_for_this_test * 2.0)" in msg and "not defined" in msg, msg
