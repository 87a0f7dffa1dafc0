"""tdphys and MuJoCo on the same work: the same MJCF file, controls and loss
(docs/studies/peers.md).

    python bench/peers.py                                   # ant, half_cheetah, humanoid
    python bench/peers.py --models ant --batch 256 --horizons 100,1000 --markdown peers.md
    python bench/peers.py --models ant --batch 8 --horizons 20,40 --repeats 1   # a quick look

The models are gymnasium's MuJoCo files, read from the installed gymnasium package. Both
engines load the file itself: MuJoCo directly, tdphys through its MJCF import (docs/mjcf.md),
and where a model is refused the table says so instead.

Each engine and model is measured in a fresh process of its own, so its start-up and peak
memory are its own:
  start-up        process start to the first forward rollout's result: imports, MuJoCo's
                  compiler (both engines read the file with it), and for tdphys Taichi's kernel
                  compiles (with an empty kernel cache unless --warm-cache)
  forward         robot-steps per second of a rollout of the shortest horizon at batch 1 and
                  --batch, the best of --repeats after the first. MuJoCo: `mujoco.rollout`, one
                  thread at batch 1 and a pool of one thread per core (and one MjData each) at
                  --batch. tdphys: Simulation.rollout, a Taichi thread per world (as many as
                  there are cores)
  gradient        d loss / d every control of a rollout of each horizon (batch 1), loss = x of
                  the torso's centre of mass at the last step. tdphys: a ti.ad.Tape over the
                  rollout (the first one compiles: shown apart). MuJoCo, by finite differences
                  (--eps, forward): "FD rollouts" perturbs each control in turn and rolls out
                  from the nominal state at its step (1 + T nu rollouts on the thread pool);
                  "FD Jacobians + sweep" takes every step's transition Jacobians
                  (mjd_transitionFD: 1 + 2 nv + nu steps each, counted as whole steps) and
                  sweeps the adjoint back
  finite          whether every entry of the gradient is finite
  agreement       cos of the angle between tdphys's gradient and MuJoCo's (the two differ
                  where their contact models do: docs/mjcf.md), and between MuJoCo's two
  peak memory     the process's peak resident set (resource.getrusage)
Controls: 0.02 sin(2 pi t + k pi / 2) on actuator k (inside every ctrlrange). Timings are for
information only; the machine's load changes them (say what else was running).
"""

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("ant", "half_cheetah", "humanoid")
AMPLITUDE, FREQUENCY = 0.02, 1.0  # [-], [Hz] of the controls' sinusoid
TORSO = "torso"  # the body whose centre of mass the loss reads


def gym_path(name: str) -> str:
    import gymnasium

    return os.path.join(
        os.path.dirname(gymnasium.__file__), "envs", "mujoco", "assets", name + ".xml"
    )


def controls(steps: int, dt: float, nu: int):
    """(steps, nu) numpy array: AMPLITUDE sin(2 pi FREQUENCY t + k pi / 2) on actuator k."""
    import numpy as np

    t = np.arange(steps)[:, None] * dt
    return AMPLITUDE * np.sin(2 * math.pi * FREQUENCY * t + np.arange(nu) * math.pi / 2)


