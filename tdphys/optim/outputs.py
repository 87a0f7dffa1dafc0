"""The files of a run folder (docs/experiment-format.md, "Outputs"):

    metrics.json      evaluations, iterations, wall_s, final_loss, the task metrics, ...
    params.json       trained parameters by name, in the Simulation's units (also params.npz,
                      which adds the controller's weights as `controller_theta`)
    history.json      one entry per simulation: evaluation, wall_s, loss, metrics
    curve.png         loss and error vs simulations and vs wall time
    trajectory.npz    the final behaviour: `tdphys simulate` keys + robot_path, robot_yaml,
                      com_offset, target and robot_vars (JSON {var: value}: the robot file's
                      vars the geometry was built with; co-design changes them) (replay:
                      `tdphys view RUN_DIR`)
    controls.npy      that rollout's motor commands (T, M) (robots with motors)
    state.npz         where the optimiser stands and the run's budget, data only (arrays and
                      JSON; `demos/optimize.py --resume RUN_DIR`; checkpoints.py)
    video.mp4         rendered headless by the viewer (skipped with a note if it fails or on
                      Ctrl-C); for a vision controller with its camera's image in a corner
    camera.mp4        (vision controllers) the camera's own images, what the network saw

Every file is written to a temporary name and renamed into place, so a run killed at any
moment leaves each file whole (the last checkpoint, or the finished result). Nothing in a
run folder is read as code: state.npz and params.npz are read with allow_pickle=False.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from ..datafiles import write_atomic, write_json, write_npy, write_npz
from .checkpoints import OLD_STATE_FILE, STATE_FILE, write_state
from .warm_start import source_evaluations

# what write_run may write: a folder holding one of these holds a run
RUN_FILES = (
    "metrics.json",
    "params.json",
    "params.npz",
    "history.json",
    "curve.png",
    "trajectory.npz",
    "controls.npy",
    STATE_FILE,
    "video.mp4",
    "camera.mp4",
    OLD_STATE_FILE,
)
VIDEOS = ("video.mp4", "camera.mp4")

_PER_WORLD = (
    "pos",
    "quat",
    "vel",
    "omega",
    "joint_pos",
    "joint_vel",
    "sensordata",
    "contact_pos",
    "contact_force",
)


def metrics(result) -> dict:
    m = result.metrics_best
    return {
        "experiment": result.experiment.name,
        "optimizer": result.optimizer,
        "precision": result.experiment.precision,
        "stop_reason": result.stop_reason,
        "message": result.message,
        "iterations": result.iterations,
        "evaluations": result.evaluations,
        "success_at_evaluation": result.success_at,
        "wall_s": round(result.wall_s, 3),
        "first_eval_s": round(result.first_eval_s, 3),
        "final_loss": result.loss_best,
        **m,
        "success": bool(m and result.task.success(m) and m.get("confirmed", True)),
        **_warm_start_record(result.experiment),
    }


def _warm_start_record(exp) -> dict:
    """Where a warm-started run (`init_from`) began and the simulations that run had cost
    (they are not in this run's `evaluations`)."""
    if exp.init_from is None:
        return {}
    return {"init_from": exp.init_from, "init_from_evaluations": source_evaluations(exp.init_from)}


def write_run(result, out: str | Path, video: bool = True) -> dict:
    """Write every output of `result` into folder `out`; returns {name: path}. The data
    files come first, the videos last (write_videos; a Ctrl-C while they render skips
    them). A video this call does not write is removed: it would show another run."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    files["metrics"] = write_json(out / "metrics.json", metrics(result))
    files["params"] = write_json(out / "params.json", result.params)
    arrays = {k: np.asarray(v) for k, v in result.params.items()}
    if result.controller_theta is not None:
        arrays["controller_theta"] = np.asarray(result.controller_theta)
    files["params_npz"] = write_npz(out / "params.npz", arrays)
    files["history"] = write_json(out / "history.json", result.history)
    files["curve"] = curve(
        result.history, out / "curve.png", result.experiment.name, result.task.headline
    )
    files["trajectory"] = trajectory(result, out / "trajectory.npz")
    if result.state:
        files["state"] = write_state(result, out)
    (out / OLD_STATE_FILE).unlink(missing_ok=True)
    if video:
        files.update(write_videos(result, out))
    else:
        remove_videos(out)
    return {k: v for k, v in files.items() if v}


def write_videos(result, out: str | Path) -> dict:
    """video.mp4 (and camera.mp4 for a vision controller) of out/trajectory.npz; {name:
    path} of those written. One that fails or is stopped by Ctrl-C is skipped with a note,
    and no part of it is left."""
    out = Path(out)
    remove_videos(out)
    ctl = result.experiment.controller
    camera = ctl.camera if ctl is not None and ctl.type == "vision" else None
    files = {"video": render(out / "trajectory.npz", out / "video.mp4", camera)}
    if camera and files["video"]:
        files["camera"] = render(
            out / "trajectory.npz", out / "camera.mp4", camera, camera_only=True
        )
    return {k: v for k, v in files.items() if v}


def remove_videos(out: str | Path) -> None:
    """Remove the videos of an earlier run from folder `out` (they would show it)."""
    for name in VIDEOS:
        (Path(out) / name).unlink(missing_ok=True)


def trajectory(result, path: Path) -> Path:
    """World 0 of the final rollout with the keys `tdphys simulate` writes, plus target."""
    world_trajectory(result.sim, result.experiment.robot, path, result.task.target_point())
    # the commands of that rollout, (T, M): `tdphys view ROBOT.yaml --controls` replays them
    sim = result.sim
    write_npy(
        path.parent / "controls.npy",
        sim.control.ctrl.to_numpy()[:, 0, : sim.n_motors].astype(float),
    )
    return path


def world_trajectory(sim, robot_path: str, path: Path, target=None) -> Path:
    """World 0 of `sim`'s last rollout as a viewer-ready .npz (`tdphys view FILE`): the keys
    `tdphys simulate` writes, the robot file (path and text), COM offsets, and `target` [m]
    when given."""
    traj = sim.trajectory()
    for key in _PER_WORLD:
        traj[key] = traj[key][:, :1]
    extra = {} if target is None else {"target": target}
    if sim.robot_vars:  # the file's vars this geometry was built with (co-design)
        extra["robot_vars"] = json.dumps(sim.robot_vars)
    write_npz(
        path,
        {
            **traj,
            "robot_path": robot_path,
            "robot_yaml": Path(robot_path).read_text(),
            "com_offset": sim.model.com.to_numpy()[:1],
            **extra,
        },
    )
    return Path(path)


def curve(
    history: list, path: Path, title: str, headline: tuple[str, str] = ("error_m", "m")
) -> Path | None:
    """Loss and the task's headline metric (key, unit) vs simulations and vs wall time, with
    the loss's running best. A loss that goes negative (gait) is drawn on a linear axis."""
    if not history:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ev = np.array([h["evaluation"] for h in history])
    wall = np.array([h["wall_s"] for h in history])
    loss = np.array([h["loss"] for h in history])
    key, unit = headline
    metric = np.array([h[key] for h in history])
    best = np.minimum.accumulate(np.where(np.isfinite(loss), loss, np.inf))
    log_loss = bool(np.all(loss[np.isfinite(loss)] > 0))
    log_metric = key != "speed_mps"
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharey="row")
    for col, (x, label) in enumerate([(ev, "simulations"), (wall, "wall time [s]")]):
        draw = axes[0, col].semilogy if log_loss else axes[0, col].plot
        draw(x, loss, ".", ms=3, alpha=0.5, label="loss")
        draw(x, best, "-", label="best so far")
        draw = axes[1, col].semilogy if log_metric else axes[1, col].plot
        draw(
            x,
            np.maximum(metric, 1e-6) if log_metric else metric,
            ".",
            ms=3,
            label=f"{key} [{unit}]",
        )
        if key == "error_m" and "speed_mps" in history[0]:
            draw(
                x,
                np.maximum([h["speed_mps"] for h in history], 1e-6),
                ".",
                ms=3,
                label="speed_mps [m/s]",
            )
        axes[1, col].set_xlabel(label)
    axes[0, 0].set_ylabel("loss")
    axes[1, 0].set_ylabel(f"{key} [{unit}]")
    for ax in axes.ravel():
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    try:
        write_atomic(path, lambda f: fig.savefig(f, dpi=90, format="png"))
    finally:
        plt.close(fig)
    return path


