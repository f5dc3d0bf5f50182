"""Benchmarks (not timed tests): ``python -m helpers.bench training`` and
``python -m helpers.bench deployment``.

``deployment`` exports the improved PneumoniaMNIST model of ``03_training`` (from the
model cache, trained first if missing) to every format of :mod:`helpers.deploy.export` in a
temporary folder and prints, measured in one run with 2 threads: test AUC and agreement
with Keras per variant, single-image latency (median, p90) of Keras ``model.predict``,
``model(x)`` and each TFLite variant, batch throughput and size on disk, and the cold start
of the predict command (a fresh process scoring one PNG) with the int8 and the .keras model.

``training`` trains, in one process, the article's seed CNN as the article runs it
(256 x 256 x 3 input, Adam at 1e-3, batch 32, no augmentation, no class weights) and the
improved compact CNN with the recipe of ``03_training`` (28 px), both on PneumoniaMNIST
with validation AUC checked every few steps, and prints training images/s and the
training time to a validation AUC of 0.95 for each, and their ratio. Needs the data
(``MEDMNIST_DATA_DIR`` offline). Takes several minutes on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from helpers.data.medmnist import load_medmnist
from helpers.data.preprocess import to_float
from helpers.deploy.export import export_all, load_keras
from helpers.deploy.latency import cold_start_seconds, parity_table, runners, speed_table
from helpers.deploy.lite import INTENDED_USE, ModelInfo
from helpers.evaluate.metrics import youden_threshold
from helpers.runtime import set_seed, short_warnings
from helpers.train import recipes
from helpers.train.cache import load_or_train
from helpers.train.engine import predict_scores, train

#: The article's setting (the improved recipe is helpers.train.recipes.IMPROVED_RECIPE).
SEED_AT_ARTICLE_SIZE = replace(
    recipes.SEED_RECIPE, input_size=256, channels=3, epochs=3, batch_size=32, keep="best"
)


def bench_training(
    target: float = 0.95,
    seed_budget: float = 900.0,
    seed_eval_every: int = 20,
    improved_eval_every: int = 10,
) -> list[dict]:
    """Train both models until validation AUC reaches ``target`` (or the seed model's
    training time exceeds ``seed_budget`` seconds); return one row per model."""
    data = load_medmnist("pneumoniamnist")
    runs = [
        (
            "seed CNN, 256x256x3 (article)",
            replace(
                SEED_AT_ARTICLE_SIZE,
                eval_every=seed_eval_every,
                max_seconds=seed_budget,
                stop_at_auc=target,
            ),
        ),
        (
            "compact CNN, 28x28x1 (03 recipe)",
            replace(recipes.IMPROVED_RECIPE, eval_every=improved_eval_every, stop_at_auc=target),
        ),
    ]
    rows = []
    for name, config in runs:
        set_seed(config.seed)
        print(f"== {name}", flush=True)
        result = train(config, data=data, verbose=True)
        rows.append(
            {
                "model": name,
                "params": result.model.count_params(),
                "train images/s": result.images_per_second,
                f"seconds to val AUC {target}": result.time_to_auc(target),
                "best val AUC": result.best_val_auc,
            }
        )
    return rows


def bench_deployment(threads: int = 2, repeats: int = 200):
    """(parity table, speed table) of the exported improved PneumoniaMNIST model."""

    set_seed(0, threads=threads)
    data = load_medmnist("pneumoniamnist")
    config = recipes.recipe("improved", "pneumoniamnist")
    run = load_or_train(config, data=data, verbose=False)
    threshold = youden_threshold(
        data.labels["val"], predict_scores(run.model, data.images["val"], config)
    )
    x_train, x_test = to_float(data.images["train"]), to_float(data.images["test"])
    representative = x_train[np.random.default_rng(0).choice(len(x_train), 200, replace=False)]
    info = ModelInfo(
        class_names=list(data.info.labels),
        input_shape=list(config.image_shape),
        threshold=threshold,
        source="compact CNN, improved recipe of 03_training, PneumoniaMNIST 28 px",
        intended_use=dict(INTENDED_USE["pneumoniamnist"]),
    )
    with tempfile.TemporaryDirectory() as folder:
        paths = export_all(run.model, folder, info, representative)
        variants = runners(load_keras(paths["keras"]), paths, threads=threads)
        parity = parity_table(variants, x_test, data.labels["test"], threshold)
        speed = speed_table(variants, x_test, paths, repeats=repeats)
        film = Path(folder) / "film.png"
        Image.fromarray(data.images["test"][0]).save(film)
        cold = {
            f"predict cold start, {kind} (s)": cold_start_seconds(paths[kind], film)
            for kind in ("tflite-int8", "keras")
        }
    return parity, speed, cold


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("what", choices=["training", "deployment"])
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument(
        "--seed-budget",
        type=float,
        default=900.0,
        help="training seconds after which the seed model gives up (default 900)",
    )
    args = parser.parse_args(argv)
    short_warnings()
    if args.what == "deployment":
        parity, speed, cold = bench_deployment()
        print(parity.round(4).to_string(index=False))
        print()
        print(speed.round(3).to_string(index=False))
        print()
        for name, seconds in cold.items():
            print(
                f"{name}: median {np.median(seconds):.2f}, range {seconds.min():.2f}-"
                f"{seconds.max():.2f} over {len(seconds)} runs"
            )
        return 0
    rows = bench_training(args.target, args.seed_budget)
    key = f"seconds to val AUC {args.target}"
    print(f"\n{'model':34} {'params':>10} {'images/s':>9} {key:>26} {'best val AUC':>13}")
    for row in rows:
        seconds = "not reached" if row[key] is None else f"{row[key]:.1f}"
        print(
            f"{row['model']:34} {row['params']:>10,} {row['train images/s']:>9.1f} "
            f"{seconds:>26} {row['best val AUC']:>13.4f}"
        )
    slow, fast = rows[0][key], rows[1][key]
    if slow is not None and fast is not None:
        print(f"\nthe improved model reaches val AUC {args.target} {slow / fast:.1f}x sooner")
    elif fast is not None:
        print(
            f"\nthe seed model did not reach {args.target} within its budget; "
            f"the improved model did in {fast:.1f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
