"""The package's import graph: data flows one way (files -> model -> engine -> sensors ->
controllers and tasks -> optimisers -> tools), so every import points down the layers below
or stays in its own layer, and no chain of imports comes back to where it started.

Every `import` and `from ... import` anywhere in a module counts, inside functions too (an
import deferred to run time is still a dependency). The layers, lowest first, are LAYERS; a
new module must be placed in one.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tdphys"

# (layer, the modules and packages in it), lowest first; a module belongs to the layer of the
# longest name that is it or a package holding it
LAYERS = [
    (
        "base",
        [
            "tdphys.errors",
            "tdphys.argtypes",
            "tdphys.paths",
            "tdphys.datafiles",
            "tdphys.rotations",
            "tdphys.video",
            "tdphys.memory",
            "tdphys.kernel_rules",
            "tdphys.backend",
        ],
    ),
    ("model", ["tdphys.model"]),
    ("engine", ["tdphys.engine", "tdphys.switches", "tdphys.invariants", "tdphys.gradcheck"]),
    ("vision", ["tdphys.vision"]),
    ("viewer", ["tdphys.viewer"]),
    ("control/tasks", ["tdphys.control", "tdphys.tasks"]),
    ("optim", ["tdphys.optim"]),
    ("sweep/studies", ["tdphys.sweep", "tdphys.studies"]),
    ("cli", ["tdphys.cli", "tdphys"]),  # `tdphys` itself: the package's front (init, load)
]


def _modules() -> dict[str, Path]:
    """{dotted module name: file} of every module under tdphys/ (a package by its
    __init__.py)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict) -> list[tuple[int, str]]:
    """(line, imported tdphys module) of every import in module `name`; `from P import x`
    counts as P.x when that is a module, else P."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target not in modules and "." in target:  # an attribute of a module
                target = target.rpartition(".")[0]
            if target in modules and target != name:
                found.append((node.lineno, target))
    return found


def _layer(name: str) -> int | None:
    """The index in LAYERS of module `name` (None: in no layer)."""
    best, index = -1, None
    for i, (_, members) in enumerate(LAYERS):
        for member in members:
            if (name == member or name.startswith(member + ".")) and len(member) > best:
                best, index = len(member), i
    return index


def _graph():
    modules = _modules()
    return modules, {name: _imports(name, path, modules) for name, path in modules.items()}


def _where(modules: dict, name: str, line: int) -> str:
    return f"{modules[name].relative_to(PACKAGE.parent)}:{line}"


def test_every_module_has_a_layer():
    modules, _ = _graph()
    unplaced = [name for name in modules if _layer(name) is None]
    assert not unplaced, (
        "modules in no layer of tests/test_import_graph.py LAYERS (add each "
        f"where it belongs): {', '.join(unplaced)}"
    )


def test_no_module_imports_a_higher_layer():
    modules, graph = _graph()
    upward = []
    for name, imports in graph.items():
        mine = _layer(name)
        for line, target in imports:
            theirs = _layer(target)
            if mine is not None and theirs is not None and theirs > mine:
                upward.append(
                    f"{_where(modules, name, line)}: {name} ({LAYERS[mine][0]}) "
                    f"imports {target} ({LAYERS[theirs][0]}), a higher layer"
                )
    assert not upward, (
        "imports must point down the layers (move the shared piece down, or "
        "pass it in):\n  " + "\n  ".join(upward)
    )


def test_no_import_cycles():
    modules, graph = _graph()
    edges = {name: sorted({t for _, t in imports}) for name, imports in graph.items()}
    state, stack, cycles = {}, [], []

    def visit(name):
        state[name] = "open"
        stack.append(name)
        for target in edges[name]:
            if state.get(target) == "open":
                cycles.append(stack[stack.index(target) :] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[name] = "done"

    for name in sorted(edges):
        if name not in state:
            visit(name)
    lines = []
    for cycle in cycles:
        steps = []
        for a, b in zip(cycle, cycle[1:]):
            line = next(ln for ln, t in graph[a] if t == b)
            steps.append(f"{_where(modules, a, line)} imports {b}")
        lines.append(" -> ".join(steps))
    assert not cycles, (
        "import cycles (break each by moving the shared piece into a module "
        "both can import):\n  " + "\n  ".join(lines)
    )


def test_the_checks_see_the_imports_they_judge():
    """The graph reads relative and absolute imports, also those inside functions."""
    modules, graph = _graph()
    loader = {t for _, t in graph["tdphys.model.loader"]}
    assert {"tdphys.model.yamlread", "tdphys.errors", "tdphys.rotations"} <= loader
    runner = {t for _, t in graph["tdphys.optim.runner"]}
    assert {"tdphys.backend", "tdphys.optim.adam_loop", "tdphys.model.robot_file"} <= runner
    outputs = {t for _, t in graph["tdphys.optim.outputs"]}
    assert "tdphys.viewer" in outputs  # imported inside render()
