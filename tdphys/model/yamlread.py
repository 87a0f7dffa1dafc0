"""Reading YAML files that keep their lines: every value knows its file, line and dotted key
path, so every problem becomes a ModelError naming them, with a fix.

    root = compose(read_text_file(path, "robot file"), str(path))   # At: the node tree
    top = Map(root, "the robot file").only({"name", "bodies"})     # unknown keys refused
    name = string(top.require("name", "add `name: arm`"))
    for i, body in enumerate(items(top.get("bodies"), "bodies")):   # paths bodies[0], ...
        mass = positive(Map(body, "a body").get("mass"), "[kg]")

The robot loader (model/loader.py) and the experiment sections (tasks/, control/, optim/)
read their files with these. Number fields may be arithmetic expressions of the vars in
`VARS` (the robot file's `vars:`, set by the loader while it reads).
"""

from __future__ import annotations

import contextvars
import difflib
import functools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.constructor import SafeConstructor

from ..errors import FileError, ModelError
from . import expressions, limits


def read_text_file(path: str | Path, what: str) -> str:
    """The UTF-8 text of `path`, or a ModelError naming it (`what`: "robot file", ...) and
    what it is when it is not a regular file of at most limits' size (a folder, a device)."""
    from ..paths import read_text

    try:
        return read_text(path)
    except FileError as exc:
        raise ModelError(
            str(path), "", f"the {what} {exc}", f"check the path: give the {what} (YAML text)"
        ) from None
    except UnicodeDecodeError as exc:
        raise ModelError(
            str(path),
            "",
            f"the {what} is not UTF-8 text ({exc.reason} at byte {exc.start})",
            f"give the path of a {what} (YAML text)",
        ) from None
    except OSError as exc:
        raise ModelError(
            str(path),
            "",
            f"cannot read the {what} ({exc.strerror or exc})",
            "check the path and that you may read the file",
        ) from None


TAG = "tag:yaml.org,2002:"
_PLAIN_NUMBER = re.compile(r"[-+]?(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][-+]?\d+)?")
_CONSTRUCTOR = SafeConstructor()


@dataclass(frozen=True)
class At:
    """A YAML node with the file and dotted key path that lead to it, for error messages."""

    file: str
    path: str
    node: yaml.Node

    @property
    def line(self) -> int:
        """1-based line where the node starts."""
        return self.node.start_mark.line + 1

    def error(self, problem: str, fix: str = "") -> ModelError:
        return ModelError(self.file, self.path, problem, fix, self.line)

    def key(self, name: str, node: yaml.Node) -> At:
        return At(self.file, f"{self.path}.{name}" if self.path else name, node)

    def item(self, index: int, node: yaml.Node) -> At:
        return At(self.file, f"{self.path}[{index}]", node)