def best_of(repeats: int, run) -> float:
    """Seconds of the fastest of `repeats` calls of run() (after the caller's first one)."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return min(times)


def cosine(a, b) -> float:
    """cos of the angle between two gradients (nan if one is zero)."""
    import numpy as np

    a, b = np.ravel(a), np.ravel(b)
    norms = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / norms) if norms else float("nan")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------------------- tdphys
def measure_tdphys(path: str, args, started: float) -> dict:
    import numpy as np
    import taichi as ti

    import tdphys

    tdphys.init("cpu", args.precision)
    robot = tdphys.load(path, report=lambda text: None)
    torso = [b.name for b in robot.bodies].index(TORSO)
    nu, dt = sum(len(j.motors) for j in robot.joints), robot.solver.dt
    horizons = sorted(args.horizons)
    out = {"engine": "tdphys", "precision": args.precision, "threads": os.cpu_count()}

    def simulation(batch, steps):
        """A Simulation of `steps` steps and forward(h): its first h steps, as a rollout."""
        sim = tdphys.Simulation(robot, batch=batch, steps=steps)
        sim.set_controls(controls(steps, dt, nu))

        def forward(h):
            sim.start()
            sim.steps_between(0, h)
            ti.sync()

        return sim, forward

    # one simulation of the longest horizon serves every horizon at batch 1 (each Simulation
    # compiles its kernels anew)
    sim, forward = simulation(1, horizons[-1])
    forward(horizons[0])
    out["startup_s"] = time.time() - started
    out["forward_b1"] = horizons[0] / best_of(args.repeats, lambda: forward(horizons[0]))

    @ti.kernel
    def loss(t: ti.i32):
        sim.loss[None] += sim.state.pos[t, 0, torso][0]

    for steps in horizons:

        def gradient(steps=steps):
            with sim.tape():
                sim.start()
                sim.steps_between(0, steps)
                loss(steps)
            ti.sync()

        t = time.perf_counter()
        gradient()
        out[f"grad{steps}_first_s"] = time.perf_counter() - t
        out[f"grad{steps}_s"] = best_of(args.repeats, gradient)
        grad = sim.controls_grad()[:steps]
        out[f"grad{steps}_finite"] = bool(np.all(np.isfinite(grad)))
        out[f"grad{steps}_norm"] = float(np.linalg.norm(grad))
        out[f"grad{steps}_values"] = grad[:, 0].ravel().tolist()
    _, forward = simulation(args.batch, horizons[0])
    t = time.perf_counter()
    forward(horizons[0])
    out["forward_batch_first_s"] = time.perf_counter() - t
    out["forward_batch"] = (
        args.batch * horizons[0] / best_of(args.repeats, lambda: forward(horizons[0]))
    )
    out["peak_mb"] = peak_mb()
    return out


# ---------------------------------------------------------------------------------- MuJoCo
class MuJoCoRollouts:
    """One model, its nominal rollouts and finite-difference gradients (module docstring)."""

    def __init__(self, path: str, pool, threads: int):
        import mujoco
        import numpy as np

        self.mj, self.np = mujoco, np
        self.model = mujoco.MjModel.from_xml_path(path)
        self.data = mujoco.MjData(self.model)
        self.datas = [mujoco.MjData(self.model) for _ in range(threads)]
        self.pool = pool
        self.spec = mujoco.mjtState.mjSTATE_FULLPHYSICS  # [time, qpos, qvel, act, ...]
        self.state0 = self.state(self.data)
        torso = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, TORSO)
        # tdphys merges bodies welded to the torso into it: its centre of mass is theirs
        self.group = np.nonzero(self.model.body_weldid == torso)[0]
        self.scratch = mujoco.MjData(self.model)

    def state(self, data):
        state = self.np.empty(self.mj.mj_stateSize(self.model, self.spec))
        self.mj.mj_getState(self.model, data, state, self.spec)
        return state

    def rollout(self, states, ctrl, warmstart=None):
        """Final states of rollouts from `states` (n, nstate) under `ctrl` (n, T, nu)."""
        if len(states) == 1:  # one thread, no pool
            from mujoco import rollout

            out, _ = rollout.rollout(
                self.model, self.data, states, ctrl, initial_warmstart=warmstart
            )
        else:
            out, _ = self.pool.rollout(
                self.model, self.datas, states, ctrl, initial_warmstart=warmstart
            )
        return out[:, -1]

    def loss(self, state) -> float:
        """x [m] of the torso's centre of mass in `state`."""
        m, d = self.model, self.scratch
        self.mj.mj_setState(m, d, state, self.spec)
        self.mj.mj_kinematics(m, d)
        mass = m.body_mass[self.group]
        return float(mass @ d.xipos[self.group, 0] / mass.sum())

    def nominal(self, ctrl):
        """Every state (T + 1, nstate) and warm start (T + 1, nv) of the rollout under ctrl."""
        m, d, np = self.model, self.data, self.np
        self.mj.mj_setState(m, d, self.state0, self.spec)
        d.qacc_warmstart[:] = 0
        states, warm = [self.state(d)], [d.qacc_warmstart.copy()]
        for u in ctrl:
            d.ctrl[:] = u
            self.mj.mj_step(m, d)
            states.append(self.state(d))
            warm.append(d.qacc_warmstart.copy())
        return np.array(states), np.array(warm)

    def fd_rollouts(self, ctrl, eps: float):
        """(gradient (T, nu), rollouts, steps simulated): forward differences of whole
        rollouts, each perturbed one starting from the nominal state at its control's step."""
        np = self.np
        steps, nu = ctrl.shape
        states, warm = self.nominal(ctrl)
        base = self.loss(states[-1])
        grad, simulated = np.empty((steps, nu)), steps
        for t in range(steps):
            tail = np.repeat(ctrl[None, t:], nu, axis=0)
            tail[np.arange(nu), 0, np.arange(nu)] += eps
            finals = self.rollout(
                np.repeat(states[None, t], nu, axis=0), tail, np.repeat(warm[None, t], nu, axis=0)
            )
            grad[t] = [(self.loss(f) - base) / eps for f in finals]
            simulated += nu * (steps - t)
        return grad, 1 + steps * nu, simulated

    def fd_sweep(self, ctrl, eps: float):
        """(gradient (T, nu), steps simulated): each step's transition Jacobians A = d x_{t+1}
        / d x_t (x: positions in the tangent space, velocities, activations) and B = d x_{t+1}
        / d u_t by forward differences of single steps (as mjd_transitionFD, which refuses
        the RK4 integrator of ant and hopper; batched on the thread pool), then lambda_T =
        d loss / d x_T and, back in time, grad_t = B_t^T lambda_{t+1}, lambda_t = A_t^T
        lambda_{t+1}."""
        mj, m, np = self.mj, self.model, self.np
        steps, nu = ctrl.shape
        nq, nv, na = m.nq, m.nv, m.na
        n = 2 * nv + na
        states, warm = self.nominal(ctrl)
        jacobians = []
        for t in range(steps):
            starts = np.repeat(states[None, t], 1 + n + nu, axis=0)
            for i in range(nv):  # row 1 + i: position i moved by eps (tangent space)
                step = np.zeros(nv)
                step[i] = eps
                mj.mj_integratePos(m, starts[1 + i, 1 : 1 + nq], step, 1.0)
            rest = np.arange(nv + na)  # then velocities and activations
            starts[1 + nv + rest, 1 + nq + rest] += eps
            u = np.repeat(ctrl[None, t : t + 1], 1 + n + nu, axis=0)
            u[1 + n + np.arange(nu), 0, np.arange(nu)] += eps
            finals = self.rollout(starts, u, np.repeat(warm[None, t], 1 + n + nu, axis=0))
            dx = np.empty((n + nu, n))
            for r in range(n + nu):
                mj.mj_differentiatePos(
                    m, dx[r, :nv], 1.0, finals[0, 1 : 1 + nq], finals[1 + r, 1 : 1 + nq]
                )
            dx[:, nv:] = (
                finals[1:, 1 + nq : 1 + nq + nv + na] - finals[0, 1 + nq : 1 + nq + nv + na]
            )
            dx /= eps
            jacobians.append((dx[:n].T, dx[n:].T))  # A (n, n), B (n, nu)
        lam = np.zeros(n)  # d loss / d x_T: positions only, in the tangent space
        base = self.loss(states[-1])
        for i in range(nv):
            state, step = states[-1].copy(), np.zeros(nv)
            step[i] = eps
            mj.mj_integratePos(m, state[1 : 1 + nq], step, 1.0)
            lam[i] = (self.loss(state) - base) / eps
        grad = np.empty((steps, nu))
        for t in reversed(range(steps)):
            a, b = jacobians[t]
            grad[t] = b.T @ lam
            lam = a.T @ lam
        return grad, steps * (1 + n + nu)


