"""Fixtures: small generated files (npz, PNG, DICOM) and an isolated cache folder."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "medmnist"


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """Every test gets its own empty cache and no local data folder unless it sets one."""
    monkeypatch.setenv("MEDIMG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MEDMNIST_DATA_DIR", raising=False)
    yield


def real_data_dir() -> Path | None:
    """The offline MedMNIST copies: $MEDMNIST_DATA_DIR as the user set it, else ../shared."""
    env = os.environ.get("MEDMNIST_DATA_DIR_FOR_TESTS") or os.environ.get("MEDMNIST_DATA_DIR")
    for candidate in (Path(env) if env else None, SHARED_DATA):
        if candidate is not None and (candidate / "breastmnist.npz").is_file():
            return candidate
    return None


# Captured at import, before the autouse fixture removes the variable.
REAL_DATA = real_data_dir()


@pytest.fixture
def generated_binary(tmp_path, monkeypatch):
    """A small generated binary dataset ``gen_binary`` (64 / 32 / 20 images) in the official
    layout as the local data folder, and an empty repository root (figures/, model cache)."""
    from helpers.data.synthetic import write_dataset

    monkeypatch.setenv("MEDIMG_ROOT", str(tmp_path))
    monkeypatch.setenv("MEDMNIST_DATA_DIR", str(tmp_path / "data"))
    sizes = {"train": 64, "val": 32, "test": 20}
    write_dataset(tmp_path / "data", "gen_binary", "binary-class", sizes=sizes)
    return "gen_binary"


def write_medmnist_npz(path: Path, info, *, rng_seed: int = 0, **overrides) -> Path:
    """An npz with the official structure of ``info`` filled with random pixels.
    ``overrides`` replace or (with value None) drop individual arrays."""
    rng = np.random.default_rng(rng_seed)
    arrays = {}
    for split in ("train", "val", "test"):
        n = info.n_samples[split]
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, *info.image_shape), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, info.n_classes, (n, 1), dtype=np.uint8)
    for key, value in overrides.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    return path


def write_dicom(path: Path, pixels: np.ndarray, **options) -> Path:
    """A minimal valid DICOM file (uint16 pixels): the package's own writer, as a CT."""
    from helpers.data.imagefiles import write_dicom as write

    return write(path, pixels, **{"modality": "CT", "patient_name": "Test^Phantom", **options})


def phantom_medmnist(sizes: dict[str, int]):
    """Lesion vs no lesion phantoms, 28 px, uint8, as a MedMNIST object with the official
    BreastMNIST metadata and ``sizes`` images per split (also built by worker processes)."""
    from helpers.data.medmnist import MedMNIST, medmnist_info
    from helpers.data.phantoms import make_phantoms

    images, labels, offset = {}, {}, 0
    for split, n in sizes.items():
        ph = make_phantoms(offset + n, 28, seed=11)
        images[split] = (ph.images[offset:] * 255).round().astype(np.uint8)
        labels[split] = ph.labels[offset:]
        offset += n
    info = dataclasses.replace(medmnist_info("breastmnist"), n_samples=dict(sizes))
    return MedMNIST(
        info=info, path=None, checksum_ok=True, md5="generated", images=images, labels=labels
    )


@pytest.fixture(scope="session")
def phantom_data():
    """Lesion vs no lesion, 28 px, uint8, with the official BreastMNIST metadata."""
    return phantom_medmnist({"train": 160, "val": 60, "test": 60})
