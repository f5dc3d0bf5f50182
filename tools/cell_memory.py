"""Where a notebook spends its time and memory: execute it in a temporary root (its figures
and tables land there, not in figures/) and print, per code cell, the peak summed RSS of the
kernel and its child processes (fresh-process training included) and the seconds it took.

Usage: python tools/cell_memory.py notebooks/09_large_models.ipynb [--empty-cache] [-p key=json ...]

By default the repository's model cache is linked in, so cached models are loaded as in a run
in order; ``--empty-cache`` starts from none, as a fresh clone does. The executed copy is
written to the temporary root's ``notebooks/`` folder, whose path is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--empty-cache", action="store_true", help="train every model afresh")
    parser.add_argument("-p", action="append", default=[], help="parameter key=json value")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    import nbformat
    import papermill
    from nbclient import NotebookClient
    from run_notebooks import children_rss  # tools/ is on the path when run as a script

    source = args.notebook.resolve()
    params = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.p)}
    root = Path(tempfile.mkdtemp(prefix="cell-memory-"))
    shutil.copytree(ROOT / "figures", root / "figures")
    (root / "notebooks").mkdir()
    if not args.empty_cache and (ROOT / ".cache").is_dir():
        (root / ".cache").symlink_to(ROOT / ".cache", target_is_directory=True)
    os.environ["MEDIMG_ROOT"] = str(root)

    current, peaks, seconds = {"cell": -1}, {}, {}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peaks[current["cell"]] = max(peaks.get(current["cell"], 0), children_rss())
            stop.wait(0.2)

    def started(cell, cell_index, **_) -> None:
        current["cell"], seconds[cell_index] = cell_index, time.perf_counter()

    def executed(cell, cell_index, **_) -> None:
        seconds[cell_index] = time.perf_counter() - seconds[cell_index]

    nb = nbformat.read(source, as_version=4)
    if params:  # papermill records what it injects in metadata that a plain read lacks
        nb.metadata.setdefault("papermill", nbformat.from_dict({}))
        nb = papermill.parameterize.parameterize_notebook(nb, params)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    client = NotebookClient(
        nb,
        kernel_name="python3",
        resources={"metadata": {"path": str(source.parent)}},
        on_cell_start=started,
        on_cell_executed=executed,
        timeout=3600,
    )
    start = time.perf_counter()
    try:
        client.execute()
    finally:
        stop.set()
        sampler.join()
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                first = cell.source.splitlines()[0][:60] if cell.source else ""
                gb, took = peaks.get(i, 0) / 1e9, seconds.get(i, 0)
                print(f"cell {i:3d} {gb:5.2f} GB {took:7.1f} s  {first}")
        total_peak = max(peaks.values(), default=0) / 1e9
        print(f"total {(time.perf_counter() - start) / 60:.1f} min, peak {total_peak:.2f} GB")
        out = root / "notebooks" / source.name
        nbformat.write(nb, out)
        print(f"executed copy: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
