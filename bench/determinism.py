"""Is a taped run bit-reproducible, and if not, which kernel breaks it? (docs/determinism.md)

    python bench/determinism.py experiments/arm_reach.yaml --duration 0.5 --budget 4
    python bench/determinism.py experiments/arm_reach.yaml --duration 0.3 --kernels

Default: runs the experiment's optimisation --runs times, each in a fresh process (Taichi's
thread count from --threads, else its default; a list such as 1,2,3 gives one run per count),
and compares their history.json and metrics.json as the run writes them, wall times left out;
prints "identical" or the first entry that differs. Exit status 0 when identical, 1 when not.

--kernels: in one process, one taped update (forward and backward) from the same random
parameters, --runs times, hashing every field of the simulation, the controller, the task and
the camera (values and gradients) after each kernel launch; prints the first launch whose
outputs differ between the runs (the kernel whose sums take another order each run) and the
fields it changed, then the next few launches that change further fields.

--time N: seconds per taped update (forward and backward, the optimiser's own work left out)
of the experiment, the median of N after one that compiles, in this process.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# what changes from run to run by design: timings
TIMINGS = ("wall_s", "first_eval_s")


def shortened(exp, duration: float | None):
    """`exp` with its task (and confirmation) shortened to `duration` [s], if given."""
    if duration is None:
        return exp
    task = dataclasses.replace(exp.task, duration=float(duration))
    if task.confirm is not None:
        task = dataclasses.replace(task, confirm=float(duration))
    return dataclasses.replace(exp, task=task)


def without_timings(data):
    """history (a list of dicts) or metrics (a dict) without the wall-time keys."""
    if isinstance(data, list):
        return [without_timings(entry) for entry in data]
    return {k: v for k, v in data.items() if k not in TIMINGS}


_RUN = """
import json, sys
sys.path.insert(0, sys.argv[1])
from bench.determinism import shortened
from tdphys.optim import load_experiment, run
from tdphys.optim.outputs import metrics
exp = shortened(load_experiment(sys.argv[2]), None if sys.argv[3] == "-" else float(sys.argv[3]))
result = run(exp, optimizer=None if sys.argv[4] == "-" else sys.argv[4], budget=int(sys.argv[5]),
             progress=False)
json.dump({"history": result.history, "metrics": metrics(result)}, open(sys.argv[6], "w"),
          indent=2)
"""


def run_in_process(
    experiment: str, duration, optimizer, budget: int, threads, out: Path, root: Path = ROOT
) -> dict:
    """One optimisation in a fresh Python process: {"history": [...], "metrics": {...}} as
    history.json and metrics.json would hold them. threads: Taichi's CPU thread count (None:
    its default)."""
    env = dict(os.environ)
    if threads:
        env["TI_CPU_MAX_NUM_THREADS"] = str(threads)
    subprocess.run(
        [
            sys.executable,
            "-c",
            _RUN,
            str(root),
            experiment,
            "-" if duration is None else str(duration),
            optimizer or "-",
            str(budget),
            str(out),
        ],
        env=env,
        check=True,
    )
    return json.loads(out.read_text())


def first_difference(runs: list) -> str | None:
    """None when every run's history and metrics equal the first's (timings aside), else
    where the first difference is."""
    ref = runs[0]
    for k, other in enumerate(runs[1:], 1):
        a, b = without_timings(ref["history"]), without_timings(other["history"])
        for i, (ea, eb) in enumerate(zip(a, b)):
            if ea != eb:
                keys = {
                    key: (ea.get(key), eb.get(key))
                    for key in sorted(set(ea) | set(eb))
                    if ea.get(key) != eb.get(key)
                }
                return f"run {k}: history entry {i} differs: {keys}"
        if len(a) != len(b):
            return f"run {k}: {len(b)} history entries, run 0 has {len(a)}"
        ma, mb = without_timings(ref["metrics"]), without_timings(other["metrics"])
        if ma != mb:
            return f"run {k}: metrics differ: " + str(
                {key: (ma.get(key), mb.get(key)) for key in ma if ma.get(key) != mb.get(key)}
            )
    return None


# ------------------------------------------------------------------------- per-kernel hashes
def _fields_of(obj, prefix: str) -> dict:
    """{name: field} of every Taichi field held by obj (attributes and lists of them)."""
    import taichi as ti

    out = {}
    for name, value in vars(obj).items():
        if isinstance(value, ti.Field):
            out[f"{prefix}.{name}"] = value
        elif isinstance(value, (list, tuple)):
            out.update(
                {
                    f"{prefix}.{name}[{i}]": item
                    for i, item in enumerate(value)
                    if isinstance(item, ti.Field)
                }
            )
    return out


class _Snapshot:
    """Digests of every field's values and gradients, read in a few launches
    (backend.FieldBlock) rather than one per field."""

    def __init__(self, fields: dict):
        import taichi as ti

        from tdphys import backend

        real = backend.current().real
        blockable = {
            n: f
            for n, f in fields.items()
            if f.dtype == real and (not isinstance(f, ti.MatrixField) or f.ndim == 1)
        }
        self.values = backend.FieldBlock(blockable)
        self.grads = backend.FieldBlock(
            {n: f for n, f in blockable.items() if backend._has_gradient(f)}
        )
        self.others = {n: f for n, f in fields.items() if n not in blockable}

    def arrays(self) -> dict:
        """{name: array} of every field's values and gradients (name + ".grad")."""
        return {
            **self.values.read(),
            **{n + ".grad": a for n, a in self.grads.read(grad=True).items()},
            **{n: f.to_numpy() for n, f in self.others.items()},
        }

    def restore(self, arrays: dict) -> None:
        """Set every field's values and gradients to `arrays` (from arrays())."""
        self.values.write({n: arrays[n] for n in self.values.fields})
        self.grads.write({n: arrays[n + ".grad"] for n in self.grads.fields}, grad=True)
        for n, f in self.others.items():
            f.from_numpy(arrays[n])

    def __call__(self) -> dict:
        return {
            n: hashlib.blake2b(np.ascontiguousarray(a).tobytes(), digest_size=8).digest()
            for n, a in self.arrays().items()
        }


