"""Read MJCF (MuJoCo XML) and URDF robots into validated `Robot` objects.

MuJoCo's own compiler (the optional `mujoco` package, `pip install 'tdphys[mjcf]'`) reads the
file: it resolves defaults, `include`, `fromto`, angle units, inertia from geoms and URDF. This
module then maps the compiled model at its reference configuration (qpos0) onto tdphys's model,
as docs/mjcf.md tabulates; everything tdphys cannot represent is refused by name, with the
file's line where MuJoCo's spec gives it, all problems at once in one ModelError.

Public API: `load_mjcf(path, approximate=False, report=None) -> Robot`. With `approximate`,
mesh geoms become the box or capsule fitted to their vertices and `report(text)` is called once
per approximation made.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..rotations import as_tuple, matrix_quat
from .loader import _volume as shape_volume
from .schema import (
    GIMBAL_MIDDLE_MAX,
    SUPPORTED_PAIRS,
    Body,
    ContactPair,
    Ground,
    Joint,
    Motor,
    Robot,
    Sensor,
    Shape,
    Solver,
    pair_key,
)

__all__ = ["MJCF_SUFFIXES", "load_mjcf", "mujoco_missing_fix"]

MJCF_SUFFIXES = (".xml", ".urdf", ".mjcf")
_FREE, _BALL, _SLIDE, _HINGE = 0, 1, 2, 3  # mujoco.mjtJoint
# A body with several joints whose first ones are sliders (a planar or Cartesian root) becomes
# a chain of bodies, one per joint; each link before the last carries this share of the body's
# mass (taken from the body, so the total stays), since a tdphys body needs mass.
LINK_MASS_FRACTION = 1e-4
PERPENDICULAR_TOL = 1e-6  # |cos| of two hinges read as a universal joint
SAME_POINT_TOL = 1e-9  # [m] two joint anchors read as one point
_TINY_RADIUS = 0.01  # [m] the non-colliding sphere given to a body without geoms
FLOOR_TOL = 1e-12  # [m] height, and 1 - cos of the tilt, of a plane read as the ground z = 0


def mujoco_missing_fix() -> str:
    return (
        "install MuJoCo's compiler: pip install 'tdphys[mjcf]' (or pip install mujoco), "
        "or give a robot YAML file"
    )


class _Problems:
    """Everything refused, collected so the error lists it all at once."""

    def __init__(self, path: str):
        self.path, self.items = path, []

    def add(self, element, what: str, fix: str) -> None:
        self.items.append((_where(element), what, fix))

    def raise_if_any(self) -> None:
        if not self.items:
            return

        def line(item):  # in file order; model-wide problems first
            words = item[0].split()
            return int(words[1]) if words[0] == "line" and words[1].isdigit() else 0

        lines = [
            f"  {where}: {what}\n      fix: {fix}"
            for where, what, fix in sorted(self.items, key=line)
        ]
        raise ModelError(
            self.path,
            "",
            f"{len(self.items)} thing(s) in this file tdphys cannot "
            "represent (docs/mjcf.md lists what maps and what is refused):\n" + "\n".join(lines),
            "change or remove them in the file (or pass --approximate where it "
            "says so), then load it again",
        )


def _label(element) -> str:
    """'<geom name="foot"> (line 9)': an element named inside a sentence."""
    where = _where(element)
    info = getattr(element, "info", "") or ""
    return f"{where.removeprefix(info).strip()} ({info})" if info else where


def _where(element) -> str:
    """'line 22 <joint name="rootx">' from a spec element (MuJoCo's spec keeps the line)."""
    if element is None:
        return "the model"
    kind = type(element).__name__.removeprefix("Mjs").lower()
    info = getattr(element, "info", "") or ""
    name = getattr(element, "name", "") or ""
    label = f'<{kind} name="{name}">' if name else f"<{kind}> (unnamed)"
    return f"{info} {label}" if info else label


# ------------------------------------------------------------------------------ entry point
def load_mjcf(path, approximate: bool = False, report=None) -> Robot:
    """Compile the MJCF or URDF file at `path` with MuJoCo and map it onto tdphys's model."""
    path = str(path)
    try:
        import mujoco
    except ImportError:
        raise ModelError(
            path,
            "",
            "reading MJCF or URDF needs the `mujoco` package, which is not installed",
            mujoco_missing_fix(),
        ) from None
    if not Path(path).is_file():
        raise ModelError(
            path, "", "the robot file does not exist or is not a file", "check the path"
        )
    try:
        spec = mujoco.MjSpec.from_file(path)
        with warnings.catch_warnings():  # MuJoCo's notes on deprecated attributes
            warnings.simplefilter("ignore")
            model = spec.compile()
    except Exception as exc:  # noqa: BLE001 (MuJoCo's parse and compile errors)
        raise ModelError(
            path,
            "",
            f"MuJoCo's compiler refuses the file: {exc}",
            "fix the file so that MuJoCo loads it (the message names the element and line)",
        ) from None
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    return _Importer(mujoco, spec, model, data, path, approximate, report or print).robot()


@dataclass
class _Part:
    """A tdphys body in the making: the MuJoCo bodies welded into it (the first one gives its
    frame), or a link of a several-joint body."""

    name: str
    frame_body: int  # MuJoCo body whose world pose is this body's frame
    members: list = field(default_factory=list)  # MuJoCo bodies whose mass it carries
    link_of: int = -1  # the MuJoCo body this is a link for, or -1
    shapes: list = field(default_factory=list)  # (Shape, geom id)


class _Importer:
    def __init__(self, mujoco, spec, model, data, path, approximate, report):
        self.mj, self.spec, self.m, self.d = mujoco, spec, model, data
        self.path, self.approximate, self.report = path, approximate, report
        self.problems = _Problems(path)
        self.refused: set[str] = set()  # joints of refused bodies (not reported again)

    # helpers --------------------------------------------------------------------------
    def name(self, kind, i: int) -> str:
        return self.mj.mj_id2name(self.m, kind, i) or ""

    def body_name(self, b: int) -> str:
        return self.name(self.mj.mjtObj.mjOBJ_BODY, b) or f"body{b}"

    def joint_name(self, j: int) -> str:
        return self.name(self.mj.mjtObj.mjOBJ_JOINT, j) or f"joint{j}"

    def frame(self, b: int):
        """(world position [m], rotation matrix) of MuJoCo body b at qpos0."""
        return self.d.xpos[b].copy(), self.d.xmat[b].reshape(3, 3).copy()

    # the whole model ------------------------------------------------------------------
    def robot(self) -> Robot:
        m = self.m
        self._check_model()
        softness = [self._softness(g) for g in range(m.ngeom)]
        known = [k for k in softness if k is not None]
        self.softness_default = max(known, key=known.count) if known else None
        weld = m.body_weldid
        parts: dict[int, _Part] = {}  # MuJoCo weld body -> its final tdphys body
        order: list[_Part] = []
        joints: list[tuple[int, Joint]] = []  # (sort key, joint)
        for b in range(1, m.nbody):
            if weld[b] == 0:  # fixed to the world: it never moves; its geoms: _world
                continue
            if weld[b] != b:
                if weld[b] in parts:  # else its body was refused
                    parts[weld[b]].members.append(b)
                continue
            made = self._jointed_body(b, parts, order, joints)
            if made is not None:
                parts[b] = made
        for g in range(m.ngeom):
            if weld[m.geom_bodyid[g]] in parts:
                self._shape(g, parts[weld[m.geom_bodyid[g]]])
        links = {}
        for p in order:
            if p.link_of >= 0:
                links[p.link_of] = links.get(p.link_of, 0) + 1
        bodies = [self._body(p, links.get(p.frame_body, 0) if p.link_of < 0 else 0) for p in order]
        joints = [j for _, j in sorted(joints, key=lambda kj: kj[0])]
        joints = self._motors(joints)
        sensors = self._sensors(joints)
        pairs = self._contact_pairs(order, bodies)
        ground, world_shapes = self._world(order)
        self.problems.raise_if_any()
        name = self.spec.modelname or Path(self.path).stem
        return Robot(
            name=name,
            source=self.path,
            bodies=tuple(bodies),
            joints=tuple(joints),
            sensors=tuple(sensors),
            solver=self._solver(),
            ground=ground,
            contact_pairs=pairs,
            world_shapes=world_shapes,
            friction_combine="max",
        )

    def _check_model(self) -> None:
        """Refuse the model-wide features tdphys has no counterpart for."""
        m, spec, mj = self.m, self.spec, self.mj
        for t in range(m.ntendon):
            passive = (
                m.tendon_limited[t]
                or m.tendon_stiffness[t]
                or m.tendon_damping[t]
                or m.tendon_frictionloss[t]
            )
            used = any(
                m.actuator_trntype[a] == mj.mjtTrn.mjTRN_TENDON and m.actuator_trnid[a, 0] == t
                for a in range(m.nu)
            )
            if passive or used:
                self.problems.add(
                    spec.tendons[t],
                    "tendons (with a limit, stiffness, damping, "
                    "friction or an actuator) are not supported",
                    "remove the tendon, or express it with joints and motors",
                )
        for e in spec.equalities:
            self.problems.add(
                e, "equality constraints are not supported", "remove it (tdphys joints form a tree)"
            )
        for p in spec.pairs:
            self.problems.add(
                p,
                "explicit contact pairs (<contact><pair>) are not supported",
                "remove it; contacts follow contype/conaffinity and <exclude>",
            )
        for f in spec.flexes:
            self.problems.add(f, "flexes (deformable bodies) are not supported", "remove it")
        if m.opt.disableflags & ~int(mj.mjtDisableBit.mjDSBL_FILTERPARENT) or m.opt.enableflags:
            self.problems.add(
                None,
                f"<option><flag> settings (disableflags "
                f"{m.opt.disableflags}, enableflags {m.opt.enableflags}) are not "
                "supported",
                "remove the <flag> element",
            )
        if np.any(m.opt.wind) or m.opt.density or m.opt.viscosity:
            self.problems.add(
                None,
                "fluid forces (<option> wind, density or viscosity) are not supported",
                "remove them from <option>",
            )
        for b in spec.bodies[1:]:
            if b.mocap:
                self.problems.add(b, "mocap bodies are not supported", "remove mocap")
            if b.gravcomp:
                self.problems.add(
                    b, "gravity compensation (gravcomp) is not supported", "remove gravcomp"
                )

    # bodies ---------------------------------------------------------------------------

    def _jointed_body(self, b, parts, order, joints) -> _Part | None:
        """The tdphys bodies and joints of MuJoCo body b, which has joints: one body (free,
        one joint, or two perpendicular hinges at one point: universal), or a chain of links
        when its first joints are sliders."""
        m = self.m
        first, count = m.body_jntadr[b], m.body_jntnum[b]
        ids = list(range(first, first + count))
        kinds = [int(m.jnt_type[j]) for j in ids]
        name = self.body_name(b)
        parent = self._parent_part(b, parts)
        self.refused.update(self.joint_name(j) for j in ids)  # until the body is made
        if kinds == [_FREE]:
            part = _Part(name, b, [b])
            order.append(part)
            self.refused.difference_update(self.joint_name(j) for j in ids)
            return part
        if _FREE in kinds:
            self.problems.add(
                self.spec.bodies[b],
                "a free joint together with other joints in one body",
                "give the body only its free joint",
            )
            return None
        if parent is None and m.body_weldid[m.body_parentid[b]] != 0:
            return None  # its parent was refused
        self.refused.difference_update(self.joint_name(j) for j in ids)
        if len(ids) in (2, 3) and self._perpendicular_hinges(ids):
            kind = "universal" if len(ids) == 2 else "gimbal"
            part = _Part(name, b, [b])
            order.append(part)
            joints.append((ids[0], self._joint(ids, kind, parent, name)))
            return part
        if len(ids) > 1 and any(k != _SLIDE for k in kinds[:-1]):
            names = ", ".join(self.joint_name(j) for j in ids)
            self.refused.update(self.joint_name(j) for j in ids)
            self.problems.add(
                self.spec.bodies[b],
                f"{len(ids)} joints in one body ({names}) "
                "that are not sliders followed by one joint, nor two or three "
                "mutually perpendicular hinges through one point",
                "split the body so that each has one joint (or two or three "
                "perpendicular hinges through one point, read as a universal or gimbal joint)",
            )
            return None
        for k, j in enumerate(ids):
            last = k == len(ids) - 1
            kind = {_HINGE: "hinge", _SLIDE: "slider", _BALL: "ball"}[kinds[k]]
            part = _Part(
                name if last else f"{name}.{self.joint_name(j)}",
                b,
                [b] if last else [],
                link_of=-1 if last else b,
            )
            order.append(part)
            joints.append((j, self._joint([j], kind, parent, part.name)))
            parent = part.name
        return part

    def _parent_part(self, b, parts) -> str | None:
        """The tdphys body MuJoCo body b hangs from, None for the world."""
        weld = self.m.body_weldid[self.m.body_parentid[b]]
        if weld == 0:
            return None
        return parts[weld].name if weld in parts else None

    def _perpendicular_hinges(self, ids) -> bool:
        """Whether joints `ids` are hinges through one point about mutually perpendicular
        axes (two: a universal joint, three: a gimbal)."""
        m, d = self.m, self.d
        if any(int(m.jnt_type[j]) != _HINGE for j in ids):
            return False
        same = all(np.linalg.norm(d.xanchor[j] - d.xanchor[ids[0]]) < SAME_POINT_TOL for j in ids)
        return same and all(
            abs(float(np.dot(d.xaxis[i], d.xaxis[k]))) <= PERPENDICULAR_TOL
            for n, i in enumerate(ids)
            for k in ids[n + 1 :]
        )

    def _joint(self, ids, kind, parent, child) -> Joint:
        """The tdphys joint of MuJoCo joints `ids` (one; two hinges for a universal, three
        for a gimbal)."""
        m, d = self.m, self.d
        j0 = ids[0]
        axes = tuple(tuple(float(c) for c in d.xaxis[j]) for j in ids)
        if kind == "ball":
            axes = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
        limits = []
        for j in ids:
            if not m.jnt_limited[j]:
                limits.append(None)
                continue
            if kind == "ball":
                self.problems.add(
                    self.spec.joints[j],
                    "limits on a ball joint are not supported",
                    'remove the range (limited="false")',
                )
                limits.append(None)
                continue
            ref = float(m.qpos0[m.jnt_qposadr[j]])  # the joint's position at the initial pose
            lo, hi = (float(v) - ref for v in m.jnt_range[j])
            if not lo < hi:
                self.problems.add(
                    self.spec.joints[j], f"range [{lo:g}, {hi:g}] is empty", "give range lo < hi"
                )
                lo, hi = -1.0, 1.0
            limits.append((lo, hi))
        if kind == "ball":
            limits = [None, None, None]
        middle = limits[1] if kind == "gimbal" else None
        if kind == "gimbal" and (middle is None or max(map(abs, middle)) > GIMBAL_MIDDLE_MAX):
            self.problems.add(
                self.spec.joints[ids[1]],
                "the middle of three hinges through one point (a gimbal) needs a range within "
                f"+-{math.degrees(GIMBAL_MIDDLE_MAX):.0f} deg: at 90 deg the other two line up",
                "give it such a range, or split the body",
            )
        passive = self._passive(ids)
        return Joint(
            name=self.joint_name(j0)
            if len(ids) == 1
            else "+".join(self.joint_name(j) for j in ids),
            kind=kind,
            parent=parent,
            child=child,
            anchor=tuple(float(c) for c in d.xanchor[j0]),
            axes=axes,
            limits=tuple(limits),
            **passive,
        )

    def _passive(self, ids) -> dict:
        """damping, armature, stiffness, spring_ref, friction_loss of joints `ids`, one value
        per tdphys axis (a ball joint: its three dofs')."""
        m = self.m
        values = {key: [] for key in ("damping", "armature", "stiffness", "spring_ref")}
        values["friction_loss"] = []
        for j in ids:
            dof = m.jnt_dofadr[j]
            scalar = int(m.jnt_type[j]) in (_SLIDE, _HINGE)
            ref = float(m.qpos0[m.jnt_qposadr[j]]) if scalar else 0.0
            spring = float(m.qpos_spring[m.jnt_qposadr[j]]) - ref if scalar else 0.0
            if int(m.jnt_type[j]) == _BALL and m.jnt_stiffness[j]:
                self.problems.add(
                    self.spec.joints[j],
                    "stiffness on a ball joint is not supported",
                    "remove stiffness",
                )
            dofs = range(dof, dof + (1 if scalar else 3))
            values["damping"] += [float(m.dof_damping[k]) for k in dofs]
            values["armature"] += [float(m.dof_armature[k]) for k in dofs]
            values["stiffness"] += [float(m.jnt_stiffness[j])] * len(dofs)
            values["spring_ref"] += [spring] * len(dofs)
            values["friction_loss"] += [float(m.dof_frictionloss[k]) for k in dofs]
        return {key: tuple(v) for key, v in values.items()}

    def _body(self, part: _Part, links: int) -> Body:
        """Pose at qpos0 and mass properties: the members' (MuJoCo's compiled masses, centres
        of mass and inertias) combined in the body's frame; a link of a several-joint body
        takes LINK_MASS_FRACTION of the body's mass (`links` of them) and its inertia."""
        pos, rot = self.frame(part.frame_body)
        mass, com, inertia = self._mass_properties(
            [part.link_of] if part.link_of >= 0 else part.members, pos, rot
        )
        share = LINK_MASS_FRACTION * mass
        if part.link_of >= 0:
            mass, com = share, np.zeros(3)
        else:
            mass -= links * LINK_MASS_FRACTION * mass
        if mass <= 0:
            self.problems.add(
                self.spec.bodies[part.frame_body],
                "this body (with the bodies welded to it) has no mass",
                "give it a geom with mass, or an <inertial>",
            )
            mass, inertia = 1.0, np.eye(3)
        shapes = [s for s, _ in part.shapes] or [
            Shape("sphere", radius=_TINY_RADIUS, pos=tuple(com), ground=False)
        ]
        volumes = [_volume(s) for s in shapes]
        return Body(
            name=part.name,
            shapes=tuple(replace(s, mass=mass * v / sum(volumes)) for s, v in zip(shapes, volumes)),
            pos=tuple(float(c) for c in pos),
            quat=as_tuple(matrix_quat(rot)),
            inertia=(float(inertia[0, 0]), float(inertia[1, 1]), float(inertia[2, 2])),
            inertia_products=(float(inertia[0, 1]), float(inertia[0, 2]), float(inertia[1, 2])),
            com=tuple(float(c) for c in com),
        )

    def _mass_properties(self, members, pos, rot):
        """(mass [kg], centre of mass [m] and inertia tensor [kg m^2] in the frame (pos, rot))
        of MuJoCo bodies `members`."""
        m, d = self.m, self.d
        total = sum(float(m.body_mass[b]) for b in members)
        if total <= 0:
            return 0.0, np.zeros(3), np.eye(3)
        centre = sum(float(m.body_mass[b]) * d.xipos[b] for b in members) / total
        tensor = np.zeros((3, 3))
        for b in members:
            r = d.ximat[b].reshape(3, 3)
            offset = d.xipos[b] - centre
            tensor += r @ np.diag(m.body_inertia[b]) @ r.T + float(m.body_mass[b]) * (
                offset @ offset * np.eye(3) - np.outer(offset, offset)
            )
        return total, rot.T @ (centre - pos), rot.T @ tensor @ rot

    # shapes ---------------------------------------------------------------------------
    def _shape(self, g: int, part: _Part) -> None:
        """Geom g as a shape of `part`, posed in its body frame."""
        element = self.spec.geoms[g]
        pos, rot = self.frame(part.frame_body)
        placed = self._geometry(
            g, rot.T @ (self.d.geom_xpos[g] - pos), rot.T @ self.d.geom_xmat[g].reshape(3, 3)
        )
        if placed is None:
            return
        geometry, centre, grot = placed
        self._contact_params(g, element)
        shape = Shape(
            pos=tuple(float(c) for c in centre),
            quat=as_tuple(matrix_quat(grot)),
            ground=self._touches_floor(g),
            mass=1.0,
            **geometry,
            **self._surface(g),
        )
        part.shapes.append((shape, g))

    def _geometry(self, g: int, centre, grot):
        """(Shape keywords kind and sizes [m], centre [m], rotation matrix) of geom g, whose
        centre and rotation in the frame it is placed in (a body's, or the world) are `centre`
        and `grot`; None, with the geom refused, for a kind tdphys has no shape for."""
        m, mj = self.m, self.mj
        kind = int(m.geom_type[g])
        size = m.geom_size[g]
        if kind == mj.mjtGeom.mjGEOM_SPHERE:
            geometry = {"kind": "sphere", "radius": float(size[0])}
        elif kind in (mj.mjtGeom.mjGEOM_CAPSULE, mj.mjtGeom.mjGEOM_CYLINDER):
            geometry = {
                "kind": "capsule" if kind == mj.mjtGeom.mjGEOM_CAPSULE else "cylinder",
                "radius": float(size[0]),
                "half_length": float(size[1]),
            }
        elif kind == mj.mjtGeom.mjGEOM_BOX:
            geometry = {"kind": "box", "half_extents": tuple(float(c) for c in size)}
        elif kind == mj.mjtGeom.mjGEOM_MESH and self.approximate:
            return self._fitted(g, centre, grot)
        else:
            what = mj.mjtGeom(kind).name.removeprefix("mjGEOM_").lower()
            extra = (
                " (pass --approximate to use the box or capsule fitted to its vertices)"
                if what == "mesh"
                else ""
            )
            self.problems.add(
                self.spec.geoms[g],
                f"{what} geoms are not supported{extra}",
                "use a sphere, capsule, cylinder or box geom",
            )
            return None
        return geometry, centre, grot

    def _surface(self, g: int) -> dict:
        """Shape keywords of geom g's surface: friction, torsional friction (condim 4),
        colour, and its own contact softness where it differs from the solver's."""
        m = self.m
        return {
            "friction": float(m.geom_friction[g, 0]),
            "torsional_friction": float(m.geom_friction[g, 1]) if m.geom_condim[g] >= 4 else 0.0,
            "color": _rgb(m.geom_rgba[g]),
            **self._shape_softness(g),
        }

    def _fitted(self, g, centre, grot):
        """The box (or, for an elongated mesh, the capsule) fitted to mesh geom g's vertices:
        MuJoCo places the mesh in its principal frame, so the box is the vertices' bounds in the
        geom frame."""
        m = self.m
        mesh = m.geom_dataid[g]
        first, count = m.mesh_vertadr[mesh], m.mesh_vertnum[mesh]
        verts = m.mesh_vert[first : first + count]
        lo, hi = verts.min(axis=0), verts.max(axis=0)
        half = (hi - lo) / 2
        centre = centre + grot @ ((hi + lo) / 2)
        order = np.argsort(half)
        if half[order[2]] > 2 * half[order[1]]:  # elongated: a capsule along its long axis
            axis = order[2]
            radius = float(max(half[order[0]], half[order[1]]))
            perm = np.eye(3)[[(axis + 1) % 3, (axis + 2) % 3, axis]].T
            geometry = {
                "kind": "capsule",
                "radius": radius,
                "half_length": float(max(half[axis] - radius, 1e-6)),
            }
            grot = grot @ perm
            what = f"capsule radius {radius:.4g} m, half length {geometry['half_length']:.4g} m"
        else:
            geometry = {"kind": "box", "half_extents": tuple(float(c) for c in half)}
            what = "box half sizes " + ", ".join(f"{c:.4g}" for c in half) + " m"
        self.report(
            f"{self.path}: {_where(self.spec.geoms[g])}: mesh approximated by the {what} "
            "fitted to its vertices"
        )
        return geometry, centre, grot

    def _contact_params(self, g, element) -> None:
        """Refuse per-geom contact settings tdphys has no counterpart for."""
        m = self.m
        if m.geom_condim[g] == 6:
            self.problems.add(
                element, "rolling friction (condim 6) is not supported", "use condim 3 or 4"
            )
        if m.geom_priority[g]:
            self.problems.add(element, "geom priority is not supported", "remove priority")
        if m.geom_gap[g]:
            self.problems.add(element, "gap is not supported", "remove gap")
        if m.geom_solref[g, 0] <= 0:
            self.problems.add(
                element,
                "solref with direct stiffness and damping (negative values) is not supported",
                "give solref as timeconst dampratio",
            )
        if m.geom_solmix[g] != 1.0:
            self.problems.add(
                element,
                "solmix other than 1 is not supported (tdphys mixes the two sides of a contact "
                "with equal weights)",
                "remove solmix",
            )
        if np.any(m.geom_fluid[g]):
            self.problems.add(
                element, "fluid interaction (fluidshape) is not supported", "remove fluidshape"
            )

    def _collide(self, g1: int, g2: int) -> bool:
        """Whether MuJoCo considers geoms g1 and g2 for contact: contype/conaffinity, the
        parent filter on welded bodies, and <exclude>."""
        m = self.m
        if not (
            m.geom_contype[g1] & m.geom_conaffinity[g2]
            or m.geom_contype[g2] & m.geom_conaffinity[g1]
        ):
            return False
        b1, b2 = m.geom_bodyid[g1], m.geom_bodyid[g2]
        w1, w2 = m.body_weldid[b1], m.body_weldid[b2]
        if w1 == w2:
            return False
        p1, p2 = m.body_weldid[m.body_parentid[w1]], m.body_weldid[m.body_parentid[w2]]
        filterparent = not m.opt.disableflags & int(self.mj.mjtDisableBit.mjDSBL_FILTERPARENT)
        if filterparent and w1 and w2 and (w1 == p2 or w2 == p1):
            return False
        signature = (min(b1, b2) << 16) + max(b1, b2)
        excluded = {int(s) for s in m.exclude_signature[: m.nexclude]}
        return signature not in excluded

    def _floors(self) -> list[int]:
        return [g for g in range(self.m.ngeom) if self.m.body_weldid[self.m.geom_bodyid[g]] == 0]

    def _touches_floor(self, g: int) -> bool:
        return any(self._collide(g, f) for f in self._floors())

    def _world(self, order) -> tuple[Ground, tuple[Shape, ...]]:
        """The geoms fixed in the world (the world body's and those of bodies welded to it):
        the first plane at z = 0 with normal +z is the ground, every other geom a world shape
        posed in the world frame (a plane at any height or tilt, a sphere, box, capsule or
        cylinder). A tdphys body shape that touches the world (`ground`) touches the ground
        and every world shape, so a world geom that collides with only some of the body geoms
        touching the world, or with none of them, is refused."""
        m, mj, d = self.m, self.mj, self.d
        touching = [(s, g) for p in order for s, g in p.shapes if s.ground]
        ground, shapes = Ground(enabled=False), []
        for g in self._floors():
            element = self.spec.geoms[g]
            self._contact_params(g, element)
            centre, grot = d.geom_xpos[g].copy(), d.geom_xmat[g].reshape(3, 3).copy()
            if int(m.geom_type[g]) == mj.mjtGeom.mjGEOM_PLANE:
                floor = abs(centre[2]) <= FLOOR_TOL and grot[2, 2] >= 1 - FLOOR_TOL
                if floor and not ground.enabled:
                    self._touching_all(g, touching, "plane")
                    ground = Ground(enabled=True, **self._surface(g))
                    continue
                size = m.geom_size[g]
                geometry = {"kind": "plane", "half_extents": (float(size[0]), float(size[1]), 0.0)}
            else:
                placed = self._geometry(g, centre, grot)
                if placed is None:
                    continue
                geometry, centre, grot = placed
            self._touching_all(g, touching, geometry["kind"])
            shapes.append(
                Shape(
                    pos=tuple(float(c) for c in centre),
                    quat=as_tuple(matrix_quat(grot)),
                    mass=0.0,
                    ground=False,
                    **geometry,
                    **self._surface(g),
                )
            )
        return ground, tuple(shapes)

    def _touching_all(self, g: int, touching, kind: str) -> None:
        """Refuse world geom g (a `kind` in tdphys) unless MuJoCo collides it with every body
        geom of `touching` ((shape, geom) of the body shapes touching the world) and tdphys
        has their shape pairs."""
        element = self.spec.geoms[g]
        missed = [_label(self.spec.geoms[b]) for _, b in touching if not self._collide(g, b)]
        if missed:
            more = f" and {len(missed) - 3} more" if len(missed) > 3 else ""
            what = "none" if len(missed) == len(touching) else "only some"
            self.problems.add(
                element,
                f"this geom fixed in the world collides with {what} of the body geoms that "
                "touch the world's other geoms (contype/conaffinity, <exclude>): not with "
                f"{', '.join(missed[:3])}{more}; in tdphys a body shape that touches the world "
                "touches the ground and every world shape",
                "make it collide with the same body geoms as the world's other geoms, or remove "
                "it (a purely visual geom)",
            )
        for s, b in touching:
            if pair_key(s.kind, kind) not in SUPPORTED_PAIRS:
                self.problems.add(
                    self.spec.geoms[b],
                    f"{s.kind}-{kind} contact (with {_label(element)}) is not supported",
                    "change contype/conaffinity so that they do not collide",
                )

    def _contact_pairs(self, order, bodies) -> tuple[ContactPair, ...]:
        """tdphys body pairs whose every shape pair MuJoCo collides; a body pair only some of
        whose geom pairs collide is refused."""
        pairs = []
        for a in range(len(order)):
            for b in range(a + 1, len(order)):
                ga = [g for _, g in order[a].shapes]
                gb = [g for _, g in order[b].shapes]
                flags = [[self._collide(x, y) for y in gb] for x in ga]
                flat = [f for row in flags for f in row]
                if not any(flat):
                    continue
                if not all(flat):
                    self.problems.add(
                        self.spec.bodies[order[a].frame_body],
                        f"only some geoms of bodies '{order[a].name}' and "
                        f"'{order[b].name}' collide with each other (contype/"
                        "conaffinity); tdphys collides whole body pairs",
                        "give all geoms of the two bodies the same contype and "
                        "conaffinity, or <exclude> the pair",
                    )
                    continue
                for sa in range(len(ga)):
                    for sb in range(len(gb)):
                        ka, kb = bodies[a].shapes[sa].kind, bodies[b].shapes[sb].kind
                        if pair_key(ka, kb) not in SUPPORTED_PAIRS:
                            self.problems.add(
                                self.spec.geoms[ga[sa]],
                                f"{ka}-{kb} contact "
                                f"(with a geom of '{order[b].name}') is not "
                                "supported",
                                "<exclude> the body pair, or change contype/conaffinity",
                            )
                        pairs.append(ContactPair(a, sa, b, sb))
        return tuple(pairs)

    # motors and sensors ---------------------------------------------------------------
    def _motors(self, joints: list[Joint]) -> list[Joint]:
        """MuJoCo `motor` actuators on joints become force motors (gear, ctrlrange,
        forcerange); `position` and `velocity` actuators become PD servos (kp, kv, ctrlrange,
        forcerange). Joints are ordered so that the controls come in MuJoCo's actuator order."""
        m, mj = self.m, self.mj
        by_joint = {}
        for j in joints:
            for k, name in enumerate(j.name.split("+")):
                by_joint[name] = (j, k)
        motors: dict[str, list] = {}
        first: dict[str, int] = {}
        for a in range(m.nu):
            element = self.spec.actuators[a]
            servo = self._actuator_kind(a, element)
            if servo is None:
                continue
            jname = self.joint_name(m.actuator_trnid[a, 0])
            if jname in self.refused:
                continue
            if jname not in by_joint:
                self.problems.add(
                    element,
                    f"an actuator on joint '{jname}', which tdphys "
                    "represents without motors (a free joint)",
                    "remove it",
                )
                continue
            joint, axis = by_joint[jname]
            gear = float(m.actuator_gear[a, 0])
            mode, kp, kv = servo
            if mode != "force" and self._servo_refused(a, element, jname, gear, mode):
                continue
            if m.actuator_ctrllimited[a]:
                lo, hi = (float(v) for v in m.actuator_ctrlrange[a])
            else:
                lo, hi = -1e9, 1e9
            if m.actuator_forcelimited[a]:
                flo, fhi = (float(v) for v in m.actuator_forcerange[a])
                if flo != -fhi:
                    self.problems.add(
                        element,
                        f"an asymmetric forcerange [{flo:g}, {fhi:g}]",
                        "give forcerange -f f",
                    )
                max_force = abs(fhi) or 1.0
            elif m.actuator_ctrllimited[a]:
                max_force = abs(gear) * max(abs(lo), abs(hi))
            else:
                max_force = 1e9
            if not lo < hi:
                self.problems.add(element, "an empty ctrlrange", "give ctrlrange lo < hi")
                lo, hi = -1.0, 1.0
            name = self.name(mj.mjtObj.mjOBJ_ACTUATOR, a) or jname
            if any(mo.axis == axis for mo, _ in motors.get(joint.name, [])):
                self.problems.add(
                    element, f"a second actuator on joint '{jname}'", "keep one actuator per joint"
                )
                continue
            motors.setdefault(joint.name, []).append(
                (
                    Motor(
                        name=name,
                        axis=axis,
                        mode=mode,
                        kp=kp,
                        kv=kv,
                        max_force=max_force,
                        ctrl_range=(lo, hi),
                        gear=gear if mode == "force" else 1.0,
                    ),
                    a,
                )
            )
            first.setdefault(joint.name, a)
        out = [
            replace(
                j, motors=tuple(mo for mo, _ in sorted(motors.get(j.name, []), key=lambda x: x[1]))
            )
            for j in joints
        ]
        keyed = sorted(range(len(out)), key=lambda i: (first.get(out[i].name, m.nu), i))
        ordered = [out[i] for i in keyed]
        controls = [
            a for j in ordered for _, a in sorted(motors.get(j.name, []), key=lambda x: x[1])
        ]
        if controls != sorted(controls):
            self.problems.add(
                None,
                "the actuators cannot keep MuJoCo's order as tdphys's "
                "controls (two hinges of one universal joint are actuated "
                "apart)",
                "order the actuators of a universal joint's hinges next to each other",
            )
        return ordered

    def _actuator_kind(self, a: int, element) -> tuple[str, float, float] | None:
        """(mode, kp, kv) of actuator a: ("force", 0, 0) for a `motor`, ("position", kp, kv)
        for a `position` actuator (gain kp, bias -kp q - kv rate), ("velocity", 0, kv) for a
        `velocity` one; None (a problem recorded) for anything else."""
        m, mj = self.m, self.mj
        gain, bias = m.actuator_gainprm[a], m.actuator_biasprm[a]
        plain = (
            m.actuator_trntype[a] == mj.mjtTrn.mjTRN_JOINT
            and m.actuator_dyntype[a] == mj.mjtDyn.mjDYN_NONE
            and m.actuator_gaintype[a] == mj.mjtGain.mjGAIN_FIXED
            and not np.any(m.actuator_gear[a, 1:])
            and not np.any(gain[1:])
            and not np.any(bias[3:])
        )
        kind = None
        if plain and m.actuator_biastype[a] == mj.mjtBias.mjBIAS_NONE and gain[0] == 1.0:
            kind = ("force", 0.0, 0.0)
        elif plain and m.actuator_biastype[a] == mj.mjtBias.mjBIAS_AFFINE and bias[0] == 0.0:
            if gain[0] > 0.0 and bias[1] == -gain[0] and bias[2] <= 0.0:
                kind = ("position", float(gain[0]), float(-bias[2]))
            elif gain[0] > 0.0 and bias[1] == 0.0 and bias[2] == -gain[0]:
                kind = ("velocity", 0.0, float(gain[0]))
        if kind is None:
            self.problems.add(
                element,
                "only `motor`, `position` and `velocity` actuators on a hinge or slide joint "
                "are supported (not general, muscle, tendon or site actuators)",
                "use <motor>, <position kp kv> or <velocity kv> with joint=...",
            )
        return kind

    def _servo_refused(self, a: int, element, jname: str, gear: float, mode: str) -> bool:
        """Whether a position or velocity actuator cannot be represented (a problem recorded):
        tdphys's servos act on the joint coordinate itself, measured from the initial pose."""
        if gear != 1.0:
            self.problems.add(
                element,
                f"gear {gear:g} on a position or velocity actuator",
                "give gear 1 (scale kp, kv and ctrlrange instead)",
            )
            return True
        q0 = float(self.m.qpos0[self.m.jnt_qposadr[self.m.actuator_trnid[a, 0]]])
        if mode == "position" and q0 != 0.0:
            self.problems.add(
                element,
                f"a position actuator on joint '{jname}', whose ref is not 0: tdphys measures "
                "the joint from its initial pose, so the commands would shift",
                "give the joint ref 0 (and turn the body instead)",
            )
            return True
        return False

    def _sensors(self, joints: list[Joint]) -> list[Sensor]:
        """jointpos, jointvel (on hinges and slides) and actuatorfrc sensors."""
        m, mj = self.m, self.mj
        by_joint = {}
        for j in joints:
            for k, name in enumerate(j.name.split("+")):
                by_joint[name] = (j, k)
        motor_of = {}
        for j in joints:
            for mo in j.motors:
                motor_of[mo.name] = mo
        out = []
        for s in range(m.nsensor):
            element = self.spec.sensors[s]
            kind = int(m.sensor_type[s])
            name = self.name(mj.mjtObj.mjOBJ_SENSOR, s) or f"sensor{s}"
            target = m.sensor_objid[s]
            if kind in (mj.mjtSensor.mjSENS_JOINTPOS, mj.mjtSensor.mjSENS_JOINTVEL):
                jname = self.joint_name(target)
                if jname in self.refused:
                    continue
                if jname not in by_joint:
                    self.problems.add(
                        element,
                        f"joint '{jname}' has no tdphys joint (a free joint)",
                        "remove the sensor",
                    )
                    continue
                joint, axis = by_joint[jname]
                if kind == mj.mjtSensor.mjSENS_JOINTPOS and m.qpos0[m.jnt_qposadr[target]]:
                    self.problems.add(
                        element,
                        "a jointpos sensor on a joint with a nonzero "
                        "ref (tdphys measures joints from their initial pose)",
                        "remove ref from the joint, or the sensor",
                    )
                out.append(
                    Sensor(
                        name=name,
                        kind="joint_pos" if kind == mj.mjtSensor.mjSENS_JOINTPOS else "joint_vel",
                        joint=joint.name,
                        axis=axis,
                    )
                )
            elif kind == mj.mjtSensor.mjSENS_ACTUATORFRC:
                aname = self.name(mj.mjtObj.mjOBJ_ACTUATOR, target) or self.joint_name(
                    m.actuator_trnid[target, 0]
                )
                if aname in motor_of:
                    out.append(Sensor(name=name, kind="actuator_force", motor=aname))
            else:
                what = mj.mjtSensor(kind).name.removeprefix("mjSENS_").lower()
                self.problems.add(
                    element,
                    f"{what} sensors are not supported (only jointpos, jointvel and actuatorfrc)",
                    "remove the sensor",
                )
        return out

    # solver ---------------------------------------------------------------------------
    def _solver(self) -> Solver:
        """timestep and gravity as they are; the contact softness most of the geoms have
        (each geom's from its solref and solimp, _softness); the others get their own."""
        m = self.m
        kw = {}
        if self.softness_default is not None:
            kw["contact_hz"], kw["contact_damping"] = self.softness_default
        margins = [float(m.geom_margin[g]) for g in range(m.ngeom)]
        return Solver(
            dt=float(m.opt.timestep),
            gravity=tuple(float(c) for c in m.opt.gravity),
            contact_margin=max(margins, default=0.0),
            **kw,
        )

    def _softness(self, g: int) -> tuple[float, float] | None:
        """(contact_hz, contact_damping) of geom g: 1 / (2 pi timeconst dampratio
        sqrt(1 - dmax)) and dampratio / sqrt(1 - dmax), the stiffness and damping ratio
        MuJoCo's contact has at full impedance (solref timeconst, dampratio; solimp dmax);
        None for a solref tdphys cannot read (negative: refused in _contact_params)."""
        timeconst, ratio = (float(v) for v in self.m.geom_solref[g])
        dmax = min(max(float(self.m.geom_solimp[g][1]), 0.0), 0.9999)
        if timeconst <= 0 or ratio <= 0:
            return None
        root = math.sqrt(1 - dmax)
        return 1.0 / (2 * math.pi * timeconst * ratio * root), ratio / root

    def _shape_softness(self, g: int) -> dict:
        """A shape's own contact_hz and contact_damping where geom g's differ from the
        solver's, else nothing."""
        own = self._softness(g)
        if own is None or own == self.softness_default:
            return {}
        return {"contact_hz": own[0], "contact_damping": own[1]}


def _rgb(rgba) -> tuple[float, float, float]:
    """The colour of a geom (MuJoCo keeps it in float32: 0.8 reads back as 0.8)."""
    return tuple(min(max(float(str(np.float32(c))), 0.0), 1.0) for c in rgba[:3])


def _volume(shape: Shape) -> float:
    """[m^3] of a sphere, capsule, cylinder or box (the share of its body's mass it
    carries)."""
    return shape_volume(shape.kind, shape.radius, shape.half_extents, shape.half_length)
