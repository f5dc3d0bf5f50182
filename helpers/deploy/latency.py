"""Measuring inference speed honestly: warm-up calls first, a fixed thread count, many
repeats, the median and 90th percentile of single-image latency, and batch throughput,
for every deployment variant in one run. Used by ``notebooks/08_deployment.ipynb`` and
``python -m helpers.bench deployment``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from helpers.deploy.export import size_on_disk
from helpers.deploy.lite import LiteModel
from helpers.evaluate.metrics import auc_score, decide

#: Images per call when a whole split is scored. TensorFlow keeps the memory of the largest
#: eager batch it has run (measured: about 0.33 GB more for 256 images of 28 x 28 px through
#: the compact CNN, 0.1 GB for 64), so notebook 08 scores in chunks of this size to stay
#: within Binder's memory.
CHUNK = 64


def latency_ms(
    run: Callable[[np.ndarray], object], x: np.ndarray, *, warmup: int = 10, repeats: int = 100
) -> dict[str, float]:
    """Median, 90th percentile and fastest milliseconds of ``run(x)`` over ``repeats``
    calls, after ``warmup`` untimed calls (graph tracing, allocation, caches). Notebook 08
    reports the median; 02 the fastest (the least disturbed run of a computation)."""
    for _ in range(warmup):
        run(x)
    times = np.empty(repeats)
    for k in range(repeats):
        start = time.perf_counter()
        run(x)
        times[k] = time.perf_counter() - start
    return {
        "median_ms": float(np.median(times) * 1e3),
        "p90_ms": float(np.percentile(times, 90) * 1e3),
        "min_ms": float(times.min() * 1e3),
    }


def throughput(
    run: Callable[[np.ndarray], object], x: np.ndarray, *, warmup: int = 2, repeats: int = 5
) -> float:
    """Images per second of ``run`` on the batch ``x`` (best of ``repeats``: the least
    disturbed run, after warm-up)."""
    for _ in range(warmup):
        run(x)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        run(x)
        best = min(best, time.perf_counter() - start)
    return float(len(x) / best)


def runners(
    model: keras.Model, paths: dict[str, Path], threads: int = 2
) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """One ``images -> outputs`` callable per variant: Keras ``model.predict``, Keras
    ``model(x)`` (no per-call Dataset machinery), and each TFLite file."""
    out = {
        "Keras model.predict": lambda x: model.predict(x, verbose=0, batch_size=256),
        "Keras model(x)": lambda x: model(x, training=False).numpy(),
    }
    for name, path in paths.items():
        if name.startswith("tflite-"):
            lite = LiteModel(path, threads=threads)
            out[f"TFLite {name.removeprefix('tflite-')}"] = lite.predict
    return out


def scores_in_chunks(
    fn: Callable[[np.ndarray], object], images: np.ndarray, chunk: int = CHUNK
) -> np.ndarray:
    """``fn``'s outputs for every image, ``chunk`` images per call (memory: see
    :data:`CHUNK`): (N,) for a model with one output (a binary model's probability of class
    1), else (N, outputs)."""
    out = np.concatenate(
        [np.asarray(fn(images[i : i + chunk])) for i in range(0, len(images), chunk)]
    )
    return out[:, 0] if out.shape[1] == 1 else out


def parity_table(
    run: dict[str, Callable],
    images: np.ndarray,
    labels: np.ndarray,
    threshold: float | list[float] | None,
    chunk: int = CHUNK,
    kind: str = "binary",
) -> pd.DataFrame:
    """Test AUC of every variant (:func:`helpers.evaluate.metrics.auc_score` of the task
    ``kind``) and its agreement with Keras: the share of images given the same call by the
    deployed rule (:func:`helpers.evaluate.metrics.decide` at ``threshold``: for a
    multi-label model the same set of labels), and the largest probability difference.
    Every variant scores ``chunk`` images per call."""
    reference = scores_in_chunks(run["Keras model(x)"], images, chunk)
    reference_auc = auc_score(labels, reference, kind)
    reference_calls = decide(reference, kind, threshold).reshape(len(reference), -1)
    rows = []
    for name, fn in run.items():
        scores = scores_in_chunks(fn, images, chunk)
        calls = decide(scores, kind, threshold).reshape(len(scores), -1)
        auc = auc_score(labels, scores, kind)
        rows.append(
            {
                "variant": name,
                "test AUC": auc,
                "AUC - Keras AUC": auc - reference_auc,
                "same class as Keras": float(np.mean(np.all(calls == reference_calls, axis=1))),
                "max |p - p_Keras|": float(np.max(np.abs(scores - reference))),
            }
        )
    return pd.DataFrame(rows)


def speed_table(
    run: dict[str, Callable],
    images: np.ndarray,
    paths: dict[str, Path],
    *,
    repeats: int = 100,
    batch: int = 256,
) -> pd.DataFrame:
    """Single-image latency (median, p90) and batch throughput of every variant, measured
    one after another in this process, and the size on disk of its file."""
    one = images[:1]
    many = images[:batch]
    sizes = {"Keras model.predict": paths.get("keras"), "Keras model(x)": paths.get("keras")}
    sizes.update(
        {
            f"TFLite {k.removeprefix('tflite-')}": v
            for k, v in paths.items()
            if k.startswith("tflite-")
        }
    )
    rows = []
    for name, fn in run.items():
        single = latency_ms(fn, one, repeats=repeats)
        rows.append(
            {
                "variant": name,
                "latency median (ms)": single["median_ms"],
                "latency p90 (ms)": single["p90_ms"],
                f"throughput, batch {len(many)} (img/s)": throughput(fn, many),
                "size on disk (kB)": size_on_disk(sizes[name]) / 1024
                if sizes.get(name)
                else np.nan,
            }
        )
    table = pd.DataFrame(rows)
    base = table.loc[table.variant == "Keras model.predict", "latency median (ms)"].iloc[0]
    table["speed-up vs model.predict"] = base / table["latency median (ms)"]
    return table


def cold_start_seconds(
    model: str | Path, image: str | Path, runs: int = 5, timeout: float = 120.0
) -> np.ndarray:
    """Wall seconds of ``python -m helpers predict --model MODEL IMAGE`` in a fresh Python
    process, ``runs`` times: interpreter start, imports, model load, one file read and
    scored. What a user waits for when the command is called once per file (bench)."""
    command = [sys.executable, "-m", "helpers", "predict", "--model", str(model), str(image)]
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        seconds.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stderr[-500:]}")
    return np.array(seconds)
