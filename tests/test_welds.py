"""Welded bodies: with rigid joints, a fixed joint welds its child to its parent, and the
solver moves the two as one rigid body. A welded robot then moves as the same robot written
with each welded group as one body holding all its shapes; a welded body keeps its pose on
its host exactly; a compound pendulum built of welded parts swings with the period of its
combined inertia; and the gradients with respect to everything, the fixed joint's frame
included, match finite differences in float64."""

import math

import numpy as np
import pytest
import yaml
from test_gradients import _check

from tdphys.rotations import quat_conj, quat_mul, quat_to_matrix

QUADRUPED17 = "robots/quadruped17.yaml"


def merged_quadruped17(tmp_path) -> str:
    """robots/quadruped17.yaml with each thigh's shapes moved onto its hip link and each
    foot's onto its shin (the bodies its fixed joints weld), written out as a robot file."""
    doc = yaml.safe_load(open(QUADRUPED17))
    bodies = {b["name"]: b for b in doc["bodies"]}
    fixed = [j for j in doc["joints"] if j["type"] == "fixed"]
    hosts = {j["child"]: j["parent"] for j in fixed}
    for child, parent in hosts.items():
        offset = np.subtract(bodies[child]["pos"], bodies[parent]["pos"])  # no rotations
        for shape in bodies[child]["shapes"]:
            shape = dict(shape)
            if "fromto" in shape:
                shape["fromto"] = (np.add(shape["fromto"], np.tile(offset, 2))).tolist()
            else:
                shape["pos"] = np.add(shape.get("pos", [0, 0, 0]), offset).tolist()
            bodies[parent]["shapes"].append(shape)
    doc["bodies"] = [b for b in doc["bodies"] if b["name"] not in hosts]
    doc["joints"] = [j for j in doc["joints"] if j["type"] != "fixed"]
    for j in doc["joints"]:
        j["parent"] = hosts.get(j["parent"], j["parent"])
        j["child"] = hosts.get(j["child"], j["child"])
    path = tmp_path / "merged.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(path)


def rollout(path, steps: int) -> dict:
    """{body: (T + 1, 3) body-frame origin [m], (T + 1, 4) quat} under sinusoidal commands."""
    import tdphys

    sim = tdphys.Simulation(tdphys.load(path), steps=steps)
    t = np.arange(steps)[:, None]
    sim.set_controls(0.3 * np.sin(0.05 * t + np.arange(sim.n_motors)[None, :]))
    sim.rollout()
    tr, com = sim.trajectory(), sim.model.com.to_numpy()[0]
    out = {}
    for i, name in enumerate(tr["body_names"]):
        quat = tr["quat"][:, 0, i]
        rot = np.array([quat_to_matrix(q) for q in quat])
        out[str(name)] = (tr["pos"][:, 0, i] - rot @ com[i], quat)
    return out


def test_quadruped17_welds_its_eight_fixed_joints():
    from tdphys.engine.layout import build_layout
    from tdphys import load

    lay = build_layout(load(QUADRUPED17))
    welded = [lay.body_names[n] for n in np.nonzero(lay.weld_joint >= 0)[0]]
    assert sorted(welded) == sorted(
        f"{leg}_{part}" for leg in ("fl", "fr", "hl", "hr") for part in ("thigh", "foot")
    )
    assert lay.n_rows == 124 - 8 * 6  # the welds have no rows
    assert len(lay.tree_order) == 9 + 8  # hosts and the other joints


def test_welded_robot_moves_as_the_robot_with_welded_parts_as_one_body(backend64, tmp_path):
    welded = rollout(QUADRUPED17, 100)
    merged = rollout(merged_quadruped17(tmp_path), 100)
    assert set(merged) < set(welded)
    for name, (origin, quat) in merged.items():
        assert np.abs(welded[name][0] - origin).max() < 1e-9, name
        assert np.abs(welded[name][1] - quat).max() < 1e-9, name
    # the torso moved: the comparison is not of a robot at rest
    assert np.abs(merged["torso"][0][-1] - merged["torso"][0][0]).max() > 5e-3


def test_a_welded_body_keeps_its_pose_on_its_host(backend64):
    poses = rollout(QUADRUPED17, 100)
    for leg in ("fl", "hr"):
        for host, child in ((f"{leg}_hip_link", f"{leg}_thigh"), (f"{leg}_shin", f"{leg}_foot")):
            (oh, qh), (oc, qc) = poses[host], poses[child]
            rel = np.array([quat_mul(quat_conj(a), b) for a, b in zip(qh, qc)])
            local = np.array([quat_to_matrix(q).T @ d for q, d in zip(qh, oc - oh)])
            assert np.abs(rel - rel[0]).max() < 1e-12
            assert np.abs(local - local[0]).max() < 1e-12


TIP_BODY = """  - name: tip
    pos: [0.1, 0, 1.35]
    shapes: [{type: capsule, radius: 0.02, fromto: [0, 0, 0, 0, 0.05, -0.2], mass: 0.3}]
"""
TIP_JOINT = """  - name: wrist
    type: hinge
    parent: cube
    child: tip
    anchor: [0.1, 0, 1.35]
    axis: [1, 0, 0]
    damping: 0.05
    armature: 0.01
    motors: [{name: wrist, kp: 2.0, kv: 0.1, max_force: 5.0}]
"""


