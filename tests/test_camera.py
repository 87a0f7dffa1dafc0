"""The differentiable camera (tdphys/vision, docs/camera.md): known scenes give the expected
pixels, the nearer shape hides the farther one, the soft image tends to the hard one, a
camera on a body moves with it, and the image's gradient with respect to poses and sizes
through silhouette edges, occlusion and shading matches central finite differences in f64."""

import math

import numpy as np
import pytest

from camera_checks import SCENE, check_param_gradients, image_loss_kernel

from tdphys.errors import ModelError
from tdphys.model import parse_robot

pytestmark = pytest.mark.taichi_per_module  # module-scoped fixtures hold fields


def _flat_scene(softness):
    """A sphere of radius 0.5 m on the optical axis 5 m away, colours unshaded."""
    return parse_robot(
        f"""
bodies:
  - {{name: ball, pos: [0, 0, 1], mass: 1, shapes: [{{type: sphere, radius: 0.5,
      color: [1, 0, 0]}}]}}
  - {{name: crate, pos: [0, 2, 1], mass: 1, shapes: [{{type: box, size: [0.8, 0.1, 0.8],
      color: [0, 1, 0]}}]}}
solver: {{gravity: [0, 0, 0]}}
ground: {{enabled: false}}
cameras:
  - {{name: front, pos: [0, -5, 1], look_at: [0, 0, 1], fov: 40, width: 64, height: 48,
     softness: {softness}, ambient: 1, background: [0, 0, 0]}}
  - {{name: down, pos: [0.25, 0.25, 4], look_at: [0.25, 0.25, 0], up: [0, 1, 0], fov: 40,
     width: 32, height: 32, softness: 0, ambient: 1}}
""",
        "flat.yaml",
    )


def _render(robot, camera="front", steps=1):
    import tdphys
    from tdphys.vision import Renderer

    sim = tdphys.Simulation(robot, steps=steps)
    cam = Renderer(sim, camera)
    sim.rollout()
    cam.render_all()
    return sim, cam


@pytest.fixture(scope="module")
def hard(backend64):
    return _render(_flat_scene(0.0))


@pytest.mark.slow
def test_a_sphere_covers_its_projected_disc(hard):
    """On the optical axis at distance d a sphere of radius r is a disc of radius
    f r / sqrt(d^2 - r^2) pixels, centred where the camera projects its centre."""
    from tdphys.vision import project

    sim, cam = hard
    img = cam.images()[0, 0]
    red = (img[..., 0] > 0.5) & (img[..., 1] < 0.5)
    d, r = 5.0, 0.5
    expected = math.pi * (cam.focal * r / math.sqrt(d * d - r * r)) ** 2
    assert abs(red.sum() - expected) < 0.03 * expected
    ys, xs = np.nonzero(red)
    centre = project(cam.cam, sim.state.pos.to_numpy()[0, 0, 0])
    assert np.allclose([xs.mean() + 0.5, ys.mean() + 0.5], centre, atol=0.05)


def test_the_nearer_shape_hides_the_farther(hard):
    """The sphere is in front of the box: the centre pixel is red and its depth is where
    that pixel's ray enters the sphere; moving the sphere behind the box shows the box there."""
    sim, cam = hard
    cy, cx = cam.height // 2, cam.width // 2
    img, depth = cam.images()[0, 0], cam.depth.to_numpy()[0, 0]
    assert img[cy, cx].tolist() == pytest.approx([1, 0, 0])
    ray = np.array([cx + 0.5 - cam.width / 2, cam.height / 2 - cy - 0.5, cam.focal])
    along = 5.0 * cam.focal / np.linalg.norm(ray)  # closest approach to the centre
    first_hit = along - math.sqrt(0.25 - (25.0 - along * along))
    assert depth[cy, cx] == pytest.approx(first_hit, rel=1e-12)
    sim.set_param("init_pos", [[[0, 3, 1], [0, 2, 1]]])
    sim.rollout()
    cam.render_all()
    img = cam.images()[0, 0]
    assert img[cy, cx].tolist() == pytest.approx([0, 1, 0])
    # the box (1.6 m wide) hides all of the sphere
    assert not ((img[..., 0] > 0.5) & (img[..., 1] < 0.5)).any()
    sim.set_param("init_pos", [[[0, 0, 1], [0, 2, 1]]])


