"""The refusal-rate interval of helpers.deploy.ood, and chunked scoring of
helpers.deploy.latency (notebook 08)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.deploy.latency import scores_in_chunks
from helpers.deploy.ood import refusal_interval


def test_refusal_interval_is_wider_than_one_that_treats_the_threshold_as_known():
    rng = np.random.default_rng(0)
    calibration, scored = rng.standard_normal(150), rng.standard_normal(2000)
    estimate, low, high = refusal_interval(calibration, scored, 0.99, n_boot=2000, seed=1)
    threshold = np.quantile(calibration, 0.99)
    assert estimate == pytest.approx(np.mean(scored > threshold))
    assert low <= estimate <= high
    # Interval over the scored images only (threshold fixed): binomial width.
    fixed = np.mean(rng.choice(scored, (2000, len(scored))) > threshold, axis=1)
    fixed_low, fixed_high = np.quantile(fixed, [0.025, 0.975])
    assert high - low > 2 * (fixed_high - fixed_low)  # 150 calibration images: the threshold moves


def test_refusal_interval_is_deterministic_and_checks_its_input():
    scores = np.arange(100.0)
    assert refusal_interval(scores, scores, seed=3) == refusal_interval(scores, scores, seed=3)
    assert refusal_interval(scores, scores + 1000)[0] == 1.0
    with pytest.raises(ValueError):
        refusal_interval(scores[:1], scores)
    with pytest.raises(ValueError):
        refusal_interval(scores, scores, quantile=1.0)


def test_scores_in_chunks_calls_with_at_most_chunk_images_and_keeps_order():
    sizes = []

    def fn(x):
        sizes.append(len(x))
        return x[:, None] * 2

    out = scores_in_chunks(fn, np.arange(150.0), chunk=64)
    np.testing.assert_array_equal(out, np.arange(150.0) * 2)
    assert sizes == [64, 64, 22]
