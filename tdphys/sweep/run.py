"""A sweep's trials on Ray Tune (docs/sweep.md): each trial is one optimisation run
(tdphys.optim.run) in its own run folder, on a local Ray started for the sweep or on an
existing cluster (`--address`); a progress line while they run; sweep.json, sweep.md and
sweep.png at the end (tdphys/sweep/summary.py).

A trial resumes from its run folder's checkpoint when it has one (optim/checkpoints.py, every
--checkpoint-min minutes) and is skipped when its metrics.json exists, so running the same
command again after a kill goes on where the sweep stood.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
import traceback
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from ..errors import TdphysError
from .summary import read_json as _read_json
from .summary import write_text as _write_text


def main(args) -> int:
    """`tdphys sweep` (args from tdphys/sweep/args.py): plan, run what is not finished,
    summarise. Exit status 0 when every trial has finished (whatever its success), 1 when
    some failed or were stopped (run the same command again to go on)."""
    from ..optim.experiment import load_experiment
    from . import summary
    from .plan import grid, plan, setting_name

    try:
        settings = grid(args.sets)
    except ValueError as exc:
        raise TdphysError(str(exc)) from None
    name = load_experiment(args.experiment).name
    out = Path(args.out or Path("runs") / "sweeps" / name).resolve()
    trials = plan(args.experiment, settings, args.seeds, out, args.budget)
    pending = [t for t in trials if not t.finished]
    if pending:
        _import_ray()  # its absence said before any folder is made
    _make_folders(out, pending)
    print(
        f"sweep {name}: {_count(len(settings), 'setting')} x {_count(len(args.seeds), 'seed')}"
        f" = {_count(len(trials), 'trial')}, {len(trials) - len(pending)} finished before; "
        f"results in {out}/",
        flush=True,
    )
    if pending:
        run_trials(
            pending,
            out,
            done_before=len(trials) - len(pending),
            total=len(trials),
            workers=args.workers,
            threads=args.threads,
            address=args.address,
            arch=args.arch,
            checkpoint_s=60.0 * args.checkpoint_min,
            video=args.video,
        )
    sweep = {
        "experiment": name,
        "file": str(Path(args.experiment).resolve()),
        "seeds": list(args.seeds),
        "budget": sorted({t.budget for t in trials}),
        "seed_values": sorted({k for t in trials for k in t.record()["seed_values"]}),
        "threads_per_trial": args.threads,
        "arch": args.arch,
        "settings": [],
    }
    if len(sweep["budget"]) == 1:
        sweep["budget"] = sweep["budget"][0]
    for values in settings:
        mine = [t for t in trials if t.values == values]
        sweep["settings"].append(
            summary.summarise_setting(
                setting_name(values),
                values,
                mine[0].optimizer,
                [summary.read_trial(t.dir, out) for t in mine],
                mine[0].metric,
            )
        )
    files = summary.write(sweep, out)
    print(summary.markdown(sweep).split("\n\n", 2)[-1], end="")
    print(f"wrote {', '.join(p.name for p in files.values())} to {out}/")
    left = [t for t in trials if not t.finished]
    for t in left:
        record = summary.read_trial(t.dir, out)
        print(
            f"  {t.setting + ' ' if t.setting else ''}seed {t.seed}: "
            + (
                f"failed ({record['error']}), see {t.dir / 'error.txt'}"
                if record["status"] == "failed"
                else "not finished"
            ),
            file=sys.stderr,
        )
    if left:
        print(
            f"sweep: {len(left)} of {len(trials)} trials not finished; run the same command "
            "again to go on (finished trials are kept, stopped ones resume)",
            file=sys.stderr,
        )
        return 1
    return 0


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _make_folders(out: Path, trials) -> None:
    """Each pending trial's run folder with its trial.json (kept where one exists: it lists
    the trial's earlier starts)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        for t in trials:
            t.dir.mkdir(parents=True, exist_ok=True)
            path = t.dir / "trial.json"
            had = _read_json(path) or {}
            _write_json(path, {**t.record(), "starts": had.get("starts", [])})
    except OSError as exc:
        raise TdphysError(
            f"cannot write the sweep folder {out} ({exc})\n  fix: give --out a "
            "folder you can write to"
        ) from None


def start_local_ray(cpus: int) -> None:
    """Start a Ray instance on this machine with `cpus` CPUs, whose workers import this
    checkout's tdphys (the folder holding it goes first on their PYTHONPATH)."""
    ray = _import_ray()
    root = str(Path(__file__).resolve().parents[2])
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([root] + ([before] if before else []))
    try:
        ray.init(
            address="local",
            num_cpus=cpus,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
        )
    finally:
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before


