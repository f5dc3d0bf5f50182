"""Scoring explanations: sanity checks (Adebayo et al. 2018), faithfulness (deletion and
insertion curves, Petsiuk et al. 2018) and localisation against known lesion masks
(pointing game, energy inside the mask). Taught in ``notebooks/05_explainability.ipynb``;
the heat-maps come from :mod:`helpers.explain.maps`.
"""

from __future__ import annotations

import keras
import numpy as np
from scipy import ndimage, stats


def rank_correlation(a: np.ndarray, b: np.ndarray, absolute: bool = True) -> float:
    """Spearman rank correlation between two heat-maps (of absolute values by default,
    as in Adebayo et al.: the sign convention of a method should not matter). NaN if
    either map is constant."""
    a, b = np.ravel(a), np.ravel(b)
    if absolute:
        a, b = np.abs(a), np.abs(b)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)


def mean_rank_correlation(
    maps_a: list[np.ndarray], maps_b: list[np.ndarray], absolute: bool = True
) -> float:
    """Mean :func:`rank_correlation` over paired maps, leaving out pairs with a constant map
    (a fully randomised network can give one); NaN when every pair has one. Notebook 05's
    cascading-randomisation table."""
    values = np.array(
        [rank_correlation(a, b, absolute) for a, b in zip(maps_a, maps_b, strict=True)]
    )
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def weight_groups(model: keras.Model) -> list[list[keras.layers.Layer]]:
    """The model's trainable blocks in forward order: each layer with weights starts a
    block, except batch norm, which joins the layer before it (conv + its BN)."""
    groups: list[list[keras.layers.Layer]] = []
    for layer in model.layers:
        if not layer.weights:
            continue
        if isinstance(layer, keras.layers.BatchNormalization) and groups:
            groups[-1].append(layer)
        else:
            groups.append([layer])
    return groups


def cascading_randomization(model: keras.Model, seed: int = 0) -> list[tuple[str, keras.Model]]:
    """Copies of ``model`` with its blocks re-initialised cumulatively from the output
    down (Adebayo et al.'s cascading randomisation): entry k has the top k blocks at fresh
    random initial values (their own initialisers, seeded) and the rest as trained.
    Returns ``[(name of the last block randomised, model copy), ...]``; the original
    model is not changed."""
    keras.utils.set_random_seed(seed)
    fresh = keras.models.clone_model(model)  # same architecture, newly initialised weights
    fresh_by_name = {layer.name: layer for layer in fresh.layers}
    groups = weight_groups(model)
    copies = []
    randomized: set[str] = set()
    for group in reversed(groups):
        randomized.update(layer.name for layer in group)
        copy = keras.models.clone_model(model)
        for layer in copy.layers:
            if layer.weights:
                source = (
                    fresh_by_name[layer.name]
                    if layer.name in randomized
                    else model.get_layer(layer.name)
                )
                layer.set_weights(source.get_weights())
        copies.append((group[0].name, copy))
    return copies


