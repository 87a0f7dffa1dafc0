"""Analytic physics: the engine against closed-form answers (CPU, f64)."""

import numpy as np
import pytest

from tdphys.model.schema import Body, Robot, Shape, Solver

H = 0.5**0.5


def ball(restitution=0.0, z=2.0, vel=(0.0, 0.0, 0.0), friction=1.0, dt=0.01):
    shape = Shape("sphere", radius=0.5, mass=1.0, restitution=restitution, friction=friction)
    return Robot(
        name="ball",
        source="<test>",
        solver=Solver(dt=dt),
        bodies=(Body("ball", (shape,), pos=(0.0, 0.0, z), vel=vel),),
    )


def roughness(x):
    """Largest difference between neighbouring worlds over the median one: about 1 where x
    varies smoothly across the batch, large where it jumps."""
    jumps = np.abs(np.diff(x))
    return jumps.max() / np.median(jumps)


def run(robot, steps, batch=1):
    from tdphys.engine.simulation import Simulation

    sim = Simulation(robot, batch=batch, steps=steps)
    sim.rollout()
    return sim.trajectory()


def free_fall(z0, steps, dt=0.01):
    """Height after n = 0..steps steps of symplectic Euler from rest: z0 - g h^2 m (m + 1) / 2
    after m = n * substeps substeps of width h = dt / substeps."""
    substeps = Solver().substeps
    m = np.arange(steps + 1) * substeps
    return z0 - 9.81 * (dt / substeps) ** 2 * m * (m + 1) / 2


@pytest.mark.slow
def test_free_fall_matches_semi_implicit_euler(backend64):
    """Before touching the ground the ball falls exactly as symplectic Euler does."""
    tr = run(ball(z=10.0), steps=100)
    np.testing.assert_allclose(tr["pos"][:, 0, 0, 2], free_fall(10.0, 100), atol=1e-9)


@pytest.mark.slow
def test_projectile_keeps_horizontal_velocity(backend64):
    tr = run(ball(z=50.0, vel=(3.0, -1.0, 5.0)), steps=200)
    np.testing.assert_allclose(tr["vel"][:, 0, 0, 0], 3.0, atol=1e-12)
    np.testing.assert_allclose(tr["pos"][-1, 0, 0, :2], [6.0, -2.0], atol=1e-9)


@pytest.mark.slow
def test_bounce_reaches_e_squared_height(backend64):
    """A ball dropped from h with restitution e rebounds to e^2 h (within 5 %)."""
    e, h = 0.5, 1.5
    tr = run(ball(restitution=e, z=0.5 + h, dt=0.002), steps=1500)
    z, vz = tr["pos"][:, 0, 0, 2], tr["vel"][:, 0, 0, 2]
    first_up = int(np.argmax(vz > 0))  # the step after the first impact
    rebound = z[first_up:].max() - 0.5
    assert abs(rebound - e * e * h) / (e * e * h) < 0.05, rebound


@pytest.mark.slow
def test_contact_margin_makes_landing_continuous_in_drop_height(backend64):
    """Worlds dropping a ball from heights 0.1 mm apart. Without a margin the contact row
    switches on at first overlap, so the impulse jumps between neighbouring heights (the
    landing step's penetration depends on where in the step the ball crosses z = r); with a
    speculative margin wider than a step's travel (0.05 m > 2.4 m/s x 10 ms) the impulse
    grows from zero and the state after landing is smooth in the height. Before the step in
    which it would reach the ground the ball falls exactly freely: speculative rows push
    only what would cross the surface within the step."""
    from tdphys.engine.simulation import Simulation

    batch, steps = 256, 60
    sim = Simulation(ball(z=1.0), batch=batch, steps=steps)
    heights = 0.8 + np.linspace(0.0, 0.0255, batch)  # centre 0.3 m above touching
    pos = np.zeros((batch, 1, 3))
    pos[:, 0, 2] = heights
    rough, first_touch = {}, {}
    for margin in (0.0, 0.05):
        sim.set_params({"init_pos": pos, "contact_margin": np.full(batch, margin)})
        sim.rollout()
        z = sim.trajectory()["pos"][:, :, 0, 2]
        free = heights[None, :] + free_fall(0.0, steps)[:, None]
        first = (np.abs(z - free) > 1e-9).argmax(0)  # first step that is not free fall
        assert (free[first, np.arange(batch)] < 0.5).all()  # ... would end below the surface
        first_touch[margin] = first
        rough[margin] = roughness(z[45])  # 0.2 s after landing
    assert rough[0.0] > 20, rough  # a jump where the landing substep moves
    assert rough[0.05] < 3, rough  # smooth in the drop height
    assert (first_touch[0.05] <= first_touch[0.0]).all()


