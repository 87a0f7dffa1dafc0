"""How fast two rollouts of a robot part ways: two worlds whose first body starts 1e-8 m/s
apart (--eps), driven by the same open-loop sinusoids, and the largest position difference of
any body at a few times (docs/studies/quadruped-gait-rates.md).

    python bench/sensitivity.py robots/quadruped.yaml --set motor_max_force=60
    python bench/sensitivity.py robots/quadruped.yaml --set motor_max_force=60 \\
        --set motor_kp=40 --set motor_kv=2                     # PD servos
    python bench/sensitivity.py bench/quadruped.xml --mujoco   # also MuJoCo, same file
    python bench/sensitivity.py bench/quadruped.xml --mujoco --set motor_kp=2000 \\
        --set motor_kv=100                                     # stiffer servos in both

Controls: command k = amplitude sin(2 pi hz t + 2 pi phase_k) on every motor (--phases, in
cycles; default k / motors). --set NAME=VALUE fills a per-world parameter of tdphys (any of
`tdphys.engine.fields.PARAM_DOCS`) for both worlds; on the MuJoCo side only motor_kp,
motor_kv and motor_max_force apply (to `position` actuators: gain kp, bias -kp q - kv rate,
force range). MuJoCo steps at tdphys's substep (the file's timestep / solver.substeps) with
`implicitfast`, holding each command for a whole tdphys step.

Prints one line per engine: the difference [m] at each of --marks, and the forward speed of
the first body along x [m/s] (which motion the numbers belong to).
"""

import argparse
import json
import sys

import numpy as np


def controls(steps: int, dt: float, motors: int, args) -> np.ndarray:
    """(steps, motors) sinusoidal commands."""
    phases = (
        np.array([float(p) for p in args.phases.split(",")])
        if args.phases
        else np.arange(motors) / max(motors, 1)
    )
    if phases.size != motors:
        sys.exit(f"--phases has {phases.size} entries; the robot has {motors} motors")
    t = np.arange(steps)[:, None] * dt
    return args.amplitude * np.sin(2 * np.pi * (args.hz * t + phases[None, :]))


def parted(pos: np.ndarray, dt: float, marks) -> dict:
    """pos (2, T+1, N, 3) -> {"1s": largest |difference| of any body at 1 s, ...}."""
    diff = np.abs(pos[1] - pos[0]).max(axis=(1, 2))
    return {f"{m:g}s": float(diff[round(m / dt)]) for m in marks if round(m / dt) < len(diff)}


def run_tdphys(args, settings: dict) -> dict:
    import tdphys

    tdphys.init(arch="cpu", precision="f64")
    robot = tdphys.load(args.robot)
    sim = tdphys.Simulation(robot, batch=2, steps=args.steps)
    for name, value in settings.items():
        sim.set_param(name, np.full(np.shape(sim.get_param(name)), value))
    start = np.array(sim.get_param("init_vel"))
    start[1, 0, 0] += args.eps
    sim.set_param("init_vel", start)
    u = controls(args.steps, robot.solver.dt, sim.n_motors, args)
    sim.set_controls(np.repeat(u[:, None, :], 2, axis=1))
    sim.rollout(check=False)
    pos = np.moveaxis(sim.trajectory()["pos"], 1, 0)  # (2, T+1, N, 3)
    out = parted(pos, robot.solver.dt, args.marks)
    out["speed_mps"] = float((pos[0, -1, 0, 0] - pos[0, 0, 0, 0]) / (args.steps * robot.solver.dt))
    return {"tdphys": out, "substeps": robot.solver.substeps, "dt": robot.solver.dt}


def run_mujoco(args, settings: dict, dt: float, substeps: int) -> dict:
    import mujoco

    model = mujoco.MjModel.from_xml_path(args.robot)
    model.opt.timestep = dt / substeps
    model.opt.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    if "motor_kp" in settings:
        model.actuator_gainprm[:, 0] = settings["motor_kp"]
        model.actuator_biasprm[:, 1] = -settings["motor_kp"]
    if "motor_kv" in settings:
        model.actuator_biasprm[:, 2] = -settings["motor_kv"]
    if "motor_max_force" in settings:
        model.actuator_forcelimited[:] = 1
        model.actuator_forcerange[:] = [-settings["motor_max_force"], settings["motor_max_force"]]
    u = controls(args.steps, dt, model.nu, args)
    tracks = []
    for eps in (0.0, args.eps):
        data = mujoco.MjData(model)
        mujoco.mj_forward(model, data)
        data.qvel[0] += eps  # the free joint's x velocity
        poses = [data.xipos[1:].copy()]
        for k in range(args.steps):
            data.ctrl[:] = u[k]
            for _ in range(substeps):
                mujoco.mj_step(model, data)
            poses.append(data.xipos[1:].copy())
        tracks.append(np.array(poses))
    pos = np.array(tracks)
    out = parted(pos, dt, args.marks)
    out["speed_mps"] = float((pos[0, -1, 0, 0] - pos[0, 0, 0, 0]) / (args.steps * dt))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("robot", help="a robot file: YAML, or MJCF with --mujoco")
    parser.add_argument("--steps", type=int, default=500, help="steps (default 500)")
    parser.add_argument("--amplitude", type=float, default=0.5, help="[command unit] (0.5)")
    parser.add_argument("--hz", type=float, default=1.5, help="[Hz] of the sinusoids (1.5)")
    parser.add_argument("--phases", default="", help="per motor, in cycles, comma-separated")
    parser.add_argument("--eps", type=float, default=1e-8, help="[m/s] start difference")
    parser.add_argument(
        "--marks",
        type=lambda s: [float(x) for x in s.split(",")],
        default=[0.5, 1, 2, 3, 5],
        help="[s] times to report (0.5,1,2,3,5)",
    )
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--mujoco", action="store_true", help="also MuJoCo (MJCF files)")
    args = parser.parse_args(argv)
    settings = {}
    for item in args.set:
        name, _, value = item.partition("=")
        settings[name] = float(value)
    result = run_tdphys(args, settings)
    print("tdphys", json.dumps(result["tdphys"]))
    if args.mujoco:
        theirs = run_mujoco(args, settings, result["dt"], result["substeps"])
        print("mujoco", json.dumps(theirs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
