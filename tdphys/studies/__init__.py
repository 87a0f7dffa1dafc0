"""Research studies built on the library (not part of it): each answers one question about
an experiment and has a demo script that runs it (demos/gait_ceiling.py,
demos/gradient_quality.py); write-ups in docs/studies/.

    gait_ceiling       how fast can a gait experiment's robot walk with periodic commands?
    gradient_quality   is the gradient a descent direction at the optimiser's step sizes?
"""