def welded_pendulum(tmp_path, joint_hz: float = 0.0, tip: bool = False) -> str:
    """A compound pendulum of three welded parts hinged about world y at (0, 0, 2): a rod
    (box 0.02 x 0.02 x 0.6 m, 1 kg) hanging from the pivot, a ball (radius 0.1 m, 2 kg) welded
    at its lower end, a cube (0.1 m, 0.5 kg, turned 45 degrees) welded to the ball 0.1 m to
    the side: released at rest, it swings about the angle that puts the centre of mass below
    the pivot. `tip`: a rod on a damped, servoed hinge about x hangs from the cube (a joint
    whose parent is welded)."""
    text = f"""
name: welded_pendulum
solver: {{dt: 0.005, joint_hz: {joint_hz}}}
defaults: {{shape: {{ground: false}}}}
bodies:
  - name: rod
    pos: [0, 0, 2]
    shapes: [{{type: box, size: [0.01, 0.01, 0.3], pos: [0, 0, -0.3], mass: 1.0}}]
  - name: ball
    pos: [0, 0, 1.4]
    shapes: [{{type: sphere, radius: 0.1, mass: 2.0}}]
  - name: cube
    pos: [0.1, 0, 1.4]
    quat: [0.9238795325, 0, 0.3826834324, 0]
    shapes: [{{type: box, size: [0.05, 0.05, 0.05], mass: 0.5}}]
joints:
  - {{name: pivot, type: hinge, child: rod, anchor: [0, 0, 2], axis: [0, 1, 0]}}
  - {{name: weld, type: fixed, parent: rod, child: ball}}
  - {{name: weld2, type: fixed, parent: ball, child: cube}}
"""
    if tip:
        text = text.replace("joints:", TIP_BODY + "joints:") + TIP_JOINT
    path = tmp_path / "welded_pendulum.yaml"
    path.write_text(text)
    return str(path)


def test_welds_need_rigid_joints(tmp_path):
    from tdphys.engine.layout import build_layout
    from tdphys import load

    rigid = build_layout(load(welded_pendulum(tmp_path)))
    assert rigid.body_host.tolist() == [0, 0, 0] and rigid.weld_depth.tolist() == [0, 1, 2]
    soft = build_layout(load(welded_pendulum(tmp_path, joint_hz=30.0)))
    assert (soft.weld_joint < 0).all()


def test_welded_compound_pendulum_swings_with_its_combined_inertia(backend64, tmp_path):
    """Period 2 pi sqrt(I / (m g d)) (1 + theta0^2 / 16): I the three parts' moments about
    the pivot (parallel axes), d the distance of their centre of mass from it, theta0 the
    release angle from the equilibrium."""
    import tdphys

    g, dt, steps = 9.81, 0.005, 800
    parts = [  # (mass [kg], own moment about y [kg m^2], x, z [m] from the pivot)
        (1.0, 1.0 * (0.01**2 + 0.3**2) / 3, 0.0, -0.3),
        (2.0, 0.4 * 2.0 * 0.1**2, 0.0, -0.6),
        (0.5, 0.5 * 2 * 0.05**2 / 3, 0.1, -0.6),
    ]
    mass = sum(m for m, _, _, _ in parts)
    inertia = sum(i + m * (x * x + z * z) for m, i, x, z in parts)
    x_c = sum(m * x for m, _, x, _ in parts) / mass
    z_c = sum(m * z for m, _, _, z in parts) / mass
    d, theta0 = math.hypot(x_c, z_c), math.atan2(x_c, -z_c)
    period = 2 * math.pi * math.sqrt(inertia / (mass * g * d)) * (1 + theta0**2 / 16)

    sim = tdphys.Simulation(tdphys.load(welded_pendulum(tmp_path)), steps=steps)
    sim.rollout()
    quat = sim.trajectory()["quat"][:, 0, 0]
    angle = 2 * np.arctan2(quat[:, 2], quat[:, 0])  # the rod's turn about y
    swing = angle - 0.5 * (angle.max() + angle.min())
    ups = np.nonzero((swing[:-1] < 0) & (swing[1:] >= 0))[0]
    crossings = (ups - swing[ups] / (swing[ups + 1] - swing[ups])) * dt
    assert len(crossings) >= 2
    assert abs(np.diff(crossings).mean() / period - 1) < 2e-3
    assert abs(0.5 * (angle.max() - angle.min()) / theta0 - 1) < 1e-2


@pytest.mark.slow
def test_welded_robot_gradients_match_finite_differences(backend64, tmp_path):
    import tdphys

    rng = np.random.default_rng(5)
    robot = tdphys.load(welded_pendulum(tmp_path, tip=True))

    def controls(sim):
        return rng.uniform(-0.5, 0.5, (sim.steps, sim.n_motors))

    verdicts = _check(robot, steps=25, tol=1e-4, controls=controls, per_param=2)
    assert {"anchor_p", "rel_quat"} & {v.target.name for v in verdicts}
