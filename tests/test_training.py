"""Training recipe, determinism, the model cache and the distribution strategy hook,
on a small phantom dataset dressed as a MedMNIST binary task."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from helpers.evaluate.metrics import auc_score
from helpers.models.cnn import compact_cnn, seed_cnn
from helpers.models.registry import build_model
from helpers.train import benchmark, cache
from helpers.train import engine as training
from helpers.train.config import TrainConfig


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDIMG_ROOT", str(tmp_path))
    return tmp_path


def _config(**changes) -> TrainConfig:
    base = dict(
        model="compact_cnn",
        dataset="phantoms",
        epochs=3,
        batch_size=32,
        augment=0.5,
        model_options={"width": 8},
        patience=None,
    )
    return TrainConfig(**{**base, **changes})


def test_training_learns_and_keeps_the_best_validation_epoch(phantom_data):
    result = training.train(_config(epochs=4), data=phantom_data, verbose=False)
    aucs = [row["score"] for row in result.history["epochs"]]
    assert len(aucs) == 4 and result.best_val_auc == max(aucs)
    assert result.best_epoch == int(np.argmax(aucs)) + 1
    scores = training.predict_scores(result.model, phantom_data.images["val"], result.config)
    assert auc_score(phantom_data.labels["val"], scores, "binary") == pytest.approx(
        result.best_val_auc
    )
    assert result.train_seconds > 0 and result.images_per_second > 0
    assert [r["train_seconds"] for r in result.history["evals"]] == sorted(
        r["train_seconds"] for r in result.history["evals"]
    )


def test_same_seed_same_weights(phantom_data):
    a = training.train(_config(epochs=2), data=phantom_data, verbose=False)
    b = training.train(_config(epochs=2), data=phantom_data, verbose=False)
    for wa, wb in zip(a.model.get_weights(), b.model.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    c = training.train(_config(epochs=2, seed=1), data=phantom_data, verbose=False)
    assert not all(
        np.array_equal(x, y) for x, y in zip(a.model.get_weights(), c.model.get_weights())
    )


def test_cache_key_covers_every_parameter():
    base = _config()
    keys = {base.key()}
    for name, value in (
        ("epochs", 4),
        ("seed", 1),
        ("augment", 0.0),
        ("learning_rate", 1e-3),
        ("model_options", {"width": 16}),
        ("train_fraction", 0.5),
        ("input_size", 64),
    ):
        keys.add(dataclasses.replace(base, **{name: value}).key())
    assert len(keys) == 8
    assert _config().key() == base.key()


def test_load_or_train_caches_atomically_and_reloads(phantom_data, cache_root, capsys):
    config = _config(epochs=1)
    first = cache.load_or_train(config, data=phantom_data, verbose=False)
    assert not first.from_cache
    folder = cache.entry_folder(
        f"{config.model}-{config.dataset}", dataclasses.asdict(config), phantom_data.fingerprint
    )
    assert (folder / "model.keras").is_file() and (folder / "result.json").is_file()
    assert not list(folder.parent.glob(".*.partial")), "no staging folder left behind"
    second = cache.load_or_train(config, data=phantom_data)
    assert second.from_cache and "loaded compact_cnn" in capsys.readouterr().out
    x = phantom_data.images["test"]
    np.testing.assert_allclose(
        training.predict_scores(first.model, x, config),
        training.predict_scores(second.model, x, config),
        atol=1e-6,
    )
    assert second.history == first.history and second.best_epoch == first.best_epoch


def test_eval_every_steps_and_time_budget(phantom_data):
    result = training.train(
        _config(epochs=5, eval_every=2, max_seconds=1e-3), data=phantom_data, verbose=False
    )
    assert len(result.history["epochs"]) == 1, "the budget stops training after the first step"
    evals = training.train(
        _config(epochs=1, eval_every=2), data=phantom_data, verbose=False
    ).history["evals"]
    assert [e["step"] for e in evals] == [
        2,
        4,
        5,
    ]  # 160 images / 32 = 5 steps; the epoch end adds step 5
    assert (
        training.time_to_auc(
            [{"train_seconds": 1.0, "score": 0.8}, {"train_seconds": 2.0, "score": 0.96}], 0.95
        )
        == 2.0
    )
    assert training.time_to_auc([{"train_seconds": 1.0, "score": 0.8}], 0.95) is None


def test_resize_channels_and_mirrored_strategy(phantom_data):
    config = _config(
        model="seed_cnn",
        epochs=1,
        input_size=48,
        channels=3,
        optimizer="adam",
        schedule="constant",
        learning_rate=1e-3,
        model_options={},
    )
    result = training.train(
        config, strategy=tf.distribute.MirroredStrategy(), data=phantom_data, verbose=False
    )
    assert result.model.input_shape == (None, 48, 48, 3)
    assert training.predict_scores(result.model, phantom_data.images["test"], config).shape == (60,)


def test_subsets_and_class_weights():
    labels = np.array([0] * 30 + [1] * 70)
    subset = training.stratified_subset(labels, 0.1, seed=0)
    assert len(subset) == 10 and (labels[subset] == 0).sum() == 3
    assert np.array_equal(training.stratified_subset(labels, 0.1, seed=0), subset)
    assert training.class_weights(labels) == pytest.approx({0: 100 / 60, 1: 100 / 140})
    with pytest.raises(ValueError, match="train_fraction"):
        training.stratified_subset(labels, 0.0, seed=0)


@pytest.mark.parametrize("counts", [(30, 70), (10, 30, 60)])
def test_restore_prior_turns_class_weighted_outputs_back_into_training_frequencies(counts):
    # An output layer that sees no features (input 0) learns one probability per class: with
    # balanced class weights the uniform one; after restore_prior, the training frequencies.
    labels = np.concatenate([np.full(n, c) for c, n in enumerate(counts)])
    binary = len(counts) == 2
    model = tf.keras.Sequential(
        [
            tf.keras.Input((1,)),
            tf.keras.layers.Dense(
                1 if binary else len(counts), activation="sigmoid" if binary else "softmax"
            ),
        ]
    )
    loss = "binary_crossentropy" if binary else "sparse_categorical_crossentropy"
    model.compile(optimizer=tf.keras.optimizers.SGD(1.0), loss=loss)
    weights = training.class_weights(labels)
    x = np.zeros((len(labels), 1), np.float32)
    y = labels.astype(np.float32 if binary else np.int64)
    model.fit(x, y, batch_size=len(x), epochs=300, class_weight=weights, verbose=0)
    weighted = model.predict(x[:1], verbose=0)
    uniform = np.full(len(counts), 1 / len(counts))
    assert (weighted[0, 0] if binary else weighted[0]) == pytest.approx(
        uniform[1] if binary else uniform, abs=0.01
    )
    shift = training.restore_prior(model, weights)
    restored = model.predict(x[:1], verbose=0)
    frequencies = np.array(counts) / sum(counts)
    got = restored[0, 0] if binary else restored[0]
    assert got == pytest.approx(frequencies[1] if binary else frequencies, abs=0.01)
    # without_prior_shift gives back what the model said before the shift
    back = benchmark.without_prior_shift(restored[:, 0] if binary else restored, shift)
    assert back == pytest.approx(weighted[:, 0] if binary else weighted, abs=1e-5)
    with pytest.raises(ValueError, match="class weights for an output layer"):
        training.restore_prior(model, {0: 1.0, 1: 1.0, 2: 1.0, 3: 1.0})


def test_builders():
    assert compact_cnn((28, 28, 1), 1, width=8).output_shape == (None, 1)
    assert compact_cnn((64, 64, 3), 5).count_params() == compact_cnn((28, 28, 3), 5).count_params()
    assert seed_cnn((28, 28, 1), 1).layers[-1].activation.__name__ == "sigmoid"
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        build_model("resnet", (28, 28, 1), 1)


@pytest.mark.parametrize("name", ["seed_cnn", "compact_cnn", "vit"])
def test_the_task_decides_the_output_activation(name):
    """One sigmoid for binary, a softmax over classes, a sigmoid per label: a multi-label
    image may carry several labels, which a softmax (summing to 1) cannot say."""
    activation = {
        (1, False): "sigmoid",
        (4, False): "softmax",
        (4, True): "sigmoid",
    }
    for (n_outputs, multi_label), expected in activation.items():
        model = build_model(name, (28, 28, 1), n_outputs, multi_label=multi_label)
        assert model.layers[-1].activation.__name__ == expected, (name, n_outputs, multi_label)


def test_a_multi_label_model_trains_one_sigmoid_per_label(tmp_path, monkeypatch):
    from helpers.data.medmnist import load_medmnist
    from helpers.data.synthetic import write_dataset
    from helpers.train import recipes

    monkeypatch.setenv("MEDMNIST_DATA_DIR", str(tmp_path))
    sizes = {"train": 64, "val": 32, "test": 32}
    write_dataset(tmp_path, "labels4", "multi-label, binary-class", 4, sizes=sizes)
    data = load_medmnist("labels4")
    result = training.train(recipes.recipe("seed", "labels4", epochs=1), data=data, verbose=False)
    scores = training.predict_scores(result.model, data.images["test"], result.config)
    assert scores.shape == (32, 4)
    # independent probabilities: they need not sum to 1 (a softmax's always would)
    assert not np.allclose(scores.sum(axis=1), 1.0, atol=1e-3)


def test_generic_cache_runs_fit_once(cache_root):
    import keras

    calls = []

    def fit():
        calls.append(1)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        return model, {"note": "trained"}

    m1, meta1, cached1 = cache.cached_model(
        "toy", {"a": 1}, fit, data_fingerprint="d1", verbose=False
    )
    m2, meta2, cached2 = cache.cached_model(
        "toy", {"a": 1}, fit, data_fingerprint="d1", verbose=False
    )
    _, _, cached3 = cache.cached_model("toy", {"a": 2}, fit, data_fingerprint="d1", verbose=False)
    _, _, cached4 = cache.cached_model(
        "toy", {"a": 1}, fit, data_fingerprint="other data", verbose=False
    )
    assert calls == [1, 1, 1] and (cached1, cached2, cached3, cached4) == (
        False,
        True,
        False,
        False,
    )
    assert meta2 == {"note": "trained"}
    np.testing.assert_array_equal(m1.get_weights()[0], m2.get_weights()[0])


def test_the_article_recipe_keeps_the_last_epoch(phantom_data):
    result = training.train(
        _config(epochs=3, keep="last", learning_rate=0.05), data=phantom_data, verbose=False
    )
    last = result.history["epochs"][-1]
    assert result.best_epoch == 3 and result.best_val_auc == last["score"]
    scores = training.predict_scores(result.model, phantom_data.images["val"], result.config)
    assert auc_score(phantom_data.labels["val"], scores) == pytest.approx(last["score"])


def test_monitor_minimises_restores_and_stops_early():
    import keras

    x = np.linspace(-1, 1, 64, dtype=np.float32)[:, None]
    y = 3 * x
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    losses = iter([5.0, 1.0, 2.0, 3.0, 4.0, 0.5])
    result = training.fit(
        model,
        x,
        y,
        epochs=6,
        score=lambda m: next(losses),
        name="val loss",
        mode="min",
        patience=2,
        n_train=64,
        batch_size=16,
        verbose=False,
    )
    assert [row["score"] for row in result.epochs] == [5.0, 1.0, 2.0, 3.0]  # two worse checks: stop
    assert result.best_epoch == 2 and result.best_score == 1.0


def test_monitor_keeps_the_latest_of_tied_best_checks():
    """A saturated validation score (1.0 from the second epoch on) keeps the last epoch that
    reached it, and a tie is not a stale check for the patience."""
    import keras

    x = np.linspace(-1, 1, 64, dtype=np.float32)[:, None]
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    scores = iter([0.9, 1.0, 1.0, 1.0, 0.99, 0.98])
    result = training.fit(
        model,
        x,
        3 * x,
        epochs=6,
        score=lambda m: next(scores),
        patience=2,
        n_train=64,
        batch_size=16,
        verbose=False,
    )
    assert len(result.epochs) == 6 and result.best_epoch == 4 and result.best_score == 1.0


def test_the_article_recipe_is_the_same_on_every_dataset():
    """The article's recipe as written: Adam at Keras' defaults, batch 32, 10 epochs, no
    augmentation or class weights, the last epoch kept; small datasets change only the
    improved recipe."""
    import keras

    from helpers.train import recipes

    pneumonia, breast = (recipes.recipe("seed", flag) for flag in ("pneumoniamnist", "breastmnist"))
    assert dataclasses.replace(breast, dataset="pneumoniamnist") == pneumonia
    assert (pneumonia.epochs, pneumonia.batch_size, pneumonia.keep) == (10, 32, "last")
    assert (pneumonia.optimizer, pneumonia.schedule, pneumonia.augment) == ("adam", "constant", 0)
    assert not pneumonia.class_weight and pneumonia.patience is None
    assert pneumonia.learning_rate == pytest.approx(
        keras.optimizers.Adam().get_config()["learning_rate"], rel=1e-6
    )
    improved = recipes.recipe("improved", "breastmnist")
    assert improved.epochs == recipes.SMALL_DATA["epochs"]
    assert improved.learning_rate == recipes.SMALL_DATA_IMPROVED_LR
    assert recipes.recipe("seed", "breastmnist", seed=2, epochs=3).seed == 2
    with pytest.raises(ValueError, match="recipe must be one of"):
        recipes.recipe("article", "breastmnist")


def test_a_short_improved_run_gets_a_lower_batch_norm_momentum():
    """Batch norm's inference statistics remember ~1 / (1 - momentum) steps: at most a
    tenth of the run. 03's default runs (1480 and 1800 steps) keep Keras' 0.99, unwritten."""
    from helpers.train import recipes

    for flag in ("pneumoniamnist", "breastmnist"):
        assert "bn_momentum" not in recipes.recipe("improved", flag).model_options
        assert "bn_momentum" not in recipes.recipe("seed", flag, epochs=1).model_options
    short = recipes.recipe("improved", "pneumoniamnist", epochs=2).model_options["bn_momentum"]
    steps = 2 * int(np.ceil(4708 / 64))
    assert short == pytest.approx(1 - 1 / (0.1 * steps), abs=1e-4)
    assert recipes.bn_momentum(1) == recipes.MIN_BN_MOMENTUM
    assert recipes.bn_momentum(10**6) == recipes.BN_MOMENTUM
    fewer = recipes.recipe("improved", "pneumoniamnist", train_fraction=0.1)
    assert fewer.model_options["bn_momentum"] < recipes.BN_MOMENTUM
    chosen = recipes.recipe(
        "improved", "pneumoniamnist", epochs=2, model_options={"width": 8, "bn_momentum": 0.95}
    )
    assert chosen.model_options["bn_momentum"] == 0.95
    assert (
        "bn_momentum" not in recipes.recipe("improved", "pneumoniamnist", model="vit").model_options
    )


def test_score_runs_scores_with_medmnist_definitions(phantom_data, cache_root, monkeypatch):
    """Each run's row: test AUC from the scores and ACC at 0.5, the same as scoring the
    cached model by hand; a second call loads from the cache."""
    from helpers.evaluate.metrics import auc_score
    from helpers.train import benchmark

    monkeypatch.setattr(benchmark, "load_medmnist", lambda flag, size: phantom_data)
    configs = [dataclasses.asdict(_config(epochs=1, seed=seed)) for seed in (0, 1)]
    rows = benchmark.score_runs(configs, verbose=False)
    assert [row["seed"] for row in rows] == [0, 1] and not rows[0]["from_cache"]
    result = cache.load_or_train(TrainConfig(**configs[0]), data=phantom_data, verbose=False)
    x_test, y_test = phantom_data.split("test")
    scores = training.predict_scores(result.model, x_test, result.config)
    assert rows[0]["test_auc"] == pytest.approx(auc_score(y_test, scores))
    assert rows[0]["test_acc"] == pytest.approx(np.mean((scores > 0.5) == y_test))
    again = benchmark.score_runs(configs[:1], verbose=False)
    assert again[0]["from_cache"] and again[0]["test_auc"] == rows[0]["test_auc"]
    summary = benchmark.seed_summary(rows, ["model"])
    assert summary.loc[0, "seeds"] == 2
    assert summary.loc[0, "auc_mean"] == pytest.approx(np.mean([r["test_auc"] for r in rows]))
    assert summary.loc[0, "auc_sd"] == pytest.approx(np.std([r["test_auc"] for r in rows], ddof=1))


def test_the_cache_key_follows_the_training_code_not_its_documentation(tmp_path):
    from helpers.train.config import code_fingerprint, source_fingerprint

    (tmp_path / "models").mkdir()
    module = tmp_path / "models" / "net.py"
    module.write_text('"""A model."""\n\ndef width():\n    """Its width."""\n    return 32\n')
    before = source_fingerprint(tmp_path, ("models",))
    module.write_text('"""Another text."""\n\n# a comment\ndef width():\n    return 32\n')
    assert source_fingerprint(tmp_path, ("models",)) == before
    module.write_text('"""A model."""\n\ndef width():\n    return 24\n')
    assert source_fingerprint(tmp_path, ("models",)) != before
    assert len(code_fingerprint()) == 12


def test_prediction_batches_hold_a_fixed_number_of_pixels():
    """28 px gray models score 256 images a call, 64 px ones 64 (256 held 2.4 GB in notebook
    10 at 64 px), 64 px RGB ones 21, and 256 px ones no fewer than PREDICT_MIN_BATCH."""
    from helpers.train import recipes

    base = recipes.recipe("improved", "breastmnist")

    def batch(side, channels=1):
        config = dataclasses.replace(base, input_size=side, channels=channels)
        return training.predict_batch_size(config)

    assert batch(28) == 256
    assert batch(64) == 64
    assert batch(64, channels=3) == 21
    assert batch(256) == training.PREDICT_MIN_BATCH