def test_the_soft_image_tends_to_the_hard_image(hard):
    """The soft silhouette differs from the hard image only near edges, by less and less as
    the softness (edge width in pixels) goes to zero."""
    _, cam = hard
    cam.render_all()
    hard_img = cam.images()[0, 0]
    diffs = []
    for softness in (1.0, 0.1, 0.01):
        cam.set_softness(softness)
        cam.render_all()
        diffs.append(np.abs(cam.images()[0, 0] - hard_img).mean())
    cam.set_softness(0.0)
    assert diffs[0] > 5 * diffs[1] > 25 * diffs[2]
    assert diffs[2] < 1e-3


@pytest.mark.slow
def test_ground_depth_and_checkerboard(backend64):
    """Looking straight down from 4 m: every ground pixel's depth is 4 m / cos(angle off the
    axis), and the 1 m checker squares alternate in colour across x = 0 and y = 0."""
    _, cam = _render(_ground_only(), camera="down")
    depth = cam.depth.to_numpy()[0, 0]
    H, W, f = cam.height, cam.width, cam.focal
    ys, xs = np.mgrid[0:H, 0:W]
    u, v = xs + 0.5 - W / 2, H / 2 - ys - 0.5
    assert np.allclose(depth, 4.0 * np.sqrt(u * u + v * v + f * f) / f, rtol=1e-9)
    img = cam.images()[0, 0]
    # the camera is centred over (0.25, 0.25): the world origin is left of and below centre
    px = int(round(W / 2 - 0.25 * f / 4.0))  # pixel column of x = 0
    a, b = img[H // 4, px - 3, 0], img[H // 4, px + 3, 0]
    assert a != pytest.approx(b)


def _ground_only():
    return parse_robot(
        """
bodies:
  - {name: speck, pos: [0, 0, -5], mass: 1, shapes: [{type: sphere, radius: 0.01}]}
solver: {gravity: [0, 0, 0]}
ground: {checker: 1.0}
cameras:
  - {name: down, pos: [0.25, 0.25, 4], look_at: [0.25, 0.25, 0], up: [0, 1, 0], fov: 40,
     width: 32, height: 32, softness: 0, ambient: 1}
""",
        "ground.yaml",
    )


@pytest.mark.slow
def test_a_camera_on_a_body_moves_with_it(backend64):
    """A camera mounted on a tumbling body sees the body's own sphere at a fixed place in
    every frame, while the fixed world sphere moves across the image."""
    robot = parse_robot(
        """
bodies:
  - {name: drone, pos: [0, 0, 1], vel: [0.5, 0.2, 0], omega: [0, 0, 90], mass: 1,
     shapes: [{type: sphere, radius: 0.05, color: [0, 0, 0]},
              {type: sphere, radius: 0.2, pos: [0, 2, 0], color: [1, 0, 0]}]}
  - {name: post, pos: [0, 4, 1], mass: 1, shapes: [{type: sphere, radius: 0.3, color: [0, 1, 0]}]}
solver: {gravity: [0, 0, 0]}
ground: {enabled: false}
cameras:
  - {name: eye, body: drone, pos: [0, 0.1, 0], look_at: [0, 1, 0], fov: 60, width: 32,
     height: 24, softness: 0.5, ambient: 1}
""",
        "drone.yaml",
    )
    import tdphys
    from tdphys.vision import Renderer

    sim = tdphys.Simulation(robot, steps=20)
    sim.set_param("init_pos", [[[0, 0, 1], [0, -40, 1]]])  # the post behind the camera
    cam = Renderer(sim, "eye")
    sim.rollout()
    cam.render_all()
    imgs = cam.images()[:, 0]
    assert np.abs(imgs - imgs[0]).max() < 1e-9
    sim.set_param("init_pos", [[[0, 0, 1], [1, 4, 1]]])
    sim.rollout()
    cam.render_all()
    imgs = cam.images()[:, 0]
    green = (imgs[..., 1] > 0.5) & (imgs[..., 2] < 0.5)
    cols = [np.nonzero(g)[1].mean() for g in green if g.any()]
    assert len(cols) == 21 and cols[-1] - cols[0] > 2  # turning left: it moves right


def last_frame_loss(sim, cam, T):
    """loss(tape=False) -> the image loss of frame T after a rollout (image_loss_kernel);
    loss(tape=True) runs the same under the tape, leaving the gradients in sim."""
    k_loss = image_loss_kernel(sim, cam, T)

    def loss(tape=False):
        if tape:
            with sim.tape(cam):
                sim.rollout()
                cam.render(T)
                k_loss()
            return
        sim.loss[None] = 0.0
        sim.rollout()
        cam.render(T)
        k_loss()
        return float(sim.loss[None])

    return loss


@pytest.mark.slow
def test_image_gradients_match_finite_differences(backend64):
    """d loss / d (initial poses, velocities, sizes) where the loss weighs every pixel of
    the last frame of a drifting, spinning three-shape scene (a sphere partly hiding a box):
    through silhouette edges, occlusion and shading, within 1e-4 of central differences."""
    import tdphys
    from tdphys.vision import Renderer

    T = 3
    sim = tdphys.Simulation(parse_robot(SCENE, "scene.yaml"), steps=T)
    cam = Renderer(sim, "front")
    loss = last_frame_loss(sim, cam, T)
    loss(tape=True)
    checked = check_param_gradients(
        sim,
        loss,
        (
            "init_pos",
            "init_quat",
            "init_vel",
            "init_omega",
            "shape_radius",
            "shape_half_extents",
            "shape_half_length",
        ),
        every=2,
    )  # every other: time
    assert checked > 20


GRAZING = """
bodies:
  - {{name: ball, pos: [0.3, 0, 1], mass: 1, shapes: [{shape}]}}
solver: {{gravity: [0, 0, 0]}}
ground: {{enabled: false}}
cameras:
  - {{name: front, pos: [0, -5, 1], look_at: [0, 0, 1], fov: 1, width: 1, height: 1,
     softness: 0.7, ambient: 0.2, background: [0, 0, 0]}}
"""


@pytest.mark.parametrize(
    "shape",
    [
        "{type: sphere, radius: 0.5, color: [1, 0, 0]}",
        "{type: capsule, radius: 0.5, half_length: 0.5, color: [1, 0, 0]}",
    ],
)
@pytest.mark.slow
def test_a_grazing_ray_has_a_bounded_gradient(backend64, shape):
    """Where a ray grazes a round surface its entry point moves infinitely fast with the pose
    (the normal turns by 90 degrees within no distance), so d shading / d pose is unbounded;
    the renderer shades at a point whose derivative stays bounded (docs/camera.md, "Grazing
    rays"). A one-pixel camera's ray passes r (1 - delta) from the sphere's centre or the
    capsule's axis, delta from 0.3 down to 1e-12: d red / d x stays within 10 times its value
    at delta = 0.3 (shaded at the exact entry it grew as delta^(-1/2): 2.8e5 times at 1e-12)."""
    import taichi as ti
    import tdphys
    from tdphys.vision import Renderer

    sim = tdphys.Simulation(parse_robot(GRAZING.format(shape=shape), "grazing.yaml"), steps=1)
    cam = Renderer(sim, "front")

    @ti.kernel
    def k_red():
        sim.loss[None] += cam.image[0, 0, 0, 0, 0]

    def d_red_dx(delta):
        pos = sim.get_param("init_pos")
        pos[0, 0, 0] = 0.5 * (1.0 - delta)
        sim.set_param("init_pos", pos)
        with sim.tape(cam):
            sim.rollout()
            cam.render(0)
            k_red()
        return sim.param_grad("init_pos")[0, 0, 0]

    reference = abs(d_red_dx(0.3))
    grads = np.array([d_red_dx(10.0**-k) for k in range(1, 13)])
    assert reference > 0.01 and np.all(np.isfinite(grads))
    assert np.abs(grads).max() < 10 * reference, grads / reference


@pytest.mark.slow
def test_a_capsule_is_shaded_continuously_across_its_seams(backend64):
    """The capsule's shading point comes from the ray's closest approach to the whole axis
    segment, so it is continuous where the side meets an end sphere and bounded at the
    silhouette: a one-pixel camera's ray sweeps over a capsule tilted towards the camera
    (side, seam, end sphere, silhouette, background) in steps of 0.1 mm, lit along the view,
    and red never changes by more than 4e-3 from one step to the next (measured 2.5e-3, at
    the silhouette; shaded at the exact entry, 7.2e-3 there)."""
    import tdphys
    from tdphys.vision import Renderer

    shape = "{type: capsule, radius: 0.3, half_length: 0.4, color: [1, 0, 0]}"
    text = GRAZING.format(shape=shape).replace(
        "pos: [0.3, 0, 1]", "pos: [0, 0, 1], euler: [50, 0, 0]"
    )
    sim = tdphys.Simulation(
        parse_robot(text.replace("ambient: 0.2,", "ambient: 0.2, light: [0, 1, 0],"), "seam.yaml"),
        steps=1,
    )
    cam = Renderer(sim, "front")
    pos = sim.get_param("init_pos")
    reds = []
    for z in np.arange(0.0, 0.8, 1e-4):
        pos[0, 0, 2] = 1.0 + z
        sim.set_param("init_pos", pos)
        sim.rollout()
        cam.render(0)
        reds.append(cam.image.to_numpy()[0, 0, 0, 0, 0])
    reds = np.array(reds)
    assert reds.max() > 0.7 and reds.min() < 0.01  # from the side to the background
    assert np.abs(np.diff(reds)).max() < 4e-3


TIP = """
bodies:
  - name: pole
    pos: [0.613, 0, 1.634]       # the tip at (0, 0, 1.12)
    euler: [0, 50, 0]
    mass: 1
    shapes:
      - {type: capsule, radius: 0.06, fromto: [0, 0, 0, 0, 0, -0.8], color: [0.9, 0.2, 0.1]}
      - {type: sphere, radius: 0.1, pos: [0, 0, -0.8], color: [0.95, 0.8, 0.1]}
solver: {gravity: [0, 0, 0]}
ground: {enabled: false}
cameras:
  - {name: front, pos: [-2, -4, 2], look_at: [0, 0, 1], fov: 1, width: 1, height: 1,
     softness: 0.7, ambient: 1, background: [0, 0, 0]}
"""


@pytest.mark.slow
def test_a_ball_on_a_capsule_end_stays_in_front_of_it_where_the_ray_misses_both(backend64):
    """A pendulum's tip: a ball centred on the end of its capsule pole. A ray that misses both
    has the same closest approach to each, so ordering misses by that depth alone let
    rounding decide which one is composited first, and the pixel jumped by 0.07 in green (4 %
    of the poses below) as the pole moved by 0.1 mm. A miss is ordered at its closest
    approach plus ORDER_SLOPE x s, so the ball, the nearer silhouette, stays in front: a
    one-pixel ray passing about 0.12 m from the tip sweeps across it and the colour changes
    smoothly."""
    import tdphys
    from tdphys.vision import Renderer

    sim = tdphys.Simulation(parse_robot(TIP, "tip.yaml"), steps=1)
    cam = Renderer(sim, "front")
    pos = sim.get_param("init_pos")
    start = pos[0, 0, 0]
    pixels = []
    for x in np.arange(-0.05, 0.05, 1e-4):
        pos[0, 0, 0] = start + x
        sim.set_param("init_pos", pos)
        sim.rollout()
        cam.render(0)
        pixels.append(cam.image.to_numpy()[0, 0, 0, 0])
    green = np.array(pixels)[:, 1]
    assert 0.1 < green.min() and green.max() < 0.5  # both shapes partly cover it
    assert np.abs(np.diff(green)).max() < 1e-3


@pytest.mark.parametrize(
    "yaml_text, key, words",
    [
        (
            "cameras: [{name: c, pos: [0, -3, 1], look_at: [0, 0, 1], fvo: 40}]",
            "cameras[0].fvo",
            "did you mean 'fov'",
        ),
        ("cameras: [{name: c, body: wheel, pos: [0, -3, 1]}]", "cameras[0].body", "no body named"),
        (
            "cameras: [{name: c, pos: [0, 0, 1], look_at: [0, 0, 1]}]",
            "cameras[0].look_at",
            "look_at is the camera position",
        ),
        (
            "cameras: [{name: c, pos: [0, 0, 3], look_at: [0, 0, 0]}]",
            "cameras[0].look_at",
            "parallel to `up`",
        ),
        ("cameras: [{name: c, fov: 180}]", "cameras[0].fov", "between 0 and 180"),
        ("cameras: [{name: c, width: 0}]", "cameras[0].width", ""),
        ("cameras: [{name: c}, {name: c}]", "cameras[1].name", "duplicate camera name"),
    ],
)
def test_bad_cameras_are_refused_with_the_key_and_a_fix(yaml_text, key, words):
    text = "bodies: [{name: ball, shapes: [{type: sphere, radius: 0.1}]}]\n" + yaml_text
    with pytest.raises(ModelError) as err:
        parse_robot(text, "bad.yaml")
    message = str(err.value)
    assert key in message and words in message and "bad.yaml" in message


def test_an_unknown_camera_name_lists_the_cameras(hard):
    from tdphys.vision import Renderer

    sim, _ = hard
    with pytest.raises(KeyError, match="has no camera 'back'; it has front, down"):
        Renderer(sim, "back")


# ------------------------------------------------------------ cylinders, the world's shapes
# A cylinder in front of a world box, over an unbounded floor tilted by 10 degrees; behind
# them a wall facing away from the camera (seen from its back: not drawn) and a wall facing it.
FIXED = """
bodies:
  - {name: can, pos: [0, 0, 1], mass: 1,
     shapes: [{type: cylinder, radius: 0.4, half_length: 0.5, color: [1, 0, 0]}]}
world:
  shapes:
    - {type: box, size: [0.3, 0.3, 0.3], pos: [1.4, 1.5, 1.0], euler: [0, 0, 20],
       color: [0, 1, 0]}
    - {type: plane, pos: [0, 0, 0.2], euler: [0, 10, 0], color: [0, 0, 1]}
    - {type: plane, pos: [0, 3, 0], euler: [-90, 0, 0], color: [1, 0, 1]}
    - {type: plane, pos: [0, 6, 0], euler: [90, 0, 0], color: [1, 1, 0]}
solver: {gravity: [0, 0, 0]}
ground: {enabled: false}
cameras:
  - {name: front, pos: [0, -5, 1.3], look_at: [0, 0, 1], fov: 40, width: 96, height: 72,
     softness: 0, ambient: 1, background: [0, 0, 0]}
"""


def _hull_area(points) -> float:
    """Area of the convex hull of 2-D points (N, 2) (Andrew's monotone chain)."""
    pts = sorted(map(tuple, np.asarray(points, float)))

    def half(seq):
        out = []
        for p in seq:
            while (
                len(out) >= 2
                and (
                    (out[-1][0] - out[-2][0]) * (p[1] - out[-2][1])
                    - (out[-1][1] - out[-2][1]) * (p[0] - out[-2][0])
                )
                <= 0
            ):
                out.pop()
            out.append(p)
        return out[:-1]

    hull = np.array(half(pts) + half(pts[::-1]))
    x, y = hull[:, 0], hull[:, 1]
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _pixel_ray(spec, y, x):
    """World origin [m] and unit direction of the ray through pixel (y, x) of a fixed camera."""
    from tdphys.rotations import quat_to_matrix

    d = np.array([x + 0.5 - spec.width / 2, spec.height / 2 - y - 0.5, -spec.focal_px])
    return np.array(spec.pos), quat_to_matrix(spec.quat) @ (d / np.linalg.norm(d))


@pytest.mark.slow
def test_a_cylinder_and_the_worlds_shapes_are_where_they_project(backend64):
    """Hard images: a cylinder covers the convex hull of its projected end rims (a
    perspective image of a convex solid is convex) to 3 % in five orientations, the axis
    along the view among them (then a disc of radius f r / (d - h)); the world box is drawn
    at its fixed pose whatever the body does (a shape of body -1 indexed as a body would move
    with the last body), its depth where the ray enters it; planes are seen only from the
    side their normal faces (the wall facing away is not drawn, the one behind it is), with
    their colour and the depth of the ray's hit."""
    import tdphys
    from tdphys.rotations import quat_to_matrix
    from tdphys.vision import Renderer, project

    robot = parse_robot(FIXED, "fixed.yaml")
    sim = tdphys.Simulation(robot, steps=1)
    cam = Renderer(sim, "front")
    spec, centre = cam.cam, np.array([0.0, 0.0, 1.0])
    r, h = 0.4, 0.5
    towards = np.array(spec.pos) - centre  # the axis along the view: from +z onto this
    axis = np.cross([0.0, 0.0, 1.0], towards)
    angle = math.atan2(np.linalg.norm(axis), towards[2])
    along_view = np.r_[math.cos(angle / 2), math.sin(angle / 2) * axis / np.linalg.norm(axis)]
    quats = [along_view, [1, 0, 0, 0], [0.8, 0.3, 0.5, 0.1], [0.3, -0.6, 0.2, 0.7], [0, 1, 0, 0]]
    box_masks, reds = [], []
    for quat in quats:
        quat = np.asarray(quat, float) / np.linalg.norm(quat)
        sim.set_param("init_quat", quat.reshape(1, 1, 4))
        sim.rollout()
        cam.render_all()
        img = cam.images()[0, 0]
        red = (img[..., 0] > 0.5) & (img[..., 1] < 0.5) & (img[..., 2] < 0.5)
        ring = np.linspace(0.0, 2 * np.pi, 2000, endpoint=False)
        rims = [
            np.stack([r * np.cos(ring), r * np.sin(ring), np.full_like(ring, z)], 1)
            @ quat_to_matrix(quat).T
            + centre
            for z in (-h, h)
        ]
        expected = _hull_area(project(spec, np.concatenate(rims)))
        assert abs(red.sum() - expected) < 0.03 * expected, (quat, red.sum(), expected)
        box_masks.append((img[..., 1] > 0.5) & (img[..., 0] < 0.5))
        reds.append(red.sum())
    disc = math.pi * (cam.focal * r / (np.linalg.norm(towards) - h)) ** 2
    assert abs(reds[0] - disc) < 0.03 * disc
    assert all((m == box_masks[0]).all() for m in box_masks) and box_masks[0].sum() > 50
    img, depth = cam.images()[0, 0], cam.depth.to_numpy()[0, 0]
    # the world box: the pixel its centre projects to, entered at the slab test's depth
    box = robot.world_shapes[0]
    bx, by = project(spec, box.pos).astype(int)
    assert img[by, bx].tolist() == pytest.approx([0, 1, 0])
    o, d = _pixel_ray(spec, by, bx)
    rot = quat_to_matrix(box.quat)
    ol, dl = rot.T @ (o - box.pos), rot.T @ d
    t1, t2 = (-np.array(box.half_extents) - ol) / dl, (np.array(box.half_extents) - ol) / dl
    assert depth[by, bx] == pytest.approx(np.minimum(t1, t2).max(), rel=1e-9)
    # a plane: colour and depth of the ray's hit, on the side its normal faces
    for (y, x), plane in (((0, 0), robot.world_shapes[3]), ((71, 0), robot.world_shapes[1])):
        o, d = _pixel_ray(spec, y, x)
        normal = quat_to_matrix(plane.quat)[:, 2]
        assert img[y, x].tolist() == pytest.approx(list(plane.color))
        assert depth[y, x] == pytest.approx(normal @ (plane.pos - o) / (normal @ d), rel=1e-9)
    assert not ((img[..., 0] > 0.5) & (img[..., 2] > 0.5)).any()  # the wall facing away


def _fixed_scene_with_textures(folder):
    """A textured cylinder spinning in front of a world box, a bounded tilted plane (soft
    edges, textured) and an unbounded tilted floor (hard)."""
    import imageio.v3 as iio

    path = folder / "tex.png"
    rng = np.random.default_rng(0)
    iio.imwrite(path, (255 * rng.uniform(0.2, 1.0, (8, 8, 3))).round().astype(np.uint8))
    return f"""
bodies:
  - {{name: can, pos: [0.1, 0, 1], euler: [30, 40, 0], vel: [0.3, 0, 0.4], omega: [20, 50, 10],
     mass: 1, shapes: [{{type: cylinder, radius: 0.35, half_length: 0.4, color: [1, 0.2, 0],
     texture: {path}}}]}}
world:
  shapes:
    - {{type: box, size: [0.3, 0.25, 0.4], pos: [0.5, 0.8, 0.9], euler: [10, 20, 30],
       color: [0, 1, 0.2]}}
    - {{type: plane, size: [1.2, 0.8], pos: [-0.3, 1.5, 1.0], euler: [70, 10, 0],
       color: [0.2, 0.3, 1], texture: {path}}}
    - {{type: plane, pos: [0, 0, 0.2], euler: [0, 10, 0], color: [0.6, 0.6, 0.6]}}
solver: {{gravity: [0, 0, 0]}}
ground: {{enabled: false}}
cameras:
  - {{name: front, pos: [0, -4, 1.2], look_at: [0, 0, 0.9], fov: 45, width: 24, height: 16,
     softness: 1.0}}
"""


@pytest.mark.slow
def test_image_gradients_through_a_cylinder_and_the_worlds_shapes(backend64, tmp_path):
    """d loss / d (the cylinder's initial pose, velocity and size; the world box's and the
    planes' poses and drawn sizes) where the loss weighs every pixel of the last frame: through
    the cylinder's side, ends, rims and texture, occlusion of the world box, and the soft edges
    of a bounded tilted plane, within 1e-4 of central differences in f64. The unbounded
    floor's drawn size stays 0 (a step of h would bound it)."""
    import tdphys
    from tdphys.vision import Renderer

    T = 3
    sim = tdphys.Simulation(parse_robot(_fixed_scene_with_textures(tmp_path), "w.yaml"), steps=T)
    cam = Renderer(sim, "front")
    loss = last_frame_loss(sim, cam, T)
    loss(tape=True)
    names = ("init_pos", "init_quat", "init_vel", "shape_radius", "shape_half_length")
    names += ("shape_pos", "shape_quat", "shape_half_extents")
    for name in ("shape_pos", "shape_quat"):  # the world box and the bounded plane count
        assert (np.linalg.norm(sim.param_grad(name)[0, 1:3], axis=-1) > 1e-3).all(), name
    floor = {("shape_half_extents", (0, 3, a)) for a in range(3)}
    assert check_param_gradients(sim, loss, names, skip=floor) > 40
