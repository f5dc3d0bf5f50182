"""Execute every notebook in reading order with papermill, in place, on its default
parameters (``make reproduce``). Prints wall time and peak memory (resident set of the
kernel and its children, sampled every 0.2 s) per notebook.

Usage: python tools/run_notebooks.py [--no-times] [--dataset FLAG [--size PX]] [NOTEBOOK ...]
(default: every notebook)

``--no-times`` leaves ``figures/00_run_times.csv`` as it is: for re-running a notebook whose
models were not trained from an empty cache in reading order, whose minutes would mislead.

``--dataset`` runs the notebooks that take a dataset on another MedMNIST flag (or a dataset
of your own in ``$MEDMNIST_DATA_DIR``), at ``--size`` px (default 28), into
``runs/<flag>_<size>px/``: the executed notebooks in its ``notebooks/``, their figures and
tables in its ``figures/`` (``$MEDIMG_FIGURES_DIR``), this run's times in its
``run_times.csv``; the committed notebooks and figures are not touched, and the model cache is
shared. Each notebook gets the dataset through its own parameters (:func:`dataset_parameters`);
one that takes no dataset, or no image size when ``--size`` is not 28, is skipped, and the
table says why.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from unittest import mock

import papermill
import psutil

from helpers.data.medmnist import DatasetError, locate_medmnist
from helpers.paths import FIGURES_ENV
from helpers.runtime import is_tf_banner

# As the Makefile does: TensorFlow's C++ banners would land in the stored outputs when this
# tool is run directly (the kernels and any process they start inherit this environment).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
# Metadata that changes on every run and says nothing about the results.
VOLATILE_CELL_KEYS = ("execution",)


def children_rss() -> int:
    """Summed resident memory (bytes) of this process's children: the kernel and the fresh
    processes it starts."""
    total = 0
    for child in psutil.Process().children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:  # ended between listing and reading
            pass
    return total


class PeakMemory:
    """Largest summed RSS of this process's children (the kernel), sampled in a thread."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, children_rss())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def strip_volatile(path: Path) -> None:
    """Drop per-run timestamps, and TensorFlow's import banner
    (:data:`helpers.runtime.TF_BANNER`), so a re-run changes only what the results change."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    nb.get("metadata", {}).pop("papermill", None)
    for cell in nb.get("cells", []):
        if "outputs" in cell:
            cell["outputs"] = [o for o in cell["outputs"] if not is_tf_banner(o)]
        meta = cell.get("metadata", {})
        meta.pop("papermill", None)
        for key in VOLATILE_CELL_KEYS:
            meta.pop(key, None)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


#: The table of the last runs (``make reproduce``): minutes and peak memory per notebook,
#: read by the README renderer (tools/render_readme.py).
RUN_TIMES = ROOT / "figures" / "00_run_times.csv"
#: The project's memory budget per notebook (a warning) and Binder's ceiling (a failure).
MEMORY_BUDGET_GB, BINDER_GB = 1.5, 2.0


def write_run_times(rows: list[tuple[str, float, float]]) -> None:
    """Merge this run's rows into :data:`RUN_TIMES` (a partial run updates its rows only)."""
    header = "notebook,minutes,peak_gb"
    table = {}
    if RUN_TIMES.is_file() and RUN_TIMES.read_text(encoding="utf-8").startswith(header):
        for line in RUN_TIMES.read_text(encoding="utf-8").splitlines()[1:]:
            name, *values = line.split(",")
            table[name] = values
    for name, seconds, peak in rows:
        table[name] = [f"{seconds / 60:.1f}", f"{peak:.2f}"]
    lines = [header] + [",".join([n, *v]) for n, v in sorted(table.items())]
    staging = RUN_TIMES.with_suffix(".partial")
    staging.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(staging, RUN_TIMES)


