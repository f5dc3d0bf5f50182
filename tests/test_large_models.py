"""Building blocks of 09_large_models: the ViT and its attention maps, and the backbone
loader's three weight paths (ImageNet, a local file, random) with an honest status."""

from __future__ import annotations

import subprocess
import sys
import urllib.error

import keras
import numpy as np
import pandas as pd
import pytest

from helpers.models import backbones, vit
from helpers.train import transfer


def test_vit_builds_trains_and_reloads(tmp_path):
    keras.utils.set_random_seed(0)
    model = vit.vit((16, 16, 1), 1, patch=4, dim=16, depth=2, heads=2)
    x = np.random.default_rng(0).uniform(size=(32, 16, 16, 1)).astype(np.float32)
    y = (x[:, :8, :8, 0].mean(axis=(1, 2)) > 0.5).astype(np.float32)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    history = model.fit(x, y, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "vit.keras")
    again = keras.models.load_model(tmp_path / "vit.keras", safe_mode=True)
    assert np.allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    # a fresh process that only imports the training module (as a cached grid run does) loads it too
    path = str(tmp_path / "vit.keras")
    code = f"import keras, helpers.train.cache; keras.models.load_model({path!r})"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    maps = vit.attention_maps(model, x[:3])
    assert maps.shape == (3, 16, 16)
    assert np.allclose(
        maps.sum(axis=(1, 2)), 16.0, atol=1e-4
    )  # 16 pixels per patch, attention sums to 1
    with pytest.raises(ValueError, match="divisible"):
        vit.vit((30, 30, 1), patch=4)


def test_backbone_weight_paths(tmp_path, monkeypatch):
    shape = (32, 32, 3)
    random_model, status = backbones.backbone("MobileNetV3Small", shape, weights=None)
    assert "random" in status
    path = tmp_path / "backbone.weights.h5"
    random_model.save_weights(path)
    loaded, status = backbones.backbone("MobileNetV3Small", shape, weights=path)
    assert status == "weights from backbone.weights.h5"
    assert all(
        np.array_equal(a, b) for a, b in zip(loaded.get_weights(), random_model.get_weights())
    )
    with pytest.raises(FileNotFoundError, match="nothing.weights.h5"):
        backbones.backbone("MobileNetV3Small", shape, weights=tmp_path / "nothing.weights.h5")
    with pytest.raises(ValueError, match="do not fit"):
        backbones.backbone(
            "EfficientNetB0", shape, weights=path
        )  # MobileNet weights, another network
    original = keras.applications.MobileNetV3Small

    def offline(*args, weights=None, **kwargs):
        if weights == "imagenet":
            raise urllib.error.URLError(
                "no network for https://example.org/weights/v3_small.h5: refused"
            )
        return original(*args, weights=weights, **kwargs)

    monkeypatch.setattr(keras.applications, "MobileNetV3Small", offline)
    model, status = backbones.backbone("MobileNetV3Small", shape, weights="imagenet")
    assert (
        status.startswith("random initialisation: ImageNet weights unavailable")
        and "no network" in status
    )
    assert (
        "example.org: refused" in status and "/weights" not in status
    )  # the cause, not the whole URL
    classifier = backbones.transfer_classifier(model, 1, trainable=False, bn_momentum=0.9)
    assert classifier.output_shape == (None, 1)
    assert not classifier.get_layer(model.name).trainable
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and all(layer.momentum == 0.9 for layer in norms)
    with pytest.raises(ValueError, match="no model"):
        backbones.backbone("NoSuchNet", shape)


def test_frechet_distance_known_values():
    from helpers.evaluate.generative import frechet_distance

    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shifted = rng.standard_normal((4000, 3)) + np.array([1.0, 2.0, 0.0])
    assert frechet_distance(a, shifted) == pytest.approx(5.0, abs=0.3)  # ||mu||^2, same covariance
    scaled = rng.standard_normal((4000, 3)) * 2.0
    assert frechet_distance(a, scaled) == pytest.approx(3.0, abs=0.3)  # Tr(I + 4I - 2*2I)


def test_frechet_distance_with_fewer_samples_than_features_is_finite_and_quiet():
    import warnings

    from helpers.evaluate.generative import frechet_distance

    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((20, 64)), rng.standard_normal((20, 64)) + 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the singular covariance product warns without the offset
        distance = frechet_distance(a, b)
        same = frechet_distance(a, a)
    assert np.isfinite(distance) and distance > 60  # ||mu||^2 alone is about 64
    assert same == pytest.approx(0.0, abs=1e-3)


