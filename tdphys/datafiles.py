"""Data, never code, from disk; files written whole.

    write_atomic(path, lambda f: np.savez(f, **arrays))   # a temporary file, then a rename
    write_json(path, {"loss": 0.5})
    write_tree(path, {"x": np.zeros(3), "t": 4, "adam": (m, v, 4, [0.1])})
    tree = read_tree(path)                               # the same dict, tuples as lists
    u = read_array("controls.npy", "controls")           # a real-valued .npy, checked

Every array file is read with numpy's allow_pickle=False: an .npy or .npz holding Python
objects (a pickle, which runs code when read) is refused with a message, never loaded. A
"tree" (nested dicts, lists and tuples of numbers, text, None and arrays) is stored as one
.npz: its arrays under their key paths and everything else as JSON text in the array
`__tree__`, so one rename replaces the whole file and a kill at any moment leaves either the
old file or the new one.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

from .errors import FileError
from .paths import path_problem

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"
_TREE_KEY = "__tree__"
_ARRAY_REF = "__array__"


def write_atomic(path: str | Path, write) -> Path:
    """Call `write(f)` on a temporary binary file beside `path`, flush it to disk, then rename
    it over `path`; on any error (Ctrl-C included) the temporary file is removed and `path`
    keeps its old content."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_bytes(path: str | Path, data: bytes) -> Path:
    return write_atomic(path, lambda f: f.write(data))


def write_json(path: str | Path, data) -> Path:
    """`data` as indented JSON (NaN and inf as Python's json writes them), atomically."""
    return write_bytes(path, (json.dumps(data, indent=2) + "\n").encode())


def write_npz(path: str | Path, arrays: dict) -> Path:
    """Arrays (numbers or text, never Python objects) as an uncompressed .npz, atomically."""
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    for key, a in arrays.items():
        if a.dtype.hasobject:
            raise TypeError(f"'{key}' holds Python objects; only numbers and text are saved")
    return write_atomic(path, lambda f: np.savez(f, **arrays))


def write_npy(path: str | Path, array) -> Path:
    array = np.asarray(array)
    if array.dtype.hasobject:
        raise TypeError("an array of Python objects is never saved")
    return write_atomic(path, lambda f: np.save(f, array, allow_pickle=False))


# ----------------------------------------------------------------------------- reading


def _kind_of_file(path: Path) -> str:
    """'npy', 'npz' or a description of what the first bytes look like."""
    with open(path, "rb") as f:
        head = f.read(64)
    if head.startswith(NPY_MAGIC):
        return "npy"
    if head.startswith(ZIP_MAGIC):
        return "npz"
    if not head:
        return "an empty file"
    if head.startswith(b"\x80") and len(head) > 1 and head[1] <= 5:
        return "a Python pickle"
    try:
        head.decode("utf-8")
        return "text"
    except UnicodeDecodeError:
        return "binary data of another kind"


def check_array_file(path: str | Path, what: str, kinds: tuple[str, ...], fix: str) -> Path:
    """`path` is a regular file whose bytes start as one of `kinds` ('npy', 'npz');
    FileError saying what it is otherwise."""
    problem = path_problem(path)
    if problem:
        raise FileError(f"{path}: the {what} file {problem}\n  fix: {fix}")
    kind = _kind_of_file(Path(path))
    if kind not in kinds:
        wanted = " or ".join(f".{k}" for k in kinds)
        raise FileError(
            f"{path}: the {what} file is {kind}, not a numpy {wanted} file\n  fix: {fix}"
        )
    return Path(path)


def _refused_objects(path, what: str, fix: str) -> FileError:
    return FileError(
        f"{path}: the {what} file holds Python objects (a pickle, which could run "
        f"code when read); tdphys reads numbers only\n  fix: {fix}"
    )


def read_array(
    path: str | Path, what: str, fix: str = "save a real-valued array with numpy.save(path, array)"
) -> np.ndarray:
    """A real-valued (integer or float) array from a .npy file, as float64; FileError for
    anything else: a missing path, a folder or device, text or another format, a pickle,
    complex numbers (their imaginary part would be lost), booleans or text."""
    check_array_file(path, what, ("npy",), fix)
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc):
            raise _refused_objects(path, what, fix) from None
        raise FileError(f"{path}: the {what} file is damaged ({exc})\n  fix: {fix}") from None
    except OSError as exc:
        raise FileError(f"{path}: cannot read the {what} file ({exc})\n  fix: {fix}") from None
    if np.iscomplexobj(array):
        raise FileError(
            f"{path}: the {what} are complex numbers; the imaginary part would be "
            f"lost\n  fix: save the real part, numpy.save(path, array.real)"
        )
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise FileError(f"{path}: the {what} have type {array.dtype}, not numbers\n  fix: {fix}")
    return array.astype(np.float64)


def read_npz(path: str | Path, what: str, fix: str) -> dict[str, np.ndarray]:
    """Every array of an .npz file as {key: array}, pickles refused; FileError naming what
    is wrong otherwise."""
    check_array_file(path, what, ("npz",), fix)
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except ValueError as exc:
        if "pickle" in str(exc):
            raise _refused_objects(path, what, fix) from None
        raise FileError(f"{path}: the {what} file is damaged ({exc})\n  fix: {fix}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise FileError(
            f"{path}: the {what} file is damaged or cut short ({exc})\n  fix: {fix}"
        ) from None


# ------------------------------------------------------------------------------- trees


def write_tree(path: str | Path, tree: dict) -> Path:
    """Store a tree of dicts (text keys), lists, tuples, numbers, text, None and numpy
    arrays as one .npz, atomically; tuples come back as lists."""
    arrays: dict[str, np.ndarray] = {}

    def encode(value, where: str):
        if isinstance(value, np.ndarray):
            if value.dtype.hasobject:
                raise TypeError(f"{where} holds Python objects")
            arrays[where] = value
            return {_ARRAY_REF: where}
        if isinstance(value, dict):
            return {str(k): encode(v, f"{where}.{k}") for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, np.generic):
            return value.item()
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise TypeError(f"{where}: a {type(value).__name__} is not data")

    text = json.dumps(encode(tree, "state"))
    return write_npz(path, {**arrays, _TREE_KEY: np.array(text)})


def read_tree(path: str | Path, what: str, fix: str) -> dict:
    """The tree write_tree stored in `path`; FileError when the file is not one."""
    arrays = read_npz(path, what, fix)
    if _TREE_KEY not in arrays or arrays[_TREE_KEY].dtype.kind != "U":
        raise FileError(
            f"{path}: the {what} file lacks its description ({_TREE_KEY})\n  fix: {fix}"
        )
    try:
        tree = json.loads(str(arrays[_TREE_KEY][()]))
    except (ValueError, RecursionError) as exc:
        raise FileError(
            f"{path}: the {what} file's description is damaged ({exc})\n  fix: {fix}"
        ) from None

    def decode(value):
        if isinstance(value, dict):
            if set(value) == {_ARRAY_REF}:
                key = value[_ARRAY_REF]
                if not isinstance(key, str) or key not in arrays:
                    raise FileError(
                        f"{path}: the {what} file lacks the array '{key}'\n  fix: {fix}"
                    )
                return arrays[key]
            return {k: decode(v) for k, v in value.items()}
        if isinstance(value, list):
            return [decode(v) for v in value]
        return value

    try:
        tree = decode(tree)
    except RecursionError:
        raise FileError(
            f"{path}: the {what} file's description is nested too deeply\n  fix: {fix}"
        ) from None
    if not isinstance(tree, dict):
        raise FileError(f"{path}: the {what} file holds no mapping\n  fix: {fix}")
    return tree
