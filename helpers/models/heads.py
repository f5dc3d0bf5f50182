"""The activation of a classifier's output layer: the one rule every builder of
:mod:`helpers.models` follows (taught in ``notebooks/03_training.ipynb``)."""

from __future__ import annotations


def output_activation(n_outputs: int, multi_label: bool = False) -> str:
    """``"sigmoid"`` for one output (a binary task: the probability of class 1) and for a
    multi-label task (each label its own probability: an image may carry none, one or
    several); ``"softmax"`` over the classes of a multi-class or ordinal task (exactly one)."""
    return "sigmoid" if n_outputs == 1 or multi_label else "softmax"
