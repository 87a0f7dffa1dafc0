"""Image textures on shapes and on the ground (tdphys/model/textures.py, docs/camera.md#textures):
a 2 x 2 image on a box face shows its four colours in the face's four quadrants; textured
spheres, capsules and boxes match a numpy ray caster with the documented (u, v) mappings and
bilinear lookup; the ground texture repeats every texture_size metres; the image gradient
with respect to textured bodies' initial poses matches central differences in f64; missing
files and files that are not images are refused with the key and a fix."""

import math

import numpy as np
import pytest

from camera_checks import check_param_gradients, image_loss_kernel

from tdphys.errors import ModelError
from tdphys.model import parse_robot
from tdphys.model.textures import bilinear, pack_textures, read_texture, to_rgb

QUADRANTS = np.array(
    [
        [[255, 0, 0], [0, 255, 0]],  # top row: red, green
        [[0, 0, 255], [255, 255, 255]],
    ],  # bottom row: blue, white
    np.uint8,
)


def _png(folder, name, pixels):
    import imageio.v3 as iio

    path = folder / name
    iio.imwrite(path, np.asarray(pixels))
    return path


def _smooth(seed, size=8):
    """A size x size RGB texture of random colours in [0.2, 1] (8-bit)."""
    rng = np.random.default_rng(seed)
    return (255 * rng.uniform(0.2, 1.0, (size, size, 3))).round().astype(np.uint8)


def _quat_matrix(q):
    w, x, y, z = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def _rays(spec):
    """World origin and unit directions (H, W, 3) of a world-fixed camera's pixel rays."""
    ys, xs = np.mgrid[0 : spec.height, 0 : spec.width]
    d = np.stack(
        [xs + 0.5 - spec.width / 2, spec.height / 2 - ys - 0.5, -spec.focal_px * np.ones(xs.shape)],
        -1,
    )
    d = d @ _quat_matrix(spec.quat).T
    return np.asarray(spec.pos, float), d / np.linalg.norm(d, axis=-1, keepdims=True)


# --------------------------------------------------------------------------- reading images
def test_images_become_float_rgb(tmp_path):
    rgb = read_texture(_png(tmp_path, "q.png", QUADRANTS))
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.float64
    assert rgb[0, 0].tolist() == [1, 0, 0] and rgb[1, 1].tolist() == [1, 1, 1]
    grey_alpha = np.array([[[51, 0], [255, 255]]], np.uint8)  # (1, 2, 2)
    assert to_rgb(grey_alpha).tolist() == [[[0.2] * 3, [1.0] * 3]]
    assert to_rgb(np.array([[65535]], np.uint16)).tolist() == [[[1.0] * 3]]
    rgba = read_texture(_png(tmp_path, "a.png", np.full((3, 1, 4), 255, np.uint8)))
    assert rgba.shape == (3, 1, 3)
    data, info = pack_textures([rgb, rgba])
    assert data.shape == (7, 3) and info.tolist() == [[0, 2, 2], [4, 3, 1]]


