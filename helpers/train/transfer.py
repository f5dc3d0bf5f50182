"""Fine-tuning a Keras Applications backbone (:mod:`helpers.models.backbones`) with the
training engine, as one run of :func:`helpers.train.scaling.run_configs`. Taught in
``notebooks/09_large_models.ipynb``, which calls :func:`fine_tune` in a fresh process.
"""

from __future__ import annotations

from helpers.models.backbones import BACKBONES
from helpers.train import scaling
from helpers.train.config import TrainConfig


def fine_tune(config: dict, threads: int | None = None) -> dict:
    """Fine-tune (or load from the cache) the transfer model of ``config`` (a dict of
    :class:`helpers.train.config.TrainConfig` fields) and return the row of
    :func:`helpers.train.scaling.scaling_run` plus ``initialisation``: which weights the backbone
    started from. Notebook 09 runs it with :func:`helpers.fresh_process.call`, in its own
    process."""
    run = TrainConfig(**config)
    if run.model not in BACKBONES:
        raise ValueError(
            f"{run.model!r} is not a transfer model; known: {', '.join(sorted(BACKBONES))}"
        )
    # The row carries "initialisation", recorded by the engine when the backbone was built
    # (and kept in the model cache), so a cached model reports what it really started from.
    return scaling.run_configs([config], threads=threads)[0]
