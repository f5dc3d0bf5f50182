"""Stage 5, explainability (taught in ``notebooks/05_explainability.ipynb``): Grad-CAM,
integrated gradients, LIME and SHAP heat-maps (:mod:`.maps`); their scoring against known
lesions, sanity checks and faithfulness (:mod:`.scoring`); the phantom classifier whose
lesions are known (:mod:`.phantom_classifier`)."""
