"""Robot models: the validated schema dataclasses and the YAML loader.

    from tdphys.model import load_robot
    robot = load_robot("robots/arm.yaml")   # -> Robot (SI units, radians)

Nothing here imports Taichi.
"""

from .loader import load_robot, parse_robot
from .schema import (
    JOINT_AXES,
    JOINT_KINDS,
    MOTOR_MODES,
    SENSOR_KINDS,
    SHAPE_KINDS,
    SUPPORTED_PAIRS,
    Body,
    Camera,
    ContactPair,
    Ground,
    Joint,
    Motor,
    Robot,
    Sensor,
    Shape,
    Solver,
    pair_key,
)

__all__ = [
    "load_robot",
    "parse_robot",
    "Body",
    "Camera",
    "ContactPair",
    "Ground",
    "Joint",
    "Motor",
    "Robot",
    "Sensor",
    "Shape",
    "Solver",
    "pair_key",
    "JOINT_AXES",
    "JOINT_KINDS",
    "MOTOR_MODES",
    "SENSOR_KINDS",
    "SHAPE_KINDS",
    "SUPPORTED_PAIRS",
]
