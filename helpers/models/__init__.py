"""Stage 2, the models: the article's CNN and the compact CNN (:mod:`.cnn`, notebooks 02
and 03), the NumPy reference of what a CNN computes (:mod:`.cnn_math`, 02), U-Net
(:mod:`.unet`, 06), the CNN + GRU progression model (:mod:`.cnn_gru`, 07), the Vision
Transformer, Keras Applications backbones and the VAE (:mod:`.vit`, :mod:`.backbones`,
:mod:`.vae`, 09), segmentation losses (:mod:`.losses`), and every model by name with its
custom objects registered (:mod:`.registry`)."""
