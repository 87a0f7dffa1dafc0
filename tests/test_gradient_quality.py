"""The gradient-quality probe (tdphys/optim/gradient_quality.py): along minus the exact
gradient, the secant slope of the loss over a short step equals the exact directional
derivative -|g|; with a grad_decay < 1 the biased direction is probed too."""
import dataclasses

import pytest

from experiment_checks import short
from tdphys.optim import load_experiment
from tdphys.optim.gradient_quality import probe, report


def test_secant_slopes_agree_with_the_exact_gradient_on_a_smooth_loss(backend64, robots_dir):
    exp = short(load_experiment(robots_dir.parent / "experiments" / "ball_throw.yaml"), 0.5)
    exp = dataclasses.replace(exp, optimizer=dataclasses.replace(exp.optimizer,
                                                                 grad_decay=0.9))
    decayed, exact = probe(exp, steps=(1e-6, 1e-4))
    assert (decayed.decay, exact.decay) == (0.9, 1.0)
    assert exact.predicted == pytest.approx(-exact.norm, rel=1e-12)     # d = -g/|g|
    for slope in exact.slopes.values():
        assert slope == pytest.approx(exact.predicted, rel=1e-3)
    assert exact.trusted_up_to() == 1e-4
    assert decayed.predicted < 0 and decayed.norm != pytest.approx(exact.norm)
    text = report([decayed, exact])
    assert "grad_decay 0.9" in text and "exact" in text and "descends" in text
