"""Read robot YAML files into validated, immutable `Robot` objects (tdphys.model.schema).

The file format is specified in docs/robot-format.md and the conventions (frames, units,
quaternion order) in docs/conventions.md. In short: SI units, z up, quaternions [w, x, y, z]
body-to-world, angles in degrees unless the file says ``angle: radian``; the returned model is
always in radians.

Every problem raises `tdphys.errors.ModelError` naming the file, the 1-based line, the dotted key
path (``bodies[2].shapes[0].radius``), what is wrong and how to fix it. The YAML is read with
``yaml.compose`` so that every value keeps its line; nothing is silently ignored.

Public API: `load_robot(path, vars=None)` and `parse_robot(text, source, vars=None)`; `vars`
overrides the values of the file's `vars:` (named numbers that the other numbers may use in
arithmetic expressions, e.g. a leg length that co-design trains, tdphys/optim).
"""
from __future__ import annotations

import contextvars
import difflib
import functools
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable

import yaml
from yaml.constructor import SafeConstructor

from ..errors import FileError, ModelError
from ..rotations import as_tuple, euler_quat, matrix_quat, quat_z_to
from . import expressions, limits, placement
from .schema import (JOINT_AXES, JOINT_KINDS, MOTOR_MODES, SENSOR_KINDS, SHAPE_KINDS,
                     SUPPORTED_PAIRS, Body, Camera, ContactPair, Ground, Joint, Motor, Quat, Robot,
                     Sensor, Shape, Solver, Vec3, pair_key)

__all__ = ["load_robot", "parse_robot"]

WORLD = "world"               # the reserved parent name meaning "attached to the world"
ANGLE_UNITS = {"degree": math.pi / 180.0, "radian": 1.0}
PERPENDICULAR_TOL = 1e-6      # |cos| of the angle between universal axes, after normalising
INDEPENDENT_TOL = 1e-6        # |det| of the three normalised ball axes
ZERO_LENGTH = 1e-9            # [m] or [-]: vectors shorter than this count as zero

_SHAPE0 = Shape(kind="sphere")
_MOTOR0 = Motor(name="")
_DEFAULT_DENSITY = 1000.0     # [kg/m^3] shape density when neither file nor defaults give one


# ---------------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------------

def load_robot(path: str | Path, vars: dict[str, float] | None = None) -> Robot:
    """Read and validate the robot YAML file at `path` (see docs/robot-format.md); `vars`
    replaces values of the file's `vars:` (each name must be declared there)."""
    return parse_robot(read_text_file(path, "robot file"), str(path), vars)


def read_text_file(path: str | Path, what: str) -> str:
    """The UTF-8 text of `path`, or a ModelError naming it (`what`: "robot file", ...) and
    what it is when it is not a regular file of at most limits' size (a folder, a device)."""
    from ..paths import read_text
    try:
        return read_text(path)
    except FileError as exc:
        raise ModelError(str(path), "", f"the {what} {exc}", f"check the path: give the {what} "
                         "(YAML text)") from None
    except UnicodeDecodeError as exc:
        raise ModelError(str(path), "", f"the {what} is not UTF-8 text ({exc.reason} at byte "
                         f"{exc.start})", f"give the path of a {what} (YAML text)") from None
    except OSError as exc:
        raise ModelError(str(path), "", f"cannot read the {what} ({exc.strerror or exc})",
                         "check the path and that you may read the file") from None


def parse_robot(text: str, source: str, vars: dict[str, float] | None = None) -> Robot:
    """Validate robot YAML `text`; `source` names it in errors and gives the default name;
    `vars` replaces values of its `vars:`."""
    top = _Map(_compose(text, source), "the robot file").only(_TOP_KEYS)
    values, ranges = _vars(top.get("vars"), source, vars)
    token = _VARS.set(values)
    try:
        robot = _parse(top, source)
    finally:
        _VARS.reset(token)
    robot = replace(robot, vars=tuple(values.items()),
                    var_ranges=tuple((n, lo, hi) for n, (lo, hi) in ranges.items()))
    if vars:
        _check_not_sunk(robot, parse_robot(text, source), top, vars)
    return robot


def _check_not_sunk(robot: Robot, reference: Robot, top: _Map, given: dict) -> None:
    """A ModelError when the `given` vars start a body below the ground that the file's own
    values (`reference`) start above it."""
    sunk = placement.sunk_shapes(robot, reference)
    if not sunk:
        return
    i, j, z, z_ref = sunk[0]
    body_at = _items(top.get("bodies"), "bodies")[i]
    shape_at = _items(_Map(body_at, "a body").get("shapes"), "shapes")[j]
    shown = ", ".join(f"{n}={float(v):g}" for n, v in given.items())
    raise shape_at.error(
        f"with {shown} body '{robot.bodies[i].name}' starts {-z:.3g} m below the ground "
        f"(this shape's lowest point at z = {z:.3g} m; with the file's own vars at "
        f"z = {z_ref:.3g} m)", "give the vars values that keep every body above the ground, "
        "or declare their `min`/`max` under `vars:` (docs/robot-format.md#vars)")


def _parse(top: _Map, source: str) -> Robot:
    ang = _angle_scale(top.get("angle"))
    solver = _read_fields(top.get("solver"), "solver", Solver(), _SOLVER_FIELDS)
    ground = _read_fields(top.get("ground"), "ground", Ground(), _GROUND_FIELDS)
    shape_defaults, motor_defaults = _defaults(top.get("defaults"))
    bodies, shape_ats = _bodies(top, shape_defaults, ang)
    joints = _joints(top.get("joints"), bodies, motor_defaults, ang)
    sensors = _sensors(top.get("sensors"), bodies, joints)
    pairs = _contact_pairs(top.get("contacts"), bodies, shape_ats, joints)
    cameras = _cameras(top.get("cameras"), bodies, ang)
    name_at = top.get("name")
    name = _string(name_at) if name_at is not None else Path(source).stem
    return Robot(name=name, source=source, bodies=tuple(bodies), joints=tuple(joints),
                 sensors=tuple(sensors), solver=solver, ground=ground, contact_pairs=pairs,
                 cameras=tuple(cameras))


# ---------------------------------------------------------------------------------------------
# YAML nodes with their place in the file
# ---------------------------------------------------------------------------------------------

_TAG = "tag:yaml.org,2002:"
_PLAIN_NUMBER = re.compile(r"[-+]?(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][-+]?\d+)?")
_CONSTRUCTOR = SafeConstructor()


@dataclass(frozen=True)
class _At:
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

    def key(self, name: str, node: yaml.Node) -> _At:
        return _At(self.file, f"{self.path}.{name}" if self.path else name, node)

    def item(self, index: int, node: yaml.Node) -> _At:
        return _At(self.file, f"{self.path}[{index}]", node)


