"""A kernel shape that Taichi 1.7.4 differentiates wrongly with tdphys's settings, found in the
source of the kernels on a tape before their backward pass runs.

The shape: one component of a vector or matrix field entry, read with a constant index, in a
branch that is taken at run time:

    for t, b in ti.ndrange(T, B):
        if t % 4 == 0:
            loss[None] += sim.state.omega[t, b, pole][1] ** 2      # or .y, or m[i][0, 1]

With `advanced_optimization=False` (backend.py: it makes reverse-mode compiles 3-5x faster)
the adjoint of that read goes to the wrong bytes of `omega.grad`: finite garbage such as
1e+280 in the neighbouring component, or NaN (measured on cpu, f32 and f64, and on Vulkan,
f32, where it lands on a wrong component; the same read outside any branch, a whole entry
`v = f[i]` read first and then `v[1]`, `ti.select`, and `ti.static` branches all
differentiate exactly; docs/engine-notes.md, pitfall 13). Taichi's
`force_scalarize_matrix` fixes it too but makes compiles much slower, so tdphys's own kernels
never use the shape (tests/test_kernel_rules.py checks every one) and `Simulation.tape()`
refuses a user's kernel that does, naming the file, the line and the fix, instead of
returning a silently wrong gradient.

What is checked: the source of each kernel launched on the tape and, through calls it makes
inside run-time branches, of the Taichi functions those calls name (plain names and
`module.function`; a function reached through an object attribute is not followed). tdphys's
own kernels and functions are skipped: the test reads them all, once, instead of every
process reading them at its first taped rollout.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import dataclass

from .errors import TdphysError

COMPONENT_ATTRS = ("x", "y", "z", "w")
_OWN = __name__.split(".")[0] + "."  # "tdphys.": not read at run time (it costs every process)


@dataclass(frozen=True)
class Finding:
    """One risky read: where it is, its source text and that of the entry it indexes."""

    file: str
    line: int
    function: str
    code: str
    entry: str


class UnsafeKernelError(TdphysError, RuntimeError):
    """A kernel on the tape reads a field entry's component inside a run-time branch."""

    def __init__(self, findings: list[Finding]):
        self.findings = findings
        first = findings[0]
        lines = "\n".join(f"    {f.file}:{f.line} in {f.function}: {f.code}" for f in findings[:5])
        super().__init__(
            "this kernel's gradient would be wrong: Taichi 1.7.4 (with tdphys's compile "
            "settings) differentiates a constant-index component of a vector/matrix field "
            "entry read inside a run-time `if` into the wrong memory (finite garbage or NaN):\n"
            f"{lines}\n  fix: read the whole entry into a local first and index the local "
            f"(`v = {first.entry}`, then `{first.code.replace(first.entry, 'v', 1)}`), or read "
            "it outside the branch and pick with ti.select (docs/engine-notes.md, pitfall 13)"
        )


def _is_constant_index(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant):
        return True
    return isinstance(node, ast.Tuple) and all(_is_constant_index(e) for e in node.elts)


def _component_read(node: ast.AST) -> bool:
    """X[...][c] or X[...].x (c constant): a component of an indexed entry."""
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
        return isinstance(node.value, ast.Subscript) and _is_constant_index(node.slice)
    return (
        isinstance(node, ast.Attribute)
        and node.attr in COMPONENT_ATTRS
        and isinstance(node.ctx, ast.Load)
        and isinstance(node.value, ast.Subscript)
    )


def _is_static_branch(node: ast.AST) -> bool:
    return "ti.static" in ast.unparse(node.test)


def _branch_parts(node: ast.AST):
    """The children of a run-time if (or conditional expression) that it may skip."""
    if isinstance(node, (ast.If, ast.IfExp)) and not _is_static_branch(node):
        return [c for c in ast.iter_child_nodes(node) if c is not node.test]
    return []


def _source_tree(fn):
    """(file, first line, parsed function) of a Python function, or None without source."""
    try:
        lines, first = inspect.getsourcelines(fn)
        file = inspect.getsourcefile(fn) or "<unknown>"
    except (OSError, TypeError):
        return None
    try:
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except SyntaxError:  # e.g. a lambda's line: nothing this check can read
        return None
    return file, first, tree


def _python_function(obj):
    """The user's Python function behind a Taichi kernel or func (decorated, or the Kernel
    and Func objects Taichi keeps), else None."""
    for _ in range(4):
        if inspect.isfunction(obj):
            return inspect.unwrap(obj)  # past Taichi's functools.wraps wrappers
        obj = getattr(obj, "func", None)
    return None


def _resolve(call: ast.Call, fn):
    """The Taichi func a call names, through fn's globals and closure, else None."""
    target = call.func
    scope = dict(getattr(fn, "__globals__", {}))
    try:
        scope.update(inspect.getclosurevars(fn).nonlocals)
    except (TypeError, ValueError):
        pass
    obj = None
    if isinstance(target, ast.Name):
        obj = scope.get(target.id)
    elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
        obj = getattr(scope.get(target.value.id), target.attr, None)
    if obj is not None and getattr(obj, "_is_taichi_function", False):
        return _python_function(obj)
    return None


def findings(fn, _seen=None, _in_branch=False) -> list[Finding]:
    """Component reads in run-time branches in Taichi function/kernel `fn` (a Python
    function or a Taichi kernel/func object) and in the Taichi funcs it calls there."""
    fn = _python_function(fn)
    seen = set() if _seen is None else _seen
    if fn is None or (fn, _in_branch) in seen or fn.__module__.startswith(_OWN):
        return []  # tdphys's own code never has the shape (tests/test_kernel_rules.py)
    seen.add((fn, _in_branch))
    parsed = _source_tree(fn)
    if parsed is None:
        return []
    file, first, tree = parsed
    out: list[Finding] = []

    def visit(node, in_branch):
        if in_branch and _component_read(node):
            out.append(
                Finding(
                    file,
                    first + node.lineno - 1,
                    fn.__name__,
                    ast.unparse(node),
                    ast.unparse(node.value),
                )
            )
        if in_branch and isinstance(node, ast.Call):
            callee = _resolve(node, fn)
            if callee is not None:
                out.extend(findings(callee, seen, True))
        skipped = _branch_parts(node)
        for child in ast.iter_child_nodes(node):
            visit(child, in_branch or any(child is s for s in skipped))

    visit(tree, _in_branch)
    return out


_checked: dict = {}


def check_tape(tape) -> None:
    """Raise UnsafeKernelError if a kernel recorded on `tape` (a ti.ad.Tape) has the shape
    above; each kernel's source is read once per process."""
    bad: list[Finding] = []
    for kernel, _args in tape.calls:  # one entry per launch: look each kernel up once
        found = _checked.get(kernel)
        if found is None:
            found = _checked[kernel] = findings(kernel)
        bad.extend(f for f in found if f not in bad)
    if bad:
        raise UnsafeKernelError(bad)
