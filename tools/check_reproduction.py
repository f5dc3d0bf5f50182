"""Compare the tables a run just wrote into ``figures/`` with the committed ones, within
stated tolerances: what "reproduced" means on another machine.

Bit-identical numbers need the same CPU type, thread count and library versions; another
machine trains other digits. So a re-run is compared value by value with the committed
table (``git show REV:figures/NAME.csv``), by column:

- labels, counts and settings (dataset, split, images, pairs, params, seed, ...) must be
  equal;
- measured values within ±1 (AUC, accuracy, Dice, rates) must agree within
  :data:`ABS_TOLERANCE` (0.08; 0.15 for notebook 05, whose scores rest on a few dozen
  phantoms), larger values (pixels, false positives per image) within
  :data:`REL_TOLERANCE` (25 %) of the committed value: wide enough for another
  CPU's training noise, narrow enough to catch a broken pipeline (an AUC that falls to
  chance, a Dice that collapses);
- timings, memory, thresholds chosen on validation and p-values are not compared
  (:data:`NOT_COMPARED`): they depend on the machine or change by orders of magnitude with
  small changes of the model.

Usage: python tools/check_reproduction.py [--against REV]   (``make reproduce`` runs it)
Exit 0 when every table agrees, 1 otherwise, with one line per disagreement.
"""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "figures"

#: Tables of machine facts only (run times and memory of the last run).
SKIP_TABLES = {"00_run_times"}
#: Columns not compared: timings, sizes, memory, validation-chosen thresholds, p-values.
NOT_COMPARED = re.compile(
    r"\bms\b|seconds|minutes|throughput|img/s|speed-up|faster by|peak|size on disk|"
    r"threshold|temperature|\bp$|epoch|train_flops",
    re.I,
)
#: Columns that must be equal: labels, counts and settings.
EXACT = re.compile(
    r"^(images|pairs|exact|label_conflicts|n|n_\w+|count|fold|width|seed|seeds|"
    r"train_fraction|params.*|forward_flops|MFLOPs.*|tolerance|passed|min_distance|"
    r"Dense\(128\) share|share|class)$",
    re.I,
)
#: Absolute tolerance of a measured value, by notebook (default: the "" entry).
ABS_TOLERANCE = {"": 0.08, "05": 0.15}
#: Relative tolerance of a measured value (of the committed value's magnitude).
REL_TOLERANCE = 0.25
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")


def tolerance(table: str, value: float) -> float:
    """The allowed difference from a committed ``value``: absolute for values within ±1
    (AUC, accuracy, Dice, rates, correlations), relative beyond (pixels, counts per image)."""
    absolute = ABS_TOLERANCE.get(table[:2], ABS_TOLERANCE[""])
    return absolute if abs(value) <= 1 else max(absolute, REL_TOLERANCE * abs(value))


def _close(old: float, new: float, table: str) -> bool:
    if pd.isna(old) and pd.isna(new):
        return True
    return abs(old - new) <= tolerance(table, old)


def compare_tables(name: str, old: pd.DataFrame, new: pd.DataFrame) -> list[str]:
    """Every disagreement between the committed table ``old`` and the re-run ``new``."""
    if list(old.columns) != list(new.columns):
        return [f"{name}: columns {list(new.columns)}, committed {list(old.columns)}"]
    if len(old) != len(new):
        return [f"{name}: {len(new)} rows, committed {len(old)}"]
    problems = []
    for column in old.columns:
        if NOT_COMPARED.search(str(column)):
            continue
        for row, (a, b) in enumerate(zip(old[column], new[column])):
            where = f"{name}, row {row + 1}, {column!r}"
            if EXACT.match(str(column)) or not _is_measured(a, b):
                if not (a == b or (pd.isna(a) and pd.isna(b))):
                    problems.append(f"{where}: {b!r}, committed {a!r} (must be equal)")
            elif isinstance(a, str) or isinstance(b, str):
                problems += _compare_text(where, str(a), str(b), name)
            elif not _close(float(a), float(b), name):
                problems.append(
                    f"{where}: {b}, committed {a} (tolerance ±{tolerance(name, float(a)):.3g})"
                )
    return problems


def _is_measured(a, b) -> bool:
    """Numbers, or text whose numbers are measurements (an interval such as "0.93-0.97")."""
    if isinstance(a, str) and isinstance(b, str):
        return NUMBER.sub("#", a) == NUMBER.sub("#", b) and bool(NUMBER.search(a))
    return not isinstance(a, (str, bool)) and not isinstance(b, (str, bool))


def _compare_text(where: str, a: str, b: str, table: str) -> list[str]:
    for x, y in zip(NUMBER.findall(a), NUMBER.findall(b)):
        if not _close(float(x), float(y), table):
            return [f"{where}: {b!r}, committed {a!r}"]
    return []


def committed(name: str, rev: str) -> pd.DataFrame | None:
    """The table ``figures/NAME.csv`` at ``rev`` (None if it was not committed there)."""
    shown = subprocess.run(
        ["git", "show", f"{rev}:figures/{name}.csv"], cwd=ROOT, capture_output=True, text=True
    )
    return pd.read_csv(io.StringIO(shown.stdout)) if shown.returncode == 0 else None


def check(rev: str = "HEAD", folder: Path = FIGURES) -> tuple[list[str], list[str]]:
    """(disagreements, tables not committed at ``rev``) over every table in ``folder``."""
    problems, new_tables = [], []
    for path in sorted(folder.glob("*.csv")):
        name = path.stem
        if name in SKIP_TABLES:
            continue
        old = committed(name, rev)
        if old is None:
            new_tables.append(name)
            continue
        problems += compare_tables(name, old, pd.read_csv(path))
    return problems, new_tables


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default="HEAD", help="git revision of the reference tables")
    args = parser.parse_args(argv)
    problems, new_tables = check(args.against)
    for line in problems:
        print(line)
    if new_tables:
        print(f"not committed at {args.against} (not compared): {', '.join(new_tables)}")
    verdict = "reproduced within tolerance" if not problems else f"{len(problems)} disagreements"
    print(f"figures/ against {args.against}: {verdict}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