@functools.lru_cache(maxsize=16)
def _compose(text: str, source: str) -> _At:
    """Parse YAML text into its node tree; syntax errors become ModelErrors with yaml's line.
    Cached: co-design reads the same robot file with other `vars` at every update, and the
    readers never modify the tree."""
    try:
        limits.check_text(text, source, "file")
        node = yaml.compose(text, Loader=limits.LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = "; ".join(p for p in (exc.context, exc.problem) if p) or "syntax error"
        raise ModelError(source, "", f"malformed YAML: {problem}",
                         "check the indentation, put a space after every ':' and quote text "
                         "that contains ':' or '#'", line) from exc
    except yaml.YAMLError as exc:
        raise ModelError(source, "", f"malformed YAML: {exc}",
                         "check that the file is valid YAML") from exc
    if node is None:
        raise ModelError(source, "", "the robot file is empty",
                         "describe at least `bodies:` (see docs/robot-format.md)", 1)
    return _At(source, "", node)


class _Map:
    """A YAML mapping read into {key: node}; duplicate and non-text keys are rejected.

    YAML merge keys (``<<: *anchor``) are honoured; the mapping's own keys override merged ones.
    The node tree is never modified, so the same node may be read more than once.
    """

    def __init__(self, at: _At, what: str):
        if not isinstance(at.node, yaml.MappingNode):
            raise at.error(f"{what} must be a mapping of `key: value` entries, "
                           f"got {_describe(at.node)}",
                           "write one `key: value` per line, indented under its parent")
        self.at, self.what = at, what
        self._keys: dict[str, yaml.Node] = {}
        self._values: dict[str, yaml.Node] = {}
        for name, (key_node, value_node) in self._pairs(at, (), {}).items():
            self._keys[name] = key_node
            self._values[name] = value_node

    def _pairs(self, at: _At, inside: tuple, done: dict) -> dict[str, tuple]:
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
            if key_node.tag == _TAG + "merge":
                merges.append(value_node)
            else:
                self._check_key(at, key_node, own)
                own[key_node.value] = (key_node, value_node)
        pairs: dict[str, tuple] = {}
        for value_node in reversed(merges):         # the first `<<` wins
            pairs.update(self._merge_sources(at.key("<<", value_node), (*inside, at.node),
                                             done))
        pairs.update(own)
        done[id(at.node)] = pairs
        return pairs

    def _merge_sources(self, at: _At, inside: tuple, done: dict) -> dict[str, tuple]:
        """Pairs merged by ``<<``: a mapping, or a list of mappings (earlier ones win)."""
        sources = at.node.value if isinstance(at.node, yaml.SequenceNode) else [at.node]
        pairs: dict[str, tuple] = {}
        for source in reversed(sources):
            if not isinstance(source, yaml.MappingNode):
                raise at.error(f"`<<` must merge a mapping or a list of mappings, got "
                               f"{_describe(source)}", "write `<<: *name` where `&name` marks "
                                                       "a mapping")
            pairs.update(self._pairs(_At(at.file, at.path, source), inside, done))
        return pairs

    def _check_key(self, at: _At, key_node: yaml.Node, seen: dict) -> None:
        if not isinstance(key_node, yaml.ScalarNode):
            raise _At(at.file, at.path, key_node).error(
                f"keys of {self.what} must be plain words", "write `key: value`")
        if key_node.value in seen:
            raise at.key(key_node.value, key_node).error(
                f"key '{key_node.value}' appears twice in {self.what}", "keep only one of them")

    def only(self, allowed: Iterable[str], elsewhere: dict[str, str] | None = None) -> _Map:
        """Reject keys outside `allowed`; `elsewhere` gives a fix for keys valid elsewhere."""
        allowed = set(allowed)
        for name, key_node in self._keys.items():
            if name in allowed:
                continue
            at = self.at.key(name, key_node)
            if elsewhere and name in elsewhere:
                raise at.error(f"'{name}' is not a key of {self.what}", elsewhere[name])
            raise at.error(f"unknown key '{name}' in {self.what}", _did_you_mean(name, allowed))
        return self

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def get(self, name: str) -> _At | None:
        """The value of `name`, or None when the key is absent."""
        if name not in self._values:
            return None
        return self.at.key(name, self._values[name])

    def key_at(self, name: str) -> _At:
        """The key `name` itself (its line), for errors about the key rather than its value."""
        return self.at.key(name, self._keys[name])

    def require(self, name: str, fix: str) -> _At:
        at = self.get(name)
        if at is None:
            raise self.at.key(name, self.at.node).error(
                f"{self.what} needs the key '{name}'", fix)
        return at


def _did_you_mean(word: str, options: Iterable[str]) -> str:
    """A fix sentence: the close matches of `word` among `options`, then all options."""
    options = sorted(options)
    if not options:
        return "remove it: nothing is allowed here"
    close = difflib.get_close_matches(word, options, n=3, cutoff=0.6)
    if close:
        return ("did you mean " + " or ".join(f"'{c}'" for c in close)
                + f"? (known: {', '.join(options)})")
    return f"use one of: {', '.join(options)}"


def _describe(node: yaml.Node) -> str:
    """A short description of what a node holds, for 'expected X, got Y' messages."""
    if isinstance(node, yaml.SequenceNode):
        return f"a list of {len(node.value)} item{'s' if len(node.value) != 1 else ''}"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    kind = node.tag[len(_TAG):] if node.tag.startswith(_TAG) else node.tag
    if kind == "null":
        return "nothing (null)"
    if kind == "str":
        return f"the text '{node.value}'"
    return f"the {'boolean' if kind == 'bool' else kind} {node.value}"


# ---------------------------------------------------------------------------------------------
# Scalars, vectors and range checks
# ---------------------------------------------------------------------------------------------

def _number(at: _At) -> float:
    """A finite real number of at most limits.MAX_MAGNITUDE in size. Unquoted forms PyYAML
    leaves as text (``1e-3``) are accepted; a quoted number is refused (it is text)."""
    node = at.node
    value = None
    if isinstance(node, yaml.ScalarNode):
        if node.tag in (_TAG + "int", _TAG + "float"):
            try:
                value = float(_CONSTRUCTOR.construct_object(node))
            except (OverflowError, ValueError):    # more digits than a float holds
                raise at.error(f"{node.value[:20]}... ({len(node.value)} characters) is too "
                               f"large: numbers in a robot or experiment file are at most "
                               f"{limits.MAX_MAGNITUDE:g} in size", "write a smaller number"
                               ) from None
        elif node.tag == _TAG + "str" and _PLAIN_NUMBER.fullmatch(node.value.strip()):
            if node.style:
                raise at.error(f"the number {node.value} is quoted, which makes it text",
                               "remove the quotes: numbers are never quoted "
                               "(docs/robot-format.md)")
            value = float(node.value.replace("_", ""))
    if value is None and isinstance(node, yaml.ScalarNode) and node.tag == _TAG + "str":
        value = _expression(at)
    if value is None:
        raise at.error(f"expected a number, got {_describe(node)}",
                       "write a plain number such as 0.5 (no quotes, no units)")
    if not math.isfinite(value):
        raise at.error(f"expected a finite number, got {node.value}", "write a finite number")
    problem = limits.magnitude_problem(value)
    if problem:
        raise at.error(problem, "write a smaller number (in SI units: m, kg, s, N)")
    return value


# the file's vars while it is being read (expressions in number fields use them)
_VARS: contextvars.ContextVar[dict[str, float]] = contextvars.ContextVar("tdphys_robot_vars",
                                                                        default={})
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _expression(at: _At) -> float | None:
    """A number field written as an arithmetic expression of the file's vars (None when the
    text does not look like one, so the caller reports "expected a number")."""
    text, variables = at.node.value, _VARS.get()
    if len(text) > limits.MAX_EXPRESSION:
        raise at.error(f"an expression of {len(text)} characters is longer than the "
                       f"{limits.MAX_EXPRESSION} allowed", "write a shorter expression, or "
                       "give its parts names under `vars:`")
    operators = any(c in text for c in "+-*/()")
    try:
        tree = expressions.parse(text)
    except ValueError:
        if not operators and not variables:
            return None            # plain text such as `1 m`: "expected a number"
        raise at.error(f"'{text}' is not a number or an arithmetic expression",
                       "write a number, or an expression of the file's `vars` such as "
                       "'0.03 + shin' (docs/robot-format.md#vars)") from None
    unknown = sorted(expressions.names_in(tree) - set(variables) - expressions.RESERVED)
    if unknown:
        if not operators and not variables:
            return None            # plain text such as `fast`: "expected a number"
        declared = _listing(variables)
        close = difflib.get_close_matches(unknown[0], variables, n=1, cutoff=0.6)
        raise at.error(f"'{unknown[0]}' in '{text}' is not a var of this file (declared: "
                       f"{declared})", (f"did you mean '{close[0]}'? or " if close else "")
                       + f"declare it under `vars:` at the top of the file (e.g. "
                       f"`vars: {{{unknown[0]}: 0.1}}`), or write a number")
    try:
        return expressions.evaluate(tree, variables, shown=text)
    except ValueError as exc:
        raise at.error(str(exc), "write a number, or an expression of the file's `vars` "
                       "with + - * / ** ( ) and sqrt, sin, cos, ... "
                       "(docs/robot-format.md#vars)") from None


def _vars(at: _At | None, source: str,
          given: dict[str, float] | None) -> tuple[dict[str, float], dict[str, tuple]]:
    """The file's `vars:` (name -> number), with `given` values replacing them, and the
    declared ranges (name -> (min, max), -inf/inf where a bound is not given)."""
    values: dict[str, float] = {}
    ranges: dict[str, tuple[float, float]] = {}
    ats: dict[str, _At] = {}
    if at is not None:
        m = _Map(at, "vars")
        for name in list(m._values):
            key_at = m.get(name)
            if not _VAR_NAME.fullmatch(name) or name in expressions.RESERVED:
                raise m.key_at(name).error(f"'{name}' cannot name a var",
                                   "use letters, digits and _ (not starting with a digit), and "
                                   f"none of {', '.join(sorted(expressions.RESERVED))}")
            values[name], ranges[name] = _var(key_at)
            ats[name] = key_at
    for name, value in (given or {}).items():
        if name not in values:
            raise ModelError(source, "vars", f"'{name}' is not a var of this robot file "
                             f"(declared: {_listing(values)})",
                             _did_you_mean(name, values) if values else
                             f"declare it under `vars:` in {source}")
        try:
            v = float(value)
        except (TypeError, ValueError, OverflowError):
            v = math.nan
        problem = limits.magnitude_problem(v)
        if problem:
            raise ModelError(source, f"vars.{name}", f"the value given is not finite or "
                             f"too large ({problem})", "give a finite number")
        lo, hi = ranges[name]
        if not lo <= v <= hi:
            raise ats[name].error(f"the value given, {v:g}, is outside the var's range "
                                  f"[{lo:g}, {hi:g}]", f"give {name} a value from {lo:g} to "
                                  f"{hi:g}")
        values[name] = v
    return values, {n: r for n, r in ranges.items() if r != (-math.inf, math.inf)}


def _var(at: _At) -> tuple[float, tuple[float, float]]:
    """One var: a plain number, or {value, min, max} (both bounds optional)."""
    if not isinstance(at.node, yaml.MappingNode):
        return _number(at), (-math.inf, math.inf)
    m = _Map(at, f"var '{at.path.rsplit('.', 1)[-1]}'").only(("value", "min", "max"))
    value = _number(m.require("value", "give the var's value, e.g. `{value: 0.145, min: 0.05, "
                                       "max: 0.3}`"))
    lo = _number(m.get("min")) if "min" in m else -math.inf
    hi = _number(m.get("max")) if "max" in m else math.inf
    if lo >= hi:
        raise m.get("max").error(f"min {lo:g} is not below max {hi:g}", "give min < max")
    if not lo <= value <= hi:
        raise m.get("value").error(f"{value:g} is outside the var's range [{lo:g}, {hi:g}]",
                                   "give a value from min to max")
    return value, (lo, hi)


def _listing(names: Iterable[str], most: int = 20) -> str:
    """Names joined by commas, at most `most` of them (then how many more), or 'none'."""
    names = list(names)
    if not names:
        return "none"
    shown = ", ".join(names[:most])
    return shown + (f", ... ({len(names) - most} more)" if len(names) > most else "")


def _integer(at: _At, limit: int = limits.MAX_INTEGER) -> int:
    """A whole number (YAML int; 2.0 is not accepted) of at most `limit` in size."""
    if isinstance(at.node, yaml.ScalarNode) and at.node.tag == _TAG + "int":
        try:
            value = int(_CONSTRUCTOR.construct_object(at.node))
        except ValueError:                   # more digits than Python converts
            value = limit + 1
        if abs(value) > limit:
            raise at.error(f"{at.node.value[:20]} is too large: whole numbers here are at most "
                           f"{limit:,}", "write a smaller number")
        return value
    raise at.error(f"expected a whole number, got {_describe(at.node)}",
                   "write an integer such as 3 (no decimal point, no quotes)")


def _boolean(at: _At) -> bool:
    if isinstance(at.node, yaml.ScalarNode) and at.node.tag == _TAG + "bool":
        return bool(_CONSTRUCTOR.construct_object(at.node))
    raise at.error(f"expected true or false, got {_describe(at.node)}", "write true or false")


def _string(at: _At) -> str:
    node = at.node
    if isinstance(node, yaml.ScalarNode) and node.tag == _TAG + "str" and node.value:
        return node.value
    raise at.error(f"expected a name (text), got {_describe(node)}",
                   "write a non-empty name; quote it if it looks like a number or boolean")


def _choice(at: _At, options: Iterable[str], what: str) -> str:
    """One of `options`, with a did-you-mean when it is not."""
    value = _string(at)
    if value not in options:
        raise at.error(f"unknown {what} '{value}'", _did_you_mean(value, options))
    return value


def _items(at: _At, what: str, allow_empty: bool = True) -> list[_At]:
    """The elements of a YAML list, each with its path ``key[i]``."""
    if not isinstance(at.node, yaml.SequenceNode):
        raise at.error(f"{what} must be a list, got {_describe(at.node)}",
                       "write a YAML list: one '- item' per line, or [a, b, ...]")
    if not allow_empty and not at.node.value:
        raise at.error(f"{what} must not be empty", f"add at least one entry to {what}")
    return [at.item(i, n) for i, n in enumerate(at.node.value)]


def _vector_items(at: _At, n: int, form: str) -> list[_At]:
    """The n element nodes of a list that must hold exactly n numbers written as `form`."""
    if not isinstance(at.node, yaml.SequenceNode) or len(at.node.value) != n:
        raise at.error(f"expected a list of {n} numbers {form}, got {_describe(at.node)}",
                       f"write it as {form}")
    return [at.item(i, node) for i, node in enumerate(at.node.value)]


def _vector(at: _At, n: int, form: str) -> tuple[float, ...]:
    return tuple(_number(a) for a in _vector_items(at, n, form))


def _vec3(at: _At) -> Vec3:
    return _vector(at, 3, "[x, y, z]")  # type: ignore[return-value]


def _positive(at: _At, unit: str) -> float:
    value = _number(at)
    if value <= 0.0:
        raise at.error(f"must be > 0, got {value:g}",
                       f"give a positive value{' in ' + unit if unit else ''}")
    return value


def _non_negative(at: _At, unit: str = "") -> float:
    value = _number(at)
    if value < 0.0:
        raise at.error(f"must be >= 0, got {value:g}",
                       f"give zero or a positive value{' in ' + unit if unit else ''}")
    return value


def _fraction(at: _At) -> float:
    """A number in [0, 1]."""
    value = _number(at)
    if not 0.0 <= value <= 1.0:
        raise at.error(f"must be between 0 and 1, got {value:g}", "give a value in [0, 1]")
    return value


def _ranged(read: Callable[[_At], float], span: tuple, what: str) -> Callable[[_At], float]:
    """A reader: `read`'s value, refused outside limits' span (low, high, unit)."""
    def checked(at: _At) -> float:
        value = read(at)
        problem = limits.in_range(value, span, what)
        if problem:
            raise at.error(problem, f"give a value from {span[0]:g} to {span[1]:g}"
                                    f"{' ' + span[2] if span[2] else ''}")
        return value
    return checked


def _gravity(at: _At) -> Vec3:
    """[m/s^2] a 3-vector of length at most limits.GRAVITY's."""
    g = _vec3(at)
    norm = math.sqrt(sum(c * c for c in g))
    if norm > limits.GRAVITY[1]:
        raise at.error(f"gravity of {norm:g} m/s^2 is outside the sensible range "
                       f"[0, {limits.GRAVITY[1]:g}] m/s^2", "give the acceleration in m/s^2, "
                       "e.g. [0, 0, -9.81]")
    return g


def _positive_int(at: _At) -> int:
    value = _integer(at)
    if value <= 0:
        raise at.error(f"must be a whole number > 0, got {value}", "give a positive integer")
    return value


def _non_negative_int(at: _At) -> int:
    value = _integer(at)
    if value < 0:
        raise at.error(f"must be a whole number >= 0, got {value}", "give 0 or a positive integer")
    return value


def _color(at: _At) -> Vec3:
    """RGB, each in [0, 1]."""
    return tuple(_fraction(a) for a in _vector_items(at, 3, "[r, g, b]"))  # type: ignore


def _texture(at: _At) -> str | None:
    """An image file's absolute path, given relative to the robot file (or absolute), that
    exists and reads as an image; `null` for none (to turn off an inherited texture)."""
    if _is_null(at):
        return None
    node = at.node
    if not (isinstance(node, yaml.ScalarNode) and node.tag == _TAG + "str" and node.value):
        raise at.error(f"expected the path of an image file, got {_describe(node)}",
                       "write a path relative to the robot file, e.g. textures/crate.png")
    from ..paths import path_problem
    from ..vision.textures import read_texture   # numpy + imageio only, no Taichi
    given = Path(node.value).expanduser()
    path = (given if given.is_absolute() else Path(at.file).parent / given).resolve()
    problem = path_problem(path)
    if problem == "does not exist":
        raise at.error(f"texture file '{node.value}' not found (looked for {path})",
                       "give the path of an image file relative to the robot file's folder, "
                       "or an absolute path")
    if problem:
        raise at.error(f"texture '{node.value}' ({path}) {problem}",
                       "give the path of an image file (PNG, JPEG, ...)")
    try:
        read_texture(path)
    except (OSError, ValueError) as exc:
        raise at.error(f"cannot use '{node.value}' as a texture: {exc}",
                       "give a PNG (or another image Pillow reads, e.g. JPEG) with grey, "
                       "RGB or RGBA pixels") from exc
    return str(path)


def _interval(at: _At, scale: float) -> tuple[float, float]:
    """[lo, hi] with lo < hi, multiplied by `scale` (the angle unit, or 1 for metres)."""
    lo, hi = _vector(at, 2, "[lo, hi]")
    if lo >= hi:
        raise at.error(f"lower bound {lo:g} is not below upper bound {hi:g}",
                       "write [lo, hi] with lo < hi")
    return lo * scale, hi * scale


def _unit_vector(at: _At) -> Vec3:
    """A 3-vector normalised to length 1; zero length is an error."""
    v = _vec3(at)
    norm = math.sqrt(sum(c * c for c in v))
    if norm < ZERO_LENGTH:
        raise at.error("axis has zero length", "give a nonzero direction such as [0, 0, 1]")
    return tuple(c / norm for c in v)  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# Rotations (quaternions [w, x, y, z])
# ---------------------------------------------------------------------------------------------

def _quaternion(at: _At) -> Quat:
    """[w, x, y, z], normalised; zero norm is an error."""
    q = _vector(at, 4, "[w, x, y, z]")
    norm = math.sqrt(sum(c * c for c in q))
    if norm < ZERO_LENGTH:
        raise at.error("quaternion has zero norm",
                       "give a rotation such as [1, 0, 0, 0] (the identity), or use euler")
    return tuple(c / norm for c in q)  # type: ignore[return-value]


def _orientation(m: _Map, ang: float) -> Quat:
    """`quat` [w, x, y, z] or `euler` [rx, ry, rz] (file angle unit) of a body or shape."""
    quat_at, euler_at = m.get("quat"), m.get("euler")
    if quat_at is not None and euler_at is not None:
        raise m.key_at("euler").error("both quat and euler are given",
                                      "give the orientation once: either quat or euler")
    if quat_at is not None:
        return _quaternion(quat_at)
    if euler_at is not None:
        rx, ry, rz = _vector(euler_at, 3, "[rx, ry, rz]")
        return as_tuple(euler_quat(rx * ang, ry * ang, rz * ang))
    return (1.0, 0.0, 0.0, 0.0)


# ---------------------------------------------------------------------------------------------
# Top level: angle unit, solver, ground, defaults
# ---------------------------------------------------------------------------------------------

_TOP_KEYS = ("name", "vars", "angle", "solver", "ground", "defaults", "bodies", "joints", "sensors",
             "contacts", "cameras")

_SOLVER_FIELDS: dict[str, Callable[[_At], object]] = {
    "dt": _ranged(lambda a: _positive(a, "s"), limits.DT, "a time step of"),
    "substeps": _ranged(_positive_int, limits.SUBSTEPS, "a substep count of"),
    "iterations": _ranged(_positive_int, limits.ITERATIONS, "a sweep count of"),
    "warm_start": _fraction,
    "gravity": _gravity,
    "joint_hz": lambda a: _non_negative(a, "Hz"),
    "joint_damping": _non_negative,
    "contact_hz": lambda a: _non_negative(a, "Hz"),
    "contact_damping": _non_negative,
    "restitution_velocity": lambda a: _non_negative(a, "m/s"),
    "max_push_velocity": lambda a: _positive(a, "m/s"),
    "contact_margin": lambda a: _non_negative(a, "m"),
    "limit_margin": _non_negative,
}

_GROUND_FIELDS: dict[str, Callable[[_At], object]] = {
    "enabled": _boolean,
    "friction": _non_negative,
    "restitution": _fraction,
    "torsional_friction": lambda a: _non_negative(a, "m"),
    "color": _color,
    "checker": lambda a: _non_negative(a, "m"),
    "texture": _texture,
    "texture_size": lambda a: _positive(a, "m"),
}


def _angle_scale(at: _At | None) -> float:
    """Radians per file angle unit: pi/180 for 'degree' (the default), 1 for 'radian'."""
    if at is None:
        return ANGLE_UNITS["degree"]
    return ANGLE_UNITS[_choice(at, ANGLE_UNITS, "angle unit")]


def _read_fields(at: _At | None, what: str, base, fields: dict[str, Callable[[_At], object]]):
    """The dataclass `base` overridden by mapping `at`, which may hold only `fields`."""
    if at is None:
        return base
    return _override(_Map(at, what).only(fields), base, fields)


def _override(m: _Map, base, fields: dict[str, Callable[[_At], object]]):
    """The dataclass `base` with each of `fields` present in `m` replaced by its reader's value."""
    return replace(base, **{k: read(m.get(k)) for k, read in fields.items() if k in m})


@dataclass(frozen=True)
class _ShapeDefaults:
    """Inherited shape properties (defaults.shape); units as in schema.Shape."""

    density: float = _DEFAULT_DENSITY  # [kg/m^3]
    friction: float = _SHAPE0.friction
    restitution: float = _SHAPE0.restitution
    torsional_friction: float = _SHAPE0.torsional_friction
    color: Vec3 = _SHAPE0.color
    group: int = _SHAPE0.group
    ground: bool = _SHAPE0.ground
    texture: str | None = _SHAPE0.texture


@dataclass(frozen=True)
class _MotorDefaults:
    """Inherited motor properties (defaults.motor) as written in the file.

    max_velocity and range stay in file units here (the angle unit for angular joints, metres
    for sliders) and are converted per joint; None means the schema default.
    """

    mode: str = _MOTOR0.mode
    gain: float = _MOTOR0.gain
    max_force: float = _MOTOR0.max_force
    max_velocity: float | None = None
    range: tuple[float, float] | None = None


_SURFACE_FIELDS: dict[str, Callable[[_At], object]] = {
    "friction": _non_negative,
    "restitution": _fraction,
    "torsional_friction": lambda a: _non_negative(a, "m"),
    "color": _color,
    "group": _non_negative_int,
    "ground": _boolean,
    "texture": _texture,
}

_MOTOR_FIELDS: dict[str, Callable[[_At], object]] = {
    "mode": lambda a: _choice(a, MOTOR_MODES, "motor mode"),
    "gain": lambda a: _positive(a, "1/s"),
    "max_force": lambda a: _positive(a, "N m (angular) or N (slider)"),
    "max_velocity": lambda a: _positive(a, "the file's angle unit per second, or m/s"),
    "range": lambda a: _interval(a, 1.0),
}


def _defaults(at: _At | None) -> tuple[_ShapeDefaults, _MotorDefaults]:
    """The `defaults:` section: `shape:` and `motor:` properties inherited by every entry."""
    if at is None:
        return _ShapeDefaults(), _MotorDefaults()
    m = _Map(at, "defaults").only(("shape", "motor"))
    shape_fields = {"density": _density, **_SURFACE_FIELDS}
    shapes = _read_fields(m.get("shape"), "defaults.shape", _ShapeDefaults(), shape_fields)
    motors = _read_fields(m.get("motor"), "defaults.motor", _MotorDefaults(), _MOTOR_FIELDS)
    return shapes, motors


# ---------------------------------------------------------------------------------------------
# Bodies and shapes
# ---------------------------------------------------------------------------------------------

_BODY_KEYS = ("name", "pos", "quat", "euler", "vel", "omega", "mass", "inertia", "shapes")
_SHAPE_COMMON = ("type", "pos", "quat", "euler", "density", "mass", *_SURFACE_FIELDS)
_SHAPE_GEOMETRY = {"sphere": ("radius",), "box": ("size",),
                   "capsule": ("radius", "half_length", "fromto")}


@dataclass(frozen=True)
class _ShapeDraft:
    """A parsed shape before its mass is resolved.

    volume: [m^3]. mass: [kg] from the shape's own `mass` or `density`, None when it gives
    neither (then it shares the body's `mass`, or takes the default density).
    """

    at: _At
    shape: Shape
    volume: float
    mass: float | None
    density: float  # [kg/m^3] inherited from defaults.shape, used when nothing else applies


def _bodies(top: _Map, defaults: _ShapeDefaults,
            ang: float) -> tuple[list[Body], list[list[_At]]]:
    """All bodies in file order, and the node of each of their shapes (for contact errors)."""
    entries = _items(top.require("bodies", "add a `bodies:` list with at least one body"),
                     "bodies", allow_empty=False)
    bodies, shape_ats, seen = [], [], {}
    for at in entries:
        body, ats = _body(at, defaults, ang)
        if body.name in seen:
            raise _Map(at, "a body").get("name").error(
                f"duplicate body name '{body.name}' (also bodies[{seen[body.name]}])",
                "give every body a unique name")
        seen[body.name] = len(bodies)
        bodies.append(body)
        shape_ats.append(ats)
    return bodies, shape_ats


def _body(at: _At, defaults: _ShapeDefaults, ang: float) -> tuple[Body, list[_At]]:
    """One body: pose [m], velocities [m/s, rad/s], optional mass [kg] and inertia [kg m^2]."""
    m = _Map(at, "a body").only(_BODY_KEYS)
    name = _string(m.require("name", "give the body a unique `name:`"))
    if name == WORLD:
        raise m.get("name").error(f"'{WORLD}' is reserved for the fixed world frame",
                                  "rename the body")
    drafts = [_shape(a, defaults, ang) for a in
              _items(m.require("shapes", "give the body a `shapes:` list"), "shapes",
                     allow_empty=False)]
    mass_at = m.get("mass")
    masses = _resolve_masses(mass_at, drafts) if mass_at is not None else \
        [d.mass if d.mass is not None else d.density * d.volume for d in drafts]
    problem = limits.in_range(sum(masses), limits.MASS, f"body '{name}' weighs")
    if problem:
        raise (mass_at or m.get("shapes")).error(
            problem, "give its shapes sizes and densities (or a `mass`) in SI units: m, kg/m^3, "
                     "kg")
    omega = _vec3(m.get("omega")) if "omega" in m else (0.0, 0.0, 0.0)
    body = Body(name=name,
                shapes=tuple(replace(d.shape, mass=mass) for d, mass in zip(drafts, masses)),
                pos=_vec3(m.get("pos")) if "pos" in m else (0.0, 0.0, 0.0),
                quat=_orientation(m, ang),
                vel=_vec3(m.get("vel")) if "vel" in m else (0.0, 0.0, 0.0),
                omega=tuple(w * ang for w in omega),  # type: ignore[arg-type]
                inertia=_inertia(m.get("inertia")) if "inertia" in m else None)
    return body, [d.at for d in drafts]


def _inertia(at: _At) -> Vec3:
    """Principal moments [kg m^2], each > 0 and obeying the triangle inequality."""
    moments = tuple(_ranged(lambda a: _positive(a, "kg m^2"), limits.INERTIA, "a moment of")(a)
                    for a in _vector_items(at, 3, "[Ixx, Iyy, Izz]"))
    total = sum(moments)
    for value in moments:
        if value > total - value + 1e-9 * total:
            raise at.error(f"principal moment {value:g} exceeds the sum of the other two; "
                           "no rigid body has such an inertia",
                           "check the values (each moment must be <= the sum of the others)")
    return moments  # type: ignore[return-value]


def _shape(at: _At, defaults: _ShapeDefaults, ang: float) -> _ShapeDraft:
    """One shape: geometry [m] and pose in the body frame, surface properties, own mass."""
    kind = _kind(at, "a shape", SHAPE_KINDS, "shape type")
    m = _Map(at, f"a {kind} shape").only((*_SHAPE_COMMON, *_SHAPE_GEOMETRY[kind]),
                                         _elsewhere(_SHAPE_GEOMETRY, kind, "shapes"))
    geometry = _shape_geometry(m, kind, ang)
    volume = _volume(kind, geometry["radius"], geometry["half_extents"], geometry["half_length"])
    surface = _override(m, defaults, _SURFACE_FIELDS)
    shape = Shape(kind=kind, mass=1.0, friction=surface.friction,
                  restitution=surface.restitution, torsional_friction=surface.torsional_friction,
                  color=surface.color, group=surface.group, ground=surface.ground,
                  texture=surface.texture, **geometry)
    return _ShapeDraft(at=at, shape=shape, volume=volume, mass=_own_mass(m, volume),
                       density=defaults.density)


def _kind(at: _At, what: str, kinds: tuple[str, ...], noun: str) -> str:
    """The required `type:` of a shape, joint or sensor entry, one of `kinds`."""
    type_at = _Map(at, what).require("type", f"add `type:` ({' | '.join(kinds)})")
    return _choice(type_at, kinds, noun)


def _elsewhere(table: dict[str, tuple[str, ...]], kind: str, noun: str) -> dict[str, str]:
    """Fix sentences for keys that belong to other kinds than `kind` in `table`."""
    hints: dict[str, list[str]] = {}
    for other, keys in table.items():
        for key in keys:
            if key not in table[kind]:
                hints.setdefault(key, []).append(other)
    return {k: f"'{k}' belongs to {', '.join(v)} {noun}, not to a {kind}; remove it or change "
               f"`type`" for k, v in hints.items()}


def _shape_geometry(m: _Map, kind: str, ang: float) -> dict:
    """radius, half_extents, half_length [m], and pos [m] / quat in the body frame."""
    geometry = {"radius": 0.0, "half_extents": (0.0, 0.0, 0.0), "half_length": 0.0,
                "pos": _vec3(m.get("pos")) if "pos" in m else (0.0, 0.0, 0.0),
                "quat": _orientation(m, ang)}
    if kind in ("sphere", "capsule"):
        geometry["radius"] = _positive(m.require("radius", f"give the {kind} a `radius:` in m"),
                                       "m")
    if kind == "box":
        size = m.require("size", "give the box `size: [hx, hy, hz]` (half sizes in m)")
        geometry["half_extents"] = tuple(
            _positive(a, "m (half size)") for a in _vector_items(size, 3, "[hx, hy, hz]"))
    if kind == "capsule":
        geometry.update(_capsule_segment(m))
    return geometry


def _capsule_segment(m: _Map) -> dict:
    """half_length [m] from `half_length`, or half_length, pos and quat from `fromto`."""
    if "fromto" not in m:
        at = m.require("half_length", "give the capsule `half_length:` (m) or "
                                      "`fromto: [x1, y1, z1, x2, y2, z2]`")
        return {"half_length": _positive(at, "m")}
    for key in ("half_length", "pos", "quat", "euler"):
        if key in m:
            raise m.key_at(key).error(f"'{key}' cannot be combined with fromto, which already "
                                      "fixes the capsule's centre, direction and length",
                                      f"remove '{key}' or remove fromto")
    at = m.get("fromto")
    x1, y1, z1, x2, y2, z2 = _vector(at, 6, "[x1, y1, z1, x2, y2, z2]")
    d = (x2 - x1, y2 - y1, z2 - z1)
    length = math.sqrt(sum(c * c for c in d))
    if length < ZERO_LENGTH:
        raise at.error("fromto has zero length (both end points coincide)",
                       "give two different end points, or use a sphere")
    return {"half_length": length / 2, "pos": ((x1 + x2) / 2, (y1 + y2) / 2, (z1 + z2) / 2),
            "quat": as_tuple(quat_z_to([c / length for c in d]))}


def _volume(kind: str, radius: float, half_extents: Vec3, half_length: float) -> float:
    """Volume [m^3] of a sphere, box (from half sizes) or capsule (from half length)."""
    if kind == "sphere":
        return 4.0 / 3.0 * math.pi * radius ** 3
    if kind == "box":
        return 8.0 * half_extents[0] * half_extents[1] * half_extents[2]
    return math.pi * radius ** 2 * 2.0 * half_length + 4.0 / 3.0 * math.pi * radius ** 3


def _own_mass(m: _Map, volume: float) -> float | None:
    """[kg] from the shape's own `mass`, or `density` [kg/m^3] x volume; None if neither."""
    mass_at, density_at = m.get("mass"), m.get("density")
    if mass_at is not None and density_at is not None:
        raise m.key_at("density").error("both mass and density are given",
                                        "give either mass (kg) or density (kg/m^3)")
    if mass_at is not None:
        return _mass(mass_at)
    if density_at is not None:
        return _density(density_at) * volume
    return None


def _mass(at: _At) -> float:
    return _ranged(lambda a: _positive(a, "kg"), limits.MASS, "a mass of")(at)


def _density(at: _At) -> float:
    return _ranged(lambda a: _positive(a, "kg/m^3"), limits.DENSITY, "a density of")(at)


def _resolve_masses(mass_at: _At, drafts: list[_ShapeDraft]) -> list[float]:
    """Share the body's total mass [kg] among the shapes that give no mass, by volume."""
    total = _mass(mass_at)
    given = sum(d.mass for d in drafts if d.mass is not None)
    sharing = [d for d in drafts if d.mass is None]
    if not sharing:
        if abs(given - total) > 1e-9 * total:
            raise mass_at.error(f"body mass {total:g} kg differs from the sum of its shapes' "
                                f"masses {given:g} kg",
                                "remove the body's mass, or the mass/density of a shape")
        return [d.mass for d in drafts]  # type: ignore[misc]
    remainder = total - given
    if remainder <= 0.0:
        raise mass_at.error(f"the shapes with their own mass or density already weigh "
                            f"{given:g} kg, leaving {remainder:g} kg of the body's {total:g} kg "
                            "for the other shapes",
                            "raise the body's mass or lower the shapes' masses/densities")
    shared_volume = sum(d.volume for d in sharing)
    return [d.mass if d.mass is not None else remainder * d.volume / shared_volume
            for d in drafts]


# ---------------------------------------------------------------------------------------------
# Joints and motors
# ---------------------------------------------------------------------------------------------

_JOINT_COMMON = ("name", "type", "parent", "child", "anchor")
_JOINT_SPECIFIC = {"hinge": ("axis", "limit", "motors"), "slider": ("axis", "limit", "motors"),
                   "universal": ("axes", "limits", "motors"),
                   "ball": ("axes", "limits", "motors"), "fixed": ()}
_ANGULAR = ("hinge", "universal", "ball")
_MOTOR_KEYS = ("name", "axis", *_MOTOR_FIELDS)


def _joints(at: _At | None, bodies: list[Body], motor_defaults: _MotorDefaults,
            ang: float) -> list[Joint]:
    """All joints in file order; names of joints and of motors must be unique."""
    if at is None:
        return []
    by_name = {b.name: b for b in bodies}
    joints: list[Joint] = []
    joint_index: dict[str, int] = {}
    parent_joint: dict[str, int] = {}       # child body -> the joint that attaches it
    motor_names: set[str] = set()
    entries = _items(at, "joints")
    for i, entry in enumerate(entries):
        joint = _joint(entry, i, by_name, motor_defaults, ang)
        m = _Map(entry, "a joint")
        if joint.name in joint_index:
            raise (m.get("name") or entry).error(
                f"duplicate joint name '{joint.name}' (also joints[{joint_index[joint.name]}])",
                "give every joint a unique name")
        if joint.child in parent_joint:
            k = parent_joint[joint.child]
            raise m.get("child").error(
                f"body '{joint.child}' already hangs from joints[{k}] '{joints[k].name}': a "
                "body has one parent joint (bodies and joints form a tree)",
                "remove one of the two joints, or make another body this joint's child; "
                "kinematic loops are not supported")
        parent_joint[joint.child] = i
        joint_index[joint.name] = i
        motor_ats = _items(m.get("motors"), "motors") if joint.motors else []
        for motor, motor_at in zip(joint.motors, motor_ats):
            if motor.name in motor_names:
                raise motor_at.error(f"duplicate motor name '{motor.name}'",
                                     "give every motor a unique name")
            motor_names.add(motor.name)
        joints.append(joint)
    loop = placement.parent_loop(joints)
    if loop:
        last = max(parent_joint[b] for b in loop[:-1])
        raise _Map(entries[last], "a joint").get("parent").error(
            f"the joints form a loop ({' -> '.join(loop)}: each body hangs from the next), so "
            "no body of it is attached to the world", "remove one joint of the loop (kinematic "
            "loops are not supported), or attach one of its bodies to `world` or a body "
            "outside the loop")
    return joints


def _joint(at: _At, index: int, bodies: dict[str, Body], motor_defaults: _MotorDefaults,
           ang: float) -> Joint:
    """One joint: bodies, anchor [m] and unit axes in world at t = 0, limits, motors."""
    kind = _kind(at, "a joint", JOINT_KINDS, "joint type")
    m = _Map(at, f"a {kind} joint").only((*_JOINT_COMMON, *_JOINT_SPECIFIC[kind]),
                                         _elsewhere(_JOINT_SPECIFIC, kind, "joints"))
    name = _string(m.get("name")) if "name" in m else f"joint{index}"
    parent = _body_ref(m.get("parent"), bodies, allow_world=True) if "parent" in m else None
    child = _body_ref(m.require("child", "name the moving body with `child:`"), bodies,
                      allow_world=False)
    if parent == child:
        raise m.get("child").error(f"parent and child are the same body '{child}'",
                                   "connect two different bodies (or the world and a body)")
    anchor = _vec3(m.get("anchor")) if "anchor" in m else bodies[child].pos
    axes = _joint_axes(m, kind)
    scale = ang if kind in _ANGULAR else 1.0
    limits = _joint_limits(m, kind, len(axes), scale)
    motors = _motors(m, kind, name, motor_defaults, scale)
    return Joint(name=name, kind=kind, parent=parent, child=child, anchor=anchor, axes=axes,
                 limits=limits, motors=motors)


def _body_ref(at: _At, bodies: dict[str, Body], allow_world: bool) -> str | None:
    """A body name (or 'world' -> None when allowed) that must exist."""
    name = _string(at)
    if name == WORLD:
        if allow_world:
            return None
        raise at.error("the world cannot be a joint's child", "name a body as the child")
    if name not in bodies:
        options = [*bodies, WORLD] if allow_world else list(bodies)
        raise at.error(f"no body named '{name}'", _did_you_mean(name, options))
    return name


def _joint_axes(m: _Map, kind: str) -> tuple[Vec3, ...]:
    """Unit world axes at t = 0: hinge/slider 1, universal 2 (perpendicular), ball 3."""
    if kind in ("hinge", "slider"):
        return (_unit_vector(m.require("axis", "give the joint `axis: [x, y, z]` (world)")),)
    if kind == "universal":
        at = m.require("axes", "give the universal joint `axes: [[x, y, z], [x, y, z]]`")
        a, b = _axis_list(at, 2)
        cos = sum(p * q for p, q in zip(a, b))
        if abs(cos) > PERPENDICULAR_TOL:
            angle = math.degrees(math.acos(max(-1.0, min(1.0, cos))))
            raise at.error(f"the two axes of a universal joint must be perpendicular; they are "
                           f"{angle:.4g} deg apart",
                           "give two perpendicular axes, e.g. [[0, 0, 1], [0, 1, 0]]")
        return (a, b)
    if kind == "ball":
        if "axes" not in m:
            return ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
        at = m.get("axes")
        axes = _axis_list(at, 3)
        if abs(_det3(*axes)) < INDEPENDENT_TOL:
            raise at.error("the three axes of a ball joint are linearly dependent",
                           "give three axes that do not lie in one plane, e.g. the default "
                           "[[1, 0, 0], [0, 1, 0], [0, 0, 1]]")
        return axes
    return ()


def _axis_list(at: _At, n: int) -> tuple[Vec3, ...]:
    """A list of exactly n nonzero 3-vectors, each normalised."""
    items = _items(at, "axes")
    if len(items) != n:
        raise at.error(f"expected {n} axes, got {len(items)}",
                       f"give {n} axes, each [x, y, z]")
    return tuple(_unit_vector(a) for a in items)


def _det3(a: Vec3, b: Vec3, c: Vec3) -> float:
    return (a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0])
            + a[2] * (b[0] * c[1] - b[1] * c[0]))