def render(
    npz: Path, path: Path, camera: str | None = None, camera_only: bool = False
) -> Path | None:
    """Render the trajectory with the viewer (which falls back to ti.GUI without Vulkan),
    with robot camera `camera`'s image in a corner, or (camera_only) that camera's images
    alone, into a temporary file renamed to `path` when complete. A failure or a Ctrl-C is
    reported on stderr, the partial file removed, and the run goes on without a video."""
    import contextlib
    import io

    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    said = io.StringIO()  # the viewer's notes, shown with the final file's name
    try:
        from ..viewer import ViewOptions, render_video, save_camera_images

        with contextlib.redirect_stdout(said):
            if camera_only:
                save_camera_images(str(npz), ViewOptions(camera=camera, camera_out=str(tmp)))
            else:
                render_video(
                    str(npz),
                    ViewOptions(
                        size=(640, 480),
                        fps=30.0,
                        headless=True,
                        out=str(tmp),
                        path=True,
                        camera=camera,
                    ),
                )
        tmp.replace(path)
        return path
    except KeyboardInterrupt:
        print(
            f"optimize: {path.name} skipped (Ctrl-C); replay with `tdphys view {npz.parent}`",
            file=sys.stderr,
        )
        return None
    except Exception as exc:  # noqa: BLE001 - a video is a nice-to-have, never fatal
        print(
            f"optimize: no video ({type(exc).__name__}: {exc}); replay with "
            f"`tdphys view {npz.parent}`",
            file=sys.stderr,
        )
        return None
    finally:
        tmp.unlink(missing_ok=True)
        sys.stdout.write(said.getvalue().replace(str(tmp), str(path)))
