"""The process a notebook runs in: seeding and determinism, the warning format, the
one-call notebook setup, and the environment report (what machine and software this is).

A leaf of the package (every layer may use it). Every notebook's setup cell calls
:func:`setup`; ``notebooks/00_index.ipynb`` prints :func:`environment_report`.
"""

from __future__ import annotations

import os
import platform
import random
import re
import sys
import warnings
from importlib import metadata

import numpy as np
import psutil

from helpers.plots import use_style

#: The lines TensorFlow's C++ runtime prints on import before absl logging is initialised:
#: on some CPUs they appear even with TF_CPP_MIN_LOG_LEVEL=3 (measured on a 2-core AMD EPYC
#: with AVX-512 and on a 2-core Intel Xeon). Library noise, not output: the reproduce command
#: drops them from stored notebooks and the notebook tests do not count them as stderr.
TF_BANNER = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to "
    r"STDERR|I0000 \S+ +\d+ port\.cc:\d+\] oneDNN custom operations are on\..*)$"
)


def is_tf_banner(output: dict) -> bool:
    """Whether a notebook cell output (nbformat dict) is a stderr stream of nothing but
    :data:`TF_BANNER` lines."""
    if output.get("output_type") != "stream" or output.get("name") != "stderr":
        return False
    lines = "".join(output.get("text", "")).splitlines()
    return bool(lines) and all(TF_BANNER.match(line) for line in lines)


#: Packages whose versions matter for the numbers in the notebooks.
KEY_PACKAGES = (
    "tensorflow",
    "tensorflow-cpu",
    "keras",
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "scikit-image",
    "matplotlib",
    "seaborn",
    "pillow",
    "pydicom",
    "pooch",
    "shap",
    "lime",
    "papermill",
    "nbval",
    "jupyterlab",
    "medimg-helpers",
)


def package_versions(names: tuple[str, ...] = KEY_PACKAGES) -> dict[str, str]:
    """Installed version of each package, skipping those not installed."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo, else platform.processor())."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gb() -> tuple[float, float]:
    """(total, available) memory in GB, honouring a cgroup limit (Binder's 2 GB)."""

    vm = psutil.virtual_memory()
    total, available = vm.total, vm.available
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = open(limit_file, encoding="utf-8").read().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < total:
            total = int(text)
            available = min(available, total)
        break
    return total / 1e9, available / 1e9


def accelerators() -> list[str]:
    """GPUs TensorFlow can see (empty list on CPU-only machines or without TensorFlow)."""
    try:
        import tensorflow as tf  # deferred: optional, the data layer runs without it
    except ImportError:
        return []
    return [d.name for d in tf.config.list_physical_devices("GPU")]


def environment_report() -> dict[str, object]:
    """Python, OS, CPU, cores, memory, GPUs and key package versions, as one dict."""
    total, available = memory_gb()
    return {
        "python": sys.version.split()[0],
        "platform": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_total_gb": round(total, 1),
        "memory_available_gb": round(available, 1),
        "gpus": accelerators() or ["none"],
        "packages": package_versions(),
    }


def set_seed(seed: int, *, deterministic: bool = True, threads: int | None = None) -> None:
    """Seed Python, NumPy and (if it is installed) TensorFlow/Keras.

    With ``deterministic=True`` TensorFlow op determinism is switched on, and
    ``threads`` fixes the intra/inter-op thread counts (it must be called before
    TensorFlow runs its first op to take effect; later calls keep the old counts).
    Same seed + same CPU type + same thread count gives bit-identical training.
    Used in every notebook's setup cell.
    """
    random.seed(seed)
    np.random.seed(seed)
    try:
        import tensorflow as tf  # deferred: optional, the data layer runs without it
    except ImportError:  # the data layer works without TensorFlow
        return
    import keras  # deferred: optional, with TensorFlow

    keras.utils.set_random_seed(seed)
    if threads is not None:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # already initialised: the counts cannot change any more
            pass
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def short_warnings() -> None:
    """Print warnings as ``Category: message`` (no source path or line), so notebook
    outputs stay readable and never show a machine's folders. Called in setup cells."""

    def _format(message, category, filename, lineno, line=None):  # noqa: ARG001
        return f"{category.__name__}: {message}\n"

    warnings.formatwarning = _format


def setup(seed: int | None = None, *, threads: int | None = None) -> str:
    """A notebook's setup in one call: short warnings, the figure style, and (when
    ``seed`` is given) :func:`set_seed` with ``threads``. Returns a one-line environment
    summary to print. Without a seed TensorFlow is not imported (notebook 09's kernel)."""
    short_warnings()
    # tqdm.auto (imported by pooch, LIME and SHAP) warns that Jupyter widgets are missing;
    # progress bars fall back to text, so the warning is noise in a stored notebook.
    warnings.filterwarnings("ignore", message="IProgress not found")
    use_style()
    if seed is not None:
        set_seed(seed, threads=threads)
    return environment_line()


def environment_line() -> str:
    """Python, TensorFlow/Keras versions, cores and GPUs on one line (for a setup cell)."""
    versions = package_versions(("tensorflow", "tensorflow-cpu", "keras"))
    tf_version = versions.get("tensorflow") or versions.get("tensorflow-cpu") or "not installed"
    return (
        f"Python {sys.version.split()[0]}, TensorFlow {tf_version}, "
        f"Keras {versions.get('keras', 'not installed')}, "
        f"{os.cpu_count()} CPU cores"
    )