def _joint_limits(m: _Map, kind: str, n_axes: int,
                  scale: float) -> tuple[tuple[float, float] | None, ...]:
    """Per-axis (lo, hi) in [rad] or [m] (None = free); `scale` converts the file's unit."""
    if kind in ("hinge", "slider"):
        at = m.get("limit")
        return (_interval(at, scale) if at is not None else None,)
    at = m.get("limits")
    if at is None:
        return (None,) * n_axes
    if kind == "ball":
        raise m.key_at("limits").error("limits on ball joints are not supported yet",
                                       "remove `limits`; bound the motion with motor `range` "
                                       "or build it from hinge/universal joints")
    items = _items(at, "limits")
    if len(items) != n_axes:
        raise at.error(f"expected one entry per axis ({n_axes}), got {len(items)}",
                       "give [lo, hi] or null for each axis, e.g. [[-90, 90], null]")
    return tuple(None if _is_null(a) else _interval(a, scale) for a in items)


def _is_null(at: _At) -> bool:
    return isinstance(at.node, yaml.ScalarNode) and at.node.tag == _TAG + "null"


def _motors(m: _Map, kind: str, joint: str, defaults: _MotorDefaults,
            scale: float) -> tuple[Motor, ...]:
    """The joint's motors in file order, at most one per axis; `scale` converts angles."""
    at = m.get("motors")
    if at is None:
        return ()
    motors, used = [], {}
    for k, entry in enumerate(_items(at, "motors")):
        motor, axis_at = _motor(entry, kind, f"{joint}.m{k}", defaults, scale)
        if motor.axis in used:
            raise axis_at.error(
                f"axis {motor.axis} already has a motor (motors[{used[motor.axis]}])",
                "use at most one motor per joint axis")
        used[motor.axis] = k
        motors.append(motor)
    return tuple(motors)


