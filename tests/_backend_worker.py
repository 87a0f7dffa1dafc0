"""Run the backend parity rollout on ONE arch and precision and save it (helper of
tests/test_backends.py).

Taichi fixes its arch once per process and the rest of the test session runs CPU f64
in-process, so tests/test_backends.py runs this script in a subprocess per arch/precision:

    python tests/_backend_worker.py --arch vulkan --precision f32 --taped --out /tmp/vk.npz

The rollout: each robot asked for (--robots; ball and pendulum unless told, see ROBOTS)
among robots/ball.yaml, pendulum.yaml, arm.yaml and quadruped.yaml, in a Simulation of its
own (Taichi restarted between them), batch 2, STEPS steps of 0.01 s, fixed initial conditions
and controls:
    ball       thrown and spinning from 0.5 m / 0.3 m above its resting height: it bounces
               (restitution 0.5; impacts at steps 32 / 30), then slides;
    pendulum   released horizontal, link mass 1 kg / 1.7 kg in the two worlds;
    arm        smooth commands (two sines per motor) on all 4 position servos;
    quadruped  standing on its feet (started 1 mm into the ground) under smaller smooth
               commands.
Compiles dominate (software Vulkan and LLVM take minutes per model), and software Vulkan's
grow faster than the kernel: apart, the robots compile sooner than together in one world.

--taped runs the rollout under ti.ad.Tape with gradcheck.FinalStateLoss and saves the
gradients wrt controls, initial state and every parameter as well as the trajectory. The
backend's gradient policy is deliberately not consulted: this script measures what a backend
computes, the test decides what it may do.

--taped runs also render tests/camera_checks.py's SCENE and take the gradient of an image loss
through its camera ("camera/fwd/image", "camera/grad/<name>", see camera_gradients); plain runs
render robots/cart_pendulum.yaml's camera over a short forward rollout instead ("camera/fwd/
image", see camera_images).

Output (.npz): "<robot>/fwd/<quantity>" (pos, quat, vel, omega (T+1, B, n, 3|4); joint_pos,
joint_vel (T+1, B, m)), "<robot>/grad/<name>" (the robot's slice of each gradient; ctrl is
(T, B, m); "loss" and the ground's parameters too), and "seconds/<phase>".
Exit 0 after writing, 3 when the arch cannot start (BackendError text on
stderr), 1 on any other error (traceback on stderr).
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the checkout's tdphys, installed or not (runs as a script)
    sys.path.insert(0, str(ROOT))
ALL_ROBOTS = ("ball", "pendulum", "arm", "quadruped")
# compared by default: software Vulkan (lavapipe) compiles the adjoint of the arm's and the
# quadruped's row preparation for over 10 minutes each (LLVM's coroutine pass on one huge
# shader), past CI's budget; --robots (TDPHYS_PARITY_ROBOTS in tests/test_backends.py) adds them
ROBOTS = ("ball", "pendulum")
STEPS = 40  # long enough for the bounce; the Vulkan backward costs ~1 s a step
FORWARD_KEYS = ("pos", "quat", "vel", "omega", "joint_pos", "joint_vel")
CAMERA_STEPS = 20
CAMERA_GRAD_STEPS = 3
CAMERA_GRAD_PARAMS = (
    "init_pos",
    "init_quat",
    "init_vel",
    "init_omega",
    "shape_radius",
    "shape_half_length",
    "shape_half_extents",
)


def zoo(names=ROBOTS):
    """One Robot holding the robots/<name>.yaml models side by side (names prefixed
    "<robot>."; they never touch: all their shapes are in collision group 0), and owner
    tables: robot name -> body, joint and motor indices."""
    import tdphys

    robots = [tdphys.load(ROOT / "robots" / f"{n}.yaml") for n in names]
    # the speculative margins are one number per world: the zoo takes the largest, so its
    # backends run the margin code (robots/quadruped.yaml sets a contact margin)
    margins = {
        k: max(getattr(r.solver, k) for r in robots) for k in ("contact_margin", "limit_margin")
    }
    first = dataclasses.replace(robots[0], solver=dataclasses.replace(robots[0].solver, **margins))
    bodies, joints, sensors, pairs = [], [], [], []
    owners = {}
    for name, r in zip(names, robots):
        if dataclasses.replace(r.solver, **margins) != first.solver or r.ground != first.ground:
            raise ValueError(f"{name}: solver/ground differ from {names[0]}'s; simulate it alone")
        p = f"{name}."

        def ren(x):
            return None if x is None else p + x

        owners[name] = {
            "body": np.arange(len(bodies), len(bodies) + len(r.bodies)),
            "joint": np.arange(len(joints), len(joints) + len(r.joints)),
            "motor": np.arange(
                sum(len(j.motors) for j in joints),
                sum(len(j.motors) for j in joints + list(r.joints)),
            ),
        }
        offset = len(bodies)
        bodies += [dataclasses.replace(b, name=p + b.name) for b in r.bodies]
        joints += [
            dataclasses.replace(
                j,
                name=p + j.name,
                parent=ren(j.parent),
                child=p + j.child,
                motors=tuple(dataclasses.replace(m, name=p + m.name) for m in j.motors),
            )
            for j in r.joints
        ]
        sensors += [
            dataclasses.replace(
                s, name=p + s.name, body=ren(s.body), joint=ren(s.joint), reference=ren(s.reference)
            )
            for s in r.sensors
        ]
        pairs += [
            dataclasses.replace(c, body_a=c.body_a + offset, body_b=c.body_b + offset)
            for c in r.contact_pairs
        ]
    robot = dataclasses.replace(
        first,
        name="zoo",
        source="tests/_backend_worker.py",
        bodies=tuple(bodies),
        joints=tuple(joints),
        sensors=tuple(sensors),
        contact_pairs=tuple(pairs),
    )
    return robot, owners


def _controls(steps, batch, motors, dt, scale, seed):
    """Smooth commands in radians, (steps, batch, motors): two sines, random phases."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)[:, None, None] * dt
    freq = rng.uniform(0.5, 2.0, (1, batch, motors))
    phase = rng.uniform(0, 2 * np.pi, (2, batch, motors))
    return scale * (
        np.sin(2 * np.pi * freq * t + phase[0]) + 0.5 * np.sin(5.0 * np.pi * freq * t + phase[1])
    )


