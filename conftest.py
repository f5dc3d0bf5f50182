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
