"""Write the README's measured numbers from the committed tables, so that they are the
numbers the last run produced and never retyped: the run time and peak memory columns of
the notebook table (``figures/00_run_times.csv``, written by ``make reproduce``) and the
"Results at a glance" section (from the notebooks' tables in ``figures/``).

Usage: python tools/render_readme.py [--check]
``make reproduce`` runs it after the notebooks; ``--check`` (run by the tests) exits 1 when
README.md differs from what the tables give.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from pathlib import Path

import pandas as pd

from helpers.report import signed

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "figures"
README = ROOT / "README.md"
BEGIN = "<!-- results: written by tools/render_readme.py from figures/*.csv; edit that script -->"
END = "<!-- /results -->"


def table(name: str) -> pd.DataFrame:
    return pd.read_csv(FIGURES / f"{name}.csv")


def f3(value: float) -> str:
    return f"{value:.3f}"


def interval(low: float, high: float, digits: int = 3) -> str:
    dash = " to " if low < 0 else "–"  # "-5.3 to -2.2" reads better than "-5.3–-2.2"
    return f"95 % CI {low:.{digits}f}{dash}{high:.{digits}f}"


def notebook_rows(text: str) -> str:
    """Rewrite the run-time and memory cells of each notebook row from the run table."""
    runs = table("00_run_times").set_index("notebook")

    def row(match: re.Match) -> str:
        name = f"{match.group(1)}.ipynb"
        if name not in runs.index:
            return match.group(0)
        cells = match.group(0).split(" | ")
        cells[2] = f"{runs.loc[name, 'minutes']:.1f} min"
        cells[3] = f"{runs.loc[name, 'peak_gb']:.2f} GB"
        return " | ".join(cells)

    return re.sub(r"^\| \[(\d\d_\w+)\]\(notebooks/\S+\) \|.*\|$", row, text, flags=re.M)


def data_paragraph() -> str:
    leak = table("01_leakage")
    parts = []
    for dataset, rows in leak.groupby("dataset", sort=False):
        cross = rows[rows.splits.isin(["train-val", "train-test"])]
        words = ", ".join(
            f"{r.splits}: {r.pairs} near-copy pairs ({r.exact} byte-identical)"
            for r in cross.itertuples()
        )
        parts.append(f"{dataset} {words or 'no near copies across splits'}")
    return (
        "**Data** (`01_data`, `figures/01_leakage.csv`, pixel correlation ≥ 0.98): "
        + "; ".join(parts)
        + "."
    )


def training_paragraph() -> str:
    res = table("03_results")
    ours = res[res.source == "this notebook"]
    parts = []
    for dataset, rows in ours.groupby("dataset", sort=False):
        items = "; ".join(
            f"{r['model']}: AUC {f3(r['test AUC'])} ± {f3(r['test AUC sd'])}, "
            f"ACC {f3(r['test ACC'])} ± {f3(r['test ACC sd'])}"
            for _, r in rows.iterrows()
        )
        published = res[(res.dataset == dataset) & (res.source != "this notebook")]
        refs = "; ".join(
            f"{r['model']} ({r['source']}) {f3(r['test AUC'])} / {f3(r['test ACC'])}"
            for _, r in published.iterrows()
        )
        parts.append(f"{dataset}: {items} (published AUC / ACC: {refs})")
    seeds = ", ".join(str(int(n)) for n in sorted(ours.seeds.unique()))
    return (
        "**Training** (`03_training`, `figures/03_results.csv`, `03_seeds.csv`; test mean ± sd "
        f"over {seeds} training seeds; MedMNIST's definitions: AUC of the scores, ACC of the "
        "predicted class): "
        + ". ".join(parts)
        + ". Paired comparisons and intervals are in 03 and 04."
    )


def evaluation_paragraph() -> str:
    metrics = table("04_metrics")
    comparison = table("04_comparison").set_index("dataset")
    cv = table("04_cross_validation")
    parts = []
    for dataset, rows in metrics[metrics.metric == "roc_auc"].groupby("dataset", sort=False):
        aucs = "; ".join(
            f"{r.recipe} recipe AUC {f3(r.estimate)} ({interval(r.low, r.high)})"
            for r in rows.itertuples()
        )
        c = comparison.loc[dataset]
        folds = cv[cv.dataset == dataset].held_out_auc
        parts.append(
            f"{dataset}: {aucs}; improved minus seed {signed(c.difference)} "
            f"(DeLong 95 % CI {c['DeLong 95% CI']}, p = {c['DeLong p']:.2g}); "
            f"5-fold cross-validation of the seed recipe on train + val "
            f"{folds.mean():.3f} ± {folds.std():.3f}"
        )
    return (
        "**Evaluation** (`04_evaluation`, `figures/04_metrics.csv`, `04_comparison.csv`, "
        "`04_cross_validation.csv`; stratified bootstrap, thresholds from validation): "
        + ". ".join(parts)
        + "."
    )


def explainability_paragraph() -> str:
    loc = table("05_localisation").set_index("method")
    parts = []
    for label in ("pointing hit rate", "energy inside lesion", "centre distance (px)"):
        values = "; ".join(
            f"{name} {loc.loc[name, label]:.2f} "
            f"({interval(loc.loc[name, label + ' low'], loc.loc[name, label + ' high'], 2)})"
            for name in loc.index
        )
        parts.append(f"{label}: {values}")
    return (
        "**Explainability** (`05_explainability`, `figures/05_localisation.csv`; test phantoms "
        "with known lesions, bootstrap over images): " + ". ".join(parts) + "."
    )


def lesions_paragraph() -> str:
    seg = table("06_segmentation").set_index("metric")
    split = table("06_detection_split")
    area = table("07_area").set_index("method")
    trend = table("07_trend").set_index("method")
    dice = seg.loc["Dice per image"]
    detectors = "; ".join(
        f"{r['detector']}: recall {f3(r['recall'])} at {r['FP/image']:.2f} false positives "
        "per image"
        for _, r in split.iterrows()
    )
    maes = "; ".join(
        f"{name} {r['MAE (px)']:.1f} px ({interval(r['95% CI low'], r['95% CI high'], 1)})"
        for name, r in area.iterrows()
    )
    aucs = "; ".join(
        f"{name} {f3(r['AUC (macro OvR)'])} (balanced accuracy {f3(r['balanced accuracy'])})"
        for name, r in trend.iterrows()
    )
    return (
        "**Segmentation, detection, progression** (`06`, `07`, phantoms; `figures/06_*.csv`, "
        f"`07_*.csv`): U-Net Dice per image {f3(dice['value'])} "
        f"({interval(dice['95% CI low'], dice['95% CI high'])}); detection at IoU ≥ 0.5: "
        f"{detectors}. Next-visit lesion area, mean absolute error: {maes}. Trend (shrinking, "
        f"stable, growing), macro AUC: {aucs}."
    )


def deployment_paragraph() -> str:
    parity = table("08_parity").set_index("variant")
    speed = table("08_speed").set_index("variant")
    int8 = "TFLite int8"
    return (
        "**Deployment** (`08_deployment`, `figures/08_parity.csv`, `08_speed.csv`): full-int8 "
        f"TFLite test AUC {parity.loc[int8, 'test AUC']:.4f} against "
        f"{parity.loc['Keras model.predict', 'test AUC']:.4f} for Keras "
        f"({signed(parity.loc[int8, 'AUC - Keras AUC'], 4)}), the same class for "
        f"{100 * parity.loc[int8, 'same class as Keras']:.1f} % of test images; one image in "
        f"{speed.loc[int8, 'latency median (ms)']:.3f} ms (median) against "
        f"{speed.loc['Keras model.predict', 'latency median (ms)']:.1f} ms for "
        f"`model.predict` ({speed.loc[int8, 'speed-up vs model.predict']:.0f}× lower) and "
        f"{speed.loc['Keras model(x)', 'latency median (ms)']:.1f} ms for `model(x)`; "
        f"{speed.loc[int8, 'size on disk (kB)']:.0f} kB on disk against "
        f"{speed.loc['Keras model.predict', 'size on disk (kB)']:.0f} kB." + ood_sentence()
    )


def ood_sentence() -> str:
    """The feature check's refusal rates (`figures/08_ood.csv`), when 08 has written them."""
    if not (FIGURES / "08_ood.csv").is_file():
        return ""
    rates = "; ".join(
        f"{row.images} {100 * row.refused:.1f} % ({100 * row.low:.1f}–{100 * row.high:.1f} %)"
        for row in table("08_ood").itertuples()
    )
    return f" The out-of-distribution check refuses (`08_ood.csv`, 95 % CI): {rates}."


