"""Acquisition-like corruptions of gray or colour images, in graded severities: what a test set
from another scanner, protocol or PACS export can look like. Taught in
``notebooks/10_generalization.ipynb``, which measures how a classifier's AUC and calibration
fall as the severity grows.

    corrupt(images, "blur", 3)  # severity 0 returns the images unchanged

Each kind mimics one step of acquisition or handling: sensor noise (``gaussian_noise``),
defocus or motion (``blur``), exposure and windowing (``contrast``, ``gamma``), lossy export
(``jpeg``), a lower detector resolution (``low_resolution``), patient positioning
(``rotation``) and a MONOCHROME1 film read as MONOCHROME2 (``invert``, one severity). The
image operations are scikit-image's (and Pillow's JPEG codec); the magnitudes are in
:data:`LEVELS`. Images are uint8 or float in [0, 1], gray (N, H, W) or (N, H, W, 1), or colour
(N, H, W, 3) (every channel gets the same blur, rotation and resampling; contrast shrinks each
channel towards its own mean, so an image keeps its mean colour); the result has the input's
shape and dtype.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from skimage import exposure, filters, transform, util

#: The magnitude of each kind per severity (index 0: no change). Noise: standard deviation
#: on the [0, 1] scale; blur: Gaussian sigma in pixels; contrast: factor on the deviation from
#: the image's mean; gamma: the exponent (> 1 darkens mid-tones); jpeg: the quality setting;
#: low_resolution: the share of the side the image is sampled down to (and back up);
#: rotation: degrees (the sign drawn per image); invert: whether to invert.
LEVELS: dict[str, tuple] = {
    "gaussian_noise": (0.0, 0.03, 0.06, 0.10, 0.16),
    "blur": (0.0, 0.5, 0.8, 1.2, 1.6),
    "contrast": (1.0, 0.7, 0.5, 0.35, 0.2),
    "gamma": (1.0, 1.25, 1.5, 2.0, 2.5),
    "jpeg": (None, 50, 25, 12, 6),
    "low_resolution": (1.0, 0.75, 0.5, 0.4, 0.3),
    "rotation": (0.0, 5.0, 10.0, 15.0, 25.0),
    "invert": (False, True),
}
KINDS: tuple[str, ...] = tuple(LEVELS)
#: The kinds a model may be trained on (matched augmentation): every kind but ``invert``.
#: An inverted film is an acquisition *error* to detect and refuse, not a variation to learn.
TRAINING_KINDS: tuple[str, ...] = tuple(kind for kind in KINDS if kind != "invert")


def max_severity(kind: str) -> int:
    """The highest severity of ``kind`` (4 for most, 1 for ``invert``)."""
    _check_kind(kind)
    return len(LEVELS[kind]) - 1


def _check_kind(kind: str) -> None:
    if kind not in LEVELS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")


def _as_float(images: np.ndarray) -> tuple[np.ndarray, bool]:
    """(N, H, W, C) float64 in [0, 1] and whether a channel axis was added."""
    x = np.asarray(images)
    added = x.ndim == 3
    if added:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise ValueError(
            f"expected gray (N, H, W) or (N, H, W, 1) or colour (N, H, W, 3) images, "
            f"got shape {x.shape}"
        )
    if x.dtype == np.uint8:
        return x.astype(np.float64) / 255.0, added
    if np.issubdtype(x.dtype, np.floating):
        return x.astype(np.float64), added
    raise ValueError(f"expected uint8 or float images, got {x.dtype}")


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    # (H, W, C): a gray image is saved as one channel (JPEG's gray mode), colour as RGB
    pixels = np.round(image * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(
        buffer, format="JPEG", quality=int(quality)
    )
    buffer.seek(0)
    decoded = np.asarray(Image.open(buffer), dtype=np.float64) / 255.0
    return decoded.reshape(image.shape)


def _apply(x: np.ndarray, kind: str, level, rng: np.random.Generator) -> np.ndarray:
    n, height, width, channels = x.shape
    if kind == "gaussian_noise":
        return util.random_noise(x, mode="gaussian", var=level**2, rng=rng, clip=True)
    if kind == "blur":
        return filters.gaussian(x, sigma=(0, level, level, 0), mode="nearest", preserve_range=True)
    if kind == "contrast":
        mean = x.mean(axis=(1, 2), keepdims=True)
        return mean + level * (x - mean)
    if kind == "gamma":
        return exposure.adjust_gamma(x, gamma=level)
    if kind == "jpeg":
        return np.stack([_jpeg(image, level) for image in x])
    if kind == "low_resolution":
        small = (n, max(2, round(level * height)), max(2, round(level * width)), channels)
        down = transform.resize(x, small, order=1, anti_aliasing=True)
        return transform.resize(down, x.shape, order=1, anti_aliasing=False)
    if kind == "rotation":
        signs = rng.choice((-1.0, 1.0), size=n)
        return np.stack(
            [transform.rotate(image, s * level, mode="edge") for image, s in zip(x, signs)]
        )
    if kind == "invert":
        return util.invert(x)
    raise AssertionError(kind)  # pragma: no cover (kinds are checked before)


def corrupt(images: np.ndarray, kind: str, severity: int, seed: int = 0) -> np.ndarray:
    """``images`` with corruption ``kind`` at ``severity`` (0: returned unchanged, up to
    :func:`max_severity`), in the input's shape and dtype. Random parts (the noise, the
    sign of a rotation) are drawn from ``seed``, so a call repeats exactly."""
    _check_kind(kind)
    if not 0 <= severity <= max_severity(kind):
        raise ValueError(f"{kind}: severity must lie in 0..{max_severity(kind)}, not {severity}")
    if severity == 0:
        return np.array(images, copy=True)
    x, added = _as_float(images)
    out = np.clip(_apply(x, kind, LEVELS[kind][severity], np.random.default_rng(seed)), 0, 1)
    if added:
        out = out[..., 0]
    if np.asarray(images).dtype == np.uint8:
        return np.round(out * 255).astype(np.uint8)
    return out.astype(np.asarray(images).dtype)


def random_corruptions(
    images: np.ndarray,
    seed: int = 0,
    kinds: tuple[str, ...] = TRAINING_KINDS,
    max_level: int | None = None,
) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """One corrupted copy of each image, with a kind drawn from ``kinds`` and a severity
    from 1 to its maximum (or ``max_level``) per image: the matched augmentation of
    notebook 10 (by default over :data:`TRAINING_KINDS`, so no copy is inverted). Returns
    the copies and the (kind, severity) of each."""
    rng = np.random.default_rng(seed)
    out = np.array(images, copy=True)
    drawn: list[tuple[str, int]] = []
    for kind in kinds:
        _check_kind(kind)
    choice = rng.integers(0, len(kinds), size=len(out))
    for k in choice:
        top = (
            max_severity(kinds[k]) if max_level is None else min(max_level, max_severity(kinds[k]))
        )
        drawn.append((kinds[k], int(rng.integers(1, top + 1))))
    for kind in kinds:
        for severity in range(1, max_severity(kind) + 1):
            members = [i for i, d in enumerate(drawn) if d == (kind, severity)]
            if members:
                out[members] = corrupt(out[members], kind, severity, seed=int(rng.integers(2**31)))
    return out, drawn


def corrupt_sets(images: np.ndarray, sets: list[tuple[str, int]], seed: int = 0) -> np.ndarray:
    """The ``images`` under each ``(kind, severity)`` of ``sets`` (``("none", 0)``: as they
    are), stacked in that order into one array of ``len(sets) * len(images)`` images, so a
    model scores every corrupted test set of notebook 10 in one pass."""
    return np.concatenate(
        [
            np.array(images, copy=True) if severity == 0 else corrupt(images, kind, severity, seed)
            for kind, severity in sets
        ]
    )
