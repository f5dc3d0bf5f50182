"""Segmentation metrics, detection from probability maps, FROC, U-Net and progression
builders, and the folder loaders for masks and series."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from helpers.data.imagefiles import ImageFileError, load_mask_pairs, load_series_folder
from helpers.evaluate.segmentation import dice_score, hausdorff95, iou_score
from helpers.evaluate.uncertainty import bootstrap_ci
from helpers.lesions import detection as det


def _square(size=20, y=5, x=5, side=6):
    m = np.zeros((size, size), bool)
    m[y : y + side, x : x + side] = True
    return m


def test_dice_and_iou_by_hand():
    a, b = _square(), _square(x=8)  # 6x6 squares overlapping on 6x3
    assert dice_score(a, b) == pytest.approx(2 * 18 / 72)
    assert iou_score(a, b) == pytest.approx(18 / 54)
    empty = np.zeros((4, 4), bool)
    assert dice_score(empty, empty) == 1.0 and iou_score(empty, empty) == 1.0
    assert dice_score(a, np.zeros_like(a)) == 0.0


def test_hausdorff95_of_a_shifted_square():
    assert hausdorff95(_square(), _square()) == 0.0
    assert hausdorff95(_square(), _square(x=8)) == pytest.approx(3.0)
    assert np.isnan(hausdorff95(_square(), np.zeros((20, 20), bool)))


def test_bootstrap_ci_brackets_the_mean_and_repeats():
    values = np.random.default_rng(0).normal(0.8, 0.1, 200)
    est, low, high = bootstrap_ci(values, seed=1)
    assert low < est < high and high - low < 0.05
    assert bootstrap_ci(values, seed=1) == (est, low, high)


def test_boxes_from_probability_and_matching():
    prob = np.zeros((30, 30))
    prob[2:6, 3:9] = 0.9
    prob[20:25, 20:24] = 0.6
    prob[15, 15] = 0.99  # a single pixel: below min_area
    boxes, scores = det.boxes_from_probability(prob, 0.5, min_area=3)
    assert boxes.tolist() == [[2, 3, 6, 9], [20, 20, 25, 24]] and scores.tolist() == [0.9, 0.6]
    truth = np.array([[2, 3, 6, 9], [10, 10, 14, 14]])
    assert det.match_boxes(boxes, scores, truth).tolist() == [True, False]
    assert det.box_iou(np.array([[0, 0, 2, 2]]), np.array([[1, 1, 3, 3]]))[0, 0] == pytest.approx(
        1 / 7
    )


def test_froc_counts_false_positives_per_image():
    truths = [np.array([[0, 0, 4, 4]]), np.array([[10, 10, 14, 14]])]
    predictions = [
        (np.array([[0, 0, 4, 4], [20, 20, 24, 24]]), np.array([0.9, 0.3])),  # hit + FP
        (np.array([[30, 30, 34, 34]]), np.array([0.8])),  # FP, lesion missed
    ]
    fp, sens, thresholds = det.froc_curve(predictions, truths)
    assert thresholds.tolist() == [0.9, 0.8, 0.3]
    assert sens.tolist() == [0.5, 0.5, 0.5] and fp.tolist() == [0.0, 0.5, 1.0]
    assert (
        det.sensitivity_at_fp(fp, sens, 1.0) == 0.5 and det.sensitivity_at_fp(fp, sens, -1) == 0.0
    )


def test_missed_lesions_come_from_the_same_matching_as_the_hits():
    # Two identical true boxes and one predicted box with IoU 1 to both: the box matches
    # one lesion only, so the other is missed although its best IoU is 1 (a count of
    # "best IoU below the threshold" would call it found). A third image has no box.
    truths = [
        np.array([[0, 0, 4, 4], [0, 0, 4, 4]]),
        np.array([[10, 10, 14, 14]]),
        np.array([[5, 5, 9, 9]]),
    ]
    predictions = [
        (np.array([[0, 0, 4, 4]]), np.array([0.9])),
        (np.array([[11, 11, 15, 15]]), np.array([0.8])),  # IoU 9/23 with its lesion
        (np.zeros((0, 4), int), np.zeros(0)),
    ]
    _, hits, _, n_lesions, _ = det.detection_table(predictions, truths)
    outcome = det.lesion_outcomes(predictions, truths)
    assert (~outcome["found"]).sum() == n_lesions - hits.sum() == 3
    assert outcome["found"].tolist() == [True, False, False, False]
    assert outcome["best_iou"].tolist() == pytest.approx([1.0, 1.0, 9 / 23, 0.0])
    assert outcome["image"].tolist() == [0, 0, 1, 2] and outcome["lesion"].tolist() == [0, 1, 0, 0]
    pred_hits, found = det.match_detections(*predictions[0], truths[0])
    assert pred_hits.tolist() == [True] and found.sum() == 1


def test_froc_point_says_when_a_budget_is_never_reached():
    fp = np.array([0.0, 0.05, 0.2])
    sens = np.array([0.5, 0.7, 0.8])
    thresholds = np.array([0.9, 0.5, 0.1])
    point = det.froc_point(fp, sens, thresholds, 0.1)
    assert point == {"sensitivity": 0.7, "fp_per_image": 0.05, "threshold": 0.5, "reached": True}
    beyond = det.froc_point(fp, sens, thresholds, 1.0)
    assert not beyond["reached"] and beyond["fp_per_image"] == 0.2 and beyond["sensitivity"] == 0.8
    assert det.froc_point(fp + 1, sens, thresholds, 0.5)["sensitivity"] == 0.0


def test_unet_and_progression_shapes():
    from helpers.models.cnn_gru import progression_model
    from helpers.models.unet import unet

    assert unet((32, 32, 1), depth=2, width=4).output_shape == (None, 32, 32, 1)
    with pytest.raises(ValueError, match="not divisible"):
        unet((30, 30, 1), depth=2)
    model = progression_model(4, 32, width=4, recurrent_units=8)
    out = model([np.zeros((2, 4, 32, 32, 1), np.float32), np.zeros((2, 4), np.float32)])
    assert out["next_area"].shape == (2, 1) and out["trend"].shape == (2, 3)


def test_dice_bce_loss_is_small_for_a_perfect_mask():
    from helpers.models.losses import dice_bce_loss

    truth = _square()[None, ..., None].astype("float32")
    perfect = np.clip(truth, 1e-4, 1 - 1e-4)
    wrong = 1.0 - perfect
    assert float(np.mean(dice_bce_loss(truth, perfect))) < 0.01
    assert float(np.mean(dice_bce_loss(truth, wrong))) > 1.0


def _save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_mask_pairs_loader(tmp_path):
    for k in range(3):
        _save(tmp_path / "images" / f"case{k}.png", np.full((40, 40), 60 * k, np.uint8))
        _save(tmp_path / "masks" / f"case{k}.png", (_square(40, 10, 10, 12) * 255).astype(np.uint8))
    x, y, stems = load_mask_pairs(tmp_path / "images", tmp_path / "masks", size=(20, 20))
    assert (
        x.shape == (3, 20, 20, 1)
        and y.shape == (3, 20, 20)
        and stems == ["case0", "case1", "case2"]
    )
    assert 30 <= y[0].sum() <= 42  # the 12x12 square at half size
    (tmp_path / "masks" / "case2.png").unlink()
    with pytest.raises(ImageFileError, match=r"masks: no mask for image\(s\) case2\.png"):
        load_mask_pairs(tmp_path / "images", tmp_path / "masks")


def test_series_loader_orders_visits_naturally(tmp_path):
    for visit in (1, 2, 10):
        _save(tmp_path / "patientA" / f"visit{visit}.png", np.full((8, 8), visit * 20, np.uint8))
    _save(tmp_path / "patientB" / "visit1.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(
        ImageFileError, match=r"patientB: 1 visit image\(s\); a series needs at least 2"
    ):
        load_series_folder(tmp_path)
    _save(tmp_path / "patientB" / "visit2.png", np.zeros((8, 8), np.uint8))
    names, series = load_series_folder(tmp_path, size=(8, 8))
    assert names == ["patientA", "patientB"]
    assert [round(float(v.mean()) * 255) for v in series[0]] == [20, 40, 200]


def test_progression_baselines_and_tolerance():
    from helpers.data.phantoms import make_visit_series
    from helpers.lesions.progression import baselines, fit_tolerance, trend_from_change

    series = make_visit_series(30, n_visits=5, size=32, seed=3, jitter=0.0)
    out = baselines(series)
    observed = series.areas[:, :-1]
    np.testing.assert_array_equal(out["last visit"]["next_area"], observed[:, -1])
    # without jitter the linear slope's sign gives the trend of every growing/shrinking patient
    change = out["linear extrapolation"]["change"]
    assert (change[series.trend == 2] > 0).all() and (change[series.trend == 0] < 0).all()
    tolerance = fit_tolerance(change, series.trend)
    assert (trend_from_change(change, tolerance) == series.trend).mean() > 0.9
    assert trend_from_change(np.array([-0.5, 0.0, 0.5]), 0.1).tolist() == [0, 1, 2]


def test_multiclass_auc_accepts_unnormalised_scores():
    from helpers.evaluate.metrics import auc_score

    y = np.array([0, 1, 2, 0, 1, 2])
    scores = np.eye(3)[y] * 5.0  # perfect, and not probabilities
    assert auc_score(y, scores, "multi-class") == 1.0


def test_froc_by_map_threshold_finds_the_faint_lesion_at_low_thresholds():
    prob = np.zeros((1, 30, 30))
    prob[0, 2:6, 2:6] = 0.9  # a confident lesion
    prob[0, 20:24, 20:24] = 0.3  # a faint one
    prob[0, 10:13, 25:28] = 0.2  # a false alarm
    truths = [np.array([[2, 2, 6, 6], [20, 20, 24, 24]])]
    fp, sens, thresholds = det.froc_by_map_threshold(prob, truths, thresholds=[0.5, 0.25, 0.1])
    assert list(zip(fp.tolist(), sens.tolist(), thresholds.tolist())) == [
        (0.0, 0.5, 0.5),
        (0.0, 1.0, 0.25),
        (1.0, 1.0, 0.1),
    ]


def test_unet_and_progression_training_run_and_cache(tmp_path, monkeypatch):
    """Tiny end-to-end runs of the two training functions and their caches."""
    from helpers.data.phantoms import phantom_splits
    from helpers.lesions.progression import load_or_train_progression, predict, series_splits
    from helpers.lesions.segmentation import DEFAULTS, load_or_train_unet, predict_masks

    monkeypatch.setenv("MEDIMG_ROOT", str(tmp_path))
    seg = {
        "n_train": 24,
        "n_val": 8,
        "n_test": 8,
        "size": 32,
        "depth": 2,
        "width": 4,
        "epochs": 2,
        "batch_size": 8,
    }
    model, meta, cached = load_or_train_unet(seg, verbose=False)
    assert not cached and len(meta["history"]) == 2
    assert meta["best_val_soft_dice"] == max(h["score"] for h in meta["history"])
    probabilities = predict_masks(model, phantom_splits({**DEFAULTS, **seg})["test"].images)
    assert (
        probabilities.shape == (8, 32, 32)
        and 0.0 <= probabilities.min()
        and probabilities.max() <= 1.0
    )
    assert load_or_train_unet(seg, verbose=False)[2] is True

    prog = {"n_train": 12, "n_val": 6, "n_test": 6, "size": 32, "width": 2, "units": 4, "epochs": 2}
    model, meta, cached = load_or_train_progression(prog, verbose=False)
    out = predict(model, series_splits(prog)["test"], meta["params"]["area_scale"])
    assert out["next_area"].shape == (6,) and out["trend_scores"].shape == (6, 3)
    assert (out["next_area"] >= 0).all()


def test_touching_blobs_are_split_only_when_asked():
    yy, xx = np.mgrid[:30, :30]
    prob = (
        ((yy - 12) ** 2 + (xx - 8) ** 2 <= 25) | ((yy - 12) ** 2 + (xx - 17) ** 2 <= 25)
    ).astype(float)
    merged, _ = det.boxes_from_probability(prob, 0.5)
    split, _ = det.boxes_from_probability(prob, 0.5, split_min_distance=3)
    assert len(merged) == 1 and len(split) == 2
    truth = np.array([[7, 3, 18, 14], [7, 12, 18, 23]])
    assert det.match_boxes(split, np.ones(2), truth, iou=0.5).all()
    # The FROC over map thresholds passes the split on: both lesions found, no false positive.
    fp, sens, _ = det.froc_by_map_threshold(
        prob[None], [truth], thresholds=[0.5], split_min_distance=3
    )
    assert sens.tolist() == [1.0] and fp.tolist() == [0.0]
    fp, sens, _ = det.froc_by_map_threshold(prob[None], [truth], thresholds=[0.5])
    assert sens.tolist() == [0.5] and fp.tolist() == [
        0.0
    ]  # the merged box overlaps one lesion at IoU 0.55


def test_train_unet_loss_option_leaves_the_default_and_the_cache_key_alone():
    """``train_unet(loss=...)``: the default is Dice + BCE; other losses train as well; the
    loss is not a parameter, so the cache key of ``load_or_train_unet`` cannot change."""
    from helpers.data.phantoms import phantom_splits
    from helpers.lesions.segmentation import DEFAULTS, LOSSES, train_unet
    from helpers.models.losses import dice_bce_loss, dice_loss

    assert "loss" not in DEFAULTS and LOSSES["dice_bce"] is dice_bce_loss
    seg = {"n_train": 8, "n_val": 4, "n_test": 4, "size": 32, "depth": 2, "width": 4}
    seg = {**seg, "epochs": 1, "batch_size": 8}
    data = phantom_splits({**DEFAULTS, **seg})
    default, meta = train_unet(seg, data, verbose=False)
    assert default.loss is dice_bce_loss and len(meta["history"]) == 1
    for loss in ("binary_crossentropy", "dice"):
        model, meta = train_unet(seg, data, verbose=False, loss=loss)
        assert model.loss == LOSSES.get(loss, loss) and np.isfinite(meta["history"][0]["loss"])
    truth = _square()[None, ..., None].astype("float32")
    assert float(np.mean(dice_loss(truth, truth))) == pytest.approx(0.0, abs=1e-6)


def test_progression_without_areas_sees_images_only():
    """``progression_model(use_areas=False)`` and ``params["use_areas"] = False``."""
    from helpers.lesions.progression import (
        DEFAULTS,
        model_inputs,
        predict,
        series_splits,
        train_progression,
        uses_areas,
    )
    from helpers.models.cnn_gru import progression_model

    assert "use_areas" not in DEFAULTS  # the default cache key is unchanged
    with_areas = progression_model(4, 32, width=4, recurrent_units=8)
    images_only = progression_model(4, 32, width=4, recurrent_units=8, use_areas=False)
    assert uses_areas(with_areas) and not uses_areas(images_only)
    assert len(images_only.inputs) == 1
    # the area joins the 4 * width encoder features: one more input row in the GRU kernel
    gru_params = with_areas.get_layer("gru").count_params()
    assert gru_params - images_only.get_layer("gru").count_params() == 3 * 8
    out = images_only({"images": np.zeros((2, 4, 32, 32, 1), np.float32)})
    assert out["next_area"].shape == (2, 1) and out["trend"].shape == (2, 3)

    prog = {"n_train": 6, "n_val": 3, "n_test": 3, "size": 32, "width": 2, "units": 4}
    prog = {**prog, "epochs": 1, "use_areas": False}
    data = series_splits(prog)
    assert set(model_inputs(data["test"], 100.0, use_areas=False)) == {"images"}
    model, _ = train_progression(prog, data, verbose=False)
    assert not uses_areas(model)
    assert predict(model, data["test"], 100.0)["next_area"].shape == (3,)