def _motor(at: _At, kind: str, default_name: str, defaults: _MotorDefaults,
           scale: float) -> tuple[Motor, _At]:
    """One motor; max_velocity and range are converted by `scale` (angle unit or 1)."""
    m = _Map(at, "a motor").only(_MOTOR_KEYS)
    n_axes = JOINT_AXES[kind]
    axis_at = m.get("axis") or at  # the motor entry itself when the axis is the default
    axis = _integer(axis_at) if "axis" in m else 0
    if not 0 <= axis < n_axes:
        raise axis_at.error(f"axis index {axis} is out of range for a {kind} joint, which has "
                            f"{n_axes} ax{'is' if n_axes == 1 else 'es'}",
                            f"use an axis index from 0 to {n_axes - 1}")
    props = _override(m, defaults, _MOTOR_FIELDS)
    max_velocity = _MOTOR0.max_velocity if props.max_velocity is None \
        else props.max_velocity * scale
    unit = 1.0 if props.mode == "force" else scale     # a force motor's range is in N or N m
    ctrl_range = _MOTOR0.ctrl_range if props.range is None \
        else (props.range[0] * unit, props.range[1] * unit)
    name = _string(m.get("name")) if "name" in m else default_name
    return Motor(name=name, axis=axis, mode=props.mode, gain=props.gain,
                 max_force=props.max_force, max_velocity=max_velocity,
                 ctrl_range=ctrl_range), axis_at