def build(steps: int = STEPS, names=ROBOTS):
    """The parity Simulation (batch 2) of the robots `names` and its owner tables."""
    import tdphys

    robot, owners = zoo(tuple(names))
    sim = tdphys.Simulation(robot, batch=2, steps=steps)
    if "ball" in owners:
        ball = owners["ball"]["body"][0]
        for name, worlds in (
            ("init_pos", [[0.0, 0.0, 1.0], [0.0, 0.0, 0.8]]),
            ("init_vel", [[2.0, 0.5, 0.0], [-1.0, 1.5, 0.5]]),
            ("init_omega", [[0.0, 3.0, 1.0], [2.0, 0.0, -1.0]]),
        ):
            value = sim.get_param(name)
            value[:, ball] = worlds
            sim.set_param(name, value)
    # the quadruped's feet start exactly on the ground, on the kink of the contact target
    # (speculative -sep/dt above, soft push below): f32 rounding would pick either side at
    # step 0. 1 mm lower they start in (soft) contact, where every backend agrees.
    if "quadruped" in owners:
        pos = sim.get_param("init_pos")
        pos[:, owners["quadruped"]["body"], 2] -= 0.001
        sim.set_param("init_pos", pos)
    if "pendulum" in owners:
        mass = sim.get_param("shape_mass")
        link = np.flatnonzero(sim.layout.shape_body == owners["pendulum"]["body"][0])
        mass[1, link] *= 1.7
        sim.set_param("shape_mass", mass)
    u = np.zeros((steps, 2, sim.n_motors))
    for name, scale, seed in (("arm", 0.6, 1), ("quadruped", 0.3, 2)):
        if name not in owners:
            continue
        m = owners[name]["motor"]
        u[:, :, m] = _controls(steps, 2, len(m), sim.dt, scale, seed)
    sim.set_controls(u)
    return sim, owners


def _slices(sim, owners):
    """robot -> {entity kind: index array}, with shapes added (by their bodies)."""
    out = {}
    for name, own in owners.items():
        shapes = np.flatnonzero(np.isin(sim.layout.shape_body, own["body"]))
        out[name] = dict(own, shape=shapes)
    return out


def results(sim, owners, taped: bool, world: str = "zoo") -> dict:
    """Trajectories per robot, and (taped) gradients per robot, as flat npz entries; the
    world-wide (ground) parameters' gradients under `world`."""
    from tdphys.engine.fields import PARAM_DOCS

    out = {}
    parts = _slices(sim, owners)
    tr = sim.trajectory()
    for name, idx in parts.items():
        for key in FORWARD_KEYS:
            axis_idx = idx["motor"] if key.startswith("joint_") else idx["body"]
            out[f"{name}/fwd/{key}"] = tr[key][:, :, axis_idx]
    if not taped:
        return out
    from tdphys import gradcheck

    entity = {"S": "shape", "N": "body", "J": "joint", "M": "motor"}
    grads = {"ctrl": sim.controls_grad()}
    for group in ("initial", "params"):
        for pname in gradcheck.GROUPS[group]:
            if pname in sim.model.params:
                grads[pname] = sim.param_grad(pname)
    for pname, g in grads.items():
        kind = "motor" if pname == "ctrl" else entity.get(PARAM_DOCS[pname][0][:1])
        if kind is None:  # world-wide (ground) parameters
            out[f"{world}/grad/{pname}"] = g
            continue
        axis = 2 if pname == "ctrl" else 1
        for name, idx in parts.items():
            out[f"{name}/grad/{pname}"] = np.take(g, idx[kind], axis=axis)
    return out


def camera_images(steps: int = CAMERA_STEPS) -> np.ndarray:
    """The cart-pendulum's `front` camera over a short forward rollout (the cart pushed at
    3 m/s, the pole swinging): images (T+1, 1, H, W, 3), forward only."""
    import tdphys
    from tdphys.vision import Renderer

    sim = tdphys.Simulation(tdphys.load(ROOT / "robots" / "cart_pendulum.yaml"), steps=steps)
    sim.set_controls(np.full((steps, sim.n_motors), 3.0))
    cam = Renderer(sim, "front")
    sim.rollout()
    cam.render_all()
    return cam.images()


