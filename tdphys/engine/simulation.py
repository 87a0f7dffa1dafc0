"""Batched, differentiable simulation of one robot model in B independent worlds.

Data flow: Robot (validated model) -> Layout (numpy tables) -> Taichi fields (engine/fields.py:
model, state, control, scratch) -> step kernels.

A step of width dt is `substeps` substeps of width h = dt / substeps, each five stages
(docs/engine-notes.md):
    bodies    mass blocks, inverse mass, free velocity (gravity)
    points    contact geometry (normal, witness points, separation)
    rows      Jacobian, target rate, softness and bounds of every constraint row; warm start
    solve     tree joints exactly (engine/tree.py), the other rows by Gauss-Seidel sweeps
              each followed by a projection onto the joints (engine/solver.py)
    integrate semi-implicit Euler for positions, and each body's torque-free rotation from
              its solved rate (implicit midpoint: keeps energy and |L|), into the next
              substep's pose
and at the end of the step the state at t + 1 (with the motors' coordinates and the contact
forces) is stored. Forward: every step of every world in one launch, a thread per world.

Gradients: per-step state is stored at its own time index; a step's substeps live in scratch.
Under `ti.ad.Tape` each step is one `grad_replaced` call whose backward replays that step's
substeps from the stored state at t (keeping every solver iterate), then runs the stages'
adjoints in reverse, substep by substep: Taichi's generated adjoints for the stages, the
hand-written one for the solve. Memory grows with the state only (O(T * B * N)). Every stage
kernel loops over worlds in parallel and over a world's items serially, so each world's
adjoint sums run in a fixed order on one thread (deterministic).
"""

import contextlib

import numpy as np
import taichi as ti

from .. import backend, kernel_rules, memory
from ..errors import ControlsError, GradientDiverged, SimulationDiverged
from ..model.schema import Robot
from . import (
    actuators,
    bodies,
    frames,
    geometry,
    joint_passive,
    joints,
    layout as L,
    rows,
    sensors,
    solver,
    stabilize,
    tree,
    welds,
)
from .fields import (
    PARAM_DOCS,
    RECORDED,
    TABLES,
    Control,
    Model,
    Scratch,
    State,
)


