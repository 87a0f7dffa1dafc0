"""What a robot or experiment file may hold beyond its keys: size, nesting, tags, the size
of numbers and the physically sensible ranges (docs/bad-input.md).

A file is scanned (YAML tokens, in linear time and without recursion) before it is composed
into nodes, so that a huge, deeply nested or tagged file is refused in well under a second
with the line where the problem is, instead of a RecursionError, a hang or a tag that is
silently ignored.
"""

from __future__ import annotations

import math

import yaml

from ..errors import ModelError
from ..paths import MAX_TEXT_BYTES

# libyaml's C parser when PyYAML was built with it (about 8x faster, and it composes deep
# trees without Python recursion); the pure-Python one otherwise. Plain scalars have style
# None in one and '' in the other: compare with `not node.style`.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_DEPTH = 32  # nested lists and mappings (the shipped files use 7)
MAX_MAGNITUDE = 1e9  # |number| in a file, in the file's units
MAX_INTEGER = 10**9  # |whole number| (seeds have their own range)
MAX_SEED = 2**32 - 1  # numpy's seeds are 32-bit, >= 0
MAX_EXPRESSION = 256  # characters of one arithmetic expression of vars

# physically sensible ranges: (low, high, unit) of robot-file quantities
DT = (1e-6, 0.1, "s")
ITERATIONS = (1, 1000, "")
SUBSTEPS = (1, 64, "")
GRAVITY = (0.0, 1000.0, "m/s^2")  # the vector's length
MASS = (1e-6, 1e6, "kg")  # a body's mass, and a shape's `mass`
DENSITY = (1e-3, 1e6, "kg/m^3")
INERTIA = (1e-12, 1e6, "kg m^2")
CAMERA_PIXELS = (1, 4096, "pixels")  # a camera's width and height
MAX_STEPS = 10_000_000  # steps of one rollout (task.duration / dt)

_OPEN = (
    yaml.FlowSequenceStartToken,
    yaml.FlowMappingStartToken,
    yaml.BlockSequenceStartToken,
    yaml.BlockMappingStartToken,
)
_CLOSE = (yaml.FlowSequenceEndToken, yaml.FlowMappingEndToken, yaml.BlockEndToken)


def check_text(text: str, source: str, what: str) -> None:
    """Refuse `text` (the file `source`, a `what` such as "robot file") when it is larger than
    MAX_TEXT_BYTES, nests lists and mappings deeper than MAX_DEPTH, or carries a YAML tag
    (`!vec`, `!!python/object`: the documented format has none). yaml.MarkedYAMLError
    passes through for a file that is not YAML."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_TEXT_BYTES:
        raise ModelError(
            source,
            "",
            f"the {what} is {size / 1e6:.3g} MB, larger than the "
            f"{MAX_TEXT_BYTES / 1e6:g} MB a robot or experiment file may be",
            "check that this is the file you meant (the shipped ones are a few kB)",
        )
    depth = 0
    for token in yaml.scan(text, Loader=LOADER):
        if isinstance(token, _OPEN):
            depth += 1
            if depth > MAX_DEPTH:
                raise ModelError(
                    source,
                    "",
                    f"lists and mappings are nested more than {MAX_DEPTH} levels deep",
                    "flatten the file: robot and experiment files need about 7 levels",
                    token.start_mark.line + 1,
                )
        elif isinstance(token, _CLOSE):
            depth -= 1
        elif isinstance(token, yaml.TagToken):
            handle, suffix = token.value
            tag = f"{handle or ''}{suffix}"
            raise ModelError(
                source,
                "",
                f"YAML tag '{tag}' is not part of the format (it would "
                "be ignored, or name Python code)",
                "remove the tag and write the "
                "plain value (docs/robot-format.md, docs/experiment-format.md)",
                token.start_mark.line + 1,
            )


def magnitude_problem(value: float) -> str | None:
    """Why a number read from a file is unusable, or None: not finite, or too large."""
    if not math.isfinite(value):
        return f"expected a finite number, got {value}"
    if abs(value) > MAX_MAGNITUDE:
        return (
            f"{value:g} is too large: numbers in a robot or experiment file are at most "
            f"{MAX_MAGNITUDE:g} in size"
        )
    return None


def in_range(value: float, limits: tuple, what: str) -> str | None:
    """None when low <= value <= high (limits = (low, high, unit)), else the problem."""
    low, high, unit = limits
    if low <= value <= high:
        return None
    unit = f" {unit}" if unit else ""
    return f"{what} {value:g}{unit} is outside the sensible range [{low:g}, {high:g}]{unit}"
