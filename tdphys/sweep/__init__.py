"""Seed sweeps on Ray Tune (`tdphys sweep`, docs/sweep.md): args (the command's arguments),
plan (settings x seeds -> trials, what a seed means), run (the trials on Ray Tune), summary
(the results per setting: sweep.json, sweep.md, sweep.png; no Taichi or Ray)."""