# ---------------------------------------------------------------------------------------------
# Sensors
# ---------------------------------------------------------------------------------------------

_SENSOR_SUBJECT = {kind: ("joint", "axis") if kind.startswith("joint_")
                   else ("body", "reference") if kind.startswith("body_") else ("body",)
                   for kind in SENSOR_KINDS}


def _sensors(at: _At | None, bodies: list[Body], joints: list[Joint]) -> list[Sensor]:
    """All sensors in file order; names must be unique."""
    names, joint_map = {b.name for b in bodies}, {j.name: j for j in joints}
    return _named_list(at, "sensor", lambda entry, i: _sensor(entry, i, names, joint_map))


def _named_list(at: _At | None, noun: str, read: Callable[[_At, int], object]) -> list:
    """The entries of list `at` (the `<noun>s:` key) read by `read(entry, index)`, each with a
    `name` unique in the list."""
    if at is None:
        return []
    items: list = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(_items(at, noun + "s")):
        item = read(entry, i)
        if item.name in seen:
            raise (_Map(entry, f"a {noun}").get("name") or entry).error(
                f"duplicate {noun} name '{item.name}' (also {noun}s[{seen[item.name]}])",
                f"give every {noun} a unique name")
        seen[item.name] = i
        items.append(item)
    return items


