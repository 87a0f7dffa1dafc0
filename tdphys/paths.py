"""Paths given to read or write, checked before any work starts (no numpy, no Taichi).

    problem = path_problem("robots/arm.yaml")        # None, or "is a folder", ...
    text = read_text("robots/arm.yaml", "robot file")
    out = output_folder("runs/ball_throw", "--out")   # created, and a write probed
    npz = output_file("traj.npz", "--out")            # its folder created, a write probed

Reading refuses folders, devices, pipes and sockets by what they are (a device such as
/dev/zero never ends, a pipe may block forever) and files above a size limit; writing creates
the missing folders and writes a probe file, so an unwritable place is found before a run
compiles or trains rather than when its results are written.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from .errors import FileError

MAX_TEXT_BYTES = 250_000  # robot and experiment files (the largest shipped is 7 kB)


def path_problem(path: str | Path) -> str | None:
    """What makes `path` unusable as a regular file to read, or None: "does not exist",
    "is a folder", "is a device, not a regular file", "is a pipe or socket, ...", or
    "cannot be read (...)"."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "does not exist"
    except NotADirectoryError:
        return "does not exist (a part of the path is a file, not a folder)"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a regular file"
    if not stat.S_ISREG(mode):
        return "is a pipe or socket, not a regular file"
    return None


def readable_file(path: str | Path, what: str, fix: str = "check the path") -> Path:
    """`path` as a Path when it is a regular file; FileError naming what it is otherwise."""
    problem = path_problem(path)
    if problem:
        raise FileError(f"{path}: the {what} {problem}\n  fix: {fix}")
    return Path(path)


def text_problem(path: str | Path, limit: int = MAX_TEXT_BYTES) -> str | None:
    """Why `path` cannot be read as a text file of at most `limit` bytes, or None."""
    problem = path_problem(path)
    if problem:
        return problem
    size = os.stat(path).st_size
    if size > limit:
        return (
            f"is {size / 1e6:.3g} MB, larger than the {limit / 1e6:g} MB a robot or "
            "experiment file may be"
        )
    return None


def read_text(path: str | Path, limit: int = MAX_TEXT_BYTES) -> str:
    """The UTF-8 text of a regular file of at most `limit` bytes. FileError otherwise (its
    message is the problem alone, for the caller to put next to the path); UnicodeDecodeError
    and OSError pass through."""
    problem = text_problem(path, limit)
    if problem:
        raise FileError(problem)
    with open(path, "rb") as f:
        data = f.read(limit + 1)  # the file may have grown since the check
    if len(data) > limit:
        raise FileError(f"is larger than the {limit / 1e6:g} MB a robot or experiment file may be")
    return data.decode("utf-8")


def output_folder(path: str | Path, what: str) -> Path:
    """Folder `path`, created with its parents, after a probe file was written and removed
    in it; FileError naming `what` (e.g. "--out") and a fix otherwise."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise FileError(
            f"{what} {path}: is a file, not a folder\n  fix: give a folder "
            "(it is created when missing), or remove the file"
        )
    _writable_folder(path, f"{what} {path}")
    return path


def output_file(path: str | Path, what: str) -> Path:
    """File `path` to be written: not a folder or a device, its folder created and a probe
    written there; FileError naming `what` and a fix otherwise. The file is not touched."""
    path = Path(path)
    if path.exists() and path_problem(path):
        raise FileError(
            f"{what} {path}: {path_problem(path)}\n  fix: give the path of a file to write"
        )
    _writable_folder(path.parent, f"{what} {path}")
    return path


def _writable_folder(folder: Path, where: str) -> None:
    """Create `folder` with its parents and write and remove a probe file in it; FileError
    starting with `where` when either fails."""
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise FileError(
            f"{where}: {existing} is a file, not a folder\n  fix: give a place you can write in"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FileError(
            f"{where}: cannot create the folder {folder} "
            f"({exc.strerror or exc})\n  fix: give a place you can write in"
        ) from None
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".tdphys-probe-"):
            pass
    except OSError as exc:
        raise FileError(
            f"{where}: cannot write in the folder {folder} "
            f"({exc.strerror or exc})\n  fix: give a place you can write in"
        ) from None
