"""Data quality: exact and near-duplicate images within and across splits (leakage).

Taught in ``notebooks/01_data.ipynb``. A test image that also sits in the training
split is not a test of generalisation: the model may simply remember it. Near
duplicates are found by Pearson correlation of the pixel values (each image centred and
scaled to unit norm, so brightness and contrast changes do not hide a copy), computed
as a matrix product in chunks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.data.medmnist import SPLITS, MedMNIST


def _unit_rows(images: np.ndarray) -> np.ndarray:
    x = np.asarray(images, dtype=np.float32).reshape(len(images), -1)
    x = x - x.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-8)


def near_duplicates(
    query: np.ndarray,
    reference: np.ndarray | None = None,
    *,
    threshold: float = 0.98,
    chunk: int = 1024,
) -> pd.DataFrame:
    """Every pair (query image, reference image) whose pixel correlation is at least
    ``threshold``: one query image can appear in several pairs. With ``reference=None``
    the query set is compared with itself (each unordered pair once, an image never with
    itself).

    Columns: ``query_index``, ``reference_index``, ``correlation``, ``max_abs_diff``
    (largest pixel difference, 0 for byte-identical images) and ``exact``.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    self_compare = reference is None
    ref = query if self_compare else reference
    q_unit, r_unit = _unit_rows(query), _unit_rows(ref)
    rows = []
    for start in range(0, len(q_unit), chunk):
        sim = q_unit[start : start + chunk] @ r_unit.T
        if self_compare:  # keep j > i only: each pair once, never an image with itself
            i = np.arange(start, start + len(sim))[:, None]
            sim = np.where(np.arange(len(r_unit))[None, :] > i, sim, -np.inf)
        # Rounding noise can put an identical pair a hair under 1.0: allow 1e-5.
        qi, rj = np.nonzero(sim >= threshold - 1e-5)
        for a, b in zip(qi + start, rj):
            diff = np.abs(query[a].astype(np.int64) - ref[b].astype(np.int64)).max()
            rows.append((int(a), int(b), float(min(sim[a - start, b], 1.0)), int(diff)))
    df = pd.DataFrame(
        rows, columns=["query_index", "reference_index", "correlation", "max_abs_diff"]
    )
    df["exact"] = df["max_abs_diff"] == 0
    return df


def leakage_report(dataset: MedMNIST, threshold: float = 0.98) -> pd.DataFrame:
    """Every near-duplicate pair within and across the splits of a MedMNIST dataset,
    with both labels. Columns: ``split_a``, ``index_a``, ``label_a``, ``split_b``,
    ``index_b``, ``label_b``, ``correlation``, ``exact``."""
    frames = []
    for i, split_a in enumerate(SPLITS):
        for split_b in SPLITS[i:]:
            xa, ya = dataset.split(split_a)
            xb, yb = dataset.split(split_b)
            pairs = near_duplicates(xa, None if split_a == split_b else xb, threshold=threshold)
            if pairs.empty:
                continue
            frames.append(
                pd.DataFrame(
                    {
                        "split_a": split_a,
                        "index_a": pairs["query_index"],
                        "label_a": ya[pairs["query_index"].to_numpy()].tolist(),
                        "split_b": split_b,
                        "index_b": pairs["reference_index"],
                        "label_b": yb[pairs["reference_index"].to_numpy()].tolist(),
                        "correlation": pairs["correlation"],
                        "exact": pairs["exact"],
                    }
                )
            )
    columns = [
        "split_a",
        "index_a",
        "label_a",
        "split_b",
        "index_b",
        "label_b",
        "correlation",
        "exact",
    ]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def leakage_summary(report: pd.DataFrame) -> pd.DataFrame:
    """Counts per split pair: pairs, exact pairs, pairs whose labels disagree."""
    if report.empty:
        return pd.DataFrame(columns=["splits", "pairs", "exact", "label_conflicts"])
    grouped = report.assign(
        splits=report["split_a"] + "-" + report["split_b"],
        conflict=report["label_a"] != report["label_b"],
    )
    return (
        grouped.groupby("splits", sort=False)
        .agg(pairs=("exact", "size"), exact=("exact", "sum"), label_conflicts=("conflict", "sum"))
        .reset_index()
    )
