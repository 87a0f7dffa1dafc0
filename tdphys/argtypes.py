"""Command-line numbers checked where argparse reads them: a value outside its range exits 2
with the allowed range, before anything is loaded or compiled.

    p.add_argument("--steps", type=whole(1, MAX_STEPS), default=100)
    p.add_argument("--fps", type=real(0, 1000, low_open=True), default=30.0)
"""

from __future__ import annotations

import argparse
import math

MAX_STEPS = 10_000_000  # steps of one rollout (the memory estimate has the last word)
MAX_BATCH = 1_000_000  # worlds of one simulation
MAX_BUDGET = 1_000_000_000  # simulations of one optimisation
MAX_SEED = 2**32 - 1  # numpy's seeds are 32-bit


def whole(low: int, high: int, what: str = "a whole number"):
    """An argparse type: an integer in [low, high] (written 100, 1e3 or 1_000)."""

    def parse(text: str) -> int:
        try:
            value = int(text.replace("_", ""))
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                number = math.nan
            if not (math.isfinite(number) and number == int(number)):
                raise argparse.ArgumentTypeError(
                    f"'{text}' is not {what}; give one from {low:,} to {high:,}"
                ) from None
            value = int(number)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"{value:,} is out of range; give {what} from {low:,} to {high:,}"
            )
        return value

    parse.__name__ = "whole number"  # argparse's "invalid <name> value" wording
    return parse


def real(low: float, high: float, low_open: bool = False, what: str = "a number"):
    """An argparse type: a finite number in [low, high], or (low, high] when low_open."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        bracket = "(" if low_open else "["
        allowed = f"{what} in {bracket}{low:g}, {high:g}]"
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"'{text}' is not a finite number; give {allowed}")
        if value > high or value < low or (low_open and value == low):
            raise argparse.ArgumentTypeError(f"{value:g} is out of range; give {allowed}")
        return value

    parse.__name__ = "number"
    return parse
