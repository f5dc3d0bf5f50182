"""The MedMNIST v2 dataset registry: find, download, verify and load ``.npz`` files.

Taught in ``notebooks/01_data.ipynb``. Any 2D MedMNIST flag at sizes 28, 64, 128 and
224 works. Where a file is looked for, in order:

1. the folder named by ``$MEDMNIST_DATA_DIR`` (or the ``data_dir`` argument): offline
   machines and CI put their copies here;
2. the download cache (``$MEDIMG_CACHE_DIR`` or the user's cache folder);
3. the official address, downloaded with pooch (md5-verified, atomic) into the cache.

A local file whose md5 differs from the official one is still used when its structure
(keys, dtypes, shapes, official split sizes) is right, with a
:class:`ChecksumMismatchWarning`; anything else raises :class:`DatasetError` naming the
file, the problem, where a copy belongs and the address to fetch it from by hand.
The ``medmnist`` PyPI package is deliberately not used: it pulls in PyTorch.

**Your own dataset** in the same layout: put ``<name>.npz`` (the six official arrays) and a
description ``<name>.json`` in ``$MEDMNIST_DATA_DIR`` (or pass ``data_dir``); ``<name>`` is then a
flag like any other. The description holds the registry's fields (:data:`DESCRIPTION_KEYS`:
task in MedMNIST's words, class names, channels, split sizes, licence, source); it has no
address and no checksum, so nothing is downloaded and no checksum warning is given.
:func:`helpers.data.synthetic.write_dataset` writes such a pair for every task kind.
"""

from __future__ import annotations

import json
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from helpers.paths import CACHE_DIR_ENV, DATA_DIR_ENV, download_cache_dir
from helpers.paths import data_dir as env_data_dir

SPLITS = ("train", "val", "test")
SIZES = (28, 64, 128, 224)
CITATION = (
    "Yang, J. et al. MedMNIST v2 - A large-scale lightweight benchmark for 2D and 3D "
    "biomedical image classification. Scientific Data 10, 41 (2023)."
)


class DatasetError(Exception):
    """A dataset file is missing, unreadable or not what it claims to be."""


class ChecksumMismatchWarning(UserWarning):
    """A local file differs from the official bytes but has the official structure."""


@dataclass(frozen=True)
class MedMNISTInfo:
    """What the MedMNIST project publishes about one flag at one image size."""

    flag: str
    size: int
    python_class: str
    modality: str
    task: str
    labels: tuple[str, ...]
    n_channels: int
    n_samples: dict[str, int]
    license: str
    source: str
    filename: str
    url: str
    md5: str

    @property
    def n_classes(self) -> int:
        return len(self.labels)

    @property
    def task_kind(self) -> str:
        """``"binary"``, ``"multi-class"``, ``"ordinal"`` or ``"multi-label"``: how the
        labels are scored. Ordinal regression is trained as multi-class (softmax) and
        scored with the multi-class metrics plus the ordinal ones."""
        if self.task == "binary-class":
            return "binary"
        if self.task.startswith("multi-label"):
            return "multi-label"
        if self.task.startswith("ordinal"):
            return "ordinal"
        return "multi-class"

    @property
    def n_outputs(self) -> int:
        """Model outputs: one sigmoid unit for binary tasks, else one unit per class or label."""
        return 1 if self.task_kind == "binary" else self.n_classes

    @property
    def image_shape(self) -> tuple[int, ...]:
        """Shape of one image as stored: (S, S) for gray, (S, S, 3) for colour."""
        s = self.size
        return (s, s) if self.n_channels == 1 else (s, s, self.n_channels)


#: The fields of a dataset description (``<name>.json`` beside ``<name>.npz``).
DESCRIPTION_KEYS = ("task", "labels", "n_channels", "n_samples", "license", "source")
#: MedMNIST's task names, as the registry and a description spell them.
TASKS = ("binary-class", "multi-class", "ordinal-regression", "multi-label, binary-class")