def kernel_hashes(exp, seed: int = 0, runs: int = 2) -> list:
    """For each run: [(kernel label, {field: digest}) after each launch] of one taped update
    of `exp` from the same random parameters."""
    import taichi as ti
    from taichi.lang import impl, kernel_impl

    import tdphys
    from tdphys.optim.builds import build
    from tdphys.optim.rollouts import next_batch, start_sampler, taped, update_batch
    from tdphys.optim.warm_start import initial_x

    tdphys.init("cpu", exp.precision)
    robot = tdphys.load(exp.robot)
    steps = int(round(exp.task.duration / robot.solver.dt))
    sim, task, params = build(exp, robot, steps, batch=update_batch(exp))
    fields = {**_fields_of(sim, "sim"), **_fields_of(task, "task")}
    ctl = params.controller
    if ctl is not None:
        fields.update(_fields_of(ctl, "controller"))
        source = getattr(ctl, "source", None)
        if source is not None:
            fields.update(_fields_of(source, "camera"))
    snapshot = _Snapshot(fields)
    x0 = initial_x(exp, params)
    x = x0 + 0.1 * np.random.default_rng(seed).normal(size=x0.shape)  # every weight in play
    sampler = start_sampler(exp, robot, sim)
    if exp.task.targets is not None:
        task.rng = np.random.default_rng(seed)
    runtime = impl.get_runtime()
    original = kernel_impl.Kernel.launch_kernel
    log, busy = [], [False]

    def launch(self, t_kernel, *args):
        result = original(self, t_kernel, *args)
        if not busy[0] and recording[0]:
            busy[0] = True
            tape, runtime.target_tape = runtime.target_tape, None  # not on the tape
            try:
                ti.sync()
                mode = (
                    ""
                    if self.autodiff_mode.name == "NONE"
                    else "." + self.autodiff_mode.name.lower()
                )
                log.append((self.func.__qualname__ + mode, snapshot()))
            finally:
                busy[0], runtime.target_tape = False, tape
        return result

    recording = [False]
    out = []
    params.set(sim, x)
    next_batch(exp, sim, task, sampler, sim.batch)
    start = snapshot.arrays()  # every run starts from the same values and gradients
    kernel_impl.Kernel.launch_kernel = launch
    try:
        for _ in range(runs):
            snapshot.restore(start)
            log.clear()
            recording[0] = True
            taped(sim, task, params)
            recording[0] = False
            out.append(list(log))
    finally:
        kernel_impl.Kernel.launch_kernel = original
    return out


