"""pytest configuration shared by the unit tests and the notebook runs (nbval).

TensorFlow writes informational lines (oneDNN, CPU features) to stderr, which differ
between machines and runs; so stderr streams are left out of nbval's output comparison.
Only cells marked ``# NBVAL_CHECK_OUTPUT`` are compared at all (``--nbval-lax``).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")

try:
    import nbval.plugin as _nbval
except ImportError:  # unit tests run without nbval too
    _nbval = None

if _nbval is not None:
    _compare_outputs = _nbval.IPyNbCell.compare_outputs

    def _without_stderr(outputs):
        return [
            o
            for o in outputs
            if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
        ]

    def _compare_outputs_without_stderr(self, test, ref, skip_compare=None):
        return _compare_outputs(self, _without_stderr(test), _without_stderr(ref), skip_compare)

    _nbval.IPyNbCell.compare_outputs = _compare_outputs_without_stderr

    # nbval runs the stored notebooks in a kernel of their own; their figures and tables would
    # land in the checkout's figures/ with this machine's timings. Point the kernel at a
    # temporary root instead: a copy of figures/ (00 reads the run-time table) and a link to
    # notebooks/ (00 reads their titles).
    import atexit
    import shutil
    import tempfile
    from pathlib import Path

    import nbval.kernel as _nbval_kernel

    _start_new_kernel = _nbval_kernel.start_new_kernel
    _temporary_root: list[Path] = []

    def _nbval_root() -> Path:
        if not _temporary_root:
            checkout = Path(__file__).resolve().parent
            root = Path(tempfile.mkdtemp(prefix="nbval-root-"))
            atexit.register(shutil.rmtree, root, ignore_errors=True)
            shutil.copytree(checkout / "figures", root / "figures")
            (root / "notebooks").symlink_to(checkout / "notebooks", target_is_directory=True)
            _temporary_root.append(root)
        return _temporary_root[0]

    def _start_kernel_in_temporary_root(*args, **kwargs):
        kwargs["env"] = {**os.environ, "MEDIMG_ROOT": str(_nbval_root())}
        return _start_new_kernel(*args, **kwargs)

    _nbval_kernel.start_new_kernel = _start_kernel_in_temporary_root
