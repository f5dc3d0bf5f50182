"""Scoring generated images (helpers.evaluate.generative) and the generative runs of
helpers.train.generative (notebook 09)."""

import numpy as np
import pytest

from helpers.evaluate.generative import (
    matched_frechet,
    mean_pairwise_distance,
    nearest_distance,
)


def test_matched_frechet_uses_equal_n_and_class_mix_and_ranks_a_shifted_generator_last():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], [40, 80])
    real = rng.normal(size=(120, 3)) + labels[:, None] * 2.0
    same = {c: rng.normal(size=(100, 3)) + c * 2.0 for c in (0, 1)}
    shifted = {c: rng.normal(size=(100, 3)) + c * 2.0 + 3.0 for c in (0, 1)}
    # all of one class: right marginal per class is what matters, so a class-swapped set is far
    swapped = {c: rng.normal(size=(100, 3)) + (1 - c) * 2.0 for c in (0, 1)}
    rows = matched_frechet(
        real, labels, {"same": same, "shifted": shifted, "swapped": swapped}, repeats=3
    )
    assert len(rows) == 3 and all(r["n"] == 60 for r in rows)
    for r in rows:
        assert r["real"] < r["shifted"] and r["same"] < r["shifted"]
        assert r["same"] < r["swapped"]  # 20 + 40 per class drawn, not the pool's mix
    with pytest.raises(ValueError, match="need"):
        matched_frechet(real, labels, {"few": {0: same[0][:5], 1: same[1]}}, repeats=1)


def test_diversity_and_memorisation_measures():
    rng = np.random.default_rng(1)
    varied = rng.random((20, 4, 4))
    collapsed = np.repeat(varied[:1], 20, axis=0)
    assert mean_pairwise_distance(collapsed) == pytest.approx(0.0)
    assert mean_pairwise_distance(varied) > 0.5
    copies = varied[:5] + 1e-3
    assert nearest_distance(copies, varied).max() < 0.01
    assert nearest_distance(rng.random((5, 4, 4)), varied).min() > 0.01


def test_generate_rejects_unknown_kind():
    from helpers.train.generative import generate

    with pytest.raises(ValueError, match="unknown generator kind"):
        generate("diffusion", "pneumoniamnist", [0], {}, 1)


def test_augmentation_runs_add_the_generated_images_and_can_leave_out_real_only(
    phantom_data, monkeypatch
):
    import dataclasses

    from helpers.train import generative
    from helpers.train.config import TrainConfig

    monkeypatch.setattr(generative, "load_medmnist", lambda *args, **kwargs: phantom_data)
    config = TrainConfig(
        model="compact_cnn",
        dataset="phantoms",
        epochs=1,
        batch_size=32,
        augment=0.0,
        patience=None,
        model_options={"width": 2},
    )
    x, y = phantom_data.split("train")
    keep = list(range(20))
    extra = {"real + copies": {"x": x[20:50], "y": y[20:50]}}
    rows = generative.augmentation_runs(dataclasses.asdict(config), keep, extra, seeds=[0])
    assert [(r["training set"], r["train images"]) for r in rows] == [
        ("real only", 20),
        ("real + copies", 50),
    ]
    assert all(0 <= r["test AUC"] <= 1 for r in rows)
    only = generative.augmentation_runs(
        dataclasses.asdict(config), keep, extra, seeds=[0], include_real=False
    )
    assert [r["training set"] for r in only] == ["real + copies"]
    assert only[0]["test AUC"] == rows[1]["test AUC"]  # same seed, same data: same model
