"""Fixed joint: the child keeps its position and orientation relative to the parent.

Rows: the point rows and the angular lock rows (common.py). No axes, so no coordinate:
no motor, limit or joint sensor can name one.
"""

from . import common

NAME = "fixed"
N_AXES = 0
ROWS = ((common.POINT, 3), (common.ANGULAR_LOCK, 3))
CHILD_AXES = ()


def references(axes: list) -> list:
    """No axes, no reference vectors."""
    return []
