"""Fine-tuning a Keras Applications backbone (:mod:`helpers.models.backbones`) with the
training engine, as one run of :func:`helpers.train.scaling.run_configs`. Taught in
``notebooks/09_large_models.ipynb``, which calls :func:`fine_tune` in a fresh process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io

from helpers.models.backbones import BACKBONES, resolve_weights
from helpers.runtime import set_seed
from helpers.train import scaling
from helpers.train.config import TrainConfig

#: How Keras starts the line it prints before downloading weights.
DOWNLOAD_LINE = "Downloading data from "


def fine_tune(config: dict, threads: int | None = None) -> dict:
    """Fine-tune (or load from the cache) the transfer model of ``config`` (a dict of
    :class:`helpers.train.config.TrainConfig` fields) and return the row of
    :func:`helpers.train.scaling.scaling_run` plus ``initialisation``: which weights the backbone
    started from. Notebook 09 runs it with :func:`helpers.fresh_process.call`, in its own
    process.

    Before the cache is asked, the ImageNet weights' availability is settled
    (:func:`helpers.models.backbones.resolve_weights`): a model that started from them is
    cached under another key than one that asked for them offline and got random
    initialisation, so an online run never reuses an offline (random) model."""
    run = TrainConfig(**config)
    if run.model not in BACKBONES:
        raise ValueError(
            f"{run.model!r} is not a transfer model; known: {', '.join(sorted(BACKBONES))}"
        )
    set_seed(0, threads=threads)  # the thread count, before the probe runs TensorFlow's first op
    run = dataclasses.replace(
        run, model_options=resolve_weights(run.model, run.image_shape, run.model_options)
    )
    # The row carries "initialisation", recorded by the engine when the backbone was built
    # (and kept in the model cache), so a cached model reports what it really started from.
    # Keras announces the weights download on stdout ("Downloading data from <url>"), also
    # when it then fails offline; "initialisation" says what happened, so that line is dropped.
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        row = scaling.run_configs([dataclasses.asdict(run)], threads=threads)[0]
    for line in printed.getvalue().splitlines():
        if not line.startswith(DOWNLOAD_LINE):
            print(line)
    return row
