"""The playback clock and the viewer's key bindings, independent of any window.

`Playback` keeps the simulated time shown [s], the speed (simulated seconds per wall second),
pause and single steps. `ViewState` adds what the user toggles (which world, followed body,
overlays, panel). `handle_key` maps a key name (as GGUI and ti.GUI report it) to an action,
so the bindings are tested without a display.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SPEEDS = tuple(2.0**k for k in range(-5, 5))  # 1/32x .. 16x

# key -> (action, help text); the panel lists them in this order.
BINDINGS = {
    " ": ("pause", "pause / play"),
    "Right": ("step", "one sample forward"),
    "Left": ("back", "one sample back"),
    "Up": ("faster", "faster (x2)"),
    "Down": ("slower", "slower (/2)"),
    "r": ("restart", "restart"),
    "l": ("loop", "loop at the end"),
    "f": ("follow", "follow next body / off"),
    "n": ("world", "next world"),
    "a": ("all", "all worlds side by side"),
    "j": ("joints", "joint axes"),
    "c": ("contacts", "contact points and forces"),
    "p": ("path", "centre-of-mass path"),
    "v": ("camera", "camera image on / off"),
    "z": ("zoom_in", "zoom in"),
    "x": ("zoom_out", "zoom out"),
    "h": ("panel", "hide / show this panel"),
    "Escape": ("quit", "quit"),
}
MOUSE_HELP = ("left drag: orbit", "right drag: pan", "middle drag / z x: zoom")


@dataclass
class Playback:
    """Simulated time shown [s] over samples at times `t` [s] (T+1,), increasing."""

    t: np.ndarray
    speed: float = 1.0
    paused: bool = False
    loop: bool = False
    time: float = 0.0

    @property
    def end(self) -> float:
        return float(self.t[-1])

    def advance(self, wall_dt: float, ready: int | None = None) -> None:
        """Move on by `wall_dt` wall seconds at the current speed; hold (or wrap when `loop`)
        at the end, and never pass the last of `ready` available samples."""
        if self.paused:
            return
        last = float(self.t[(ready or len(self.t)) - 1])
        self.time += wall_dt * self.speed
        if self.time > self.end and self.loop:
            self.time = 0.0
        self.time = min(self.time, last)

    def index(self) -> int:
        """Sample shown: the last one at or before `time`."""
        k = int(np.searchsorted(self.t, self.time + 1e-9, side="right")) - 1
        return int(np.clip(k, 0, len(self.t) - 1))

    def step(self, n: int, ready: int | None = None) -> None:
        """Pause and move `n` samples (negative = back)."""
        self.paused = True
        k = int(np.clip(self.index() + n, 0, (ready or len(self.t)) - 1))
        self.time = float(self.t[k])

    def faster(self) -> None:
        self.speed = _next_speed(self.speed, +1)

    def slower(self) -> None:
        self.speed = _next_speed(self.speed, -1)

    def restart(self) -> None:
        self.time = 0.0


def _next_speed(speed: float, direction: int) -> float:
    i = int(np.argmin([abs(np.log2(s / speed)) for s in SPEEDS]))
    return SPEEDS[int(np.clip(i + direction, 0, len(SPEEDS) - 1))]


@dataclass
class ViewState:
    """What the user chose to see. world: shown world, or None for all side by side;
    follow: followed body index or None; overlay flags; camera: show the --camera image;
    quit request."""

    n_worlds: int
    n_bodies: int
    world: int | None = 0
    follow: int | None = None
    joints: bool = False
    contacts: bool = False
    path: bool = False
    panel: bool = True
    camera: bool = True  # the --camera image, when there is one
    quit: bool = False
    zoom: list = field(default_factory=list)  # pending zoom factors for the camera

    def worlds(self) -> list[int]:
        """Indices of the worlds drawn."""
        return list(range(self.n_worlds)) if self.world is None else [self.world]


def handle_key(key: str, playback: Playback, view: ViewState, ready: int | None = None) -> str:
    """Apply the binding of `key` (see BINDINGS); returns the action name, '' if unbound."""
    action = BINDINGS.get(key, BINDINGS.get(key.lower() if len(key) == 1 else key, ("",)))[0]
    if action == "pause":
        playback.paused = not playback.paused
        if not playback.paused and playback.time >= playback.end and not playback.loop:
            playback.restart()
    elif action == "step":
        playback.step(+1, ready)
    elif action == "back":
        playback.step(-1, ready)
    elif action == "faster":
        playback.faster()
    elif action == "slower":
        playback.slower()
    elif action == "restart":
        playback.restart()
    elif action == "loop":
        playback.loop = not playback.loop
    elif action == "follow":
        nxt = 0 if view.follow is None else view.follow + 1
        view.follow = nxt if nxt < view.n_bodies else None
    elif action == "world":
        view.world = 0 if view.world is None else (view.world + 1) % view.n_worlds
    elif action == "all":
        view.world = None if view.world is not None else 0
    elif action in ("joints", "contacts", "path", "panel", "camera"):
        setattr(view, action, not getattr(view, action))
    elif action == "zoom_in":
        view.zoom.append(1 / 1.25)
    elif action == "zoom_out":
        view.zoom.append(1.25)
    elif action == "quit":
        view.quit = True
    return action


def headless_times(duration: float, fps: float, speed: float = 1.0) -> np.ndarray:
    """Simulated times [s] of the frames of a video of `duration` simulated seconds at `fps`
    frames per wall second played at `speed`: 0, speed/fps, ... up to and including the end."""
    n = int(np.floor(duration * fps / speed + 1e-9)) + 1
    return np.arange(n) * (speed / fps)
