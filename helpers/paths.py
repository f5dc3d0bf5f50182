"""Where things live: the repository root, ``figures/``, the model cache, the local data
folder and the download cache, and the environment variables that move them.

A leaf of the package (every layer may use it). Taught in ``notebooks/00_index.ipynb``.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

#: Environment variable naming a local folder that holds MedMNIST ``.npz`` files.
#: It is searched before the download cache and before the network (offline use, CI).
DATA_DIR_ENV = "MEDMNIST_DATA_DIR"
#: Environment variable that overrides where downloads are cached.
CACHE_DIR_ENV = "MEDIMG_CACHE_DIR"
#: Environment variable that overrides the repository root (figures/ and the model cache).
ROOT_ENV = "MEDIMG_ROOT"
#: Environment variable that moves only the figures and tables (a run on another dataset
#: writes them to ``figures/<flag>/``, keeping the committed ones and sharing the model cache).
FIGURES_ENV = "MEDIMG_FIGURES_DIR"

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
    """``figures/`` in the repository root, or ``$MEDIMG_FIGURES_DIR`` (created if missing)."""
    env = os.environ.get(FIGURES_ENV)
    path = Path(env).expanduser().resolve() if env else repo_root() / "figures"
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

    return Path(platformdirs.user_cache_dir(_APP_NAME))


def relative_to_root(path: str | os.PathLike[str]) -> str:
    """``path`` relative to the repository root when it lies inside it, else only its
    name, so printed outputs never show a machine's folders."""
    p = Path(path).resolve()
    try:
        return p.relative_to(repo_root()).as_posix()
    except ValueError:
        return p.name
