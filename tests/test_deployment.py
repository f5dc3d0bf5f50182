"""Export (.keras with safe_mode, SavedModel, TFLite float/dynamic/int8 via LiteRT), the
predict command on real-world file types, the latency tables and the model card (08)."""

from __future__ import annotations

import dataclasses
import json

import keras
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from helpers.data.preprocess import to_float
from helpers.deploy import export, latency, lite, modelcard, predict
from helpers.evaluate.uncertainty import metrics_with_ci
from helpers.models.cnn import compact_cnn
from tests.conftest import write_dicom

CLASSES = ["normal", "lesion"]


@pytest.fixture(scope="module")
def exported(phantom_data, tmp_path_factory):
    """A small CNN trained briefly on the phantom fixture, exported in every format."""
    keras.utils.set_random_seed(0)
    model = compact_cnn((28, 28, 1), 1, width=4, bn_momentum=0.9)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="binary_crossentropy")
    x = to_float(phantom_data.images["train"])
    model.fit(x, phantom_data.labels["train"].astype("float32"), epochs=3, batch_size=32, verbose=0)
    info = lite.ModelInfo(
        class_names=CLASSES, input_shape=[28, 28, 1], threshold=0.5, source="test model"
    )
    folder = tmp_path_factory.mktemp("exports")
    paths = export.export_all(model, folder, info, representative=x[:64])
    return model, paths, phantom_data


def test_every_export_agrees_with_keras(exported):
    model, paths, data = exported
    x = to_float(data.images["test"])
    reference = model(x, training=False).numpy()
    assert np.allclose(export.load_keras(paths["keras"])(x).numpy(), reference, atol=1e-6)
    saved = predict.Predictor(paths["savedmodel"])
    assert np.allclose(saved.probabilities(x)[:, 1], reference[:, 0], atol=1e-5)
    tolerance = {"float32": 1e-5, "dynamic": 0.05, "int8": 0.1}
    for variant, atol in tolerance.items():
        runner = lite.LiteModel(paths[f"tflite-{variant}"])
        assert runner.predict(x).shape == reference.shape
        assert np.abs(runner.predict(x) - reference).max() <= atol, variant
    sizes = {k: export.size_on_disk(v) for k, v in paths.items()}
    assert (
        sizes["tflite-int8"] < sizes["tflite-float32"]
    )  # (a 4x gap needs more weights than headers)
    assert lite.ModelInfo.load(paths["tflite-int8"]).class_names == CLASSES


def test_export_errors_are_clear(exported, tmp_path):
    model, paths, _ = exported
    info = lite.ModelInfo(class_names=CLASSES, input_shape=[28, 28, 1])
    with pytest.raises(ValueError, match="end in .keras"):
        export.save_keras(model, tmp_path / "model.h5", info)
    with pytest.raises(ValueError, match="representative"):
        export.tflite_bytes(paths["savedmodel"], "int8")
    with pytest.raises(ValueError, match="variant"):
        export.tflite_bytes(paths["savedmodel"], "int4")
    lonely = tmp_path / "lonely.tflite"
    lonely.write_bytes(paths["tflite-float32"].read_bytes())
    with pytest.raises(FileNotFoundError, match="lonely.tflite.json"):
        lite.ModelInfo.load(lonely)


