"""Values set at dotted key paths of a YAML file (`tdphys sweep --set optimizer.lr=1e-3`).

A key path names mappings by key and lists by index, as the loaders' error messages do:
`optimizer.lr`, `task.starts.seed`, `controller.conv[0].channels`. The value is YAML text
(`0.5`, `[10, 0]`, `true`, `1e-3`), read as the file's own values are. `with_values` returns an
edited copy of a file's node tree; the file's loader then validates it like any file, so a
wrong key or value gets the loader's error naming the key path (experiment.load_experiment).
"""

from __future__ import annotations

import copy
import re

import yaml

from ..errors import ModelError

_STEP = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)")
_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"


def parse_path(path: str) -> list[str | int]:
    """`a.b[0].c` -> ['a', 'b', 0, 'c']; ValueError (with the fix) for anything else."""
    steps: list[str | int] = []
    for part in path.split("."):
        m = _STEP.fullmatch(part)
        if m is None:
            raise ValueError(
                f"'{path}' is not a key path: write keys joined by dots, with "
                "[i] for the i-th item of a list, e.g. optimizer.lr or "
                "controller.conv[0].channels"
            )
        steps.append(m.group(1))
        steps.extend(int(i) for i in re.findall(r"\[(\d+)\]", m.group(2)))
    return steps


def value_node(text: str, where: str, key: str = "") -> yaml.Node:
    """The YAML node of value `text`; `where` and `key` name it in errors."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ModelError(
            where,
            key,
            f"the value '{text}' is not YAML ({problem})",
            "write a number, true/false, text or a list such as [10, 0]",
        ) from None
    if node is None:
        raise ModelError(where, key, "no value given", "write KEY=VALUE, e.g. optimizer.lr=0.5")
    return node


def with_values(root: yaml.Node, values: dict[str, str], source: str) -> yaml.Node:
    """A copy of the node tree `root` (of the file `source`) with each {key path: YAML text}
    of `values` set: an existing key's value is replaced, a missing key is added (with the
    mappings that lead to it), so that the loader judges it. A path that runs through a
    value that is not a mapping or a list, or past a list's end, raises ModelError naming
    the file and the value."""
    root = copy.deepcopy(root)
    for path, text in values.items():
        where = f"{source} (with --set {path}={text})"
        try:
            steps = parse_path(path)
        except ValueError as exc:
            raise ModelError(where, "", str(exc)) from None
        root = _set(root, steps, value_node(text, where, path), where)
    return root


def _set(
    node: yaml.Node | None, steps: list, value: yaml.Node, where: str, done: tuple = ()
) -> yaml.Node:
    """`node` (None: a key the file lacks) with `value` set at `steps` below it (`done`: the
    steps that led to it; `where` names the file and the value in errors)."""
    if not steps:
        return value
    step, rest, here = steps[0], steps[1:], _render(done)
    if isinstance(step, int):
        if node is None:
            raise ModelError(
                where,
                here,
                "the file has no such list",
                f"set the whole list, e.g. --set {here}=[...]",
            )
        if not isinstance(node, yaml.SequenceNode):
            raise ModelError(where, here, "is not a list", f"set {here} itself")
        if step >= len(node.value):
            raise ModelError(
                where,
                here,
                f"the list has {len(node.value)} items",
                f"use an index from 0 to {len(node.value) - 1}",
            )
        node.value[step] = _set(node.value[step], rest, value, where, (*done, step))
        return node
    if done and isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
        node = _mapping(node)  # `key:` or `key: ~`
    if not isinstance(node, yaml.MappingNode):
        raise ModelError(
            where,
            here,
            "is not a mapping" if here else "the file is not a mapping",
            f"set {here} itself" if here else "",
        )
    own = [i for i, (k, _) in enumerate(node.value) if k.tag == _STR and k.value == step]
    if own:
        k, v = node.value[own[-1]]
        node.value[own[-1]] = (k, _set(v, rest, value, where, (*done, step)))
    else:  # a new key, after the mapping's own (it wins over a merged `<<` one too)
        key = yaml.ScalarNode(_STR, step, node.start_mark, node.end_mark)
        child = _mapping(node) if rest and not isinstance(rest[0], int) else None
        node.value.append((key, _set(child, rest, value, where, (*done, step))))
    return node


def _mapping(near: yaml.Node) -> yaml.MappingNode:
    """An empty mapping node, placed (for error messages' line numbers) where `near` is."""
    return yaml.MappingNode(_MAP, [], near.start_mark, near.end_mark, flow_style=False)


def _render(steps: list) -> str:
    """['a', 'b', 0] -> 'a.b[0]'."""
    out = ""
    for s in steps:
        out += f"[{s}]" if isinstance(s, int) else (f".{s}" if out else s)
    return out