def execute(path: Path, target: Path | None = None, parameters: dict | None = None) -> None:
    """Run one notebook into a temporary copy and move it to ``target`` (default: in place)
    only when it succeeded: a failing run never overwrites the committed notebook (its
    output is kept in .cache/failed/ for reading). ``parameters`` go to papermill."""
    target = target or path
    staging = target.with_name(f".{path.stem}.running.ipynb")
    try:
        papermill.execute_notebook(
            str(path),
            str(staging),
            parameters=parameters or {},
            cwd=str(path.parent),
            kernel_name="python3",
            progress_bar=False,
        )
    except BaseException:
        failed = ROOT / ".cache" / "failed"
        failed.mkdir(parents=True, exist_ok=True)
        if staging.exists():
            os.replace(staging, failed / path.name)
        raise
    strip_volatile(staging)
    os.replace(staging, target)


#: The two default datasets: where a notebook compares the run's dataset with a second one
#: (03's SECOND_DATASET, 10's OTHER_DATASET) and that is the run's own, it gets the other.
DEFAULT_PAIR = ("pneumoniamnist", "breastmnist")
#: Image-size parameters, by name, in the notebooks that take one.
SIZE_PARAMETERS = ("SIZE", "IMAGE_SIZE")


def dataset_parameters(notebook: Path, flag: str, size: int = 28) -> dict | str:
    """The papermill parameters that point ``notebook`` at dataset ``flag`` at ``size`` px,
    read from its ``parameters`` cell: ``DATASET`` and ``REAL_DATASET`` get the flag,
    ``DATASETS`` a list of it, a ``SECOND_DATASET`` or ``OTHER_DATASET`` equal to the flag
    the other default dataset, ``SIZE`` or ``IMAGE_SIZE`` the size. Returns the reason as a
    string instead when the notebook cannot take the request (no dataset parameter; no size
    parameter while ``size`` is not 28). A comparison dataset whose parameter comment allows
    None (01's ``SECOND_DATASET``) gets None when its file is not on disk at ``size``
    (:func:`on_disk`)."""
    declared = papermill.inspect_notebook(str(notebook))
    params: dict = {}
    for name in ("DATASET", "REAL_DATASET"):
        if name in declared:
            params[name] = flag
    if "DATASETS" in declared:
        params["DATASETS"] = [flag]
    if not params:
        return "takes no dataset (the same figures for every dataset)"
    for name in ("SECOND_DATASET", "OTHER_DATASET"):
        if name in declared and json.loads(declared[name]["default"]) == flag:
            params[name] = next(other for other in DEFAULT_PAIR if other != flag)
        # A comparison the notebook can leave out (its comment names None) is left out when
        # its dataset is not on disk at the run's size: a run on one dataset should not
        # download another (offline it could not: pneumoniamnist_64 for 01 at 64 px).
        if name in declared and "None" in declared[name].get("help", ""):
            other = params.get(name, json.loads(declared[name]["default"]))
            if other and not on_disk(other, size):
                params[name] = None
    sizes = [name for name in SIZE_PARAMETERS if name in declared]
    if sizes:
        params[sizes[0]] = size
    elif size != 28:
        return f"has no image-size parameter yet (runs at 28 px only), so not at {size} px"
    return params


def on_disk(flag: str, size: int) -> bool:
    """Whether the MedMNIST file of ``flag`` at ``size`` px is already on this machine (the
    data folder or the download cache), without downloading it."""
    try:
        locate_medmnist(flag, size, download=False)
    except DatasetError:
        return False
    return True


def run_folder(flag: str, size: int) -> Path:
    """Where a run on another dataset lands: ``runs/<flag>_<size>px/``."""
    return ROOT / "runs" / f"{flag}_{size}px"


