"""The conditional DCGAN of helpers.models.gan (notebook 09)."""

import numpy as np
import pytest


def test_gan_losses_are_finite_after_a_few_steps_and_samples_follow_the_label():
    from helpers.models.gan import sample_gan, train_gan

    rng = np.random.default_rng(0)
    images = rng.random((24, 28, 28)).astype(np.float32)
    labels = np.repeat([0, 1], 12)
    generator, discriminator, history = train_gan(
        images, labels, steps=6, batch_size=8, width=8, latent=4, log_every=2, seed=0
    )
    assert history["step"] == [2, 4, 6]
    for key in ("d_loss", "g_loss", "d_real", "d_fake"):
        assert len(history[key]) == 3 and np.all(np.isfinite(history[key]))
    assert all(0 <= p <= 1 for p in history["d_real"] + history["d_fake"])
    out = sample_gan(generator, [0, 0, 1, 1], seed=1)
    assert out.shape == (4, 28, 28, 1) and 0 <= out.min() and out.max() <= 1
    np.testing.assert_array_equal(out, sample_gan(generator, [0, 0, 1, 1], seed=1))
    # the label is an input: the same z with another label gives another image
    z_same = sample_gan(generator, [0], seed=3), sample_gan(generator, [1], seed=3)
    assert not np.allclose(*z_same)
    assert discriminator.output_shape == (None, 1)


def test_gan_models_reject_a_size_that_is_not_a_multiple_of_four():
    from helpers.models.gan import gan_models

    with pytest.raises(ValueError, match="multiple of 4"):
        gan_models(size=30)