def scaling_paragraph() -> str:
    def by(name: str, column: str) -> str:
        rows = table(name).groupby(column).test_auc.agg(["mean", "std", "count"])
        return "; ".join(
            f"{value:g}: {r['mean']:.3f} ± {r['std']:.3f}" for value, r in rows.iterrows()
        )

    seeds = int(table("09_model_scaling").seed.nunique())
    transfer = table("09_transfer").iloc[0]
    generative = table("09_generative").set_index("classifier training set")
    return (
        f"**Scaling** (`09_large_models`, `figures/09_*.csv`, test AUC mean ± sd over {seeds} "
        f"seeds): CNN width {by('09_model_scaling', 'width')}. Training fraction "
        f"{by('09_data_scaling', 'train_fraction')}. MobileNetV3-Small "
        f"({transfer['initialisation'].split(':')[0]}) test AUC {f3(transfer['test_auc'])}. "
        "Generative augmentation: "
        + "; ".join(
            f"{name} {f3(row['test AUC mean'])} ± {f3(row['test AUC sd'])}"
            for name, row in generative.iterrows()
        )
        + "."
    )


def generalization_paragraph() -> str:
    corruptions = table("10_corruptions")
    improved = corruptions[corruptions.model == "improved recipe"]
    clean = improved[improved.corruption == "none"].iloc[0]
    worst = improved.loc[improved.groupby("corruption").severity.idxmax()]
    worst = worst[worst.corruption != "none"].sort_values("auc")
    at_top = "; ".join(
        f"{row.corruption.replace('_', ' ')} {f3(row.auc)}" for row in worst.itertuples()
    )
    noise = table("10_label_noise")
    noisy = "; ".join(f"{row['training labels']} {f3(row.auc)}" for _, row in noise.iterrows())
    ood = table("10_ood")
    separated = "; ".join(
        f"{row['images']} {f3(row['AUROC distance'])}" for _, row in ood.head(2).iterrows()
    )
    return (
        "**Generalisation** (`10_generalization`, `figures/10_*.csv`, test split of "
        "PneumoniaMNIST): the improved recipe's test AUC, clean "
        f"{f3(clean.auc)} ({interval(clean.auc_low, clean.auc_high)}), at each corruption's "
        f"highest severity: {at_top}. A small CNN trained with flipped labels: {noisy}. "
        f"Out-of-distribution AUROC of the feature-distance score: {separated}."
    )


