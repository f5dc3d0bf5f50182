"""Stage 7, deployment (taught in ``notebooks/08_deployment.ipynb``): exports and their
runners (:mod:`.export`), latency and parity (:mod:`.latency`), the ``predict`` command
(:mod:`.predict`), DICOM de-identification (:mod:`.deid`) and the model card
(:mod:`.modelcard`)."""
