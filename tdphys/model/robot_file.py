"""Any robot file to a validated Robot: YAML through the loader, MJCF and URDF through
MuJoCo's compiler (model/mjcf.py). Every command and experiment that takes a robot path
reads it here."""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelError
from .schema import Robot


def load_robot_file(path, vars=None, approximate=False, report=None) -> Robot:
    """Load and validate a robot: a YAML file (docs/robot-format.md), whose `vars:` values
    `vars` ({name: value}) replaces, or an MJCF / URDF file (.xml, .urdf, .mjcf) through
    MuJoCo's compiler (docs/mjcf.md; needs the `mujoco` package), where `approximate` lets mesh
    geoms become fitted boxes or capsules, each one told to `report` (default: print)."""
    from .mjcf import MJCF_SUFFIXES, load_mjcf

    if Path(path).suffix.lower() in MJCF_SUFFIXES:
        if vars:
            raise ModelError(
                str(path),
                "vars",
                "an MJCF or URDF file has no `vars:` to replace",
                "convert it to YAML (tdphys convert), declare `vars:` there and "
                "give the values to that file",
            )
        return load_mjcf(path, approximate, report)
    if approximate:
        raise ModelError(
            str(path),
            "",
            "--approximate applies to MJCF and URDF files (their "
            "mesh geoms); a YAML robot has none",
            "leave --approximate out",
        )
    from .loader import load_robot

    return load_robot(path, vars)
