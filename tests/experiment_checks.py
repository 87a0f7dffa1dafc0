"""Helper shared by the experiment tests."""

import dataclasses


def short(exp, duration):
    """The experiment with a shorter rollout (the same file otherwise), to fit CI's budget."""
    return dataclasses.replace(exp, task=dataclasses.replace(exp.task, duration=duration))
