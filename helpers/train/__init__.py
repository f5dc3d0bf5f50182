"""Stage 3, training (taught in ``notebooks/03_training.ipynb``, used by 04-09): what a run
is (:mod:`.config`), the article's and the improved recipe (:mod:`.recipes`), the one
training engine (:mod:`.engine`), the model cache keyed by parameters and data
(:mod:`.cache`), cross-validation (:mod:`.crossval`, 04), scaling grids and fine-tuning
(:mod:`.scaling`, :mod:`.transfer`, 09)."""