def measure_mujoco(path: str, args, started: float) -> dict:
    import mujoco
    import numpy as np
    from mujoco import rollout

    threads = os.cpu_count()
    out = {"engine": "MuJoCo " + mujoco.__version__, "precision": "f64", "threads": threads}
    horizons = sorted(args.horizons)
    with rollout.Rollout(nthread=threads) as pool:
        runs = MuJoCoRollouts(path, pool, threads)
        m, state0 = runs.model, runs.state0
        u = controls(horizons[0], m.opt.timestep, m.nu)

        def forward():
            runs.rollout(state0[None], u[None])

        forward()
        out["startup_s"] = time.time() - started
        out["forward_b1"] = horizons[0] / best_of(args.repeats, forward)
        states = np.repeat(state0[None], args.batch, axis=0)
        batch_u = np.repeat(u[None], args.batch, axis=0)

        def forward_batch():
            runs.rollout(states, batch_u)

        forward_batch()
        out["forward_batch"] = args.batch * horizons[0] / best_of(args.repeats, forward_batch)
        for steps in horizons:
            ctrl = controls(steps, m.opt.timestep, m.nu)
            t = time.perf_counter()
            grad, count, simulated = runs.fd_rollouts(ctrl, args.eps)
            out[f"grad{steps}_fd_s"] = time.perf_counter() - t
            out[f"grad{steps}_fd_rollouts"], out[f"grad{steps}_fd_steps"] = count, simulated
            t = time.perf_counter()
            swept, simulated = runs.fd_sweep(ctrl, args.eps)
            out[f"grad{steps}_sweep_s"] = time.perf_counter() - t
            out[f"grad{steps}_sweep_steps"] = simulated
            out[f"grad{steps}_finite"] = bool(
                np.all(np.isfinite(grad)) and np.all(np.isfinite(swept))
            )
            out[f"grad{steps}_norm"] = float(np.linalg.norm(grad))
            out[f"grad{steps}_values"] = grad.ravel().tolist()
            out[f"grad{steps}_cos"] = cosine(grad, swept)
    out["peak_mb"] = peak_mb()
    return out