# ---------------------------------------------------------------------------- forward images
def test_a_two_by_two_texture_on_a_box_face_fills_its_quadrants(backend64, tmp_path):
    """A box face seen head-on (ambient 1): its upper-left quarter shows the image's top-left
    texel, and so on; the face centre is the mean of the four (bilinear); the shape's colour
    multiplies the texture."""
    from tdphys.vision.images import PoseRenderer

    _png(tmp_path, "quad.png", QUADRANTS)
    robot = parse_robot(
        """
bodies:
  - {name: crate, pos: [0, 0, 1], mass: 1, shapes: [{type: box, size: [0.5, 0.2, 0.5],
     color: [1, 0.5, 1], texture: quad.png}]}
ground: {enabled: false}
cameras:
  - {name: front, pos: [0, -5, 1], look_at: [0, 0, 1], fov: 20, width: 20, height: 20,
     softness: 0, ambient: 1, background: [0, 0, 0]}
""",
        str(tmp_path / "crate.yaml"),
    )
    shape = robot.bodies[0].shapes[0]
    assert shape.texture == str((tmp_path / "quad.png").resolve())
    img = PoseRenderer(robot, "front").render(
        np.array([[[0, 0, 1.0]]]), np.array([[[1.0, 0, 0, 0]]])
    )[0]
    tint = np.array([1, 0.5, 1])
    face = np.argwhere(img.sum(-1) > 0.01)
    (y0, x0), (y1, x1) = face.min(0), face.max(0)
    assert 12 <= y1 - y0 + 1 <= 14 and 12 <= x1 - x0 + 1 <= 14  # 1 m at 5 m, fov 20: 13 px
    # the outer quarter of each quadrant is one texel (clamped at the face's edges)
    corners = {(y0, x0): [1, 0, 0], (y0, x1): [0, 1, 0], (y1, x0): [0, 0, 1], (y1, x1): [1, 1, 1]}
    for (y, x), colour in corners.items():
        assert img[y, x] == pytest.approx(tint * colour, abs=1e-12), (y, x)
    centre = img[(y0 + y1) // 2 : (y0 + y1) // 2 + 2, (x0 + x1) // 2 : (x0 + x1) // 2 + 2]
    assert centre.mean((0, 1)) == pytest.approx(tint * 0.5, abs=0.08)


SHAPES = """
bodies:
  - {{name: ball, pos: [-0.9, 0, 1], euler: [30, 50, 70], mass: 1,
     shapes: [{{type: sphere, radius: 0.45, color: [1, 1, 1], texture: a.png}}]}}
  - {{name: crate, pos: [0.2, 0, 1], euler: [20, -30, 40], mass: 1,
     shapes: [{{type: box, size: [0.3, 0.35, 0.25], color: [1, 0.8, 0.6], texture: b.png}}]}}
  - {{name: rod, pos: [1.1, 0, 1], euler: [60, 20, 10], mass: 1,
     shapes: [{{type: capsule, radius: 0.2, half_length: 0.3, color: [1, 1, 1], texture: a.png}}]}}
solver: {{gravity: [0, 0, 0]}}
ground: {{enabled: false}}
cameras:
  - {{name: front, pos: [0.1, -4, 1.3], look_at: [0.1, 0, 1], fov: 30, width: 64, height: 32,
     softness: {softness}, ambient: 1, background: [0, 0, 0]}}
"""


def _sdf(kind, p, size):
    """Signed distance (...,) of local points p to a shape: size = radius, half sizes, or
    (radius, half length)."""
    if kind == "sphere":
        return np.linalg.norm(p, axis=-1) - size
    if kind == "box":
        q = np.abs(p) - size
        return np.linalg.norm(np.maximum(q, 0), axis=-1) + np.minimum(q.max(-1), 0)
    r, h = size
    z = np.clip(p[..., 2], -h, h)
    return np.linalg.norm(p - np.stack([0 * z, 0 * z, z], -1), axis=-1) - r


def _shading_point(kind, ol, dl, t, p, size):
    """The point (..., 3) a round shape is shaded at (docs/camera.md, "Grazing rays"): with
    t_c the ray's closest approach to the sphere's centre or to the capsule's axis segment,
    t_c - (sqrt((t_c - t)^2 + e^2) - e), e = GRAZE r, in place of the entry t."""
    from tdphys.vision.renderer import GRAZE

    if kind == "sphere":
        r, closest = size, np.zeros_like(p)
    else:  # the axis point nearest to the ray's line, clipped
        r, h = size
        dxy = (dl * dl)[..., :2].sum(-1)
        t_line = -(ol[..., :2] * dl[..., :2]).sum(-1) / dxy
        z = np.clip(ol[..., 2] + t_line * dl[..., 2], -h, h)
        closest = np.stack([0 * z, 0 * z, z], -1)
    tc = ((closest - ol) * dl).sum(-1)
    e = GRAZE * r
    ts = tc - (np.sqrt((tc - t) ** 2 + e * e) - e)
    return ol + ts[..., None] * dl


def _reference(robot, spec):
    """Hard image (H, W, 3) by sphere tracing the shapes' SDFs in numpy and the documented
    (u, v) maps, and a mask of the pixels safely inside one shape's (and one box face's)
    region."""
    origin, dirs = _rays(spec)
    H, W = dirs.shape[:2]
    best = np.full((H, W), np.inf)
    image, label = np.zeros((H, W, 3)), np.full((H, W), -1)
    for i, body in enumerate(robot.bodies):
        shape = body.shapes[0]
        rot = _quat_matrix(body.quat)
        ol, dl = (origin - np.asarray(body.pos)) @ rot, dirs @ rot  # into the shape frame
        size = {
            "sphere": shape.radius,
            "box": np.asarray(shape.half_extents),
            "capsule": (shape.radius, shape.half_length),
        }[shape.kind]
        t = np.zeros((H, W))
        for _ in range(300):
            t += _sdf(shape.kind, ol + t[..., None] * dl, size)
        p = ol + t[..., None] * dl
        hit = (np.abs(_sdf(shape.kind, p, size)) < 1e-9) & (t < best)
        tex = read_texture(shape.texture)
        if shape.kind == "box":
            k = np.argmax(np.abs(p) / size, -1)
            sign = np.sign(np.take_along_axis(p, k[..., None], -1)[..., 0])
            hx, hy, hz = size
            u = np.choose(
                k,
                [
                    0.5 + 0.5 * sign * p[..., 1] / hy,
                    0.5 - 0.5 * sign * p[..., 0] / hx,
                    0.5 + 0.5 * p[..., 0] / hx,
                ],
            )
            v = np.choose(
                k,
                [
                    0.5 + 0.5 * p[..., 2] / hz,
                    0.5 + 0.5 * p[..., 2] / hz,
                    0.5 + 0.5 * sign * p[..., 1] / hy,
                ],
            )
            part = 10 * i + k * 2 + (sign > 0)
        else:
            ps = _shading_point(shape.kind, ol, dl, t, p, size)
            if shape.kind == "sphere":
                n = ps / np.linalg.norm(ps, axis=-1, keepdims=True)
                v = 0.5 + np.arctan2(n[..., 2], np.hypot(n[..., 0], n[..., 1])) / math.pi
            else:
                r, h = size
                axis = np.stack([0 * ps[..., 2], 0 * ps[..., 2], np.clip(ps[..., 2], -h, h)], -1)
                n = ps - axis
                n = n / np.linalg.norm(n, axis=-1, keepdims=True)
                v = 0.5 + 0.5 * (axis + r * n)[..., 2] / (h + r)
            u = 0.5 + np.arctan2(n[..., 1], n[..., 0]) / (2 * math.pi)
            part = np.full((H, W), 10 * i)
        colour = np.asarray(shape.color) * bilinear(tex, u, v, shape.kind == "box", True)
        image[hit], best[hit], label[hit] = colour[hit], t[hit], part[hit]
    inner = label >= 0
    for axis in (0, 1):
        for shift in (1, -1):
            inner &= np.roll(label, shift, axis) == label
    inner[[0, -1], :] = inner[:, [0, -1]] = False
    return image, inner


def test_textured_shapes_match_a_numpy_ray_caster(backend64, tmp_path):
    """Sphere (longitude, latitude), box (the entered face's in-face coordinates) and capsule
    (angle about, height along the axis) textures, every shape turned: each pixel inside a
    shape's (and a box face's) region is its colour times the bilinear texture at the mapped
    (u, v)."""
    from tdphys.vision import camera_spec
    from tdphys.vision.images import PoseRenderer

    _png(tmp_path, "a.png", _smooth(1))
    _png(tmp_path, "b.png", _smooth(2, size=5))
    robot = parse_robot(SHAPES.format(softness=0), str(tmp_path / "shapes.yaml"))
    pos = np.array([[b.pos for b in robot.bodies]])  # one shape at each body's origin
    quat = np.array([[b.quat for b in robot.bodies]])
    img = PoseRenderer(robot, "front").render(pos, quat)[0]
    expected, inner = _reference(robot, camera_spec(robot, "front"))
    assert inner.sum() > 150
    assert np.abs(img - expected)[inner].max() < 1e-6
    # each of the three shapes shows many colours (the texture, not a flat colour)
    assert len(np.unique(img[inner].round(3), axis=0)) > 100


def test_the_ground_texture_repeats_every_texture_size(backend64, tmp_path):
    """A camera on a body looks straight down from 3 m: moving it by texture_size along x or
    y shows the same image, by half of it a different one; every pixel is the ground colour
    times the bilinear texture at (x, y) / texture_size."""
    from tdphys.vision.images import PoseRenderer

    tile = _smooth(3, size=6)
    _png(tmp_path, "tiles.png", tile)
    robot = parse_robot(
        """
bodies:
  - {name: drone, pos: [0, 0, 3], mass: 1,
     shapes: [{type: sphere, radius: 0.01, pos: [0, 0, 0.5]}]}
ground: {color: [1, 0.9, 0.8], texture: tiles.png, texture_size: 0.4, checker: 0.5}
cameras:
  - {name: down, body: drone, look_at: [0, 0, -1], up: [0, 1, 0], fov: 50, width: 24,
     height: 16, softness: 0, ambient: 1}
""",
        str(tmp_path / "drone.yaml"),
    )
    assert robot.ground.texture_size == 0.4
    com = np.array([0.13, -0.07, 3.5])  # the body frame at (0.13, -0.07, 3)
    shifts = [[0, 0, 0], [0.4, 0, 0], [0, -0.8, 0], [0.2, 0, 0], [0, 0.2, 0]]
    imgs = PoseRenderer(robot, "down").render(
        np.array([[com + s] for s in shifts]), np.tile([1.0, 0, 0, 0], (5, 1, 1))
    )
    assert np.abs(imgs[1] - imgs[0]).max() < 1e-9 and np.abs(imgs[2] - imgs[0]).max() < 1e-9
    assert np.abs(imgs[3] - imgs[0]).max() > 0.1 and np.abs(imgs[4] - imgs[0]).max() > 0.1
    from tdphys.vision import camera_spec

    spec = camera_spec(robot, "down")
    ys, xs = np.mgrid[0 : spec.height, 0 : spec.width]
    x = 0.13 + 3.0 * (xs + 0.5 - spec.width / 2) / spec.focal_px  # image right = world x
    y = -0.07 + 3.0 * (spec.height / 2 - ys - 0.5) / spec.focal_px  # image up = world y
    expected = np.array([1, 0.9, 0.8]) * bilinear(tile / 255.0, x / 0.4, y / 0.4)
    assert np.abs(imgs[0] - expected).max() < 1e-9


# ------------------------------------------------------------------------------ gradients
@pytest.mark.slow
def test_image_gradients_through_textures_match_finite_differences(backend64, tmp_path):
    """d loss / d (initial position and orientation) of a textured sphere, box and capsule,
    soft edges (softness 1 pixel), loss weighing every pixel: through the bilinear texture
    lookup as well as edges and shading, within 1e-4 of central differences (f64). (Checked
    to fail when the texture's share of the gradient is cut: an integer round trip of the
    bilinear weights, forward unchanged to 1e-13.) Only the initial state and the image are
    taped: no physics step, so only the renderer's adjoints compile."""
    import tdphys
    from tdphys.vision import Renderer

    _png(tmp_path, "a.png", _smooth(4))
    _png(tmp_path, "b.png", _smooth(5))
    robot = parse_robot(
        SHAPES.format(softness=1.0).replace("ambient: 1", "ambient: 0.4"),
        str(tmp_path / "shapes.yaml"),
    )
    sim = tdphys.Simulation(robot, steps=1)
    cam = Renderer(sim, "front")
    k_loss = image_loss_kernel(sim, cam, 0)

    def loss():
        sim.loss[None] = 0.0
        sim.k_mass()
        sim.k_init()
        cam.render(0)
        k_loss()
        return float(sim.loss[None])

    sim.k_mass()  # the masses do not change: only the initial state and the image are taped
    with sim.tape(cam):
        sim.k_init()
        cam.render(0)
        k_loss()
    quat_grad = sim.param_grad("init_quat")  # the ball's turn shows only through its texture
    assert np.abs(quat_grad[0, 0]).max() > 0.01 * np.abs(quat_grad).max()
    assert np.abs(sim.param_grad("init_pos")).max() > 0
    checked = check_param_gradients(sim, loss, ("init_pos", "init_quat"))
    assert checked == 21


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "where, key",
    [
        ("shape", "bodies[0].shapes[0].texture"),
        ("ground", "ground.texture"),
        ("defaults", "defaults.shape.texture"),
    ],
)
@pytest.mark.parametrize(
    "file, words",
    [
        ("missing.png", "not found"),
        ("notes.png", "cannot use 'notes.png' as a texture"),
        ("folder", "is a folder, not a file"),  # says what it is (it was "not found")
    ],
)
def test_bad_textures_are_refused_with_the_key_and_a_fix(tmp_path, where, key, file, words):
    (tmp_path / "notes.png").write_text("not a picture\n")
    (tmp_path / "folder").mkdir()
    shape = "{type: sphere, radius: 0.1" + (f", texture: {file}" if where == "shape" else "") + "}"
    text = f"bodies: [{{name: ball, shapes: [{shape}]}}]\n"
    if where == "ground":
        text += f"ground: {{texture: {file}}}\n"
    if where == "defaults":
        text = f"defaults: {{shape: {{texture: {file}}}}}\n" + text
    source = str(tmp_path / "bad.yaml")
    with pytest.raises(ModelError) as err:
        parse_robot(text, source)
    message, line = str(err.value), 2 if where == "ground" else 1
    assert err.value.key == key and err.value.line == line, message
    assert f"{source}:{line}: {key}" in message and words in message and "fix: " in message


