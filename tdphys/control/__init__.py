"""Controllers: what writes the motor commands `sim.control.ctrl[t]`, on the same
`ti.ad.Tape` as the physics. One module per kind, each with its file section (a
ControllerSpec dataclass, its keys and its parser) and its Controller; base.py holds the
interface and the command hold, weights.py the trainable weights the networks share.

    spec = parse_controller(at)                      # the `controller:` section
    ctl = make_controller(spec, sim, task)           # ctl.set(theta), ctl.rollout(), ...
"""

from __future__ import annotations

from ..model.yamlread import At, Map, choice
from . import mlp, open_loop, vision
from .base import Controller, ControllerSpec
from .mlp import ControllerInput, MLPSpec
from .open_loop import OpenLoopSpec
from .vision import ConvLayer, VisionSpec

_MODULES = {"mlp": mlp, "open_loop": open_loop, "vision": vision}


def parse_controller(at: At) -> ControllerSpec:
    """The ControllerSpec of an experiment file's `controller:` section (`type` mlp by
    default); ModelError naming the key."""
    m = Map(at, "controller")
    kind = choice(m.get("type"), tuple(_MODULES), "controller type") if "type" in m else "mlp"
    if kind == "vision":
        elsewhere = {
            k: "not a key of a vision controller: it sees the camera image only; remove it"
            for k in mlp.KEYS - vision.KEYS
        }
    else:
        elsewhere = {
            k: f"only a `type: vision` controller has it (this one is {kind})"
            for k in vision.VISION_KEYS
        }
    return _MODULES[kind].parse(m, elsewhere)


def make_controller(
    spec: ControllerSpec, sim, task, param_sets: int = 1, image_source=None
) -> Controller:
    """The controller of `spec` for `sim`; `task` (a Task) gives the target and the effector
    point an mlp reads; `param_sets`: parameter sets sharing the batch (CMA-ES: one per
    candidate). A vision controller reads `image_source` (default: a tdphys.vision.Renderer
    of spec.camera)."""
    if spec.type == "open_loop":
        return open_loop.OpenLoop(spec, sim)
    if spec.type == "vision":
        if image_source is None:
            from ..vision import Renderer

            cameras = sim.robot.cameras
            if not spec.camera and not cameras:
                raise ValueError(
                    f"a vision controller needs a camera: the robot {sim.robot.name} has none"
                )
            image_source = Renderer(sim, spec.camera or cameras[0].name)
        return vision.ConvRecurrent(spec, sim, image_source, param_sets)
    return mlp.MLP(spec, sim, task, param_sets)


__all__ = [
    "ConvLayer",
    "Controller",
    "ControllerInput",
    "ControllerSpec",
    "MLPSpec",
    "OpenLoopSpec",
    "VisionSpec",
    "make_controller",
    "parse_controller",
]
