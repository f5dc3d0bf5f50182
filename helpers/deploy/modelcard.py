"""A model card (Mitchell et al. 2019) in Markdown, generated from measured evaluation
numbers rather than typed by hand. Taught in ``notebooks/08_deployment.ipynb``.
"""

from __future__ import annotations

import pandas as pd

from helpers.deploy.lite import ModelInfo
from helpers.plots import markdown_table

METRIC_NAMES = {
    "accuracy": "accuracy",
    "sensitivity": "sensitivity",
    "specificity": "specificity",
    "ppv": "PPV",
    "npv": "NPV",
    "f1": "F1",
    "balanced_accuracy": "balanced accuracy",
    "roc_auc": "ROC-AUC",
    "pr_auc": "PR-AUC",
}


def model_card(
    *,
    name: str,
    info: ModelInfo,
    dataset: dict,
    metrics: pd.DataFrame,
    positive_class: str | None = None,
    parity: pd.DataFrame | None = None,
    speed: pd.DataFrame | None = None,
    limitations: list[str] = (),
    threshold_rule: str | None = None,
    speed_setting: str | None = None,
    out_of_distribution: pd.DataFrame | None = None,
) -> str:
    """The card's Markdown, built only from what it is given. ``dataset`` is
    :attr:`helpers.data.medmnist.MedMNIST.metadata`; ``metrics`` the table of
    :func:`helpers.evaluate.uncertainty.metrics_with_ci` on the test split (columns metric,
    estimate, low, high) at ``info.threshold``; ``parity`` and ``speed`` the tables of
    :mod:`helpers.deploy.latency`. ``threshold_rule`` says how ``info.threshold`` was chosen
    (e.g. "Youden's J on the validation split") and ``speed_setting`` how speed was measured
    (e.g. "2 CPU threads, one image, after warm-up"); the card states neither unless given.
    ``out_of_distribution`` is the measured refusal rate of the feature check per image set
    (columns images, n, refused, low, high), stated beside its threshold from ``info.ood``.
    ``positive_class`` names the class a binary model's metrics treat as positive; for other
    task kinds (:attr:`ModelInfo.kind`) ``metrics`` are those of the whole task
    (:func:`helpers.evaluate.uncertainty.task_metrics_with_ci`)."""
    rows = [
        {
            "metric": METRIC_NAMES.get(r.metric, r.metric),
            "test estimate": f"{r.estimate:.3f}",
            "95% CI (bootstrap)": f"{r.low:.3f} to {r.high:.3f}",
        }
        for r in metrics.itertuples()
    ]
    counts = dataset.get("n_samples", {})
    height, width, channels = info.input_shape
    image_kind = "gray image" if channels == 1 else f"{channels}-channel image"
    rule = f", chosen by {threshold_rule}" if threshold_rule else ""
    multi_label = info.kind == "multi-label"
    names = ", ".join(repr(c) for c in info.class_names)
    task_words = (
        f"find which of the labels {names} an image shows (none, one or several)"
        if multi_label
        else f"classify an image as {' or '.join(repr(c) for c in info.class_names)}"
    )
    lines = [
        f"# Model card: {name}",
        "",
        f"**Not for clinical use.** A teaching model trained on {height} × {width} pixel images; "
        "it has not been validated prospectively, on other sites, or by any regulator.",
        "",
        "## Intended use",
        "",
        f"Teaching and research on {dataset.get('flag', 'the dataset')}: {task_words}. Input: "
        f"one {image_kind}, resized to {height} × {width} px by the same function as in "
        f"training. Output: the probability of each {'label' if multi_label else 'class'}.",
    ]
    use = info.intended_use or {}
    checked = [
        f"{label} {', '.join(use[key])}"
        for key, label in (("modalities", "DICOM Modality"), ("body_parts", "BodyPartExamined"))
        if use.get(key)
    ]
    if checked:
        lines += [
            "",
            "The predict command refuses, with the reason and without a diagnosis, a DICOM file "
            f"whose header is outside this use ({'; '.join(checked)}; a header without the "
            "attribute is not refused), and any image that is "
            "blank, smaller than 16 px on a side or has non-finite values. Other files (PNG, "
            "JPEG, npz) carry no modality: the user vouches for them.",
        ]
    lines += [
        "",
        "## Data",
        "",
        f"- {dataset.get('flag')} (MedMNIST v2, {dataset.get('license', '')}), "
        f"source: {dataset.get('source', '')}",
        f"- images per split: train {counts.get('train')}, validation {counts.get('val')}, "
        f"test {counts.get('test')}",
        f"- class names: {', '.join(dataset.get('class_names', info.class_names))}",
        f"- cite: {dataset.get('citation', '')}",
        "",
        "## Model",
        "",
        f"{info.source}.",
        "",
        "## Operating point",
        "",
        _operating_point(info, rule, positive_class),
        "",
        "## Performance on the test split",
        "",
        markdown_table(pd.DataFrame(rows)),
    ]
    if parity is not None:
        lines += ["", "## Exported versions", "", markdown_table(parity.round(4))]
    if speed is not None:
        lines += [
            "",
            f"## Speed ({speed_setting})" if speed_setting else "## Speed",
            "",
            markdown_table(speed.round(3)),
        ]
    if info.ood:
        lines += [
            "",
            "## Out-of-distribution check",
            "",
            "Refused when the Mahalanobis distance of the image's penultimate-layer features from "
            f"the training images' exceeds {info.ood['threshold']:.2f}, the "
            f"{info.ood['quantile']:.0%} point of the validation images' distances.",
        ]
        if out_of_distribution is not None:
            lines += [
                "",
                "Measured share refused:",
                "",
                markdown_table(out_of_distribution.round(3)),
            ]
    lines += ["", "## Limitations", ""] + [f"- {item}" for item in limitations]
    return "\n".join(lines) + "\n"


def _operating_point(info: ModelInfo, rule: str, positive_class: str | None) -> str:
    """How the exported model decides, by its task kind, in one paragraph of the card."""
    kind = info.kind
    if kind == "binary":
        positive = positive_class or info.class_names[1]
        return (
            f"Class '{info.class_names[1]}' is called when its probability is at least "
            f"{info.threshold:.3f}{rule}. Metrics below treat '{positive}' as the positive "
            "class."
        )
    if kind == "multi-label":
        cuts = info.label_thresholds or [0.5] * len(info.class_names)
        each = ", ".join(f"'{name}' {cut:.3f}" for name, cut in zip(info.class_names, cuts))
        rule = rule if info.label_thresholds else " (MedMNIST's 0.5 for every label)"
        return (
            f"Each label is called when its probability reaches its own threshold ({each}){rule}; "
            "an image may get none, one or several labels. Metrics below are those of the whole "
            "task (MedMNIST's definitions: mean of the per-label AUCs, mean per-label accuracy at "
            "0.5)."
        )
    graded = (
        "; for ordinal grades also the quadratic-weighted kappa and the mean absolute grade error"
        if kind == "ordinal"
        else ""
    )
    return (
        "The most probable class is called (no threshold). Metrics below are those of the whole "
        "task (MedMNIST's definitions: macro one-vs-rest AUC, accuracy of the most probable "
        f"class{graded})."
    )
