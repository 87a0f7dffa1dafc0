"""Speed of the differentiable camera (tdphys/vision, docs/camera.md) on robots/cart_pendulum.yaml.

For each row HEIGHTxWIDTHxBATCH of --rows (default: 96 x 288 pixels and 24 x 72 pixels, the
pixels experiment's size, at batch 1 and 16) and each --precision, a fresh process with an
empty kernel cache builds the robot with its camera `front` resized to HEIGHT x WIDTH
(dataclasses.replace on the loaded Robot), runs a --steps step rollout of BATCH worlds under
random cart velocities (the physics is neither timed nor taped) and measures, for the camera only:

  forward_ms_per_step   render(t) (layers, composite, depth) averaged over t = 1..T; t = 0 is
                        the first call, which compiles: first_render_s
  fwd_bwd_ms_per_step   render(t) + loss(t) for t = 0..T under sim.tape(renderer), where
                        loss(t) sums image[t], then the tape's exit (the backward: the three
                        adjoint kernels and the layers recomputed for every step), divided by
                        T + 1; from a second taped pass (warm)
  backward_ms_per_step  the tape's exit alone, divided by T + 1 (same pass)
  first_backward_s      the first tape's exit, which compiles the adjoint kernels
  peak_rss_mb           resource.getrusage maxrss of that process at the end

The *_ms_per_step columns are process CPU time (time.process_time, all threads), which on a
shared machine is steadier than wall-clock time; *_wall_ms give the wall-clock times and
first_* are wall-clock seconds (first_*_cpu_s in --json). With --threads 1 CPU and wall time
agree on an idle machine. `--kernels` adds one row per kernel (warm, averaged over --repeat
launches at t = T).
`--json` prints one JSON object per row, else a table. Timings are for information only; no
test asserts them.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = (
    "precision",
    "height",
    "width",
    "batch",
    "steps",
    "threads",
    "first_render_s",
    "forward_ms_per_step",
    "first_backward_s",
    "fwd_bwd_ms_per_step",
    "backward_ms_per_step",
    "forward_wall_ms",
    "fwd_bwd_wall_ms",
    "peak_rss_mb",
)


def measure(args) -> list:
    """The rows of one configuration (--one HxWxB), in this process."""
    import dataclasses

    import numpy as np
    import taichi as ti

    import tdphys
    from tdphys.vision import Renderer

    height, width, batch = (int(v) for v in args.one.split("x"))
    tdphys.init("cpu", args.precision, cpu_threads=args.threads)
    robot = tdphys.load(args.robot)
    cameras = tuple(
        dataclasses.replace(c, height=height, width=width) if c.name == args.camera else c
        for c in robot.cameras
    )
    robot = dataclasses.replace(robot, cameras=cameras)
    T = args.steps
    sim = tdphys.Simulation(robot, batch=batch, steps=T)
    sim.set_controls(np.random.default_rng(0).uniform(-4, 4, (T, batch, sim.n_motors)))
    sim.rollout()
    cam = Renderer(sim, args.camera)

    @ti.kernel
    def loss(t: ti.i32):
        for b, y, x, c in ti.ndrange(batch, height, width, 3):
            sim.loss[None] += cam.image[t, b, y, x, c]

    def clock(fn, *a):
        wall, cpu = time.perf_counter(), time.process_time()
        fn(*a)
        ti.sync()
        return np.array([time.perf_counter() - wall, time.process_time() - cpu])

    forward = [clock(cam.render, t) for t in range(T + 1)]
    backward, taped = [], []
    for _ in range(2):  # the first pass compiles the adjoint kernels
        start = np.array([time.perf_counter(), time.process_time()])
        with sim.tape(cam):
            for t in range(T + 1):
                cam.render(t)
                loss(t)
            ti.sync()
            inside = np.array([time.perf_counter(), time.process_time()])
        ti.sync()
        end = np.array([time.perf_counter(), time.process_time()])
        backward.append(end - inside)
        taped.append(end - start)
    pos_grad = sim.state.pos.grad.to_numpy()  # d loss / d body positions, all steps
    assert np.isfinite(pos_grad).all() and np.abs(pos_grad).max() > 0
    fwd = np.mean(forward[1:], axis=0)
    ms = 1e3 / (T + 1)
    row = {
        "precision": args.precision,
        "height": height,
        "width": width,
        "batch": batch,
        "steps": T,
        "threads": args.threads or os.cpu_count(),
        "first_render_s": round(forward[0][0], 2),
        "forward_ms_per_step": round(1e3 * fwd[1], 1),
        "first_backward_s": round(backward[0][0], 2),
        "fwd_bwd_ms_per_step": round(ms * taped[1][1], 1),
        "backward_ms_per_step": round(ms * backward[1][1], 1),
        "forward_wall_ms": round(1e3 * fwd[0], 1),
        "fwd_bwd_wall_ms": round(ms * taped[1][0], 1),
        "backward_wall_ms": round(ms * backward[1][0], 1),
        "first_render_cpu_s": round(forward[0][1], 2),
        "first_backward_cpu_s": round(backward[0][1], 2),
    }
    rows = [row]
    if args.kernels:
        rows += kernel_rows(cam, T, args.repeat, row)
    rss = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    for r in rows:
        r["peak_rss_mb"] = rss
    return rows


def kernel_rows(cam, t: int, repeat: int, base: dict) -> list:
    """Warm milliseconds per launch of each of the renderer's kernels at step t."""
    import taichi as ti

    cam._layers(t)  # layers and transmittance of step t, as the backward pass sees them
    launches = [
        ("k_search (forward only)", lambda: cam.k_search(t)),
        ("k_layers", lambda: cam.k_layers(t)),
        ("k_opacity", lambda: cam.k_opacity()),
        ("k_transmit", lambda: (cam.log_t.fill(0.0), cam.k_transmit())),
        ("k_clear_image", lambda: cam.k_clear_image(t)),
        ("k_composite", lambda: cam.k_composite(t)),
        ("k_depth (forward only)", lambda: cam.k_depth(t)),
        ("k_composite.grad", lambda: cam.k_composite.grad(t)),
        ("k_transmit.grad", lambda: cam.k_transmit.grad()),
        ("k_opacity.grad", lambda: cam.k_opacity.grad()),
        ("k_layers.grad", lambda: cam.k_layers.grad(t)),
    ]
    rows = []
    for name, fn in launches:
        fn()
        ti.sync()
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(repeat):
            fn()
        ti.sync()
        rows.append(
            {k: base[k] for k in ("precision", "height", "width", "batch", "threads")}
            | {
                "kernel": name,
                "ms_per_launch": round(1e3 * (time.process_time() - cpu) / repeat, 2),
                "wall_ms_per_launch": round(1e3 * (time.perf_counter() - wall) / repeat, 2),
            }
        )
    return rows