def _files(folder, data):
    """One file of each kind the command must read, plus two bad ones."""
    image = data.images["test"][0]
    files = {}
    files["small_png"] = folder / "small.png"
    Image.fromarray(image).save(files["small_png"])
    big = np.kron(
        image.astype(np.uint16) * 257, np.ones((40, 40), np.uint16)
    )  # 1120 x 1120, 16-bit
    files["big16_png"] = folder / "big16.png"
    Image.fromarray(big).save(files["big16_png"])
    rgba = np.dstack([image, image, image, np.full_like(image, 255)])
    files["rgba_png"] = folder / "rgba.png"
    Image.fromarray(rgba, "RGBA").save(files["rgba_png"])
    files["rgb_jpg"] = folder / "rgb.jpg"
    Image.fromarray(np.dstack([image] * 3)).save(files["rgb_jpg"], quality=95)
    pixels = image.astype(np.uint16) * 16
    files["mono1_dcm"] = write_dicom(
        folder / "mono1.dcm",
        pixels.max() - pixels,
        photometric="MONOCHROME1",
        slope=2.0,
        intercept=-100.0,
    )
    files["mono2_dcm"] = write_dicom(folder / "mono2.dcm", pixels, slope=2.0, intercept=-100.0)
    files["stack_npz"] = folder / "stack.npz"
    np.savez(files["stack_npz"], images=data.images["test"][:3])
    files["corrupt_png"] = folder / "corrupt.png"
    files["corrupt_png"].write_bytes(b"\x89PNG\r\n\x1a\n broken")
    files["missing"] = folder / "missing.png"
    return files


def test_predict_command_reads_every_kind_and_reports_bad_files(exported, tmp_path, capsys):
    model, paths, data = exported
    files = _files(tmp_path, data)
    status = predict.main(
        ["--model", str(paths["tflite-float32"]), "--json", *map(str, files.values())]
    )
    out, err = capsys.readouterr()
    assert status == 1
    assert "corrupt.png" in err and "missing.png" in err
    rows = {row["file"]: row for row in json.loads(out)}
    assert len(rows) == 6 + 3 + 2  # every good file, the npz stack as three images, two bad
    for bad in ("corrupt_png", "missing"):
        assert rows[str(files[bad])]["status"] == "failed"
        assert str(files[bad]) in rows[str(files[bad])]["reason"]
    scored = {name: row for name, row in rows.items() if row["status"] == "scored"}
    assert len(scored) == 9
    for row in scored.values():
        assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        assert row["predicted"] in CLASSES
    p = {
        key: row["probabilities"]["lesion"]
        for key, path in files.items()
        if (row := scored.get(str(path)))
    }
    expected = float(model(to_float(data.images["test"][:1]), training=False).numpy()[0, 0])
    assert p["small_png"] == pytest.approx(expected, abs=1e-5)  # the same preprocessing as training
    assert p["rgba_png"] == pytest.approx(expected, abs=1e-5)
    assert p["big16_png"] == pytest.approx(expected, abs=0.05)  # 40x downsampled: antialiased
    assert p["mono1_dcm"] == pytest.approx(p["mono2_dcm"], abs=1e-5)  # MONOCHROME1 inverted
    assert rows[f"{files['stack_npz']}[0]"]["probabilities"]["lesion"] == pytest.approx(
        expected, abs=1e-5
    )


def test_tflite_and_keras_inputs_agree_without_tensorflow_resize(exported, tmp_path, capsys):
    """The TFLite path prepares images in NumPy (model_input_array), the .keras path with
    TensorFlow (model_input): the same probabilities for a file that needs resizing."""
    _, paths, data = exported
    big = _files(tmp_path, data)["big16_png"]
    answers = {}
    for kind in ("keras", "tflite-float32"):
        assert predict.main(["--model", str(paths[kind]), "--format", "jsonl", str(big)]) == 0
        answers[kind] = json.loads(capsys.readouterr().out)["probabilities"]["lesion"]
    assert answers["keras"] == pytest.approx(answers["tflite-float32"], abs=1e-5)