def report_kernels(logs: list, more: int = 8) -> list:
    """Lines naming the first launch whose outputs differ between runs and the next `more`
    launches that change further fields."""
    ref, lines, differing = logs[0], [], set()
    for other in logs[1:]:
        for i, ((label, a), (_, b)) in enumerate(zip(ref, other)):
            changed = {n for n in a if a[n] != b[n]} - differing
            if changed:
                lines.append(f"launch {i} {label}: " + ", ".join(sorted(changed)))
                differing |= changed
                if len(lines) > more:
                    return lines
    return lines


def update_seconds(exp, repeats: int) -> tuple:
    """(first taped update [s], median of `repeats` more [s], median CPU seconds of those
    (every thread of the process)) of `exp` in this process."""
    import time

    import tdphys
    from tdphys.optim.builds import build
    from tdphys.optim.rollouts import next_batch, start_sampler, taped, update_batch
    from tdphys.optim.warm_start import initial_x

    tdphys.init("cpu", exp.precision)
    robot = tdphys.load(exp.robot)
    steps = int(round(exp.task.duration / robot.solver.dt))
    sim, task, params = build(exp, robot, steps, batch=update_batch(exp))
    sampler = start_sampler(exp, robot, sim)
    x0 = initial_x(exp, params)
    x = x0 + 0.1 * np.random.default_rng(0).normal(size=x0.shape)
    times, cpu = [], []
    for _ in range(repeats + 1):
        t, c = time.perf_counter(), time.process_time()
        params.set(sim, x)
        next_batch(exp, sim, task, sampler, sim.batch)
        taped(sim, task, params)
        params.grad(sim)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return times[0], float(np.median(times[1:])), float(np.median(cpu[1:]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("experiment")
    p.add_argument("--duration", type=float, help="[s] shorten the task (default: the file's)")
    p.add_argument("--budget", type=int, default=4, help="simulations per run")
    p.add_argument("--optimizer", choices=["adam", "cmaes"])
    p.add_argument("--runs", type=int, default=2)
    p.add_argument(
        "--threads",
        help="Taichi CPU threads (default: Taichi's), or a list (1,2,3: one run per count)",
    )
    p.add_argument(
        "--kernels",
        action="store_true",
        help="hash every field after each kernel launch of one taped update",
    )
    p.add_argument(
        "--time",
        type=int,
        metavar="N",
        help="seconds per taped update: the median of N (after a compiling one)",
    )
    args = p.parse_args(argv)
    threads = [int(n) for n in args.threads.split(",")] if args.threads else [None]
    if args.time or args.kernels:
        if len(threads) > 1:
            p.error("--time and --kernels take one thread count")
        if threads[0]:
            os.environ["TI_CPU_MAX_NUM_THREADS"] = str(threads[0])
    if args.time:
        from tdphys.optim import load_experiment

        exp = shortened(load_experiment(args.experiment), args.duration)
        first, median, cpu = update_seconds(exp, args.time)
        print(
            json.dumps(
                {
                    "experiment": exp.name,
                    "duration_s": exp.task.duration,
                    "threads": threads[0],
                    "first_update_s": round(first, 2),
                    "update_s": round(median, 4),
                    "update_cpu_s": round(cpu, 4),
                }
            )
        )
        return 0
    if args.kernels:
        from tdphys.optim import load_experiment

        exp = shortened(load_experiment(args.experiment), args.duration)
        logs = kernel_hashes(exp, runs=args.runs)
        print(f"{len(logs[0])} launches per update")
        lines = report_kernels(logs)
        print("\n".join(lines) if lines else "identical")
        return 1 if lines else 0
    if len(threads) > 1:
        args.runs = len(threads)
    with tempfile.TemporaryDirectory() as tmp:
        runs = [
            run_in_process(
                args.experiment,
                args.duration,
                args.optimizer,
                args.budget,
                threads[k % len(threads)],
                Path(tmp) / f"run{k}.json",
            )
            for k in range(args.runs)
        ]
    diff = first_difference(runs)
    print(
        diff
        or f"identical ({args.runs} runs, threads {args.threads or 'default'}, "
        f"{len(runs[0]['history'])} history entries)"
    )
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