def _sensor(at: _At, index: int, bodies: set[str], joints: dict[str, Joint]) -> Sensor:
    """One sensor: its kind, and the body or joint (with axis) it reads."""
    kind = _kind(at, "a sensor", SENSOR_KINDS, "sensor type")
    m = _Map(at, f"a {kind} sensor").only(("name", "type", *_SENSOR_SUBJECT[kind]),
                                          _elsewhere(_SENSOR_SUBJECT, kind, "sensors"))
    name = _string(m.get("name")) if "name" in m else f"sensor{index}"
    if "joint" in _SENSOR_SUBJECT[kind]:
        joint_at = m.require("joint", "name the joint to read with `joint:`")
        joint = _joint_ref(joint_at, joints)
        axis = _sensor_axis(m.get("axis"), joint, joint_at)
        return Sensor(name=name, kind=kind, joint=joint.name, axis=axis)
    body = _body_name(m.require("body", "name the body to read with `body:`"), bodies)
    reference = _body_name(m.get("reference"), bodies) if "reference" in m else None
    return Sensor(name=name, kind=kind, body=body, reference=reference)


def _body_name(at: _At, bodies: set[str]) -> str:
    name = _string(at)
    if name not in bodies:
        raise at.error(f"no body named '{name}'", _did_you_mean(name, bodies))
    return name


