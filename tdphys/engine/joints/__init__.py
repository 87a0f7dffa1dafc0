"""The joint kinds, one module each, and the dispatch the engine calls.

Each kind's module holds all of its behaviour:
    NAME        its name in robot files (schema.JOINT_KINDS)
    N_AXES      motor / limit / sensor axes (schema.JOINT_AXES)
    ROWS        its structural rows in solve order: ((common.RowKind, count), ...)
    CHILD_AXES  the axes carried by the child, the others turn with the parent
                (schema.JOINT_CHILD_AXES)
    references(axes) -> a reference vector per axis (world, initial pose; numpy), from which
                the layout stores the frames its coordinates are measured in (perp_p, perp_c)
    coordinate  (when N_AXES > 0) a ti.func (s, w, j, axis, qp, qc, rp, rc, d) ->
                (q [rad or m], ja, jb): the joint's position along an axis, 0 at the initial
                pose, and the Jacobian of its rate (common.py for the frames)
and defines the RowKind of each row only it uses; the point and angular-lock rows several
kinds share live in common.py.

KINDS lists the kinds: a kind's integer code (Layout.joint_kind) is its index there. Row
kinds are numbered the shared ones first, then each kind's own in KINDS order (Layout.row_kind
0 .. N_ROW_KINDS - 1; layout numbers the other rows after them).
"""

import taichi as ti

from ...model.schema import JOINT_AXES, JOINT_CHILD_AXES, JOINT_KINDS
from . import ball, common, fixed, gimbal, hinge, slider, universal

KINDS = (ball, hinge, fixed, slider, universal, gimbal)
CODES = {kind.NAME: code for code, kind in enumerate(KINDS)}
ROW_KINDS = tuple(
    dict.fromkeys(
        (common.POINT, common.ANGULAR_LOCK) + tuple(rk for kind in KINDS for rk, _ in kind.ROWS)
    )
)
N_ROW_KINDS = len(ROW_KINDS)
ROW_CODES = {rk: code for code, rk in enumerate(ROW_KINDS)}

if set(CODES) != set(JOINT_KINDS) or any(
    (JOINT_AXES[k.NAME], JOINT_CHILD_AXES.get(k.NAME, ())) != (k.N_AXES, k.CHILD_AXES)
    for k in KINDS
):
    raise RuntimeError(
        "tdphys/engine/joints/__init__.py KINDS and tdphys/model/schema.py "
        "JOINT_KINDS / JOINT_AXES / JOINT_CHILD_AXES disagree: list every kind "
        "in both, with its number of axes and those the child carries"
    )


def structural_rows(name: str) -> list:
    """[(row kind code, count), ...] of a joint of kind `name`, in solve order."""
    return [(ROW_CODES[rk], count) for rk, count in KINDS[CODES[name]].ROWS]


def references(name: str, axes: list) -> list:
    """A reference vector per axis of a joint of kind `name` with world `axes` (numpy)."""
    return KINDS[CODES[name]].references(axes)


def pins_anchor(code: int) -> bool:
    """Whether a joint of kind `code` keeps its two anchor points together."""
    return any(rk is common.POINT for rk, _ in KINDS[code].ROWS)


@ti.func
def row(s, st: ti.template(), i, w, r, code: ti.template()):
    """(ja, jb, C) of structural row r, of row kind `code` (compile time), in the poses st
    at index i (sim.scratch.sub at a substep, or sim.scratch.drift); common.py."""
    j, k = s.model.row_idx[r], s.model.row_sub[r]
    qp, qc, rp, rc, d = common.joint_frames(s, st, i, w, j)
    return ti.static(ROW_KINDS[code].function)(s, w, j, k, qp, qc, rp, rc, d)


@ti.func
def _kind_coordinate(s, w, j, axis, qp, qc, rp, rc, d):
    """The coordinate function of joint j's kind at the frames given (common.py). Only the
    kinds with axes the robot has are compiled (s.coordinate_kinds): every other kind's
    branch made each row's code, forward and adjoint, slower."""
    q, ja, jb = 0.0, ti.Vector([0.0] * 6), ti.Vector([0.0] * 6)
    if ti.static(len(s.coordinate_kinds) == 1):  # no branch: reverse mode keeps a stack for one
        q, ja, jb = ti.static(KINDS[s.coordinate_kinds[0]].coordinate)(
            s, w, j, axis, qp, qc, rp, rc, d
        )
    else:
        kind = s.model.joint_kind[j]
        for code in ti.static(s.coordinate_kinds):
            if kind == code:
                q, ja, jb = ti.static(KINDS[code].coordinate)(s, w, j, axis, qp, qc, rp, rc, d)
    return q, ja, jb


@ti.func
def coordinate(s, st: ti.template(), i, w, j, axis):
    """Position q of joint j along motor/limit axis `axis` ([rad], or [m] for a linear axis;
    0 at the initial pose) in the poses st at index i, and the Jacobian (ja, jb) of its
    rate."""
    qp, qc, rp, rc, d = common.joint_frames(s, st, i, w, j)
    return _kind_coordinate(s, w, j, axis, qp, qc, rp, rc, d)


@ti.func
def coordinate_ahead(s, st: ti.template(), i, w, j, axis, h):
    """coordinate() a time h [s] later, the bodies moved along their velocities in the poses
    st at index i (first order): with it, (J_ahead - J) v / h is the rate at which the
    Jacobian turns under the motion, the term a rate held along a turning axis needs."""
    qp, qc, rp, rc, d = common.joint_frames_ahead(s, st, i, w, j, h)
    return _kind_coordinate(s, w, j, axis, qp, qc, rp, rc, d)
