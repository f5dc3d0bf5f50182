"""MedMNIST registry, lookup order, verification, download and malformed files."""

from __future__ import annotations

import functools
import http.server
import re
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import REAL_DATA, write_medmnist_npz
from helpers.data import medmnist as datasets
from helpers.data.medmnist import (
    ChecksumMismatchWarning,
    DatasetError,
    available_flags,
    file_md5,
    load_medmnist,
    locate_medmnist,
    medmnist_info,
)

TWO_D_FLAGS = {
    "pathmnist",
    "chestmnist",
    "dermamnist",
    "octmnist",
    "pneumoniamnist",
    "retinamnist",
    "breastmnist",
    "bloodmnist",
    "tissuemnist",
    "organamnist",
    "organcmnist",
    "organsmnist",
}


def test_registry_has_every_2d_flag_at_every_size():
    assert set(available_flags()) == TWO_D_FLAGS
    for flag in TWO_D_FLAGS:
        for size in (28, 64, 128, 224):
            info = medmnist_info(flag, size)
            assert re.fullmatch(r"[0-9a-f]{32}", info.md5)
            assert info.url.startswith("https://zenodo.org/records/10519652/files/")
            assert info.filename in info.url
            assert info.filename == (f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz")
            assert sum(info.n_samples.values()) > 0


def test_registry_official_values():
    info = medmnist_info("pneumoniamnist")
    assert info.md5 == "28209eda62fecd6e6a2d98b1501bb15f"
    assert info.n_samples == {"train": 4708, "val": 524, "test": 624}
    assert info.labels == ("normal", "pneumonia")
    breast = medmnist_info("BreastMNIST", 28)  # flags are case-insensitive
    assert breast.md5 == "750601b1f35ba3300ea97c75c52ff8f6"
    assert breast.labels == ("malignant", "normal, benign")
    assert medmnist_info("bloodmnist", 64).image_shape == (64, 64, 3)


def test_unknown_flag_names_it_and_lists_known():
    with pytest.raises(DatasetError, match=r"unknown MedMNIST flag 'lungmnist'.*pneumoniamnist"):
        medmnist_info("lungmnist")


def test_unknown_size_names_it_and_lists_sizes():
    with pytest.raises(DatasetError, match=r"breastmnist has no size 32.*28, 64, 128, 224"):
        medmnist_info("breastmnist", 32)


def test_local_file_with_official_structure_but_other_md5_loads_with_warning(tmp_path, monkeypatch):
    info = medmnist_info("breastmnist")
    write_medmnist_npz(tmp_path / "breastmnist.npz", info)
    monkeypatch.setenv("MEDMNIST_DATA_DIR", str(tmp_path))
    with pytest.warns(ChecksumMismatchWarning, match=r"breastmnist.npz: md5 [0-9a-f]{32} differs"):
        ds = load_medmnist("breastmnist")
    assert not ds.checksum_ok
    x, y = ds.split("train")
    assert x.shape == (546, 28, 28) and x.dtype == np.uint8
    assert y.shape == (546,) and set(np.unique(y)) <= {0, 1}
    assert ds.metadata["n_samples"] == {"train": 546, "val": 78, "test": 156}
    assert ds.metadata["class_names"] == ["malignant", "normal, benign"]
    assert ds.metadata["license"] == "CC BY 4.0"
    assert sum(ds.class_counts()["test"]) == 156


def test_local_dir_is_searched_before_cache(tmp_path, monkeypatch):
    info = medmnist_info("breastmnist")
    local = write_medmnist_npz(tmp_path / "local" / info.filename, info, rng_seed=1)
    write_medmnist_npz(tmp_path / "cache" / info.filename, info, rng_seed=2)
    monkeypatch.setenv("MEDMNIST_DATA_DIR", str(tmp_path / "local"))
    assert locate_medmnist("breastmnist", download=False) == local
    monkeypatch.delenv("MEDMNIST_DATA_DIR")
    assert locate_medmnist("breastmnist", download=False) == tmp_path / "cache" / info.filename


def test_multilabel_labels_keep_their_width(tmp_path, monkeypatch):
    info = medmnist_info("chestmnist")
    small = {s: 3 for s in ("train", "val", "test")}
    monkeypatch.setattr(
        datasets,
        "medmnist_info",
        lambda flag, size=28: datasets.MedMNISTInfo(**{**info.__dict__, "n_samples": small}),
    )
    arrays = {
        f"{s}_labels": np.random.default_rng(0).integers(0, 2, (3, 14), dtype=np.uint8)
        for s in ("train", "val", "test")
    }
    arrays |= {f"{s}_images": np.zeros((3, 28, 28), np.uint8) for s in ("train", "val", "test")}
    path = tmp_path / "chestmnist.npz"
    np.savez(path, **arrays)
    images, labels = datasets.read_npz(path, datasets.medmnist_info("chestmnist"))
    assert labels["train"].shape == (3, 14)


# ---- malformed files: every message names the file and the problem -----------------


def _read(path: Path, flag: str = "breastmnist"):
    return datasets.read_npz(path, medmnist_info(flag))


def test_npy_renamed_npz(tmp_path):
    bad = tmp_path / "breastmnist.npz"
    with open(bad, "wb") as f:
        np.save(f, np.zeros((4, 28, 28), np.uint8))
    with pytest.raises(DatasetError, match=r"breastmnist\.npz: holds a single array \(a \.npy"):
        _read(bad)


def test_corrupt_member_of_an_intact_archive(tmp_path):
    """The zip directory is fine but one compressed member's bytes are flipped."""
    import zipfile

    info = medmnist_info("breastmnist")
    good = tmp_path / "good.npz"
    arrays = {
        f"{s}_images": np.zeros((info.n_samples[s], 28, 28), np.uint8)
        for s in ("train", "val", "test")
    }
    arrays |= {
        f"{s}_labels": np.zeros((info.n_samples[s], 1), np.uint8) for s in ("train", "val", "test")
    }
    np.savez_compressed(good, **arrays)
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as archive:
        member = archive.getinfo("val_images.npy")
    start = member.header_offset + 30 + len(member.filename) + len(member.extra)
    for offset in range(start + 20, start + 60):
        data[offset] ^= 0xFF  # inside the deflate stream of val_images
    bad = tmp_path / "breastmnist.npz"
    bad.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match=r"breastmnist\.npz: cannot read the val arrays"):
        _read(bad)