def reference_size(side: int) -> int:
    """The median filter's window (pixels per side) of :func:`lesion_free_reference` for an
    image ``side`` pixels wide: about 1/7 of the side, odd, at least 3 (9 at 64 px)."""
    return max(3, (side // 7) | 1)


def lesion_free_reference(image: np.ndarray, size: int | None = None) -> np.ndarray:
    """What 'information removed' looks like: a median filter over ``size`` pixels
    (default :func:`reference_size`) erases small bright structures such as nodules
    while keeping the edges of the anatomy, so the result still looks like an image of the
    training distribution. (RISE's insertion starts from a Gaussian-blurred copy and its
    deletion sets pixels to black; notebook 05 shows the phantom classifier calling
    blurred lesion-free phantoms 'lesion', so neither is used here.)"""
    image = np.asarray(image, dtype=np.float32)
    size = reference_size(image.shape[0]) if size is None else size
    footprint = (size, size) + (1,) * (image.ndim - 2)
    return ndimage.median_filter(image, size=footprint).astype(np.float32)


def deletion_insertion(
    model: keras.Model,
    image: np.ndarray,
    heat: np.ndarray,
    class_index: int = 1,
    *,
    steps: int = 16,
    seed: int = 0,
) -> dict[str, np.ndarray | float]:
    """Deletion and insertion curves of one heat-map. Pixels are ranked by ``heat``
    (highest first; ties broken at random with ``seed``). *Deletion* replaces each of the
    top fraction f of pixels by the same pixel of :func:`lesion_free_reference` (the
    median-filtered image; not black, not blurred) and records the class
    probability: a faithful map makes it fall fast (small area). *Insertion* starts from
    the reference and puts the top pixels back: a faithful map makes it rise fast (large
    area). Returns the fractions, both curves and their areas (trapezoid over f in [0, 1])."""
    x = np.asarray(image, dtype=np.float32)
    x = x[..., None] if x.ndim == 2 else x
    reference = lesion_free_reference(x)
    h, w = x.shape[:2]
    tiebreak = np.random.default_rng(seed).uniform(size=h * w) * 1e-9
    order = np.argsort(-(np.ravel(heat).astype(np.float64) + tiebreak), kind="stable")
    fractions = np.linspace(0.0, 1.0, steps + 1)
    deleted = np.repeat(x[None], len(fractions), axis=0)
    inserted = np.repeat(reference[None], len(fractions), axis=0)
    for k, fraction in enumerate(fractions):
        top = order[: int(round(fraction * h * w))]
        rows, cols = np.unravel_index(top, (h, w))
        deleted[k, rows, cols] = reference[rows, cols]
        inserted[k, rows, cols] = x[rows, cols]
    probabilities = model.predict(np.concatenate([deleted, inserted]), batch_size=256, verbose=0)
    if probabilities.shape[-1] == 1:
        probabilities = np.concatenate([1 - probabilities, probabilities], axis=1)
    p = probabilities[:, class_index]
    deletion, insertion = p[: len(fractions)], p[len(fractions) :]
    return {
        "fractions": fractions,
        "deletion": deletion,
        "insertion": insertion,
        "deletion_auc": float(np.trapezoid(deletion, fractions)),
        "insertion_auc": float(np.trapezoid(insertion, fractions)),
    }


def pointing_tolerance(side: int) -> int:
    """Zhang et al.'s 15-pixel tolerance at 224 px, scaled to an image of ``side`` pixels."""
    return max(1, int(round(15 * side / 224)))


def pointing_hit(heat: np.ndarray, mask: np.ndarray, tolerance: int | None = None) -> bool:
    """Pointing game (Zhang et al. 2016): does the map's maximum fall inside the lesion
    mask grown by ``tolerance`` pixels (default :func:`pointing_tolerance`)? Where several
    pixels share the maximum (a LIME segment), their centroid is the point."""
    heat = np.asarray(heat, dtype=np.float64)
    mask = np.asarray(mask, bool)
    tolerance = pointing_tolerance(mask.shape[0]) if tolerance is None else tolerance
    grown = ndimage.binary_dilation(mask, iterations=tolerance) if tolerance else mask
    rows, cols = np.nonzero(heat == heat.max())
    return bool(grown[int(round(rows.mean())), int(round(cols.mean()))])


def energy_inside(heat: np.ndarray, mask: np.ndarray) -> float:
    """Share of the map's positive mass inside the lesion mask (NaN for a map with no
    positive values). A random map scores the mask's share of the image."""
    positive = np.clip(np.asarray(heat, dtype=np.float64), 0, None)
    total = positive.sum()
    return float(positive[np.asarray(mask, bool)].sum() / total) if total > 0 else float("nan")


def lesion_regions(mask: np.ndarray) -> int:
    """Number of separate lesion regions in a mask (8-connected components): two lesions
    that touch or overlap form one region."""
    return int(ndimage.label(np.asarray(mask, bool), structure=np.ones((3, 3)))[1])


def centroid_distance(heat: np.ndarray, mask: np.ndarray) -> float:
    """Distance in pixels from the centroid of the map's positive mass to the nearest
    lesion pixel (0 inside the lesion): a smooth map can be centred on the lesion even
    when its single peak is not.

    Defined only where the lesion pixels form **one** region (:func:`lesion_regions`):
    with two separate lesions, the centroid of a map that marks both lies between them,
    far from either, so the score would punish the better map. NaN there, and NaN for a
    map with no positive values; notebook 05 scores one-region phantoms and says how
    many."""
    positive = np.clip(np.asarray(heat, dtype=np.float64), 0, None)
    mask = np.asarray(mask, bool)
    if positive.sum() <= 0 or lesion_regions(mask) != 1:
        return float("nan")
    cy, cx = ndimage.center_of_mass(positive)
    distance_to_lesion = ndimage.distance_transform_edt(~mask)
    return float(ndimage.map_coordinates(distance_to_lesion, [[cy], [cx]], order=1)[0])
