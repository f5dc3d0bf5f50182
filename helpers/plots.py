"""One figure style for the collection, and saving figures and tables into ``figures/``
with stable bytes (no timestamps or software versions in the files).

Used by every notebook; introduced in ``notebooks/01_data.ipynb``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers import atomic
from helpers.paths import figures_dir, relative_to_root

#: One style for every figure: readable at notebook width, colour-blind-safe palette.
STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 110,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "image.cmap": "gray",
    "axes.prop_cycle": matplotlib.cycler(
        color=[
            "#0072B2",
            "#D55E00",
            "#009E73",
            "#CC79A7",
            "#E69F00",
            "#56B4E9",
            "#F0E442",
            "#000000",
        ]
    ),
    "svg.hashsalt": "medimg",  # stable ids if anyone saves SVG
}


def use_style() -> None:
    """Apply :data:`STYLE` to matplotlib (call once in a notebook's setup cell)."""
    plt.rcParams.update(STYLE)


def _check_name(name: str) -> str:
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(
            f"figure/table name must be a plain file stem like '01_samples', not {name!r}"
        )
    return name


def save_figure(fig: matplotlib.figure.Figure, name: str) -> str:
    """Save ``fig`` as ``figures/<name>.png`` with metadata stripped, so the same figure
    gives the same bytes. Name it after the notebook (``01_class_balance``).
    Returns the path relative to the repository root."""
    path = figures_dir() / f"{_check_name(name)}.png"
    with atomic.staged_file(path) as staging:
        fig.savefig(staging, format="png", metadata={"Software": None})
    return relative_to_root(path)


def markdown_table(rows: Sequence[dict] | pd.DataFrame, floatfmt: str = ".4g") -> str:
    """A GitHub-flavoured markdown table from a DataFrame or a list of dicts."""
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))

    def cell(v) -> str:
        if isinstance(v, (float, np.floating)):
            return format(float(v), floatfmt)
        return str(v).replace("|", "\\|")

    header = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def save_table(rows: Sequence[dict] | pd.DataFrame, name: str, floatfmt: str = ".4g") -> list[str]:
    """Write ``figures/<name>.csv`` and ``figures/<name>.md``; returns both paths
    relative to the repository root."""
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    base = figures_dir() / _check_name(name)
    csv = Path(f"{base}.csv")
    md = Path(f"{base}.md")
    atomic.write_text(csv, df.to_csv(index=False, float_format="%.6g", lineterminator="\n"))
    atomic.write_text(md, markdown_table(df, floatfmt))
    return [relative_to_root(csv), relative_to_root(md)]


def image_grid(
    images: Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    *,
    ncols: int = 8,
    size: float = 1.4,
    vmin: float | None = 0.0,
    vmax: float | None = None,
    cmap: str = "gray",
):
    """A grid of images without axes; returns the figure. Gray images share one
    intensity scale (``vmin``/``vmax``) so they can be compared."""
    n = len(images)
    nrows = max(1, int(np.ceil(n / ncols)))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(ncols * size, nrows * size * 1.1), squeeze=False
    )
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= n:
            continue
        img = np.asarray(images[k])
        if img.ndim == 3 and img.shape[-1] == 1:
            img = img[..., 0]
        ax.imshow(
            img, cmap=cmap if img.ndim == 2 else None, vmin=vmin, vmax=vmax, interpolation="nearest"
        )
        if titles is not None:
            ax.set_title(titles[k], fontsize=8)
    return fig