def _out_of_scope_files(folder, data):
    image = data.images["test"][0]
    files = {"good": folder / "good.png"}
    Image.fromarray(image).save(files["good"])
    files["blank"] = folder / "blank.png"
    Image.fromarray(np.full((64, 64), 128, np.uint8)).save(files["blank"])
    files["tiny"] = folder / "tiny.png"
    Image.fromarray(image[:8, :8]).save(files["tiny"])
    files["nan_npz"] = folder / "nan.npz"
    nan_image = to_float(image[None])[0, ..., 0].copy()
    nan_image[3, 3] = np.nan
    np.savez(files["nan_npz"], image=nan_image)
    files["all_nan_npz"] = folder / "all_nan.npz"
    np.savez(files["all_nan_npz"], image=np.full((28, 28), np.nan, np.float32))
    files["one_pixel"] = folder / "one_pixel.png"
    Image.fromarray(image[:1, :1]).save(files["one_pixel"])
    pixels = image.astype(np.uint16) * 16
    files["mammo_dcm"] = write_dicom(
        folder / "mammo.dcm", pixels, modality="MG", body_part="BREAST"
    )
    files["mr_dcm"] = write_dicom(folder / "mr.dcm", pixels, modality="MR")
    files["knee_dcm"] = write_dicom(folder / "knee.dcm", pixels, modality="DX", body_part="KNEE")
    files["chest_dcm"] = write_dicom(folder / "chest.dcm", pixels, modality="DX", body_part="CHEST")
    return files


@pytest.fixture
def scoped_model(exported, tmp_path):
    """The float32 TFLite export with an intended use in its sidecar: chest radiographs."""
    _, paths, _ = exported
    target = tmp_path / "scoped.tflite"
    target.write_bytes(paths["tflite-float32"].read_bytes())
    info = lite.ModelInfo.load(paths["tflite-float32"])
    info.intended_use = {"modalities": ["CR", "DX"], "body_parts": ["CHEST"]}
    info.save(target)
    return target


@pytest.mark.parametrize(
    "kind, reason",
    [
        ("blank", "blank image"),
        ("tiny", "8 x 8 pixels: smaller than 16"),
        ("nan_npz", "not finite"),
        ("all_nan_npz", "not finite"),
        ("one_pixel", "1 x 1 pixels: smaller than 16"),
        ("mammo_dcm", "Modality MG is outside the intended use (CR, DX)"),
        ("mr_dcm", "Modality MR is outside the intended use (CR, DX)"),
        ("knee_dcm", "BodyPartExamined KNEE is outside the intended use (CHEST)"),
    ],
)
def test_predict_refuses_what_it_cannot_judge(
    exported, scoped_model, tmp_path, capsys, kind, reason
):
    _, _, data = exported
    files = _out_of_scope_files(tmp_path, data)
    status = predict.main(["--model", str(scoped_model), "--format", "jsonl", str(files[kind])])
    out, err = capsys.readouterr()
    row = json.loads(out)
    assert status == 1 and row["status"] == "refused" and row["probabilities"] == {}
    assert row["predicted"] is None and reason in row["reason"] and "out of scope" in row["reason"]
    assert str(files[kind]) in err


def test_predict_batch_of_good_and_bad_files_scores_every_good_one(
    exported, scoped_model, tmp_path, capsys
):
    _, _, data = exported
    (tmp_path / "more").mkdir()
    files = {**_out_of_scope_files(tmp_path, data), **_files(tmp_path / "more", data)}
    (tmp_path / "more" / "not_an_image.png").write_text("hello")
    truncated = tmp_path / "more" / "truncated.npz"
    truncated.write_bytes(files["nan_npz"].read_bytes()[:100])
    names = [*map(str, files.values()), str(truncated), str(tmp_path / "more" / "not_an_image.png")]
    status = predict.main(["--model", str(scoped_model), "--format", "csv", *names])
    out, _ = capsys.readouterr()
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(out)))
    by_file = {row["file"]: row for row in rows}
    assert status == 1
    assert set(names) <= {name.split("[")[0] for name in by_file}  # one row per file at least
    for key in ("good", "chest_dcm", "small_png", "big16_png", "rgba_png", "rgb_jpg"):
        assert by_file[str(files[key])]["status"] == "scored", key
    for key in ("blank", "tiny", "nan_npz", "all_nan_npz", "one_pixel", "mammo_dcm", "mr_dcm"):
        assert by_file[str(files[key])]["status"] == "refused", key
    assert by_file[str(truncated)]["status"] == "failed"
    assert "not a readable .npz" in by_file[str(truncated)]["reason"]
    for key in ("corrupt_png", "missing"):
        assert by_file[str(files[key])]["status"] == "failed", key
    assert by_file[names[-1]]["status"] == "failed"
    # CT is not in the intended use: the default write_dicom modality
    assert by_file[str(files["mono2_dcm"])]["status"] == "refused"