def test_truncated_npz(tmp_path):
    good = write_medmnist_npz(tmp_path / "good.npz", medmnist_info("breastmnist"))
    bad = tmp_path / "breastmnist.npz"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(DatasetError, match=r"breastmnist\.npz: .*(truncated or corrupt)"):
        _read(bad)


def test_not_an_npz_at_all(tmp_path):
    bad = tmp_path / "breastmnist.npz"
    bad.write_text("<html>404 Not Found</html>")
    with pytest.raises(DatasetError, match=r"breastmnist\.npz: not a readable \.npz"):
        _read(bad)


def test_wrong_keys(tmp_path):
    info = medmnist_info("breastmnist")
    bad = write_medmnist_npz(
        tmp_path / "breastmnist.npz",
        info,
        val_labels=None,
        validation_labels=np.zeros((78, 1), np.uint8),
    )
    with pytest.raises(DatasetError, match=r"breastmnist\.npz: missing keys \['val_labels'\]"):
        _read(bad)


def test_wrong_dtype(tmp_path):
    info = medmnist_info("breastmnist")
    bad = write_medmnist_npz(
        tmp_path / "breastmnist.npz", info, train_images=np.zeros((546, 28, 28), np.float32)
    )
    with pytest.raises(
        DatasetError, match=r"breastmnist\.npz: train_images has dtype float32, expected uint8"
    ):
        _read(bad)


def test_wrong_image_shape(tmp_path):
    info = medmnist_info("breastmnist")
    bad = write_medmnist_npz(
        tmp_path / "breastmnist.npz", info, test_images=np.zeros((156, 64, 64), np.uint8)
    )
    with pytest.raises(
        DatasetError,
        match=r"breastmnist\.npz: test_images has shape \(156, 64, 64\), expected \(156, 28, 28\)",
    ):
        _read(bad)


