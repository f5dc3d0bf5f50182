"""A CNN encoder shared over follow-up visits, a GRU over the visits, and two heads (next
lesion area, trend). Taught in ``notebooks/07_progression.ipynb``; trained by
:mod:`helpers.lesions.progression`.
"""

from __future__ import annotations

import keras
from keras import layers


def progression_model(
    n_visits: int,
    image_size: int = 64,
    *,
    width: int = 16,
    recurrent_units: int = 32,
    n_trends: int = 3,
    use_areas: bool = True,
) -> keras.Model:
    """A shared CNN encoder applied to every visit (TimeDistributed), its features joined
    with the visit's measured lesion area, then a GRU over the visits and two heads:
    ``next_area`` (the lesion area at the next visit, in the units of the area input)
    and ``trend`` (softmax over shrinking/stable/growing). Taught in ``07_progression``.

    Inputs: ``images`` (batch, n_visits, S, S, 1) and ``areas`` (batch, n_visits). With
    ``use_areas=False`` the model has the ``images`` input only, as a dict
    ``{"images": ...}`` (the GRU reads the encoder features alone), so the CNN has to
    measure the lesion itself; the default is unchanged."""
    images = keras.Input((n_visits, image_size, image_size, 1), name="images")
    areas = keras.Input((n_visits,), name="areas") if use_areas else None
    encoder = keras.Sequential(
        [
            keras.Input((image_size, image_size, 1)),
            layers.Conv2D(width, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(2 * width, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(4 * width, 3, padding="same", activation="relu"),
            layers.GlobalAveragePooling2D(),
        ],
        name="visit_encoder",
    )
    encoded = layers.TimeDistributed(encoder, name="encode_each_visit")(images)
    inputs: list | dict = {"images": images}  # images only: called with {"images": ...}
    if areas is not None:
        inputs = [images, areas]
        encoded = layers.Concatenate(name="with_area")(
            [encoded, layers.Reshape((n_visits, 1))(areas)]
        )
    state = layers.GRU(recurrent_units, name="gru")(encoded)
    next_area = layers.Dense(1, name="next_area")(state)
    trend = layers.Dense(n_trends, activation="softmax", name="trend")(state)
    return keras.Model(inputs, {"next_area": next_area, "trend": trend}, name="cnn_gru")
