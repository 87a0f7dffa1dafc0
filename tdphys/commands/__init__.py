"""The `tdphys` commands that train, replay and time: one module each, with the arguments it
takes (`add_arguments`) and what it does with them (`run`). tdphys/cli.py puts them beside
simulate, gradcheck, view and sweep; demos/optimize.py calls the optimize command.

Exit status, every command: 0 done (a task's success criterion met, where it has one), 1 the
criterion not met, 2 bad input (with a message and a fix)."""

from __future__ import annotations

import argparse
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]  # robots/ and experiments/ beside tdphys/
ARCHS = ("cpu", "cuda", "vulkan", "auto")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the line breaks of a description and an epilog, and adds "(default: X)" to an
    option whose help does not already name its default."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (
            action.default in (None, False, argparse.SUPPRESS, [])
            or "default" in text
            or action.dest == "help"
        ):
            return text
        return f"{text} (default: %(default)s)"


BAD_INPUT = (
    2,
    "bad input: a file, an argument or an output path (the message names it and the fix)",
)


def exit_codes(*rows: tuple[int, str]) -> str:
    """The epilog a command's --help ends with: one line per (status, meaning)."""
    return "exit status:\n" + "\n".join(f"  {code:<4}{meaning}" for code, meaning in rows)
