"""Paths, environment variables and seeding: the bottom layer every other module uses.

Taught in ``notebooks/00_index.ipynb`` (where things live) and used by every notebook
for seeding. Nothing here imports TensorFlow at module import time, so the data layer
stays usable (and fast to import) without it.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np

#: Environment variable naming a local folder that holds MedMNIST ``.npz`` files.
#: It is searched before the download cache and before the network (offline use, CI).
DATA_DIR_ENV = "MEDMNIST_DATA_DIR"
#: Environment variable that overrides where downloads are cached.
CACHE_DIR_ENV = "MEDIMG_CACHE_DIR"
#: Environment variable that overrides the repository root (figures/ and the model cache).
ROOT_ENV = "MEDIMG_ROOT"

_APP_NAME = "medimg-notebooks"


def repo_root() -> Path:
    """The repository root: ``$MEDIMG_ROOT``, else the folder holding this package's
    ``pyproject.toml`` (an editable install), else the nearest parent of the working
    directory that has a ``figures/`` or ``pyproject.toml``, else the working directory."""
    env = os.environ.get(ROOT_ENV)
    if env:
        return Path(env).expanduser().resolve()
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").is_file() and (here / "notebooks").is_dir():
        return here
    cwd = Path.cwd().resolve()
    for folder in (cwd, *cwd.parents):
        if (folder / "pyproject.toml").is_file() or (folder / "figures").is_dir():
            return folder
    return cwd


def figures_dir() -> Path:
    """``figures/`` in the repository root (created if missing)."""
    path = repo_root() / "figures"
    path.mkdir(parents=True, exist_ok=True)
    return path


def model_cache_dir() -> Path:
    """Git-ignored folder for trained models, keyed by their parameters (``.cache/models``)."""
    path = repo_root() / ".cache" / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path | None:
    """The local MedMNIST folder named by ``$MEDMNIST_DATA_DIR``, or None if unset."""
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env).expanduser() if env else None


def download_cache_dir() -> Path:
    """Where downloads are cached: ``$MEDIMG_CACHE_DIR`` or the user's cache folder."""
    env = os.environ.get(CACHE_DIR_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir(_APP_NAME))


def relative_to_root(path: str | os.PathLike[str]) -> str:
    """``path`` relative to the repository root when it lies inside it, else only its
    name, so printed outputs never show a machine's folders."""
    p = Path(path).resolve()
    try:
        return p.relative_to(repo_root()).as_posix()
    except ValueError:
        return p.name


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
        import tensorflow as tf
    except ImportError:  # the data layer works without TensorFlow
        return
    import keras

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
    import warnings

    def _format(message, category, filename, lineno, line=None):  # noqa: ARG001
        return f"{category.__name__}: {message}\n"

    warnings.formatwarning = _format