@pytest.mark.slow
def test_limit_margin_makes_limit_stop_continuous_in_initial_speed(backend64):
    """A bar on a hinge falls from horizontal into its 0.5 rad limit, each world starting
    with an angular speed 0.004 rad/s higher. As with contacts, a limit row that switches on
    at the first violation makes the state after the stop jump between neighbouring worlds;
    a margin wider than a step's rotation (0.1 rad > 4 rad/s x 10 ms) makes it smooth. (The
    limit is a Gauss-Seidel row beside the exact joint solve; the sweeps are raised so the
    smoothness measured is the margin's, not a solve stopped early.)"""
    from tdphys.engine.simulation import Simulation
    from tdphys.model.schema import Joint

    bar = Shape(
        "capsule",
        radius=0.05,
        half_length=0.25,
        pos=(0.25, 0, 0),
        quat=(H, 0, H, 0),
        mass=1.0,
        ground=False,
    )
    robot = Robot(
        name="bar",
        source="<test>",
        solver=Solver(dt=0.01, iterations=80),
        bodies=(Body("bar", (bar,), pos=(0.0, 0.0, 1.0)),),
        joints=(Joint("pivot", "hinge", None, "bar", (0, 0, 1.0), ((0, 1, 0),), ((-0.5, 0.5),)),),
    )
    batch = 256
    sim = Simulation(robot, batch=batch, steps=40)
    omega = np.zeros((batch, 1, 3))
    omega[:, 0, 1] = np.linspace(0.0, 1.02, batch)
    rough = {}
    for margin in (0.0, 0.1):
        sim.set_params({"init_omega": omega, "limit_margin": np.full(batch, margin)})
        sim.rollout()
        tr = sim.trajectory()
        angle = 2 * np.arctan2(tr["quat"][..., 0, 2], tr["quat"][..., 0, 0])  # about +y
        assert 0.49 < angle.max() < 0.56, angle.max()  # it reaches the limit (soft)
        rough[margin] = roughness(angle[22])  # 0.03 s after the stop
    assert rough[0.0] > 30, rough  # a jump
    assert rough[0.1] < 5, rough  # about 1 is smooth


def test_a_joint_started_outside_its_limit_returns_at_the_push_speed(backend64):
    """A bar on a hinge with limits +-0.5 rad, started at 0.9 rad (no gravity): the limit
    brings it back at max_push_velocity (2 rad/s), not with the kick that removing the whole
    violation in one substep would give (160 rad/s). Like a contact pushed out, the bar keeps
    that speed afterwards. (Sweeps raised: the speed measured is the row's target, not a
    solve stopped early.)"""
    from tdphys.engine.simulation import Simulation
    from tdphys.model.schema import Joint

    bar = Shape(
        "capsule",
        radius=0.05,
        half_length=0.25,
        pos=(0.25, 0, 0),
        quat=(H, 0, H, 0),
        mass=1.0,
        ground=False,
    )
    robot = Robot(
        name="bar",
        source="<test>",
        solver=Solver(dt=0.01, gravity=(0, 0, 0), iterations=200),
        bodies=(Body("bar", (bar,), pos=(0.0, 0.0, 1.0)),),
        joints=(Joint("pivot", "hinge", None, "bar", (0, 0, 1.0), ((0, 1, 0),), ((-0.5, 0.5),)),),
    )
    sim = Simulation(robot, batch=1, steps=30)
    start = 0.9  # [rad] about +y, through the hinge
    sim.set_params({"init_quat": np.array([[[np.cos(start / 2), 0, np.sin(start / 2), 0]]])})
    sim.rollout()
    tr = sim.trajectory()
    speed = np.abs(tr["omega"][:, 0, 0, 1])
    angle = 2 * np.arctan2(tr["quat"][:, 0, 0, 2], tr["quat"][:, 0, 0, 0])
    assert angle[0] == pytest.approx(start)
    assert speed[1:] == pytest.approx(2.0, abs=1e-3), speed
    assert angle[25] < 0.5 < angle[15], angle  # back inside after (0.9 - 0.5) / 2 s