def test_predict_output_formats_stream_rows(exported, tmp_path, capsys):
    _, paths, data = exported
    files = _files(tmp_path, data)
    names = [str(files["small_png"]), str(files["corrupt_png"])]
    assert predict.main(["--model", str(paths["tflite-int8"]), "--format", "table", *names]) == 1
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["file", "status", "P(normal)"] and len(table) == 3
    assert table[1].split()[1] == "scored" and table[2].split()[1] == "failed"
    assert predict.main(["--model", str(paths["tflite-int8"]), "--format", "jsonl", *names]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["status"] for line in lines] == ["scored", "failed"]
    assert predict.main(["--model", str(paths["tflite-int8"]), "--json", names[1]]) == 1
    assert json.loads(capsys.readouterr().out)[0]["status"] == "failed"


def test_predict_table_gradcam_and_model_errors(exported, tmp_path, capsys):
    _, paths, data = exported
    files = _files(tmp_path, data)
    overlays = tmp_path / "overlays"
    status = predict.main(
        ["--model", str(paths["keras"]), "--gradcam", str(overlays), str(files["big16_png"])]
    )
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "P(lesion)" in out.splitlines()[0] and "big16.png" in out
    overlay = Image.open(overlays / "big16.png.gradcam.png")
    assert overlay.size == (1120, 1120) and overlay.mode == "RGB"
    status = predict.main(
        ["--model", str(paths["tflite-int8"]), "--gradcam", str(overlays), str(files["small_png"])]
    )
    out, err = capsys.readouterr()
    assert status == 2 and "needs the .keras model" in err and out == ""
    assert predict.main(["--model", str(tmp_path / "nope.keras"), str(files["small_png"])]) == 2
    assert "nope.keras" in capsys.readouterr().err
    from helpers.__main__ import main as package_main

    assert (
        package_main(["predict", "--model", str(paths["tflite-dynamic"]), str(files["small_png"])])
        == 0
    )


