"""README.md's Python example runs as written: a ball thrown at (2, 0, 3) m/s, its x after
1 s as the loss, and that loss's gradient with respect to the initial velocity."""

import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_python_example_prints_a_distance_and_its_gradient(tmp_path, monkeypatch, capsys):
    """The ball lands and slides on: it is ahead of its start but behind where it would be at
    2 m/s throughout, so 0 < x < 2 m and 0 < dx/dv_x(0) < 1 s (the landing's friction takes
    some of each extra m/s away)."""
    (code,) = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    script = tmp_path / "readme_example.py"  # Taichi reads a kernel's source from its file
    script.write_text(code)
    monkeypatch.chdir(ROOT)  # the example's robot path is the checkout's
    runpy.run_path(str(script), run_name="__main__")
    numbers = [
        float(x)
        for x in re.findall(r"-?\d+\.?\d*(?:e-?\d+)?", capsys.readouterr().out.splitlines()[-1])
    ]
    x, gradient = numbers[0], numbers[1:]
    assert len(gradient) == 3
    assert 0.0 < x < 2.0
    assert 0.0 < gradient[0] < 1.0
