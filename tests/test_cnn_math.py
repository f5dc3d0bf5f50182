"""NumPy CNN maths against TensorFlow (forward 1e-5, gradients 1e-4) and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from helpers.models import cnn_math as cm

RNG = np.random.default_rng(0)


def _tf(a):
    return tf.constant(np.asarray(a, dtype=np.float32))


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize(
    "shape,kernel", [((3, 9, 9, 2), (3, 3, 2, 4)), ((2, 10, 7, 3), (4, 2, 3, 5))]
)
def test_conv_forward_and_gradients_match_tensorflow(padding, stride, shape, kernel):
    x = RNG.standard_normal(shape)
    w = RNG.standard_normal(kernel) * 0.5
    b = RNG.standard_normal(kernel[-1])
    y, cache = cm.conv2d_forward(x, w, b, stride=stride, padding=padding)
    xt, wt, bt = tf.Variable(_tf(x)), tf.Variable(_tf(w)), tf.Variable(_tf(b))
    with tf.GradientTape() as tape:
        yt = tf.nn.conv2d(xt, wt, strides=stride, padding=padding.upper()) + bt
        dy = RNG.standard_normal(yt.shape)
        objective = tf.reduce_sum(yt * _tf(dy))
    assert y.shape == tuple(yt.shape)
    assert y.shape[1] == cm.conv_output_size(shape[1], kernel[0], stride, padding)
    np.testing.assert_allclose(y, yt.numpy(), atol=1e-5)
    dx, dw, db = cm.conv2d_backward(dy, cache)
    gx, gw, gb = tape.gradient(objective, [xt, wt, bt])
    np.testing.assert_allclose(dx, gx.numpy(), atol=1e-4)
    np.testing.assert_allclose(dw, gw.numpy(), atol=1e-4)
    np.testing.assert_allclose(db, gb.numpy(), atol=1e-4)


def test_vectorised_conv_equals_the_loop_definition():
    x = RNG.standard_normal((2, 8, 8, 3))
    w = RNG.standard_normal((3, 3, 3, 2))
    for stride in (1, 2):
        np.testing.assert_allclose(
            cm.conv2d_forward(x, w, stride=stride)[0], cm.conv2d_loops(x, w, stride=stride)
        )


def test_convolution_is_cross_correlation_not_flipped():
    x = np.zeros((1, 3, 3, 1))
    x[0, 0, 0, 0] = 1.0  # one bright pixel at the top-left
    w = np.arange(9.0).reshape(3, 3, 1, 1)
    y, _ = cm.conv2d_forward(x, w)
    assert y.item() == w[0, 0, 0, 0]  # a true convolution would give w[2, 2]


@pytest.mark.parametrize("pool,stride", [(2, 2), (3, 2), (2, 1)])
def test_pooling_matches_tensorflow(pool, stride):
    x = RNG.standard_normal((2, 9, 8, 3))
    for kind, forward, tf_pool in (
        ("max", cm.maxpool_forward, tf.nn.max_pool2d),
        ("avg", cm.avgpool_forward, tf.nn.avg_pool2d),
    ):
        y, cache = forward(x, pool, stride)
        xt = tf.Variable(_tf(x))
        with tf.GradientTape() as tape:
            yt = tf_pool(xt, pool, stride, "VALID")
            dy = RNG.standard_normal(yt.shape)
            objective = tf.reduce_sum(yt * _tf(dy))
        np.testing.assert_allclose(y, yt.numpy(), atol=1e-5, err_msg=kind)
        np.testing.assert_allclose(
            cm.pool_backward(dy, cache),
            tape.gradient(objective, xt).numpy(),
            atol=1e-4,
            err_msg=kind,
        )


def test_dense_relu_softmax_cross_entropy_match_tensorflow():
    x, w, b = RNG.standard_normal((5, 6)), RNG.standard_normal((6, 3)), RNG.standard_normal(3)
    y = np.array([0, 2, 1, 1, 0])
    z, dcache = cm.dense_forward(x, w, b)
    a, mask = cm.relu_forward(z)
    p = cm.softmax(a)
    loss = cm.cross_entropy(p, y)
    xt, wt, bt = (tf.Variable(_tf(v)) for v in (x, w, b))
    with tf.GradientTape() as tape:
        at = tf.nn.relu(xt @ wt + bt)
        lt = tf.reduce_mean(
            tf.keras.losses.sparse_categorical_crossentropy(y, at, from_logits=True)
        )
    np.testing.assert_allclose(p, tf.nn.softmax(at).numpy(), atol=1e-5)
    assert abs(loss - float(lt)) < 1e-5
    da = cm.softmax_cross_entropy_backward(a, y)
    dx, dw, db = cm.dense_backward(cm.relu_backward(da, mask), dcache)
    gx, gw, gb = tape.gradient(lt, [xt, wt, bt])
    for mine, theirs in ((dx, gx), (dw, gw), (db, gb)):
        np.testing.assert_allclose(mine, theirs.numpy(), atol=1e-4)


def test_softmax_backward_equals_the_fused_cross_entropy_gradient():
    z = RNG.standard_normal((4, 5))
    y = np.array([1, 0, 4, 2])
    p = cm.softmax(z)
    dp = np.zeros_like(p)
    dp[np.arange(4), y] = -1.0 / (p[np.arange(4), y] * 4)
    np.testing.assert_allclose(
        cm.softmax_backward(dp, p), cm.softmax_cross_entropy_backward(z, y), atol=1e-12
    )
    assert np.isfinite(cm.softmax(np.array([[1000.0, 0.0]]))).all()


def test_gradients_agree_with_finite_differences():
    net = cm.TinyCNN(
        {
            "conv_w": RNG.standard_normal((3, 3, 1, 2)) * 0.5,
            "conv_b": RNG.standard_normal(2) * 0.1,
            "dense_w": RNG.standard_normal((2 * 3 * 3, 3)) * 0.5,
            "dense_b": np.zeros(3),
        }
    )
    x = RNG.standard_normal((4, 8, 8, 1))
    y = np.array([0, 1, 2, 1])
    _, grads = net.loss_and_grads(x, y)
    eps = 1e-6
    for name in net.params:
        flat = net.params[name].reshape(-1)
        for k in RNG.choice(flat.size, min(5, flat.size), replace=False):
            saved = flat[k]
            flat[k] = saved + eps
            up = net.loss_and_grads(x, y)[0]
            flat[k] = saved - eps
            down = net.loss_and_grads(x, y)[0]
            flat[k] = saved
            numeric = (up - down) / (2 * eps)
            assert abs(numeric - grads[name].reshape(-1)[k]) < 1e-6 + 1e-4 * abs(numeric), name


def test_numpy_training_follows_keras_loss_curve():
    import keras

    from helpers.models.cnn import tiny_cnn

    keras.utils.set_random_seed(0)
    model = tiny_cnn((10, 10, 1), filters=3, n_classes=2)
    init = {
        "conv_w": model.get_layer("conv").kernel.numpy(),
        "conv_b": model.get_layer("conv").bias.numpy(),
        "dense_w": model.get_layer("dense").kernel.numpy(),
        "dense_b": model.get_layer("dense").bias.numpy(),
    }
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    net = cm.TinyCNN(init)
    x = RNG.standard_normal((64, 10, 10, 1)).astype(np.float32)
    y = (x[:, :5].mean(axis=(1, 2, 3)) > 0).astype(np.int64)
    ours, theirs = [], []
    for step in range(25):
        batch = slice((step * 16) % 64, (step * 16) % 64 + 16)
        ours.append(net.sgd_step(x[batch], y[batch], 0.1))
        theirs.append(float(model.train_on_batch(x[batch], y[batch])))
    np.testing.assert_allclose(ours, theirs, atol=1e-4)
    assert ours[-1] < ours[0]


def test_counting_matches_keras_count_params():
    from helpers.models.cnn import seed_cnn

    for size in (28, 64, 256):
        for gap in (False, True):
            table = cm.seed_cnn_table((size, size, 3), 2, global_pool=gap)
            assert (
                sum(r["params"] for r in table)
                == seed_cnn((size, size, 3), 2, global_pool=gap).count_params()
            )
    rows = cm.seed_cnn_table((256, 256, 3), 2)
    total = sum(r["params"] for r in rows)
    assert 14.8e6 < total < 14.9e6
    assert rows[-2]["params"] / total > 0.99  # Flatten -> Dense(128)


def test_output_size_and_receptive_field_formulas():
    assert cm.conv_output_size(28, 3) == 26 and cm.conv_output_size(28, 3, 2, "same") == 14
    assert cm.same_padding(28, 3, 2) == (0, 1) and cm.same_padding(5, 3, 1) == (1, 1)
    with pytest.raises(ValueError, match="smaller than the kernel"):
        cm.conv_output_size(2, 3)
    # conv3 -> pool2 -> conv3 -> pool2 -> conv3 -> pool2
    assert [r for r, _ in cm.receptive_field([(3, 1), (2, 2), (3, 1), (2, 2), (3, 1), (2, 2)])] == [
        3,
        4,
        8,
        10,
        18,
        22,
    ]


def test_sgd_batches_are_full_for_any_number_of_steps():
    # 70 images, batches of 32: the old slicing of one permutation gave 6 and then 0 images
    batches = cm.sgd_batches(70, 32, steps=10, seed=3)
    assert len(batches) == 10 and all(len(b) == 32 for b in batches)
    first_epoch = np.random.default_rng(3).permutation(70)
    np.testing.assert_array_equal(batches[0], first_epoch[:32])  # the old order, unchanged
    np.testing.assert_array_equal(batches[1], first_epoch[32:64])
    assert set(batches[2][:6]) == set(first_epoch[64:])  # the epoch's rest, then a new epoch
    stream = np.concatenate(batches)[: 70 * 4]
    for epoch in stream.reshape(4, 70):  # every epoch holds each image exactly once
        assert sorted(epoch) == list(range(70))
    assert cm.sgd_batches(70, 32, steps=0) == []
    with pytest.raises(ValueError, match="batch_size"):
        cm.sgd_batches(70, 0, steps=3)


def test_tiny_cnn_refuses_an_empty_batch():
    net = cm.TinyCNN(
        {
            "conv_w": np.zeros((3, 3, 1, 2)),
            "conv_b": np.zeros(2),
            "dense_w": np.zeros((8, 2)),
            "dense_b": np.zeros(2),
        }
    )
    with pytest.raises(ValueError, match="at least one image"):
        net.sgd_step(np.zeros((0, 6, 6, 1)), np.zeros(0, int), 0.1)
    loss, _ = net.loss_and_grads(np.zeros((2, 6, 6, 1)), np.array([0, 1]))
    assert loss == pytest.approx(np.log(2))