def test_texture_keys_are_checked(tmp_path):
    _png(tmp_path, "t.png", QUADRANTS)
    source = str(tmp_path / "r.yaml")
    with pytest.raises(ModelError, match="texture_size"):
        parse_robot(
            "bodies: [{name: b, shapes: [{type: sphere, radius: 0.1}]}]\n"
            "ground: {texture: t.png, texture_size: 0}",
            source,
        )
    with pytest.raises(ModelError, match="expected the path of an image file"):
        parse_robot(
            "bodies: [{name: b, shapes: [{type: sphere, radius: 0.1, texture: 3}]}]", source
        )
    # inherited from defaults, turned off with null, absolute paths as they are
    robot = parse_robot(
        f"""
defaults: {{shape: {{texture: t.png}}}}
bodies: [{{name: b, shapes: [{{type: sphere, radius: 0.1}},
                            {{type: sphere, radius: 0.1, texture: null}},
                            {{type: sphere, radius: 0.1, texture: {tmp_path / "t.png"}}}]}}]
""",
        source,
    )
    textures = [s.texture for s in robot.bodies[0].shapes]
    assert textures == [
        str((tmp_path / "t.png").resolve()),
        None,
        str((tmp_path / "t.png").resolve()),
    ]
    assert robot.ground.texture is None and robot.ground.texture_size == 1.0


def test_loading_a_textured_robot_does_not_import_taichi(tmp_path):
    import subprocess
    import sys

    _png(tmp_path, "t.png", QUADRANTS)
    (tmp_path / "r.yaml").write_text(
        "bodies: [{name: b, shapes: [{type: sphere, radius: 0.1, "
        "texture: t.png}]}]\nground: {texture: t.png}\n"
    )
    code = (
        "import sys, tdphys; r = tdphys.load(sys.argv[1]); "
        "assert r.ground.texture == r.bodies[0].shapes[0].texture; "
        "assert 'taichi' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "r.yaml")], check=True)
