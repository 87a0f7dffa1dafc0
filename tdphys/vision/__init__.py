"""Cameras as differentiable sensors: ray-cast images with soft silhouettes (docs/camera.md).

sim = tdphys.Simulation(tdphys.load("robots/cart_pendulum.yaml"), steps=100)
cam = Renderer(sim, "front")
sim.rollout(); cam.render_all(); frames = cam.images()   # (T + 1, B, H, W, 3)
save_images(frames[:, 0], "front.mp4")                   # or "front/" (PNGs), ".gif"
"""

import importlib

# Imported on first use: `import tdphys.vision` starts no Taichi.
_WHERE = {
    "CameraSpec": "camera",
    "camera_spec": "camera",
    "project": "camera",
    "frames_from_trajectory": "images",
    "save_images": "images",
    "Renderer": "renderer",
}

__all__ = sorted(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
