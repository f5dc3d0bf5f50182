"""Figure saving gives stable bytes; tables; paths; seeding."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import paths, runtime
from helpers.plots import image_grid, markdown_table, save_figure, save_table, use_style


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDIMG_ROOT", str(tmp_path))
    return tmp_path


def test_same_figure_same_bytes(root):
    import matplotlib.pyplot as plt

    use_style()

    def draw():
        fig = image_grid([np.eye(8), np.ones((8, 8)) * 0.5], titles=["a", "b"], ncols=2)
        path = save_figure(fig, "99_test")
        plt.close(fig)
        return (root / path).read_bytes()

    first, second = draw(), draw()
    assert first == second and first[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"Software" not in first


def test_tables_are_written_as_csv_and_markdown(root):
    written = save_table([{"split": "train", "n": 3, "auc": 0.91234}], "99_table")
    assert written == ["figures/99_table.csv", "figures/99_table.md"]
    assert (root / "figures/99_table.csv").read_text() == "split,n,auc\ntrain,3,0.91234\n"
    assert "| train | 3 | 0.9123 |" in (root / "figures/99_table.md").read_text()
    assert markdown_table([{"a": "x|y"}]).splitlines()[2] == "| x\\|y |"


def test_bad_names_are_refused(root):
    with pytest.raises(ValueError, match="plain file stem"):
        save_table([{"a": 1}], "../escape")


def test_paths_follow_the_root_override(root):
    assert paths.repo_root() == root
    assert paths.figures_dir() == root / "figures"
    assert paths.model_cache_dir() == root / ".cache" / "models"
    assert paths.relative_to_root(root / "figures" / "x.png") == "figures/x.png"
    assert paths.relative_to_root("/elsewhere/data.npz") == "data.npz"


def test_set_seed_repeats_numpy_and_tensorflow():
    import tensorflow as tf

    runtime.set_seed(5)
    a = (np.random.rand(3), tf.random.uniform((3,)).numpy())
    runtime.set_seed(5)
    b = (np.random.rand(3), tf.random.uniform((3,)).numpy())
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_environment_report_has_what_00_index_prints():
    from helpers.runtime import environment_report

    report = environment_report()
    assert {"python", "platform", "cpu", "cores", "memory_total_gb", "gpus", "packages"} <= set(
        report
    )
    assert report["packages"]["numpy"] == np.__version__
    assert report["memory_total_gb"] > 0


def test_the_tensorflow_import_banner_is_told_from_real_stderr():
    from helpers.runtime import is_tf_banner

    banner = (
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        "I0000 00:00:1796611873.860267   15074 port.cc:153] oneDNN custom operations are on. "
        "You may see slightly different numerical results.\n"
    )
    stream = {"output_type": "stream", "name": "stderr", "text": banner}
    assert is_tf_banner(stream)
    assert not is_tf_banner({**stream, "text": banner + "UserWarning: something real\n"})
    assert not is_tf_banner({**stream, "name": "stdout"})
    assert not is_tf_banner({**stream, "text": ""})
