"""Procedural chest-like phantoms with exact ground truth: generated, never stored.

Taught in ``notebooks/01_data.ipynb``; used by the explainability (masks to score
heat-maps against), segmentation/detection (masks, boxes) and progression (visit
series) notebooks, and by the tests.

Each phantom has a body outline, two dark lung fields, a brighter heart and spine,
curved rib shadows, blur and noise. A positive phantom carries one or more lesions
inside the lungs: a *nodule* (a small disc with a soft edge) or a *diffuse opacity*
(a wide, faint Gaussian cloud). Its mask, box and kind are known exactly.

Image ``i`` depends only on ``(seed, i)`` (its own random generator), so the first
100 phantoms of a set of 2 000 are the 100 phantoms of a set of 100.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

#: Bump when the generator changes what a seed draws: cached models trained on phantoms
#: key on it (:func:`fingerprint`).
GENERATOR_VERSION = 1
LESION_KINDS = ("nodule", "opacity")
TREND_NAMES = ("shrinking", "stable", "growing")


@dataclass
class PhantomSet:
    """Phantom images with their ground truth.

    ``boxes[i]`` is an int array (k, 4) of ``[y0, x0, y1, x1]`` (y1, x1 exclusive) for
    the k lesions of image i; ``lesion_kinds[i]`` names them; ``masks`` is the union of
    lesion masks; ``lesion_masks[i]`` is a bool array (k, S, S), one mask per lesion.
    """

    images: np.ndarray  # float32 (N, S, S) in [0, 1]
    labels: np.ndarray  # int64 (N,): 1 = at least one lesion
    masks: np.ndarray  # bool (N, S, S)
    lung_masks: np.ndarray  # bool (N, S, S)
    boxes: list[np.ndarray]
    lesion_kinds: list[list[str]]
    lesion_masks: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.images)


@dataclass
class VisitSeries:
    """The same phantom patient over T visits, with one nodule that shrinks, stays or
    grows. ``trend`` indexes :data:`TREND_NAMES`; ``areas`` are mask areas in pixels."""

    images: np.ndarray  # float32 (P, T, S, S)
    masks: np.ndarray  # bool (P, T, S, S)
    areas: np.ndarray  # float32 (P, T)
    radii: np.ndarray  # float32 (P, T), nodule radius in pixels
    trend: np.ndarray  # int64 (P,)
    shifts: np.ndarray  # int64 (P, T, 2): misregistration (dy, dx) per visit

    def __len__(self) -> int:
        return len(self.images)


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised coordinates in [-1, 1]: (rows, columns)."""
    axis = np.linspace(-1.0, 1.0, size, dtype=np.float32)
    return axis[:, None], axis[None, :]