#: The finding of each dataset whose clinical question is one class (or label) against the
#: rest: what "positive" means where a notebook scores "finding vs not" (04, 10).
FINDINGS = {"pneumoniamnist": "pneumonia", "breastmnist": "malignant"}


@dataclass(frozen=True)
class Finding:
    """The class (or label) scored as "finding vs not": its index in ``info.labels``, its
    name, and whether it was named (by the caller or :data:`FINDINGS`) rather than taken as
    the stand-in last class."""

    index: int
    label: str
    named: bool


def finding(info: MedMNISTInfo, name: str | None = None) -> Finding:
    """The finding of ``info``'s dataset: the class (or label) ``name`` when given, else the
    one :data:`FINDINGS` names for the flag, else the last class, an arbitrary stand-in
    (``named`` is False, so a notebook can say so) to be replaced by the clinically relevant
    one. Taught in ``notebooks/04_evaluation.ipynb``; 10 uses it too."""
    name = name if name is not None else FINDINGS.get(info.flag)
    if name is None:
        return Finding(len(info.labels) - 1, info.labels[-1], named=False)
    if name not in info.labels:
        raise ValueError(
            f"{info.flag}: no class or label {name!r} to score as the finding; "
            f"it has {', '.join(map(repr, info.labels))}"
        )
    return Finding(info.labels.index(name), name, named=True)


@lru_cache(maxsize=1)
def _registry() -> dict:
    text = resources.files("helpers.data").joinpath("medmnist_info.json").read_text("utf-8")
    return json.loads(text)["datasets"]


def available_flags() -> list[str]:
    """The 2D MedMNIST flags this registry knows (``pneumoniamnist``, ``breastmnist``, ...)."""
    return sorted(_registry())


def medmnist_info(flag: str, size: int = 28, data_dir: str | Path | None = None) -> MedMNISTInfo:
    """Official metadata, address and md5 of ``flag`` at ``size`` pixels; for a flag the
    registry does not know, the description ``<flag>.json`` in ``data_dir`` or
    ``$MEDMNIST_DATA_DIR`` (see the module docstring).

    Raises :class:`DatasetError` for an unknown flag or size, listing the valid ones, and
    for a description that is unreadable or incomplete, naming the file and the problem.
    """
    registry = _registry()
    key = str(flag).lower()
    if key not in registry:
        return _described_info(key, size, data_dir)
    entry = registry[key]
    if str(size) not in entry["files"]:
        raise DatasetError(
            f"{key} has no size {size!r}; MedMNIST publishes sizes {', '.join(map(str, SIZES))}"
        )
    file = entry["files"][str(size)]
    return MedMNISTInfo(
        flag=key,
        size=int(size),
        python_class=entry["python_class"],
        modality=entry["modality"],
        task=entry["task"],
        labels=tuple(entry["labels"]),
        n_channels=int(entry["n_channels"]),
        n_samples=dict(entry["n_samples"]),
        license=entry["license"],
        source=entry["source"],
        filename=file["filename"],
        url=file["url"],
        md5=file["md5"],
    )


