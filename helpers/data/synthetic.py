"""Small datasets of every MedMNIST task kind, generated from the phantoms and written in
the official layout with a description (``<name>.npz`` + ``<name>.json``), so that the code
for any MedMNIST flag can be run and tested offline: the tests of every task kind use it, and
the README's section "Data" shows it as the example of a dataset of one's own.

Each image is a chest phantom (:func:`helpers.data.phantoms.make_phantoms`) with a marker
that carries the label, so every task is learnable and a model that learns it beats chance
clearly:

- ``multi-class`` and ``binary-class``: a bright disc at one of ``n_classes`` (2) places on a
  ring (the phantoms' own lesions are too faint at 28 px to learn from a few hundred images);
- ``ordinal-regression``: a disc in the centre whose radius grows with the grade;
- ``multi-label, binary-class``: one small square per label present (each with probability
  0.3), on a grid of places.

Colour datasets (``channels=3``) tint each image with a random colour, so the channels
differ but the label does not depend on the tint.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from helpers.atomic import write_bytes, write_text
from helpers.data.medmnist import SPLITS, TASKS
from helpers.data.phantoms import make_phantoms

#: Split sizes of a generated dataset unless told otherwise: small enough to train in seconds.
DEFAULT_SIZES = {"train": 300, "val": 100, "test": 100}
#: How much brighter a marker is than the phantom under it (images in [0, 1]) unless told
#: otherwise: faint enough that the phantom's own structure and noise make the task far from
#: trivial, bright enough that a short training run learns it.
MARKER = 0.3


def _disc(size: int, cy: float, cx: float, radius: float) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return ((yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2).astype(np.float32)


def synthetic_images(
    task: str,
    n: int,
    n_classes: int,
    *,
    size: int = 28,
    channels: int = 1,
    seed: int = 0,
    marker: float = MARKER,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uint8 images (N, S, S) or (N, S, S, 3) and their labels in the official shape
    ((N, 1), or (N, n_classes) of 0/1 for multi-label) for ``task`` (one of
    :data:`helpers.data.medmnist.TASKS`), as the module docstring describes; ``marker`` is
    the markers' added brightness (smaller: a harder task)."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, not {task!r}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, not {channels}")
    rng = np.random.default_rng(seed)
    phantoms = make_phantoms(n, size, seed=seed)
    images = phantoms.images.astype(np.float32)
    centre = (size - 1) / 2
    if task in ("binary-class", "multi-class"):
        labels = rng.integers(0, n_classes, (n, 1))
        for i, c in enumerate(labels[:, 0]):
            angle = 2 * np.pi * c / n_classes
            cy, cx = centre + 0.3 * size * np.sin(angle), centre + 0.3 * size * np.cos(angle)
            images[i] += marker * _disc(size, cy, cx, size / 10)
    elif task == "ordinal-regression":
        labels = rng.integers(0, n_classes, (n, 1))
        for i, grade in enumerate(labels[:, 0]):
            images[i] += marker * _disc(size, centre, centre, size * (1 + grade) / (3 * n_classes))
    else:  # multi-label
        labels = (rng.random((n, n_classes)) < 0.3).astype(np.int64)
        cols = int(np.ceil(np.sqrt(n_classes)))
        step = size / (cols + 1)
        half = max(1, round(size / 16))
        for i, row in enumerate(labels):
            for k in np.flatnonzero(row):
                cy, cx = round(step * (1 + k // cols)), round(step * (1 + k % cols))
                images[i, cy - half : cy + half + 1, cx - half : cx + half + 1] += marker
    images = np.clip(images, 0, 1)
    if channels == 3:
        tint = rng.uniform(0.6, 1.0, (n, 1, 1, 3)).astype(np.float32)
        images = images[..., None] * tint
    return (images * 255).round().astype(np.uint8), labels.astype(np.int64)


def write_dataset(
    folder: str | Path,
    name: str,
    task: str,
    n_classes: int = 2,
    *,
    channels: int = 1,
    size: int = 28,
    sizes: dict[str, int] | None = None,
    seed: int = 0,
    marker: float = MARKER,
) -> Path:
    """Write a generated dataset ``name`` into ``folder``: ``<name>.npz`` (``<name>_<size>.npz``
    above 28 px) in the official layout and its description ``<name>.json``
    (:data:`helpers.data.medmnist.DESCRIPTION_KEYS`), each atomically. With ``folder`` as
    ``$MEDMNIST_DATA_DIR``, ``load_medmnist(name, size)`` loads it. Returns the ``.npz`` path."""
    sizes = dict(sizes or DEFAULT_SIZES)
    if task == "binary-class":
        n_classes = 2
    arrays = {}
    for k, split in enumerate(SPLITS):
        x, y = synthetic_images(
            task,
            sizes[split],
            n_classes,
            size=size,
            channels=channels,
            seed=seed + 1000 * k,
            marker=marker,
        )
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = x, y
    folder = Path(folder)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    target = folder / (f"{name}.npz" if size == 28 else f"{name}_{size}.npz")
    write_bytes(target, buffer.getvalue())
    if task.startswith("multi-label"):
        labels = [f"marker {k}" for k in range(n_classes)]
    elif task == "ordinal-regression":
        labels = [f"grade {k}" for k in range(n_classes)]
    else:
        labels = [f"place {k}" for k in range(n_classes)]
    description = {
        "python_class": "Synthetic",
        "modality": "synthetic chest phantoms" + (", tinted RGB" if channels == 3 else ""),
        "task": task,
        "labels": labels,
        "n_channels": channels,
        "n_samples": sizes,
        "license": "CC0 1.0 (generated)",
        "source": f"helpers.data.synthetic.write_dataset (seed {seed}, marker {marker:g})",
    }
    write_text(folder / f"{name}.json", json.dumps(description, indent=1) + "\n")
    return target
