"""Duplicate and leakage detection finds planted copies and nothing else."""

from __future__ import annotations

import numpy as np

from helpers.data.leakage import leakage_report, leakage_summary, near_duplicates
from helpers.data.medmnist import MedMNIST, medmnist_info


def _images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28), dtype=np.uint8)


def test_planted_exact_and_brightened_copies_are_found():
    ref = _images(50, 0)
    query = _images(10, 1)
    query[3] = ref[17]  # exact copy
    query[6] = np.clip(ref[40].astype(int) // 2 + 60, 0, 255).astype(np.uint8)  # contrast change
    pairs = near_duplicates(query, ref, threshold=0.98)
    found = {(r.query_index, r.reference_index, r.exact) for r in pairs.itertuples()}
    assert found == {(3, 17, True), (6, 40, False)}


def test_self_comparison_reports_each_pair_once_and_never_an_image_with_itself():
    x = _images(30, 2)
    x[20] = x[5]
    pairs = near_duplicates(x)
    assert pairs[["query_index", "reference_index"]].values.tolist() == [[5, 20]]


def test_leakage_report_across_splits_with_labels():
    info = medmnist_info("breastmnist")
    images = {s: _images(info.n_samples[s], k) for k, s in enumerate(("train", "val", "test"))}
    labels = {s: np.zeros(info.n_samples[s], np.int64) for s in images}
    images["test"][5] = images["train"][9]
    labels["test"][5] = 1  # same image, other label: a conflict
    ds = MedMNIST(
        info=info, path=None, checksum_ok=True, md5="generated", images=images, labels=labels
    )
    report = leakage_report(ds)
    assert report[["split_a", "index_a", "split_b", "index_b"]].values.tolist() == [
        ["train", 9, "test", 5]
    ]
    summary = leakage_summary(report)
    assert summary.to_dict("records") == [
        {"splits": "train-test", "pairs": 1, "exact": 1, "label_conflicts": 1}
    ]