def reproduction_paragraph() -> str:
    """What "reproduced" means on another machine, from tools/check_reproduction.py."""
    spec = importlib.util.spec_from_file_location("check", ROOT / "tools" / "check_reproduction.py")
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    wider = ", ".join(
        f"{value} for notebook {key}" for key, value in check.ABS_TOLERANCE.items() if key
    )
    return (
        "**Reproducing on another machine**: training is bit-identical only on the same CPU "
        "type, thread count and library versions. `make reproduce` ends with "
        "`tools/check_reproduction.py`, which compares every re-made table in `figures/` with "
        "the committed one: labels, counts and settings must be equal; measured values within "
        f"±1 (AUC, accuracy, Dice, rates) must agree within {check.ABS_TOLERANCE['']} ({wider}), "
        f"larger ones within {check.REL_TOLERANCE:.0%}; timings, memory, thresholds chosen on "
        "validation and p-values are not compared. That is what a reproduction means here."
    )


PARAGRAPHS = [
    data_paragraph,
    training_paragraph,
    evaluation_paragraph,
    explainability_paragraph,
    lesions_paragraph,
    deployment_paragraph,
    scaling_paragraph,
    generalization_paragraph,
    reproduction_paragraph,
]


def results() -> str:
    """The measured sentences of the README, one paragraph per notebook."""
    return "\n\n".join(paragraph() for paragraph in PARAGRAPHS)


def render(text: str) -> str:
    text = notebook_rows(text)
    runs = table("00_run_times")
    total = runs.minutes.sum()
    text = re.sub(
        r"(?m)^Total of the last `make reproduce`: .*$",
        f"Total of the last `make reproduce`: {total:.0f} min, the largest peak "
        f"{runs.peak_gb.max():.2f} GB ({runs.loc[runs.peak_gb.idxmax(), 'notebook']}).",
        text,
    )
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = f"{head}{BEGIN}\n{results()}\n{END}{tail}"
    return text


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is stale")
    args = parser.parse_args(argv)
    old = README.read_text(encoding="utf-8")
    new = render(old)
    if args.check:
        if new != old:
            print("README.md is stale: run python tools/render_readme.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