def run_trials(
    trials,
    out: Path,
    done_before: int,
    total: int,
    workers: int | None,
    threads: int,
    address: str | None,
    arch: str,
    checkpoint_s: float,
    video: bool,
) -> None:
    """Run `trials` on Ray Tune, at most `workers` at once, each on `threads` Taichi threads
    (one Ray CPU each); in the Ray already started in this process, else on the cluster at
    `address`, else on a local Ray started here (and stopped at the end)."""
    ray = _import_ray()
    from ray import tune

    started = not ray.is_initialized()
    if started and address:
        fix = (
            "  fix: start one with `ray start --head` and give the address it prints (a "
            "cluster with token authentication also needs RAY_AUTH_MODE=token here: "
            "docs/sweep.md), or drop --address for a local Ray"
        )
        _check_reachable(address, fix)
        try:
            ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
        except Exception as exc:  # noqa: BLE001 - Ray raises several kinds
            raise TdphysError(
                f"--address {address}: cannot connect to a Ray cluster ({exc})\n{fix}"
            ) from None
    elif started:
        workers = workers or max(1, (os.cpu_count() or 1) // threads)
        start_local_ray(workers * threads)
    resources = {"cpu": threads}
    if arch == "cuda":
        resources["gpu"] = 1.0 / (workers or 1)  # the trials at once share one GPU
    specs = [
        {
            "dir": str(t.dir),
            "out": str(out),
            "file": t.file,
            "values": t.run_values,
            "budget": t.budget,
            "arch": arch,
            "threads": threads,
            "checkpoint_s": checkpoint_s,
            "video": video,
            "name": f"{t.setting + ' ' if t.setting else ''}seed {t.seed}",
        }
        for t in trials
    ]
    storage = out / ".tune"  # Tune's own records; the sweep does not read them
    shutil.rmtree(storage, ignore_errors=True)
    progress = _progress_callback(tune, done_before, total, len(trials))
    try:
        tune.Tuner(
            tune.with_resources(_trial, resources),
            param_space={"trial": tune.grid_search(specs)},
            tune_config=tune.TuneConfig(
                max_concurrent_trials=workers,
                reuse_actors=True,
                trial_name_creator=_tune_name,
                trial_dirname_creator=_tune_name,
            ),
            run_config=tune.RunConfig(
                name="trials",
                storage_path=str(storage),
                verbose=0,
                callbacks=[progress],
                failure_config=tune.FailureConfig(max_failures=0),
            ),
        ).fit()
    finally:
        if started:
            ray.shutdown()


def _check_reachable(address: str, fix: str, timeout_s: float = 10.0) -> None:
    """A HOST:PORT (or ray://HOST:PORT) address must accept a connection within `timeout_s`:
    ray.init would otherwise retry for minutes. 'auto' and the like are left to ray.init."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise TdphysError(f"--address {address}: nothing answers there ({exc})\n{fix}") from None


def _tune_name(trial) -> str:
    """Tune's name for a trial (and its folder under .tune/): the run folder's, e.g.
    'seed_3' or 'optimizer.lr=0.001+seed_3'."""
    folder = Path(trial.config["trial"]["dir"])
    out = Path(trial.config["trial"]["out"])
    return "+".join(folder.relative_to(out).parts)


def _import_ray():
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # no Tune status tables
    try:
        import ray
        from ray import tune  # noqa: F401
    except ImportError:
        raise TdphysError(
            "tdphys sweep runs on Ray Tune, which is not installed\n  fix: pip "
            "install 'ray[tune]' (or pip install -e '.[sweep]')"
        ) from None
    return ray


def _progress_callback(tune, done_before: int, total: int, to_run: int):
    """A Tune callback printing 'sweep: D/N trials done, K met, F failed, R running; ETA T'
    when a trial ends and every PROGRESS_S seconds (ETA: the mean time per trial ended so far
    in this command, times those left)."""

    class Progress(tune.Callback):
        def __init__(self):
            self.t0, self.last = time.perf_counter(), 0.0
            self.ended = self.met = self.failed = self.running = 0

        def on_trial_start(self, iteration, trials, trial, **info):
            self.running += 1

        def on_trial_complete(self, iteration, trials, trial, **info):
            result = trial.last_result or {}
            if result.get("failed") or "success" not in result:
                self.failed += 1
            elif result["success"]:
                self.met += 1
            self._ended()

        def on_trial_error(self, iteration, trials, trial, **info):
            self.failed += 1
            self._ended()

        def _ended(self):
            self.ended += 1
            self.running = max(0, self.running - 1)
            self.line()

        def on_step(self, iteration, trials, **info):
            if time.perf_counter() - self.last >= PROGRESS_S:
                self.line()

        def line(self):
            self.last = time.perf_counter()
            elapsed = self.last - self.t0
            left = to_run - self.ended
            eta = _duration(elapsed / self.ended * left) if self.ended else "after the first"
            print(
                f"sweep: {done_before + self.ended}/{total} trials done, {self.met} met, "
                f"{self.failed} failed, {self.running} running; ETA {eta}",
                flush=True,
            )

    return Progress()


PROGRESS_S = 60.0


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _trial(config: dict) -> None:
    """One trial, in a Ray worker: the run in its folder (Python's output to log.txt there;
    an exception's traceback to error.txt), then its outcome reported to Tune."""
    from ray import tune

    spec = config["trial"]
    run_dir = Path(spec["dir"])
    if spec["arch"] == "cpu":  # read by ti.init: set before Taichi starts
        os.environ["TI_CPU_MAX_NUM_THREADS"] = str(spec["threads"])
    t0 = time.perf_counter()
    with open(run_dir / "log.txt", "a") as log, redirect_stdout(log), redirect_stderr(log):
        try:
            report = _run(spec, run_dir)
        except Exception as exc:  # noqa: BLE001 - any failure is the trial's, written down
            text = f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}"
            print(text, file=log)
            _write_text(run_dir / "error.txt", text)
            report = {"failed": True, "error": text.splitlines()[0]}
    report["trial_s"] = time.perf_counter() - t0
    tune.report(report)


def _run(spec: dict, run_dir: Path) -> dict:
    """The optimisation run of trial `spec` in `run_dir`, resumed from its checkpoint when it
    has one, and its outputs (write_run: metrics.json marks the trial done). Returns
    {success, evaluations, wall_s}."""
    from .. import backend
    from ..optim import load_experiment, run
    from ..optim.checkpoints import write_checkpoint
    from ..optim.outputs import metrics, write_run

    exp = load_experiment(spec["file"], spec["values"])
    (run_dir / "error.txt").unlink(missing_ok=True)
    resume = _checkpoint(run_dir)
    _note_start(run_dir, 0 if resume is None else int(resume.get("evaluations", 0)))
    if backend.running():  # a fresh Taichi: the same field ids as the last trial's,
        backend.reset()  # so its kernels come from the offline cache
    cpu = spec["arch"] == "cpu"
    backend.init(spec["arch"], exp.precision, cpu_threads=spec["threads"] if cpu else None)
    every = float(spec["checkpoint_s"])
    result = run(
        exp,
        budget=spec["budget"],
        arch=spec["arch"],
        progress=False,
        resume=resume,
        checkpoint=(lambda r: write_checkpoint(r, run_dir)) if every > 0 else None,
        checkpoint_s=every,
    )
    if result.stop_reason == "interrupted":  # stopped from outside: not a finished run
        write_checkpoint(result, run_dir)
        raise RuntimeError("the run was interrupted; its checkpoint was saved")
    write_run(result, run_dir, video=spec["video"])
    m = metrics(result)
    return {"success": bool(m["success"]), "evaluations": m["evaluations"], "wall_s": m["wall_s"]}


def _checkpoint(run_dir: Path) -> dict | None:
    """The run folder's checkpoint (checkpoints.load_state), None when it has none yet."""
    from ..optim.checkpoints import load_state

    try:
        return load_state(run_dir)
    except TdphysError:
        if (run_dir / "history.json").is_file():  # written with every checkpoint
            raise
        return None


def _write_json(path: Path, data) -> None:
    _write_text(path, json.dumps(data, indent=2) + "\n")


def _note_start(run_dir: Path, evaluations: int) -> None:
    """Add this start to trial.json's `starts`: resumed_from_evaluation (0: a fresh start),
    and the machine and process that run it."""
    import socket

    path = run_dir / "trial.json"
    record = _read_json(path) or {}
    record.setdefault("starts", []).append(
        {"resumed_from_evaluation": evaluations, "host": socket.gethostname(), "pid": os.getpid()}
    )
    _write_json(path, record)
