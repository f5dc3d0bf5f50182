"""Published test-split results on MedMNIST, for the comparison tables of
``notebooks/03_training.ipynb`` and ``notebooks/04_evaluation.ipynb``.

Numbers are copied from the papers (no confidence intervals were published):

- MedMNIST v2: J. Yang et al., "MedMNIST v2 - A large-scale lightweight benchmark for 2D
  and 3D biomedical image classification", *Scientific Data* 10, 41 (2023), Table 4.
- MedMNIST+: S. Doerrich et al., "Rethinking model prototyping through the MedMNIST+
  dataset collection" (2024), best result at 128 px.
"""

from __future__ import annotations

import pandas as pd

#: (dataset flag, model, input size in px, test AUC, test ACC, source). MedMNIST v2's
#: Google AutoML Vision was trained on the 28 px images.
PUBLISHED = (
    ("pneumoniamnist", "ResNet-18 (28)", 28, 0.944, 0.854, "MedMNIST v2"),
    ("pneumoniamnist", "Google AutoML Vision", 28, 0.991, 0.946, "MedMNIST v2"),
    ("breastmnist", "ResNet-18 (28)", 28, 0.901, 0.863, "MedMNIST v2"),
    ("breastmnist", "Google AutoML Vision", 28, 0.919, 0.861, "MedMNIST v2"),
    ("breastmnist", "best of MedMNIST+ at 128 px", 128, 0.940, 0.906, "MedMNIST+"),
)
COLUMNS = ["dataset", "model", "px", "test AUC", "test ACC", "source"]


def published(flags: tuple[str, ...] | list[str] | None = None) -> pd.DataFrame:
    """The published rows (columns dataset, model, px (the input size), test AUC, test ACC,
    source), for ``flags`` or all."""
    rows = [
        dict(zip(COLUMNS, row, strict=True))
        for row in PUBLISHED
        if flags is None or row[0] in flags
    ]
    return pd.DataFrame(rows, columns=COLUMNS)