def test_wrong_split_size(tmp_path):
    info = medmnist_info("breastmnist")
    bad = write_medmnist_npz(
        tmp_path / "breastmnist.npz",
        info,
        val_images=np.zeros((70, 28, 28), np.uint8),
        val_labels=np.zeros((70, 1), np.uint8),
    )
    with pytest.raises(
        DatasetError, match=r"val_images has shape \(70, 28, 28\).*official val size 78"
    ):
        _read(bad)


def test_labels_out_of_range(tmp_path):
    info = medmnist_info("breastmnist")
    bad = write_medmnist_npz(
        tmp_path / "breastmnist.npz", info, train_labels=np.full((546, 1), 7, np.uint8)
    )
    with pytest.raises(DatasetError, match=r"train_labels holds values outside 0\.\.1"):
        _read(bad)


def test_md5_mismatch_with_bad_structure_is_refused_with_where_to_put_it(tmp_path, monkeypatch):
    info = medmnist_info("breastmnist")
    write_medmnist_npz(
        tmp_path / "breastmnist.npz", info, train_images=np.zeros((10, 28, 28), np.uint8)
    )
    monkeypatch.setenv("MEDMNIST_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetError) as err:
        load_medmnist("breastmnist")
    message = str(err.value)
    assert str(tmp_path / "breastmnist.npz") in message
    assert "train_images has shape (10, 28, 28)" in message
    assert "MEDMNIST_DATA_DIR" in message and info.url in message and info.md5 in message


def test_no_network_and_no_local_copy(tmp_path):
    # Port 9 on loopback: nothing listens, the connection is refused at once.
    with pytest.raises(DatasetError) as err:
        datasets.download_medmnist(
            "breastmnist", cache_dir=tmp_path / "c", url="http://127.0.0.1:9/breastmnist.npz"
        )
    message = str(err.value)
    assert "breastmnist.npz" in message and "no local copy" in message and "failed" in message
    assert medmnist_info("breastmnist").url in message
    assert not list((tmp_path / "c").glob("*")), "nothing half-written in the cache"


def test_downloads_off_and_nothing_local(tmp_path):
    with pytest.raises(
        DatasetError, match=r"breastmnist\.npz: no local copy .* downloads are switched off"
    ):
        load_medmnist("breastmnist", download=False)


# ---- the real download path, against a server on loopback ------------------------


@pytest.fixture
def file_server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _registry_with_md5(flag: str, md5: str) -> dict:
    registry = {k: dict(v) for k, v in datasets._registry().items()}
    files = {k: dict(v) for k, v in registry[flag]["files"].items()}
    files["28"]["md5"] = md5
    registry[flag]["files"] = files
    return registry


def test_download_verifies_md5_caches_and_reuses(file_server, tmp_path, monkeypatch):
    served, base = file_server
    info = medmnist_info("breastmnist")
    source = write_medmnist_npz(served / info.filename, info)
    registry = _registry_with_md5("breastmnist", file_md5(source))
    monkeypatch.setattr(datasets, "_registry", lambda: registry)
    cache = tmp_path / "dl-cache"
    path = datasets.download_medmnist("breastmnist", cache_dir=cache, url=f"{base}/{info.filename}")
    assert path == cache / info.filename and file_md5(path) == file_md5(source)
    source.unlink()  # a second call must not need the server
    again = datasets.download_medmnist(
        "breastmnist", cache_dir=cache, url=f"{base}/{info.filename}"
    )
    assert again == path
    ds = load_medmnist("breastmnist", cache_dir=cache)
    assert ds.checksum_ok and ds.path == path


def test_download_with_wrong_md5_leaves_nothing_behind(file_server, tmp_path):
    served, base = file_server
    info = medmnist_info("breastmnist")
    write_medmnist_npz(served / info.filename, info)  # random pixels: not the official md5
    cache = tmp_path / "dl-cache"
    with pytest.raises(DatasetError, match=r"breastmnist\.npz: the download .* did not match md5"):
        datasets.download_medmnist("breastmnist", cache_dir=cache, url=f"{base}/{info.filename}")
    assert not list(cache.glob("*")), "a failed download must not leave a (partial) file"


def test_cache_under_a_file_is_a_dataset_error(file_server, tmp_path):
    """A cache path inside a regular file: the project's error, naming the path."""
    served, base = file_server
    info = medmnist_info("breastmnist")
    write_medmnist_npz(served / info.filename, info)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(DatasetError, match=r"not-a-folder/sub/breastmnist\.npz: cannot write"):
        datasets.download_medmnist(
            "breastmnist", cache_dir=blocker / "sub", url=f"{base}/{info.filename}"
        )


@pytest.mark.parametrize(
    "failure, expected",
    [
        (OSError(28, "No space left on device"), DatasetError),  # disk full: the project's error
        (KeyboardInterrupt(), KeyboardInterrupt),  # Ctrl-C half-way: the interrupt propagates
    ],
    ids=["disk-full", "interrupted"],
)
def test_failed_download_leaves_no_partial_file(
    file_server, tmp_path, monkeypatch, failure, expected
):
    """The download writes its temporary file, then fails: no (partial) file remains."""
    import pooch

    served, base = file_server
    info = medmnist_info("breastmnist")
    write_medmnist_npz(served / info.filename, info)
    real = pooch.HTTPDownloader.__call__

    def failing(self, url, output_file, pooch_, check_only=False):
        real(self, url, output_file, pooch_, check_only)  # writes the temporary file
        raise failure

    monkeypatch.setattr(pooch.HTTPDownloader, "__call__", failing)
    cache = tmp_path / "dl-cache"
    with pytest.raises(expected) as raised:
        datasets.download_medmnist("breastmnist", cache_dir=cache, url=f"{base}/{info.filename}")
    if expected is DatasetError:
        assert "No space left on device" in str(raised.value)
    assert not [p for p in cache.glob("*") if p.is_file()], "no partial download may remain"


# ---- the real offline copies ---------------------------------------------------

needs_real = pytest.mark.skipif(REAL_DATA is None, reason="no offline MedMNIST copies found")


@needs_real
def test_real_breastmnist_matches_official_md5(monkeypatch):
    monkeypatch.setenv("MEDMNIST_DATA_DIR", str(REAL_DATA))
    ds = load_medmnist("breastmnist")
    assert ds.checksum_ok
    assert ds.metadata["n_samples"] == {"train": 546, "val": 78, "test": 156}


@needs_real
def test_real_pneumoniamnist_is_the_official_file(monkeypatch):
    monkeypatch.setenv("MEDMNIST_DATA_DIR", str(REAL_DATA))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ChecksumMismatchWarning)
        ds = load_medmnist("pneumoniamnist")
    assert ds.checksum_ok and ds.fingerprint == "28209eda62fecd6e6a2d98b1501bb15f"
    counts = ds.class_counts()
    assert counts["train"].tolist() == [1214, 3494]
    assert counts["val"].tolist() == [135, 389]
    assert counts["test"].tolist() == [234, 390]


def test_local_availability_lists_every_flag(tmp_path, monkeypatch):
    info = medmnist_info("breastmnist")
    write_medmnist_npz(tmp_path / info.filename, info)
    monkeypatch.setenv("MEDMNIST_DATA_DIR", str(tmp_path))
    rows = {r["flag"]: r for r in datasets.local_availability()}
    assert set(rows) == TWO_D_FLAGS
    assert (
        rows["breastmnist"]["found in"] == "local data dir"
        and rows["breastmnist"]["md5"] == "differs"
    )
    assert rows["pathmnist"]["found in"] == "-"


def test_task_kind_and_output_count_live_on_the_dataset_info():
    kinds = {
        flag: (medmnist_info(flag).task_kind, medmnist_info(flag).n_outputs)
        for flag in ("breastmnist", "pathmnist", "retinamnist", "chestmnist")
    }
    assert kinds == {
        "breastmnist": ("binary", 1),
        "pathmnist": ("multi-class", 9),
        "retinamnist": ("ordinal", 5),
        "chestmnist": ("multi-label", 14),
    }
