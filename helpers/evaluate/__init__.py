"""Evaluation (taught in ``notebooks/04_evaluation.ipynb``): the one definition of each
metric and of AUC, thresholds chosen on validation (:mod:`.metrics`); bootstrap intervals
and paired model comparisons (:mod:`.uncertainty`); calibration (:mod:`.calibration`);
published MedMNIST results (:mod:`.published`); segmentation overlap (:mod:`.segmentation`,
06) and the Fréchet distance of generated images (:mod:`.generative`, 09). Works on arrays:
it needs no model and no TensorFlow."""