def test_vae_learns_and_samples_reproducibly(phantom_data):
    from helpers.evaluate.generative import feature_model
    from helpers.models.vae import sample, train_vae

    images = phantom_data.images["train"][:96].astype(np.float32) / 255.0
    encoder, decoder, history = train_vae(
        images, latent=4, epochs=4, batch_size=32, width=8, seed=1
    )
    assert history["loss"][-1] < history["loss"][0]
    first, again = sample(decoder, 5, seed=3), sample(decoder, 5, seed=3)
    assert first.shape == (5, 28, 28, 1) and np.array_equal(first, again)
    assert 0.0 <= first.min() and first.max() <= 1.0
    _, decoder2, _ = train_vae(images, latent=4, epochs=1, batch_size=32, width=8, seed=1)
    _, decoder3, _ = train_vae(images, latent=4, epochs=1, batch_size=32, width=8, seed=1)
    assert np.array_equal(sample(decoder2, 3), sample(decoder3, 3))  # training is seeded
    from helpers.models.cnn import compact_cnn

    features = feature_model(compact_cnn((28, 28, 1), 1, width=4))
    assert features.output_shape == (None, 16)
    with pytest.raises(ValueError, match="multiple of 4"):
        from helpers.models.vae import vae_models

        vae_models(size=30)


def test_model_flops_counts_conv_dense_and_attention():
    from helpers.models.cnn import seed_cnn
    from helpers.models.cnn_math import model_flops, seed_cnn_table

    assert model_flops(seed_cnn((28, 28, 1), 1)) == sum(
        r["flops"] for r in seed_cnn_table((28, 28, 1), 1)
    )
    depthwise = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.DepthwiseConv2D(3, padding="same")]
    )
    assert model_flops(depthwise) == 2 * 8 * 8 * 9 * 3
    small, large = (
        vit.vit((16, 16, 1), patch=4, dim=16, depth=1),
        vit.vit((16, 16, 1), patch=4, dim=16, depth=2),
    )
    per_block = model_flops(large) - model_flops(small)
    # one block: q,k,v,out projections 4*2*16*16*16, attention 2*2*16*16*16, MLP 2*(2*16*16*32)
    assert per_block == 4 * 2 * 16 * 16 * 16 + 2 * 2 * 16 * 16 * 16 + 2 * (2 * 16 * 16 * 32)


def test_scaling_grid_runs_caches_and_summarises(phantom_data, tmp_path, monkeypatch):
    from helpers.train import scaling
    from helpers.train.config import TrainConfig

    monkeypatch.setenv("MEDIMG_ROOT", str(tmp_path))
    base = TrainConfig(
        model="compact_cnn",
        dataset="phantoms",
        epochs=1,
        batch_size=32,
        augment=0.0,
        patience=None,
        model_options={"width": 4},
    )
    variants = [{"model_options": {"width": 2}}, {"model_options": {"width": 4}}]
    # Two trainings only (each costs a graph trace): widths 2 and 4, one seed.
    table = scaling.scaling_grid(base, phantom_data, variants=variants, seeds=(0,))
    assert len(table) == 2 and (table.params.diff().iloc[1] > 0)
    assert (table.train_flops > 0).all() and table.test_auc.between(0, 1).all()
    again = scaling.scaling_grid(base, phantom_data, variants=variants[:1], seeds=(0,))
    assert again.test_auc.iloc[0] == table.test_auc.iloc[0]  # loaded from the cache
    seeds = table.assign(seed=1, test_auc=table.test_auc - 0.1)  # a second seed, made up
    summary = scaling.summarize(pd.concat([table, seeds]), "width")
    assert summary.seeds.tolist() == [2, 2]
    assert summary.test_auc_sd.to_numpy() == pytest.approx([0.1 / np.sqrt(2)] * 2)
    fractions = scaling.scaling_grid(
        base, phantom_data, variants=[{"train_fraction": 0.25}], min_steps=20
    )
    assert (
        fractions.epochs.iloc[0] == 10
    )  # 40 images = 2 steps per epoch: 10 epochs give the 20 steps asked for
    assert (
        scaling.epochs_for_steps(4708, 64, 300, 5) == 5
        and scaling.epochs_for_steps(47, 64, 300, 5) == 300
    )
    assert scaling.loglog_slope([1, 10, 100], [0.1, 0.01, 0.001]) == pytest.approx(-1.0)
    # an error of zero (a perfect AUC) at all sizes but one leaves nothing to fit
    assert np.isnan(scaling.loglog_slope([10, 10, 100, 100], [0.1, 0.2, 0.0, 0.0]))