def _joint_ref(at: _At, joints: dict[str, Joint]) -> Joint:
    name = _string(at)
    if name not in joints:
        raise at.error(f"no joint named '{name}'", _did_you_mean(name, joints))
    return joints[name]


def _sensor_axis(at: _At | None, joint: Joint, joint_at: _At) -> int:
    """Index of the joint axis read; the joint must have one."""
    n_axes = JOINT_AXES[joint.kind]
    if n_axes == 0:
        raise joint_at.error(f"joint '{joint.name}' is fixed and has no axis to read",
                             "name a joint that moves")
    axis = _integer(at) if at is not None else 0
    if not 0 <= axis < n_axes:
        raise at.error(f"axis index {axis} is out of range for {joint.kind} joint "
                       f"'{joint.name}'", f"use an axis index from 0 to {n_axes - 1}")
    return axis


# ---------------------------------------------------------------------------------------------
# Body-body contact pairs
# ---------------------------------------------------------------------------------------------

def _contact_pairs(at: _At | None, bodies: list[Body], shape_ats: list[list[_At]],
                   joints: list[Joint]) -> tuple[ContactPair, ...]:
    """Shape pairs to test: explicit body pairs, plus equal nonzero groups on bodies that are
    neither excluded nor joined by a joint. In order of (body_a, body_b), then of the shapes.
    Only body pairs listed or sharing a group are looked at, so a file of many bodies is read
    in time proportional to the pairs it makes (not to the square of its bodies)."""
    index = {b.name: i for i, b in enumerate(bodies)}
    explicit, excluded = _contact_lists(at, index)
    joined = {frozenset((index[j.parent], index[j.child])) for j in joints if j.parent}
    grouped: dict[int, set[int]] = {}         # collision group -> bodies with a shape in it
    for i, body in enumerate(bodies):
        for shape in body.shapes:
            if shape.group != 0:
                grouped.setdefault(shape.group, set()).add(i)
    candidates = {tuple(sorted(key)) for key in explicit}
    for members in grouped.values():
        ordered = sorted(members)
        candidates.update((a, b) for k, a in enumerate(ordered) for b in ordered[k + 1:])
    pairs: list[ContactPair] = []
    for a, b in sorted(candidates):
        key = frozenset((a, b))
        if key in explicit:
            chosen = _all_shape_pairs(bodies, a, b)
        elif key in excluded or key in joined:
            continue
        else:
            chosen = _group_shape_pairs(bodies, a, b)
        for sa, sb in chosen:
            _check_supported(bodies, shape_ats, a, sa, b, sb, explicit.get(key))
            pairs.append(ContactPair(a, sa, b, sb))
    return tuple(pairs)