@ti.data_oriented
class Simulation:
    """B worlds of one robot, T steps.

    Its fields come in four groups (engine/fields.py: shapes, units and frames of each):
    `model` what each world's robot is (the parameters, PARAM_DOCS, and the mass properties
    derived from them), `state` what each step t = 0..T records (sim.state.pos [t, world,
    body] [m] centre of mass, quat, vel, omega, the motors' joint_pos and joint_vel,
    sensordata, contact forces), `control` the motor commands (sim.control.ctrl [t, world,
    motor], SI units) and `scratch` what a step computes on its way. `loss` is the scalar a
    tape differentiates.
    """

    def __init__(self, robot: Robot, batch: int = 1, steps: int = 100):
        if not isinstance(robot, Robot):
            raise TypeError("Simulation takes a Robot; use tdphys.load(path) first")
        self.backend = backend.current()
        self.robot, self.layout = robot, L.build_layout(robot)
        # the robot file's vars that world 0's geometry parameters were computed with (the
        # file's own, until co-design sets others: tdphys/optim/design.py)
        self.robot_vars = dict(robot.vars)
        self.batch, self.steps = int(batch), int(steps)
        if self.batch < 1 or self.steps < 1:
            raise ValueError("batch and steps must be at least 1")
        lay, sol = self.layout, robot.solver
        memory.check_fits(
            lay,
            self.batch,
            self.steps,
            int(sol.iterations),
            self.backend.arch,
            8 if self.backend.precision == "f64" else 4,
            f"'{robot.name}'",
            substeps=int(sol.substeps),
        )
        self.real = self.backend.real
        self.world_stride = self.backend.world_stride
        # few worlds on CPU: each kernel's world loops run on the calling thread
        self.serial_worlds = self.backend.serial_worlds(batch, lay.n_bodies + lay.n_rows)
        if self.serial_worlds:
            self.world_stride = 1
        self.n_bodies, self.n_shapes, self.n_rows = lay.n_bodies, lay.n_shapes, lay.n_rows
        self.n_joints, self.n_motors, self.n_points = lay.n_joints, lay.n_motors, lay.n_points
        self.n_sensors, self.n_sensordata = lay.n_sensors, lay.n_sensordata
        self.n_tree, self.n_nodes = len(lay.tree_order), lay.n_bodies + lay.n_joints
        self.has_tree = bool(lay.joint_in_tree.any())
        self.n_substeps = int(sol.substeps)
        # Gauss-Seidel sweeps per substep: `iterations` per step shared among the substeps;
        # none when every row is solved by the tree
        has_sweeps = bool((lay.row_tree == 0).any()) and lay.n_rows > 0
        self.n_sweeps = -(-int(sol.iterations) // self.n_substeps) if has_sweeps else 0
        self.dt, self.warm_factor = float(sol.dt), float(sol.warm_start)
        self.h = self.dt / self.n_substeps
        self.joint_hz, self.joint_damping = float(sol.joint_hz), float(sol.joint_damping)
        self.restitution_velocity = float(sol.restitution_velocity)
        self.max_push_velocity = float(sol.max_push_velocity)
        self.gravity = tuple(float(g) for g in sol.gravity)
        # rigid tree joints: the drifted pose of each substep is projected back onto them
        self.stabilized = self.has_tree and self.joint_hz == 0.0
        self.friction_max = robot.friction_combine == "max"  # rows.pair_material
        self.has_welds = bool((lay.weld_joint >= 0).any())
        self._allocate()
        # what the solver moves: a host's mass properties with its welded bodies (welds.py);
        # without welds every body's own
        m, fused = self.model, self.has_welds
        self.solver_mass = m.solver_mass if fused else m.mass
        self.solver_com = m.solver_com if fused else m.com
        self.solver_inertia = m.solver_inertia if fused else m.inertia
        self.solver_inertia_inv = m.solver_inertia_inv if fused else m.inertia_inv
        self._upload_tables()
        # parameters and the recorded state travel to and from numpy one block at a time
        self._param_block = backend.FieldBlock(self.model.params)
        self._state_block = backend.FieldBlock({n: getattr(self.state, n) for n in RECORDED})
        self._pose_block = backend.FieldBlock({n: getattr(self.state, n) for n in RECORDED[:4]})
        self._param_block.write(
            {name: self._padded(name, lay.params[name]) for name in self.model.params}
        )
        self._clear_gradients = backend.gradient_clearer(self.fields())
        # Factor on the state adjoints per step backwards in time, set by tape(grad_decay=)
        # for its backward pass (1: the exact gradient; < 1 truncates the horizon, a biased
        # gradient; Degrave et al. used 0.95 for gaits).
        self._grad_decay = 1.0
        # steps(t0, t1) advances every world from t0 to t1 in one launch; under ti.ad.Tape
        # its backward replays each step's substeps and runs the stage kernels' adjoints.
        self.steps_between = ti.ad.grad_replaced(self._steps_forward)
        ti.ad.grad_for(self.steps_between)(self._steps_backward)

    def __getattr__(self, name: str):
        # only reached for a missing attribute: name the group a field moved to
        for group in ("model", "state", "control", "scratch"):
            holder = self.__dict__.get(group)
            if holder is not None and name in vars(holder):
                raise AttributeError(
                    f"Simulation has no attribute '{name}': it is sim.{group}.{name} "
                    "(fields are grouped: engine/fields.py)"
                )
        raise AttributeError(f"'Simulation' object has no attribute '{name}'")

    # ----------------------------------------------------------------------------- fields
    def _allocate(self):
        B, T = self.batch, self.steps
        sizes = {
            "S": max(self.n_shapes, 1),
            "N": self.n_bodies,
            "J": max(self.n_joints, 1),
            "M": max(self.n_motors, 1),
            "P": max(self.n_points, 1),
            "R": max(self.n_rows, 1),
        }
        self.model = Model(B, sizes, self.layout.n_groups)
        self.state = State(T, B, sizes, self.n_sensordata)
        self.control = Control(T, B, sizes["M"])
        backend.close_field_tree()
        self.scratch = Scratch(T, B, self.n_substeps, self.n_sweeps, sizes, self.n_nodes)
        self.loss = backend.field(None, ())

    def fields(self) -> list:
        """Every Taichi field of the simulation, once each (model, state, control, scratch,
        loss)."""
        groups = (self.model, self.state, self.control, self.scratch)
        return [f for g in groups for f in g.fields()] + [self.loss]

    def _upload_tables(self):
        """Integer tables, each at least one entry long. Every field is declared before the
        first upload: Taichi puts the fields declared between two kernel launches into one
        SNode tree and a process holds at most 512 trees (one per field would crash a test
        session after a dozen simulations)."""
        lay = self.layout
        padded = {}
        for name in TABLES:
            data = getattr(lay, name)
            padded[name] = np.zeros(tuple(max(d, 1) for d in data.shape), np.int32)
            padded[name][tuple(slice(0, d) for d in data.shape)] = data
        shape_r, shape_p = (max(self.n_rows, 1),), (max(self.n_points, 1),)
        self.row_groups, padded["rows_sorted"] = _groups(lay.row_kind, shape_r)
        self.point_groups, padded["points_sorted"] = _groups(lay.point_geom, shape_p)
        self.model.add_tables({n: a.shape for n, a in padded.items()})
        backend.FieldBlock({n: getattr(self.model, n) for n in padded}, ti.i32).write(padded)
        self.kinds_present = tuple(kind for kind, _, _ in self.row_groups)
        # the robot's joint kinds with a coordinate (an axis): joints.coordinate compiles these
        self.coordinate_kinds = tuple(
            k for k in sorted({int(k) for k in lay.joint_kind}) if joints.KINDS[k].N_AXES > 0
        )
        self.geoms_present = tuple(geom for geom, _, _ in self.point_groups)

    # ------------------------------------------------------------------------- parameters
    def set_param(self, name: str, value) -> None:
        """Set a per-world parameter; `value` broadcasts to (B, ...) (see PARAM_DOCS)."""
        self.set_params({name: value})

    def set_params(self, values: dict) -> None:
        """Set several parameters at once ({name: value}, each as for set_param)."""
        for name in values:
            self._param_field(name)
        block = self._param_block.read()
        for name, value in values.items():
            block[name] = self._padded(name, value)
        self._param_block.write(block)

    def _padded(self, name, value) -> np.ndarray:
        """`value` broadcast over the worlds and zero-padded to the field's shape."""
        full = np.zeros(self._param_block.shapes[name])
        value = np.asarray(value, float)
        target = full[(slice(None),) + tuple(slice(0, s) for s in value.shape[1:])]
        target[...] = np.broadcast_to(value, target.shape) if value.ndim else value
        return full

    def get_param(self, name: str) -> np.ndarray:
        self._param_field(name)
        return self._trim(name, self._param_block.read()[name])

    def param_grad(self, name: str) -> np.ndarray:
        """d loss / d parameter after a taped rollout, shape (B, ...)."""
        self._param_field(name)
        return self._trim(name, self._param_block.read(grad=True)[name])

    def param_grads(self) -> dict:
        """Every parameter's gradient after a taped rollout: {name: (B, ...)} (one launch)."""
        return {n: self._trim(n, g) for n, g in self._param_block.read(grad=True).items()}

    def _param_field(self, name):
        if name not in self.model.params:
            import difflib

            hint = difflib.get_close_matches(name, self.model.params, 1)
            raise KeyError(
                f"unknown parameter '{name}'" + (f"; did you mean '{hint[0]}'?" if hint else "")
            )
        return self.model.params[name]

    def _trim(self, name, arr):
        key = PARAM_DOCS[name][0]
        count = {
            "S": self.n_shapes,
            "N": self.n_bodies,
            "J": self.n_joints,
            "M": self.n_motors,
        }.get(key[:1], None)
        return arr if count is None else arr[:, :count]

    # --------------------------------------------------------------------------- controls
    def set_controls(self, u) -> None:
        """Motor commands, shape (T, M) (same for every world) or (T, B, M), SI units."""
        u = np.asarray(u, float)
        T, B, M = self.steps, self.batch, self.n_motors
        if u.ndim == 2 and u.shape == (T, M):
            u = np.broadcast_to(u[:, None, :], (T, B, M))
        if u.shape != (T, B, M):
            raise ControlsError(
                f"controls have shape {u.shape}, expected ({T}, {M}) or "
                f"({T}, {B}, {M}) for {T} steps, batch {B} and {M} motors "
                f"({', '.join(self.layout.motor_names) or 'none'})"
            )
        if not np.all(np.isfinite(u)):
            raise ControlsError("controls contain NaN or inf")
        full = np.zeros(self.control.ctrl.shape)
        full[:, :, :M] = u
        self.control.ctrl.from_numpy(full.astype(_np_real(self.real)))

    # ---------------------------------------------------------------------------- kernels
    @ti.func
    def clear_sums(self, w, n, mass: ti.template(), moment: ti.template(), inertia: ti.template()):
        """Zero a mass [kg], first moment [kg m] and inertia [kg m^2] sum of body n."""
        mass[w, n] = 0.0
        moment[w, n] = ti.Vector.zero(self.real, 3)
        inertia[w, n] = ti.Matrix.zero(self.real, 3, 3)

    @ti.kernel
    def k_mass_clear(self):
        for w, n in self.model.mass:
            self.clear_sums(w, n, self.model.mass, self.model.moment, self.model.inertia_origin)

    @ti.kernel
    def k_mass_sum(self):
        for w in range(self.batch):  # shapes summed in file order: deterministic
            for k in range(self.n_shapes):
                n = self.model.shape_body[k]
                if n >= 0:  # not a shape fixed in the world
                    m, moment, inertia = bodies.shape_inertia_about_origin(self, w, k)
                    self.model.mass[w, n] += m
                    self.model.moment[w, n] += moment
                    self.model.inertia_origin[w, n] += inertia

    @ti.kernel
    def k_mass_finish(self):
        for w, n in self.model.mass:
            m, com, inertia = bodies.about_centre_of_mass(self, w, n)
            self.model.com[w, n] = com
            self.model.inertia[w, n] = inertia
            self.model.inertia_inv[w, n] = inertia.inverse()

    @ti.kernel
    def k_weld_frames(self):
        """Each welded body's frame in its host's, by depth: a loop of its own per depth, as
        a chain's frames build on the frames above them."""
        for depth in ti.static(range(1, self.layout.n_weld_depth + 1)):
            for w, n in self.model.mass:
                if self.model.weld_depth[n] == depth:
                    o, q = welds.frame_in_host(self, w, n, depth)
                    self.model.weld_origin[w, n], self.model.weld_quat[w, n] = o, q

    @ti.kernel
    def k_fused_clear(self):
        m = self.model
        for w, n in m.mass:
            self.clear_sums(w, n, m.fused_mass, m.fused_moment, m.fused_inertia_origin)

    @ti.kernel
    def k_fused_sum(self):
        for w in range(self.batch):  # bodies summed in file order: deterministic
            for n in range(self.n_bodies):
                h = self.model.body_host[n]
                m, c, inertia = welds.in_host(self, w, n)
                self.model.fused_mass[w, h] += m
                self.model.fused_moment[w, h] += m * c
                self.model.fused_inertia_origin[w, h] += welds.about_origin(self, m, c, inertia)

    @ti.kernel
    def k_fused_finish(self):
        for w, n in self.model.mass:
            h = self.model.body_host[n]
            if h == n:
                m, c = self.model.fused_mass[w, n], welds.host_centre(self, w, n)
                inertia = self.model.fused_inertia_origin[w, n] - welds.about_origin(
                    self, m, c, ti.Matrix.zero(self.real, 3, 3)
                )
                self.model.solver_mass[w, n], self.model.solver_com[w, n] = m, c
                self.model.solver_inertia[w, n] = inertia
                self.model.solver_inertia_inv[w, n] = inertia.inverse()
            else:  # not moved by the solver; its own values keep its scratch finite
                self.model.solver_mass[w, n] = self.model.mass[w, n]
                self.model.solver_com[w, n] = self.model.com[w, n]
                self.model.solver_inertia[w, n] = self.model.inertia[w, n]
                self.model.solver_inertia_inv[w, n] = self.model.inertia_inv[w, n]
                _m, c, _i = welds.in_host(self, w, n)
                self.model.weld_offset[w, n] = c - welds.host_centre(self, w, h)

    def k_mass(self):
        """Mass, centre of mass and inertia of every body from its shapes, and what the solver
        moves (once a rollout)."""
        self.k_mass_clear()
        self.k_mass_sum()
        self.k_mass_finish()
        if self.has_welds:
            self.k_weld_frames()
            self.k_fused_clear()
            self.k_fused_sum()
            self.k_fused_finish()

    @ti.kernel
    def k_init(self):
        for w, n in self.model.mass:
            x, q, v, om = bodies.initial_state(self, w, n)
            if not self.moves(n):
                x, q, v, om = welds.initial_state(self, w, n)
            frames.put(self.state, 0, w, n, x, q, v, om)

    # ----------------------------------------------------------------- stages (written once)
    # Each stage is a Taichi function of one item of one world, called by the forward
    # kernel (k_steps: every world a thread, stages in sequence) and by the kernels whose
    # adjoints the backward pass runs (one per stage group, parallel over worlds).
    @ti.func
    def load(self, t, w, n):
        """The step's first substep starts from the stored state at t (a host's position at
        the solver's centre of mass, a welded body where its host puts it)."""
        x, v = self.state.pos[t, w, n], self.state.vel[t, w, n]
        q, om = self.state.quat[t, w, n], self.state.omega[t, w, n]
        if self.moves(n):
            if ti.static(self.has_welds):
                x, v = welds.rebased(x, q, v, om, self.model.com[w, n], self.solver_com[w, n])
            frames.put(self.scratch.sub, 0, w, n, x, q, v, om)
        else:
            welds.follow(self, self.scratch.sub, 0, self.state, t, w, n)

    @ti.func
    def body_scratch(self, u, w, n):
        """Mass block, inverse mass and free velocity of body n at substep u."""
        self.scratch.inv_mass[u, w, n] = 1.0 / self.solver_mass[w, n]
        self.scratch.bmass[u, w, n] = self.solver_mass[w, n]
        q = self.scratch.sub.quat[u, w, n]
        self.scratch.iw[u, w, n] = bodies.in_frame(self, q, self.solver_inertia[w, n])
        self.scratch.iw_inv[u, w, n] = bodies.in_frame(self, q, self.solver_inertia_inv[w, n])
        self.scratch.vstart[u, w, n] = bodies.free_velocity(self, u, w, n)

    @ti.func
    def point_scratch(self, u, w, i, geom: ti.template()):
        n, pa, pb, sep = geometry.contact_point(self, self.scratch.sub, u, w, i, geom)
        (
            self.scratch.c_normal[u, w, i],
            self.scratch.c_point_a[u, w, i],
            self.scratch.c_point_b[u, w, i],
        ) = n, pa, pb
        self.scratch.c_sep[u, w, i] = sep

    @ti.func
    def inverse_mass_times(self, u, w, n, j):
        """M^-1 j for a stacked (linear, angular) row half j of body n (zero for the world)."""
        k = ti.max(n, 0)
        out = frames.six(
            frames.lin(j) * self.scratch.inv_mass[u, w, k],
            self.scratch.iw_inv[u, w, k] @ frames.ang(j),
        )
        return ti.select(n >= 0, out, j * 0.0)

    @ti.func
    def row_values(self, t, u, w, r, kind: ti.template()):
        """(ja, jb, vt, softness, lo, hi, mu, active) of row r: engine/joint_passive.py for
        the joints' passive rows, engine/rows.py for the others."""
        if ti.static(kind in joint_passive.ROW_KINDS):
            return joint_passive.row(self, t, u, w, r, kind)
        else:
            return rows.row(self, t, u, w, r, kind)

    @ti.func
    def row_scratch(self, t, u, w, r, kind: ti.template(), keep: ti.template()):
        """Row r's scratch at substep u. A contact row whose point is outside the margin is
        not built: its update is the identity (meff, bounds, mu and the warm start are 0), so
        only active = 0 is written, and every reader of the row skips it (solver.sweep,
        solver.warm_start, solver.solve_adjoint, sensors.point_force) or multiplies it by
        active; its other entries keep older values. So neither the replay (keep) nor the
        adjoints do any work for it."""
        if ti.static(kind >= L.ROW_NORMAL and kind <= L.ROW_TORSION):
            if rows.in_margin(self, u, w, self.model.row_idx[r]):
                self.row_scratch_full(t, u, w, r, kind)
            else:
                self.scratch.active[u, w, r] = 0.0
        else:
            self.row_scratch_full(t, u, w, r, kind)

    @ti.func
    def row_scratch_full(self, t, u, w, r, kind: ti.template()):
        ja, jb, vt, softness, lo, hi, mu, active = self.row_values(t, u, w, r, kind)
        pair = r
        if ti.static(kind == L.ROW_SKIP):  # second friction direction: the pair's bodies
            pair = r - 1
        a, b = self.model.row_a[pair], self.model.row_b[pair]
        if ti.static(self.has_welds):  # built on its own bodies, it acts on their hosts
            ja = welds.on_host(self, u, w, self.model.row_body_a[pair], ja)
            jb = welds.on_host(self, u, w, self.model.row_body_b[pair], jb)
        ma = self.inverse_mass_times(u, w, a, ja)
        mb = self.inverse_mass_times(u, w, b, jb)
        meff = active / (ja.dot(ma) + jb.dot(mb) + 1e-12)
        # softness acts on a reference mass: the row's own effective mass, or for a contact
        # normal the mass the contact holds up (soft_mass), so a light foot under a heavy
        # body sinks as little as a single heavy body would; a PD servo's softness is its
        # compliance in SI units (reference 1)
        reference = meff
        if ti.static(kind == L.ROW_NORMAL):
            reference = ti.max(meff, self.model.soft_mass[w, self.model.row_idx[r]])
        elif ti.static(kind == L.ROW_MOTOR):
            reference = 1.0
        reference = ti.max(reference, 1e-12)
        x = softness * meff / reference
        (
            self.scratch.ja[u, w, r],
            self.scratch.jb[u, w, r],
            self.scratch.ma[u, w, r],
            self.scratch.mb[u, w, r],
        ) = ja, jb, ma, mb
        self.scratch.meff[u, w, r], self.scratch.vt[u, w, r] = meff, vt
        self.scratch.ms[u, w, r], self.scratch.isc[u, w, r] = 1.0 / (1.0 + x), x / (1.0 + x)
        # compliance of a soft tree joint row (J v = vt - cm lambda), 0 when rigid
        self.scratch.cm[u, w, r] = softness / reference
        self.scratch.lo[u, w, r], self.scratch.hi[u, w, r], self.scratch.mu[u, w, r] = lo, hi, mu
        self.scratch.active[u, w, r] = active

    @ti.func
    def integrate(self, u, w, n):
        """Pose at substep u + 1 from the solved velocity of substep u (with rigid tree
        joints, the drifted pose that stabilize then projects onto them). Not for a welded
        body (follow_integrated)."""
        x, q, v, om = bodies.advance(self, u, w, n, self.scratch.vproj[u, self.n_sweeps, w, n])
        if ti.static(self.stabilized):
            self.scratch.drift.pos[u, w, n], self.scratch.drift.quat[u, w, n] = x, q
            self.scratch.drift.vel[u, w, n], self.scratch.drift.omega[u, w, n] = v, om
        else:
            self.scratch.sub.pos[u + 1, w, n], self.scratch.sub.quat[u + 1, w, n] = x, q
            self.scratch.sub.vel[u + 1, w, n], self.scratch.sub.omega[u + 1, w, n] = v, om

    @ti.func
    def moves(self, n):
        """Whether the solver moves body n (every body but a welded one)."""
        out = True
        if ti.static(self.has_welds):
            out = self.model.weld_joint[n] < 0
        return out

    @ti.func
    def follow_integrated(self, u, w):
        """The welded bodies' poses after integrate, from their hosts'."""
        for n in range(self.n_bodies):
            if not self.moves(n):
                if ti.static(self.stabilized):
                    welds.follow(self, self.scratch.drift, u, self.scratch.drift, u, w, n)
                else:
                    welds.follow(self, self.scratch.sub, u + 1, self.scratch.sub, u + 1, w, n)

    @ti.func
    def follow_displaced(self, u, w):
        """The welded bodies' poses after displace, from their hosts'."""
        for n in range(self.n_bodies):
            if not self.moves(n):
                welds.follow(self, self.scratch.sub, u + 1, self.scratch.sub, u + 1, w, n)

    @ti.func
    def gap_rows(self, u, w):
        """Position error of every tree row at the drifted pose of substep u."""
        for kind, offset, count in ti.static(self.row_groups):
            if ti.static(kind < joints.N_ROW_KINDS):
                for k in range(count):
                    r = self.model.rows_sorted[offset + k]
                    if self.model.row_tree[r] == 1:
                        self.scratch.gap[u, w, r] = joints.row(
                            self, self.scratch.drift, u, w, r, kind
                        )[2]

    @ti.func
    def displace(self, u, w, n):
        x, q, v, om = stabilize.displaced(self, u, w, n)
        self.scratch.sub.pos[u + 1, w, n], self.scratch.sub.quat[u + 1, w, n] = x, q
        self.scratch.sub.vel[u + 1, w, n], self.scratch.sub.omega[u + 1, w, n] = v, om

    @ti.func
    def store(self, t, w, n):
        """The state at t + 1: the last substep's pose (a host's at its own centre of
        mass)."""
        U = self.n_substeps
        x, v = self.scratch.sub.pos[U, w, n], self.scratch.sub.vel[U, w, n]
        q, om = self.scratch.sub.quat[U, w, n], self.scratch.sub.omega[U, w, n]
        if ti.static(self.has_welds):
            x, v = welds.rebased(x, q, v, om, self.solver_com[w, n], self.model.com[w, n])
        frames.put(self.state, t + 1, w, n, x, q, v, om)

    @ti.func
    def store_rows(self, t, w, r, keep: ti.template()):
        """Impulses of the last substep, kept to warm-start step t + 1. Forward only (keep
        False), an inactive row's impulse is 0 (the solver did not write it)."""
        U = self.n_substeps - 1
        if ti.static(keep):
            self.state.warm[t + 1, w, r] = self.scratch.lam[U, self.n_sweeps, w, r]
        else:
            lam = 0.0
            if self.scratch.active[U, w, r] != 0.0:
                lam = self.scratch.lam[U, self.n_sweeps, w, r]
            self.state.warm[t + 1, w, r] = lam

    @ti.func
    def store_point(self, t, w, i):
        self.state.point_force[t + 1, w, i] = sensors.point_force(self, w, i)

    @ti.func
    def measure(self, t, w, m):
        j = self.model.motor_joint[m]
        q, ja, jb = joints.coordinate(self, self.state, t, w, j, self.model.motor_axis[m])
        self.state.joint_pos[t, w, m] = q
        self.state.joint_vel[t, w, m] = ja.dot(
            frames.body_velocity(self, self.state, t, w, self.model.joint_parent[j])
        ) + jb.dot(frames.body_velocity(self, self.state, t, w, self.model.joint_child[j]))

    @ti.func
    def prepare_bodies(self, u, w):
        for n in range(self.n_bodies):
            self.body_scratch(u, w, n)

    @ti.func
    def prepare_points(self, u, w):
        for geom, offset, count in ti.static(self.point_groups):
            for k in range(count):
                self.point_scratch(u, w, self.model.points_sorted[offset + k], geom)

    @ti.func
    def prepare_rows(self, t, u, w, keep: ti.template()):
        for kind, offset, count in ti.static(self.row_groups):
            for k in range(count):
                self.row_scratch(t, u, w, self.model.rows_sorted[offset + k], kind, keep)

    @ti.func
    def world_step(self, t, w, keep: ti.template()):
        """Step t of world w, forward: every substep's stages, the solve and the integration,
        then the state at t + 1. With `keep`, the solver's history is stored for the
        reverse pass."""
        for n in range(self.n_bodies):
            self.load(t, w, n)
        for u in range(self.n_substeps):
            for n in range(self.n_bodies):
                self.scratch.vwarm[u, w, n] = ti.Vector.zero(
                    self.real, 6
                )  # the warm start adds to it
            self.prepare_bodies(u, w)
            self.prepare_points(u, w)
            self.prepare_rows(t, u, w, keep)
            solver.warm_start(self, t, u, w, keep)
            if ti.static(self.has_tree):
                tree.factorize(self, u, w)
            solver.solve(self, u, w, keep)
            for n in range(self.n_bodies):
                if self.moves(n):
                    self.integrate(u, w, n)
            if ti.static(self.has_welds):
                self.follow_integrated(u, w)
            if ti.static(self.stabilized):
                self.gap_rows(u, w)
                stabilize.solve(self, u, w)
                for n in range(self.n_bodies):
                    if self.moves(n):
                        self.displace(u, w, n)
                if ti.static(self.has_welds):
                    self.follow_displaced(u, w)
        for n in range(self.n_bodies):
            self.store(t, w, n)
        for r in range(self.n_rows):
            self.store_rows(t, w, r, keep)
        for m in range(self.n_motors):
            actuators.store_force(self, t, w, m)
        for i in range(self.n_points):
            self.store_point(t, w, i)
            U = self.n_substeps - 1
            self.state.point_pos[t + 1, w, i] = 0.5 * (
                self.scratch.c_point_a[U, w, i] + self.scratch.c_point_b[U, w, i]
            )
        for m in range(self.n_motors):
            self.measure(t + 1, w, m)

    # ---------------------------------------------------------------------------- kernels
    @ti.kernel
    def k_group_clear(self):
        for w, g in self.model.group_mass:
            self.model.group_mass[w, g] = 0.0
            self.model.group_moment[w, g] = ti.Vector.zero(self.real, 3)
            self.model.group_inertia[w, g] = ti.Matrix.zero(self.real, 3, 3)

    @ti.kernel
    def k_group_sum(self):
        for w in range(self.batch):  # bodies summed in file order: deterministic
            for n in range(self.n_bodies):
                g, m = self.model.body_group[n], self.model.mass[w, n]
                self.model.group_mass[w, g] += m
                self.model.group_moment[w, g] += m * self.state.pos[0, w, n]

    @ti.kernel
    def k_group_inertia(self):
        for w in range(self.batch):
            for n in range(self.n_bodies):
                g, m = self.model.body_group[n], self.model.mass[w, n]
                d = (
                    self.state.pos[0, w, n]
                    - self.model.group_moment[w, g] / self.model.group_mass[w, g]
                )
                self.model.group_inertia[w, g] += bodies.world_inertia(
                    self, self.state.quat[0, w, n], w, n
                ) + m * (d.dot(d) * ti.Matrix.identity(self.real, 3) - d.outer_product(d))

    @ti.kernel
    def k_soft_mass(self):
        """soft_mass[w, i]: the effective mass of contact point i's normal direction at the
        start pose, with every jointed body taken as one rigid body (its joints held, as a
        standing robot's servos hold them): the mass the contact holds up. 0 (the row's own
        effective mass is used) for a body without joints and where both sides belong to the
        same jointed body."""
        for geom, offset, count in ti.static(self.point_groups):
            for w in range(self.batch):  # a world's points in order: deterministic adjoints
                for k in range(count):
                    p = self.model.points_sorted[offset + k]
                    n, pa, pb, _ = geometry.contact_point(self, self.state, 0, w, p, geom)
                    a, b = self.model.point_body_a[p], self.model.point_body_b[p]
                    inverse = self.group_inverse_mass(w, a, pa, n)
                    lone = self.model.body_alone[a]
                    if b >= 0:
                        inverse += self.group_inverse_mass(w, b, pb, n)
                        lone *= self.model.body_alone[b]
                        if self.model.body_group[b] == self.model.body_group[a]:
                            inverse = 0.0
                    mass = 0.0
                    if inverse > 0.0:
                        if lone == 0:
                            mass = 1.0 / inverse
                    self.model.soft_mass[w, p] = mass

    def soft_masses(self):
        """The contacts' soft masses for this rollout (from the state at t = 0)."""
        self.k_group_clear()
        self.k_group_sum()
        self.k_group_inertia()
        self.k_soft_mass()

    @ti.func
    def group_inverse_mass(self, w, n, point, direction):
        """n^T M^-1 n of body n's jointed body, as one rigid body, for a unit impulse along
        `direction` at `point` (world)."""
        g = self.model.body_group[n]
        lever = (point - self.model.group_moment[w, g] / self.model.group_mass[w, g]).cross(
            direction
        )
        return 1.0 / self.model.group_mass[w, g] + lever.dot(
            self.model.group_inertia[w, g].inverse() @ lever
        )

    @ti.kernel
    def k_measure(self, t: ti.i32):
        """Motor coordinates at step t. On CPU a thread per world, motors in order: motors
        share bodies and joints, whose adjoints then sum in a fixed order
        (backend.ordered_sums, docs/determinism.md); GPUs a thread per motor."""
        if ti.static(self.backend.ordered_sums):
            ti.loop_config(serialize=self.serial_worlds)
            for i in range(self.batch * self.world_stride):  # a thread per world (backend.py)
                if i % self.world_stride == 0:
                    for m in range(self.n_motors):
                        self.measure(t, i // self.world_stride, m)
        else:
            for w, m in ti.ndrange(self.batch, self.n_motors):
                self.measure(t, w, m)

    @ti.kernel
    def k_steps(self, t0: ti.i32, t1: ti.i32):
        """Steps t0 .. t1 - 1 of every world in one launch, one thread per world, forward
        only (the taped backward replays each step with the history kept)."""
        ti.loop_config(serialize=self.serial_worlds)
        for i in range(self.batch * self.world_stride):  # a thread per world (backend.py)
            if i % self.world_stride == 0:
                w = i // self.world_stride
                for t in range(t0, t1):
                    self.world_step(t, w, False)

    @ti.kernel
    def k_recompute(self, t: ti.i32, decay: ti.f64):
        """Everything the adjoint kernels of step t read, one thread per world, in one launch:
        the step replayed from the stored state at t with every solver iterate kept. First the
        backward prelude (backward_prelude: the state's adjoint at t + 1 checked and scaled by
        `decay`, the scratch adjoints zeroed), here rather than in a kernel of its own: on CPU
        each parallel loop of a launch is a hand-off to Taichi's thread pool (~0.1 ms)."""
        f = ti.cast(decay, self.real)  # in f32 too, without a narrowing warning
        ti.loop_config(serialize=self.serial_worlds)
        for i in range(self.batch * self.world_stride):  # a thread per world (backend.py)
            if i % self.world_stride == 0:
                w = i // self.world_stride
                self.backward_prelude(t + 1, w, f)
                self.world_step(t, w, True)

    # Kernels below run only as adjoints (kernel.grad) in the taped backward, in the order
    # k_store_measure, k_store, then per substep u from the last: k_displace,
    # k_stabilize_adjoint, k_gap (rigid tree joints), k_integrate, k_solve_adjoint,
    # k_prepare; then k_load. A stage whose output a later stage of the same
    # kernel reads is a top-level loop of its own: Taichi 1.7.4 differentiates such a
    # dependency wrongly inside one loop nest (docs/engine-notes.md, pitfall 1).
    @ti.kernel
    def k_load(self, t: ti.i32):
        ti.loop_config(serialize=self.serial_worlds)
        for i in range(self.batch * self.world_stride):
            if i % self.world_stride == 0:
                w = i // self.world_stride
                for n in range(self.n_bodies):
                    self.load(t, w, n)

    @ti.kernel
    def k_prepare(self, t: ti.i32, u: ti.i32):
        """The solver's inputs at substep u of step t (bodies, contact points, rows, warm
        start). vwarm is zeroed in k_recompute, not here: zeroing a field and adding to it in
        one kernel gets a wrong adjoint in Taichi 1.7.4 (docs/engine-notes.md, pitfall 1);
        the backward prelude zeroes its adjoint instead."""
        ti.loop_config(serialize=self.serial_worlds)
        for i in range(self.batch * self.world_stride):
            if i % self.world_stride == 0:
                self.prepare_bodies(u, i // self.world_stride)
        ti.loop_config(serialize=self.serial_worlds)
        for i in range(self.batch * self.world_stride):
            if i % self.world_stride == 0:
                self.prepare_points(u, i // self.world_stride)
        ti.loop_config(serialize=self.serial_worlds)
        for i in range(self.batch * self.world_stride):
            if i % self.world_stride == 0:
                self.prepare_rows(t, u, i // self.world_stride, True)
        ti.loop_config(serialize=self.serial_worlds)
        for i in range(self.batch * self.world_stride):
            if i % self.world_stride == 0:
                solver.warm_start(self, t, u, i // self.world_stride, True)

    @ti.kernel
    def k_solve_adjoint(self, t: ti.i32, u: ti.i32):
        """Adjoint of the solve of substep u of step t (see solver.solve_adjoint)."""
        ti.loop_config(serialize=self.serial_worlds)
        for i in range(self.batch * self.world_stride):
            if i % self.world_stride == 0:
                solver.solve_adjoint(self, u, i // self.world_stride)

    @ti.kernel
    def k_integrate(self, t: ti.i32, u: ti.i32):
        ti.loop_config(serialize=self.serial_worlds)
        for i in range(self.batch * self.world_stride):
            if i % self.world_stride == 0:
                w = i // self.world_stride
                for n in range(self.n_bodies):
                    if self.moves(n):
                        self.integrate(u, w, n)
        if ti.static(self.has_welds):  # reads what the loop above wrote: a loop of its own
            ti.loop_config(serialize=self.serial_worlds)
            for i in range(self.batch * self.world_stride):
                if i % self.world_stride == 0:
                    self.follow_integrated(u, i // self.world_stride)

    @ti.kernel
    def k_gap(self, t: ti.i32, u: ti.i32):
        ti.loop_config(serialize=self.serial_worlds)
        for i in range(self.batch * self.world_stride):
            if i % self.world_stride == 0:
                self.gap_rows(u, i // self.world_stride)

    @ti.kernel
    def k_stabilize_adjoint(self, t: ti.i32, u: ti.i32):
        """Adjoint of the position projection of substep u (see stabilize.solve_adjoint)."""
        ti.loop_config(serialize=self.serial_worlds)
        for i in range(self.batch * self.world_stride):
            if i % self.world_stride == 0:
                stabilize.solve_adjoint(self, u, i // self.world_stride)

    @ti.kernel
    def k_displace(self, t: ti.i32, u: ti.i32):
        ti.loop_config(serialize=self.serial_worlds)
        for i in range(self.batch * self.world_stride):
            if i % self.world_stride == 0:
                w = i // self.world_stride
                for n in range(self.n_bodies):
                    if self.moves(n):
                        self.displace(u, w, n)
        if ti.static(self.has_welds):  # reads what the loop above wrote: a loop of its own
            ti.loop_config(serialize=self.serial_worlds)
            for i in range(self.batch * self.world_stride):
                if i % self.world_stride == 0:
                    self.follow_displaced(u, i // self.world_stride)

    @ti.kernel
    def k_store(self, t: ti.i32):
        """What ends step t: the state, impulses and contact forces at t + 1 and the motor
        coordinates there."""
        ti.loop_config(serialize=self.serial_worlds)
        for i in range(self.batch * self.world_stride):
            if i % self.world_stride == 0:
                w = i // self.world_stride
                for n in range(self.n_bodies):
                    self.store(t, w, n)
                for r in range(self.n_rows):
                    self.store_rows(t, w, r, True)
                for m in range(self.n_motors):
                    actuators.store_force(self, t, w, m)
                for p in range(self.n_points):
                    self.store_point(t, w, p)

    @ti.kernel
    def k_store_measure(self, t: ti.i32):
        ti.loop_config(serialize=self.serial_worlds)
        for i in range(self.batch * self.world_stride):
            if i % self.world_stride == 0:
                w = i // self.world_stride
                for m in range(self.n_motors):
                    self.measure(t + 1, w, m)

    # On CPU the sensor kernels run a thread per world, steps and sensors in order: sensors
    # share bodies, every step reads the world's centres of mass, and contact forces add up
    # into one reading, so their sums (and their adjoints') get a fixed order
    # (backend.ordered_sums, docs/determinism.md). GPUs run a thread per reading.
    @ti.kernel
    def k_sense(self, t0: ti.i32, t1: ti.i32):
        if ti.static(self.backend.ordered_sums):
            ti.loop_config(serialize=self.serial_worlds)
            for i in range(self.batch * self.world_stride):  # a thread per world (backend.py)
                if i % self.world_stride == 0:
                    for t in range(t0, t1):
                        for k in range(self.n_sensors):
                            sensors.write(self, t, i // self.world_stride, k)
        else:
            for t, w, k in ti.ndrange((t0, t1), self.batch, self.n_sensors):
                sensors.write(self, t, w, k)

    @ti.kernel
    def k_sense_contacts(self, t0: ti.i32, t1: ti.i32):
        if ti.static(self.backend.ordered_sums):
            ti.loop_config(serialize=self.serial_worlds)
            for j in range(self.batch * self.world_stride):  # a thread per world (backend.py)
                if j % self.world_stride == 0:
                    for t in range(t0, t1):
                        for k in range(self.n_sensors):
                            for i in range(self.n_points):
                                sensors.add_contact_force(self, t, j // self.world_stride, k, i)
        else:
            for t, w, k, i in ti.ndrange((t0, t1), self.batch, self.n_sensors, self.n_points):
                sensors.add_contact_force(self, t, w, k, i)

    def sense(self, t0: int, t1: int):
        """sensordata[t] for t0 <= t < t1 from the stored state (differentiable)."""
        if self.n_sensors:
            self.k_sense(t0, t1)
            if self.n_points and L.SENSOR_CONTACT_FORCE in self.layout.sensor_kind:
                self.k_sense_contacts(t0, t1)

    # ------------------------------------------------------------------------------ steps
    def _steps_forward(self, t0: int, t1: int):
        if t0 == 0:
            self.scratch.bad_adjoint.fill(0)
        chunk = t1 - t0
        budget = self.backend.max_loop_iterations  # software Vulkan ends longer shader loops
        if budget:
            per_substep = (
                (self.n_sweeps + 5) * (self.n_rows + 2 * self.n_tree)
                + 4 * (self.n_bodies + self.n_points)
                + 16
            )
            per_step = (
                self.n_substeps * per_substep
                + 3 * (self.n_bodies + self.n_points + self.n_motors)
                + self.n_rows
            )
            chunk = max(1, budget // (2 * per_step))
        for a in range(t0, t1, chunk):
            self.k_steps(a, min(a + chunk, t1))

    def _steps_backward(self, t0: int, t1: int):
        self.backend.require_gradients("gradients of a rollout")
        for t in reversed(range(t0, t1)):
            self._step_backward(t)

    def _step_backward(self, t: int):
        """Step t's adjoint: replay, then the stages' adjoints in reverse, substep by substep
        (launches, not arithmetic, bound small robots)."""
        self.k_recompute(t, self._grad_decay)  # this step's scratch, from the stored state at t
        if self.n_motors:
            self.k_store_measure.grad(t)
        self.k_store.grad(t)
        for u in reversed(range(self.n_substeps)):
            if self.stabilized:
                self.k_displace.grad(t, u)
                self.k_stabilize_adjoint(t, u)
                self.k_gap.grad(t, u)
            self.k_integrate.grad(t, u)
            self.k_solve_adjoint(t, u)
            self.k_prepare.grad(t, u)
        self.k_load.grad(t)

    @ti.func
    def backward_prelude(self, t, w, f):
        """World w's part before step t - 1's adjoint: flag a NaN/inf adjoint of the state at t
        (complete now; the adjoints after it consume it), multiply the state's adjoints at t
        by f (grad_decay; 1 leaves them exact) and zero the step's scratch adjoints."""
        zero3, zero6 = ti.Vector.zero(self.real, 3), ti.Vector.zero(self.real, 6)
        zero33 = ti.Matrix.zero(self.real, 3, 3)
        for n in range(self.n_bodies):
            total = (
                self.state.pos.grad[t, w, n].sum()
                + self.state.vel.grad[t, w, n].sum()
                + self.state.omega.grad[t, w, n].sum()
                + self.state.quat.grad[t, w, n].sum()
            )
            if ti.math.isnan(total) or ti.math.isinf(total):
                self.scratch.bad_adjoint[t] = 1 + w * self.n_bodies + n
            self.state.pos.grad[t, w, n] *= f
            self.state.vel.grad[t, w, n] *= f
            self.state.omega.grad[t, w, n] *= f
            self.state.quat.grad[t, w, n] *= f
            for u in range(self.n_substeps + 1):
                self.scratch.sub.pos.grad[u, w, n], self.scratch.sub.vel.grad[u, w, n] = (
                    zero3,
                    zero3,
                )
                self.scratch.sub.omega.grad[u, w, n] = zero3
                self.scratch.sub.quat.grad[u, w, n] = ti.Vector.zero(self.real, 4)
            for u in range(self.n_substeps):
                self.scratch.drift.pos.grad[u, w, n] = zero3
                self.scratch.drift.quat.grad[u, w, n] = ti.Vector.zero(self.real, 4)
                self.scratch.drift.vel.grad[u, w, n], self.scratch.drift.omega.grad[u, w, n] = (
                    zero3,
                    zero3,
                )
                self.scratch.dx.grad[u, w, n] = zero6
                self.scratch.inv_mass.grad[u, w, n], self.scratch.bmass.grad[u, w, n] = 0.0, 0.0
                self.scratch.iw.grad[u, w, n] = zero33
                self.scratch.iw_inv.grad[u, w, n] = zero33
                self.scratch.vstart.grad[u, w, n], self.scratch.vwarm.grad[u, w, n] = zero6, zero6
                for k in range(self.n_sweeps + 1):
                    self.scratch.vproj.grad[u, k, w, n] = zero6
        for r in range(self.n_rows):
            self.state.warm.grad[t, w, r] *= f
        for m in range(self.n_motors):
            self.state.joint_pos.grad[t, w, m] *= f
            self.state.joint_vel.grad[t, w, m] *= f
        for u in range(self.n_substeps):
            for r in range(self.scratch.meff.shape[2]):
                self.scratch.ja.grad[u, w, r], self.scratch.jb.grad[u, w, r] = zero6, zero6
                self.scratch.ma.grad[u, w, r], self.scratch.mb.grad[u, w, r] = zero6, zero6
                self.scratch.meff.grad[u, w, r], self.scratch.vt.grad[u, w, r] = 0.0, 0.0
                self.scratch.ms.grad[u, w, r], self.scratch.isc.grad[u, w, r] = 0.0, 0.0
                self.scratch.lo.grad[u, w, r], self.scratch.hi.grad[u, w, r] = 0.0, 0.0
                self.scratch.mu.grad[u, w, r], self.scratch.cm.grad[u, w, r] = 0.0, 0.0
                self.scratch.gap.grad[u, w, r] = 0.0
                for k in range(self.n_sweeps + 1):
                    self.scratch.lam.grad[u, k, w, r] = 0.0
            for i in range(self.scratch.c_sep.shape[2]):
                self.scratch.c_normal.grad[u, w, i], self.scratch.c_point_a.grad[u, w, i] = (
                    zero3,
                    zero3,
                )
                self.scratch.c_point_b.grad[u, w, i], self.scratch.c_sep.grad[u, w, i] = zero3, 0.0

    def validate_step(self, t: int):
        """Launch every kernel of step t whose adjoint Taichi generates once in Taichi's
        VALIDATION mode, which asserts the global data access rule that reverse mode relies on
        (no field entry overwritten after it is read). Needs tdphys.init(debug=True); raises
        TaichiAssertionError on a violation. The hand-written solver adjoint is not Taichi's and
        is checked by the gradient tests instead. Values are recomputed (equal up to rounding)."""
        launches = [(self.k_recompute, None), (self.k_load, (t,))]
        launches += [(self.k_prepare, (t, u)) for u in range(self.n_substeps)]
        launches += [(self.k_integrate, (t, u)) for u in range(self.n_substeps)]
        if self.stabilized:
            launches += [
                (k, (t, u)) for u in range(self.n_substeps) for k in (self.k_gap, self.k_displace)
            ]
        launches += [(self.k_store, (t,)), (self.k_store_measure, (t,))]
        if self.n_sensors:
            launches += [(self.k_sense, (t, t + 1))]
            if self.n_points:
                launches += [(self.k_sense_contacts, (t, t + 1))]
        for kernel, args in launches:
            if args is None:  # the solver's history: a plain forward kernel
                kernel(t, 1.0)
            else:  # the rule holds within a kernel: each is checked on its own
                backend.start_validation()
                backend.run_validated(kernel, *args)

    def step(self, t: int):
        """Advance every world from step t to t + 1 (differentiable under ti.ad.Tape)."""
        self.steps_between(t, t + 1)

    def start(self):
        """Mass properties and the state at t = 0 (the first part of every rollout)."""
        self.k_mass()
        self.k_init()
        self.k_measure(0)
        if self.n_points:
            self.soft_masses()

    def rollout(self, policy=None, check: bool = True):
        """Simulate all T steps. `policy(t)`, if given, runs before step t (a Taichi kernel
        writing ctrl[t] lets a controller share the tape). Under `ti.ad.Tape` the whole
        rollout is differentiated. Raises SimulationDiverged on NaN/inf when `check`."""
        self.start()
        if policy is None:
            self.steps_between(0, self.steps)
            self.sense(0, self.steps + 1)
        else:
            for t in range(self.steps):
                self.sense(t, t + 1)  # a controller reads sensordata[t]
                policy(t)
                self.step(t)
            self.sense(self.steps, self.steps + 1)
        if check:
            self.check_finite()

    @contextlib.contextmanager
    def tape(self, *others, grad_decay: float = 1.0):
        """`ti.ad.Tape` on self.loss that zeroes only this simulation's gradients and those of
        `others` (objects with a clear_gradients() method: controllers, tasks):

            with sim.tape(controller):
                controller.rollout()
                task.loss_kernel()

        grad_decay: the backward pass multiplies the state's adjoints by it once per step
        back in time (1, the default: the exact gradient).

        Use it rather than `ti.ad.Tape(sim.loss)`, which zeroes (and first compiles a kernel
        for) every gradient field in the process. Before the backward pass it reads the
        source of the kernels on the tape and raises UnsafeKernelError (no backward pass) for
        a kernel shape Taichi 1.7.4 would differentiate wrongly (tdphys/kernel_rules.py)."""
        self._clear_gradients()
        for other in others:
            other.clear_gradients()
        self._grad_decay = grad_decay
        try:
            with ti.ad.Tape(self.loss, clear_gradients=False) as tape:
                yield tape
                try:
                    kernel_rules.check_tape(tape)
                except kernel_rules.UnsafeKernelError:
                    tape.eval_on_exit = False  # Tape.__exit__ would run the wrong backward
                    raise
        finally:
            self._grad_decay = 1.0

    # ---------------------------------------------------------------------------- results
    def check_finite(self):
        """Raise SimulationDiverged naming the first step and body with a NaN/inf state."""
        first = _first_bad(self, ("pos", "vel", "omega", "quat"))
        if first is not None:
            t, w, n, name = first
            raise SimulationDiverged(t, self.layout.body_names[n], name + f" (world {w})")

    def check_gradients(self):
        """After a taped rollout: raise GradientDiverged naming the last step and a body whose
        state adjoint was NaN/inf when the backward pass reached it (where it first went bad),
        else the first parameter or control with a NaN/inf gradient."""
        bad = self.scratch.bad_adjoint.to_numpy()
        if bad.any():
            t = int(np.nonzero(bad)[0].max())
            w, n = divmod(int(bad[t]) - 1, self.n_bodies)
            raise GradientDiverged(t, self.layout.body_names[n], f"the state (world {w})")
        for name, grad in {**self.param_grads(), "ctrl": self.controls_grad()}.items():
            if not np.all(np.isfinite(grad)):
                raise GradientDiverged(None, "", name)

    def trajectory(self) -> dict:
        """The rollout as numpy arrays (see `tdphys simulate` for the keys and shapes)."""
        M, s = self.n_motors, self._state_block.read()
        return {
            "t": np.arange(self.steps + 1) * self.dt,
            "body_names": np.array(self.layout.body_names),
            "motor_names": np.array(self.layout.motor_names),
            "pos": s["pos"],
            "quat": s["quat"],
            "vel": s["vel"],
            "omega": s["omega"],
            "joint_pos": s["joint_pos"][:, :, :M],
            "joint_vel": s["joint_vel"][:, :, :M],
            "sensor_names": np.array(self.layout.sensor_names, dtype=str),
            "sensor_adr": self.layout.sensor_adr,
            "sensor_dim": self.layout.sensor_dim,
            "sensordata": s["sensordata"][:, :, : self.n_sensordata],
            "contact_pos": s["point_pos"][:, :, : self.n_points],
            "contact_force": s["point_force"][:, :, : self.n_points],
        }

    def poses(self) -> dict:
        """Every body's pos [m] (centre of mass), quat, vel [m/s] and omega [rad/s] at every
        recorded step, world frame: {name: (T + 1, B, n_bodies, 3 | 4)}, read in one launch."""
        return self._pose_block.read()

    def sensor(self, name: str) -> np.ndarray:
        """One sensor's readings, shape (T + 1, B, dim) (see engine/sensors.py for units)."""
        names = self.layout.sensor_names
        if name not in names:
            raise KeyError(f"no sensor '{name}'; this robot has {', '.join(names) or 'none'}")
        k = names.index(name)
        adr, dim = int(self.layout.sensor_adr[k]), int(self.layout.sensor_dim[k])
        return self.state.sensordata.to_numpy()[:, :, adr : adr + dim]

    def controls_grad(self) -> np.ndarray:
        """d loss / d controls, shape (T, B, M)."""
        return self.control.ctrl.grad.to_numpy()[:, :, : self.n_motors]


def _first_bad(sim, names):
    """(step, world, body, field name) of the earliest NaN/inf entry of the state `names`."""
    found, state = None, sim.poses()
    for name in names:
        bad = ~np.isfinite(state[name]).all(axis=-1)
        if bad.any():
            t, w, n = (int(i[0]) for i in np.nonzero(bad))
            if found is None or t < found[0]:
                found = (t, w, n, name)
    return found


def _groups(codes: np.ndarray, shape) -> tuple:
    """Item indices sorted by code (padded to `shape`) and (code, offset, count) per code
    present, so each kind gets its own small kernel."""
    order = np.argsort(codes, kind="stable").astype(np.int32)
    padded = np.zeros(shape, np.int32)
    padded[: len(order)] = order
    groups, offset = [], 0
    for code in sorted(set(codes.tolist())):
        count = int((codes == code).sum())
        groups.append((int(code), offset, count))
        offset += count
    return groups, padded


def _np_real(dtype):
    return np.float64 if dtype == ti.f64 else np.float32
