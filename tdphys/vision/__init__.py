"""Cameras as differentiable sensors: ray-cast images with soft silhouettes (docs/camera.md).

    sim = tdphys.Simulation(tdphys.load("robots/cart_pendulum.yaml"), steps=100)
    cam = Renderer(sim, "front")
    sim.rollout(); cam.render_all(); frames = cam.images()   # (T + 1, B, H, W, 3)
    save_images(frames[:, 0], "front.mp4")                   # or "front/" (PNGs), ".gif"
"""
from .camera import CameraSpec, camera_spec, project
from .images import frames_from_trajectory, save_images
from .renderer import Renderer

__all__ = ["CameraSpec", "Renderer", "camera_spec", "frames_from_trajectory", "project",
           "save_images"]
