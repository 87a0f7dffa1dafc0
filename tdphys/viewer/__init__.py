"""The tdphys viewer: watch a robot simulate live, replay a saved trajectory, or render it
headless to a video (`tdphys view`, docs/viewer.md).

Modules, one job each (numpy unless noted):
    meshes           triangle meshes of spheres, boxes, capsules, cylinders, the world's
                     planes and the ground
    camera           orbit camera and the perspective projection GGUI uses
    sources          trajectories from a robot YAML (simulated live, Taichi), an npz, a run folder
    playback         the clock (pause, step, speed, restart) and the key bindings
    overlays         joint axes, contact points, centre-of-mass path, target
    scene            one frame's geometry for the shown worlds (the world's fixed shapes
                     with each), shadows included
    camera_feed      a robot camera's images (tdphys.vision) in a corner: --camera (Taichi)
    render_ggui      drawing with GGUI (Vulkan; Taichi)
    render_fallback  drawing with ti.GUI when no Vulkan device exists (Taichi)
    app              the interactive loop and the headless loop (frames written by
                     tdphys/video.py: mp4, gif or a folder of PNGs)

Nothing here calls ti.init except through tdphys.backend.init, and importing it starts
nothing.
"""

from .app import ViewOptions, render_video, run_window, save_camera_images

__all__ = ["ViewOptions", "render_video", "run_window", "save_camera_images"]
