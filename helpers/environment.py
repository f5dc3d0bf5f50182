"""What machine and software this is: the environment report printed by
``notebooks/00_index.ipynb`` (and useful in any bug report)."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

#: Packages whose versions matter for the numbers in the notebooks.
KEY_PACKAGES = (
    "tensorflow", "tensorflow-cpu", "keras", "numpy", "scipy", "pandas", "scikit-learn",
    "scikit-image", "matplotlib", "seaborn", "pillow", "pydicom", "pooch", "shap", "lime",
    "papermill", "nbval", "jupyterlab", "medimg-helpers",
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
    import psutil

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
        import tensorflow as tf
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
