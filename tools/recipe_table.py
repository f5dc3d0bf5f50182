"""The improved recipe against the article's, per dataset, mean ± sd over training seeds:
test AUC and ACC by MedMNIST's definitions, for the generated datasets of every task kind
(helpers.data.synthetic, written into a temporary folder) and any flags named.

Usage: python tools/recipe_table.py [--seeds 3] [--threads 2] [--marker 0.2] [--size 64]
       [--no-generated] [flag ...]
Models are trained afresh (not cached) and nothing is written into the repository.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

GENERATED = [  # (name, task, classes or labels, channels)
    ("gen-binary-rgb", "binary-class", 2, 3),
    ("gen-multiclass-gray", "multi-class", 5, 1),
    ("gen-multiclass-rgb", "multi-class", 5, 3),
    ("gen-ordinal-gray", "ordinal-regression", 5, 1),
    ("gen-multilabel-rgb", "multi-label, binary-class", 6, 3),
]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("flags", nargs="*", help="MedMNIST flags to add (real data)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(  # at helpers.data.synthetic's 0.3 both recipes reach AUC 1.000 on some
        "--marker", type=float, default=0.2, help="generated tasks' contrast (smaller: harder)"
    )
    parser.add_argument("--size", type=int, default=28, help="image size of the named flags")
    parser.add_argument("--no-generated", action="store_true", help="only the named flags")
    args = parser.parse_args(argv)

    import numpy as np

    from helpers.data.medmnist import load_medmnist, locate_medmnist, medmnist_info
    from helpers.data.synthetic import write_dataset
    from helpers.evaluate.metrics import auc_score, medmnist_accuracy
    from helpers.runtime import set_seed
    from helpers.train import recipes
    from helpers.train.engine import predict_scores, train

    folder = Path(tempfile.mkdtemp(prefix="recipe-table-"))
    generated = [] if args.no_generated else GENERATED
    for name, task, n, channels in generated:
        write_dataset(folder, name, task, n, channels=channels, seed=7, marker=args.marker)
    for flag in args.flags:  # the real files beside the generated ones: one data folder
        real = folder / medmnist_info(flag, args.size).filename
        real.symlink_to(locate_medmnist(flag, args.size))
    os.environ["MEDMNIST_DATA_DIR"] = str(folder)
    os.environ["MEDIMG_ROOT"] = str(folder)  # any cache the engine writes stays out of the repo
    rows = []
    for flag, size in [(g[0], 28) for g in generated] + [(f, args.size) for f in args.flags]:
        data = load_medmnist(flag, size)
        x_test, y_test = data.split("test")
        for recipe_name in ("seed", "improved"):
            aucs, accs, start = [], [], time.perf_counter()
            for seed in range(args.seeds):
                set_seed(seed, threads=args.threads)
                config = recipes.recipe(recipe_name, flag, seed=seed, size=size)
                model = train(config, data=data, verbose=False).model
                scores = predict_scores(model, x_test, config)
                aucs.append(auc_score(y_test, scores, data.info.task_kind))
                accs.append(medmnist_accuracy(y_test, scores, data.info.task_kind))
            minutes = (time.perf_counter() - start) / 60 / args.seeds
            rows.append((f"{flag}-{size}", data.info.task_kind, recipe_name, aucs, accs, minutes))
            print(
                f"{flag}-{size:<19} {data.info.task_kind:11s} {recipe_name:8s} "
                f"AUC {np.mean(aucs):.3f} ± {np.std(aucs, ddof=1):.3f}  "
                f"ACC {np.mean(accs):.3f} ± {np.std(accs, ddof=1):.3f}  "
                f"{minutes:.2f} min/model",
                flush=True,
            )
    print(
        "\ndataset | task | improved − article, mean over seeds (se): AUC | verdict | ACC | verdict"
    )
    for k in range(0, len(rows), 2):
        seed_row, improved_row = rows[k], rows[k + 1]
        cells = []
        for metric in (3, 4):  # AUC, ACC
            diff = np.array(improved_row[metric]) - np.array(seed_row[metric])
            se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
            verdict = (
                "higher" if diff.mean() > 2 * se else "lower" if diff.mean() < -2 * se else "tie"
            )
            cells.append(f"{diff.mean():+.3f} (se {se:.3f}) | {verdict}")
        print(f"{seed_row[0]} | {seed_row[1]} | " + " | ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