def test_predict_with_a_tflite_model_never_imports_tensorflow(exported, tmp_path):
    """Cold start: a .tflite model is read, judged, prepared and scored without TensorFlow."""
    import subprocess
    import sys

    _, paths, data = exported
    files = _files(tmp_path, data)
    code = (
        "import sys\n"
        "from helpers.deploy import predict\n"
        f"status = predict.main(['--model', {str(paths['tflite-int8'])!r}, "
        f"{str(files['big16_png'])!r}, {str(files['mono2_dcm'])!r}, {str(files['stack_npz'])!r}])\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'\n"
        "sys.exit(status)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("scored") == 5


def test_npz_errors_name_the_file(tmp_path):
    two = tmp_path / "two.npz"
    np.savez(two, a=np.zeros((4, 4)), b=np.zeros((4, 4)))
    with pytest.raises(predict.ImageFileError, match="two.npz.*2 arrays"):
        predict.read_npz_images(two)
    wide = tmp_path / "wide.npz"
    np.savez(wide, image=np.full((4, 4), 7.0))
    with pytest.raises(predict.ImageFileError, match="wide.npz.*outside"):
        predict.read_npz_images(wide)


def test_latency_tables_and_model_card(exported, phantom_data):
    model, paths, data = exported
    x = to_float(data.images["test"])
    run = latency.runners(model, paths)
    parity = latency.parity_table(run, x, data.labels["test"], 0.5)
    assert set(parity.variant) >= {"Keras model.predict", "TFLite int8"}
    assert parity.loc[parity.variant == "TFLite float32", "same class as Keras"].iloc[0] == 1.0
    speed = latency.speed_table(run, x, paths, repeats=3, batch=16)
    assert (speed["latency median (ms)"] > 0).all() and speed["size on disk (kB)"].notna().all()
    info = lite.ModelInfo.load(paths["keras"])
    metrics = metrics_with_ci(
        data.labels["test"], model.predict(x, verbose=0)[:, 0], 0.5, n_boot=50
    )
    dataset = {
        "flag": "phantoms",
        "license": "CC0",
        "source": "helpers.data.phantoms",
        "class_names": CLASSES,
        "n_samples": {split: len(v) for split, v in phantom_data.labels.items()},
        "citation": "none",
    }
    card = modelcard.model_card(
        name="test",
        info=info,
        dataset=dataset,
        metrics=metrics,
        positive_class="lesion",
        parity=parity,
        speed=speed,
        limitations=["phantoms only"],
    )
    assert "Not for clinical use" in card and "ROC-AUC" in card and "phantoms only" in card
    assert f"{metrics.set_index('metric').loc['roc_auc', 'estimate']:.3f}" in card
    assert "28 × 28 pixel" in card and "Youden" not in card and "gray image" in card
    rgb = dataclasses.replace(info, input_shape=[64, 64, 3])
    told = modelcard.model_card(
        name="test",
        info=rgb,
        dataset=dataset,
        metrics=metrics,
        positive_class="lesion",
        threshold_rule="the test rule",
        speed_setting="1 thread",
    )
    assert (
        "chosen by the test rule" in told and "64 × 64 pixel" in told and "3-channel image" in told
    )
    assert "28 × 28" not in told and "## Speed" not in told
    assert (
        "Out-of-distribution" not in told and "intended use" not in told.split("## Data")[0][-300:]
    )
    checked = dataclasses.replace(
        info,
        ood={"threshold": 12.345, "quantile": 0.99},
        intended_use={"modalities": ["CR"], "body_parts": ["CHEST"]},
    )
    rates = pd.DataFrame([{"images": "noise", "n": 10, "refused": 1.0, "low": 1.0, "high": 1.0}])
    card = modelcard.model_card(
        name="test",
        info=checked,
        dataset=dataset,
        metrics=metrics,
        positive_class="lesion",
        out_of_distribution=rates,
    )
    assert "exceeds 12.35, the 99% point" in card and "| noise | 10 |" in card
    assert "DICOM Modality CR; BodyPartExamined CHEST" in card
    assert isinstance(latency.latency_ms(lambda v: v, x[:1], warmup=1, repeats=2)["p90_ms"], float)


def test_feature_distance_threshold_and_round_trip(tmp_path):
    from helpers.deploy.ood import FeatureDistance

    rng = np.random.default_rng(0)
    reference = rng.standard_normal((2000, 8))
    calibration = rng.standard_normal((2000, 8))
    check = FeatureDistance.fit(reference, calibration, quantile=0.95)
    assert check.flags(calibration).mean() == pytest.approx(0.05, abs=0.005)
    assert check.flags(reference + 6.0).all()  # shifted far away: every point flagged
    fresh = rng.standard_normal((2000, 8))
    assert 0.02 < check.flags(fresh).mean() < 0.09  # new in-distribution points: about 5 %
    again = FeatureDistance.load(check.save(tmp_path / "check.npz"))
    assert (
        np.allclose(again.score(fresh), check.score(fresh)) and again.threshold == check.threshold
    )
    with pytest.raises(ValueError, match="shape"):
        FeatureDistance.fit(np.zeros(5))
    with pytest.raises(ValueError, match="quantile"):
        FeatureDistance.fit(reference, quantile=1.5)
    in_sample = FeatureDistance.fit(reference[:40], quantile=0.95)  # no held-out calibration
    assert in_sample.flags(fresh).mean() > 0.09  # in-sample distances are biased low
    (tmp_path / "bad.npz").write_bytes(b"not an npz")
    with pytest.raises(ValueError, match="bad.npz"):
        FeatureDistance.load(tmp_path / "bad.npz")


@pytest.fixture(scope="module")
def exported_with_check(exported, tmp_path_factory):
    """The same model exported with the out-of-distribution check (validation reference)."""
    model, _, data = exported
    info = lite.ModelInfo(class_names=CLASSES, input_shape=[28, 28, 1], threshold=0.5)
    folder = tmp_path_factory.mktemp("checked")
    x = to_float(data.images["train"])
    paths = export.export_all(
        model, folder, info, representative=x[:64], reference=(x, to_float(data.images["val"]))
    )
    return model, paths, data


def test_export_writes_the_feature_check_and_predict_uses_it(exported_with_check, tmp_path, capsys):
    model, paths, data = exported_with_check
    info = lite.ModelInfo.load(paths["tflite-int8"])
    assert info.ood["features"] == "model_features.tflite" and info.ood["quantile"] == 0.99
    x = to_float(data.images["test"])
    from helpers.evaluate.generative import feature_model

    expected = feature_model(model)(x, training=False).numpy()
    assert np.allclose(lite.LiteModel(paths["features"]).predict(x), expected, atol=1e-4)
    good = tmp_path / "good.png"
    Image.fromarray(data.images["test"][0]).save(good)
    noise = tmp_path / "noise.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(noise)
    for kind in ("tflite-int8", "keras"):
        status = predict.main(
            ["--model", str(paths[kind]), "--format", "jsonl", str(good), str(noise)]
        )
        rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert status == 1, kind
        assert rows[0]["status"] == "scored" and rows[0]["ood_score"] <= info.ood["threshold"]
        assert rows[1]["status"] == "refused" and "unlike the images" in rows[1]["reason"]
        assert rows[1]["ood_score"] > info.ood["threshold"] and rows[1]["probabilities"] == {}


def _constant_model(activation: str, biases: list[float]) -> keras.Model:
    """A model whose outputs do not depend on the image: known probabilities to decide on."""
    inputs = keras.Input((28, 28, 1))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    dense = keras.layers.Dense(len(biases), activation=activation)
    outputs = dense(pooled)
    model = keras.Model(inputs, outputs)
    dense.set_weights([np.zeros((1, len(biases)), "float32"), np.array(biases, "float32")])
    return model


@pytest.mark.parametrize(
    ("task", "activation", "thresholds", "called"),
    [
        ("multi-label", "sigmoid", [], "a+c"),  # P = 0.88, 0.12, 0.62 against 0.5 each
        ("multi-label", "sigmoid", [0.5, 0.5, 0.7], "a"),
        ("multi-label", "sigmoid", [0.9, 0.5, 0.7], predict.NO_LABEL),
        ("multi-class", "softmax", [], "a"),
    ],
)
def test_predict_decides_by_the_task_kind_in_the_sidecar(
    task, activation, thresholds, called, tmp_path, capsys
):
    model = _constant_model(activation, [2.0, -2.0, 0.5])
    info = lite.ModelInfo(
        class_names=["a", "b", "c"],
        input_shape=[28, 28, 1],
        task=task,
        label_thresholds=thresholds,
    )
    path = export.save_keras(model, tmp_path / "model.keras", info)
    image = tmp_path / "film.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 40), dtype=np.uint8)).save(image)
    assert predict.main(["--model", str(path), "--format", "jsonl", str(image)]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["predicted"] == called
    total = sum(row["probabilities"].values())
    assert total == pytest.approx(1.0) if task == "multi-class" else total > 1.0


def test_a_sidecar_with_a_wrong_task_is_refused_with_its_name(tmp_path):
    with pytest.raises(ValueError, match="task must be one of"):
        lite.ModelInfo(class_names=["a", "b"], input_shape=[28, 28, 1], task="regression")
    with pytest.raises(ValueError, match="2 label thresholds for 3 labels"):
        lite.ModelInfo(["a", "b", "c"], [28, 28, 1], task="multi-label", label_thresholds=[1, 2])
    model_path = tmp_path / "m.keras"
    (tmp_path / "m.keras.json").write_text(
        json.dumps({"class_names": ["a", "b"], "input_shape": [28, 28, 1], "task": "bogus"})
    )
    with pytest.raises(ValueError, match=r"m\.keras\.json: not a valid model description"):
        lite.ModelInfo.load(model_path)


def test_an_old_sidecar_without_a_task_reads_as_before():
    assert lite.ModelInfo(["a", "b"], [28, 28, 1]).kind == "binary"
    assert lite.ModelInfo(["a", "b", "c"], [28, 28, 1]).kind == "multi-class"


def test_a_colour_model_reads_colour_files_in_colour(tmp_path, capsys):
    """An RGB model gets a colour PNG's own channels (a gray model would get its luminance):
    a model that scores the red channel minus the green one tells red from green."""
    inputs = keras.Input((28, 28, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    dense = keras.layers.Dense(1, activation="sigmoid")
    model = keras.Model(inputs, dense(pooled))
    dense.set_weights([np.array([[20.0], [-20.0], [0.0]], "float32"), np.zeros(1, "float32")])
    info = lite.ModelInfo(class_names=["green", "red"], input_shape=[28, 28, 3], task="binary")
    path = export.save_keras(model, tmp_path / "colour.keras", info)
    for name, rgb in (("red", (200, 40, 40)), ("green", (40, 200, 40))):
        Image.fromarray(np.full((40, 40, 3), rgb, np.uint8)).save(tmp_path / f"{name}.png")
    files = [str(tmp_path / "red.png"), str(tmp_path / "green.png")]
    assert predict.main(["--model", str(path), "--format", "jsonl", *files]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["predicted"] for row in rows] == ["red", "green"]
    assert not any("converted" in note for row in rows for note in row["notes"])


def test_parity_table_and_model_card_of_a_multiclass_model(tmp_path):
    """Several classes: parity by the task's AUC and the arg-max call, a card that says the
    most probable class is called and shows the whole task's metrics."""
    from helpers.evaluate.uncertainty import task_metrics_with_ci

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 90)
    logits = np.eye(3)[labels] * 2.0 + rng.normal(0, 1, (90, 3))
    reference = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    swapped = reference.copy()
    swapped[:10] = swapped[:10, ::-1]  # ten images get another most probable class
    run = {"Keras model(x)": lambda x: reference[x], "other": lambda x: swapped[x]}
    parity = latency.parity_table(run, np.arange(90), labels, None, kind="multi-class")
    rows = parity.set_index("variant")
    assert rows.loc["Keras model(x)", "same class as Keras"] == 1.0
    changed = np.mean(reference.argmax(1) != swapped.argmax(1))
    assert rows.loc["other", "same class as Keras"] == pytest.approx(1 - changed)
    assert rows.loc["other", "AUC - Keras AUC"] < 0
    info = lite.ModelInfo(["a", "b", "c"], [28, 28, 1], task="multi-class")
    card = modelcard.model_card(
        name="three classes",
        info=info,
        dataset={"flag": "gen", "class_names": ["a", "b", "c"]},
        metrics=task_metrics_with_ci(labels, reference, "multi-class", n_boot=50),
    )
    assert "The most probable class is called" in card and "| AUC |" in card
    assert "positive" not in card
    labelled = lite.ModelInfo(
        ["a", "b", "c"], [28, 28, 1], task="multi-label", label_thresholds=[0.2, 0.5, 0.7]
    )
    card = modelcard.model_card(
        name="three labels",
        info=labelled,
        dataset={"flag": "gen"},
        metrics=task_metrics_with_ci(labels, reference, "multi-class", n_boot=20),
        threshold_rule="Youden's J of each label on the validation split",
    )
    assert "'a' 0.200, 'b' 0.500, 'c' 0.700" in card and "Youden's J of each label" in card