def _anatomy(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One chest-like background (float32, before blur and noise) and its lung mask."""
    yy, xx = _grid(size)
    body = ((xx / (0.92 + 0.05 * rng.random())) ** 2 + (yy / 1.1) ** 2) <= 1.0
    img = np.where(body, np.float32(0.55 + 0.1 * rng.random()), np.float32(0.04))
    # Lungs: two tilted ellipses; the left and right of the patient differ a little.
    lungs = np.zeros((size, size), dtype=bool)
    for side in (-1.0, 1.0):
        cx = side * (0.40 + 0.04 * rng.standard_normal())
        cy = -0.05 + 0.04 * rng.standard_normal()
        rx, ry = 0.27 + 0.03 * rng.random(), 0.58 + 0.06 * rng.random()
        lungs |= ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0
    # The heart sits low and to the patient's left (the image's right).
    heart = ((xx - 0.12) / (0.26 + 0.03 * rng.random())) ** 2 + ((yy - 0.32) / 0.3) ** 2 <= 1.0
    lungs &= ~heart
    img = np.where(lungs, np.float32(0.18 + 0.06 * rng.random()), img)
    img = np.where(heart, np.float32(0.68), img)
    # Spine: a bright vertical band; ribs: curved bands across the lung fields.
    img = img + 0.12 * np.exp(-((xx / 0.07) ** 2)) * body
    phase, freq = rng.uniform(0, 2 * np.pi), 5.5 + rng.random()
    ribs = np.maximum(0.0, np.cos(2 * np.pi * freq * (yy - 0.35 * xx**2) / 2 + phase)) ** 6
    img = img + (0.10 + 0.04 * rng.random()) * ribs * lungs
    return img.astype(np.float32), lungs


def _nodule(size: int, cy: float, cx: float, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """A disc with a soft one-pixel edge (profile in [0, 1]) and its mask, in pixels."""
    rows = np.arange(size, dtype=np.float32)[:, None]
    cols = np.arange(size, dtype=np.float32)[None, :]
    dist = np.sqrt((rows - cy) ** 2 + (cols - cx) ** 2)
    profile = np.clip(radius + 0.5 - dist, 0.0, 1.0) * (1.0 - 0.3 * (dist / max(radius, 1e-6)) ** 2)
    return np.clip(profile, 0.0, 1.0), dist <= radius


def _opacity(
    size: int, cy: float, cx: float, sy: float, sx: float
) -> tuple[np.ndarray, np.ndarray]:
    """A wide Gaussian cloud and its half-maximum mask, in pixels."""
    rows = np.arange(size, dtype=np.float32)[:, None]
    cols = np.arange(size, dtype=np.float32)[None, :]
    profile = np.exp(-0.5 * (((rows - cy) / sy) ** 2 + ((cols - cx) / sx) ** 2))
    return profile.astype(np.float32), profile >= 0.5


def _box(mask: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return np.array([rows[0], cols[0], rows[-1] + 1, cols[-1] + 1], dtype=np.int64)


def _finish(img: np.ndarray, rng: np.random.Generator, noise: float, blur: float) -> np.ndarray:
    """Blur (detector unsharpness), add noise, clip to [0, 1]."""
    img = ndimage.gaussian_filter(img, blur, mode="nearest")
    img = img + noise * rng.standard_normal(img.shape, dtype=np.float32)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def _draw_lesion(
    rng: np.random.Generator, lungs: np.ndarray, scale: float
) -> tuple[np.ndarray, np.ndarray, str, float]:
    """Pick a kind and a place inside the lungs; returns (profile, mask, kind, contrast)."""
    size = lungs.shape[0]
    inner = ndimage.binary_erosion(lungs, iterations=max(1, int(round(3 * scale))))
    candidates = np.flatnonzero(inner if inner.any() else lungs)
    for _ in range(20):
        cy, cx = np.divmod(int(rng.choice(candidates)), size)
        kind = LESION_KINDS[int(rng.random() < 0.35)]
        if kind == "nodule":
            profile, mask = _nodule(size, cy, cx, radius=scale * rng.uniform(2.2, 5.0))
            contrast = rng.uniform(0.22, 0.40)
        else:
            profile, mask = _opacity(
                size, cy, cx, sy=scale * rng.uniform(3.5, 6.5), sx=scale * rng.uniform(3.0, 5.5)
            )
            contrast = rng.uniform(0.16, 0.28)
        profile = profile * lungs  # lesions live in the lung fields
        mask = mask & lungs
        if mask.sum() >= 4:
            return profile, mask, kind, contrast
    raise RuntimeError("could not place a lesion inside the lungs")  # pragma: no cover


def make_phantoms(
    n: int,
    size: int = 64,
    *,
    seed: int = 0,
    lesion_fraction: float = 0.5,
    max_lesions: int = 2,
    noise: float = 0.03,
    blur: float = 0.7,
) -> PhantomSet:
    """Generate ``n`` chest-like phantoms of ``size`` x ``size`` pixels.

    About ``lesion_fraction`` of them carry 1..``max_lesions`` lesions (label 1);
    the rest none (label 0). Deterministic by ``seed``; image i depends only on
    ``(seed, i)``.
    """
    if n < 0 or size < 16:
        raise ValueError(f"need n >= 0 and size >= 16, got n={n}, size={size}")
    scale = size / 64.0
    images = np.empty((n, size, size), dtype=np.float32)
    masks = np.zeros((n, size, size), dtype=bool)
    lung_masks = np.empty((n, size, size), dtype=bool)
    labels = np.zeros(n, dtype=np.int64)
    boxes: list[np.ndarray] = []
    kinds: list[list[str]] = []
    lesion_masks: list[np.ndarray] = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        img, lungs = _anatomy(rng, size)
        count = int(rng.integers(1, max_lesions + 1)) if rng.random() < lesion_fraction else 0
        these_boxes, these_kinds, these_masks = [], [], []
        for _ in range(count):
            profile, mask, kind, contrast = _draw_lesion(rng, lungs, scale)
            img = img + contrast * profile
            these_masks.append(mask)
            these_boxes.append(_box(mask))
            these_kinds.append(kind)
        images[i] = _finish(img, rng, noise, blur * scale)
        lung_masks[i] = lungs
        if count:
            labels[i] = 1
            stacked = np.stack(these_masks)
            masks[i] = stacked.any(axis=0)
            lesion_masks.append(stacked)
            boxes.append(np.stack(these_boxes))
        else:
            lesion_masks.append(np.zeros((0, size, size), dtype=bool))
            boxes.append(np.zeros((0, 4), dtype=np.int64))
        kinds.append(these_kinds)
    return PhantomSet(
        images=images,
        labels=labels,
        masks=masks,
        lung_masks=lung_masks,
        boxes=boxes,
        lesion_kinds=kinds,
        lesion_masks=lesion_masks,
    )


def make_visit_series(
    n_patients: int,
    n_visits: int = 5,
    size: int = 64,
    *,
    seed: int = 0,
    noise: float = 0.03,
    blur: float = 0.7,
    max_shift: int = 2,
    jitter: float = 0.03,
) -> VisitSeries:
    """Generate ``n_patients`` series of ``n_visits`` phantoms each: one anatomy and
    one nodule per patient; the nodule's radius follows ``r0 * exp(g * t)`` with a
    growth rate ``g`` drawn for the patient's trend (shrinking, stable or growing,
    in equal shares) times ``1 + jitter * N(0, 1)`` per visit (measurement-like noise on
    the size). Each visit gets fresh noise and a random
    misregistration of up to ``max_shift`` pixels. Deterministic by ``seed``.
    """
    if n_visits < 2:
        raise ValueError(f"a series needs at least 2 visits, got {n_visits}")
    scale = size / 64.0
    shape = (n_patients, n_visits, size, size)
    images = np.empty(shape, dtype=np.float32)
    masks = np.zeros(shape, dtype=bool)
    radii = np.empty((n_patients, n_visits), dtype=np.float32)
    trend = np.empty(n_patients, dtype=np.int64)
    shifts = np.zeros((n_patients, n_visits, 2), dtype=np.int64)
    rates = {0: (-0.22, -0.10), 1: (-0.02, 0.02), 2: (0.10, 0.22)}
    for p in range(n_patients):
        rng = np.random.default_rng([seed, 1_000_003, p])
        base, lungs = _anatomy(rng, size)
        trend[p] = p % 3 if n_patients >= 3 else int(rng.integers(0, 3))
        rate = rng.uniform(*rates[int(trend[p])])
        r0 = scale * (rng.uniform(3.5, 5.0) if trend[p] == 0 else rng.uniform(2.2, 3.8))
        inner = ndimage.binary_erosion(lungs, iterations=max(1, int(round(6 * scale))))
        cy, cx = np.divmod(int(rng.choice(np.flatnonzero(inner if inner.any() else lungs))), size)
        contrast = rng.uniform(0.25, 0.40)
        for t in range(n_visits):
            radius = max(0.8 * scale, r0 * np.exp(rate * t) * (1 + jitter * rng.standard_normal()))
            profile, mask = _nodule(size, cy, cx, radius)
            img = base + contrast * profile * lungs
            mask = mask & lungs
            dy, dx = rng.integers(-max_shift, max_shift + 1, size=2) if max_shift else (0, 0)
            img = np.roll(img, (dy, dx), axis=(0, 1))
            images[p, t] = _finish(img, rng, noise, blur * scale)
            masks[p, t] = np.roll(mask, (dy, dx), axis=(0, 1))
            radii[p, t] = radius
            shifts[p, t] = (dy, dx)
    areas = masks.sum(axis=(2, 3)).astype(np.float32)
    return VisitSeries(
        images=images, masks=masks, areas=areas, radii=radii, trend=trend, shifts=shifts
    )


def phantom_splits(params: dict) -> dict[str, PhantomSet]:
    """Train/val/test phantom sets of ``params["n_train"]``, ``["n_val"]`` and ``["n_test"]``
    images (``size``, ``lesion_fraction``) from three consecutive seeds ``phantom_seed``,
    ``+ 1``, ``+ 2``, so no phantom is shared. Segmentation (06) and the explainability
    classifier (05) pass their ``DEFAULTS`` (extra keys are ignored)."""
    return {
        split: make_phantoms(
            params[f"n_{split}"],
            params["size"],
            seed=params["phantom_seed"] + k,
            lesion_fraction=params["lesion_fraction"],
        )
        for k, split in enumerate(("train", "val", "test"))
    }


def fingerprint() -> str:
    """What identifies generated data besides its seeds and sizes (which are model
    parameters already): the generator's version. Part of the model-cache key."""
    return f"phantoms-v{GENERATOR_VERSION}"