def test_resting_ball_drifts_less_than_a_millimetre(backend64):
    tr = run(ball(z=0.5), steps=1000)
    drift = np.abs(tr["pos"][:, 0, 0] - tr["pos"][0, 0, 0]).max()
    assert drift < 1e-3, drift


@pytest.mark.slow
def test_batch_worlds_are_independent(backend64):
    """Two worlds with different initial heights evolve like two separate simulations."""
    from tdphys.engine.simulation import Simulation

    sim = Simulation(ball(z=3.0), batch=2, steps=50)
    sim.set_param("init_pos", np.array([[[0.0, 0.0, 3.0]], [[1.0, 0.0, 5.0]]]))
    sim.rollout()
    z = sim.trajectory()["pos"][:, :, 0, 2]
    single = run(ball(z=5.0), steps=50)["pos"][:, 0, 0, 2]
    np.testing.assert_allclose(z[:, 1], single, rtol=1e-13, atol=1e-13)


@pytest.mark.slow
def test_determinism_bit_identical(backend64):
    robot = ball(z=1.0, vel=(1.0, 0.5, 0.0))
    a = run(robot, steps=200)
    b = run(robot, steps=200)
    for key in ("pos", "quat", "vel", "omega"):
        np.testing.assert_array_equal(a[key], b[key])


def test_nan_state_is_reported_with_step_and_body(backend64):
    """A rollout that produces NaN stops with an error naming the step and the body."""
    from tdphys.engine.simulation import Simulation
    from tdphys.errors import SimulationDiverged

    sim = Simulation(ball(z=2.0), batch=1, steps=20)
    sim.set_param("shape_mass", np.array([[np.nan]]))
    with pytest.raises(SimulationDiverged) as err:
        sim.rollout()
    assert "ball" in str(err.value) and "step" in str(err.value)
    assert err.value.body == "ball"


@pytest.mark.slow
def test_nan_gradient_is_reported_with_step_and_body(backend64):
    """A loss that is not differentiable where the state sits (|v_x| of a ball falling straight
    down, at step 12) gives a NaN adjoint there; check_gradients names that step and body
    instead of returning NaN gradients silently."""
    import taichi as ti

    from tdphys.engine.simulation import Simulation
    from tdphys.errors import GradientDiverged

    sim = Simulation(ball(z=2.0), batch=1, steps=20)  # falls freely, v_x = 0

    @ti.kernel
    def speed_at_step_12():
        for w in range(1):
            vx = sim.state.vel[12, w, 0][0]
            sim.loss[None] += ti.sqrt(vx * vx)  # d/dvx sqrt(vx^2) at vx = 0 is 0/0

    sim.rollout()
    assert sim.trajectory()["vel"][12, 0, 0, 0] == 0.0
    with sim.tape():
        sim.rollout(check=False)
        speed_at_step_12()
    with pytest.raises(GradientDiverged) as err:
        sim.check_gradients()
    assert err.value.step == 12 and err.value.body == "ball"
    assert "step 12" in str(err.value) and "fix:" in str(err.value)