def test_fine_tune_refuses_a_model_without_a_backbone():
    with pytest.raises(ValueError, match="not a transfer model"):
        transfer.fine_tune({"model": "compact_cnn"})


def test_mobilenet_trainable_passes_through_to_the_backbone():
    """``trainable=False`` in the model options freezes the backbone (linear probing)."""
    probe = backbones.mobilenet_v3_small((32, 32, 3), 1, weights=None, trainable=False)
    tuned = backbones.mobilenet_v3_small((32, 32, 3), 1, weights=None)  # default: fine-tune all

    def trainable_count(model):
        return sum(int(np.prod(w.shape)) for w in model.trainable_weights)

    head = 576 + 1  # the dense head on the pooled features of MobileNetV3-Small
    assert trainable_count(probe) == head
    assert trainable_count(tuned) > trainable_count(probe)
    assert probe.count_params() == tuned.count_params()


def test_resolve_weights_keys_imagenet_models_apart(monkeypatch):
    """The weights' origin is in the options (so in the cache key) before the cache is asked;
    offline the options, and so the keys of the models trained offline, are unchanged."""
    from helpers.train.config import TrainConfig

    options = {"weights": "imagenet", "dropout": 0.2, "minimalistic": True}
    shape = (64, 64, 3)
    asked = []
    monkeypatch.setattr(backbones, "imagenet_available", lambda *a, **k: asked.append(k) or False)
    offline = backbones.resolve_weights("mobilenet_v3_small", shape, options)
    assert offline == options and asked == [{"minimalistic": True}]
    monkeypatch.setattr(backbones, "imagenet_available", lambda *a, **k: True)
    online = backbones.resolve_weights("mobilenet_v3_small", shape, options)
    assert online == {**options, "weights": backbones.IMAGENET_ONLY}
    config = TrainConfig(model="mobilenet_v3_small", model_options=options)
    assert TrainConfig(model="mobilenet_v3_small", model_options=offline).key() == config.key()
    assert TrainConfig(model="mobilenet_v3_small", model_options=online).key() != config.key()
    assert backbones.resolve_weights("mobilenet_v3_small", shape, {}) == {
        "weights": backbones.IMAGENET_ONLY
    }  # the builder's default is ImageNet too
    for model, opts in (("mobilenet_v3_small", {"weights": None}), ("compact_cnn", options)):
        assert backbones.resolve_weights(model, shape, opts) == opts


def test_imagenet_only_never_falls_back(monkeypatch):
    original = keras.applications.MobileNetV3Small

    def offline(*args, weights=None, **kwargs):
        if weights == "imagenet":
            raise urllib.error.URLError("no network")
        return original(*args, weights=weights, **kwargs)

    monkeypatch.setattr(keras.applications, "MobileNetV3Small", offline)
    assert not backbones.imagenet_available("MobileNetV3Small", (32, 32, 3))
    with pytest.raises(RuntimeError, match="ImageNet weights for MobileNetV3Small unavailable"):
        backbones.backbone("MobileNetV3Small", (32, 32, 3), weights=backbones.IMAGENET_ONLY)


def test_fine_tune_prints_no_download_line(generated_binary, capsys):
    """Asking for ImageNet weights makes Keras print "Downloading data from <url>" (also
    offline, before it fails): fine_tune drops that line from what it prints, so notebook 09's
    stored output shows no download attempt; the row says which weights the run started from."""
    import dataclasses

    from helpers.train.config import TrainConfig

    config = TrainConfig(
        model="mobilenet_v3_small",
        dataset=generated_binary,
        input_size=32,
        channels=3,
        epochs=1,
        batch_size=16,
        augment=0.0,
        patience=None,
        model_options={"weights": "imagenet", "minimalistic": True},
    )
    row = transfer.fine_tune(dataclasses.asdict(config), threads=2)
    assert "Downloading data from" not in capsys.readouterr().out
    assert row["initialisation"] and 0.0 <= row["test_auc"] <= 1.0