# ---------------------------------------------------------------------------------- table
def measure(engine: str, model: str, args) -> dict:
    """The row of `engine` on `model`, measured in a fresh process (see the docstring)."""
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as cache:
        if not args.warm_cache:
            env["TI_OFFLINE_CACHE_FILE_PATH"] = cache
        argv = [
            sys.executable,
            __file__,
            "--child",
            engine,
            model,
            repr(time.time()),
            "--batch",
            str(args.batch),
            "--horizons",
            ",".join(map(str, args.horizons)),
            "--repeats",
            str(args.repeats),
            "--precision",
            args.precision,
            "--eps",
            repr(args.eps),
        ]
        done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=ROOT, check=False)
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    if done.returncode or not lines:
        sys.exit(f"bench/peers.py: measuring {engine} on {model} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def refusal(model: str) -> str | None:
    """tdphys's reason for refusing gymnasium's `model`, or None when it loads."""
    import tdphys

    try:
        tdphys.load(gym_path(model), report=lambda text: None)
    except tdphys.ModelError as exc:
        lines = [x.strip() for x in str(exc).splitlines() if x.strip().startswith("line")]
        return "; ".join(lines[:2]) + (f"; and {len(lines) - 2} more" if len(lines) > 2 else "")
    return None


def _seconds(value) -> str:
    return "" if value is None else f"{value:.3g}" if value < 10 else f"{value:.0f}"


def _rate(value) -> str:
    return "" if value is None else f"{value:,.0f}"


def _ratio(ours, theirs, faster_is_smaller=True) -> str:
    """How many times tdphys is faster (> 1) or slower (< 1) than MuJoCo."""
    if not ours or not theirs:
        return ""
    return f"{(theirs / ours if faster_is_smaller else ours / theirs):.2g}x"


def table(model: str, ours: dict, theirs: dict, args) -> list[str]:
    """Markdown lines comparing the two rows of one model."""
    b = args.batch
    first = min(args.horizons)
    rows = [
        (
            "start-up to the first forward rollout [s]",
            _seconds(ours["startup_s"]),
            _seconds(theirs["startup_s"]),
            "",
        ),
        (
            f"forward, batch 1 [robot-steps/s] ({first} steps)",
            _rate(ours["forward_b1"]),
            _rate(theirs["forward_b1"]),
            _ratio(ours["forward_b1"], theirs["forward_b1"], False),
        ),
        (
            f"forward, batch {b} [robot-steps/s]",
            _rate(ours["forward_batch"]),
            _rate(theirs["forward_batch"]),
            _ratio(ours["forward_batch"], theirs["forward_batch"], False),
        ),
        (
            f"tdphys: first forward at batch {b} (compile) [s]",
            _seconds(ours["forward_batch_first_s"]),
            "",
            "",
        ),
    ]
    rows.append(
        (
            f"tdphys: first taped rollout ({first} steps), compiling the backward [s]",
            _seconds(ours[f"grad{first}_first_s"]),
            "",
            "",
        )
    )
    for steps in sorted(args.horizons):
        g = f"grad{steps}"
        rows += [
            (
                f"gradient of {steps} steps, tdphys tape / MuJoCo FD rollouts [s]",
                _seconds(ours[g + "_s"]),
                _seconds(theirs[g + "_fd_s"])
                + f" ({theirs[g + '_fd_rollouts']:,} rollouts, {theirs[g + '_fd_steps']:,} steps)",
                _ratio(ours[g + "_s"], theirs[g + "_fd_s"]),
            ),
            (
                f"gradient of {steps} steps, MuJoCo FD Jacobians + sweep [s]",
                "",
                _seconds(theirs[g + "_sweep_s"]) + f" ({theirs[g + '_sweep_steps']:,} steps; "
                f"cos to FD rollouts {theirs[g + '_cos']:.3f})",
                _ratio(ours[g + "_s"], theirs[g + "_sweep_s"]),
            ),
            (
                f"gradient of {steps} steps finite (norm)",
                f"{'yes' if ours[g + '_finite'] else 'NO'} ({ours[g + '_norm']:.3g})",
                f"{'yes' if theirs[g + '_finite'] else 'NO'} ({theirs[g + '_norm']:.3g})",
                "",
            ),
            (
                f"gradient of {steps} steps: cos(tdphys, MuJoCo FD rollouts)",
                f"{cosine(ours[g + '_values'], theirs[g + '_values']):.2f}",
                "",
                "",
            ),
        ]
    rows.append(
        (
            "peak memory of the process [MB]",
            f"{ours['peak_mb']:.0f}",
            f"{theirs['peak_mb']:.0f}",
            "",
        )
    )
    head = (
        f"| {model} | tdphys ({ours['precision']}, {ours['threads']} threads) | "
        f"{theirs['engine']} ({theirs['threads']} threads) | tdphys speed-up |"
    )
    return [head, "|---|---|---|---|"] + [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]


def main(argv=None):
    from tdphys.argtypes import MAX_STEPS, whole

    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--models",
        default=",".join(MODELS),
        help="gymnasium MuJoCo models, comma-separated (default: %(default)s)",
    )
    p.add_argument("--batch", type=whole(1, 1_000_000), default=256)
    p.add_argument(
        "--horizons",
        default="100,1000",
        help="rollout lengths [steps] of the gradients; the shortest is also the "
        "forward rollouts' (default: %(default)s)",
    )
    p.add_argument("--repeats", type=whole(1, 1000), default=3)
    p.add_argument(
        "--precision",
        choices=("f32", "f64"),
        default="f32",
        help="tdphys's floats (MuJoCo's are f64)",
    )
    p.add_argument("--eps", type=float, default=1e-6, help="MuJoCo's finite-difference step")
    p.add_argument(
        "--warm-cache",
        action="store_true",
        help="let tdphys use the kernel cache as found (default: an empty one)",
    )
    p.add_argument("--markdown", metavar="FILE", help="also write the tables to FILE")
    p.add_argument(
        "--child", nargs=3, metavar=("ENGINE", "MODEL", "STARTED"), help=argparse.SUPPRESS
    )
    args = p.parse_args(argv)
    try:
        args.horizons = [whole(1, MAX_STEPS)(h) for h in args.horizons.split(",")]
    except (argparse.ArgumentTypeError, ValueError) as exc:
        p.error(f"--horizons: {exc}")
    if not math.isfinite(args.eps) or args.eps <= 0:
        p.error("--eps: give a positive number, e.g. 1e-6")
    if args.child:
        engine, model, started = args.child
        measure_one = measure_tdphys if engine == "tdphys" else measure_mujoco
        print(
            "RESULT " + json.dumps(measure_one(gym_path(model), args, float(started))), flush=True
        )
        return 0
    try:
        import gymnasium  # noqa: F401  (the models' files)
        import mujoco  # noqa: F401
    except ImportError as exc:
        p.error(f"{exc.name} is not installed; fix: pip install mujoco gymnasium")
    models = args.models.split(",")
    for model in models:
        if not os.path.isfile(gym_path(model)):
            p.error(
                f"--models: the installed gymnasium has no {model}.xml; give names from "
                f"{os.path.dirname(gym_path(model))}, e.g. {','.join(MODELS)}"
            )
    out = None
    if args.markdown:
        from tdphys.errors import FileError
        from tdphys.paths import output_file

        try:
            out = output_file(args.markdown, "--markdown")
        except FileError as exc:
            p.error(str(exc))
    command = (
        f"bench/peers.py --models {args.models} --batch {args.batch} --horizons "
        f"{','.join(map(str, args.horizons))} --repeats {args.repeats} --precision "
        f"{args.precision}{' --warm-cache' if args.warm_cache else ''}; "
        f"{os.cpu_count()} cores"
    )
    lines = [command, ""]
    print(lines[0], flush=True)
    for model in models:
        refused = refusal(model)
        if refused:
            note = f"**{model}**: tdphys refuses the file, so there is no comparison: {refused}"
            lines += [note, ""]
            print(lines[-2], flush=True)
            continue
        ours, theirs = measure("tdphys", model, args), measure("mujoco", model, args)
        block = table(model, ours, theirs, args)
        print("\n".join(block) + "\n", flush=True)
        lines += block + [""]
    if out is not None:
        out.write_text("\n".join(lines))
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
