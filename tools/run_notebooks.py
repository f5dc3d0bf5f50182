"""Execute every notebook in reading order with papermill, in place, on its default
parameters (``make reproduce``). Prints wall time and peak memory (resident set of the
kernel and its children, sampled every 0.2 s) per notebook.

Usage: python tools/run_notebooks.py [NOTEBOOK ...]   (default: notebooks/[0-9]*.ipynb)
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import papermill
import psutil

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
# Metadata that changes on every run and says nothing about the results.
VOLATILE_CELL_KEYS = ("execution",)


class PeakMemory:
    """Largest summed RSS of this process's children (the kernel), sampled in a thread."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def strip_volatile(path: Path) -> None:
    """Drop per-run timestamps so a re-run changes only what the results change."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    nb.get("metadata", {}).pop("papermill", None)
    for cell in nb.get("cells", []):
        meta = cell.get("metadata", {})
        meta.pop("papermill", None)
        for key in VOLATILE_CELL_KEYS:
            meta.pop(key, None)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def main(argv: list[str]) -> int:
    paths = [Path(p).resolve() for p in argv] or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    rows = []
    for path in paths:
        print(f"== {path.relative_to(ROOT)}", flush=True)
        start = time.perf_counter()
        with PeakMemory() as memory:
            papermill.execute_notebook(
                str(path),
                str(path),
                cwd=str(path.parent),
                kernel_name="python3",
                progress_bar=False,
            )
        seconds = time.perf_counter() - start
        strip_volatile(path)
        rows.append((path.name, seconds, memory.peak / 1e9))
        print(f"   {seconds:6.1f} s, peak {memory.peak / 1e9:.2f} GB", flush=True)
    print("\nnotebook | minutes | peak GB")
    for name, seconds, peak in rows:
        print(f"{name} | {seconds / 60:.1f} | {peak:.2f}")
    over = [name for name, _, peak in rows if peak >= 2.0]
    if over:
        print(f"over the 2 GB Binder ceiling: {', '.join(over)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
