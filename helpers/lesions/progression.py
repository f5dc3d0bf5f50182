"""Predicting lesion progression from follow-up visits: data, baselines and the CNN+GRU
model. Taught in ``notebooks/07_progression.ipynb``.

Each phantom patient has ``n_visits`` visits. The model sees the first ``n_visits - 1``
(images and measured lesion areas) and predicts (a) the lesion area at the last visit and
(b) the trend class (shrinking, stable, growing). ``params["use_areas"] = False`` (not in
:data:`DEFAULTS`, so the default cache key is unchanged) trains a model that sees the images
only. Baselines use the measured areas only:
*last visit* (the area will stay as it was; the last change gives the trend) and *linear
extrapolation* (a straight line through the observed areas; its slope gives the trend).
"""

from __future__ import annotations

import keras
import numpy as np
from sklearn.metrics import balanced_accuracy_score

from helpers.data.phantoms import VisitSeries, fingerprint, make_visit_series
from helpers.models.cnn_gru import progression_model
from helpers.runtime import set_seed
from helpers.train.cache import cached_model
from helpers.train.engine import fit

DEFAULTS = {
    "n_train": 600,
    "n_val": 150,
    "n_test": 300,
    "n_visits": 5,
    "size": 64,
    "jitter": 0.08,
    "series_seed": 200,
    "epochs": 40,
    "batch_size": 32,
    "learning_rate": 2e-3,
    "width": 8,
    "units": 32,
    "seed": 0,
    "area_scale": 100.0,
}


def series_splits(params: dict) -> dict[str, VisitSeries]:
    """Train/val/test series from three different seeds."""
    p = {**DEFAULTS, **params}
    return {
        split: make_visit_series(
            p[f"n_{split}"], p["n_visits"], p["size"], seed=p["series_seed"] + k, jitter=p["jitter"]
        )
        for k, split in enumerate(("train", "val", "test"))
    }


def model_inputs(
    series: VisitSeries, area_scale: float, use_areas: bool = True
) -> dict[str, np.ndarray]:
    """Observed visits (all but the last) as model inputs; areas divided by ``area_scale``.
    With ``use_areas=False`` only the ``images`` (for ``progression_model(use_areas=False)``)."""
    inputs = {"images": series.images[:, :-1, ..., None].astype(np.float32)}
    if use_areas:
        inputs["areas"] = (series.areas[:, :-1] / area_scale).astype(np.float32)
    return inputs


def uses_areas(model: keras.Model) -> bool:
    """Whether a progression model has the ``areas`` input."""
    return "areas" in [tensor.name for tensor in model.inputs]


def baselines(series: VisitSeries) -> dict[str, dict[str, np.ndarray]]:
    """Next-area predictions and relative change per visit (``change``) of the two
    baselines, from the observed areas only, plus trend scores (N, 3: shrinking, stable,
    growing) for an AUC: ``[-change, -|change|, change]``."""
    observed = series.areas[:, :-1].astype(float)
    t = np.arange(observed.shape[1])
    slope, intercept = np.polyfit(t, observed.T, 1)
    changes = {
        "last visit": (
            (observed[:, -1] - observed[:, -2]) / np.maximum(observed[:, -2], 1.0),
            observed[:, -1],
        ),
        "linear extrapolation": (
            slope / np.maximum(observed.mean(axis=1), 1.0),
            np.maximum(intercept + slope * len(t), 0.0),
        ),
    }
    return {
        name: {
            "next_area": next_area,
            "change": change,
            "trend_scores": np.stack([-change, -np.abs(change), change], axis=1),
        }
        for name, (change, next_area) in changes.items()
    }


def trend_from_change(change: np.ndarray, tolerance: float) -> np.ndarray:
    """Trend class from a relative change: stable within +-``tolerance``."""
    return np.where(change < -tolerance, 0, np.where(change > tolerance, 2, 1))


def fit_tolerance(change: np.ndarray, trend: np.ndarray) -> float:
    """The tolerance that maximises balanced accuracy (choose it on validation data)."""

    candidates = np.linspace(0.0, 0.5, 101)
    scores = [balanced_accuracy_score(trend, trend_from_change(change, c)) for c in candidates]
    return float(candidates[int(np.argmax(scores))])


def train_progression(
    params: dict, data: dict[str, VisitSeries], verbose: bool = True
) -> tuple[keras.Model, dict]:
    """Fit the CNN+GRU on the training series (Huber loss on the next area, cross-entropy
    on the trend); keep the epoch with the lowest validation loss. ``params["use_areas"]``
    (default True) gives the model the measured areas as well as the images."""
    p = {**DEFAULTS, **params}
    set_seed(p["seed"])
    n_in = p["n_visits"] - 1
    use_areas = bool(p.get("use_areas", True))
    model = progression_model(
        n_in, p["size"], width=p["width"], recurrent_units=p["units"], use_areas=use_areas
    )
    model.compile(
        optimizer=keras.optimizers.Adam(p["learning_rate"]),
        loss={
            "next_area": keras.losses.Huber(delta=0.2),
            "trend": "sparse_categorical_crossentropy",
        },
    )

    def targets(s: VisitSeries) -> dict:
        return {
            "next_area": (s.areas[:, -1:] / p["area_scale"]).astype(np.float32),
            "trend": s.trend,
        }

    x_train = model_inputs(data["train"], p["area_scale"], use_areas)
    x_val = model_inputs(data["val"], p["area_scale"], use_areas)
    y_train, y_val = targets(data["train"]), targets(data["val"])

    def val_loss(m: keras.Model) -> float:
        return float(m.evaluate(x_val, y_val, batch_size=128, verbose=0, return_dict=True)["loss"])

    result = fit(
        model,
        x_train,
        y_train,
        epochs=p["epochs"],
        score=val_loss,
        name="val loss",
        mode="min",
        n_train=len(data["train"]),
        batch_size=p["batch_size"],
        verbose=verbose,
        print_every=5,
        shuffle=True,
    )
    return model, {
        "params": p,
        "history": result.epochs,
        "train_seconds": result.train_seconds,
        "best_val_loss": result.best_score,
    }


def load_or_train_progression(
    params: dict, data: dict[str, VisitSeries] | None = None, verbose: bool = True
):
    """Cached :func:`train_progression`: ``(model, meta, from_cache)``."""
    p = {**DEFAULTS, **params}
    return cached_model(
        "cnn_gru",
        p,
        lambda: train_progression(p, data or series_splits(p), verbose),
        data_fingerprint=fingerprint(),
        verbose=verbose,
    )


def predict(model: keras.Model, series: VisitSeries, area_scale: float) -> dict[str, np.ndarray]:
    """Next-area prediction (in pixels) and trend probabilities (N, 3); the model gets the
    areas only if it has an ``areas`` input (:func:`uses_areas`)."""
    out = model.predict(
        model_inputs(series, area_scale, uses_areas(model)), batch_size=64, verbose=0
    )
    return {
        "next_area": np.maximum(out["next_area"][:, 0] * area_scale, 0.0),
        "trend_scores": out["trend"],
    }