@functools.lru_cache(maxsize=16)
def compose(text: str, source: str) -> At:
    """Parse YAML text into its node tree; syntax errors become ModelErrors with yaml's line.
    Cached: co-design reads the same robot file with other `vars` at every update, and the
    readers never modify the tree. An empty robot file is refused here (an experiment file's
    emptiness is said by its own loader first)."""
    try:
        limits.check_text(text, source, "file")
        node = yaml.compose(text, Loader=limits.LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = "; ".join(p for p in (exc.context, exc.problem) if p) or "syntax error"
        raise ModelError(
            source,
            "",
            f"malformed YAML: {problem}",
            "check the indentation, put a space after every ':' and quote text "
            "that contains ':' or '#'",
            line,
        ) from exc
    except yaml.YAMLError as exc:
        raise ModelError(
            source, "", f"malformed YAML: {exc}", "check that the file is valid YAML"
        ) from exc
    if node is None:
        raise ModelError(
            source,
            "",
            "the robot file is empty",
            "describe at least `bodies:` (see docs/robot-format.md)",
            1,
        )
    return At(source, "", node)


class Map:
    """A YAML mapping read into {key: node}; duplicate and non-text keys are rejected.

    YAML merge keys (``<<: *anchor``) are honoured; the mapping's own keys override merged ones.
    The node tree is never modified, so the same node may be read more than once.
    """

    def __init__(self, at: At, what: str):
        if not isinstance(at.node, yaml.MappingNode):
            raise at.error(
                f"{what} must be a mapping of `key: value` entries, got {describe(at.node)}",
                "write one `key: value` per line, indented under its parent",
            )
        self.at, self.what = at, what
        self._keys: dict[str, yaml.Node] = {}
        self._values: dict[str, yaml.Node] = {}
        for name, (key_node, value_node) in self._pairs(at, (), {}).items():
            self._keys[name] = key_node
            self._values[name] = value_node

    def _pairs(self, at: At, inside: tuple, done: dict) -> dict[str, tuple]:
        """{key: (key node, value node)} of mapping `at`: merged ones first, then its own
        (later wins). `inside`: the mappings whose merges led here, to refuse a mapping
        merging itself; `done`: the pairs of mappings already read (by id), so a file that
        merges one anchor many times over is read in linear time."""
        if any(at.node is node for node in inside):
            raise at.error("a mapping merges itself through `<<`", "remove the circular merge")
        if id(at.node) in done:
            return done[id(at.node)]
        merges: list[yaml.Node] = []
        own: dict[str, tuple] = {}
        for key_node, value_node in at.node.value:
            if key_node.tag == TAG + "merge":
                merges.append(value_node)
            else:
                self._check_key(at, key_node, own)
                own[key_node.value] = (key_node, value_node)
        pairs: dict[str, tuple] = {}
        for value_node in reversed(merges):  # the first `<<` wins
            pairs.update(self._merge_sources(at.key("<<", value_node), (*inside, at.node), done))
        pairs.update(own)
        done[id(at.node)] = pairs
        return pairs

    def _merge_sources(self, at: At, inside: tuple, done: dict) -> dict[str, tuple]:
        """Pairs merged by ``<<``: a mapping, or a list of mappings (earlier ones win)."""
        sources = at.node.value if isinstance(at.node, yaml.SequenceNode) else [at.node]
        pairs: dict[str, tuple] = {}
        for source in reversed(sources):
            if not isinstance(source, yaml.MappingNode):
                raise at.error(
                    f"`<<` must merge a mapping or a list of mappings, got {describe(source)}",
                    "write `<<: *name` where `&name` marks a mapping",
                )
            pairs.update(self._pairs(At(at.file, at.path, source), inside, done))
        return pairs

    def _check_key(self, at: At, key_node: yaml.Node, seen: dict) -> None:
        if not isinstance(key_node, yaml.ScalarNode):
            raise At(at.file, at.path, key_node).error(
                f"keys of {self.what} must be plain words", "write `key: value`"
            )
        if key_node.value in seen:
            raise at.key(key_node.value, key_node).error(
                f"key '{key_node.value}' appears twice in {self.what}", "keep only one of them"
            )

    def only(self, allowed: Iterable[str], elsewhere: dict[str, str] | None = None) -> Map:
        """Reject keys outside `allowed`; `elsewhere` gives a fix for keys valid elsewhere."""
        allowed = set(allowed)
        for name, key_node in self._keys.items():
            if name in allowed:
                continue
            at = self.at.key(name, key_node)
            if elsewhere and name in elsewhere:
                raise at.error(f"'{name}' is not a key of {self.what}", elsewhere[name])
            raise at.error(f"unknown key '{name}' in {self.what}", did_you_mean(name, allowed))
        return self

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def names(self) -> list[str]:
        """The mapping's keys in file order (merged ones first)."""
        return list(self._values)

    def get(self, name: str) -> At | None:
        """The value of `name`, or None when the key is absent."""
        if name not in self._values:
            return None
        return self.at.key(name, self._values[name])

    def key_at(self, name: str) -> At:
        """The key `name` itself (its line), for errors about the key rather than its value."""
        return self.at.key(name, self._keys[name])

    def require(self, name: str, fix: str) -> At:
        at = self.get(name)
        if at is None:
            raise self.at.key(name, self.at.node).error(f"{self.what} needs the key '{name}'", fix)
        return at


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """A fix sentence: the close matches of `word` among `options`, then all options."""
    options = sorted(options)
    if not options:
        return "remove it: nothing is allowed here"
    close = difflib.get_close_matches(word, options, n=3, cutoff=0.6)
    if close:
        return (
            "did you mean "
            + " or ".join(f"'{c}'" for c in close)
            + f"? (known: {', '.join(options)})"
        )
    return f"use one of: {', '.join(options)}"


def describe(node: yaml.Node) -> str:
    """A short description of what a node holds, for 'expected X, got Y' messages."""
    if isinstance(node, yaml.SequenceNode):
        return f"a list of {len(node.value)} item{'s' if len(node.value) != 1 else ''}"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    kind = node.tag[len(TAG) :] if node.tag.startswith(TAG) else node.tag
    if kind == "null":
        return "nothing (null)"
    if kind == "str":
        text = " ".join(node.value.split())
        return (
            f"the text '{text[:60]}...' ({len(text)} characters)"
            if len(text) > 60
            else (f"the text '{text}'")
        )
    return f"the {'boolean' if kind == 'bool' else kind} {node.value}"


def number(at: At) -> float:
    """A finite real number of at most limits.MAX_MAGNITUDE in size. Unquoted forms PyYAML
    leaves as text (``1e-3``) are accepted; a quoted number is refused (it is text)."""
    node = at.node
    value = None
    if isinstance(node, yaml.ScalarNode):
        if node.tag in (TAG + "int", TAG + "float"):
            try:
                value = float(_CONSTRUCTOR.construct_object(node))
            except (OverflowError, ValueError):  # more digits than a float holds
                raise at.error(
                    f"{node.value[:20]}... ({len(node.value)} characters) is too "
                    f"large: numbers in a robot or experiment file are at most "
                    f"{limits.MAX_MAGNITUDE:g} in size",
                    "write a smaller number",
                ) from None
        elif node.tag == TAG + "str" and _PLAIN_NUMBER.fullmatch(node.value.strip()):
            if node.style:
                raise at.error(
                    f"the number {node.value} is quoted, which makes it text",
                    "remove the quotes: numbers are never quoted (docs/robot-format.md)",
                )
            value = float(node.value.replace("_", ""))
    if value is None and isinstance(node, yaml.ScalarNode) and node.tag == TAG + "str":
        value = expression(at)
    if value is None:
        raise at.error(
            f"expected a number, got {describe(node)}",
            "write a plain number such as 0.5 (no quotes, no units)",
        )
    if not math.isfinite(value):
        raise at.error(f"expected a finite number, got {node.value}", "write a finite number")
    problem = limits.magnitude_problem(value)
    if problem:
        raise at.error(problem, "write a smaller number (in SI units: m, kg, s, N)")
    return value


# the vars of the file being read (number fields may be arithmetic expressions of them;
# the robot loader sets them, docs/robot-format.md#vars)
VARS: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar(
    "tdphys_robot_vars", default=None
)


def expression(at: At) -> float | None:
    """A number field written as an arithmetic expression of the file's vars (None when the
    text does not look like one, so the caller reports "expected a number")."""
    text, variables = at.node.value, VARS.get() or {}
    if len(text) > limits.MAX_EXPRESSION:
        raise at.error(
            f"an expression of {len(text)} characters is longer than the "
            f"{limits.MAX_EXPRESSION} allowed",
            "write a shorter expression, or give its parts names under `vars:`",
        )
    operators = any(c in text for c in "+-*/()")
    try:
        tree = expressions.parse(text)
    except ValueError:
        if not operators and not variables:
            return None  # plain text such as `1 m`: "expected a number"
        raise at.error(
            f"'{text}' is not a number or an arithmetic expression",
            "write a number, or an expression of the file's `vars` such as "
            "'0.03 + shin' (docs/robot-format.md#vars)",
        ) from None
    unknown = sorted(expressions.names_in(tree) - set(variables) - expressions.RESERVED)
    if unknown:
        if not operators and not variables:
            return None  # plain text such as `fast`: "expected a number"
        declared = listing(variables)
        close = difflib.get_close_matches(unknown[0], variables, n=1, cutoff=0.6)
        raise at.error(
            f"'{unknown[0]}' in '{text}' is not a var of this file (declared: {declared})",
            (f"did you mean '{close[0]}'? or " if close else "")
            + f"declare it under `vars:` at the top of the file (e.g. "
            f"`vars: {{{unknown[0]}: 0.1}}`), or write a number",
        )
    try:
        return expressions.evaluate(tree, variables, shown=text)
    except ValueError as exc:
        raise at.error(
            str(exc),
            "write a number, or an expression of the file's `vars` "
            "with + - * / ** ( ) and sqrt, sin, cos, ... "
            "(docs/robot-format.md#vars)",
        ) from None


def listing(names: Iterable[str], most: int = 20) -> str:
    """Names joined by commas, at most `most` of them (then how many more), or 'none'."""
    names = list(names)
    if not names:
        return "none"
    shown = ", ".join(names[:most])
    return shown + (f", ... ({len(names) - most} more)" if len(names) > most else "")


def integer(at: At, limit: int = limits.MAX_INTEGER) -> int:
    """A whole number (YAML int; 2.0 is not accepted) of at most `limit` in size."""
    if isinstance(at.node, yaml.ScalarNode) and at.node.tag == TAG + "int":
        try:
            value = int(_CONSTRUCTOR.construct_object(at.node))
        except ValueError:  # more digits than Python converts
            value = limit + 1
        if abs(value) > limit:
            raise at.error(
                f"{at.node.value[:20]} is too large: whole numbers here are at most {limit:,}",
                "write a smaller number",
            )
        return value
    raise at.error(
        f"expected a whole number, got {describe(at.node)}",
        "write an integer such as 3 (no decimal point, no quotes)",
    )


def boolean(at: At) -> bool:
    if isinstance(at.node, yaml.ScalarNode) and at.node.tag == TAG + "bool":
        return bool(_CONSTRUCTOR.construct_object(at.node))
    raise at.error(f"expected true or false, got {describe(at.node)}", "write true or false")


def string(at: At) -> str:
    node = at.node
    if isinstance(node, yaml.ScalarNode) and node.tag == TAG + "str" and node.value:
        return node.value
    raise at.error(
        f"expected a name (text), got {describe(node)}",
        "write a non-empty name; quote it if it looks like a number or boolean",
    )


def choice(at: At, options: Iterable[str], what: str) -> str:
    """One of `options`, with a did-you-mean when it is not."""
    value = string(at)
    if value not in options:
        raise at.error(f"unknown {what} '{value}'", did_you_mean(value, options))
    return value


def items(at: At, what: str, allow_empty: bool = True) -> list[At]:
    """The elements of a YAML list, each with its path ``key[i]``."""
    if not isinstance(at.node, yaml.SequenceNode):
        raise at.error(
            f"{what} must be a list, got {describe(at.node)}",
            "write a YAML list: one '- item' per line, or [a, b, ...]",
        )
    if not allow_empty and not at.node.value:
        raise at.error(f"{what} must not be empty", f"add at least one entry to {what}")
    return [at.item(i, n) for i, n in enumerate(at.node.value)]


def vector_items(at: At, n: int, form: str) -> list[At]:
    """The n element nodes of a list that must hold exactly n numbers written as `form`."""
    if not isinstance(at.node, yaml.SequenceNode) or len(at.node.value) != n:
        raise at.error(
            f"expected a list of {n} numbers {form}, got {describe(at.node)}", f"write it as {form}"
        )
    return [at.item(i, node) for i, node in enumerate(at.node.value)]


def vector(at: At, n: int, form: str) -> tuple[float, ...]:
    return tuple(number(a) for a in vector_items(at, n, form))


def positive_int(at: At) -> int:
    value = integer(at)
    if value <= 0:
        raise at.error(f"must be a whole number > 0, got {value}", "give a positive integer")
    return value


def non_negative_int(at: At) -> int:
    value = integer(at)
    if value < 0:
        raise at.error(f"must be a whole number >= 0, got {value}", "give 0 or a positive integer")
    return value


def is_null(at: At) -> bool:
    """Whether the value is YAML's null (`key:` or `key: ~`)."""
    return isinstance(at.node, yaml.ScalarNode) and at.node.tag == TAG + "null"


def is_list(at: At) -> bool:
    return isinstance(at.node, yaml.SequenceNode)


# ------------------------------------------------------------------ readers of settings files
# (experiment files; the robot loader has its own wording for the same checks)


def positive(at: At, unit: str) -> float:
    value = number(at)
    if value <= 0:
        raise at.error(f"must be positive, got {value}", f"write a number > 0 {unit}".strip())
    return value


def non_negative(at: At) -> float:
    value = number(at)
    if value < 0:
        raise at.error(f"must not be negative, got {value}", "write a number >= 0")
    return value


def numbers(at: At, n: int | None = None) -> tuple[float, ...]:
    """A list of numbers (exactly n of them when n is given)."""
    values = tuple(number(item) for item in items(at, at.path.rsplit(".", 1)[-1]))
    if n is not None and len(values) != n:
        raise at.error(
            f"expected {n} numbers, got {len(values)}", f"write [{', '.join(['0'] * n)}]"
        )
    return values


def size(at: At, high: int, low: int = 1) -> int:
    """A whole number from `low` to `high` (a layer width, a count)."""
    value = integer(at)
    if not low <= value <= high:
        raise at.error(
            f"must be a whole number from {low} to {high:,}, got {value:,}",
            f"give a whole number from {low} to {high:,}",
        )
    return value


def seed(at: At) -> int:
    """A random seed: a whole number from 0 to 2**32 - 1 (what numpy takes)."""
    value = integer(at, limit=limits.MAX_SEED)
    if value < 0:
        raise at.error(
            f"a seed must be >= 0, got {value}",
            f"give a whole number from 0 to {limits.MAX_SEED:,}",
        )
    return value


def robot_lacks(
    file: str, key: str, robot_path: str, what: str, name: str, known: list
) -> ModelError:
    """The error of a settings file whose `key` names a `what` (body, sensor, joint...)
    `name` that the robot file at `robot_path` lacks."""
    return ModelError(
        file,
        key,
        f"the robot {Path(robot_path).name} has no {what} '{name}'",
        did_you_mean(name, known),
    )