def _described_info(key: str, size: int, data_dir: str | Path | None) -> MedMNISTInfo:
    folders = [Path(d) for d in (data_dir, env_data_dir()) if d is not None]
    described = next((f / f"{key}.json" for f in folders if (f / f"{key}.json").is_file()), None)
    if described is None:
        where = " or ".join(str(f) for f in folders) or f"${DATA_DIR_ENV} (not set)"
        raise DatasetError(
            f"unknown MedMNIST flag {key!r}; known 2D flags: {', '.join(available_flags())}; "
            f"for your own dataset put {key}.npz and its description {key}.json in {where}"
        )

    def fail(problem: str) -> DatasetError:
        return DatasetError(
            f"{described}: {problem} (a dataset description needs "
            f"{', '.join(DESCRIPTION_KEYS)}; see helpers.data.medmnist)"
        )

    try:
        entry = json.loads(described.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise fail(f"not readable as JSON ({exc})") from exc
    if not isinstance(entry, dict):
        raise fail("holds no JSON object")
    missing = [k for k in DESCRIPTION_KEYS if k not in entry]
    if missing:
        raise fail(f"missing {missing}")
    if entry["task"] not in TASKS:
        raise fail(f"task {entry['task']!r} is not one of {', '.join(TASKS)}")
    if int(entry["n_channels"]) not in (1, 3):
        raise fail(f"n_channels is {entry['n_channels']!r}, not 1 or 3")
    if sorted(entry["n_samples"]) != sorted(SPLITS):
        raise fail(f"n_samples must give the sizes of {', '.join(SPLITS)}")
    if len(entry["labels"]) < 2 and not str(entry["task"]).startswith("multi-label"):
        raise fail("labels must name at least two classes")
    return MedMNISTInfo(
        flag=key,
        size=int(size),
        python_class=str(entry.get("python_class", key)),
        modality=str(entry.get("modality", "")),
        task=str(entry["task"]),
        labels=tuple(str(name) for name in entry["labels"]),
        n_channels=int(entry["n_channels"]),
        n_samples={split: int(entry["n_samples"][split]) for split in SPLITS},
        license=str(entry["license"]),
        source=str(entry["source"]),
        filename=f"{key}.npz" if int(size) == 28 else f"{key}_{int(size)}.npz",
        url="",
        md5="",
    )


@dataclass
class MedMNIST:
    """One MedMNIST dataset in memory: uint8 images and integer labels per split."""

    info: MedMNISTInfo
    path: Path
    checksum_ok: bool
    md5: str
    images: dict[str, np.ndarray] = field(repr=False)
    labels: dict[str, np.ndarray] = field(repr=False)

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(images, labels)`` of ``train``, ``val`` or ``test``; labels are 1-D for
        single-label tasks and (N, n_labels) for ChestMNIST's multi-label task."""
        if name not in SPLITS:
            raise KeyError(f"split must be one of {SPLITS}, not {name!r}")
        return self.images[name], self.labels[name]

    def class_counts(self) -> dict[str, np.ndarray]:
        """Images per class in each split (positives per label for multi-label)."""
        out = {}
        for name in SPLITS:
            y = self.labels[name]
            if y.ndim == 2:
                out[name] = y.sum(axis=0)
            else:
                out[name] = np.bincount(y, minlength=self.info.n_classes)
        return out

    @property
    def metadata(self) -> dict:
        """Class names, task, licence, source, counts per split and where the file came from."""
        return {
            "flag": self.info.flag,
            "size": self.info.size,
            "task": self.info.task,
            "class_names": list(self.info.labels),
            "license": self.info.license,
            "source": self.info.source,
            "citation": CITATION,
            "n_samples": {s: int(len(self.labels[s])) for s in SPLITS},
            "class_counts": {s: c.tolist() for s, c in self.class_counts().items()},
            "file": self.path.name,
            "checksum_ok": self.checksum_ok,
        }

    @property
    def fingerprint(self) -> str:
        """md5 of the file the data came from: part of every model-cache key, so a model
        trained on another copy of the data is never reused silently."""
        return self.md5


def file_md5(path: str | Path) -> str:
    """md5 hex digest of a file (``pooch.file_hash``, read in chunks)."""
    import pooch  # deferred: importing pooch imports tqdm.auto, which warns in notebooks

    return pooch.file_hash(str(path), alg="md5")


def _where_to_put(info: MedMNISTInfo) -> str:
    if not info.url:  # a described dataset of one's own
        return f"It must match its description {info.flag}.json (task, classes, channels, sizes)."
    local = env_data_dir()
    local_txt = f"${DATA_DIR_ENV} ({local})" if local else f"a folder named by ${DATA_DIR_ENV}"
    return (
        f"Put a good copy of {info.filename} in {local_txt} or in the download cache "
        f"({download_cache_dir()}), or fetch it by hand from {info.url} (md5 {info.md5})."
    )


def read_npz(path: Path, info: MedMNISTInfo) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Read and structurally check a MedMNIST ``.npz``: the six keys, uint8 images of the
    flag's shape, integer labels in range, and the official split sizes.

    Returns ``(images, labels)`` dicts keyed by split (labels squeezed to 1-D for
    single-label tasks). Raises :class:`DatasetError` naming the file and the problem.
    """
    path = Path(path)

    def fail(problem: str) -> DatasetError:
        return DatasetError(f"{path}: {problem}. {_where_to_put(info)}")

    try:
        archive = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError) as exc:
        raise fail(f"not a readable .npz archive (truncated or corrupt?): {exc}") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):  # a .npy renamed: one bare array
        raise fail("holds a single array (a .npy file?), not an .npz archive of named arrays")
    images: dict[str, np.ndarray] = {}
    labels: dict[str, np.ndarray] = {}
    with archive:
        expected = [f"{s}_{kind}" for s in SPLITS for kind in ("images", "labels")]
        missing = [k for k in expected if k not in archive.files]
        if missing:
            raise fail(f"missing keys {missing} (found {sorted(archive.files)})")
        multi_label = info.task.startswith("multi-label")
        for split in SPLITS:
            try:
                x = archive[f"{split}_images"]
                y = archive[f"{split}_labels"]
            except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError) as exc:
                raise fail(
                    f"cannot read the {split} arrays (truncated or corrupt?): {exc}"
                ) from exc
            n = info.n_samples[split]
            if x.dtype != np.uint8:
                raise fail(f"{split}_images has dtype {x.dtype}, expected uint8")
            if x.shape != (n, *info.image_shape):
                raise fail(
                    f"{split}_images has shape {x.shape}, expected {(n, *info.image_shape)} "
                    f"(official {split} size {n}, {info.size} px, {info.n_channels} channel(s))"
                )
            if not np.issubdtype(y.dtype, np.integer):
                raise fail(f"{split}_labels has dtype {y.dtype}, expected an integer type")
            width = info.n_classes if multi_label else 1
            if y.shape != (n, width):
                raise fail(f"{split}_labels has shape {y.shape}, expected {(n, width)}")
            upper = 1 if multi_label else info.n_classes - 1
            if y.size and (y.min() < 0 or y.max() > upper):
                raise fail(f"{split}_labels holds values outside 0..{upper}")
            images[split] = x
            labels[split] = y.astype(np.int64) if multi_label else y[:, 0].astype(np.int64)
    return images, labels


def _local_candidates(info: MedMNISTInfo, data_dir: str | Path | None) -> list[Path]:
    folders = [Path(data_dir)] if data_dir is not None else []
    env = env_data_dir()
    if env is not None:
        folders.append(env)
    return [folder / info.filename for folder in folders]


def download_medmnist(
    flag: str, size: int = 28, *, cache_dir: str | Path | None = None, url: str | None = None
) -> Path:
    """Download ``flag`` at ``size`` into the cache with pooch (md5-verified; written
    to a temporary file and moved into place, so a broken download leaves nothing).

    An existing cached file with the right md5 is reused without network access.
    ``url`` overrides the official address (a mirror, or a local server in tests).
    """
    import pooch  # deferred: importing pooch imports tqdm.auto, which warns in notebooks
    import requests  # deferred with pooch, which uses it

    info = medmnist_info(flag, size)
    folder = Path(cache_dir) if cache_dir is not None else download_cache_dir()
    try:
        fetched = pooch.retrieve(
            url or info.url,
            known_hash=f"md5:{info.md5}",
            fname=info.filename,
            path=folder,
            progressbar=False,
        )
    except requests.exceptions.RequestException as exc:
        raise DatasetError(
            f"{folder / info.filename}: no local copy was found and the download from "
            f"{url or info.url} failed ({type(exc).__name__}: no network?). {_where_to_put(info)}"
        ) from exc
    except ValueError as exc:  # pooch: the downloaded bytes have the wrong md5
        raise DatasetError(
            f"{folder / info.filename}: the download from {url or info.url} did not match "
            f"md5 {info.md5} and was discarded ({exc}). {_where_to_put(info)}"
        ) from exc
    except OSError as exc:  # cache folder not writable, under a file, disk full
        reason = exc.strerror or type(exc).__name__
        raise DatasetError(
            f"{folder / info.filename}: cannot write the download cache ({reason}); nothing "
            f"was kept. Point ${CACHE_DIR_ENV} at a writable folder with space. "
            f"{_where_to_put(info)}"
        ) from exc
    return Path(fetched)


def locate_medmnist(
    flag: str,
    size: int = 28,
    *,
    data_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    download: bool = True,
) -> Path:
    """Path of the ``.npz`` for ``flag``/``size``: the local data folder first, then the
    cache, then a download (when ``download`` is true). Raises :class:`DatasetError`
    listing where it looked when there is none."""
    info = medmnist_info(flag, size, data_dir)
    cache = Path(cache_dir) if cache_dir is not None else download_cache_dir()
    for candidate in _local_candidates(info, data_dir):
        if candidate.is_file():
            return candidate
    cached = cache / info.filename
    if not download:
        if cached.is_file():
            return cached
        looked = [str(p) for p in _local_candidates(info, data_dir)] + [str(cached)]
        raise DatasetError(
            f"{info.filename}: no local copy (looked in {', '.join(looked)}) and downloads "
            f"are switched off. {_where_to_put(info)}"
        )
    if not info.url:  # a described dataset of one's own: there is nothing to download
        looked = [str(p) for p in _local_candidates(info, data_dir)] + [str(cached)]
        if cached.is_file():
            return cached
        raise DatasetError(
            f"{info.filename}: not found (looked in {', '.join(looked)}); a described "
            f"dataset has no address to download it from"
        )
    return download_medmnist(flag, size, cache_dir=cache)


def load_medmnist(
    flag: str,
    size: int = 28,
    *,
    data_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    download: bool = True,
) -> MedMNIST:
    """Load a 2D MedMNIST dataset (see the module docstring for where it is looked for).

    >>> ds = load_medmnist("pneumoniamnist")            # doctest: +SKIP
    >>> x_train, y_train = ds.split("train")             # doctest: +SKIP
    """
    info = medmnist_info(flag, size, data_dir)
    path = locate_medmnist(flag, size, data_dir=data_dir, cache_dir=cache_dir, download=download)
    actual = file_md5(path)
    checksum_ok = actual == info.md5
    images, labels = read_npz(path, info)
    if info.md5 and not checksum_ok:  # a described dataset publishes no checksum
        warnings.warn(
            f"{path.name}: md5 {actual} differs from the official {info.md5}, but the file "
            f"has the official keys, dtypes, shapes and split sizes, so it is used. "
            f"(A re-packed copy? Its images may be in another order than the official file.)",
            ChecksumMismatchWarning,
            stacklevel=2,
        )
    return MedMNIST(
        info=info, path=path, checksum_ok=checksum_ok, md5=actual, images=images, labels=labels
    )


def local_availability(data_dir: str | Path | None = None, size: int = 28) -> list[dict]:
    """Which flags have a file in the local data folder or the cache (no download, no
    full read: only the md5 is checked). Used by ``00_index``."""
    rows = []
    for flag in available_flags():
        info = medmnist_info(flag, size)
        places = [("local data dir", p) for p in _local_candidates(info, data_dir)]
        places.append(("download cache", download_cache_dir() / info.filename))
        row = {"flag": flag, "size": size, "file": info.filename, "found in": "-", "md5": "-"}
        for label, candidate in places:
            if candidate.is_file():
                row["found in"] = label
                row["md5"] = "official" if file_md5(candidate) == info.md5 else "differs"
                break
        rows.append(row)
    return rows