def _contact_lists(at: _At | None, index: dict[str, int]) -> tuple[dict[frozenset, _At],
                                                                    dict[frozenset, _At]]:
    """`contacts.pairs` and `contacts.exclude` as {frozenset(body indices): node}."""
    if at is None:
        return {}, {}
    m = _Map(at, "contacts").only(("pairs", "exclude"))
    lists = {}
    for key in ("pairs", "exclude"):
        lists[key] = {}
        for entry in _items(m.get(key), f"contacts.{key}") if key in m else []:
            lists[key].setdefault(_body_pair(entry, index), entry)
    for key, entry in lists["exclude"].items():
        if key in lists["pairs"]:
            raise entry.error("this body pair is listed in both contacts.pairs and "
                              "contacts.exclude", "keep it in only one of the two lists")
    return lists["pairs"], lists["exclude"]


def _body_pair(at: _At, index: dict[str, int]) -> frozenset:
    """[bodyA, bodyB]: two different existing bodies, as a set of body indices."""
    if not isinstance(at.node, yaml.SequenceNode) or len(at.node.value) != 2:
        raise at.error(f"expected a pair of body names [bodyA, bodyB], got {_describe(at.node)}",
                       "write [bodyA, bodyB]")
    names = [_body_name(a, set(index)) for a in _items(at, "a body pair")]
    if names[0] == names[1]:
        raise at.error(f"a body cannot be paired with itself ('{names[0]}')",
                       "name two different bodies")
    return frozenset(index[n] for n in names)


def _all_shape_pairs(bodies: list[Body], a: int, b: int) -> list[tuple[int, int]]:
    return [(sa, sb) for sa in range(len(bodies[a].shapes)) for sb in range(len(bodies[b].shapes))]


def _group_shape_pairs(bodies: list[Body], a: int, b: int) -> list[tuple[int, int]]:
    return [(sa, sb) for sa, shape_a in enumerate(bodies[a].shapes)
            for sb, shape_b in enumerate(bodies[b].shapes)
            if shape_a.group != 0 and shape_a.group == shape_b.group]


def _check_supported(bodies: list[Body], shape_ats: list[list[_At]], a: int, sa: int, b: int,
                     sb: int, explicit_at: _At | None) -> None:
    """Raise a ModelError naming both shapes when the engine has no test for their kinds."""
    kind_a, kind_b = bodies[a].shapes[sa].kind, bodies[b].shapes[sb].kind
    if pair_key(kind_a, kind_b) in SUPPORTED_PAIRS:
        return
    at_a, at_b = shape_ats[a][sa], shape_ats[b][sb]
    supported = ", ".join("-".join(p) for p in sorted(SUPPORTED_PAIRS))
    shapes = (f"{at_a.path} ({kind_a}, body '{bodies[a].name}') and {at_b.path} "
              f"({kind_b}, body '{bodies[b].name}')")
    if explicit_at is not None:
        raise explicit_at.error(
            f"{kind_a}-{kind_b} contact is not supported, but this pair makes {shapes} collide; "
            f"supported body-body pairs: {supported}",
            "remove the pair, or change one of the shapes to a supported type")
    raise at_b.error(
        f"{kind_a}-{kind_b} contact is not supported, but {shapes} share collision group "
        f"{bodies[a].shapes[sa].group}; supported body-body pairs: {supported}",
        "give one of the shapes another group (0 = no body-body contact), list the two bodies "
        "under contacts.exclude, or change a shape to a supported type")


# ---------------------------------------------------------------------------------------------
# Cameras
# ---------------------------------------------------------------------------------------------

_CAMERA_KEYS = ("name", "body", "pos", "look_at", "up", "quat", "euler", "fov", "width",
                "height", "background", "softness", "light", "ambient", "near", "far")
_CAMERA0 = Camera(name="")


def _cameras(at: _At | None, bodies: list[Body], ang: float) -> list[Camera]:
    """All cameras in file order; names must be unique."""
    names = {b.name for b in bodies}
    return _named_list(at, "camera", lambda entry, i: _camera(entry, i, names, ang))


def _camera(at: _At, index: int, bodies: set[str], ang: float) -> Camera:
    """One pinhole camera: where it is, where it looks, its image and its light."""
    m = _Map(at, "a camera").only(_CAMERA_KEYS)
    name = _string(m.get("name")) if "name" in m else f"camera{index}"
    body = _body_name(m.get("body"), bodies) if "body" in m else None
    pos = _vec3(m.get("pos")) if "pos" in m else (0.0, 0.0, 0.0)
    if "look_at" in m:
        for other in ("quat", "euler"):
            if other in m:
                raise m.key_at(other).error(f"both look_at and {other} are given",
                                            "give the orientation once: look_at or quat/euler")
        quat = _look_at(m, pos)
    else:
        if "up" in m:
            raise m.key_at("up").error("`up` only goes with `look_at`",
                                       "add `look_at: [x, y, z]` or remove `up`")
        quat = _orientation(m, ang)
    fov = _CAMERA0.fov
    if "fov" in m:
        fov = _number(m.get("fov")) * ang
        if not 0.0 < fov < math.pi:
            raise m.get("fov").error(f"field of view must be between 0 and 180 degrees, got "
                                     f"{math.degrees(fov):g} degrees",
                                     "give the vertical field of view, e.g. 45")
    light = _CAMERA0.light
    if "light" in m:
        if math.sqrt(sum(c * c for c in _vec3(m.get("light")))) < ZERO_LENGTH:
            raise m.get("light").error("the light direction has zero length",
                                       "give the direction the light travels, e.g. [0, 0, -1]")
        light = _unit_vector(m.get("light"))
    near = _positive(m.get("near"), "m") if "near" in m else _CAMERA0.near
    far = _positive(m.get("far"), "m") if "far" in m else _CAMERA0.far
    if far <= near:
        raise (m.get("far") or m.get("near")).error(
            f"far ({far:g} m) must be beyond near ({near:g} m)", "make far larger than near")
    return Camera(
        name=name, body=body, pos=pos, quat=quat, fov=fov,
        width=_pixels(m.get("width")) if "width" in m else _CAMERA0.width,
        height=_pixels(m.get("height")) if "height" in m else _CAMERA0.height,
        background=_color(m.get("background")) if "background" in m else _CAMERA0.background,
        softness=_non_negative(m.get("softness"), "pixels") if "softness" in m
        else _CAMERA0.softness,
        light=light,
        ambient=_fraction(m.get("ambient")) if "ambient" in m else _CAMERA0.ambient,
        near=near, far=far)


def _pixels(at: _At) -> int:
    return int(_ranged(_positive_int, limits.CAMERA_PIXELS, "an image side of")(at))


def _look_at(m: _Map, pos: Vec3) -> Quat:
    """Orientation of a camera at `pos` looking at `look_at` with `up` (default +z) up in
    the image: camera -z towards the point, camera y in the plane of -z and up."""
    target_at = m.get("look_at")
    forward = [t - p for t, p in zip(_vec3(target_at), pos)]
    norm = math.sqrt(sum(c * c for c in forward))
    if norm < ZERO_LENGTH:
        raise target_at.error("look_at is the camera position itself",
                              "give a point the camera should look at, away from `pos`")
    f = [c / norm for c in forward]
    up = _unit_vector(m.get("up")) if "up" in m else (0.0, 0.0, 1.0)
    right = [f[1] * up[2] - f[2] * up[1], f[2] * up[0] - f[0] * up[2], f[0] * up[1] - f[1] * up[0]]
    rn = math.sqrt(sum(c * c for c in right))
    if rn < 1e-6:
        raise (m.get("up") or target_at).error(
            "the view direction is parallel to `up`, so the image has no up",
            "give `up:` a direction not along the view, e.g. [0, 1, 0] when looking down")
    x = [c / rn for c in right]
    y = [x[1] * f[2] - x[2] * f[1], x[2] * f[0] - x[0] * f[2], x[0] * f[1] - x[1] * f[0]]
    z = [-c for c in f]
    return as_tuple(matrix_quat(((x[0], y[0], z[0]), (x[1], y[1], z[1]), (x[2], y[2], z[2]))))