def camera_gradients(steps: int = CAMERA_GRAD_STEPS) -> dict:
    """Gradients of an image loss through a camera: tests/camera_checks.py's SCENE (a sphere
    partly hiding a box and a capsule, all drifting and spinning) rolled out `steps` steps,
    then loss = sum_{y, x, c} w[y, x, c] image[T][y, x, c]^2 with fixed random weights w, so
    the gradient runs through silhouette edges, occlusion and shading, and back through the
    rollout. Returns "camera/grad/loss" and "camera/grad/<name>" for CAMERA_GRAD_PARAMS.
    (Not the cart-pendulum: its tip sphere and pole overlap at almost equal depths, where
    f32 rounding flips which is composited in front, so f32 and f64 differ there by design.)"""
    import taichi as ti
    from camera_checks import SCENE

    import tdphys
    from tdphys import backend
    from tdphys.model import parse_robot
    from tdphys.vision import Renderer

    # measure what the backend computes: the renderer's backward would refuse an arch that
    # the policy does not allow yet, and this run is what decides the policy
    backend.CAMERA_GRADIENTS_ALLOWED[backend.current().arch] = True
    sim = tdphys.Simulation(parse_robot(SCENE, "scene.yaml"), steps=steps)
    cam = Renderer(sim, "front")
    w = ti.field(sim.real, (cam.height, cam.width, 3))
    w.from_numpy(
        np.random.default_rng(0)
        .normal(size=(cam.height, cam.width, 3))
        .astype(np.float64 if sim.real == ti.f64 else np.float32)
    )

    @ti.kernel
    def k_loss():
        for y, x, c in w:
            sim.loss[None] += w[y, x, c] * cam.image[steps, 0, y, x, c] ** 2

    with sim.tape(cam):
        sim.rollout(check=False)
        cam.render(steps)
        k_loss()
    sim.check_finite()
    out = {
        "camera/grad/loss": np.array(float(sim.loss[None])),
        "camera/fwd/image": cam.images()[steps : steps + 1],
    }
    for name in CAMERA_GRAD_PARAMS:
        out[f"camera/grad/{name}"] = sim.param_grad(name)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", required=True)
    p.add_argument("--precision", default="f32", choices=["f32", "f64"])
    p.add_argument("--taped", action="store_true", help="also take the tape's gradients")
    p.add_argument("--steps", type=int, default=STEPS)
    p.add_argument(
        "--robots",
        default=",".join(ROBOTS),
        help=f"comma-separated robots/<name>.yaml among {', '.join(ALL_ROBOTS)}",
    )
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    unknown = set(args.robots.split(",")) - set(ALL_ROBOTS)
    if unknown:
        p.error(f"--robots: no parity setup for {', '.join(sorted(unknown))}")
    import tdphys
    from tdphys.errors import BackendError

    t0 = time.perf_counter()
    try:
        be = tdphys.init(args.arch, args.precision)
    except BackendError as exc:
        print(exc, file=sys.stderr)
        return 3
    import taichi as ti

    ti.set_logging_level(ti.ERROR)  # f64 -> f32 upload warnings would bury a real error
    out = {
        "arch": np.array(be.arch),
        "precision": np.array(be.precision),
        "seconds/init": np.array(time.perf_counter() - t0),
    }

    def restart():
        """Taichi afresh for the next Simulation: software Vulkan's compile time grows faster
        than the kernel it compiles, so each robot's kernels compiled apart cost less than
        one kernel holding them all, or kernels compiled beside another's fields."""
        tdphys.backend.reset()
        tdphys.init(args.arch, args.precision)
        ti.set_logging_level(ti.ERROR)

    for k, name in enumerate(args.robots.split(",")):
        if k:
            restart()
        t0 = time.perf_counter()
        sim, owners = build(args.steps, [name])
        out[f"seconds/{name}/build"] = np.array(time.perf_counter() - t0)
        t0 = time.perf_counter()
        if args.taped:
            from tdphys import gradcheck

            out[f"{name}/grad/loss"] = np.array(gradcheck.FinalStateLoss(sim, seed=0).gradient())
            sim.check_finite()  # the taped rollout ran with check=False
        else:
            sim.rollout()
        out[f"seconds/{name}/first_run"] = np.array(time.perf_counter() - t0)  # with compiles
        out.update(results(sim, owners, args.taped, world=name))
        del sim
    use = resource.getrusage(resource.RUSAGE_SELF)
    out["seconds/cpu"] = np.array(use.ru_utime + use.ru_stime)  # all threads of the process
    restart()
    t0 = time.perf_counter()
    if args.taped:
        out.update(camera_gradients())
        out["seconds/camera_grad"] = np.array(time.perf_counter() - t0)
    else:
        out["camera/fwd/image"] = camera_images()
        out["seconds/camera"] = np.array(time.perf_counter() - t0)
    np.savez(args.out, **out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