def main():
    from tdphys.argtypes import MAX_STEPS, whole

    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--robot", default=str(ROOT / "robots" / "cart_pendulum.yaml"))
    p.add_argument("--camera", default="front")
    p.add_argument(
        "--rows",
        default="96x288x16,24x72x1,24x72x16",
        help="HEIGHTxWIDTHxBATCH,... (pixels, pixels, worlds)",
    )
    p.add_argument("--precision", default="f32,f64", help="f32, f64 or both (comma)")
    p.add_argument("--steps", type=whole(1, MAX_STEPS), default=10)
    p.add_argument(
        "--threads",
        type=whole(1, 1024),
        default=None,
        help="CPU threads for Taichi (default: all cores)",
    )
    p.add_argument("--kernels", action="store_true", help="also time each kernel")
    p.add_argument(
        "--repeat", type=whole(1, 10**6), default=20, help="launches per kernel with --kernels"
    )
    p.add_argument("--json", action="store_true")
    p.add_argument("--one", help=argparse.SUPPRESS)  # internal: one row in this process
    args = p.parse_args()
    if args.one:
        for row in measure(args):
            print(json.dumps(row), flush=True)
        return
    rows = []
    for precision in args.precision.split(","):
        for spec in args.rows.split(","):
            cmd = (
                [
                    sys.executable,
                    __file__,
                    "--one",
                    spec,
                    "--precision",
                    precision,
                    "--robot",
                    args.robot,
                    "--camera",
                    args.camera,
                    "--steps",
                    str(args.steps),
                    "--repeat",
                    str(args.repeat),
                ]
                + (["--kernels"] if args.kernels else [])
                + (["--threads", str(args.threads)] if args.threads else [])
            )
            with tempfile.TemporaryDirectory() as cache:  # cold: an empty kernel cache
                env = dict(os.environ, TI_OFFLINE_CACHE_FILE_PATH=cache)
                out = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if out.returncode:
                sys.exit(f"{spec} {precision} failed:\n{out.stderr[-3000:]}")
            for line in out.stdout.splitlines():
                if line.startswith("{"):
                    row = json.loads(line)
                    rows.append(row)
                    if args.json:
                        print(json.dumps(row), flush=True)
    if not args.json:
        _table([r for r in rows if "kernel" not in r], COLUMNS)
        kernels = [r for r in rows if "kernel" in r]
        if kernels:
            print()
            _table(
                kernels,
                (
                    "precision",
                    "height",
                    "width",
                    "batch",
                    "threads",
                    "kernel",
                    "ms_per_launch",
                    "wall_ms_per_launch",
                ),
            )


def _table(rows: list, columns: tuple):
    cells = [[str(c) for c in columns]] + [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    for row in cells:
        print("  ".join(cell.rjust(w) for cell, w in zip(row, widths)), flush=True)


if __name__ == "__main__":
    main()