def main(argv: list[str]) -> int:
    record_times = "--no-times" not in argv
    argv = [a for a in argv if a != "--no-times"]
    flag, size = None, 28
    if "--dataset" in argv:
        at = argv.index("--dataset")
        flag = argv[at + 1]
        del argv[at : at + 2]
    if "--size" in argv:
        at = argv.index("--size")
        size = int(argv[at + 1])
        del argv[at : at + 2]
        if flag is None:
            print("--size needs --dataset (the defaults run at 28 px)", file=sys.stderr)
            return 2
    paths = [Path(p).resolve() for p in argv] or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if flag is not None:
        return run_dataset(paths, flag, size)
    rows, failures = [], []
    for path in paths:
        print(f"== {_shown(path)}", flush=True)
        timed(path, rows, failures)
    if record_times:
        write_run_times(rows)
        index = NOTEBOOKS / "00_index.ipynb"
        if index in paths and not failures:
            # The index's map shows each notebook's run time and memory: run it once more,
            # now that this run's are written (its own row keeps the first run's numbers).
            print(f"== {index.relative_to(ROOT)} again, with this run's times", flush=True)
            execute(index)
    print()
    print_table(rows)
    too_big = [name for name, _, peak in rows if peak >= BINDER_GB]
    if too_big:
        print(f"over Binder's {BINDER_GB} GB ceiling: {', '.join(too_big)}", file=sys.stderr)
    if failures:
        print(f"failed: {', '.join(failures)}", file=sys.stderr)
    return 1 if failures or too_big else 0


def timed(
    path: Path,
    rows: list,
    failures: list,
    target: Path | None = None,
    parameters: dict | None = None,
) -> None:
    """:func:`execute` one notebook, appending (name, seconds, peak GB) to ``rows`` or its
    name to ``failures``, and print the result."""
    start = time.perf_counter()
    try:
        with PeakMemory() as memory:
            execute(path, target, parameters)
    except papermill.PapermillExecutionError as exc:
        failures.append(path.name)
        print(f"   FAILED: {exc.ename}: {exc.evalue}", flush=True)
        print(f"   (the failed run is in .cache/failed/{path.name})", flush=True)
        return
    seconds = time.perf_counter() - start
    rows.append((path.name, seconds, memory.peak / 1e9))
    print(f"   {seconds:6.1f} s, peak {memory.peak / 1e9:.2f} GB", flush=True)


def print_table(rows: list) -> None:
    """The minutes and peak memory of each notebook run, their total, and (on stderr) the
    notebooks over the memory budget."""
    print("notebook | minutes | peak GB")
    for name, seconds, peak in rows:
        print(f"{name} | {seconds / 60:.1f} | {peak:.2f}")
    print(f"total | {sum(r[1] for r in rows) / 60:.1f} |")
    over = [name for name, _, peak in rows if peak > MEMORY_BUDGET_GB]
    if over:
        print(f"over the {MEMORY_BUDGET_GB} GB memory budget: {', '.join(over)}", file=sys.stderr)


def _shown(path: Path) -> Path:
    """``path`` relative to the repository when inside it (for printing)."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def run_dataset(paths: list[Path], flag: str, size: int, folder: Path | None = None) -> int:
    """``--dataset``: each notebook that can take ``flag`` at ``size`` px, into ``folder``
    (default :func:`run_folder`), with its time and memory; the others listed with the
    reason."""
    folder = folder or run_folder(flag, size)
    (folder / "notebooks").mkdir(parents=True, exist_ok=True)
    rows, skipped, failures = [], [], []
    # The kernels inherit this process's environment; it is restored afterwards, so a caller
    # (a test process running other notebooks next) keeps writing into figures/.
    with mock.patch.dict(os.environ, {FIGURES_ENV: str(folder / "figures")}):
        for path in paths:
            parameters = dataset_parameters(path, flag, size)
            if isinstance(parameters, str):
                skipped.append((path.name, parameters))
                continue
            print(f"== {_shown(path)} {json.dumps(parameters)}", flush=True)
            timed(path, rows, failures, folder / "notebooks" / path.name, parameters)
    lines = ["notebook,minutes,peak_gb"] + [f"{n},{s / 60:.1f},{p:.2f}" for n, s, p in rows]
    (folder / "run_times.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"\n{flag} at {size} px, in {_shown(folder)}/")
    print_table(rows)
    for name, reason in skipped:
        print(f"skipped {name}: {reason}")
    if failures:
        print(f"failed: {', '.join(failures)}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
